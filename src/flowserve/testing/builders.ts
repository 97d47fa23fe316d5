/**
 * Builders for scheduler, RTC and engine tests that need no model (STYLE.md §11): requests with
 * defaults, a scheduler over a small KvManager, a greedy stepping loop that checks the step
 * invariants (budget, sequence cap, block accounting) after every step, and the "accounting back
 * to zero" check every scenario ends with.
 */
import assert from 'node:assert/strict';
import { KvManager } from '../../kvcache/kv-manager.js';
import { Request, type RequestInit } from '../request.js';
import { Scheduler } from '../scheduler/scheduler.js';
import type { SchedulerConfig } from '../scheduler/config.js';
import type { SchedulerOutput } from '../scheduler/output.js';
import { toSequenceSlice } from '../scheduler/output.js';
import { argmax } from '../../sampling/sampler.js';
import type { ModelRunner } from '../runner/types.js';

let arrivalSeq = 0;

export interface RequestSpec extends Partial<Omit<RequestInit, 'promptTokenIds'>> {
  /** Prompt ids, or a length (ids 1..n offset by `promptBase`). Default 8 tokens. */
  readonly prompt?: readonly number[] | number;
  readonly promptBase?: number;
  readonly arrivalUs?: number;
}

/** A request with test defaults: 8-token prompt, maxTokens 4, greedy, arrival in creation order. */
export function makeRequest(id: string, spec: RequestSpec = {}): Request {
  const p = spec.prompt ?? 8;
  const base = spec.promptBase ?? 1;
  const promptTokenIds = typeof p === 'number' ? Array.from({ length: p }, (_, i) => base + i) : p;
  const init: RequestInit = { maxTokens: 4, sampling: { temperature: 0 }, ...spec, id, promptTokenIds };
  const seq = arrivalSeq++;
  return new Request(init, spec.arrivalUs ?? seq, seq);
}

export interface SchedulerSetup extends Partial<SchedulerConfig> {
  readonly numBlocks?: number;
  readonly blockSizeTokens?: number;
  readonly enablePrefixCache?: boolean;
}

/** Defaults: 16 blocks of 4 tokens, budget 16, 8 seats, 32 waiting, FCFS. */
export function makeScheduler(s: SchedulerSetup = {}): { scheduler: Scheduler; kv: KvManager } {
  const kv = new KvManager({ numBlocks: s.numBlocks ?? 16, blockSizeTokens: s.blockSizeTokens ?? 4, enablePrefixCache: s.enablePrefixCache ?? true });
  const scheduler = new Scheduler({ maxNumBatchedTokens: 16, maxNumSeqs: 8, maxWaiting: 32, ...s }, kv);
  return { scheduler, kv };
}

/** Asserts the RTC holds nothing: every block free with refcount 0, no sequence left. */
export function assertKvIdle(kv: KvManager): void {
  kv.checkInvariants();
  assert.equal(kv.numSeqs, 0, 'sequences still hold KV blocks');
  assert.equal(kv.numFreeBlocks, kv.numBlocks, 'blocks still referenced');
}

/** Asserts the per-step invariants of one schedule output. */
export function assertStepInvariants(scheduler: Scheduler, out: SchedulerOutput): void {
  const c = scheduler.config;
  const sum = out.seqs.reduce((n, s) => n + s.tokenIds.length, 0);
  assert.equal(sum, out.numBatchedTokens);
  assert.ok(sum <= c.maxNumBatchedTokens, `step ${out.stepId}: ${sum} tokens > budget ${c.maxNumBatchedTokens}`);
  assert.ok(out.seqs.length <= c.maxNumSeqs, `step ${out.stepId}: ${out.seqs.length} seqs > cap`);
  assert.ok(scheduler.numRunning <= c.maxNumSeqs);
  assert.equal(new Set(out.seqs.map((s) => s.request.id)).size, out.seqs.length, 'a request scheduled twice in one step');
  for (const s of out.seqs) {
    const bs = scheduler.kv.blockSizeTokens;
    assert.ok(s.blockTable.length * bs >= s.startPos + s.tokenIds.length, `${s.request.id}: block table too short`);
  }
  scheduler.kv.checkInvariants();
}

/** One greedy step: schedule → runner.forward → argmax of each sampling row → commit. */
export function greedyStep(scheduler: Scheduler, runner: ModelRunner): SchedulerOutput {
  const out = scheduler.schedule();
  assertStepInvariants(scheduler, out);
  if (out.seqs.length === 0) { scheduler.commit(out, []); return out; }
  const res = runner.forward({ kind: 'forward', seqs: out.seqs.map(toSequenceSlice) });
  const sampled = out.seqs.map((s, i) => {
    if (!s.samples) return null;
    const row = res.rows[i]!;
    const r = row.first + row.count - 1;
    return argmax(res.logits.subarray(r * runner.vocabSize, (r + 1) * runner.vocabSize));
  });
  scheduler.commit(out, sampled);
  return out;
}

/** Steps until no work is left (at most maxSteps); returns every step's output. */
export function runUntilIdle(scheduler: Scheduler, runner: ModelRunner, maxSteps = 1000): SchedulerOutput[] {
  const outs: SchedulerOutput[] = [];
  while (scheduler.hasWork) {
    assert.ok(outs.length < maxSteps, `no progress after ${maxSteps} steps (deadlock?)`);
    outs.push(greedyStep(scheduler, runner));
  }
  return outs;
}

/** The tokens a request generates alone under greedy decoding of a FakeRunner-like function. */
export function expectedGreedy(next: (context: ArrayLike<number>) => number, prompt: readonly number[], maxTokens: number, stop: readonly number[] = []): number[] {
  const ctx = [...prompt];
  const out: number[] = [];
  while (out.length < maxTokens) {
    const t = next(ctx);
    out.push(t);
    ctx.push(t);
    if (stop.includes(t)) break;
  }
  return out;
}
