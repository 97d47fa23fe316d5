/**
 * Independent reference, Multi-head Latent Attention in the naive ("decompressed") form of
 * MODELS.md §4.3: q via q LoRA (q_a_proj → q_a_layernorm → q_b_proj) or a direct q_proj; the latent
 * c = RMSNorm(first R channels of kv_a_proj_with_mqa), k_pe = the last dr channels, one per token
 * shared by all heads; interleaved RoPE on q_pe and k_pe; kv_b_proj rows grouped per head as
 * [k_nope (dn) ‖ v (dv)]; softmax scale (dn+dr)^−½·m² computed here from the rope scaling (§5).
 */
import { assert } from '../../core/assert.js';
import type { MlaAttentionSpec, ModelSpec } from '../../config/model-spec.js';
import type { WeightSource } from '../tensor.js';
import { causalAttention } from './attention.js';
import { linear, rmsNorm } from './math.js';
import { applyRope, refMlaScale, type RefRope } from './rope.js';
import { readTensor } from './tensors.js';

/** MLA's internal norms use a fixed 1e-6 (HF, DeepSeek reference; MODELS.md §1.1). */
export const MLA_NORM_EPS = 1e-6;

function mlaOf(spec: ModelSpec): MlaAttentionSpec {
  assert(spec.attention.kind === 'mla', 'reference: MLA attention on a GQA model');
  return spec.attention;
}

/** q [T, H, dn+dr] with each head's q_pe (last dr channels) rotated at its position. */
export function projectMlaQ(spec: ModelSpec, ws: WeightSource, p: string, x: Float64Array, positions: readonly number[], rope: RefRope): Float64Array {
  const a = mlaOf(spec);
  const D = spec.hiddenSize;
  const { numHeads: H, qkNopeHeadDim: dn } = a;
  const qk = dn + a.qkRopeHeadDim;
  const rows = H * qk;
  let q: Float64Array;
  if (a.qLoraRank === null) {
    q = linear(x, readTensor(ws, `${p}self_attn.q_proj.weight`, [rows, D]), rows, D);
  } else {
    const rq = a.qLoraRank;
    const cq = rmsNorm(linear(x, readTensor(ws, `${p}self_attn.q_a_proj.weight`, [rq, D]), rq, D),
      readTensor(ws, `${p}self_attn.q_a_layernorm.weight`, [rq]), rq, MLA_NORM_EPS); // [T, rq]
    q = linear(cq, readTensor(ws, `${p}self_attn.q_b_proj.weight`, [rows, rq]), rows, rq);
  }
  positions.forEach((pos, t) => { for (let h = 0; h < H; h++) applyRope(q, (t * H + h) * qk + dn, pos, rope); });
  return q;
}

/** The cacheable part per token: normalized latent c [T, R] and rotated k_pe [T, dr]. */
export function mlaLatent(spec: ModelSpec, ws: WeightSource, p: string, x: Float64Array, positions: readonly number[], rope: RefRope): { c: Float64Array; kPe: Float64Array } {
  const a = mlaOf(spec);
  const D = spec.hiddenSize;
  const R = a.kvLoraRank;
  const dr = a.qkRopeHeadDim;
  const kva = linear(x, readTensor(ws, `${p}self_attn.kv_a_proj_with_mqa.weight`, [R + dr, D]), R + dr, D); // [T, R+dr]
  const T = positions.length;
  const raw = new Float64Array(T * R);
  const kPe = new Float64Array(T * dr);
  for (let t = 0; t < T; t++) {
    raw.set(kva.subarray(t * (R + dr), t * (R + dr) + R), t * R);
    kPe.set(kva.subarray(t * (R + dr) + R, (t + 1) * (R + dr)), t * dr);
    applyRope(kPe, t * dr, positions[t]!, rope);
  }
  return { c: rmsNorm(raw, readTensor(ws, `${p}self_attn.kv_a_layernorm.weight`, [R]), R, MLA_NORM_EPS), kPe };
}

/** MLA self-attention of one layer, naive form; x: [T, D] (already input-normed) → [T, D] f64. */
export function mlaAttention(spec: ModelSpec, ws: WeightSource, p: string, x: Float64Array, positions: readonly number[], rope: RefRope): Float64Array {
  const a = mlaOf(spec);
  const { numHeads: H, qkNopeHeadDim: dn, qkRopeHeadDim: dr, vHeadDim: dv, kvLoraRank: R } = a;
  const qkw = dn + dr;
  const T = positions.length;
  const q = projectMlaQ(spec, ws, p, x, positions, rope); // [T, H, dn+dr]
  const { c, kPe } = mlaLatent(spec, ws, p, x, positions, rope);
  const kv = linear(c, readTensor(ws, `${p}self_attn.kv_b_proj.weight`, [H * (dn + dv), R]), H * (dn + dv), R); // [T, H, dn+dv]
  const k = new Float64Array(T * H * qkw); // [T, H, dn+dr]: [k_nope_h ‖ k_pe]
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      k.set(kv.subarray((t * H + h) * (dn + dv), (t * H + h) * (dn + dv) + dn), (t * H + h) * qkw);
      k.set(kPe.subarray(t * dr, (t + 1) * dr), (t * H + h) * qkw + dn);
    }
  }
  const scale = refMlaScale(qkw, spec.rope.scaling);
  const o = new Float64Array(T * H * dv); // [T, H·dv]
  for (let h = 0; h < H; h++) {
    causalAttention({ data: q, stride: H * qkw, offset: h * qkw }, { data: k, stride: H * qkw, offset: h * qkw },
      { data: kv, stride: H * (dn + dv), offset: h * (dn + dv) + dn }, qkw, dv, positions, scale, null,
      { data: o, stride: H * dv, offset: h * dv });
  }
  const D = spec.hiddenSize;
  return linear(o, readTensor(ws, `${p}self_attn.o_proj.weight`, [D, H * dv]), D, H * dv);
}
