/**
 * MLA attention unit (MODELS.md §4.2–§4.4; paper §2.1 "attention" for DeepSeek/Kimi): q (LoRA
 * q_a → q_a_layernorm → q_b, or q_proj) with interleaved RoPE on q_pe; kv_a → kv_a_layernorm on the
 * first R channels only → interleaved RoPE on k_pe (one vector per token) → cache [c ‖ k_pe];
 * then per sequence either the naive form (expand cached latents through kv_b_proj) or the
 * absorbed form (q̃ = W_UKᵀ q_nope, latent attention, o = W_UV ctx; all absorbed sequences of the step
 * in one call, several causal rows per sequence allowed), both with scale (dn+dr)^-½·m²; finally
 * o_proj.
 * 'auto' rule, per slice of n rows at positions p0 … p0+n−1 (ctx = p0+n, S = Σ (p+1) = n·p0 + n(n+1)/2),
 * in FMAs per head: absorbed n·R·(dn+dv) + S·(2R+dr); naive ctx·R·(dn+dv) + S·(dn+dr+dv). Absorbed
 * unless it costs more than NAIVE_OVERHEAD × naive: the naive form runs one kv_b matmul and one
 * attention call per sequence plus JS copies, so for decode, short prompts and chunks after a
 * cached prefix the absorbed form wins; a long fresh prompt (n ≳ 1000 on the small preset) goes naive.
 */

import type { MlaAttentionSpec } from '../../config/model-spec.js';
import type { MlaAttentionWeights } from '../../model/model-weights.js';
import type { SeqRows, StepLayout } from '../step-layout.js';
import { scratchOf, type AttentionState } from './gqa.js';
import { storeKv } from '../../kvcache/kv-storage.js';
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

/**
 * Latent entries [RMSNorm(c) ‖ RoPE(k_pe)] of the T rows, written into the cache: one kv_a matmul
 * into a [T, R + dr]; c gathered into [T, R] for one rmsNorm call and copied back (copyWithin in
 * one scratch buffer: no views per row); k_pe rotated in place (one strided rope call); then each
 * run of rows whose slots are consecutive (a sequence's rows inside one block) is one copy.
 * NOTE: two matmuls over row views of kv_a (c and k_pe apart) cost the same in the kernels, but
 * the views are weights profile-runner's unit map does not know (it charges them to attn core).
 */
function projectLatent(st: AttentionState, w: MlaAttentionWeights, spec: MlaAttentionSpec, x: Float32Array, layout: StepLayout): void {
  const { backend: B } = st;
  const T = layout.numRows;
  const { kvLoraRank: R, qkRopeHeadDim: dr } = spec;
  const W = R + dr;
  const buf = scratchOf(st).f32('mla.latent', T * (W + R)); // [T, R + dr] a, then [T, R] c
  const a = buf.subarray(0, T * W), c = buf.subarray(T * W);
  B.matmul(x, w.kvA, a, T);
  for (let r = 0; r < T; r++) buf.copyWithin(T * W + r * R, r * W, r * W + R);
  B.rmsNorm(c, w.kvANorm, MLA_NORM_EPS, c, T, R);
  for (let r = 0; r < T; r++) buf.copyWithin(r * W, T * W + r * R, T * W + (r + 1) * R);
  if (dr > 0) B.rope(a, T, W, 1, W, R, layout.positions, st.rope);
  writeLatents(st, layout, a, W);
}

/** cache[slot(pos of row r)] = a[r] ([R + dr]) for every row, one copy per run of consecutive slots. */
function writeLatents(st: AttentionState, layout: StepLayout, a: Float32Array, W: number): void {
  const kv = st.kv.layer(st.kvLayer);
  if (kv.kind !== 'mla') throw new RangeError('MLA attention over a GQA cache');
  const lat = kv.latent; // [numBlocks · bs, R + dr], f32 or bf16
  const bs = st.kv.blockSizeTokens;
  for (const s of layout.seqs) {
    for (let i = 0; i < s.count;) {
      const pos = s.startPos + i;
      const n = Math.min(s.count - i, bs - (pos % bs)); // rows left in this block
      const r = s.first + i;
      storeKv(lat, a.subarray(r * W, (r + n) * W), st.kv.slot(s.blockTable, pos) * W, st.backend);
      i += n;
    }
  }
}

