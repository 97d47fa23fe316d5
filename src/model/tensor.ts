/**
 * Tensors as the loader hands them out: a dtype, a shape and a typed view over (usually shared)
 * memory. 2-D weights are [out, in] row-major (MODELS.md §0), so one output is one contiguous row.
 */

export type StorageDType = 'f32' | 'f16' | 'bf16';

export interface Tensor {
  readonly name: string;
  readonly dtype: StorageDType;
  readonly shape: readonly number[];
  /** f32 → Float32Array; f16/bf16 → Uint16Array of raw bits. Backed by a SharedArrayBuffer when loaded. */
  readonly data: Float32Array | Uint16Array;
}

/** Read access to a checkpoint's tensors by Hugging Face name. */
export interface WeightSource {
  has(name: string): boolean;
  /** Throws XdsError('checkpoint_missing') naming the tensor when absent. */
  get(name: string): Tensor;
  names(): string[];
}

export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
