/**
 * Native matmul vs the reference backend (MODELS.md §8.3 tolerances): f32 / bf16 / int8 weights,
 * GEMV (decode) and packed GEMM (prefill) paths, odd sizes, tails, single rows, 1 and 2 threads,
 * AVX2 and (where the CPU has it) AVX-512 VNNI.
 * f32/bf16: |y − ref| ≤ 1e-5 · Σ|x·w| per element. int8 decode (GEMV): activation quantization
 * adds at most Σ_blocks (xScale_b / 2) · Σ_{i∈b} |w_i| (the rounding of x per 32-block, or per row
 * for per-channel weights), plus the same 1e-5 term; int8 prefill (GEMM) dequantizes: 1e-5 only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LinearWeight } from './backend.js';
import { referenceBackend, weightRow } from './reference.js';
import { quantizeLinearInt8 } from './quantize.js';
import { f32ToBf16 } from '../core/dtype.js';
import { isXdsError } from '../core/errors.js';
import { isaVariants, requireNative, rng, sharedF32 } from './native-test-util.js';
import { loadKernelsAddon } from './native.js';

const SHAPES: [rows: number, outDim: number, inDim: number][] = [
  [1, 1, 1], [1, 5, 7], [1, 37, 64], [2, 19, 100], [3, 40, 257], [1, 70, 1030], [4, 33, 96], [7, 50, 300], [13, 65, 513], [16, 48, 32], [17, 37, 129], [31, 18, 40], [32, 64, 300], [27, 32, 520],
];

function f32Weight(outDim: number, inDim: number, seed: number, bias: boolean): LinearWeight {
  const r = rng(seed);
  return { format: 'f32', outDim, inDim, data: sharedF32(outDim * inDim, r), ...(bias ? { bias: sharedF32(outDim, r) } : {}) };
}

function bf16Weight(w: LinearWeight & { format: 'f32' }): LinearWeight {
  const data = new Uint16Array(new SharedArrayBuffer(w.data.length * 2));
  for (let i = 0; i < data.length; i++) data[i] = f32ToBf16(w.data[i]!);
  return { format: 'bf16', outDim: w.outDim, inDim: w.inDim, data, ...(w.bias ? { bias: w.bias } : {}) };
}

/** Per-element bound: f32 rounding term plus (int8) the activation-quantization term. */
function bounds(x: Float32Array, w: LinearWeight, rows: number, int8Activations: boolean): Float64Array {
  const out = new Float64Array(rows * w.outDim);
  const row = new Float32Array(w.inDim);
  // Activation blocks: 32 wide, or the whole row for per-channel weights (per-token scales).
  const block = w.format === 'int8' && w.groupSize >= w.inDim ? w.inDim : 32;
  for (let o = 0; o < w.outDim; o++) {
    weightRow(w, o, row);
    for (let r = 0; r < rows; r++) {
      let absSum = Math.abs(w.bias?.[o] ?? 0), qErr = 0;
      for (let b = 0; b * block < w.inDim; b++) {
        let amax = 0, wAbs = 0;
        for (let i = b * block; i < Math.min(w.inDim, b * block + block); i++) {
          amax = Math.max(amax, Math.abs(x[r * w.inDim + i]!));
          wAbs += Math.abs(row[i]!);
          absSum += Math.abs(x[r * w.inDim + i]! * row[i]!);
        }
        qErr += (amax / 127 / 2) * wAbs * 1.0001;
      }
      out[r * w.outDim + o] = 1e-5 * absSum + 1e-30 + (int8Activations ? qErr : 0);
    }
  }
  return out;
}

function check(w: LinearWeight, rows: number, seed: number, int8Activations: boolean): void {
  const x = sharedF32(rows * w.inDim, rng(seed));
  const ref = new Float32Array(rows * w.outDim);
  referenceBackend.matmul(x, w, ref, rows);
  const bound = bounds(x, w, rows, int8Activations);
  for (const [threads, avx2Only] of isaVariants().flatMap((isa) => [[1, isa], [2, isa]] as const)) {
    const y = sharedF32(rows * w.outDim, () => NaN);
    requireNative(threads, avx2Only)?.matmul(x, w, y, rows);
    let worst = 0;
    for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i]! - ref[i]!) / bound[i]!);
    assert.ok(worst <= 1, `${w.format} rows=${rows} ${w.outDim}×${w.inDim} threads=${threads}: error ${worst.toFixed(3)}× the bound`);
  }
}

test('f32 matmul matches the reference (GEMV and packed GEMM, with and without bias)', () => {
  SHAPES.forEach(([rows, o, i], k) => check(f32Weight(o, i, 10 + k, k % 2 === 0), rows, 100 + k, false));
});

test('bf16 matmul matches the reference', () => {
  SHAPES.forEach(([rows, o, i], k) => check(bf16Weight(f32Weight(o, i, 20 + k, k % 3 === 0) as LinearWeight & { format: 'f32' }), rows, 200 + k, false));
});

