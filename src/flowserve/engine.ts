/**
 * DpEngine: one DP group's engine (paper notes §2.5.1 "scalable DP group": scheduler, RTC and the
 * model runner replicated per DP, no traffic between DP groups). A step reads as
 * schedule → execute → sample → commit, and all scheduled requests (prefill chunks and decode
 * tokens mixed) run as ONE runner.forward. Events go straight to each request's sink (the output
 * shortcut); detokenization and stop strings belong to the output process, which can end a request
 * through `RequestInit.shouldStop` or `abort`.
 *
 * Usage:
 *   const engine = new DpEngine({ runner, scheduler: { maxNumBatchedTokens: 512, maxNumSeqs: 64, maxWaiting: 256 } });
 *   engine.start();                                   // background loop, parks when idle
 *   engine.addRequest({ id, promptTokenIds, maxTokens }, (ev) => ...);  // 'token' | 'error' | 'finished'
 *   engine.abort(id);                                 // client gone: blocks freed at once
 *   await engine.drain();                             // graceful shutdown
 */
import { realClock, type Clock } from '../core/clock.js';
import { assert } from '../core/assert.js';
import { XdsError, isXdsError, type ErrorCode } from '../core/errors.js';
import { KvManager } from '../kvcache/kv-manager.js';
import { Request, type RequestInit } from './request.js';
import { Scheduler } from './scheduler/scheduler.js';
import { toSequenceSlice, type SchedulerOutput } from './scheduler/output.js';
import type { ForwardResult, ModelRunner } from './runner/types.js';
import type { DpEngineOptions, EngineEvent, EngineStats, EventSink, SampleFn, SampledToken, StepTiming } from './engine-types.js';
import { requestSamplerFn } from './sample-fn.js';
import { ServeLoop, runUntilIdle } from './engine-loop.js';
import { RequestSinks } from './request-sinks.js';

export class DpEngine {
  readonly kv: KvManager;
  readonly scheduler: Scheduler;
  private readonly runner: ModelRunner;
  private readonly sample: SampleFn;
  private readonly clock: Clock;
  private readonly sinks = new RequestSinks((id) => { this.abort(id); });
  private readonly loop: ServeLoop;
  private arrivalSeq = 0;
  /** Arrival events: requests added plus arrivals announced by the front end (`noteArrival`). */
  private numArrivalEvents = 0;
  private isStepping = false;
  private isDraining = false;
  private numSteps = 0;
  private numPreemptions = 0;
  private totals = { scheduleUs: 0, forwardUs: 0, sampleUs: 0, commitUs: 0 };
  private lastStep: StepTiming | null = null;

  constructor(o: DpEngineOptions) {
    this.runner = o.runner;
    this.clock = o.clock ?? realClock;
    this.sample = o.sample ?? requestSamplerFn();
    const numBlocks = o.numBlocks ?? o.runner.numBlocks;
    if (numBlocks > o.runner.numBlocks) {
      throw new XdsError('invalid_config', `numBlocks ${numBlocks} exceeds the runner's ${o.runner.numBlocks}`, { param: 'numBlocks' });
    }
    this.kv = new KvManager({ numBlocks, blockSizeTokens: o.runner.blockSizeTokens, enablePrefixCache: o.enablePrefixCache });
    this.scheduler = new Scheduler(o.scheduler, this.kv);
    this.loop = new ServeLoop(this, (e) => this.failEverything(e), { clock: this.clock, ...(o.admit === undefined ? {} : { admit: o.admit }) });
  }

  get hasWork(): boolean {
    return this.scheduler.hasWork;
  }

  /** Grows with every arrival event; the serving loop's admission window watches it (engine-loop.ts). */
  get arrivals(): number {
    return this.numArrivalEvents;
  }

  /**
   * The front end saw something that will become a request soon (e.g. a new connection): the
   * serving loop lets it in before the next step instead of running that step first.
   */
  noteArrival(): void {
    this.numArrivalEvents++;
  }

  get numRunning(): number {
    return this.scheduler.numRunning;
  }

  get numWaiting(): number {
    return this.scheduler.numWaiting;
  }

  /**
   * Queues a request whose events go to `sink`; `signal` (e.g. the HTTP request's) aborts it.
   * Throws (no event sent) XdsError 'overloaded' when the waiting queue is full, 'shutting_down'
   * while draining, 'request_aborted' when `signal` is already aborted, 'invalid_argument' /
   * 'context_length_exceeded' for a bad request.
   */
  addRequest(init: RequestInit, sink: EventSink, opts: { readonly signal?: AbortSignal } = {}): Request {
    if (this.isDraining) throw new XdsError('shutting_down', 'the engine is draining; no new requests');
    if (opts.signal?.aborted === true) throw new XdsError('request_aborted', `request ${init.id} was aborted before it started`);
    const req = new Request(init, this.clock.nowUs(), this.arrivalSeq++);
    this.scheduler.addRequest(req);
    this.sinks.add(req.id, sink, opts.signal);
    this.numArrivalEvents++;
    this.loop.notify();
    return req;
  }

