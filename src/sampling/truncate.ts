/**
 * Truncation of a probability row to the candidates that may be sampled: min-p, then top-k, then
 * top-p (vLLM's order; top-p is measured on the mass left after min-p and top-k, as HF and vLLM
 * renormalize). Each step is a threshold on the probability, so candidates come back in ascending
 * id order and tokens tied with the cut are all kept (as vLLM's top-k masking does). Thresholds
 * come from numeric typed-array sorts and selection, never a comparator sort over the vocabulary.
 */

export interface TruncationParams {
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
}

export function isTruncating(p: TruncationParams): boolean {
  return p.topK > 0 || p.topP < 1 || p.minP > 0;
}

/** `probs` is [vocab] f64, already normalized. Returns candidate ids, ascending. */
export function truncateCandidates(probs: Float64Array, p: TruncationParams): number[] {
  let pMax = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i]! > pMax) pMax = probs[i]!;
  // Each stage only raises the floor: the kept set is always {i : probs[i] ≥ floor}.
  let floor = Math.max(p.minP * pMax, Number.MIN_VALUE);
  if (p.topK > 0) {
    const kept = valuesAbove(probs, floor);
    if (kept.length > p.topK) floor = kthLargest(kept, p.topK);
  }
  if (p.topP < 1) floor = Math.max(floor, nucleusThreshold(probs, floor, p.topP));
  const ids: number[] = [];
  for (let i = 0; i < probs.length; i++) if (probs[i]! >= floor) ids.push(i);
  return ids;
}

/** The values ≥ floor, in id order. */
function valuesAbove(probs: Float64Array, floor: number): Float64Array {
  let n = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i]! >= floor) n++;
  const out = new Float64Array(n);
  n = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i]! >= floor) out[n++] = probs[i]!;
  return out;
}

/** k-th largest value (1-based), by quickselect on a scratch copy (average O(n)). */
export function kthLargest(values: Float64Array, k: number): number {
  const a = values; // scratch: reordered in place
  const target = a.length - k; // index of the k-th largest in ascending order
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) { const t = a[i]!; a[i] = a[j]!; a[j] = t; i++; j--; }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}

/**
 * The smallest probability in the minimal nucleus of {p ≥ floor}: walking from the most likely
 * down, the value at which the mass first reaches topP of that set's mass.
 */
function nucleusThreshold(probs: Float64Array, floor: number, topP: number): number {
  let total = 0;
  let count = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i]! >= floor) { total += probs[i]!; count++; }
  const target = topP * total * (1 - 1e-12);
  // NOTE: tokens with p < (1 − topP)·total/count hold less than (1 − topP)·total together, so the
  // nucleus never reaches them: leaving them out keeps the sort small on a 150k vocabulary.
  const sorted = valuesAbove(probs, Math.max(floor, ((1 - topP) * total) / count)).sort(); // ascending
  let cum = 0;
  for (let n = sorted.length - 1; n >= 0; n--) {
    cum += sorted[n]!;
    if (cum >= target) return sorted[n]!;
  }
  return sorted[0] ?? floor;
}
