/**
 * MLA weight-absorbed form for one sequence (MODELS.md §4.4), used for decode: per head,
 * q̃_h = W_UK[h]ᵀ q_nope_h ([R]), latent multi-query attention over the cached [c ‖ k_pe] with the
 * unchanged (dn+dr)^-½·m² scale (pagedMlaAttention), then o_h = W_UV[h] · ctx_h ([dv]).
 * W_UK[h]ᵀ ([R, dn] f32) is built once per weight set and cached; W_UV[h] is a row view of kv_b_proj.
 */

import type { MlaAttentionSpec } from '../../config/model-spec.js';
import type { LinearWeight } from '../../kernels/backend.js';
import { weightRow } from '../../kernels/reference.js';
import type { MlaAttentionWeights } from '../../model/model-weights.js';
import type { SeqRows } from '../step-layout.js';
import type { AttentionState } from './gqa.js';

interface Absorbed {
  /** Per head: W_UK[h]ᵀ as a LinearWeight [R, dn] f32, so matmul(q_nope, ukT[h]) gives q̃[c] = Σ_d W_UK[h][d,c]·q_nope[d]. */
  readonly ukT: readonly LinearWeight[];
  /** Per head: W_UV[h] [dv, R], a view of kv_b_proj rows. */
  readonly uv: readonly LinearWeight[];
}

const cache = new WeakMap<MlaAttentionWeights, Absorbed>();

/** Rows [first, first+count) of a linear weight, as a view. */
export function weightRows(w: LinearWeight, first: number, count: number): LinearWeight {
  const n = w.inDim;
  const base = { outDim: count, inDim: n };
  if (w.format === 'int8') {
    const g = Math.ceil(n / w.groupSize);
    return { format: 'int8', ...base, data: w.data.subarray(first * n, (first + count) * n), scales: w.scales.subarray(first * g, (first + count) * g), groupSize: w.groupSize };
  }
  if (w.format === 'bf16') return { format: 'bf16', ...base, data: w.data.subarray(first * n, (first + count) * n) };
  return { format: 'f32', ...base, data: w.data.subarray(first * n, (first + count) * n) };
}

function absorb(w: MlaAttentionWeights, spec: MlaAttentionSpec): Absorbed {
  const hit = cache.get(w);
  if (hit) return hit;
  const { numHeads: H, kvLoraRank: R, qkNopeHeadDim: dn, vHeadDim: dv } = spec;
  const row = new Float32Array(R);
  const ukT: LinearWeight[] = [];
  const uv: LinearWeight[] = [];
  for (let h = 0; h < H; h++) {
    const t = new Float32Array(R * dn); // [R, dn] = W_UK[h]ᵀ
    for (let d = 0; d < dn; d++) {
      weightRow(w.kvB, h * (dn + dv) + d, row);
      for (let c = 0; c < R; c++) t[c * dn + d] = row[c]!;
    }
    ukT.push({ format: 'f32', outDim: R, inDim: dn, data: t });
    uv.push(weightRows(w.kvB, h * (dn + dv) + dn, dv));
  }
  const a = { ukT, uv };
  cache.set(w, a);
  return a;
}

/** q [n, H, dn+dr] (RoPE applied) → out [n, H, dv], attending over cached positions ≤ each query's. */
export function mlaAbsorbed(st: AttentionState, w: MlaAttentionWeights, spec: MlaAttentionSpec, q: Float32Array, out: Float32Array, s: SeqRows, positions: Int32Array): void {
  const { numHeads: H, kvLoraRank: R, qkNopeHeadDim: dn, qkRopeHeadDim: dr, vHeadDim: dv } = spec;
  const B = st.backend;
  const n = s.count;
  const ab = absorb(w, spec);
  const qAbs = new Float32Array(n * H * (R + dr)); // [n, H, R + dr] = [q̃_h ‖ q_pe_h]
  const qn = new Float32Array(n * dn); // [n, dn] one head's q_nope
  const qt = new Float32Array(n * R); // [n, R] one head's q̃
  for (let h = 0; h < H; h++) {
    for (let t = 0; t < n; t++) qn.set(q.subarray((t * H + h) * (dn + dr), (t * H + h) * (dn + dr) + dn), t * dn);
    B.matmul(qn, ab.ukT[h]!, qt, n);
    for (let t = 0; t < n; t++) {
      const o = (t * H + h) * (R + dr);
      qAbs.set(qt.subarray(t * R, (t + 1) * R), o);
      qAbs.set(q.subarray((t * H + h) * (dn + dr) + dn, (t * H + h + 1) * (dn + dr)), o + R);
    }
  }
  const cache = st.kv.layer(st.kvLayer);
  if (cache.kind !== 'mla') throw new RangeError('MLA attention over a GQA cache');
  const ctx = new Float32Array(n * H * R); // [n, H, R]
  B.pagedMlaAttention({
    q: qAbs, out: ctx, latentCache: cache.latent, blockTable: s.blockTable, positions, numHeads: H,
    kvLoraRank: R, ropeDim: dr, blockSizeTokens: st.kv.blockSizeTokens, scale: spec.softmaxScale,
  });
  const ch = new Float32Array(n * R); // [n, R] one head's ctx
  const oh = new Float32Array(n * dv); // [n, dv]
  for (let h = 0; h < H; h++) {
    for (let t = 0; t < n; t++) ch.set(ctx.subarray((t * H + h) * R, (t * H + h + 1) * R), t * R);
    B.matmul(ch, ab.uv[h]!, oh, n);
    for (let t = 0; t < n; t++) out.set(oh.subarray(t * dv, (t + 1) * dv), (t * H + h) * dv);
  }
}
