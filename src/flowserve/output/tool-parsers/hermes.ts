/**
 * Hermes-style tool calls ('hermes', as vLLM's parser of that name), the format of Qwen2.5/Qwen3
 * (their chat templates, tokenizer_config.json) and Hermes models:
 *   <tool_call>\n{"name": "NAME", "arguments": {...}}\n</tool_call>
 * one block per call. A final block without `</tool_call>` is accepted when its JSON is complete
 * (models sometimes end the turn right after it). Arguments come back as compact JSON text
 * (`JSON.stringify` of the parsed object), or as given when the model wrote them as a string.
 */
import { BlockToolParser, type BlockToolFormat } from './block-parser.js';
import type { ParsedCall, ToolParser, ToolParserOptions } from './types.js';

export const HERMES_TOOL_CALL_START = '<tool_call>';
export const HERMES_TOOL_CALL_END = '</tool_call>';

/** `{"name": ..., "arguments": ...}` (also `parameters`, which some models write). */
export function parseHermesCall(body: string): ParsedCall {
  let value: unknown;
  try {
    value = JSON.parse(body.trim());
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const obj = value as Record<string, unknown>;
  if (typeof obj.name !== 'string' || obj.name === '') return null;
  const args = obj.arguments ?? obj.parameters ?? {};
  return { name: obj.name, arguments: typeof args === 'string' ? args : JSON.stringify(args) };
}

const FORMAT: BlockToolFormat = {
  callStart: HERMES_TOOL_CALL_START,
  callEnd: HERMES_TOOL_CALL_END,
  parseCall: parseHermesCall,
  acceptsUnclosedCall: true,
};

export function createHermesToolParser(opts: ToolParserOptions = {}): ToolParser {
  return new BlockToolParser(FORMAT, opts);
}
