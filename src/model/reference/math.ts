/**
 * Independent reference, elementary float64 math straight from MODELS.md §0–§1: linear layers
 * (y = x·Wᵀ + b, W stored [out, in]), RMSNorm, SiLU-GLU and a max-subtracted softmax.
 * Deliberately naive: plain loops, float64 everywhere, nothing shared with src/kernels/.
 */

/** y[t, o] = Σ_i x[t, i]·W[o, i] (+ b[o]).  x: [T, inDim], W: [outDim, inDim] → [T, outDim] f64. */
export function linear(x: Float64Array, w: Float64Array, outDim: number, inDim: number, bias?: Float64Array | null): Float64Array {
  const numRows = x.length / inDim;
  const y = new Float64Array(numRows * outDim); // [T, outDim] f64
  for (let t = 0; t < numRows; t++) {
    for (let o = 0; o < outDim; o++) {
      let s = bias ? bias[o]! : 0;
      for (let i = 0; i < inDim; i++) s += x[t * inDim + i]! * w[o * inDim + i]!;
      y[t * outDim + o] = s;
    }
  }
  return y;
}

/** RMSNorm of every n-wide row of x: y = w ⊙ x / sqrt(mean(x²) + eps) (MODELS.md §1.1). */
export function rmsNorm(x: Float64Array, w: Float64Array, n: number, eps: number): Float64Array {
  const y = new Float64Array(x.length); // [rows, n] f64
  for (let r = 0; r < x.length / n; r++) {
    let ss = 0;
    for (let j = 0; j < n; j++) ss += x[r * n + j]! ** 2;
    const inv = 1 / Math.sqrt(ss / n + eps);
    for (let j = 0; j < n; j++) y[r * n + j] = w[j]! * (x[r * n + j]! * inv);
  }
  return y;
}

export function silu(z: number): number {
  return z / (1 + Math.exp(-z));
}

export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/** Softmax of a whole vector, max-subtracted; −∞ entries get probability 0. */
export function softmax(z: readonly number[] | Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of z) if (v > max) max = v;
  const p = new Float64Array(z.length);
  let sum = 0;
  for (let i = 0; i < z.length; i++) sum += p[i] = z[i] === -Infinity ? 0 : Math.exp(z[i]! - max);
  for (let i = 0; i < p.length; i++) p[i] = p[i]! / sum;
  return p;
}

/** Weights of one SiLU-GLU MLP of width `width` (MODELS.md §1.2). */
export interface GluWeights {
  readonly gate: Float64Array; // [width, D]
  readonly up: Float64Array; // [width, D]
  readonly down: Float64Array; // [D, width]
  readonly width: number;
}

/** (silu(x·W_gateᵀ) ⊙ x·W_upᵀ)·W_downᵀ for x: [T, D] → [T, D] f64. */
export function siluGlu(x: Float64Array, m: GluWeights, dim: number): Float64Array {
  const g = linear(x, m.gate, m.width, dim); // [T, width]
  const u = linear(x, m.up, m.width, dim); // [T, width]
  for (let i = 0; i < g.length; i++) g[i] = silu(g[i]!) * u[i]!;
  return linear(g, m.down, dim, m.width);
}

/** One row of a row-major matrix, as a view. */
export function row(a: Float64Array, r: number, width: number): Float64Array {
  return a.subarray(r * width, (r + 1) * width);
}
