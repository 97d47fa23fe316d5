/**
 * The token choice of the sampler step (src/README.md step 4) over one processed logits row, the
 * mechanism under RequestSampler (sampler.ts): greedy argmax, or an inverse-CDF walk driven by one
 * uniform over softmax(row) truncated by min-p / top-k / top-p (truncate.ts). Both also return
 * log Σ exp(row) for the logprobs. Each is a few passes over the row and allocates nothing of
 * vocabulary size; the floating-point steps that decide the token are those of reference.ts, so
 * the same uniform picks the same token.
 */
import { assert } from '../core/assert.js';
import { applyPenalties, hasPenalties, type PenaltyParams, type TokenHistory } from './penalties.js';
import { isTruncating, truncationFloor, type TruncationParams } from './truncate.js';
import { expScaledInto, sumExpShiftedLoose } from './fast-exp.js';
import type { SamplingScratch } from './scratch.js';

export interface Pick {
  readonly tokenId: number;
  /** log Σ exp(processed row). */
  readonly lse: number;
}

/**
 * `logits` itself without penalties or blocked ids, else a copy in scratch with the penalties
 * applied and the `blocked` ids (min_tokens: the stop tokens) at −∞. [vocab] f32
 */
export function penalize(logits: Float32Array, p: PenaltyParams, history: TokenHistory, scratch: SamplingScratch, blocked: readonly number[] = []): Float32Array {
  if (!hasPenalties(p) && blocked.length === 0) return logits;
  const row = scratch.logits(logits.length);
  row.set(logits);
  applyPenalties(row, history, p);
  for (const t of blocked) if (t >= 0 && t < row.length) row[t] = -Infinity;
  return row;
}

/** Index of the largest entry, lowest index on ties. */
export function argmax(row: Float32Array): number {
  let best = 0;
  let max = row[0]!;
  for (let i = 1; i < row.length; i++) {
    const x = row[i]!;
    if (x > max) {
      max = x;
      best = i;
    }
  }
  return best;
}

/** Argmax; its lse is within 1.3e-9 (sumExpShiftedLoose), as only the logprob depends on it. */
export function pickGreedy(row: Float32Array): Pick {
  const tokenId = argmax(row);
  const max = row[tokenId]!;
  return { tokenId, lse: max + Math.log(sumExpShiftedLoose(row, max)) };
}

function maxOf(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  return max;
}

/**
 * Samples from softmax(f32(row · invTemperature)) truncated by `p`, with the uniform u ∈ [0, 1).
 * NOTE: the scaled row is never stored: x ↦ f32(x · inv) is monotone, so its max is the scaled max.
 */
export function pickRandom(row: Float32Array, invTemperature: number, p: TruncationParams, u: number, scratch: SamplingScratch): Pick {
  const max = Math.fround(maxOf(row) * invTemperature);
  const weights = scratch.probs(row.length); // [vocab] f64: exp(processed − max); its max is 1
  const sum = expScaledInto(row, invTemperature, max, weights);
  const scale = 1 / sum; // probability i is weights[i] · scale, as reference.ts normalizes
  let tokenId: number;
  if (isTruncating(p)) {
    const floor = truncationFloor(weights, scale, scale, p, scratch); // pMax = 1 · scale
    tokenId = walkCandidates(weights, scale, floor, u, scratch.ids(row.length));
  } else tokenId = walkAll(weights, scale, u);
  return { tokenId, lse: max + Math.log(sum) };
}

/** Inverse-CDF walk over the whole row with u scaled by its mass; zero-probability ids skipped. */
function walkAll(weights: Float64Array, scale: number, u: number): number {
  let mass = 0;
  for (let i = 0; i < weights.length; i++) mass += weights[i]! * scale;
  let rest = u * mass;
  let last = 0;
  for (let i = 0; i < weights.length; i++) {
    const p = weights[i]! * scale;
    if (p <= 0) continue;
    last = i;
    rest -= p;
    if (rest < 0) return i;
  }
  return last;
}

/** The same walk over the candidates {i : weights[i] · scale ≥ floor} (floor > 0), in id order. */
function walkCandidates(weights: Float64Array, scale: number, floor: number, u: number, ids: Int32Array): number {
  let n = 0;
  let mass = 0;
  for (let i = 0; i < weights.length; i++) {
    const p = weights[i]! * scale;
    if (p >= floor) {
      ids[n++] = i;
      mass += p;
    }
  }
  assert(n > 0, 'sampling: no candidate token left');
  let rest = u * mass;
  for (let k = 0; k < n; k++) {
    rest -= weights[ids[k]!]! * scale;
    if (rest < 0) return ids[k]!;
  }
  return ids[n - 1]!;
}

/** f32(row · inv) into out (out may be row). [vocab] f32 */
export function scaleInto(row: Float32Array, inv: number, out: Float32Array): Float32Array {
  for (let i = 0; i < row.length; i++) out[i] = row[i]! * inv;
  return out;
}
