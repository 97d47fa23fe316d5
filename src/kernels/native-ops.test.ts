/**
 * Native RMSNorm, SiLU-GLU, softmax and RoPE vs the reference backend (MODELS.md §1.1–§1.3,
 * §8.3: max relative error ≤ 1e-5 of the output's magnitude), including in-place/aliased calls,
 * odd widths, both RoPE layouts, an attention factor ≠ 1 and strided heads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RopeTable } from './backend.js';
import { referenceBackend } from './reference.js';
import { isXdsError } from '../core/errors.js';
import { maxAbs, maxAbsDiff, requireNative, rng, sharedF32 } from './native-test-util.js';

const nb = requireNative(2);

function close(got: Float32Array, want: Float32Array, what: string, rel = 1e-5): void {
  const err = maxAbsDiff(got, want), mag = Math.max(maxAbs(want), 1e-30);
  assert.ok(err <= rel * mag, `${what}: max |Δ| ${err.toExponential(2)} > ${rel}·${mag.toExponential(2)}`);
}

test('rmsNorm matches the reference, out of place and in place', { skip: !nb }, () => {
  for (const [rows, dim] of [[1, 1], [1, 7], [3, 64], [5, 131], [2, 4096]] as const) {
    const r = rng(rows * 1000 + dim);
    const x = sharedF32(rows * dim, r, 3), w = sharedF32(dim, r), want = new Float32Array(rows * dim), got = new Float32Array(rows * dim);
    referenceBackend.rmsNorm(x, w, 1e-6, want, rows, dim);
    nb!.rmsNorm(x, w, 1e-6, got, rows, dim);
    close(got, want, `rmsNorm ${rows}×${dim}`);
    nb!.rmsNorm(x, w, 1e-6, x, rows, dim);
    close(x, want, `rmsNorm in place ${rows}×${dim}`);
  }
});

test('siluMul matches the reference, also with out aliasing gate', { skip: !nb }, () => {
  for (const n of [1, 9, 1000]) {
    const r = rng(n);
    const g = sharedF32(n, r, 8), u = sharedF32(n, r), want = new Float32Array(n);
    referenceBackend.siluMul(g, u, want, n);
    nb!.siluMul(g, u, g, n);
    close(g, want, `siluMul n=${n}`);
  }
});

test('add matches the reference bit for bit, on views at an offset', { skip: !nb }, () => {
  for (const n of [1, 7, 8, 1003]) {
    const r = rng(n + 5);
    const h = sharedF32(n + 3, r, 5), y = sharedF32(n, r, 1e-3), want = Float32Array.from(h);
    referenceBackend.add!(want.subarray(3), y, n);
    nb!.add!(h.subarray(3), y, n);
    assert.deepEqual(h, want, `add n=${n}`);
  }
  assert.throws(() => nb!.add!(new Float32Array(3), new Float32Array(4), 4), (e: unknown) => isXdsError(e) && e.param === 'h');
});

test('softmax matches the reference and sums to 1', { skip: !nb }, () => {
  for (const [rows, n] of [[1, 1], [2, 5], [3, 300]] as const) {
    const x = sharedF32(rows * n, rng(n), 20), want = Float32Array.from(x);
    referenceBackend.softmax(want, rows, n);
    nb!.softmax(x, rows, n);
    close(x, want, `softmax ${rows}×${n}`);
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i]!;
    assert.ok(Math.abs(s - 1) < 1e-5);
  }
});

function table(dim: number, layout: RopeTable['layout'], attentionFactor: number): RopeTable {
  const invFreq = new Float32Array(dim / 2);
  for (let i = 0; i < invFreq.length; i++) invFreq[i] = Math.fround(Math.pow(10000, (-2 * i) / dim));
  return { invFreq, attentionFactor, layout, dim };
}

test('rope matches the reference (halves and interleaved, strided heads with an offset)', { skip: !nb }, () => {
  const cases = [
    { rows: 3, heads: 2, headStride: 16, offset: 0, dim: 16, layout: 'halves', factor: 1 },
    { rows: 2, heads: 3, headStride: 24, offset: 16, dim: 8, layout: 'interleaved', factor: 1.2 },
    { rows: 1, heads: 1, headStride: 2, offset: 0, dim: 2, layout: 'interleaved', factor: 1 },
  ] as const;
  for (const c of cases) {
    const rowStride = c.heads * c.headStride + 5;
    const x = sharedF32(c.rows * rowStride, rng(c.dim), 2), want = Float32Array.from(x);
    const positions = Int32Array.from({ length: c.rows }, (_, i) => i * 977 + 3);
    const t = table(c.dim, c.layout, c.factor);
    referenceBackend.rope(want, c.rows, rowStride, c.heads, c.headStride, c.offset, positions, t);
    nb!.rope(x, c.rows, rowStride, c.heads, c.headStride, c.offset, positions, t);
    close(x, want, `rope ${c.layout} dim=${c.dim}`);
  }
});

test('rope and rmsNorm reject buffers that are too short, naming the field', { skip: !nb }, () => {
  const t = table(8, 'halves', 1);
  assert.throws(() => nb!.rope(new Float32Array(15), 2, 8, 1, 8, 0, Int32Array.of(0, 1), t), (e) => isXdsError(e, 'invalid_argument') && e.param === 'x');
  assert.throws(() => nb!.rope(new Float32Array(16), 2, 8, 1, 8, 0, Int32Array.of(0), t), (e) => isXdsError(e) && e.param === 'positions');
  assert.throws(() => nb!.rmsNorm(new Float32Array(8), new Float32Array(3), 1e-6, new Float32Array(8), 2, 4), (e) => isXdsError(e) && e.param === 'weight');
});
