/**
 * The naive all-to-all MoE reference, computed in one place for every EP test (STYLE.md §11):
 * seeded inputs per rank, a toy expert function, and out[t] = sum_k w_k * f(x_t, e_k) in float64.
 */
import { mulberry32 } from '../../core/testing/random.js';

export interface EpCase {
  readonly seed: number;
  readonly hidden: number;
  readonly topk: number;
  readonly numExperts: number;
  /** Tokens held by each source rank (attention ranks for a2e). */
  readonly tokensPerRank: readonly number[];
}

export interface EpInputs {
  readonly x: Float32Array; // [tokens, hidden] f32
  readonly topkIdx: Int32Array; // [tokens, topk] i32, -1 = dropped slot
  readonly topkWeights: Float32Array; // [tokens, topk] f32
}

/** Deterministic inputs of source rank `r`. */
export function makeEpInputs(c: EpCase, r: number): EpInputs {
  const rand = mulberry32(c.seed * 1000 + r + 1);
  const n = c.tokensPerRank[r] ?? 0;
  const x = new Float32Array(n * c.hidden).map(() => rand() * 4 - 2);
  const topkIdx = new Int32Array(n * c.topk);
  const topkWeights = new Float32Array(n * c.topk);
  for (let t = 0; t < n; t++) {
    const picked = new Set<number>();
    for (let k = 0; k < c.topk; k++) {
      let e = Math.floor(rand() * c.numExperts);
      while (picked.has(e)) e = (e + 1) % c.numExperts;
      picked.add(e);
      topkIdx[t * c.topk + k] = rand() < 0.05 ? -1 : e;
      topkWeights[t * c.topk + k] = rand();
    }
  }
  return { x, topkIdx, topkWeights };
}

/** The toy expert: y = a_e * x + b_e. */
export function expertScale(e: number): number {
  return 1 + 0.25 * (e % 7);
}

export function expertBias(e: number): number {
  return 0.01 * e;
}

/** Applies expert e to rows [numRows, hidden] in place. */
export function applyExpert(rows: Float32Array, e: number): void {
  const a = expertScale(e);
  const b = expertBias(e);
  for (let i = 0; i < rows.length; i++) rows[i] = a * rows[i]! + b;
}

/** Naive reference output of rank `r`: out [tokens, hidden] in float64. */
export function naiveMoe(c: EpCase, r: number): Float64Array {
  const { x, topkIdx, topkWeights } = makeEpInputs(c, r);
  const n = c.tokensPerRank[r] ?? 0;
  const out = new Float64Array(n * c.hidden);
  for (let t = 0; t < n; t++) {
    for (let k = 0; k < c.topk; k++) {
      const e = topkIdx[t * c.topk + k]!;
      if (e < 0) continue;
      const w = topkWeights[t * c.topk + k]!;
      for (let h = 0; h < c.hidden; h++) out[t * c.hidden + h]! += w * (expertScale(e) * x[t * c.hidden + h]! + expertBias(e));
    }
  }
  return out;
}

/** Entries each expert receives in total (naive count over all sources). */
export function naiveExpertCounts(c: EpCase): number[] {
  const counts = new Array<number>(c.numExperts).fill(0);
  c.tokensPerRank.forEach((_, r) => {
    for (const e of makeEpInputs(c, r).topkIdx) if (e >= 0) counts[e]!++;
  });
  return counts;
}

/** Per-token bound of the INT8 wire error of rank r's outputs: sum_k |w_k| a_e * max|x_t| / 254. */
export function int8ErrorBound(c: EpCase, r: number): Float64Array {
  const { x, topkIdx, topkWeights } = makeEpInputs(c, r);
  const n = c.tokensPerRank[r] ?? 0;
  const bound = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    let amax = 0;
    for (let h = 0; h < c.hidden; h++) amax = Math.max(amax, Math.abs(x[t * c.hidden + h]!));
    for (let k = 0; k < c.topk; k++) {
      const e = topkIdx[t * c.topk + k]!;
      if (e >= 0) bound[t]! += Math.abs(topkWeights[t * c.topk + k]!) * expertScale(e) * (amax / 254) * 1.0001;
    }
  }
  return bound;
}
