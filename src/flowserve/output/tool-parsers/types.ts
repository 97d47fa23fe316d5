/**
 * The tool-call parser contract of the output process (paper notes §2.5.1, §2.11 frontend tool
 * calls): model text in, OpenAI `tool_calls` and the remaining content out, streaming. Each model
 * family's format is one parser, chosen by name in registry.ts (vLLM's `--tool-call-parser`).
 */
import type { ToolCallDelta, ToolCallIdFn } from '../types.js';

export interface ToolParseStep {
  /** Content text safe to emit now (not part of any tool call). */
  readonly content: string;
  /** Tool calls completed by this step. */
  readonly toolCalls: readonly ToolCallDelta[];
}

export interface ToolParser {
  /** Adds content text (after reasoning was split off); holds back what may start a tool call. */
  push(text: string): ToolParseStep;
  /** End of stream: releases held text; an unfinished or malformed call comes back as content. */
  flush(): ToolParseStep;
  /** Tool calls found so far. */
  readonly numToolCalls: number;
}

export interface ToolParserOptions {
  /** Id for each call (default `call_` + 24 random characters). */
  readonly newToolCallId?: ToolCallIdFn;
}

/** One call's name and arguments (a JSON text), or null when the text is not a valid call. */
export type ParsedCall = { readonly name: string; readonly arguments: string } | null;
