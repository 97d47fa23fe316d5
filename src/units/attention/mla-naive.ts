/**
 * MLA naive ("decompressed") form for one sequence (MODELS.md §4.3), used for prefill: expand every
 * cached latent c(u), u ≤ last position, through kv_b_proj into per-head [k_nope | v], append the
 * shared k_pe, and run ordinary causal attention with H KV heads and the (dn+dr)^-½·m² scale.
 */

import type { MlaAttentionSpec } from '../../config/model-spec.js';
import type { MlaAttentionWeights } from '../../model/model-weights.js';
import type { SeqRows } from '../step-layout.js';
import { scratchOf, type AttentionState } from './gqa.js';

const ONE_BLOCK = Int32Array.of(0);

/** q [n, H, dn+dr] (RoPE applied) → out [n, H, dv], attending over cached positions 0 … last. */
export function mlaNaive(st: AttentionState, w: MlaAttentionWeights, spec: MlaAttentionSpec, q: Float32Array, out: Float32Array, s: SeqRows, positions: Int32Array): void {
  const { numHeads: H, kvLoraRank: R, qkNopeHeadDim: dn, qkRopeHeadDim: dr, vHeadDim: dv } = spec;
  const ctx = s.startPos + s.count;
  const lw = R + dr;
  const sc = scratchOf(st);
  const lat = sc.f32('mla-naive.lat', ctx * lw); // [ctx, R + dr] cached latents
  st.kv.readLatents(st.kvLayer, s.blockTable, ctx, lat);
  const c = sc.f32('mla-naive.c', ctx * R); // [ctx, R]
  for (let u = 0; u < ctx; u++) c.set(lat.subarray(u * lw, u * lw + R), u * R);
  const kvb = sc.f32('mla-naive.kvb', ctx * H * (dn + dv)); // [ctx, H, dn+dv]
  st.backend.matmul(c, w.kvB, kvb, ctx);
  const k = sc.f32('mla-naive.k', ctx * H * (dn + dr)); // [ctx, H, dn+dr]
  const v = sc.f32('mla-naive.v', ctx * H * dv); // [ctx, H, dv]
  for (let u = 0; u < ctx; u++) {
    for (let h = 0; h < H; h++) {
      const src = (u * H + h) * (dn + dv);
      const kd = (u * H + h) * (dn + dr);
      k.set(kvb.subarray(src, src + dn), kd);
      k.set(lat.subarray(u * lw + R, (u + 1) * lw), kd + dn);
      v.set(kvb.subarray(src + dn, src + dn + dv), (u * H + h) * dv);
    }
  }
  // Contiguous K/V seen as one block of ctx tokens.
  st.backend.pagedAttention({
    q, out, kCache: k, vCache: v, blockTable: ONE_BLOCK, positions, numHeads: H, numKvHeads: H,
    headDim: dn + dr, headDimV: dv, blockSizeTokens: ctx, scale: spec.softmaxScale, slidingWindow: 0,
  });
}
