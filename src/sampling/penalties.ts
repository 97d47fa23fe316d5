/**
 * The logits processors that come before temperature, on one logits row: the request's logit bias,
 * then the repetition, frequency and presence penalties from the tokens seen so far.
 * Order as vLLM v1's sampler: logit bias (a logits processor that can change the argmax) first,
 * then the penalties.
 * Semantics follow vLLM (which follows HF for the repetition penalty and OpenAI for the others):
 * - repetition (HF `RepetitionPenaltyLogitsProcessor`): every token that appears in the prompt
 *   OR the output: logit > 0 ⇒ logit / r, else logit · r. Applied first.
 * - frequency: logit −= f · (count of the token in the OUTPUT only).
 * - presence: logit −= p · [token appears in the OUTPUT].
 * The history is kept sparse (Map/Set over distinct tokens), so a step costs O(distinct tokens),
 * not O(vocab).
 */

export class TokenHistory {
  /** Distinct tokens of prompt ∪ output (repetition penalty). */
  readonly seen = new Set<number>();
  /** token → number of times it was generated (frequency/presence penalties). */
  readonly outputCounts = new Map<number, number>();
  /** Tokens generated so far. */
  numOutput = 0;

  constructor(promptTokenIds: ArrayLike<number> = []) {
    for (let i = 0; i < promptTokenIds.length; i++) this.seen.add(promptTokenIds[i]!);
  }

  recordOutput(tokenId: number): void {
    this.seen.add(tokenId);
    this.numOutput++;
    this.outputCounts.set(tokenId, (this.outputCounts.get(tokenId) ?? 0) + 1);
  }
}

export interface PenaltyParams {
  readonly repetitionPenalty: number;
  readonly frequencyPenalty: number;
  readonly presencePenalty: number;
  /** [token id, bias] pairs; absent or [] ⇒ none. */
  readonly logitBias?: readonly (readonly [number, number])[];
}

export function hasPenalties(p: PenaltyParams): boolean {
  return p.repetitionPenalty !== 1 || p.frequencyPenalty !== 0 || p.presencePenalty !== 0 || (p.logitBias?.length ?? 0) > 0;
}

/** Applies the logit bias, then the penalties, in place to `logits` ([vocab] f32). Ids outside the row are ignored. */
export function applyPenalties(logits: Float32Array, history: TokenHistory, p: PenaltyParams): void {
  const v = logits.length;
  for (const [t, bias] of p.logitBias ?? []) if (t < v) logits[t] = logits[t]! + bias;
  if (p.repetitionPenalty !== 1) {
    const r = p.repetitionPenalty;
    for (const t of history.seen) {
      if (t < 0 || t >= v) continue;
      const x = logits[t]!;
      logits[t] = x > 0 ? x / r : x * r;
    }
  }
  if (p.frequencyPenalty === 0 && p.presencePenalty === 0) return;
  for (const [t, count] of history.outputCounts) {
    if (t < 0 || t >= v) continue;
    logits[t] = logits[t]! - p.frequencyPenalty * count - p.presencePenalty;
  }
}
