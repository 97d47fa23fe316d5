/**
 * Tool-call parsers by name (vLLM's `--tool-call-parser` names), so a deployment preset or a
 * request picks the format of its model: 'deepseek_v3', 'deepseek_v31', 'hermes' (Qwen2.5/Qwen3).
 * New formats register here without touching the output processor.
 */
import { XdsError } from '../../../core/errors.js';
import { createDeepSeekV31ToolParser, createDeepSeekV3ToolParser } from './deepseek-v3.js';
import { createHermesToolParser } from './hermes.js';
import type { ToolParser, ToolParserOptions } from './types.js';
import type { ToolCall } from '../types.js';

export type ToolParserFactory = (opts: ToolParserOptions) => ToolParser;

const factories = new Map<string, ToolParserFactory>([
  ['deepseek_v3', createDeepSeekV3ToolParser],
  ['deepseek_v31', createDeepSeekV31ToolParser],
  ['hermes', createHermesToolParser],
]);

export function registerToolParser(name: string, factory: ToolParserFactory): void {
  if (typeof name !== 'string' || name === '') throw new XdsError('invalid_argument', 'a tool parser needs a non-empty name', { param: 'tool_call_parser' });
  factories.set(name, factory);
}

export function toolParserNames(): string[] {
  return [...factories.keys()];
}

export function createToolParser(name: string, opts: ToolParserOptions = {}): ToolParser {
  const factory = factories.get(name);
  if (factory === undefined) {
    throw new XdsError('invalid_argument', `unknown tool call parser '${name}'; known: ${toolParserNames().join(', ')}`, { param: 'tool_call_parser' });
  }
  return factory(opts);
}

/** Whole-text parse (non-streaming): the content left and the calls (without stream indexes). */
export function parseToolCalls(name: string, text: string, opts: ToolParserOptions = {}): { content: string; toolCalls: ToolCall[] } {
  const parser = createToolParser(name, opts);
  const a = parser.push(text);
  const b = parser.flush();
  const toolCalls = [...a.toolCalls, ...b.toolCalls].map(({ id, type, function: fn }) => ({ id, type, function: fn }));
  return { content: a.content + b.content, toolCalls };
}
