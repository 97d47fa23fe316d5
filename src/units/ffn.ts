/** Dense SiLU-GLU FFN unit (MODELS.md §1.2): y = (silu(x·Wgᵀ) ⊙ x·Wuᵀ)·Wdᵀ, the same MLP as every expert. */

import type { ComputeBackend } from '../kernels/backend.js';
import { siluGluMlp } from '../kernels/moe-experts.js';
import type { MlpWeights } from '../model/model-weights.js';
import { Scratch } from './scratch.js';

/** out [rows, D] = MLP(x [rows, D]); out may not alias x. Temporaries come from `scratch` (slots 'mlp.*'). */
export function denseMlp(backend: ComputeBackend, w: MlpWeights, x: Float32Array, out: Float32Array, rows: number, scratch: Scratch = new Scratch()): void {
  siluGluMlp(backend, w, x, out, rows, scratch, 'mlp.gate', 'mlp.up');
}
