/**
 * Logits → next token for one request (the sampler step of the request lifecycle, src/README.md
 * step 4): penalties (penalties.ts) → greedy argmax when temperature is 0, else temperature →
 * softmax → min-p / top-k / top-p (truncate.ts) → a draw from this request's own seeded PRNG, so
 * the same `seed` reproduces the same tokens whatever else runs in the batch.
 * Logprobs are the log-softmax of the processed logits (after penalties and temperature, before
 * truncation; temperature 0 counts as 1), like vLLM's processed logprobs.
 */
import { Rng } from '../model/generator/random.js';
import { assert } from '../core/assert.js';
import { applyPenalties, hasPenalties, TokenHistory } from './penalties.js';
import { topLogprobs, type TokenLogprob } from './logprobs.js';
import { isTruncating, truncateCandidates } from './truncate.js';
import { makeSamplingParams, type SamplingParams } from './params.js';

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
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

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

/** Draws from the truncated distribution with one uniform. */
function draw(probs: Float64Array, params: SamplingParams, rng: Rng): number {
  if (!isTruncating(params)) return walk(probs, null, rng.uniform());
  const ids = truncateCandidates(probs, params);
  assert(ids.length > 0, 'sampling: no candidate token left');
  return walk(probs, ids, rng.uniform());
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
    const processed = processLogits(logits, this.params, this.history);
    const { probs, lse } = softmaxWithLse(processed);
    const tokenId = this.params.temperature === 0 ? argmax(processed) : draw(probs, this.params, this.rng);
    const n = this.params.logprobs ?? 0;
    return { tokenId, logprob: processed[tokenId]! - lse, topLogprobs: topLogprobs(processed, lse, n) };
  }
}
