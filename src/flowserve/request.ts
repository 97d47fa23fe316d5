/**
 * A request inside one DP group (paper notes §2.5.1: the DP group's scheduler owns its requests).
 * One scheduling model (ARCHITECTURE.md "Rules"): a request is `numComputedTokens` (positions whose
 * KV is in the cache) against `numTokens` (prompt + generated). Prefill, chunked prefill, a prefix
 * hit, a preemption and a KV hand-off are all moves of that one counter.
 */
import { XdsError } from '../core/errors.js';
import { assert } from '../core/assert.js';
import { MAX_LOGPROBS, makeSamplingParams, type SamplingParams } from '../sampling/params.js';
import { PromptLogprobs } from './prompt-logprobs.js';

export type RequestStatus = 'waiting' | 'running' | 'preempted' | 'finished';
export type FinishReason = 'stop' | 'length' | 'abort' | 'error';

/** What a caller hands the engine to start a request. */
export interface RequestInit {
  readonly id: string;
  /** [numPromptTokens] token ids, at least one. */
  readonly promptTokenIds: ArrayLike<number>;
  /** Maximum number of generated tokens (≥ 1). */
  readonly maxTokens: number;
  /** Opaque to the scheduler; the sampler reads it. Defaults filled by makeSamplingParams. */
  readonly sampling?: Partial<SamplingParams>;
  /** Generation ends (reason 'stop') after any of these tokens: EOS and user stop_token_ids. */
  readonly stopTokenIds?: readonly number[];
  /** Lower runs first under the 'priority' policy (vLLM convention). Default 0. */
  readonly priority?: number;
  /**
   * Called after each appended token with all generated ids ([numOutputTokens] i32 view, do not
   * keep it); true ends the request with reason 'stop'. The output process uses it for stop strings.
   */
  readonly shouldStop?: (outputTokenIds: Int32Array) => boolean;
  /** Report prompt logprobs with this many top alternatives (0: the prompt token's own only); null or absent: none. */
  readonly promptLogprobs?: number | null;
}

export class Request {
  readonly id: string;
  readonly numPromptTokens: number;
  readonly maxTokens: number;
  readonly sampling: SamplingParams;
  readonly stopTokenIds: readonly number[];
  readonly priority: number;
  /** Arrival time (µs, injected clock) and a tie-breaking arrival sequence number. */
  readonly arrivalUs: number;
  readonly arrivalSeq: number;
  readonly shouldStop: ((outputTokenIds: Int32Array) => boolean) | undefined;
  /** Prompt logprobs being collected (delivered with the first token's event), or null. */
  readonly promptLogprobs: PromptLogprobs | null;
  status: RequestStatus = 'waiting';
  finishReason: FinishReason | null = null;
  errorMessage: string | null = null;
  /** Positions [0, numComputedTokens) have their KV in the cache. */
  numComputedTokens = 0;
  /** Prompt tokens served from the prefix cache at first admission (usage.cachedTokens). */
  numCachedTokens = 0;
  /** Times this request was preempted (its KV dropped, to be recomputed). */
  numPreemptions = 0;
  private readonly tokens: Int32Array; // [numPromptTokens + maxTokens] prompt then generated
  private numTokensHeld: number;
  private hasBeenAdmitted = false;

  constructor(init: RequestInit, arrivalUs: number, arrivalSeq: number) {
    validateInit(init);
    this.id = init.id;
    this.numPromptTokens = init.promptTokenIds.length;
    this.maxTokens = init.maxTokens;
    this.sampling = makeSamplingParams(init.sampling);
    this.stopTokenIds = Object.freeze([...(init.stopTokenIds ?? [])]);
    this.priority = init.priority ?? 0;
    this.arrivalUs = arrivalUs;
    this.arrivalSeq = arrivalSeq;
    this.shouldStop = init.shouldStop;
    this.tokens = new Int32Array(this.numPromptTokens + this.maxTokens);
    this.tokens.set(Array.from(init.promptTokenIds));
    this.numTokensHeld = this.numPromptTokens;
    const n = init.promptLogprobs;
    this.promptLogprobs = n === null || n === undefined ? null : new PromptLogprobs(n, this.tokens.subarray(0, this.numPromptTokens));
  }

