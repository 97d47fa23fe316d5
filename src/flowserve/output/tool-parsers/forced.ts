/**
 * A call forced by the request (OpenAI `tool_choice: {type: 'function', function: {name}}`): the
 * whole output is that function's arguments, a JSON object the sampler's json_object constraint
 * keeps valid (vLLM does the same with guided decoding), so there is no model format to parse.
 * The call comes out at the end; an empty output gives no call.
 */
import { randomToolCallId } from './block-parser.js';
import type { ToolParseStep, ToolParser, ToolParserOptions } from './types.js';

const NOTHING: ToolParseStep = Object.freeze({ content: '', toolCalls: [] });

export function createForcedToolParser(functionName: string, opts: ToolParserOptions = {}): ToolParser {
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
      return { content: '', toolCalls: [{ index: numCalls++, id: newId(), type: 'function', function: { name: functionName, arguments: text } }] };
    },
    get numToolCalls() {
      return numCalls;
    },
  };
}
