/**
 * MLA attention unit (MODELS.md §4.2–§4.4; paper §2.1 "attention" for DeepSeek/Kimi): q (LoRA
 * q_a → q_a_layernorm → q_b, or q_proj) with interleaved RoPE on q_pe; kv_a → kv_a_layernorm on the
 * first R channels only → interleaved RoPE on k_pe (one vector per token) → cache [c ‖ k_pe];
 * then per sequence either the naive form (expand cached latents through kv_b_proj) or the
 * absorbed form (q̃ = W_UKᵀ q_nope, latent attention, o = W_UV ctx; all decode sequences of the
 * step together), both with scale (dn+dr)^-½·m²; finally o_proj. 'auto' picks naive for
 * multi-token slices, absorbed for decode.
 */

import type { MlaAttentionSpec } from '../../config/model-spec.js';
import type { MlaAttentionWeights } from '../../model/model-weights.js';
import type { SeqRows, StepLayout } from '../step-layout.js';
import { scratchOf, type AttentionState } from './gqa.js';
import { mlaAbsorbedBatch } from './mla-absorbed.js';
import { mlaNaive } from './mla-naive.js';

export type MlaMode = 'auto' | 'naive' | 'absorbed';

/** HF and the DeepSeek reference use a fixed eps for q_a_layernorm / kv_a_layernorm (MODELS.md §1.1). */
export const MLA_NORM_EPS = 1e-6;

/** q [T, H, dn+dr] with q_pe rotated. */
function projectQ(st: AttentionState, w: MlaAttentionWeights, spec: MlaAttentionSpec, x: Float32Array, layout: StepLayout): Float32Array {
  const { backend: B } = st;
  const T = layout.numRows;
  const qk = spec.qkNopeHeadDim + spec.qkRopeHeadDim;
  const sc = scratchOf(st);
  const q = sc.f32('mla.q', T * spec.numHeads * qk); // [T, H, dn+dr]
  if (w.qA !== null && w.qANorm !== null && w.qB !== null) {
    const cq = sc.f32('mla.cq', T * w.qA.outDim); // [T, q_lora_rank]
    B.matmul(x, w.qA, cq, T);
    B.rmsNorm(cq, w.qANorm, MLA_NORM_EPS, cq, T, w.qA.outDim);
    B.matmul(cq, w.qB, q, T);
  } else if (w.q !== null) {
    B.matmul(x, w.q, q, T);
  }
  B.rope(q, T, spec.numHeads * qk, spec.numHeads, qk, spec.qkNopeHeadDim, layout.positions, st.rope);
  return q;
}

/** Latent entries [T, R + dr] = [RMSNorm(c) ‖ RoPE(k_pe)], written into the cache. */
function projectLatent(st: AttentionState, w: MlaAttentionWeights, spec: MlaAttentionSpec, x: Float32Array, layout: StepLayout): void {
  const { backend: B } = st;
  const T = layout.numRows;
  const R = spec.kvLoraRank;
  const width = R + spec.qkRopeHeadDim;
  const a = scratchOf(st).f32('mla.latent', T * width); // [T, R + dr]
  B.matmul(x, w.kvA, a, T);
  normLatents(st, w, a, T, R, width);
  B.rope(a, T, width, 1, width, R, layout.positions, st.rope);
  for (const s of layout.seqs) {
    for (let i = 0; i < s.count; i++) {
      const r = s.first + i;
      st.kv.writeLatent(st.kvLayer, s.blockTable, s.startPos + i, a.subarray(r * width, (r + 1) * width));
    }
  }
}

/** RMSNorm of the first R channels of each [R + dr] row, in place: gathered into one [T, R] call. */
function normLatents(st: AttentionState, w: MlaAttentionWeights, a: Float32Array, T: number, R: number, width: number): void {
  const c = scratchOf(st).f32('mla.c', T * R); // [T, R]
  for (let r = 0; r < T; r++) c.set(a.subarray(r * width, r * width + R), r * R);
  st.backend.rmsNorm(c, w.kvANorm, MLA_NORM_EPS, c, T, R);
  for (let r = 0; r < T; r++) a.set(c.subarray(r * R, (r + 1) * R), r * width);
}

function useNaive(mode: MlaMode, s: SeqRows): boolean {
  return mode === 'naive' || (mode === 'auto' && s.count > 1);
}

/** out [T, D] = MLA(x [T, D]) for the rows of `layout`; writes the latent cache at every row's position. */
export function mlaAttention(st: AttentionState, w: MlaAttentionWeights, spec: MlaAttentionSpec, x: Float32Array, out: Float32Array, layout: StepLayout, mode: MlaMode): void {
  const q = projectQ(st, w, spec, x, layout);
  projectLatent(st, w, spec, x, layout);
  const qk = spec.qkNopeHeadDim + spec.qkRopeHeadDim;
  const vw = spec.numHeads * spec.vHeadDim;
  const attn = scratchOf(st).f32('mla.attn', layout.numRows * vw); // [T, H, dv]
  const absorbed: SeqRows[] = [];
  for (const s of layout.seqs) {
    if (!useNaive(mode, s)) { absorbed.push(s); continue; }
    const qs = q.subarray(s.first * spec.numHeads * qk, (s.first + s.count) * spec.numHeads * qk);
    const os = attn.subarray(s.first * vw, (s.first + s.count) * vw);
    mlaNaive(st, w, spec, qs, os, s, layout.positions.subarray(s.first, s.first + s.count));
  }
  if (absorbed.length > 0) mlaAbsorbedBatch(st, w, spec, q, attn, absorbed, layout.positions);
  st.backend.matmul(attn, w.o, out, layout.numRows);
}
