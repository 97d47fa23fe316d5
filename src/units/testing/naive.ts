/**
 * Test helper: naive f64 math straight from MODELS.md §1 (one token at a time, contiguous arrays,
 * no paging, no backend), the independent side of the unit tests.
 */

import { bf16ToF32 } from '../../core/dtype.js';
import type { Tensor } from '../../model/tensor.js';

export type Vec = number[];

/** A checkpoint tensor as a row-major number[] (bf16/f16 bits decoded for bf16 only). */
export function values(t: Tensor): Vec {
  return t.dtype === 'f32' ? Array.from(t.data) : Array.from(t.data, (b) => bf16ToF32(b));
}

/** y = W·x (+ b) for W [out, in] row-major. */
export function matvec(w: Vec, outDim: number, x: Vec, bias?: Vec): Vec {
  const inDim = x.length;
  return Array.from({ length: outDim }, (_, o) => {
    let acc = bias ? bias[o]! : 0;
    for (let i = 0; i < inDim; i++) acc += w[o * inDim + i]! * x[i]!;
    return acc;
  });
}

export function rmsnorm(x: Vec, w: Vec, eps: number): Vec {
  const r = 1 / Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length + eps);
  return x.map((v, j) => w[j]! * v * r);
}

export const silu = (z: number): number => z / (1 + Math.exp(-z));

export function mlp(x: Vec, gate: Vec, up: Vec, down: Vec, width: number): Vec {
  const g = matvec(gate, width, x);
  const u = matvec(up, width, x);
  return matvec(down, x.length, g.map((gi, i) => silu(gi) * u[i]!));
}

/** RoPE on a vector of rotary channels (dim = v.length). */
export function ropeVec(v: Vec, pos: number, invFreq: ArrayLike<number>, layout: 'halves' | 'interleaved', factor = 1): Vec {
  const out = v.slice();
  const half = v.length / 2;
  for (let i = 0; i < half; i++) {
    const a = pos * invFreq[i]!;
    const [p, q] = layout === 'halves' ? [i, i + half] : [2 * i, 2 * i + 1];
    out[p] = factor * (v[p]! * Math.cos(a) - v[q]! * Math.sin(a));
    out[q] = factor * (v[q]! * Math.cos(a) + v[p]! * Math.sin(a));
  }
  return out;
}

/** Softmax-weighted sum of values over keys 0 … last (inclusive), lo = first visible key. */
export function attend(q: Vec, keys: Vec[], vals: Vec[], scale: number, lo: number, last: number): Vec {
  const s: number[] = [];
  for (let u = lo; u <= last; u++) s.push(keys[u]!.reduce((a, k, d) => a + k * q[d]!, 0) * scale);
  const m = Math.max(...s);
  const e = s.map((x) => Math.exp(x - m));
  const z = e.reduce((a, b) => a + b, 0);
  return vals[0]!.map((_, d) => e.reduce((a, p, j) => a + (p / z) * vals[lo + j]![d]!, 0));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
