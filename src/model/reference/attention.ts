/**
 * Independent reference, attention: the causal attention core of MODELS.md §1.4 (no KV cache:
 * every key of the sequence is at hand) and the GQA block of §2.1/§2.2 (q/k/v projections,
 * Qwen3 per-head q/k RMSNorm before RoPE, RoPE halves, query head h reads KV head ⌊h/g⌋, o_proj).
 */
import { assert } from '../../core/assert.js';
import type { GqaAttentionSpec, ModelSpec } from '../../config/model-spec.js';
import type { WeightSource } from '../tensor.js';
import { linear, rmsNorm, softmax } from './math.js';
import { applyRope, type RefRope } from './rope.js';
import { readOptional, readTensor } from './tensors.js';

/** Per-head inputs of the attention core. Rows are tokens; `stride`/`offset` pick a head's slice. */
export interface HeadView {
  readonly data: Float64Array;
  readonly stride: number;
  readonly offset: number;
}

/**
 * o[t] = Σ_u softmax_u(scale·q_t·k_u) v_u over keys u with pos(u) ≤ pos(t) (and pos(u) > pos(t) − W
 * when a sliding window W is set). Writes o_t into out[t·outStride + outOffset …].
 */
export function causalAttention(
  q: HeadView, k: HeadView, v: HeadView, dimQk: number, dimV: number, positions: readonly number[],
  scale: number, slidingWindow: number | null, out: HeadView,
): void {
  const numTokens = positions.length;
  for (let t = 0; t < numTokens; t++) {
    const pt = positions[t]!;
    const s = new Array<number>(numTokens).fill(-Infinity);
    for (let u = 0; u < numTokens; u++) {
      const pu = positions[u]!;
      if (pu > pt || (slidingWindow !== null && pu <= pt - slidingWindow)) continue;
      let d = 0;
      for (let c = 0; c < dimQk; c++) d += q.data[t * q.stride + q.offset + c]! * k.data[u * k.stride + k.offset + c]!;
      s[u] = d * scale;
    }
    const p = softmax(s);
    for (let c = 0; c < dimV; c++) {
      let acc = 0;
      for (let u = 0; u < numTokens; u++) acc += p[u]! * v.data[u * v.stride + v.offset + c]!;
      out.data[t * out.stride + out.offset + c] = acc;
    }
  }
}

function qwenStyle(spec: ModelSpec): boolean {
  return spec.arch === 'qwen3' || spec.arch === 'qwen3_moe';
}

/** Project, (q/k-norm), rotate. Returns q [T, H·dh], k [T, Hkv·dh], v [T, Hkv·dh]. */
function projectQkv(spec: ModelSpec, a: GqaAttentionSpec, ws: WeightSource, p: string, x: Float64Array, positions: readonly number[], rope: RefRope) {
  const D = spec.hiddenSize;
  const { numHeads: H, numKvHeads: Hkv, headDim: dh } = a;
  const proj = (n: string, rows: number): Float64Array =>
    linear(x, readTensor(ws, `${p}self_attn.${n}.weight`, [rows, D]), rows, D,
      a.hasBias ? readTensor(ws, `${p}self_attn.${n}.bias`, [rows]) : null);
  let q = proj('q_proj', H * dh); // [T, H·dh]
  let k = proj('k_proj', Hkv * dh); // [T, Hkv·dh]
  const v = proj('v_proj', Hkv * dh); // [T, Hkv·dh]
  if (qwenStyle(spec)) {
    q = rmsNorm(q, readTensor(ws, `${p}self_attn.q_norm.weight`, [dh]), dh, spec.rmsNormEps);
    k = rmsNorm(k, readTensor(ws, `${p}self_attn.k_norm.weight`, [dh]), dh, spec.rmsNormEps);
  }
  positions.forEach((pos, t) => {
    for (let h = 0; h < H; h++) applyRope(q, (t * H + h) * dh, pos, rope);
    for (let j = 0; j < Hkv; j++) applyRope(k, (t * Hkv + j) * dh, pos, rope);
  });
  return { q, k, v };
}

/** GQA self-attention of one layer; x: [T, D] (already input-normed) → [T, D] f64. */
export function gqaAttention(spec: ModelSpec, ws: WeightSource, prefix: string, x: Float64Array, positions: readonly number[], rope: RefRope): Float64Array {
  const a = spec.attention;
  assert(a.kind === 'gqa', 'reference: gqaAttention on an MLA model');
  const { numHeads: H, numKvHeads: Hkv, headDim: dh } = a;
  const { q, k, v } = projectQkv(spec, a, ws, prefix, x, positions, rope);
  const g = H / Hkv;
  const o = new Float64Array(positions.length * H * dh); // [T, H·dh]
  for (let h = 0; h < H; h++) {
    const kv = Math.floor(h / g);
    causalAttention(
      { data: q, stride: H * dh, offset: h * dh }, { data: k, stride: Hkv * dh, offset: kv * dh },
      { data: v, stride: Hkv * dh, offset: kv * dh }, dh, dh, positions, 1 / Math.sqrt(dh), a.slidingWindow,
      { data: o, stride: H * dh, offset: h * dh });
  }
  const D = spec.hiddenSize;
  const bias = a.hasBias ? readOptional(ws, `${prefix}self_attn.o_proj.bias`, [D]) : null;
  return linear(o, readTensor(ws, `${prefix}self_attn.o_proj.weight`, [D, H * dh]), D, H * dh, bias);
}
