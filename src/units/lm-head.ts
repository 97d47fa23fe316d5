/** Final norm + LM head unit (MODELS.md §1.5): hidden = RMSNorm(h; model.norm), logits = hidden·lm_headᵀ over all V rows. */

import type { ComputeBackend, LinearWeight } from '../kernels/backend.js';

/** Gather `rowIdx` rows of h [*, D] and RMS-normalize them: returns [rowIdx.length, D] f32 (`out` when given). */
export function finalNormRows(backend: ComputeBackend, norm: Float32Array, eps: number, h: Float32Array, rowIdx: Int32Array, D: number, out: Float32Array = new Float32Array(rowIdx.length * D)): Float32Array {
  rowIdx.forEach((r, i) => out.set(h.subarray(r * D, (r + 1) * D), i * D));
  backend.rmsNorm(out, norm, eps, out, rowIdx.length, D);
  return out;
}

/** logits [rows, V] = hidden [rows, D] · headᵀ (into `logits` when given). */
export function lmHeadLogits(backend: ComputeBackend, head: LinearWeight, hidden: Float32Array, rows: number, logits: Float32Array = new Float32Array(rows * head.outDim)): Float32Array {
  backend.matmul(hidden, head, logits, rows);
  return logits;
}