/**
 * Overhead factor of the naive form in the 'auto' rule: per-sequence kv_b matmuls and attention
 * calls, JS expansion copies, and a GQA-style kernel that runs at ~1/5 the FMA rate of the latent
 * one. Measured (small preset, one fresh prompt, 1 thread, CPU time, native): the two forms cost
 * the same at 1024 tokens (cost ratio 2.71); absorbed is 1.1–1.4× cheaper at 512 (ratio 2.33)
 * and 1.1–1.4× at 256 (1.93).
 */
export const NAIVE_OVERHEAD = 2.7;

/** The 'auto' rule of the header: true when the naive form is cheaper for this slice. */
export function naiveIsCheaper(spec: MlaAttentionSpec, s: Pick<SeqRows, 'count' | 'startPos'>): boolean {
  const { kvLoraRank: R, qkNopeHeadDim: dn, qkRopeHeadDim: dr, vHeadDim: dv } = spec;
  const n = s.count, ctx = s.startPos + n;
  const S = n * s.startPos + (n * (n + 1)) / 2;
  const absorbed = n * R * (dn + dv) + S * (2 * R + dr);
  const naive = ctx * R * (dn + dv) + S * (dn + dr + dv);
  return absorbed > NAIVE_OVERHEAD * naive;
}

function useNaive(mode: MlaMode, spec: MlaAttentionSpec, s: SeqRows): boolean {
  return mode === 'naive' || (mode === 'auto' && naiveIsCheaper(spec, s));
}

/** The sequences of a step split by form; the same for every layer of the step (one spec, one mode). */
interface FormSplit { readonly spec: MlaAttentionSpec; readonly mode: MlaMode; readonly naive: readonly SeqRows[]; readonly absorbed: readonly SeqRows[] }

const splits = new WeakMap<StepLayout, FormSplit>();

function splitByForm(layout: StepLayout, spec: MlaAttentionSpec, mode: MlaMode): FormSplit {
  const hit = splits.get(layout);
  if (hit !== undefined && hit.spec === spec && hit.mode === mode) return hit;
  const naive: SeqRows[] = [], absorbed: SeqRows[] = [];
  for (const s of layout.seqs) (useNaive(mode, spec, s) ? naive : absorbed).push(s);
  const split = { spec, mode, naive, absorbed };
  splits.set(layout, split);
  return split;
}

/** out [T, D] = MLA(x [T, D]) for the rows of `layout`; writes the latent cache at every row's position. */
export function mlaAttention(st: AttentionState, w: MlaAttentionWeights, spec: MlaAttentionSpec, x: Float32Array, out: Float32Array, layout: StepLayout, mode: MlaMode): void {
  const q = projectQ(st, w, spec, x, layout);
  projectLatent(st, w, spec, x, layout);
  const qk = spec.qkNopeHeadDim + spec.qkRopeHeadDim;
  const vw = spec.numHeads * spec.vHeadDim;
  const attn = scratchOf(st).f32('mla.attn', layout.numRows * vw); // [T, H, dv]
  const { naive, absorbed } = splitByForm(layout, spec, mode);
  for (const s of naive) {
    const qs = q.subarray(s.first * spec.numHeads * qk, (s.first + s.count) * spec.numHeads * qk);
    const os = attn.subarray(s.first * vw, (s.first + s.count) * vw);
    mlaNaive(st, w, spec, qs, os, s, layout.positions.subarray(s.first, s.first + s.count));
  }
  if (absorbed.length > 0) mlaAbsorbedBatch(st, w, spec, q, attn, absorbed, layout.positions);
  st.backend.matmul(attn, w.o, out, layout.numRows);
}