  /** The live request with this id (waiting, preempted or running), if any. */
  getRequest(requestId: string): Request | undefined {
    return this.scheduler.getRequest(requestId);
  }

  /** Ends a request now (client gone): KV blocks freed at once, 'finished' with reason 'abort'. */
  abort(requestId: string): boolean {
    const req = this.scheduler.abort(requestId);
    if (req === undefined) return false;
    this.emitFinished(req);
    return true;
  }

  /** One step: schedule → execute (one forward) → sample → commit. Null when nothing ran. */
  step(): StepTiming | null {
    assert(!this.isStepping, 'DpEngine.step is not re-entrant');
    this.isStepping = true;
    try {
      return this.stepOnce();
    } finally {
      this.isStepping = false;
    }
  }

  /** Aborts every live request (hard shutdown); returns how many. */
  abortAll(): number {
    let n = 0;
    for (const id of this.sinks.ids()) if (this.abort(id)) n++;
    return n;
  }

  /** Steps until no work is left, yielding to the event loop between steps. */
  run(): Promise<void> {
    return runUntilIdle(this);
  }

  /**
   * Load-time preparation of the runner for the step shapes the scheduler allows (ModelRunner.warmUp:
   * pre-faulted KV pages, dummy forwards). Call before serving; a no-op once a request was added.
   */
  warmUp(): void {
    if (this.arrivalSeq > 0 || this.runner.warmUp === undefined) return;
    const c = this.scheduler.config;
    this.runner.warmUp({ maxRows: c.maxNumBatchedTokens, maxSeqs: c.maxNumSeqs });
  }

  /** Starts the background serving loop (idempotent); it parks when idle. */
  start(): void {
    this.isDraining = false;
    this.loop.start();
  }

  /** Graceful shutdown: refuses new requests, finishes the ones in hand, ends the loop. */
  async drain(): Promise<void> {
    this.isDraining = true;
    if (this.loop.isRunning) await this.loop.drain();
    else await this.run();
  }

  stats(): EngineStats {
    return {
      numRunning: this.scheduler.numRunning,
      numWaiting: this.scheduler.numWaiting,
      kv: this.kv.stats(),
      numSteps: this.numSteps,
      numPreemptions: this.numPreemptions,
      totalScheduleUs: this.totals.scheduleUs,
      totalForwardUs: this.totals.forwardUs,
      totalSampleUs: this.totals.sampleUs,
      totalCommitUs: this.totals.commitUs,
      lastStep: this.lastStep,
    };
  }

  private stepOnce(): StepTiming | null {
    const t0 = this.clock.nowUs();
    const out = this.scheduler.schedule();
    this.numPreemptions += out.preemptedIds.length;
    for (const req of out.failed) this.emitError(req, 'context_length_exceeded', req.errorMessage ?? 'request failed');
    if (out.seqs.length === 0) { this.scheduler.commit(out, []); return null; }
    const t1 = this.clock.nowUs();
    const result = this.execute(out);
    if (result === null) return null;
    const t2 = this.clock.nowUs();
    this.recordPromptLogprobs(out, result);
    const sampled = this.sampleAll(out, result);
    const t3 = this.clock.nowUs();
    this.commit(out, sampled);
    const t4 = this.clock.nowUs();
    return this.recordTiming(out, [t0, t1, t2, t3, t4]);
  }

  /** One forward over every scheduled slice; on failure every scheduled request ends with 'error'. */
  private execute(out: SchedulerOutput): ForwardResult | null {
    try {
      return this.runner.forward({ kind: 'forward', seqs: out.seqs.map(toSequenceSlice), mayReuseOutputs: true }); // sampled at once
    } catch (e) {
      const message = `forward failed: ${(e as Error)?.message ?? String(e)}`;
      const reqs = this.scheduler.failAll(out.seqs.map((s) => s.request.id), 'error', message);
      this.scheduler.cancelPendingStep();
      for (const req of reqs) this.emitError(req, isXdsError(e) ? e.code : 'internal', message);
      return null;
    }
  }

