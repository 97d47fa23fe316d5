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
import { logSumExp, topLogprobs, type TokenLogprob } from './logprobs.js';
import { truncateCandidates } from './truncate.js';
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

/** Draws from the truncated distribution: one uniform, walked over candidates highest first. */
function draw(processed: Float32Array, lse: number, params: SamplingParams, rng: Rng): number {
  const probs = new Float64Array(processed.length); // [vocab] f64
  for (let i = 0; i < probs.length; i++) probs[i] = Math.exp(processed[i]! - lse);
  const ids = truncateCandidates(probs, params);
  assert(ids.length > 0, 'sampling: no candidate token left');
  let mass = 0;
  for (const i of ids) mass += probs[i]!;
  let u = rng.uniform() * mass;
  for (const i of ids) {
    u -= probs[i]!;
    if (u < 0) return i;
  }
  return ids[ids.length - 1]!;
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
    const lse = logSumExp(processed);
    const tokenId = this.params.temperature === 0 ? argmax(processed) : draw(processed, lse, this.params, this.rng);
    const n = this.params.logprobs ?? 0;
    return { tokenId, logprob: processed[tokenId]! - lse, topLogprobs: topLogprobs(processed, lse, n) };
  }
}
