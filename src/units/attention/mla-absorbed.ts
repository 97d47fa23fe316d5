/**
 * MLA weight-absorbed form (MODELS.md §4.4), used for decode: per head, q̃_h = W_UK[h]ᵀ q_nope_h
 * ([R]), latent multi-query attention over the cached [c ‖ k_pe] with the unchanged (dn+dr)^-½·m²
 * scale, then o_h = W_UV[h] · ctx_h ([dv]). All decode sequences of a step go to one
 * pagedMlaAttention call with `absorb` (ComputeBackend MlaAbsorb): the backend does the per-head
 * products, the attention of every sequence with its own block table, and the head gathers and
 * scatters. W_UK[h]ᵀ ([H, R, dn] f32) is built once per weight set and cached; W_UV[h] stays in
 * kv_b_proj (any format).
 */

import type { MlaAttentionSpec } from '../../config/model-spec.js';
import type { MlaAbsorb } from '../../kernels/backend.js';
import { weightRow } from '../../kernels/reference.js';
import type { MlaAttentionWeights } from '../../model/model-weights.js';
import type { SeqRows } from '../step-layout.js';
import { scratchOf, type AttentionState } from './gqa.js';
import { pagedSeqsLayout } from './paged-seqs-layout.js';

const cache = new WeakMap<MlaAttentionWeights, MlaAbsorb>();

/** The absorption weights of one layer: ukT [H, R, dn] with ukT[h][c][d] = W_UK[h][d][c], kv_b_proj as is. */
function absorb(w: MlaAttentionWeights, spec: MlaAttentionSpec): MlaAbsorb {
  const hit = cache.get(w);
  if (hit) return hit;
  const { numHeads: H, kvLoraRank: R, qkNopeHeadDim: dn, vHeadDim: dv } = spec;
  const row = new Float32Array(R); // one kv_b_proj row
  const ukT = new Float32Array(H * R * dn); // [H, R, dn]
  for (let h = 0; h < H; h++) {
    for (let d = 0; d < dn; d++) {
      weightRow(w.kvB, h * (dn + dv) + d, row);
      for (let c = 0; c < R; c++) ukT[(h * R + c) * dn + d] = row[c]!;
    }
  }
  const a: MlaAbsorb = { ukT, kvB: w.kvB, qkNopeHeadDim: dn, vHeadDim: dv };
  cache.set(w, a);
  return a;
}

/**
 * Absorbed MLA over several sequences at once (decode): q [T, H, dn+dr] (RoPE applied) and out
 * [T, H, dv] are the whole step's rows; only the rows of `seqs` are read and written.
 */
export function mlaAbsorbedBatch(st: AttentionState, w: MlaAttentionWeights, spec: MlaAttentionSpec, q: Float32Array, out: Float32Array, seqs: readonly SeqRows[], positions: Int32Array): void {
  const kv = st.kv.layer(st.kvLayer);
  if (kv.kind !== 'mla') throw new RangeError('MLA attention over a GQA cache');
  const ps = pagedSeqsLayout(scratchOf(st), seqs, 'mla-abs.seqs');
  st.backend.pagedMlaAttention({
    q, out, latentCache: kv.latent, blockTable: ps.blockTable, positions, seqs: ps.seqs, absorb: absorb(w, spec),
    numHeads: spec.numHeads, kvLoraRank: spec.kvLoraRank, ropeDim: spec.qkRopeHeadDim, blockSizeTokens: st.kv.blockSizeTokens, scale: spec.softmaxScale,
  });
}
