/**
 * GQA attention unit (MODELS.md §2.1, §2.2, §1.4; paper §2.1 "attention" for Qwen/Llama/Mixtral):
 * q/k/v projections (+ optional bias) → Qwen3 per-head RMSNorm on q and k (before RoPE) → RoPE
 * (halves) → write K/V into the paged cache → paged causal attention per sequence (query head h
 * reads KV head ⌊h/g⌋; all sequences of the step in one call) → o_proj. The unit owns its layer's KV cache entries.
 */

import type { GqaAttentionSpec } from '../../config/model-spec.js';
import type { ComputeBackend, RopeTable } from '../../kernels/backend.js';
import type { KvStorage } from '../../kvcache/kv-storage.js';
import type { GqaAttentionWeights } from '../../model/model-weights.js';
import { Scratch } from '../scratch.js';
import type { StepLayout } from '../step-layout.js';
import { pagedSeqsLayout } from './paged-seqs-layout.js';

/** What an attention unit needs besides its weights and inputs. */
export interface AttentionState {
  readonly backend: ComputeBackend;
  readonly rope: RopeTable;
  readonly kv: KvStorage;
  /** The KV-cache layer this unit writes and reads (MTP module i: numLayers + i). */
  readonly kvLayer: number;
  /** rms_norm_eps (Qwen3 q/k norms). */
  readonly eps: number;
  /** The runner's scratch arena for temporaries; without one, each call allocates its own. */
  readonly scratch?: Scratch;
}

/** The state's scratch arena, or a fresh one (allocating, as a one-off call would). */
export function scratchOf(st: AttentionState): Scratch {
  return st.scratch ?? new Scratch();
}

/** out [T, D] = Attention(x [T, D]) for the rows of `layout`; writes K/V at every row's position. */
export function gqaAttention(st: AttentionState, w: GqaAttentionWeights, spec: GqaAttentionSpec, x: Float32Array, out: Float32Array, layout: StepLayout): void {
  const { backend: B } = st;
  const T = layout.numRows;
  const { numHeads: H, numKvHeads: Hkv, headDim: dh } = spec;
  const sc = scratchOf(st);
  const q = sc.f32('gqa.q', T * H * dh); // [T, H, dh]
  const k = sc.f32('gqa.k', T * Hkv * dh); // [T, Hkv, dh]
  const v = sc.f32('gqa.v', T * Hkv * dh); // [T, Hkv, dh]
  B.matmul(x, w.q, q, T);
  B.matmul(x, w.k, k, T);
  B.matmul(x, w.v, v, T);
  if (w.qNorm !== null && w.kNorm !== null) {
    B.rmsNorm(q, w.qNorm, st.eps, q, T * H, dh);
    B.rmsNorm(k, w.kNorm, st.eps, k, T * Hkv, dh);
  }
  B.rope(q, T, H * dh, H, dh, 0, layout.positions, st.rope);
  B.rope(k, T, Hkv * dh, Hkv, dh, 0, layout.positions, st.rope);
  writeKv(st, k, v, layout, Hkv * dh);
  const attn = sc.f32('gqa.attn', T * H * dh); // [T, H, dh]
  attendPerSequence(st, spec, q, attn, layout);
  B.matmul(attn, w.o, out, T);
}

function writeKv(st: AttentionState, k: Float32Array, v: Float32Array, layout: StepLayout, width: number): void {
  for (const s of layout.seqs) {
    for (let i = 0; i < s.count; i++) {
      const r = s.first + i;
      st.kv.writeKv(st.kvLayer, s.blockTable, s.startPos + i, k.subarray(r * width, (r + 1) * width), v.subarray(r * width, (r + 1) * width), st.backend);
    }
  }
}


/** All sequences of the step in one paged-attention call (each with its own rows and block table). */
function attendPerSequence(st: AttentionState, spec: GqaAttentionSpec, q: Float32Array, attn: Float32Array, layout: StepLayout): void {
  const cache = st.kv.layer(st.kvLayer);
  if (cache.kind !== 'gqa') throw new RangeError('GQA attention over an MLA cache');
  const { seqs, blockTable } = pagedSeqsLayout(scratchOf(st), layout.seqs, 'gqa.seqs');
  st.backend.pagedAttention({
    q, out: attn, kCache: cache.k, vCache: cache.v, blockTable, positions: layout.positions, seqs,
    numHeads: spec.numHeads, numKvHeads: spec.numKvHeads, headDim: spec.headDim, headDimV: spec.headDim,
    blockSizeTokens: st.kv.blockSizeTokens, scale: spec.softmaxScale, slidingWindow: spec.slidingWindow ?? 0,
  });
}
