/**
 * Tensor plumbing for the GGUF exporters (GGUF-EXPORT.md §2, §4.3, §6.3): a planned tensor
 * (GGUF name, PyTorch-order shape, lazy f32 data), checked reads from a WeightSource, the RoPE
 * halves→pairs row permutation, expert stacking, and the per-tensor ggml type choice + encoding.
 */
import { f16ToF32, f32ToBf16, f32ToF16 } from '../../core/dtype.js';
import { XdsError } from '../../core/errors.js';
import type { Tensor, WeightSource } from '../tensor.js';
import type { GgmlType } from './format.js';
import { quantizeQ8_0 } from './q8_0.js';
import type { GgufTensorToWrite } from './writer.js';

/** The export's weight type: `f32` (reference), `f16`, `bf16` (lossless for bf16 checkpoints), or `q8_0`. */
export type ExportType = 'f32' | 'f16' | 'bf16' | 'q8_0';

export interface PlannedTensor {
  /** GGUF name, e.g. `blk.0.attn_q.weight`. */
  readonly name: string;
  /** PyTorch (row-major) shape; GGUF dims are this reversed. */
  readonly shape: readonly number[];
  /** Norms, biases, router, exp_probs_b: always F32, as the converter does. */
  readonly keepF32: boolean;
  /** Row-major f32 data of `shape`, computed when written. */
  data(): Float32Array;
}

export function planned(name: string, shape: readonly number[], data: () => Float32Array, keepF32 = false): PlannedTensor {
  return { name, shape, keepF32, data };
}

/** Any storage dtype → a fresh f32 copy. */
export function tensorToF32(t: Tensor): Float32Array {
  if (t.dtype === 'f32') return Float32Array.from(t.data as Float32Array);
  const bits = t.data as Uint16Array;
  const out = new Float32Array(bits.length);
  if (t.dtype === 'bf16') {
    const u32 = new Uint32Array(out.buffer); // bf16 is the top half of an f32
    for (let i = 0; i < bits.length; i++) u32[i] = bits[i]! << 16;
    return out;
  }
  for (let i = 0; i < bits.length; i++) out[i] = f16ToF32(bits[i]!);
  return out;
}

/** Reads `name` as f32, checking its shape (checkpoint_missing / checkpoint_corrupt name the tensor). */
export function readF32(source: WeightSource, name: string, shape: readonly number[]): Float32Array {
  if (!source.has(name)) throw new XdsError('checkpoint_missing', `tensor ${name} is missing from the checkpoint`, { param: name });
  const t = source.get(name);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new XdsError('checkpoint_corrupt', `tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`, { param: name });
  }
  return tensorToF32(t);
}

/** A planned copy of an HF tensor under a GGUF name. */
export function copied(source: WeightSource, hfName: string, ggufName: string, shape: readonly number[], keepF32 = false): PlannedTensor {
  return planned(ggufName, shape, () => readF32(source, hfName, shape), keepF32);
}

/**
 * RoPE halves → adjacent pairs (GGUF-EXPORT.md §4.3): w is [numBlocks·blockRows, cols]; inside each
 * block, the `dim` rows starting at `start` are reordered: new row 2i ← old i, new 2i+1 ← old i + dim/2.
 */
export function permuteHalvesToPairs(w: Float32Array, cols: number, blockRows: number, start: number, dim: number): Float32Array {
  const out = Float32Array.from(w);
  const numBlocks = w.length / (cols * blockRows);
  const half = dim / 2;
  for (let b = 0; b < numBlocks; b++) {
    for (let i = 0; i < half; i++) {
      const base = b * blockRows + start;
      out.set(w.subarray((base + i) * cols, (base + i + 1) * cols), (base + 2 * i) * cols);
      out.set(w.subarray((base + i + half) * cols, (base + i + half + 1) * cols), (base + 2 * i + 1) * cols);
    }
  }
  return out;
}

/** E matrices of one shape → one [E, …shape] tensor, expert e being slab e (router order). */
export function stackExperts(source: WeightSource, hfNames: readonly string[], ggufName: string, shape: readonly [number, number]): PlannedTensor {
  const n = shape[0] * shape[1];
  return planned(ggufName, [hfNames.length, ...shape], () => {
    const out = new Float32Array(hfNames.length * n); // [E, out, in] f32
    hfNames.forEach((name, e) => out.set(readF32(source, name, shape), e * n));
    return out;
  });
}

/** The ggml type a planned tensor is written as (GGUF-EXPORT.md §2 dtypes). */
export function ggmlTypeFor(t: PlannedTensor, type: ExportType): GgmlType {
  if (t.keepF32 || t.shape.length < 2 || type === 'f32') return 'f32';
  if (type === 'f16' || type === 'bf16') return type;
  // Q8_0 needs ne[0] (the last PyTorch dim) to be a multiple of 32; the converter falls back to F16.
  return (t.shape[t.shape.length - 1]! % 32 === 0) ? 'q8_0' : 'f16';
}

export function encodeAs(data: Float32Array, type: GgmlType): Uint8Array {
  if (type === 'f32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (type === 'q8_0') return quantizeQ8_0(data);
  const h = new Uint16Array(data.length);
  if (type === 'bf16') for (let i = 0; i < data.length; i++) h[i] = f32ToBf16(data[i]!);
  else for (let i = 0; i < data.length; i++) h[i] = f32ToF16(data[i]!);
  return new Uint8Array(h.buffer);
}

export function toWritable(t: PlannedTensor, type: ExportType): GgufTensorToWrite {
  const ggml = ggmlTypeFor(t, type);
  return { name: t.name, dims: [...t.shape].reverse(), type: ggml, encode: () => encodeAs(t.data(), ggml) };
}
