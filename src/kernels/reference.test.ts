// The reference backend against tiny naive implementations written here (f64, no paging tricks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend as B } from './reference.js';
import type { LinearWeight, RopeTable } from './backend.js';
import { f32ToBf16, bf16ToF32 } from '../core/dtype.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 * 2 - 1;
  };
}
const rand = (n: number, r: () => number): Float32Array => Float32Array.from({ length: n }, r);

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let m = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!) / scale);
  return m;
}

function naiveMatmul(x: Float32Array, w: number[][], bias: Float32Array | undefined, rows: number): Float64Array {
  const out = new Float64Array(rows * w.length);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < w.length; o++) {
      let acc = bias ? bias[o]! : 0;
      for (let i = 0; i < w[o]!.length; i++) acc += x[r * w[o]!.length + i]! * w[o]![i]!;
      out[r * w.length + o] = acc;
    }
  }
  return out;
}

test('matmul f32 / bf16 / int8 (per-channel and per-32 groups) with bias', () => {
  const r = rng(1);
  const [rows, inDim, outDim] = [3, 64, 5];
  const x = rand(rows * inDim, r);
  const wf = rand(outDim * inDim, r);
  const bias = rand(outDim, r);
  const w2d = Array.from({ length: outDim }, (_, o) => Array.from(wf.subarray(o * inDim, (o + 1) * inDim)));
  const y = new Float32Array(rows * outDim);
  B.matmul(x, { format: 'f32', outDim, inDim, data: wf, bias }, y, rows);
  const e1 = maxRelErr(y, naiveMatmul(x, w2d, bias, rows));
  const bits = Uint16Array.from(wf, (v) => f32ToBf16(v));
  B.matmul(x, { format: 'bf16', outDim, inDim, data: bits }, y, rows);
  const e2 = maxRelErr(y, naiveMatmul(x, w2d.map((row, o) => row.map((_, i) => bf16ToF32(bits[o * inDim + i]!))), undefined, rows));
  let e3 = 0;
  for (const groupSize of [inDim, 32]) {
    const q = Int8Array.from({ length: outDim * inDim }, () => Math.round(r() * 127));
    const scales = rand(outDim * (inDim / groupSize), r);
    const w: LinearWeight = { format: 'int8', outDim, inDim, data: q, scales, groupSize };
    B.matmul(x, w, y, rows);
    const deq = w2d.map((row, o) => row.map((_, i) => q[o * inDim + i]! * scales[o * (inDim / groupSize) + Math.floor(i / groupSize)]!));
    e3 = Math.max(e3, maxRelErr(y, naiveMatmul(x, deq, undefined, rows)));
  }
  console.log(`matmul max rel err f32 ${e1.toExponential(2)} bf16 ${e2.toExponential(2)} int8 ${e3.toExponential(2)}`);
  for (const e of [e1, e2, e3]) assert.ok(e <= 1e-6, `rel err ${e}`);
});

test('rmsNorm (in place) and siluMul', () => {
  const r = rng(2);
  const [rows, dim, eps] = [2, 7, 1e-5];
  const x = rand(rows * dim, r);
  const w = rand(dim, r);
  const want = new Float64Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += x[i * dim + j]! ** 2;
    for (let j = 0; j < dim; j++) want[i * dim + j] = w[j]! * x[i * dim + j]! / Math.sqrt(ss / dim + eps);
  }
  B.rmsNorm(x, w, eps, x, rows, dim);
  assert.ok(maxRelErr(x, want) <= 1e-6);
  const g = rand(9, r);
  const u = rand(9, r);
  const want2 = Array.from(g, (gi, i) => gi / (1 + Math.exp(-gi)) * u[i]!);
  B.siluMul(g, u, g, 9);
  assert.ok(maxRelErr(g, want2) <= 1e-6);
});

test('rope: halves pairs i with i+d/2, interleaved pairs 2i with 2i+1; offset/stride/heads', () => {
  const r = rng(3);
  const table: RopeTable = { invFreq: Float32Array.from([1, 0.1, 0.01]), attentionFactor: 1.25, layout: 'halves', dim: 6 };
  const [rows, heads, headStride, offset] = [2, 2, 10, 3];
  const rowStride = heads * headStride;
  const pos = Int32Array.from([5, 17]);
  for (const layout of ['halves', 'interleaved'] as const) {
    const x = rand(rows * rowStride, r);
    const want = Float64Array.from(x);
    for (let t = 0; t < rows; t++) for (let h = 0; h < heads; h++) for (let i = 0; i < 3; i++) {
      const base = t * rowStride + h * headStride + offset;
      const [a, b] = layout === 'halves' ? [base + i, base + i + 3] : [base + 2 * i, base + 2 * i + 1];
      const ang = pos[t]! * table.invFreq[i]!;
      want[a] = 1.25 * (x[a]! * Math.cos(ang) - x[b]! * Math.sin(ang));
      want[b] = 1.25 * (x[b]! * Math.cos(ang) + x[a]! * Math.sin(ang));
    }
    B.rope(x, rows, rowStride, heads, headStride, offset, pos, { ...table, layout });
    assert.ok(maxRelErr(x, want) <= 1e-6, layout);
  }
});