test('int8 matmul (per channel and per 32-block) stays within the activation-quantization bound', () => {
  SHAPES.forEach(([rows, o, i], k) => {
    for (const gs of ['channel', 32] as const) check(quantizeLinearInt8(f32Weight(o, i, 30 + k, k % 2 === 1), gs), rows, 300 + k, true);
  });
});

test('float GEMV multi-row groups (3, 2, then 1 activation rows per weight load) match the reference for 1..15 rows', () => {
  // 11 outputs = two 4-row blocks + 3 single rows; inDim 77 = 9 vectors of 8 + a 5-element tail.
  for (let rows = 1; rows <= 15; rows++) {
    const w = f32Weight(11, 77, 70 + rows, rows % 2 === 0) as LinearWeight & { format: 'f32' };
    check(w, rows, 700 + rows, false);
    check(bf16Weight(w), rows, 800 + rows, false);
  }
});

test('int8 with 64- and 128-wide scale groups (1 and 3 rows) stays within the activation-quantization bound', () => {
  for (const gs of [64, 128]) for (const rows of [1, 3]) check(quantizeLinearInt8(f32Weight(21, 1030, 60 + gs, true), gs), rows, 600 + gs + rows, true);
});

test('per-channel int8: the 1-row streaming GEMV equals the multi-row GEMV bit for bit', () => {
  // Integer accumulation is exact, so the decode path (weight rows one after another) and the
  // multi-row path (4 weight rows share each activation block) must agree exactly.
  for (const [o, i] of [[37, 64], [70, 1030], [9, 2048 + 96 + 5], [5, 4096 + 32]] as const) {
    const w = quantizeLinearInt8(f32Weight(o, i, 50 + o, false), 'channel');
    const x = sharedF32(i, rng(500 + i));
    const x2 = sharedF32(2 * i, () => 0);
    x2.set(x, 0); x2.set(x, i);
    for (const threads of [1, 2]) {
      const y1 = sharedF32(o, () => NaN), y2 = sharedF32(2 * o, () => NaN);
      requireNative(threads, true)?.matmul(x, w, y1, 1);
      requireNative(threads, true)?.matmul(x2, w, y2, 2);
      assert.deepEqual(Array.from(y1), Array.from(y2.subarray(0, o)), `${o}×${i} threads=${threads}`);
    }
  }
});

test('int8 through the dequantizing packed GEMM (from 4 rows when configured) is within 1e-5', () => {
  const addon = loadKernelsAddon({ quiet: true });
  if (!addon) return;
  addon.configure(-1, -1, 0, 4);
  try {
    SHAPES.forEach(([rows, o, i], k) => {
      for (const gs of ['channel', 32] as const) check(quantizeLinearInt8(f32Weight(o, i, 40 + k, k % 2 === 0), gs), rows, 400 + k, rows < 4);
    });
  } finally {
    addon.configure(-1, -1, 0, 1 << 30);
  }
});

test('a large GEMV splits over 2 threads with bit-identical results', () => {
  // 1280 KiB of int8 weights: above matmul.c's WAKE_MIN_BYTES, so parked workers are woken.
  const w = quantizeLinearInt8(f32Weight(1024, 1280, 7, false), 32);
  const x = sharedF32(1280, rng(8));
  const y1 = new Float32Array(1024), y2 = new Float32Array(1024);
  requireNative(1)?.matmul(x, w, y1, 1);
  requireNative(2)?.matmul(x, w, y2, 1);
  assert.deepEqual(y2, y1);
  assert.ok((loadKernelsAddon({ quiet: true })?.configure(-1, -1).workers ?? 1) >= 1, 'the pool has a worker');
});

test('bad matmul input is an XdsError naming the field', () => {
  const nb = requireNative(1);
  if (!nb) return;
  const w = f32Weight(4, 8, 1, false);
  assert.throws(() => nb.matmul(new Float32Array(7), w, new Float32Array(4), 1), (e) => isXdsError(e, 'invalid_argument') && e.param === 'x');
  assert.throws(() => nb.matmul(new Float32Array(8), w, new Float32Array(3), 1), (e) => isXdsError(e) && e.param === 'y');
  const bad: LinearWeight = { format: 'int8', outDim: 1, inDim: 2, data: Int8Array.of(-128, 3), scales: Float32Array.of(1), groupSize: 2 };
  assert.throws(() => nb.matmul(new Float32Array(2), bad, new Float32Array(1), 1), (e) => isXdsError(e) && e.param === 'weight.data');
  const badGroup: LinearWeight = { format: 'int8', outDim: 1, inDim: 64, data: new Int8Array(64), scales: new Float32Array(4), groupSize: 16 };
  assert.throws(() => nb.matmul(new Float32Array(64), badGroup, new Float32Array(1), 1), (e) => isXdsError(e) && e.param === 'weight.groupSize');
});
