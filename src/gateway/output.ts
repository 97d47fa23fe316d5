/**
 * The gateway's view of a choice's output process (paper §1.3 step 9: the DP group's output process
 * detokenizes and parses the stream, then sends it straight to the frontend). `ChoiceOutput` is
 * the small interface the routes use; `TextChoiceOutput` implements it with incremental
 * detokenization and stop strings (flowserve/generate.ts, sampling/stop.ts). Reasoning and
 * tool-call parsing plug in here once flowserve/output/ provides its OutputProcessor.
 */
import { IncrementalDetokenizer, type Detokenizer } from '../flowserve/generate.js';
import { StopStringMatcher } from '../sampling/stop.js';

/** An OpenAI tool call as it appears in `message.tool_calls`. */
export interface ToolCallOut {
  readonly id: string;
  readonly type: 'function';
  readonly function: { readonly name: string; readonly arguments: string };
}

export interface OutputDelta {
  /** Text that became final (may be empty). */
  readonly content: string;
  readonly reasoning: string;
  /** Tool calls completed by this token. */
  readonly toolCalls: readonly ToolCallOut[];
  /** A stop string matched: generation must end, the stop text is not part of the output. */
  readonly stopMatched: boolean;
}

export interface ChoiceOutput {
  /** One generated token that is not a stop token. */
  push(tokenId: number): OutputDelta;
  /** End of generation: whatever was held back. */
  finish(): OutputDelta;
}

export const EMPTY_DELTA: OutputDelta = Object.freeze({ content: '', reasoning: '', toolCalls: [], stopMatched: false });

export class TextChoiceOutput implements ChoiceOutput {
  private readonly detok: IncrementalDetokenizer;
  private readonly matcher: StopStringMatcher;
  private isStopped = false;

  constructor(tokenizer: Detokenizer, promptIds: readonly number[], stopStrings: readonly string[]) {
    // NOTE: only the prompt's tail matters to the detokenizer's window (spaces, merges).
    this.detok = new IncrementalDetokenizer(tokenizer, promptIds.slice(-8));
    this.matcher = new StopStringMatcher(stopStrings);
  }

  push(tokenId: number): OutputDelta {
    if (this.isStopped) return EMPTY_DELTA;
    return this.match(this.detok.push(tokenId));
  }

  finish(): OutputDelta {
    if (this.isStopped) return EMPTY_DELTA;
    const d = this.match(this.detok.flush());
    const tail = this.isStopped ? '' : this.matcher.flush();
    return { ...d, content: d.content + tail };
  }

  private match(text: string): OutputDelta {
    if (text === '') return EMPTY_DELTA;
    const r = this.matcher.push(text);
    if (r.matched !== null) this.isStopped = true;
    return { content: r.text, reasoning: '', toolCalls: [], stopMatched: r.matched !== null };
  }
}
