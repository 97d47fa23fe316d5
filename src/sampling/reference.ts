/**
 * The slow reference sampler: the straightforward pipeline the fast one (sampler.ts) must match,
 * kept for the fast-vs-reference tests and the "before" column of bench-sampling.ts. It copies and
 * scales the whole row, takes Math.exp of every entry into a fresh f64 array, truncates with
 * fresh arrays, quickselect and a typed-array sort, and walks the inverse CDF over a list of ids.
 * It is the code of the first sampler, unchanged (the logit bias came later, inside applyPenalties).
 * Semantics (vLLM): penalties → temperature → softmax → min-p → top-k → top-p → one uniform.
 */
import { assert } from '../core/assert.js';
import type { Rng } from '../core/rng.js';
import { applyPenalties, hasPenalties, type TokenHistory } from './penalties.js';
import type { SamplingParams } from './params.js';
import { topLogprobs, type TokenLogprob } from './logprobs.js';
import { kthLargest } from './select.js';

/** Processed logits: a penalized (and temperature-scaled) copy of `logits`. [vocab] f32 */
export function processLogits(logits: Float32Array, params: SamplingParams, history: TokenHistory): Float32Array {
  const out = Float32Array.from(logits);
  if (hasPenalties(params)) applyPenalties(out, history, params);
  if (params.temperature > 0 && params.temperature !== 1) {
    const inv = 1 / params.temperature;
    for (let i = 0; i < out.length; i++) out[i] = out[i]! * inv;
  }
  return out;
}

/** softmax(row) in f64 and log Σ exp(row), with one exp per entry. */
export function softmaxWithLse(row: Float32Array): { probs: Float64Array; lse: number } {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  const probs = new Float64Array(row.length); // [vocab] f64
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += probs[i] = Math.exp(row[i]! - max);
  const inv = 1 / sum;
  for (let i = 0; i < row.length; i++) probs[i] = probs[i]! * inv;
  return { probs, lse: max + Math.log(sum) };
}

/** Index of the largest entry, lowest index on ties. */
export function referenceArgmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** Min-p → top-k → top-p candidates of a normalized [vocab] f64 row, ascending ids. */
export function referenceTruncate(probs: Float64Array, p: Pick<SamplingParams, 'topK' | 'topP' | 'minP'>): number[] {
  let pMax = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i]! > pMax) pMax = probs[i]!;
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

function valuesAbove(probs: Float64Array, floor: number): Float64Array {
  let n = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i]! >= floor) n++;
  const out = new Float64Array(n);
  n = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i]! >= floor) out[n++] = probs[i]!;
  return out;
}

function nucleusThreshold(probs: Float64Array, floor: number, topP: number): number {
  let total = 0;
  let count = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i]! >= floor) { total += probs[i]!; count++; }
  const target = topP * total * (1 - 1e-12);
  const sorted = valuesAbove(probs, Math.max(floor, ((1 - topP) * total) / count)).sort(); // ascending
  let cum = 0;
  for (let n = sorted.length - 1; n >= 0; n--) {
    cum += sorted[n]!;
    if (cum >= target) return sorted[n]!;
  }
  return sorted[0] ?? floor;
}

/** Inverse-CDF walk over `ids` (or the whole row) with u ∈ [0, 1) scaled by their mass. */
function walk(probs: Float64Array, ids: number[] | null, u: number): number {
  const n = ids === null ? probs.length : ids.length;
  const at = (k: number): number => (ids === null ? k : ids[k]!);
  let mass = 0;
  for (let k = 0; k < n; k++) mass += probs[at(k)]!;
  let rest = u * mass;
  let last = at(0);
  for (let k = 0; k < n; k++) {
    const i = at(k);
    if (probs[i]! <= 0) continue;
    last = i;
    rest -= probs[i]!;
    if (rest < 0) return i;
  }
  return last;
}

export interface ReferenceResult {
  readonly tokenId: number;
  readonly logprob: number;
  readonly topLogprobs: readonly TokenLogprob[];
}

/** One reference sampling step (no history update); draws one uniform from `rng` unless greedy. */
export function referencePeek(logits: Float32Array, params: SamplingParams, history: TokenHistory, rng: Rng): ReferenceResult {
  const processed = processLogits(logits, params, history);
  const { probs, lse } = softmaxWithLse(processed);
  let tokenId: number;
  if (params.temperature === 0) tokenId = referenceArgmax(processed);
  else {
    const truncating = params.topK > 0 || params.topP < 1 || params.minP > 0;
    const ids = truncating ? referenceTruncate(probs, params) : null;
    assert(ids === null || ids.length > 0, 'sampling: no candidate token left');
    tokenId = walk(probs, ids, rng.uniform());
  }
  const n = params.logprobs ?? 0;
  return { tokenId, logprob: processed[tokenId]! - lse, topLogprobs: topLogprobs(processed, lse, n) };
}