test('softmax rows (max-subtracted, −∞ entries → 0)', () => {
  const x = Float32Array.from([1, 2, 3, -Infinity, 1000, 1000]);
  B.softmax(x, 2, 3);
  const e = [Math.exp(-2), Math.exp(-1), 1];
  const s = e[0]! + e[1]! + e[2]!;
  assert.ok(maxRelErr(x.subarray(0, 3), e.map((v) => v / s)) <= 1e-6);
  assert.deepEqual(Array.from(x.subarray(3)), [0, 0.5, 0.5]);
});

/** Contiguous naive attention over keys[0..P] (or the window) for one query head. */
function naiveAttend(q: ArrayLike<number>, keys: number[][], vals: number[][], scale: number, lo: number, hi: number): number[] {
  const s = keys.slice(lo, hi + 1).map((k) => k.reduce((a, kv, d) => a + kv * q[d]!, 0) * scale);
  const m = Math.max(...s);
  const e = s.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return vals[0]!.map((_, d) => e.reduce((a, p, j) => a + (p / z) * vals[lo + j]![d]!, 0));
}

test('pagedAttention: GQA ⌊h/g⌋, scattered block table, causal and sliding window', () => {
  const r = rng(4);
  const [H, Hkv, dh, dv, bs, numBlocks] = [4, 2, 5, 3, 4, 6];
  const blockTable = Int32Array.from([4, 1, 5]);
  const ctx = 11;
  const keys = Array.from({ length: ctx }, () => Array.from({ length: Hkv }, () => Array.from(rand(dh, r))));
  const vals = Array.from({ length: ctx }, () => Array.from({ length: Hkv }, () => Array.from(rand(dv, r))));
  const kCache = new Float32Array(numBlocks * bs * Hkv * dh).fill(NaN);
  const vCache = new Float32Array(numBlocks * bs * Hkv * dv).fill(NaN);
  for (let u = 0; u < ctx; u++) {
    const row = blockTable[Math.floor(u / bs)]! * bs + (u % bs);
    for (let j = 0; j < Hkv; j++) { kCache.set(keys[u]![j]!, (row * Hkv + j) * dh); vCache.set(vals[u]![j]!, (row * Hkv + j) * dv); }
  }
  const positions = Int32Array.from([3, 8, 10]);
  const q = rand(positions.length * H * dh, r);
  for (const W of [0, 4]) {
    const out = new Float32Array(positions.length * H * dv);
    B.pagedAttention({ q, out, kCache, vCache, blockTable, positions, numHeads: H, numKvHeads: Hkv, headDim: dh, headDimV: dv, blockSizeTokens: bs, scale: 0.4, slidingWindow: W });
    const want: number[] = [];
    positions.forEach((p, t) => {
      for (let h = 0; h < H; h++) {
        const j = Math.floor(h / (H / Hkv));
        const lo = W > 0 ? Math.max(0, p - W + 1) : 0;
        want.push(...naiveAttend(q.subarray((t * H + h) * dh), keys.map((k) => k[j]!), vals.map((v) => v[j]!), 0.4, lo, p));
      }
    });
    const err = maxRelErr(out, want);
    console.log(`pagedAttention W=${W} max rel err ${err.toExponential(2)}`);
    assert.ok(err <= 1e-6);
  }
});

test('pagedMlaAttention: one shared key [c ‖ k_pe], value c', () => {
  const r = rng(5);
  const [H, R, dr, bs] = [3, 6, 4, 2];
  const blockTable = Int32Array.from([2, 0, 3]);
  const ctx = 6;
  const lat = Array.from({ length: ctx }, () => Array.from(rand(R + dr, r)));
  const cache = new Float32Array(4 * bs * (R + dr)).fill(NaN);
  lat.forEach((row, u) => cache.set(row, (blockTable[Math.floor(u / bs)]! * bs + (u % bs)) * (R + dr)));
  const positions = Int32Array.from([4, 5]);
  const q = rand(2 * H * (R + dr), r);
  const out = new Float32Array(2 * H * R);
  B.pagedMlaAttention({ q, out, latentCache: cache, blockTable, positions, numHeads: H, kvLoraRank: R, ropeDim: dr, blockSizeTokens: bs, scale: 0.3 });
  const want: number[] = [];
  positions.forEach((p, t) => {
    for (let h = 0; h < H; h++) want.push(...naiveAttend(q.subarray((t * H + h) * (R + dr)), lat, lat.map((l) => l.slice(0, R)), 0.3, 0, p));
  });
  assert.ok(maxRelErr(out, want) <= 1e-6);
});
