/**
 * The DP group's scheduler (paper notes §2.5.1; one scheduling model, ARCHITECTURE.md "Rules").
 * Each step assigns tokens within a token budget (maxNumBatchedTokens) and a sequence cap
 * (maxNumSeqs): running requests first, in policy order, then waiting ones; a long prompt is
 * computed in chunks; a prefix hit starts a request at its cached length; when KV blocks run out
 * the request the policy serves last is preempted (blocks freed, recomputed later). It decides
 * only: the runner computes, the sampler samples, `commit` applies the result.
 *
 * Never deadlocks: the first running request can always progress once everything after it is
 * preempted; a request that cannot fit even alone in the whole KV cache ends with 'error'.
 */
import { XdsError } from '../../core/errors.js';
import { assert } from '../../core/assert.js';
import { EMPTY_PREFIX, type KvManager } from '../../kvcache/kv-manager.js';
import type { Request } from '../request.js';
import { getPolicy, type SchedulingPolicy } from './policies.js';
import { RequestQueue } from './request-queue.js';
import type { ScheduledSeq, SchedulerOutput } from './output.js';
import { checkSchedulerConfig, type SchedulerConfig, type ResolvedSchedulerConfig } from './config.js';

/** What `commit` changed. */
export interface CommitOutcome {
  /** One entry per slice that sampled, for a request still alive: the token it appended. */
  readonly appended: readonly { readonly request: Request; readonly tokenId: number; readonly seqIndex: number }[];
  /** Requests that finished in this commit ('stop' or 'length'); their blocks are freed. */
  readonly finished: readonly Request[];
}

/** A step in progress: scheduling state filled by the two phases of `schedule`. */
interface StepDraft {
  budget: number;
  readonly seqs: ScheduledSeq[];
  readonly preemptedIds: string[];
  readonly failed: Request[];
}

export class Scheduler {
  readonly config: ResolvedSchedulerConfig;
  readonly policy: SchedulingPolicy;
  private readonly waiting: RequestQueue;
  private readonly running: RequestQueue;
  private readonly byId = new Map<string, Request>();
  private nextStepId = 0;
  private pendingStepId: number | null = null;

  constructor(config: SchedulerConfig, readonly kv: KvManager) {
    this.config = checkSchedulerConfig(config);
    this.policy = getPolicy(this.config.policy);
    this.waiting = new RequestQueue(this.policy);
    this.running = new RequestQueue(this.policy);
  }

  get numWaiting(): number {
    return this.waiting.length;
  }

  get numRunning(): number {
    return this.running.length;
  }

  get hasWork(): boolean {
    return this.byId.size > 0;
  }

  getRequest(id: string): Request | undefined {
    return this.byId.get(id);
  }

  /** Queues a new request; XdsError('overloaded') when maxWaiting requests already wait. */
  addRequest(req: Request): void {
    if (this.byId.has(req.id)) throw new XdsError('invalid_argument', `request id '${req.id}' is already in use`, { param: 'id' });
    if (req.numPromptTokens >= this.config.maxModelLen) {
      throw new XdsError('context_length_exceeded', `prompt has ${req.numPromptTokens} tokens; the limit is ${this.config.maxModelLen - 1}`, { param: 'promptTokenIds' });
    }
    if (this.waiting.length >= this.config.maxWaiting) {
      throw new XdsError('overloaded', `waiting queue is full (${this.config.maxWaiting} requests)`);
    }
    req.status = 'waiting';
    this.byId.set(req.id, req);
    this.waiting.insert(req);
  }

  /** Ends a request now ('abort') and frees its KV blocks; undefined when unknown or finished. */
  abort(id: string): Request | undefined {
    const req = this.byId.get(id);
    if (req === undefined) return undefined;
    this.retire(req, 'abort');
    return req;
  }

  /** Decides one step. The previous output must have been committed. */
  schedule(): SchedulerOutput {
    assert(this.pendingStepId === null, () => `schedule() before commit of step ${this.pendingStepId}`);
    const draft: StepDraft = { budget: this.config.maxNumBatchedTokens, seqs: [], preemptedIds: [], failed: [] };
    this.scheduleRunning(draft);
    if (draft.preemptedIds.length === 0) this.scheduleWaiting(draft);
    const stepId = this.nextStepId++;
    if (draft.seqs.length > 0) this.pendingStepId = stepId;
    const numBatchedTokens = this.config.maxNumBatchedTokens - draft.budget;
    return { kind: 'schedule', stepId, seqs: draft.seqs, numBatchedTokens, preemptedIds: draft.preemptedIds, failed: draft.failed };
  }

  /**
   * Applies a computed step: advances numComputedTokens, registers full blocks in the prefix
   * cache, appends sampled tokens ([seqs.length], null where nothing was sampled) and ends
   * requests on a stop token, the stop hook, maxTokens or maxModelLen.
   */
  commit(output: SchedulerOutput, sampledTokenIds: readonly (number | null)[]): CommitOutcome {
    assert(output.seqs.length === 0 || this.pendingStepId === output.stepId, () => `commit of step ${output.stepId}, pending ${this.pendingStepId}`);
    assert(sampledTokenIds.length === output.seqs.length, 'commit: one sampled entry per scheduled seq');
    this.pendingStepId = null;
    const appended: { request: Request; tokenId: number; seqIndex: number }[] = [];
    const finished: Request[] = [];
    output.seqs.forEach((seq, i) => {
      const req = seq.request;
      if (req.status !== 'running') return; // aborted while the step ran
      req.numComputedTokens = seq.startPos + seq.tokenIds.length;
      this.kv.cacheComputed(req.id, req.tokenBuffer, req.numComputedTokens);
      const tokenId = sampledTokenIds[i];
      if (!seq.samples || tokenId === null || tokenId === undefined) return;
      req.appendToken(tokenId);
      appended.push({ request: req, tokenId, seqIndex: i });
      const reason = this.stopReason(req, tokenId);
      if (reason !== null) { this.retire(req, reason); finished.push(req); }
    });
    return { appended, finished };
  }

