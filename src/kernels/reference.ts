/**
 * The reference ComputeBackend (ARCHITECTURE.md "Kernels"): plain TypeScript, written to be read,
 * the oracle the native backend is tested against and the fallback when the addon is missing.
 * f32 activations; every dot product and reduction is accumulated in f64 (JS numbers).
 * Implements MODELS.md §1.1 (RMSNorm), §1.2 (SiLU-GLU), §1.3 (RoPE, both layouts), §1.4 (paged
 * causal attention, GQA ⌊h/g⌋ mapping, sliding window), §4.4 (absorbed MLA attention) and §3 (the
 * routed experts of a MoE layer: the per-expert loop of moe-experts.ts over these kernels).
 */

import { bf16ToF32 } from '../core/dtype.js';
import type { ComputeBackend, KvArray, LinearWeight, MoeExpertsArgs, PagedAttentionArgs, PagedMlaArgs, RopeTable } from './backend.js';
import { moeExpertsLoop } from './moe-experts.js';
import { forEachSeq, mlaAbsorbLoop } from './paged-seqs.js';

const cvtF32 = new Float32Array(1);
const cvtU32 = new Uint32Array(cvtF32.buffer);

/** One weight row o as f32 values into `row` ([inDim] f32), whatever the storage format. */
export function weightRow(w: LinearWeight, o: number, row: Float32Array): void {
  const n = w.inDim;
  const base = o * n;
  if (w.format === 'f32') {
    row.set(w.data.subarray(base, base + n));
  } else if (w.format === 'bf16') {
    for (let i = 0; i < n; i++) {
      cvtU32[0] = w.data[base + i]! << 16;
      row[i] = cvtF32[0]!;
    }
  } else {
    const groups = Math.ceil(n / w.groupSize);
    for (let i = 0; i < n; i++) row[i] = w.data[base + i]! * w.scales[o * groups + Math.floor(i / w.groupSize)]!;
  }
}

function matmul(x: Float32Array, w: LinearWeight, y: Float32Array, rows: number): void {
  const { inDim, outDim } = w;
  const row = new Float32Array(inDim); // one dequantized weight row
  for (let o = 0; o < outDim; o++) {
    weightRow(w, o, row);
    const b = w.bias ? w.bias[o]! : 0;
    for (let r = 0; r < rows; r++) {
      const xo = r * inDim;
      let acc = 0;
      for (let i = 0; i < inDim; i++) acc += x[xo + i]! * row[i]!;
      y[r * outDim + o] = acc + b;
    }
  }
}

function rmsNorm(x: Float32Array, weight: Float32Array, eps: number, y: Float32Array, rows: number, dim: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += x[o + j]! * x[o + j]!;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let j = 0; j < dim; j++) y[o + j] = weight[j]! * (x[o + j]! * inv);
  }
}

function add(h: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) h[i] = h[i]! + y[i]!;
}

function siluMul(gate: Float32Array, up: Float32Array, out: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
}

/** Rotate one head's rotary channels x[base … base+dim) by position p. */
function ropeHead(x: Float32Array, base: number, p: number, t: RopeTable): void {
  const half = t.dim / 2;
  const interleaved = t.layout === 'interleaved';
  for (let i = 0; i < half; i++) {
    const angle = Math.fround(Math.fround(p) * t.invFreq[i]!);
    const c = Math.cos(angle) * t.attentionFactor;
    const s = Math.sin(angle) * t.attentionFactor;
    const a = interleaved ? base + 2 * i : base + i;
    const b = interleaved ? a + 1 : a + half;
    const xa = x[a]!;
    const xb = x[b]!;
    x[a] = xa * c - xb * s;
    x[b] = xb * c + xa * s;
  }
}

function rope(x: Float32Array, rows: number, rowStride: number, numHeads: number, headStride: number, offset: number, positions: Int32Array, table: RopeTable): void {
  for (let r = 0; r < rows; r++) {
    const p = positions[r]!;
    for (let h = 0; h < numHeads; h++) ropeHead(x, r * rowStride + h * headStride + offset, p, table);
  }
}

function softmaxRow(x: Float32Array | Float64Array, o: number, n: number): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, x[o + i]!);
  if (max === -Infinity) { x.fill(0, o, o + n); return; }
  let sum = 0;
  for (let i = 0; i < n; i++) { const e = Math.exp(x[o + i]! - max); x[o + i] = e; sum += e; }
  for (let i = 0; i < n; i++) x[o + i] = x[o + i]! / sum;
}

