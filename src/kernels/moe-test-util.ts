/**
 * Builders for the moeExperts tests (moe-experts.test.ts, native-moe.test.ts): random experts in
 * f32 / bf16 / int8, and random top-k routings grouped by expert (the layout of units/moe/moe.ts
 * groupByExpert, rebuilt here so the kernels tests do not depend on the units).
 */
import type { ExpertWeights, LinearWeight, MoeExpertsArgs } from './backend.js';
import { f32ToBf16 } from '../core/dtype.js';
import { quantizeLinearInt8 } from './quantize.js';
import { rng, sharedF32 } from './native-test-util.js';

export type ExpertFormat = 'f32' | 'bf16' | 'int8';

function linear(outDim: number, inDim: number, rand: () => number, format: ExpertFormat): LinearWeight {
  const f32: LinearWeight = { format: 'f32', outDim, inDim, data: sharedF32(outDim * inDim, rand, 1 / Math.sqrt(inDim)) };
  if (format === 'int8') return quantizeLinearInt8(f32, 'channel');
  if (format === 'f32') return f32;
  const data = new Uint16Array(new SharedArrayBuffer(outDim * inDim * 2));
  for (let i = 0; i < data.length; i++) data[i] = f32ToBf16(f32.data[i]!);
  return { format: 'bf16', outDim, inDim, data };
}

/** E experts with gate/up [I, D] and down [D, I]. */
export function randomExperts(E: number, D: number, I: number, format: ExpertFormat, seed: number): ExpertWeights[] {
  const rand = rng(seed);
  return Array.from({ length: E }, () => ({ gate: linear(I, D, rand, format), up: linear(I, D, rand, format), down: linear(D, I, rand, format) }));
}

/**
 * Each of numTokens tokens picks k distinct experts among those not in `idle`, with weights in
 * (0, 1]; returns the by-expert layout (entries of one expert in token order).
 */
export function randomGroups(numTokens: number, E: number, k: number, idle: ReadonlySet<number>, seed: number): Pick<MoeExpertsArgs, 'offsets' | 'rows' | 'weights'> {
  const rand = rng(seed);
  const allowed = Array.from({ length: E }, (_, e) => e).filter((e) => !idle.has(e));
  const picks: { e: number; t: number; w: number }[] = [];
  for (let t = 0; t < numTokens; t++) {
    const pool = allowed.slice();
    for (let j = 0; j < k && pool.length > 0; j++) {
      const [e] = pool.splice(Math.floor(((rand() + 1) / 2) * pool.length), 1);
      picks.push({ e: e!, t, w: (rand() + 1.001) / 2 });
    }
  }
  picks.sort((a, b) => a.e - b.e || a.t - b.t);
  const offsets = new Int32Array(E + 1);
  for (const p of picks) offsets[p.e + 1]!++;
  for (let e = 0; e < E; e++) offsets[e + 1]! += offsets[e]!;
  return { offsets, rows: Int32Array.from(picks, (p) => p.t), weights: Float32Array.from(picks, (p) => p.w) };
}

/** Root mean square of a. */
export function rms(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s / Math.max(1, a.length));
}
