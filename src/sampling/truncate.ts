/**
 * Truncation of a probability row to the candidates that may be sampled: min-p, then top-k, then
 * top-p (vLLM's order; top-p is measured on the mass left after min-p and top-k, as HF and vLLM
 * renormalize). Each step only raises a floor on the probability, so the candidates are
 * {i : probs[i] ≥ floor}, in ascending id order, and tokens tied with the cut are all kept (as
 * vLLM's top-k masking does). The floor comes from selection (select.ts), not from sorting: a
 * filtered quickselect for top-k, a weighted quickselect for top-p, whose result is exactly the value the
 * sorted cumulative sum of the first sampler (reference.ts) stops at.
 */
import { kthLargestAbove, massCut } from './select.js';
import { threadScratch, type SamplingScratch } from './scratch.js';

export { kthLargest } from './select.js';

export interface TruncationParams {
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
}

export function isTruncating(p: TruncationParams): boolean {
  return p.topK > 0 || p.topP < 1 || p.minP > 0;
}

/** Size of the top-k scan's buffer: a quickselect every (cap − k) kept values. */
function topKCapacity(k: number, vocab: number): number {
  return Math.min(Math.max(1024, 4 * k), vocab + 1);
}

/** `probs` is [vocab] f64, already normalized. Returns candidate ids, ascending. */
export function truncateCandidates(probs: Float64Array, p: TruncationParams): number[] {
  let pMax = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i]! > pMax) pMax = probs[i]!;
  const floor = truncationFloor(probs, 1, pMax, p);
  const ids: number[] = [];
  for (let i = 0; i < probs.length; i++) if (probs[i]! >= floor) ids.push(i);
  return ids;
}

/**
 * The probability floor of the candidates: {i : weights[i] · scale ≥ floor}. The probabilities
 * weights[i] · scale ([vocab] f64) are normalized (scale = 1 when `weights` already are) and pMax
 * is the largest. NOTE: the products are formed on the fly, never stored: the same f64 values as
 * a normalized copy, without a pass to write it.
 */
export function truncationFloor(weights: Float64Array, scale: number, pMax: number, p: TruncationParams, scratch: SamplingScratch = threadScratch): number {
  let floor = Math.max(p.minP * pMax, Number.MIN_VALUE);
  if (p.topK > 0) floor = topKFloor(weights, scale, floor, p.topK, scratch);
  if (p.topP < 1) floor = Math.max(floor, nucleusFloor(weights, scale, pMax, floor, p.topP, scratch));
  return floor;
}

function topKFloor(weights: Float64Array, scale: number, floor: number, k: number, scratch: SamplingScratch): number {
  if (k >= weights.length) return floor;
  return kthLargestAbove(weights, scale, floor, k, scratch.topK(topKCapacity(k, weights.length)));
}

/**
 * The smallest probability in the minimal nucleus of {p ≥ floor}: walking from the most likely
 * down, the value at which the mass first reaches topP of that set's mass.
 */
function nucleusFloor(weights: Float64Array, scale: number, pMax: number, floor: number, topP: number, scratch: SamplingScratch): number {
  // NOTE: tokens with p < (1 − topP)·total/count hold less than (1 − topP)·total together, so the
  // nucleus never reaches them. One pass gets the exact total and count (id order, as reference.ts)
  // and keeps the values above a lower bound of that cut: total ≥ pMax, or ≈ 1 when only zeros
  // are below the floor, and count ≤ vocab.
  const totalAtLeast = floor <= Number.MIN_VALUE ? 1 - 1e-6 : pMax;
  const guess = Math.max(floor, ((1 - topP) * totalAtLeast) / weights.length);
  const values = scratch.values(weights.length);
  let total = 0;
  let count = 0;
  let n = 0;
  for (let i = 0; i < weights.length; i++) {
    const x = weights[i]! * scale;
    if (x >= floor) {
      total += x;
      count++;
      if (x >= guess) values[n++] = x;
    }
  }
  const lowCut = Math.max(floor, ((1 - topP) * total) / count);
  n = lowCut >= guess ? keepAbove(values, n, lowCut) : compactAbove(weights, scale, lowCut, values);
  const target = topP * total * (1 - 1e-12);
  const cut = massCut(values, n, target);
  // NOTE: the reference sums the values in descending order; massCut sums them in partition order.
  // Both are within (n−1)·ε/2·total of the exact sum, so a cut farther than that from the target
  // on both sides is the reference's answer; otherwise sort, as the reference does.
  const slack = 2 * n * Number.EPSILON * total;
  if (cut.massAbove + slack < target && cut.massAtOrAbove - slack >= target) return cut.value;
  return sortedNucleusFloor(values.subarray(0, n), target, floor);
}

/** Keeps the values[0..n) ≥ threshold at the front, in order; returns their number. */
function keepAbove(values: Float64Array, n: number, threshold: number): number {
  let m = 0;
  for (let i = 0; i < n; i++) if (values[i]! >= threshold) values[m++] = values[i]!;
  return m;
}

/** The reference's rule on a full sort: cumulate from the largest until `target` is reached. */
function sortedNucleusFloor(values: Float64Array, target: number, floor: number): number {
  const sorted = values.sort(); // ascending
  let cum = 0;
  for (let n = sorted.length - 1; n >= 0; n--) {
    cum += sorted[n]!;
    if (cum >= target) return sorted[n]!;
  }
  return sorted[0] ?? floor;
}

/** Copies the values weights[i] · scale ≥ threshold into out, in id order; returns their number. */
function compactAbove(weights: Float64Array, scale: number, threshold: number, out: Float64Array): number {
  let n = 0;
  for (let i = 0; i < weights.length; i++) {
    const x = weights[i]! * scale;
    if (x >= threshold) out[n++] = x;
  }
  return n;
}
