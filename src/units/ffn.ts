/** Dense SiLU-GLU FFN unit (MODELS.md §1.2): y = (silu(x·Wgᵀ) ⊙ x·Wuᵀ)·Wdᵀ; also every expert. */

import type { ComputeBackend } from '../kernels/backend.js';
import type { MlpWeights } from '../model/model-weights.js';
import { Scratch } from './scratch.js';

/** out [rows, D] = MLP(x [rows, D]); out may not alias x. Temporaries come from `scratch` (slots 'mlp.*'). */
export function denseMlp(backend: ComputeBackend, w: MlpWeights, x: Float32Array, out: Float32Array, rows: number, scratch: Scratch = new Scratch()): void {
  const width = w.gate.outDim;
  const gate = scratch.f32('mlp.gate', rows * width); // [rows, I] f32
  const up = scratch.f32('mlp.up', rows * width); // [rows, I] f32
  backend.matmul(x, w.gate, gate, rows);
  backend.matmul(x, w.up, up, rows);
  backend.siluMul(gate, up, gate, rows * width);
  backend.matmul(gate, w.down, out, rows);
}
