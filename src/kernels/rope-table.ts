/**
 * RoPE frequency tables (MODELS.md §1.3, §2.1 llama3/linear, §5 YaRN). Built once per model from
 * the RopeSpec; the backend's `rope` turns (position, invFreq, attentionFactor) into cos/sin.
 * inv_freq is computed in f64 and rounded to f32 once (HF computes it in f32; the difference is
 * one f32 rounding).
 */

import type { RopeSpec } from '../config/model-spec.js';
import { yarnMscale } from '../config/model-config.js';
import type { RopeTable } from './backend.js';

export { mlaSoftmaxScale, yarnMscale } from '../config/model-config.js';

/** inv_freq[i] = θ^(−2i/dr), i < dr/2, in f64. */
function baseInvFreq(theta: number, dim: number): Float64Array {
  const out = new Float64Array(dim / 2);
  for (let i = 0; i < out.length; i++) out[i] = Math.pow(theta, (-2 * i) / dim);
  return out;
}

/** llama3 scaling (MODELS.md §2.1): keep high frequencies, divide low ones by f, blend between. */
function llama3(inv: Float64Array, f: number, lf: number, hf: number, l0: number): void {
  for (let i = 0; i < inv.length; i++) {
    const freq = inv[i]!;
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < l0 / hf) continue;
    if (wavelen > l0 / lf) { inv[i] = freq / f; continue; }
    const s = (l0 / wavelen - lf) / (hf - lf);
    inv[i] = (1 - s) * (freq / f) + s * freq;
  }
}

/** YaRN correction range [low, high] in full-dimension units (MODELS.md §5 step 1). */
export function yarnCorrectionRange(dim: number, theta: number, l0: number, betaFast: number, betaSlow: number): [number, number] {
  const corr = (r: number): number => (dim * Math.log(l0 / (2 * Math.PI * r))) / (2 * Math.log(theta));
  const low = Math.max(Math.floor(corr(betaFast)), 0);
  let high = Math.min(Math.ceil(corr(betaSlow)), dim - 1);
  if (low === high) high += 0.001;
  return [low, high];
}

/** YaRN blend of extrapolated and interpolated frequencies over the pair index (MODELS.md §5 step 2). */
function yarn(inv: Float64Array, rope: RopeSpec, f: number, l0: number, bf: number, bs: number): void {
  const [low, high] = yarnCorrectionRange(rope.dim, rope.theta, l0, bf, bs);
  for (let i = 0; i < inv.length; i++) {
    const ramp = Math.min(Math.max((i - low) / (high - low), 0), 1);
    inv[i] = inv[i]! * (1 - ramp) + (inv[i]! / f) * ramp;
  }
}

/** The YaRN cos/sin multiplier (MODELS.md §5 step 3). */
function yarnAttentionFactor(f: number, mscale: number | null, mscaleAllDim: number | null, given: number | null): number {
  if (given !== null) return given;
  if (mscale !== null && mscaleAllDim !== null) return yarnMscale(f, mscale) / yarnMscale(f, mscaleAllDim);
  return yarnMscale(f, 1);
}

/** Build the static RoPE table of a model (identical for every position and prompt length). */
export function buildRopeTable(rope: RopeSpec): RopeTable {
  if (rope.dim <= 0 || rope.dim % 2 !== 0) throw new RangeError(`rotary dim must be even and positive, got ${rope.dim}`);
  const inv = baseInvFreq(rope.theta, rope.dim);
  let attentionFactor = 1;
  const s = rope.scaling;
  switch (s.kind) {
    case 'none': break;
    case 'linear': for (let i = 0; i < inv.length; i++) inv[i] = inv[i]! / s.factor; break;
    case 'llama3': llama3(inv, s.factor, s.lowFreqFactor, s.highFreqFactor, s.originalMaxPositions); break;
    case 'yarn':
      yarn(inv, rope, s.factor, s.originalMaxPositions, s.betaFast, s.betaSlow);
      attentionFactor = yarnAttentionFactor(s.factor, s.mscale, s.mscaleAllDim, s.attentionFactor);
      break;
  }
  return { invFreq: Float32Array.from(inv), attentionFactor, layout: rope.layout, dim: rope.dim };
}
