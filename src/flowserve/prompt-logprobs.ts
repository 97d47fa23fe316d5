/**
 * Prompt logprobs of one request (vLLM `prompt_logprobs`; what OpenAI completions' `echo` with
 * `logprobs` reports): for each prompt position p ≥ 1, log p(prompt[p] | prompt[0..p)) under the
 * raw model output, and the top-n alternatives. Logits row j of a prefill slice that starts at
 * startPos predicts position startPos + j + 1, so the entries come in order, chunk after chunk.
 * Positions are filled once: a request preempted and recomputed does not ask for them again.
 * While entries are missing, the scheduler admits the request without prefix-cache hits (a cached
 * block computes no logits), as vLLM does.
 */
import { logSumExp, topLogprobs, type TokenLogprob } from '../sampling/logprobs.js';

export interface PromptLogprob {
  readonly tokenId: number;
  readonly logprob: number;
  /** The numTop most likely tokens at this position, highest first. */
  readonly topLogprobs: readonly TokenLogprob[];
}

export class PromptLogprobs {
  private readonly entries: PromptLogprob[] = [];

  /** prompt: [numPromptTokens] i32 (kept, not copied). */
  constructor(readonly numTop: number, private readonly prompt: Int32Array) {}

  /** Positions [1, nextPosition) have their entry. */
  get nextPosition(): number {
    return 1 + this.entries.length;
  }

  get complete(): boolean {
    return this.nextPosition >= this.prompt.length;
  }

  /** Entries for positions 1, 2, … (all of them once `complete`). */
  get all(): readonly PromptLogprob[] {
    return this.entries;
  }

  /** Whether the n rows of a slice at startPos predict a missing position (then it needs all its logits). */
  wantsSlice(startPos: number, n: number): boolean {
    return !this.complete && startPos < this.nextPosition && startPos + n >= this.nextPosition;
  }

  /** Records the entries that a slice's rows give: logits [.., vocab] f32, the slice's rows from firstRow. */
  record(logits: Float32Array, vocab: number, firstRow: number, startPos: number, n: number): void {
    for (let j = 0; j < n; j++) {
      const p = startPos + j + 1;
      if (p < this.nextPosition) continue;
      if (p >= this.prompt.length) return;
      const row = logits.subarray((firstRow + j) * vocab, (firstRow + j + 1) * vocab);
      const lse = logSumExp(row);
      const tokenId = this.prompt[p]!;
      this.entries.push({ tokenId, logprob: row[tokenId]! - lse, topLogprobs: topLogprobs(row, lse, this.numTop) });
    }
  }
}
