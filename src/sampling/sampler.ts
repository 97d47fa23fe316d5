/**
 * Logits → next token for one request (the sampler step of the request lifecycle, src/README.md
 * step 4): penalties (penalties.ts) → greedy argmax when temperature is 0, else temperature →
 * softmax → min-p / top-k / top-p (truncate.ts) → a draw from this request's own seeded PRNG, so
 * the same `seed` reproduces the same tokens whatever else runs in the batch.
 * Logprobs are the log-softmax of the processed logits (after penalties and temperature, before
 * truncation; temperature 0 counts as 1), like vLLM's processed logprobs.
 *
 * Cost at a 150k vocabulary (pick.ts): nothing of vocabulary size is allocated (scratch.ts),
 * penalties touch only the tokens seen, exp is a table and a polynomial (fast-exp.ts), greedy is
 * two passes, truncation is selection (select.ts), the draw an inverse-CDF walk in id order. The
 * results are those of the first sampler (reference.ts): the same tokens for the same seed, the
 * same truncation sets, logprobs within 1e-12 (greedy: 2e-9); only exp differs, by ≤ 3 ulps from
 * Math.exp, which could change a token only if the uniform fell within ~1e-15 of a CDF boundary.
 */
import { Rng } from '../core/rng.js';
import { TokenHistory } from './penalties.js';
import { topLogprobs, type TokenLogprob } from './logprobs.js';
import { makeSamplingParams, type SamplingParams } from './params.js';
import { argmax, penalize, pickGreedy, pickRandom, scaleInto } from './pick.js';
import { threadScratch } from './scratch.js';

export { argmax } from './pick.js';
export { processLogits, softmaxWithLse } from './reference.js';

export interface SampleResult {
  readonly tokenId: number;
  /** log p(tokenId) under the processed distribution. */
  readonly logprob: number;
  /** Top-n logprobs (n = params.logprobs), highest first; empty when logprobs is null. */
  readonly topLogprobs: readonly TokenLogprob[];
}

const NONE: readonly number[] = Object.freeze([]);

/** A per-request logits processor with state (json-constraint.ts). */
export interface LogitsConstraint {
  /** Sets the logits of tokens not allowed next to −∞ (row: a copy the sampler owns). */
  mask(row: Float32Array): void;
  advance(tokenId: number): void;
}

/** The sampler of one request: owns its PRNG and the token history used by the penalties. */
export class RequestSampler {
  readonly params: SamplingParams;
  readonly history: TokenHistory;
  private readonly rng: Rng;

  /**
   * stopTokenIds: what min_tokens keeps from being sampled early (EOS and the request's stop ids);
   * constraint: masks the logits before each draw and follows the tokens drawn (json_object).
   */
  constructor(params: Partial<SamplingParams>, promptTokenIds: ArrayLike<number> = [], private readonly stopTokenIds: readonly number[] = [],
    private readonly constraint: LogitsConstraint | null = null) {
    this.params = makeSamplingParams(params);
    this.history = new TokenHistory(promptTokenIds);
    const seed = this.params.seed ?? Math.floor(Math.random() * 2 ** 52);
    this.rng = new Rng(seed, 'sampling');
  }

  /** Picks the next token from one logits row ([vocab] f32) and records it as generated. */
  sample(logits: Float32Array): SampleResult {
    const result = this.peek(logits);
    this.record(result.tokenId);
    return result;
  }

  /**
   * Picks and records the next token without its logprob: the same token as `sample`, but greedy
   * skips the log Σ exp pass (at a 129k vocabulary ~1 ms a row, 3× the argmax), for requests that
   * asked for no logprobs.
   */
  sampleToken(logits: Float32Array): number {
    const { temperature } = this.params;
    const row = this.processed(logits); // [vocab] f32
    const tokenId = temperature === 0 ? argmax(row) : pickRandom(row, 1 / temperature, this.params, this.rng.uniform(), threadScratch).tokenId;
    this.record(tokenId);
    return tokenId;
  }

  /** Penalties, min_tokens and the constraint applied: logits itself when none applies, else a scratch copy. */
  private processed(logits: Float32Array): Float32Array {
    const blocked = this.blocked();
    const row = this.constrained(logits, blocked);
    // NOTE: a closed JSON object leaves only a little whitespace and EOS: there the constraint wins over min_tokens
    if (this.constraint !== null && blocked.length > 0 && !row.some((x) => x > -Infinity)) return this.constrained(logits, NONE);
    return row;
  }

  private constrained(logits: Float32Array, blocked: readonly number[]): Float32Array {
    const row = penalize(logits, this.params, this.history, threadScratch, blocked);
    if (this.constraint === null) return row;
    const out = row === logits ? threadScratch.logits(logits.length) : row;
    if (out !== row) out.set(logits);
    this.constraint.mask(out);
    return out;
  }

  /** Tokens generated before this sampler existed (a request handed over mid-generation). */
  replayOutput(tokenIds: ArrayLike<number>): void {
    for (let i = 0; i < tokenIds.length; i++) this.record(tokenIds[i]!);
  }

  /** Records a drawn token: the penalties' history and the constraint's state. */
  private record(tokenId: number): void {
    this.history.recordOutput(tokenId);
    this.constraint?.advance(tokenId);
  }

  /** Ids that may not be sampled now: the stop tokens while fewer than min_tokens were generated. */
  private blocked(): readonly number[] {
    return this.history.numOutput < this.params.minTokens ? this.stopTokenIds : NONE;
  }

  /** Picks the next token without recording it (the caller must `history.recordOutput` it; not with a constraint). */
  peek(logits: Float32Array): SampleResult {
    const { temperature } = this.params;
    const row = this.processed(logits); // [vocab] f32
    const inv = temperature === 0 ? 1 : 1 / temperature; // temperature 0 counts as 1 for logprobs
    const pick = temperature === 0 ? pickGreedy(row) : pickRandom(row, inv, this.params, this.rng.uniform(), threadScratch);
    const logprob = Math.fround(row[pick.tokenId]! * inv) - pick.lse;
    const n = this.params.logprobs ?? 0;
    if (n === 0) return { tokenId: pick.tokenId, logprob, topLogprobs: [] };
    const processed = inv === 1 ? row : scaleInto(row, inv, threadScratch.logits(row.length));
    return { tokenId: pick.tokenId, logprob, topLogprobs: topLogprobs(processed, pick.lse, n) };
  }
}