  /** Prompt + generated tokens. */
  get numTokens(): number {
    return this.numTokensHeld;
  }

  get numOutputTokens(): number {
    return this.numTokensHeld - this.numPromptTokens;
  }

  get isFinished(): boolean {
    return this.status === 'finished';
  }

  /**
   * [numPromptTokens + maxTokens] i32, the request's own token buffer (no copy): only positions
   * [0, numTokens) are meaningful. Hot paths read it instead of allocating views.
   */
  get tokenBuffer(): Int32Array {
    return this.tokens;
  }

  /** A fresh copy of tokens [start, start + n): [n] i32. */
  copyTokens(start: number, n: number): Int32Array {
    assert(start >= 0 && start + n <= this.numTokensHeld, () => `request ${this.id}: tokens [${start}, ${start + n}) out of [0, ${this.numTokensHeld})`);
    return this.tokens.slice(start, start + n);
  }

  /** [numTokens] i32 view of prompt + generated tokens (valid until the next append). */
  get allTokenIds(): Int32Array {
    return this.tokens.subarray(0, this.numTokensHeld);
  }

  get promptTokenIds(): Int32Array {
    return this.tokens.subarray(0, this.numPromptTokens);
  }

  get outputTokenIds(): Int32Array {
    return this.tokens.subarray(this.numPromptTokens, this.numTokensHeld);
  }

  /** Tokens still to compute before the next token can be sampled. */
  get numUncomputedTokens(): number {
    return this.numTokensHeld - this.numComputedTokens;
  }

  /** True the first time only: the prefix hit of the first admission is the request's usage. */
  markAdmitted(): boolean {
    const first = !this.hasBeenAdmitted;
    this.hasBeenAdmitted = true;
    return first;
  }

  appendToken(tokenId: number): void {
    assert(this.numTokensHeld < this.tokens.length, () => `request ${this.id}: append beyond maxTokens`);
    this.tokens[this.numTokensHeld++] = tokenId;
  }

  /** Sets the terminal state (idempotent: the first reason wins). */
  finish(reason: FinishReason, errorMessage: string | null = null): void {
    if (this.status === 'finished') return;
    this.status = 'finished';
    this.finishReason = reason;
    this.errorMessage = errorMessage;
  }
}

function validateInit(init: RequestInit): void {
  const bad = (param: string, rule: string): never => {
    throw new XdsError('invalid_argument', `${param} ${rule}`, { param });
  };
  if (typeof init.id !== 'string' || init.id.length === 0) bad('id', 'must be a non-empty string');
  const n = init.promptTokenIds?.length;
  if (!Number.isInteger(n) || n < 1) bad('promptTokenIds', 'must hold at least one token id');
  for (let i = 0; i < n; i++) {
    const t = init.promptTokenIds[i];
    if (!Number.isInteger(t) || t! < 0) bad(`promptTokenIds[${i}]`, `must be a token id ≥ 0, got ${String(t)}`);
  }
  if (!Number.isInteger(init.maxTokens) || init.maxTokens < 1) bad('maxTokens', `must be an integer ≥ 1, got ${init.maxTokens}`);
  if (init.priority !== undefined && !Number.isFinite(init.priority)) bad('priority', 'must be a finite number');
  const lp = init.promptLogprobs;
  if (lp !== null && lp !== undefined && !(Number.isInteger(lp) && lp >= 0 && lp <= MAX_LOGPROBS)) bad('promptLogprobs', `must be an integer in [0, ${MAX_LOGPROBS}], got ${lp}`);
}
