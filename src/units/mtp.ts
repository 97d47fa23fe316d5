/**
 * MTP module input (MODELS.md §6.2; paper §2.6): x = [enorm(Embed(t_{j+1})) ‖ hnorm(h_j)] · W_ehᵀ,
 * embedding half first, h_j the main model's post-final-norm hidden state. The caller then runs the
 * MTP decoder block (with its own KV-cache layer, RoPE position j) and shared_head.norm + head.
 */

import type { ComputeBackend } from '../kernels/backend.js';
import type { MtpWeights } from '../model/model-weights.js';
import { embedTokens } from './embedding.js';
import { Scratch } from './scratch.js';

/**
 * tokenIds [T] = t_{j+1}; prevHidden [T, D] = h_j; positions [T] = j; returns x [T, D] f32.
 * zeroEmbedAtPos0: zero the embedding of rows at position 0 before enorm, as vLLM does.
 */
export function mtpInput(backend: ComputeBackend, w: MtpWeights, eps: number, tokenIds: Int32Array, prevHidden: Float32Array, positions: Int32Array, zeroEmbedAtPos0: boolean, scratch: Scratch = new Scratch()): Float32Array {
  const T = tokenIds.length;
  const D = w.enorm.length;
  const e = scratch.f32('mtp.e', T * D); // [T, D] token embeddings
  embedTokens(w.embed, tokenIds, e);
  if (zeroEmbedAtPos0) for (let t = 0; t < T; t++) if (positions[t] === 0) e.fill(0, t * D, (t + 1) * D);
  backend.rmsNorm(e, w.enorm, eps, e, T, D);
  const hh = scratch.f32('mtp.hh', T * D); // [T, D]
  backend.rmsNorm(prevHidden, w.hnorm, eps, hh, T, D);
  const cat = scratch.f32('mtp.cat', T * 2 * D); // [T, 2D] = [enorm(e) ‖ hnorm(h)]
  for (let t = 0; t < T; t++) {
    cat.set(e.subarray(t * D, (t + 1) * D), t * 2 * D);
    cat.set(hh.subarray(t * D, (t + 1) * D), t * 2 * D + D);
  }
  const x = scratch.f32('mtp.x', T * D); // [T, D], a scratch view when `scratch` is given
  backend.matmul(cat, w.ehProj, x, T);
  return x;
}
