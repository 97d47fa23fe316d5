/**
 * The gateway's view of a choice's output process (paper §1.3 step 9: the DP group's output process
 * detokenizes and parses the stream, then sends it straight to the frontend). `ChoiceOutput` is
 * the small interface choice-run.ts drives; `ProcessorChoiceOutput` adapts flowserve/output's
 * OutputProcessor (incremental detokenization, stop strings, `<think>` reasoning, tool calls).
 */
import { OutputProcessor, type EngineFinish, type OutputProcessorOptions } from '../flowserve/output/output-processor.js';
import type { OutputFinishReason, ToolCallDelta } from '../flowserve/output/types.js';

export interface OutputDelta {
  /** Text that became final (may be empty). */
  readonly content: string;
  readonly reasoning: string;
  /** Tool calls completed by this token (each with its index in the message's tool_calls). */
  readonly toolCalls: readonly ToolCallDelta[];
  /** A stop string matched: generation must end, the stop text is not part of the output. */
  readonly stopMatched: boolean;
}

export interface ChoiceOutput {
  /** One generated token. */
  push(tokenId: number): OutputDelta;
  /** End of generation: whatever was held back, and the finish reason the client sees. */
  finish(reason: EngineFinish): { readonly delta: OutputDelta; readonly finishReason: OutputFinishReason };
}

export const EMPTY_DELTA: OutputDelta = Object.freeze({ content: '', reasoning: '', toolCalls: [], stopMatched: false });

export class ProcessorChoiceOutput implements ChoiceOutput {
  private readonly processor: OutputProcessor;

  constructor(opts: OutputProcessorOptions) {
    // NOTE: only the prompt's tail matters to the detokenizer's window (spaces, merges).
    this.processor = new OutputProcessor({ ...opts, promptIds: opts.promptIds?.slice(-8) ?? [] });
  }

  push(tokenId: number): OutputDelta {
    const d = this.processor.onToken(tokenId);
    return { content: d.contentDelta, reasoning: d.reasoningDelta, toolCalls: d.toolCalls ?? [], stopMatched: d.stopMatched !== null };
  }

  finish(reason: EngineFinish): { delta: OutputDelta; finishReason: OutputFinishReason } {
    const f = this.processor.finish(reason);
    const t = f.tail;
    return { delta: { content: t.contentDelta, reasoning: t.reasoningDelta, toolCalls: t.toolCalls ?? [], stopMatched: false }, finishReason: f.finishReason };
  }
}
