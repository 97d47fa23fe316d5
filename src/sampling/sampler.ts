/**
 * Logits → next token for one request (the sampler step of the request lifecycle, src/README.md
 * step 4): penalties (penalties.ts) → greedy argmax when temperature is 0, else temperature →
 * softmax → min-p / top-k / top-p (truncate.ts) → a draw from this request's own seeded PRNG, so
 * the same `seed` reproduces the same tokens whatever else runs in the batch.
 * Logprobs are the log-softmax of the processed logits (after penalties and temperature, before
 * truncation; temperature 0 counts as 1), like vLLM's processed logprobs.
 *
 * Cost at a 150k vocabulary: nothing of vocabulary size is allocated (scratch.ts), penalties touch
 * only the tokens seen, exp is a few multiplies (fast-exp.ts), greedy is one pass, truncation is
 * selection (select.ts), and the draw is an inverse-CDF walk in id order. The results are those of
 * the first sampler (reference.ts): the same tokens for the same seed, the same truncation sets,
 * logprobs within 1e-12; only exp differs, by ≤ 3 ulps from Math.exp.
 */
import { Rng } from '../model/generator/random.js';
import { assert } from '../core/assert.js';
import { applyPenalties, hasPenalties, TokenHistory } from './penalties.js';
import { topLogprobs, type TokenLogprob } from './logprobs.js';
import { isTruncating, truncationFloor } from './truncate.js';
import { makeSamplingParams, type SamplingParams } from './params.js';
import { expShiftedInto, sumExpShifted } from './fast-exp.js';
import { threadScratch, type SamplingScratch } from './scratch.js';

export { processLogits, softmaxWithLse } from './reference.js';

export interface SampleResult {
  readonly tokenId: number;
  /** log p(tokenId) under the processed distribution. */
  readonly logprob: number;
  /** Top-n logprobs (n = params.logprobs), highest first; empty when logprobs is null. */
  readonly topLogprobs: readonly TokenLogprob[];
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

interface ProcessedRow {
  /** Penalized and temperature-scaled logits: `logits` itself when neither applies. [vocab] f32 */
  readonly row: Float32Array;
  /** max(row), or NaN when not computed (greedy takes it from its argmax). */
  readonly max: number;
}

/** Penalties, then temperature, with f32 rounding after each step as in reference.ts. */
function processRow(logits: Float32Array, params: SamplingParams, history: TokenHistory, scratch: SamplingScratch): ProcessedRow {
  const isScaled = params.temperature > 0 && params.temperature !== 1;
  let row = logits;
  if (hasPenalties(params)) {
    row = scratch.logits(logits.length);
    row.set(logits);
    applyPenalties(row, history, params);
  }
  if (isScaled) return scaleWithMax(row, 1 / params.temperature, scratch.logits(logits.length));
  return { row, max: params.temperature > 0 ? maxOf(row) : Number.NaN };
}

/** out[i] = f32(src[i] · inv) (src may be out) and the max of out, in one pass. */
function scaleWithMax(src: Float32Array, inv: number, out: Float32Array): ProcessedRow {
  let max = -Infinity;
  for (let i = 0; i < src.length; i++) {
    const x = Math.fround(src[i]! * inv);
    out[i] = x;
    if (x > max) max = x;
  }
  return { row: out, max };
}

function maxOf(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  return max;
}

interface Pick {
  readonly tokenId: number;
  /** log Σ exp(row). */
  readonly lse: number;
}

function pickGreedy(row: Float32Array): Pick {
  const tokenId = argmax(row);
  const max = row[tokenId]!;
  return { tokenId, lse: max + Math.log(sumExpShifted(row, max)) };
}

/** `max` is max(row); draws one uniform from `rng`. */
function pickRandom(row: Float32Array, max: number, params: SamplingParams, rng: Rng, scratch: SamplingScratch): Pick {
  const weights = scratch.probs(row.length); // [vocab] f64: exp(row − max), then probabilities
  const sum = expShiftedInto(row, max, weights);
  const u = rng.uniform();
  let tokenId: number;
  if (isTruncating(params)) {
    const pMax = normalize(weights, 1 / sum);
    tokenId = walkAbove(weights, truncationFloor(weights, pMax, params, scratch), u);
  } else tokenId = walkAll(weights, 1 / sum, u);
  return { tokenId, lse: max + Math.log(sum) };
}

/** probs[i] *= inv in place; returns the largest result. */
function normalize(probs: Float64Array, inv: number): number {
  let pMax = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = (probs[i] = probs[i]! * inv);
    if (p > pMax) pMax = p;
  }
  return pMax;
}

/**
 * Inverse-CDF walk over the whole row with u ∈ [0, 1) scaled by its mass; the probabilities are
 * weights[i] · inv, formed on the fly (the same f64 products as a normalized copy).
 */
function walkAll(weights: Float64Array, inv: number, u: number): number {
  let mass = 0;
  for (let i = 0; i < weights.length; i++) mass += weights[i]! * inv;
  let rest = u * mass;
  let last = 0;
  for (let i = 0; i < weights.length; i++) {
    const p = weights[i]! * inv;
    if (p <= 0) continue;
    last = i;
    rest -= p;
    if (rest < 0) return i;
  }
  return last;
}

/** The same walk over the candidates {i : probs[i] ≥ floor} (floor > 0), in id order. */
function walkAbove(probs: Float64Array, floor: number, u: number): number {
  let mass = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) if (probs[i]! >= floor) { mass += probs[i]!; last = i; }
  assert(last >= 0, 'sampling: no candidate token left');
  let rest = u * mass;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    if (!(p >= floor)) continue;
    rest -= p;
    if (rest < 0) return i;
  }
  return last;
}

/** The sampler of one request: owns its PRNG and the token history used by the penalties. */
export class RequestSampler {
  readonly params: SamplingParams;
  readonly history: TokenHistory;
  private readonly rng: Rng;

  constructor(params: Partial<SamplingParams>, promptTokenIds: ArrayLike<number> = []) {
    this.params = makeSamplingParams(params);
    this.history = new TokenHistory(promptTokenIds);
    const seed = this.params.seed ?? Math.floor(Math.random() * 2 ** 52);
    this.rng = new Rng(seed, 'sampling');
  }

  /** Picks the next token from one logits row ([vocab] f32) and records it as generated. */
  sample(logits: Float32Array): SampleResult {
    const result = this.peek(logits);
    this.history.recordOutput(result.tokenId);
    return result;
  }

  /** Picks the next token without recording it (the caller must `history.recordOutput` it). */
  peek(logits: Float32Array): SampleResult {
    const { row, max } = processRow(logits, this.params, this.history, threadScratch);
    const pick = this.params.temperature === 0 ? pickGreedy(row) : pickRandom(row, max, this.params, this.rng, threadScratch);
    const n = this.params.logprobs ?? 0;
    return { tokenId: pick.tokenId, logprob: row[pick.tokenId]! - pick.lse, topLogprobs: topLogprobs(row, pick.lse, n) };
  }
}