  /** Ends these requests with `reason` (e.g. the runner failed: 'error'); returns those found. */
  failAll(ids: readonly string[], reason: 'error' | 'abort', message: string): Request[] {
    const out: Request[] = [];
    for (const id of ids) {
      const req = this.byId.get(id);
      if (req !== undefined) { this.retire(req, reason, message); out.push(req); }
    }
    return out;
  }

  /** Forgets a scheduled step that will never be committed (its requests were failed). */
  cancelPendingStep(): void {
    this.pendingStepId = null;
  }

  private stopReason(req: Request, tokenId: number): 'stop' | 'length' | null {
    if (req.stopTokenIds.includes(tokenId)) return 'stop';
    if (req.shouldStop?.(req.outputTokenIds) === true) return 'stop';
    if (req.numOutputTokens >= req.maxTokens || req.numTokens >= this.config.maxModelLen) return 'length';
    return null;
  }

  /** Phase 1: every running request, in policy order, preempting from the end when blocks run out. */
  private scheduleRunning(draft: StepDraft): void {
    let i = 0;
    while (i < this.running.length && draft.budget > 0) {
      const req = this.running.at(i)!;
      const n = this.numNewTokens(req, req.numComputedTokens, draft.budget);
      if (this.kv.allocateSlots(req.id, req.numComputedTokens + n)) {
        draft.seqs.push(this.slice(req, req.numComputedTokens, n));
        draft.budget -= n;
        i++;
      } else if (i < this.running.length - 1) {
        this.preempt(this.running.at(this.running.length - 1)!, draft);
      } else if (i > 0) {
        this.preempt(req, draft);
      } else {
        this.failNeverFits(req, draft, 'its KV grew past the whole cache');
      }
    }
  }

  /** Phase 2: admit waiting requests in policy order while budget, seats and blocks last. */
  private scheduleWaiting(draft: StepDraft): void {
    while (draft.budget > 0 && this.running.length < this.config.maxNumSeqs) {
      const req = this.waiting.peek();
      if (req === undefined) return;
      if (!this.kv.canEverFit(req.numTokens)) { this.failNeverFits(req, draft, 'its prompt needs more blocks than the cache has'); continue; }
      // NOTE: prompt logprobs need every prompt position's logits, which a cached block does not give
      const prefix = req.promptLogprobs?.complete === false ? EMPTY_PREFIX : this.kv.findCachedPrefix(req.allTokenIds);
      const n = this.numNewTokens(req, prefix.numTokens, draft.budget);
      if (!this.canChunk(draft) && prefix.numTokens + n < req.numTokens) return;
      const admit = { prefix, numQueriedTokens: req.numTokens };
      if (!this.kv.allocateSlots(req.id, prefix.numTokens + n, admit)) return;
      this.waiting.shift();
      if (req.markAdmitted()) req.numCachedTokens = prefix.numTokens;
      req.numComputedTokens = prefix.numTokens;
      req.status = 'running';
      this.running.insert(req);
      draft.seqs.push(this.slice(req, prefix.numTokens, n));
      draft.budget -= n;
    }
  }

  /** Without chunked prefill a prompt waits for a whole budget; one longer than that is chunked. */
  private canChunk(draft: StepDraft): boolean {
    return this.config.enableChunkedPrefill || draft.budget === this.config.maxNumBatchedTokens;
  }

  private numNewTokens(req: Request, numComputed: number, budget: number): number {
    const n = Math.min(req.numTokens - numComputed, budget, this.config.maxPrefillChunkTokens);
    assert(n > 0, () => `request ${req.id} scheduled with nothing to compute`);
    return n;
  }

  private slice(req: Request, startPos: number, n: number): ScheduledSeq {
    return {
      request: req,
      tokenIds: req.copyTokens(startPos, n),
      startPos,
      blockTable: this.kv.blockTable(req.id),
      samples: startPos + n === req.numTokens,
    };
  }

  private preempt(req: Request, draft: StepDraft): void {
    this.running.remove(req);
    this.kv.free(req.id);
    req.numComputedTokens = 0;
    req.numPreemptions++;
    req.status = 'preempted';
    this.waiting.insert(req); // NOTE: not bounded by maxWaiting: it was admitted already
    draft.preemptedIds.push(req.id);
  }

  private failNeverFits(req: Request, draft: StepDraft, why: string): void {
    const blocks = `${this.kv.numBlocks} blocks of ${this.kv.blockSizeTokens} tokens`;
    this.retire(req, 'error', `request ${req.id} can never fit in the KV cache (${blocks}): ${why}`);
    draft.failed.push(req);
  }

  /** Removes a request from every queue, frees its blocks and sets its terminal state. */
  private retire(req: Request, reason: 'stop' | 'length' | 'abort' | 'error', message: string | null = null): void {
    if (!this.running.remove(req)) this.waiting.remove(req);
    this.kv.free(req.id);
    this.byId.delete(req.id);
    req.finish(reason, message);
  }
}
