/**
 * Plain records of the output process (paper notes §2.5.1: each DP group detokenizes and streams
 * straight to the gateway, the "output shortcut"). The gateway turns them into OpenAI chat
 * `delta`s and final `message`s; nothing here knows HTTP.
 */
import type { TokenLogprobEntry } from './logprobs.js';

/** What the output process needs from a tokenizer (model/tokenizer.ts TextTokenizer satisfies it). */
export interface TokenDecoder {
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
}

/** An OpenAI tool call, as in a chat completion `message.tool_calls[i]`. */
export interface ToolCall {
  readonly id: string;
  readonly type: 'function';
  /** `arguments` is a JSON text (OpenAI sends a string, not an object). */
  readonly function: { readonly name: string; readonly arguments: string };
}

/** A tool call in a stream: OpenAI `delta.tool_calls[i]`; here always complete (whole name and arguments). */
export interface ToolCallDelta extends ToolCall {
  /** Position of the call in the message's `tool_calls` (0-based). */
  readonly index: number;
}

export type OutputFinishReason = 'stop' | 'length' | 'tool_calls' | 'abort';

/** One step of output text, as the client should see it. */
export interface OutputDelta {
  readonly kind: 'output_delta';
  /** New visible answer text (may be ''). */
  readonly contentDelta: string;
  /** New reasoning text (between `<think>` and `</think>`; may be ''). */
  readonly reasoningDelta: string;
  /** Tool calls completed by this step, if any. */
  readonly toolCalls?: readonly ToolCallDelta[];
  /** The stop string that ended generation with this step, or null. */
  readonly stopMatched: string | null;
  /** This token's logprobs, when they were passed in. */
  readonly logprobs?: TokenLogprobEntry;
}

/** The whole message at the end. `content` is the concatenation of all `contentDelta`s (same for reasoning). */
export interface OutputFinal {
  readonly kind: 'output_final';
  /** What `finish` released (held-back text, a tool call cut short), to stream before the end. */
  readonly tail: OutputDelta;
  readonly content: string;
  readonly reasoningContent: string;
  readonly toolCalls: readonly ToolCall[];
  readonly finishReason: OutputFinishReason;
  /** The stop string that ended generation, or null. */
  readonly stopMatched: string | null;
}

/** Makes `call_…` ids; injectable so tests are deterministic. */
export type ToolCallIdFn = () => string;
