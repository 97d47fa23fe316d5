/**
 * DeepSeek-V3 tool calls ('deepseek_v3', as vLLM's parser of that name), in the exact tokens of the
 * DeepSeek-V3 chat template (tokenizer_config.json):
 *   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>
 *   \n<｜tool▁call▁begin｜>…<｜tool▁call▁end｜><｜tool▁calls▁end｜>
 * (the markers are added tokens, not special ones, so they survive skip_special_tokens). Also
 * 'deepseek_v31': DeepSeek-V3.1's `<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>`.
 * Arguments are returned as the model wrote them (trimmed), once they parse as JSON.
 */
import { BlockToolParser, type BlockToolFormat } from './block-parser.js';
import type { ParsedCall, ToolParser, ToolParserOptions } from './types.js';

export const DSV3_TOOL_CALLS_BEGIN = '<｜tool▁calls▁begin｜>';
export const DSV3_TOOL_CALLS_END = '<｜tool▁calls▁end｜>';
export const DSV3_TOOL_CALL_BEGIN = '<｜tool▁call▁begin｜>';
export const DSV3_TOOL_CALL_END = '<｜tool▁call▁end｜>';
export const DSV3_TOOL_SEP = '<｜tool▁sep｜>';

/** ```json … ``` around the arguments (the language tag and the newlines are optional). */
const FENCED = /^```[a-zA-Z]*\s*\n?([\s\S]*?)\n?\s*```$/;

/** The arguments as a JSON text, or null when they do not parse. */
export function jsonArguments(text: string): string | null {
  const t = text.trim();
  const fenced = FENCED.exec(t);
  const args = (fenced?.[1] ?? t).trim();
  if (args === '') return '{}';
  try {
    JSON.parse(args);
    return args;
  } catch {
    return null;
  }
}

/** `TYPE<｜tool▁sep｜>NAME\n```json\nARGS\n```` */
export function parseDeepSeekV3Call(body: string): ParsedCall {
  const sep = body.indexOf(DSV3_TOOL_SEP);
  if (sep < 0) return null;
  const rest = body.slice(sep + DSV3_TOOL_SEP.length);
  const nl = rest.indexOf('\n');
  const name = (nl < 0 ? rest : rest.slice(0, nl)).trim();
  const args = jsonArguments(nl < 0 ? '' : rest.slice(nl + 1));
  return name === '' || args === null ? null : { name, arguments: args };
}

/** `NAME<｜tool▁sep｜>ARGS` */
export function parseDeepSeekV31Call(body: string): ParsedCall {
  const sep = body.indexOf(DSV3_TOOL_SEP);
  if (sep < 0) return null;
  const name = body.slice(0, sep).trim();
  const args = jsonArguments(body.slice(sep + DSV3_TOOL_SEP.length));
  return name === '' || args === null ? null : { name, arguments: args };
}

const FORMAT_V3: BlockToolFormat = {
  sectionStart: DSV3_TOOL_CALLS_BEGIN,
  sectionEnd: DSV3_TOOL_CALLS_END,
  callStart: DSV3_TOOL_CALL_BEGIN,
  callEnd: DSV3_TOOL_CALL_END,
  parseCall: parseDeepSeekV3Call,
};

const FORMAT_V31: BlockToolFormat = { ...FORMAT_V3, parseCall: parseDeepSeekV31Call };

export function createDeepSeekV3ToolParser(opts: ToolParserOptions = {}): ToolParser {
  return new BlockToolParser(FORMAT_V3, opts);
}

export function createDeepSeekV31ToolParser(opts: ToolParserOptions = {}): ToolParser {
  return new BlockToolParser(FORMAT_V31, opts);
}
