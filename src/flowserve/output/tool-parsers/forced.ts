/**
 * A call forced by the request (OpenAI `tool_choice`), whose output the sampler's JSON constraint
 * keeps valid (vLLM does the same with guided decoding), so there is no model format to parse:
 * naming a function, the whole output is its arguments; 'required' among several tools, it is
 * `{"name": …, "arguments": {…}}`. The call comes out at the end; an empty output gives no call,
 * and one cut short (max_tokens) that is not JSON comes back as content.
 */
import { randomToolCallId } from './block-parser.js';
import type { ToolParseStep, ToolParser, ToolParserOptions } from './types.js';

const NOTHING: ToolParseStep = Object.freeze({ content: '', toolCalls: [] });

/** What the output is: the named function's arguments, or (name null) a {name, arguments} object. */
export interface ForcedToolCall { readonly name: string | null }

/** Arguments as compact JSON text (the model's whitespace dropped); text that does not parse, as is. */
function compactJson(text: string): string {
  try { return JSON.stringify(JSON.parse(text)); } catch { return text; }
}

/** `{"name": …, "arguments": …}` → name and arguments text, or null. */
function parseNamedCall(text: string): { name: string; arguments: string } | null {
  try {
    const v = JSON.parse(text) as { name?: unknown; arguments?: unknown };
    return typeof v.name === 'string' ? { name: v.name, arguments: JSON.stringify(v.arguments ?? {}) } : null;
  } catch {
    return null;
  }
}

export function createForcedToolParser(functionName: string | null, opts: ToolParserOptions = {}): ToolParser {
  let args = '';
  let numCalls = 0;
  const newId = opts.newToolCallId ?? randomToolCallId;
  return {
    push(text) {
      args += text;
      return NOTHING;
    },
    flush() {
      const text = args.trim();
      args = '';
      if (text === '' || numCalls > 0) return NOTHING;
      const call = functionName === null ? parseNamedCall(text) : { name: functionName, arguments: compactJson(text) };
      if (call === null) return { content: text, toolCalls: [] };
      return { content: '', toolCalls: [{ index: numCalls++, id: newId(), type: 'function', function: call }] };
    },
    get numToolCalls() {
      return numCalls;
    },
  };
}
