/**
 * Independent reference, MLA in the weight-absorbed form of MODELS.md §4.4 (float64), used only to
 * check the reference's naive form against the identity the engine's decode relies on:
 * q̃_h = W_UK[h]ᵀ·q_nope_h, scores (q̃_h·c(u) + q_pe_h·k_pe(u))·scale, ctx_h = Σ_u p·c(u),
 * o_h = W_UV[h]·ctx_h, with the (dn+dr)-based scale kept.
 */
import { assert } from '../../core/assert.js';
import type { ModelSpec } from '../../config/model-spec.js';
import type { WeightSource } from '../tensor.js';
import { linear, softmax } from './math.js';
import { mlaLatent, projectMlaQ } from './mla.js';
import { refMlaScale, type RefRope } from './rope.js';
import { readTensor } from './tensors.js';

/** Absorbed-form MLA of one layer; x: [T, D] (already input-normed) → [T, D] f64. */
export function mlaAttentionAbsorbed(spec: ModelSpec, ws: WeightSource, p: string, x: Float64Array, positions: readonly number[], rope: RefRope): Float64Array {
  const a = spec.attention;
  assert(a.kind === 'mla', 'reference: mlaAttentionAbsorbed on a GQA model');
  const { numHeads: H, qkNopeHeadDim: dn, qkRopeHeadDim: dr, vHeadDim: dv, kvLoraRank: R } = a;
  const T = positions.length;
  const q = projectMlaQ(spec, ws, p, x, positions, rope); // [T, H, dn+dr], q_pe rotated
  const { c, kPe } = mlaLatent(spec, ws, p, x, positions, rope); // [T, R], [T, dr]
  const wkvb = readTensor(ws, `${p}self_attn.kv_b_proj.weight`, [H * (dn + dv), R]); // [H, dn+dv, R]
  const scale = refMlaScale(dn + dr, spec.rope.scaling);
  const o = new Float64Array(T * H * dv); // [T, H·dv]
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      const qOff = (t * H + h) * (dn + dr);
      const qt = new Float64Array(R); // q̃_h [R]
      for (let d = 0; d < dn; d++) for (let r = 0; r < R; r++) qt[r] = qt[r]! + q[qOff + d]! * wkvb[(h * (dn + dv) + d) * R + r]!;
      const s = positions.map((pu, u) => {
        if (pu > positions[t]!) return -Infinity;
        let v = 0;
        for (let r = 0; r < R; r++) v += qt[r]! * c[u * R + r]!;
        for (let j = 0; j < dr; j++) v += q[qOff + dn + j]! * kPe[u * dr + j]!;
        return v * scale;
      });
      const pr = softmax(s);
      const ctx = new Float64Array(R); // [R]
      for (let u = 0; u < T; u++) for (let r = 0; r < R; r++) ctx[r] = ctx[r]! + pr[u]! * c[u * R + r]!;
      for (let d = 0; d < dv; d++) {
        let v = 0;
        for (let r = 0; r < R; r++) v += wkvb[(h * (dn + dv) + dn + d) * R + r]! * ctx[r]!;
        o[(t * H + h) * dv + d] = v;
      }
    }
  }
  const D = spec.hiddenSize;
  return linear(o, readTensor(ws, `${p}self_attn.o_proj.weight`, [D, H * dv]), D, H * dv);
}
