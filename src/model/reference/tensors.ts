/**
 * Independent reference, tensor access: reads a checkpoint tensor by its Hugging Face name
 * (MODELS.md §2–§6 tables) and decodes it to float64 from the raw storage bits itself, so neither
 * the engine's name mapping nor its dtype helpers can hide a bug. Shapes are checked against the
 * shape MODELS.md gives for that name.
 */
import { XdsError } from '../../core/errors.js';
import type { Tensor, WeightSource } from '../tensor.js';

/** A decoded tensor: row-major float64 values with its shape. */
export interface F64Tensor {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

const decodeCache = new WeakMap<WeightSource, Map<string, F64Tensor>>();

/** bf16 bits → value: the bits are the top half of an IEEE binary32 (MODELS.md §0). */
export function decodeBf16Bits(bits: number): number {
  const u = (bits & 0xffff) << 16;
  const sign = u >>> 31 ? -1 : 1;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -149;
  return sign * (1 + mant / 2 ** 23) * 2 ** (exp - 127);
}

/** IEEE binary16 bits → value (1 sign, 5 exponent bits with bias 15, 10 mantissa bits). */
export function decodeF16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function decode(t: Tensor): Float64Array {
  const n = t.data.length;
  const out = new Float64Array(n); // [numel] f64
  if (t.dtype === 'f32') {
    for (let i = 0; i < n; i++) out[i] = t.data[i]!;
  } else {
    const dec = t.dtype === 'bf16' ? decodeBf16Bits : decodeF16Bits;
    for (let i = 0; i < n; i++) out[i] = dec(t.data[i]!);
  }
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The tensor `name` as float64, checked to have `shape`. Missing → XdsError('checkpoint_missing'),
 * wrong shape → XdsError('checkpoint_corrupt'), both naming the tensor.
 */
export function readTensor(ws: WeightSource, name: string, shape: readonly number[]): Float64Array {
  let cache = decodeCache.get(ws);
  if (!cache) decodeCache.set(ws, (cache = new Map()));
  let hit = cache.get(name);
  if (!hit) {
    if (!ws.has(name)) throw new XdsError('checkpoint_missing', `reference: tensor ${name} is missing`, { param: name });
    const t = ws.get(name);
    hit = { shape: [...t.shape], data: decode(t) };
    cache.set(name, hit);
  }
  if (!sameShape(hit.shape, shape)) {
    throw new XdsError('checkpoint_corrupt',
      `reference: tensor ${name} has shape [${hit.shape.join(', ')}], expected [${shape.join(', ')}]`, { param: name });
  }
  return hit.data;
}

/** Like readTensor, or null when the checkpoint has no tensor of that name. */
export function readOptional(ws: WeightSource, name: string, shape: readonly number[]): Float64Array | null {
  return ws.has(name) ? readTensor(ws, name, shape) : null;
}
