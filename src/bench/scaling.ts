/**
 * Serving scaling: output tokens/s at a high concurrency as a multiple of a low one (issue 4's
 * figure: c32 / c1 on the `small` preset, target >= 6x), measured as paired runs of the serving
 * benchmark (serve-client.ts) against one server. On a shared host single runs move by +-8 %, so
 * each pair runs both concurrencies back to back, their order alternating from pair to pair (a
 * drift of the host favours neither), and the figure is the median of the per-pair ratios. One
 * run of each side comes first and is discarded: on a fresh server the first run pays the JIT
 * and first-touch page faults, which (the first pair starting low) slowed c1 and raised pair 1's
 * ratio (stop 16: c1 107–129 tok/s in the first pairs against ~150 after).
 */
import { median } from '../core/stats.js';
import { runServeBench, type ServeBenchOptions, type ServeBenchResult } from './serve-client.js';

/** One side of the pairs: a concurrency and how many requests a run sends. */
export interface ScalingSide {
  readonly concurrency: number;
  readonly numPrompts: number;
}

export interface ScalingOptions extends Pick<ServeBenchOptions, 'url' | 'model' | 'inputLen' | 'outputLen' | 'seed'> {
  readonly low: ScalingSide;
  readonly high: ScalingSide;
  readonly pairs: number;
  /** Discarded runs of each side before the pairs (default 1). */
  readonly warmUpRuns?: number;
  /** Called after each run (pair index from 0, -1 for a warm-up run, which side, its result). */
  readonly onRun?: (pair: number, side: 'low' | 'high', r: ServeBenchResult) => void;
}

/** The figures of one run that the pairs keep. */
export interface ScalingRun {
  readonly outputTokPerSec: number;
  readonly ttftMsP50: number;
  readonly tpotMsP50: number;
  readonly failed: number;
}

export interface ScalingPair {
  readonly low: ScalingRun;
  readonly high: ScalingRun;
  /** high.outputTokPerSec / low.outputTokPerSec. */
  readonly ratio: number;
  /** Which side ran first in this pair. */
  readonly first: 'low' | 'high';
}

export interface ScalingSummary { readonly median: number; readonly min: number; readonly max: number }

export interface ScalingResult {
  readonly low: ScalingSide;
  readonly high: ScalingSide;
  readonly pairs: readonly ScalingPair[];
  readonly ratio: ScalingSummary;
  readonly lowOutputTokPerSec: ScalingSummary;
  readonly highOutputTokPerSec: ScalingSummary;
  /** Failed requests over all runs. */
  readonly failed: number;
  readonly firstError: string | null;
}

export function summarize(xs: readonly number[]): ScalingSummary {
  return { median: median(xs), min: xs.length === 0 ? NaN : Math.min(...xs), max: xs.length === 0 ? NaN : Math.max(...xs) };
}

function keep(r: ServeBenchResult): ScalingRun {
  return { outputTokPerSec: r.outputTokPerSec, ttftMsP50: r.ttftMs.p50, tpotMsP50: r.tpotMs.p50, failed: r.failed };
}

export async function runScalingBench(o: ScalingOptions): Promise<ScalingResult> {
  const pairs: ScalingPair[] = [];
  let firstError: string | null = null;
  const run = async (pair: number, side: 'low' | 'high'): Promise<ScalingRun> => {
    const s = o[side];
    const r = await runServeBench({
      url: o.url, ...(o.model === undefined ? {} : { model: o.model }), concurrency: s.concurrency, numPrompts: s.numPrompts,
      inputLen: o.inputLen, outputLen: o.outputLen, ...(o.seed === undefined ? {} : { seed: o.seed }),
    });
    firstError ??= r.firstError;
    o.onRun?.(pair, side, r);
    return keep(r);
  };
  for (let w = 0; w < (o.warmUpRuns ?? 1); w++) {
    await run(-1, 'low');
    await run(-1, 'high');
  }
  for (let i = 0; i < o.pairs; i++) {
    const first = i % 2 === 0 ? 'low' : 'high';
    const a = await run(i, first);
    const b = await run(i, first === 'low' ? 'high' : 'low');
    const [low, high] = first === 'low' ? [a, b] : [b, a];
    pairs.push({ low, high, ratio: high.outputTokPerSec / low.outputTokPerSec, first });
  }
  return {
    low: o.low, high: o.high, pairs,
    ratio: summarize(pairs.map((p) => p.ratio)),
    lowOutputTokPerSec: summarize(pairs.map((p) => p.low.outputTokPerSec)),
    highOutputTokPerSec: summarize(pairs.map((p) => p.high.outputTokPerSec)),
    failed: pairs.reduce((n, p) => n + p.low.failed + p.high.failed, 0),
    firstError,
  };
}