  /** Prompt logprobs from the slices that returned all their logits rows (toSequenceSlice asked for them). */
  private recordPromptLogprobs(out: SchedulerOutput, result: ForwardResult): void {
    out.seqs.forEach((seq, i) => {
      const lp = seq.request.promptLogprobs;
      const row = result.rows[i];
      if (lp === null || row === undefined || row.count !== seq.tokenIds.length || !lp.wantsSlice(seq.startPos, row.count)) return;
      lp.record(result.logits, this.runner.vocabSize, row.first, seq.startPos, row.count);
    });
  }

  /** [seqs.length] a sampled token for each slice that samples, else null. */
  private sampleAll(out: SchedulerOutput, result: ForwardResult): (SampledToken | null)[] {
    const vocab = this.runner.vocabSize;
    return out.seqs.map((seq, i) => {
      if (!seq.samples) return null;
      const row = result.rows[i];
      assert(row !== undefined && row.count > 0, () => `runner returned no logits row for ${seq.request.id}`);
      const r = row.first + row.count - 1;
      try {
        return this.sample(result.logits.subarray(r * vocab, (r + 1) * vocab), seq.request);
      } catch (e) {
        this.failRequest(seq.request.id, `sampling failed: ${(e as Error)?.message ?? String(e)}`, e);
        return null;
      }
    });
  }

  private commit(out: SchedulerOutput, sampled: readonly (SampledToken | null)[]): void {
    const outcome = this.scheduler.commit(out, sampled.map((s) => s?.tokenId ?? null));
    for (const a of outcome.appended) {
      const s = sampled[a.seqIndex]!;
      const index = a.request.numOutputTokens - 1;
      const prompt = index === 0 ? a.request.promptLogprobs : null;
      const ev: EngineEvent = s.logprob === undefined && s.topLogprobs === undefined && prompt === null
        ? { kind: 'token', requestId: a.request.id, tokenId: a.tokenId, index }
        : { kind: 'token', requestId: a.request.id, tokenId: a.tokenId, index, ...logprobFields(s), ...(prompt === null ? {} : { promptLogprobs: prompt.all }) };
      this.emit(a.request.id, ev);
    }
    for (const req of outcome.finished) this.emitFinished(req);
  }

  private recordTiming(out: SchedulerOutput, t: readonly number[]): StepTiming {
    const [t0, t1, t2, t3, t4] = t as [number, number, number, number, number];
    const timing: StepTiming = {
      scheduleUs: t1 - t0, forwardUs: t2 - t1, sampleUs: t3 - t2, commitUs: t4 - t3,
      numSeqs: out.seqs.length, numBatchedTokens: out.numBatchedTokens,
    };
    this.numSteps++;
    this.totals.scheduleUs += timing.scheduleUs;
    this.totals.forwardUs += timing.forwardUs;
    this.totals.sampleUs += timing.sampleUs;
    this.totals.commitUs += timing.commitUs;
    this.lastStep = timing;
    return timing;
  }

  private emitError(req: Request, code: ErrorCode, message: string): void {
    this.emit(req.id, { kind: 'error', requestId: req.id, code, message });
    this.emitFinished(req);
  }

  private emitFinished(req: Request): void {
    const usage = { promptTokens: req.numPromptTokens, completionTokens: req.numOutputTokens, cachedTokens: req.numCachedTokens };
    this.emit(req.id, { kind: 'finished', requestId: req.id, reason: req.finishReason ?? 'abort', usage });
    this.sinks.forget(req.id);
  }

  /** Delivers an event; a sink that throws gets its request aborted (its blocks freed). */
  private emit(requestId: string, event: EngineEvent): void {
    if (this.sinks.deliver(requestId, event)) return;
    if (event.kind !== 'finished') this.abort(requestId);
    this.sinks.forget(requestId);
  }

  private failRequest(requestId: string, message: string, cause: unknown): void {
    for (const req of this.scheduler.failAll([requestId], 'error', message)) {
      this.emitError(req, isXdsError(cause) ? cause.code : 'internal', message);
    }
  }

  /** A broken invariant escaped a step: end every request with 'error' so the loop cannot spin. */
  private failEverything(e: unknown): void {
    const message = `engine step failed: ${(e as Error)?.message ?? String(e)}`;
    this.scheduler.cancelPendingStep();
    for (const id of this.sinks.ids()) this.failRequest(id, message, e);
  }
}

function logprobFields(s: SampledToken): { logprob?: number; topLogprobs?: SampledToken['topLogprobs'] } {
  const out: { logprob?: number; topLogprobs?: SampledToken['topLogprobs'] } = {};
  if (s.logprob !== undefined) out.logprob = s.logprob;
  if (s.topLogprobs !== undefined && s.topLogprobs.length > 0) out.topLogprobs = s.topLogprobs;
  return out;
}
