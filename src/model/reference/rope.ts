/**
 * Independent reference, rotary position embedding: inv_freq for default / linear / llama3 / YaRN
 * scaling computed here from the formulas of MODELS.md §1.3, §2.1 and §5 (float64), the YaRN
 * magnitude factors, the MLA softmax scale (§4.3), and the rotation in both channel layouts.
 */
import type { RopeScaling, RopeSpec } from '../../config/model-spec.js';
import { XdsError } from '../../core/errors.js';

/** θ^(−2i/dr), i = 0 … dr/2 − 1 (MODELS.md §1.3). */
export function baseInvFreq(theta: number, dim: number): Float64Array {
  const f = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) f[i] = theta ** (-(2 * i) / dim);
  return f;
}

/** llama3 rule (MODELS.md §2.1): keep high frequencies, divide low ones by f, blend in between. */
export function llama3InvFreq(base: Float64Array, s: Extract<RopeScaling, { kind: 'llama3' }>): Float64Array {
  const { factor: f, lowFreqFactor: lf, highFreqFactor: hf, originalMaxPositions: l0 } = s;
  return base.map((inv) => {
    const wavelen = (2 * Math.PI) / inv;
    if (wavelen < l0 / hf) return inv;
    if (wavelen > l0 / lf) return inv / f;
    const smooth = (l0 / wavelen - lf) / (hf - lf);
    return (1 - smooth) * (inv / f) + smooth * inv;
  });
}

/** YaRN correction range (MODELS.md §5 step 1), in full-dimension units. */
export function yarnCorrectionRange(dim: number, theta: number, l0: number, betaFast: number, betaSlow: number): { low: number; high: number } {
  const corr = (r: number): number => (dim * Math.log(l0 / (2 * Math.PI * r))) / (2 * Math.log(theta));
  const low = Math.max(Math.floor(corr(betaFast)), 0);
  let high = Math.min(Math.ceil(corr(betaSlow)), dim - 1);
  if (low === high) high += 0.001;
  return { low, high };
}

/** YaRN inv_freq' (MODELS.md §5 step 2): ramp over the pair index i, compared with low/high. */
export function yarnInvFreq(base: Float64Array, dim: number, theta: number, s: Extract<RopeScaling, { kind: 'yarn' }>): Float64Array {
  const { low, high } = yarnCorrectionRange(dim, theta, s.originalMaxPositions, s.betaFast, s.betaSlow);
  return base.map((inv, i) => {
    const ramp = Math.min(Math.max((i - low) / (high - low), 0), 1);
    return inv * (1 - ramp) + (inv / s.factor) * ramp;
  });
}

/** ymscale(s, m) = 1 if s ≤ 1, else 0.1·m·ln(s) + 1 (MODELS.md §5 step 3). */
export function ymscale(scale: number, m: number): number {
  return scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1;
}

/** The scaled inv_freq for a rope spec, [dr/2] f64. */
export function refInvFreq(rope: RopeSpec): Float64Array {
  const base = baseInvFreq(rope.theta, rope.dim);
  const s = rope.scaling;
  switch (s.kind) {
    case 'none': return base;
    case 'linear': return base.map((v) => v / s.factor);
    case 'llama3': return llama3InvFreq(base, s);
    case 'yarn': return yarnInvFreq(base, rope.dim, rope.theta, s);
    default: throw new XdsError('invalid_config', 'reference: unknown rope scaling', { param: 'rope_scaling' });
  }
}

/** cos/sin multiplier (HF attention_factor): 1 except for YaRN (MODELS.md §5 step 3). */
export function refAttentionFactor(rope: RopeSpec): number {
  const s = rope.scaling;
  if (s.kind !== 'yarn') return 1;
  if (s.attentionFactor !== null) return s.attentionFactor;
  if (s.mscale && s.mscaleAllDim) return ymscale(s.factor, s.mscale) / ymscale(s.factor, s.mscaleAllDim);
  return ymscale(s.factor, 1);
}

/** MLA softmax scale (dn+dr)^−½ · m², m = ymscale(f, mscale_all_dim) when YaRN sets it (§4.3, §5). */
export function refMlaScale(qkHeadDim: number, scaling: RopeScaling): number {
  let scale = 1 / Math.sqrt(qkHeadDim);
  if (scaling.kind === 'yarn' && scaling.mscaleAllDim) {
    const m = ymscale(scaling.factor, scaling.mscaleAllDim);
    scale *= m * m;
  }
  return scale;
}

/** A rope spec made ready to apply: inv_freq and the cos/sin factor. */
export interface RefRope {
  readonly invFreq: Float64Array; // [dr/2] f64
  readonly factor: number;
  readonly layout: 'halves' | 'interleaved';
  readonly dim: number;
}

export function makeRefRope(rope: RopeSpec): RefRope {
  return { invFreq: refInvFreq(rope), factor: refAttentionFactor(rope), layout: rope.layout, dim: rope.dim };
}

/** Rotate x[off … off+dr) in place for absolute position `pos` (MODELS.md §1.3 formulas). */
export function applyRope(x: Float64Array, off: number, pos: number, r: RefRope): void {
  const half = r.dim / 2;
  for (let i = 0; i < half; i++) {
    const a = pos * r.invFreq[i]!;
    const c = Math.cos(a) * r.factor;
    const s = Math.sin(a) * r.factor;
    const [j0, j1] = r.layout === 'halves' ? [off + i, off + i + half] : [off + 2 * i, off + 2 * i + 1];
    const x0 = x[j0]!;
    const x1 = x[j1]!;
    x[j0] = x0 * c - x1 * s;
    x[j1] = x1 * c + x0 * s;
  }
}
