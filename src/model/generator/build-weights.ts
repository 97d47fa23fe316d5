/**
 * Random weights for a generated checkpoint (MODELS.md §9.1): the tensor list comes from
 * model/tensor-names.ts (the same names and shapes the loader checks), each tensor drawn from its
 * own PRNG stream keyed by (seed, tensor name), so values do not depend on generation order.
 * Initialization: linear N(0, 1/fan_in), embeddings N(0, 1), norms 1 + 0.2·N, biases 0.1·N,
 * router N(0, 4/D), e_score_correction_bias 0.3·N (|0.3·N| with `nonNegativeBias`).
 */
import type { ModelSpec } from '../../config/model-spec.js';
import { modelTensorList, mtpTensorNames, EMBED_TOKENS, LM_HEAD, type TensorInfo } from '../tensor-names.js';
import { numElements, type Tensor } from '../tensor.js';
import { Rng } from './random.js';

export interface WeightOptions {
  readonly seed: number;
  readonly dtype: 'f32' | 'bf16';
  /** V3 fixtures compared with HF keep the correction bias ≥ 0 (MODELS.md §9.1). */
  readonly nonNegativeBias: boolean;
}

/** Mean and standard deviation of each tensor role (MODELS.md §9.1). */
function initOf(info: TensorInfo, hiddenSize: number): { mean: number; std: number } {
  switch (info.role) {
    case 'embedding': return { mean: 0, std: 1 };
    case 'linear': return { mean: 0, std: 1 / Math.sqrt(info.shape[1] ?? 1) };
    case 'norm': return { mean: 1, std: 0.2 };
    case 'bias': return { mean: 0, std: 0.1 };
    case 'router': return { mean: 0, std: 2 / Math.sqrt(hiddenSize) };
    case 'correction_bias': return { mean: 0, std: 0.3 };
  }
}

/** One tensor's values, f32. [numElements(shape)] */
export function randomValues(info: TensorInfo, spec: ModelSpec, opts: WeightOptions): Float32Array {
  const { mean, std } = initOf(info, spec.hiddenSize);
  const out = new Rng(opts.seed, info.name).fillNormal(new Float32Array(numElements(info.shape)), std, mean);
  if (info.role === 'correction_bias' && opts.nonNegativeBias) for (let i = 0; i < out.length; i++) out[i] = Math.abs(out[i]!);
  return out;
}

/** f32 → bf16 bits, round to nearest even, for a whole array (NaN cannot occur here). */
export function toBf16(x: Float32Array): Uint16Array {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const b = bits[i]!;
    out[i] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

function makeTensor(info: TensorInfo, values: Float32Array, dtype: 'f32' | 'bf16'): Tensor {
  // NOTE: the V3 checkpoint keeps e_score_correction_bias in f32 even when the rest is bf16.
  if (dtype === 'f32' || info.role === 'correction_bias') return { name: info.name, dtype: 'f32', shape: info.shape, data: values };
  return { name: info.name, dtype: 'bf16', shape: info.shape, data: toBf16(values) };
}

/** The checkpoint's tensor list, including MTP modules and their embed/head copies. */
export function checkpointTensorList(spec: ModelSpec): TensorInfo[] {
  return modelTensorList(spec, { includeMtp: true, includeMtpCopies: true });
}

/** Which main tensor an MTP copy duplicates (MODELS.md §6.1), or null. */
function copySource(spec: ModelSpec, name: string): string | null {
  for (let i = 0; i < spec.numMtpLayers; i++) {
    const n = mtpTensorNames(spec, i);
    if (name === n.embed) return EMBED_TOKENS;
    if (name === n.sharedHeadHead) return LM_HEAD;
  }
  return null;
}

/**
 * Builds every tensor, calling `onTensor(index, count, bytes)` after each one (progress).
 * MTP copies share the memory of the tensor they copy.
 */
export function buildWeights(spec: ModelSpec, opts: WeightOptions, onTensor?: (index: number, count: number, bytes: number) => void): Tensor[] {
  const infos = checkpointTensorList(spec);
  const built = new Map<string, Tensor>();
  const out: Tensor[] = [];
  infos.forEach((info, i) => {
    const source = copySource(spec, info.name);
    const shared = source === null ? undefined : built.get(source);
    const t = shared ? { ...shared, name: info.name } : makeTensor(info, randomValues(info, spec, opts), opts.dtype);
    built.set(info.name, t);
    out.push(t);
    onTensor?.(i + 1, infos.length, t.data.byteLength);
  });
  return out;
}
