/**
 * Packed GEMM (native/kernels/gemm_packed.c, docs/kernels.md "Packed GEMM: 4×24 micro-kernel")
 * against the reference backend: every row count's tiling (4-row tiles of packed activations and
 * a 1-3 row remainder tile, K tails of the 8-column row packing), bf16 K blocks with 8-column
 * tails and K < 8, a last strip narrower than 24 columns, the 2-thread split into chunks aligned
 * to 24 columns and claimed one ahead, and the 96-row blocks of long calls (16-column strips, 6-row
 * tiles over rows read in place).
 * Tolerance (MODELS.md §8.3): |y − ref| ≤ 1e-5 · Σ|x·w| per element; 1 and 2 threads bit for bit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LinearWeight } from './backend.js';
import { referenceBackend, weightRow } from './reference.js';
import { f32ToBf16 } from '../core/dtype.js';
import { requireNative, rng, sharedF32 } from './native-test-util.js';
import { loadKernelsAddon } from './native.js';

const DEFAULT_GEMM_MIN_ROWS = 16; // matmul.c's gemm_min_rows_float

function weight(format: 'f32' | 'bf16', outDim: number, inDim: number, seed: number): LinearWeight {
  const r = rng(seed);
  if (format === 'f32') return { format, outDim, inDim, data: sharedF32(outDim * inDim, r) };
  const data = new Uint16Array(new SharedArrayBuffer(outDim * inDim * 2));
  for (let i = 0; i < data.length; i++) data[i] = f32ToBf16(r());
  return { format, outDim, inDim, data };
}

/** Worst |y − ref| / (1e-5 · Σ|x·w|) over all elements. */
function worstError(x: Float32Array, w: LinearWeight, rows: number, y: Float32Array, ref: Float32Array): number {
  const row = new Float32Array(w.inDim);
  let worst = 0;
  for (let o = 0; o < w.outDim; o++) {
    weightRow(w, o, row);
    for (let r = 0; r < rows; r++) {
      let absSum = 0;
      for (let i = 0; i < w.inDim; i++) absSum += Math.abs(x[r * w.inDim + i]! * row[i]!);
      const i = r * w.outDim + o;
      worst = Math.max(worst, Math.abs(y[i]! - ref[i]!) / (1e-5 * absSum + 1e-30));
    }
  }
  return worst;
}

/** Runs the native matmul on 1 and 2 threads; checks the bound and that both agree bit for bit. */
function check(w: LinearWeight, rows: number, seed: number): void {
  const x = sharedF32(rows * w.inDim, rng(seed));
  const ref = new Float32Array(rows * w.outDim);
  referenceBackend.matmul(x, w, ref, rows);
  const y1 = sharedF32(rows * w.outDim, () => NaN), y2 = sharedF32(rows * w.outDim, () => NaN);
  const one = requireNative(1), two = requireNative(2);
  if (!one || !two) return;
  one.matmul(x, w, y1, rows);
  two.matmul(x, w, y2, rows);
  const label = `${w.format} rows=${rows} ${w.outDim}×${w.inDim}`;
  const worst = worstError(x, w, rows, y1, ref);
  assert.ok(worst <= 1, `${label}: error ${worst.toFixed(3)}× the bound`);
  assert.deepEqual(Array.from(y2), Array.from(y1), `${label}: 2 threads differ from 1`);
}

/** Runs fn with the packed GEMM taking every float matmul of at least `rows` rows. */
function withGemmFrom(rows: number, fn: () => void): void {
  const addon = loadKernelsAddon({ quiet: true });
  if (!addon) return;
  addon.configure(-1, -1, rows, -1);
  try {
    fn();
  } finally {
    addon.configure(-1, -1, DEFAULT_GEMM_MIN_ROWS, -1);
  }
}

test('packed GEMM row tiling: every remainder of 4 (and of the former 6) rows matches the reference', () => {
  // 37 outputs = a 24-column strip + a 13-column strip; 203 = 25 blocks of 8 + 3; 600 = K blocks 256 + 256 + 88.
  withGemmFrom(1, () => {
    const rowCounts = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 19, 20, 21, 32, 33, 38];
    rowCounts.forEach((rows, k) => {
      for (const format of ['f32', 'bf16'] as const) check(weight(format, 37, k % 2 === 0 ? 203 : 600, 10 + k), rows, 100 + k);
    });
  });
});

test('packed GEMM bf16: K under 8, K tails after full K blocks, fewer than 8 or 16 columns', () => {
  withGemmFrom(1, () => {
    const shapes: [rows: number, outDim: number, inDim: number][] = [
      [7, 5, 3], [8, 16, 7], [14, 9, 9], [20, 24, 263], [32, 8, 512], [33, 17, 520], [26, 40, 64],
    ];
    shapes.forEach(([rows, o, i], k) => check(weight('bf16', o, i, 40 + k), rows, 400 + k));
  });
});

test('packed GEMM over 2 threads (chunks claimed one ahead, a narrow last strip) equals 1 thread bit for bit', () => {
  // 300 outputs = 18 strips + 12 columns, 16 chunks over 2 threads; ≥ 1 MiB of work (matmul.c's
  // WAKE_MIN_BYTES), so the parked worker is woken and takes part.
  for (const format of ['f32', 'bf16'] as const) check(weight(format, 300, 520, 7), 40, 8);
  check(weight('bf16', 1024, 256, 9), 32, 10);
});

test('packed GEMM row blocks (96 rows each, gemm_packed.c MC_ROWS; 6×16 tiles): several blocks and a partial one match the reference, 2 threads', () => {
  // 200 rows = 96 + 96 + 8; 97 = one row past a block; 192 = two whole blocks.
  for (const [rows, o, i] of [[97, 40, 300], [192, 24, 64], [200, 37, 520]] as const) {
    for (const format of ['f32', 'bf16'] as const) check(weight(format, o, i, rows + o), rows, rows * 3);
  }
  // Over 96 rows the strips are 16 columns wide (xds_gemm_strip): 2-thread chunks aligned to 16.
  check(weight('bf16', 1000, 300, 3), 100, 4);
});

test('packed GEMM strips of 24 columns: widths around 24 and 48, 2-thread chunks aligned to 24, equal 1 thread bit for bit', () => {
  // 1000 outputs = 41 strips + 16 columns over 16 chunks (≥ 1 MiB of work: both threads take part);
  // K 517 = two 256-column K blocks + 5 (bf16 8-column tails; row packing's scalar tail).
  withGemmFrom(1, () => {
    for (const o of [23, 24, 25, 47, 48, 49]) check(weight('bf16', o, 70, o), 6, o + 1);
  });
  for (const format of ['f32', 'bf16'] as const) for (const rows of [17, 31, 32]) check(weight(format, 1000, 517, rows), rows, rows + 5);
});

test('packed GEMM on packed activation rows (≥ 192 outputs, kernels.h XDS_GEMM_PACK_ROWS_MIN_OUT): 1-3 row tails, 8-column last strip, 96-row blocks', () => {
  // 200 outputs = 8 strips of 24 + 8 columns; K 203 = 25 × 8 + 3 (the row packing's scalar tail).
  withGemmFrom(1, () => {
    for (const format of ['f32', 'bf16'] as const) {
      for (const rows of [1, 2, 3, 5, 6, 7, 97]) check(weight(format, 200, 203, rows), rows, rows + 50);
    }
  });
});