function softmax(x: Float32Array, rows: number, n: number): void {
  for (let r = 0; r < rows; r++) softmaxRow(x, r * n, n);
}

/** Element i of a KV cache layer as f32 (bf16 bits widened). */
function kv(cache: KvArray, i: number): number {
  return cache instanceof Uint16Array ? bf16ToF32(cache[i]!) : cache[i]!;
}

/** Physical cache row (block·blockSize + offset) of absolute position u through a block table. */
export function cacheRow(blockTable: Int32Array, blockSizeTokens: number, u: number): number {
  const block = blockTable[Math.floor(u / blockSizeTokens)];
  if (block === undefined) throw new RangeError(`position ${u} is beyond the block table (${blockTable.length} blocks)`);
  return block * blockSizeTokens + (u % blockSizeTokens);
}

/** Several sequences (`seqs`): one call of pagedAttentionOne per sequence. */
function pagedAttention(a: PagedAttentionArgs): void {
  forEachSeq(a, a.numHeads * a.headDim, a.numHeads * a.headDimV, pagedAttentionOne);
}

function pagedAttentionOne(a: PagedAttentionArgs): void {
  const { numHeads: H, numKvHeads: Hkv, headDim: dh, headDimV: dv, blockSizeTokens: bs } = a;
  const g = H / Hkv;
  for (let t = 0; t < a.positions.length; t++) {
    const p = a.positions[t]!;
    const first = a.slidingWindow > 0 ? Math.max(0, p - a.slidingWindow + 1) : 0;
    const n = p - first + 1;
    const rows = new Int32Array(n); // physical cache row of each visible position
    for (let j = 0; j < n; j++) rows[j] = cacheRow(a.blockTable, bs, first + j);
    const scores = new Float64Array(n);
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / g);
      const qo = (t * H + h) * dh;
      for (let j = 0; j < n; j++) {
        const ko = (rows[j]! * Hkv + kvh) * dh;
        let acc = 0;
        for (let d = 0; d < dh; d++) acc += a.q[qo + d]! * kv(a.kCache, ko + d);
        scores[j] = acc * a.scale;
      }
      softmaxRow(scores, 0, n);
      const oo = (t * H + h) * dv;
      for (let d = 0; d < dv; d++) {
        let acc = 0;
        for (let j = 0; j < n; j++) acc += scores[j]! * kv(a.vCache, (rows[j]! * Hkv + kvh) * dv + d);
        a.out[oo + d] = acc;
      }
    }
  }
}

/** `absorb`: the per-head products around the latent attention (paged-seqs.ts); `seqs`: one call per sequence. */
function pagedMlaAttention(a: PagedMlaArgs): void {
  if (a.absorb !== undefined) { mlaAbsorbLoop(referenceBackend, a, a.absorb); return; }
  forEachSeq(a, a.numHeads * (a.kvLoraRank + a.ropeDim), a.numHeads * a.kvLoraRank, pagedMlaOne);
}

function pagedMlaOne(a: PagedMlaArgs): void {
  const { numHeads: H, kvLoraRank: R, ropeDim: dr, blockSizeTokens: bs } = a;
  const w = R + dr;
  for (let t = 0; t < a.positions.length; t++) {
    const n = a.positions[t]! + 1;
    const rows = new Int32Array(n);
    for (let j = 0; j < n; j++) rows[j] = cacheRow(a.blockTable, bs, j);
    const scores = new Float64Array(n);
    for (let h = 0; h < H; h++) {
      const qo = (t * H + h) * w;
      for (let j = 0; j < n; j++) {
        const ko = rows[j]! * w;
        let acc = 0;
        for (let c = 0; c < w; c++) acc += a.q[qo + c]! * kv(a.latentCache, ko + c);
        scores[j] = acc * a.scale;
      }
      softmaxRow(scores, 0, n);
      const oo = (t * H + h) * R;
      for (let c = 0; c < R; c++) {
        let acc = 0;
        for (let j = 0; j < n; j++) acc += scores[j]! * kv(a.latentCache, rows[j]! * w + c);
        a.out[oo + c] = acc;
      }
    }
  }
}

export const referenceBackend: ComputeBackend = {
  name: 'reference',
  matmul,
  rmsNorm,
  siluMul,
  add,
  rope,
  softmax,
  pagedAttention,
  pagedMlaAttention,
  moeExperts: (a: MoeExpertsArgs): void => moeExpertsLoop(referenceBackend, a),
};
