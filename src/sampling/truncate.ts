/**
 * Truncation of a probability row to the candidates that may be sampled: min-p, then top-k, then
 * top-p (vLLM's order; top-p is measured on the mass left after min-p and top-k, as HF and vLLM
 * renormalize). Returns candidate ids sorted by probability, highest first (lower id on ties), so
 * sampling walks them in a deterministic order.
 */

export interface TruncationParams {
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
}

/** `probs` is [vocab] f64, already normalized. */
export function truncateCandidates(probs: Float64Array, p: TruncationParams): number[] {
  let pMax = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i]! > pMax) pMax = probs[i]!;
  let ids = above(probs, allIds(probs.length), Math.max(p.minP * pMax, Number.MIN_VALUE));
  if (p.topK > 0 && ids.length > p.topK) ids = above(probs, ids, kthLargest(probs, ids, p.topK));
  let total = 0;
  for (const i of ids) total += probs[i]!;
  // NOTE: tokens with p < (1 − topP)·total/n hold less than (1 − topP)·total together, so the
  // nucleus never needs them: dropping them before the sort keeps it small on a 150k vocabulary.
  if (p.topP < 1) ids = above(probs, ids, ((1 - p.topP) * total) / ids.length);
  ids.sort((a, b) => probs[b]! - probs[a]! || a - b);
  if (p.topK > 0 && ids.length > p.topK) ids = ids.slice(0, p.topK); // ties at the k-th value
  return p.topP < 1 ? nucleus(probs, ids, p.topP * total) : ids;
}

function allIds(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function above(probs: Float64Array, ids: number[], floor: number): number[] {
  return ids.filter((i) => probs[i]! >= floor);
}

/** The k-th largest probability among `ids` (native typed-array sort, no comparator). */
function kthLargest(probs: Float64Array, ids: number[], k: number): number {
  const values = Float64Array.from(ids, (i) => probs[i]!).sort();
  return values[values.length - k]!;
}

/** Shortest prefix of `sorted` whose mass reaches `target`. */
function nucleus(probs: Float64Array, sorted: number[], target: number): number[] {
  let cum = 0;
  for (let n = 0; n < sorted.length; n++) {
    cum += probs[sorted[n]!]!;
    if (cum >= target * (1 - 1e-12)) return sorted.slice(0, n + 1);
  }
  return sorted;
}
