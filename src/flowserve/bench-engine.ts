/**
 * Engine benchmark (a figure, not a test; issue 4 "Engine"): scheduler time per step as a
 * fraction of step time with N requests running (target ≤ 5% at 64). Scheduler time is
 * schedule + commit (the RTC bookkeeping included); step time is schedule + forward + sample +
 * commit, all from the engine's own step timings (injected clock, µs). Only steady decode steps
 * (all N running, one token each) are counted, after the prompts are prefilled.
 *
 * Run it as `xdeepserve bench engine` (cli/commands/bench/engine.ts: the fake paged-KV runner, or a
 * real checkpoint with --model DIR), or call `benchEngine({ runner })` with any ModelRunner.
 */
import { DpEngine } from './engine.js';
import { greedySampleFn } from './sample-fn.js';
import type { ModelRunner } from './runner/types.js';

export interface EngineBenchOptions {
  readonly runner: ModelRunner;
  /** Concurrent requests (default 64). */
  readonly numRequests?: number;
  /** Prompt tokens per request (default 32); prompts differ so there are no prefix hits. */
  readonly promptTokens?: number;
  /** Decode steps to measure at full concurrency (default 50). */
  readonly numSteps?: number;
  /** Default: max(numRequests, 512). */
  readonly maxNumBatchedTokens?: number;
}

export interface EngineBenchResult {
  readonly numRequests: number;
  readonly numMeasuredSteps: number;
  /** Median per measured step, µs. */
  readonly schedulerUs: number;
  readonly forwardUs: number;
  readonly sampleUs: number;
  readonly stepUs: number;
  /** schedulerUs / stepUs (stepUs = sum of the medians). */
  readonly schedulerFraction: number;
  readonly kvUsage: number;
}

export function benchEngine(o: EngineBenchOptions): EngineBenchResult {
  const n = o.numRequests ?? 64;
  const promptTokens = o.promptTokens ?? 32;
  const numSteps = o.numSteps ?? 50;
  const budget = o.maxNumBatchedTokens ?? Math.max(n, 512);
  const engine = new DpEngine({ runner: o.runner, sample: greedySampleFn, scheduler: { maxNumBatchedTokens: budget, maxNumSeqs: n, maxWaiting: n } });
  const maxTokens = benchMaxTokens(n, promptTokens, numSteps, budget);
  const vocab = o.runner.vocabSize;
  for (let i = 0; i < n; i++) {
    const prompt = Array.from({ length: promptTokens }, (_, j) => (i * 131 + j * 7 + 1) % vocab);
    engine.addRequest({ id: `b${i}`, promptTokenIds: prompt, maxTokens }, () => {});
  }
  const sched: number[] = []; // [steps] µs per measured step
  const fwd: number[] = [];
  const sample: number[] = [];
  let kvUsage = 0;
  while (engine.hasWork && sched.length < numSteps) {
    const t = engine.step();
    if (t === null || t.numSeqs !== n || t.numBatchedTokens !== n) continue;
    sched.push(t.scheduleUs + t.commitUs);
    fwd.push(t.forwardUs);
    sample.push(t.sampleUs);
    kvUsage = engine.kv.usage;
  }
  for (let i = 0; i < n; i++) engine.abort(`b${i}`);
  const [s, f, m] = [median(sched), median(fwd), median(sample)];
  const stepUs = s + f + m;
  return {
    numRequests: n, numMeasuredSteps: sched.length, schedulerUs: s, forwardUs: f, sampleUs: m, stepUs,
    schedulerFraction: stepUs > 0 ? s / stepUs : 0, kvUsage,
  };
}

/** NOTE: medians, not means: on a shared machine a step now and then includes time descheduled. */
function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Enough generated tokens that the first request is still running when the last one is prefilled. */
export function benchMaxTokens(numRequests: number, promptTokens: number, numSteps: number, budget: number): number {
  return numSteps + Math.ceil((numRequests * promptTokens) / budget) + numRequests + 2;
}

/** KV blocks that hold every request's whole sequence, so no step preempts (default token budget). */
export function benchNumKvBlocks(numRequests: number, promptTokens: number, numSteps: number, blockSizeTokens: number): number {
  const maxTokens = benchMaxTokens(numRequests, promptTokens, numSteps, Math.max(numRequests, 512));
  return Math.ceil((promptTokens + maxTokens) / blockSizeTokens) * numRequests + 8;
}

export function formatBench(r: EngineBenchResult, label: string): string {
  const f = (x: number): string => x.toFixed(1);
  return `${label}: ${r.numRequests} running, ${r.numMeasuredSteps} decode steps: scheduler ${f(r.schedulerUs)} µs/step, ` +
    `forward ${f(r.forwardUs)} µs, sample ${f(r.sampleUs)} µs, step ${f(r.stepUs)} µs → scheduler ${(100 * r.schedulerFraction).toFixed(2)}% of step ` +
    `(KV usage ${(100 * r.kvUsage).toFixed(0)}%)`;
}
