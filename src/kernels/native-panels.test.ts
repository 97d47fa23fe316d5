/**
 * bf16 GEMM panels prepared once (native-panels.ts, gemm_packed.c xds_pack_bf16_panels; docs/kernels.md
 * "GEMM weights packed once"): the layout against a naive transpose (odd outDim, K tails, zero
 * padding), and the packed GEMM reading panels against the same GEMM transposing the weights per
 * call, bit for bit (each output stays one FMA chain in increasing k): last strips of every width
 * 1–24 (24-column strips, ≤ 96 rows) and 1–16 (16-column strips, more rows), K tails and several
 * K blocks, 1 and 2 threads; the backend hook (made at the first GEMM-sized call, budget, views).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { f32ToBf16 } from '../core/dtype.js';
import { XdsError } from '../core/errors.js';
import { referenceBackend } from './reference.js';
import { loadKernelsAddon, nativeBackend, type KernelsAddon } from './native.js';
import { panelBytesUsed, panelElems, setPanelBudget } from './native-panels.js';
import { rng, sharedF32 } from './native-test-util.js';
import type { LinearWeight } from './backend.js';
import { weightRows } from './paged-seqs.js';

const BF16 = 1;

function bf16Data(n: number, seed: number): Uint16Array {
  const r = rng(seed), d = new Uint16Array(new SharedArrayBuffer(n * 2));
  for (let i = 0; i < n; i++) d[i] = f32ToBf16(r());
  return d;
}

function addonOrSkip(): KernelsAddon | null {
  const a = loadKernelsAddon({ quiet: true });
  if (!a && process.env.XDS_NO_NATIVE !== '1') throw new Error('build/kernels.node is missing: run npm run build:native');
  return a;
}

function panelsOf(addon: KernelsAddon, w: Uint16Array, n: number, k: number): Uint16Array {
  const p = new Uint16Array(panelElems(n, k)).fill(0xffff); // padding must be written as 0
  addon.packBf16Panels(w, n, k, p);
  return p;
}

test('panel layout: [ceil(N/8)][K][8] bf16, channel 8g+j of group g at k, zero padded', () => {
  const addon = addonOrSkip();
  if (!addon) return;
  for (const [n, k] of [[1, 1], [5, 7], [8, 9], [37, 203], [24, 16]] as const) {
    const w = bf16Data(n * k, n * 31 + k), p = panelsOf(addon, w, n, k);
    for (let g = 0; g < Math.ceil(n / 8); g++)
      for (let i = 0; i < k; i++)
        for (let j = 0; j < 8; j++) {
          const o = g * 8 + j, want = o < n ? w[o * k + i]! : 0;
          assert.equal(p[(g * k + i) * 8 + j], want, `N ${n} K ${k}: group ${g} k ${i} lane ${j}`);
        }
  }
});

/** y of the addon's matmul with and without panels (GEMM from `gemmFrom` rows). */
function pair(addon: KernelsAddon, n: number, k: number, rows: number, threads: number, seed: number): [Float32Array, Float32Array] {
  const w = bf16Data(n * k, seed), p = panelsOf(addon, w, n, k);
  const x = sharedF32(rows * k, rng(seed + 1)), bias = sharedF32(n, rng(seed + 2));
  const y0 = sharedF32(rows * n, () => NaN), y1 = sharedF32(rows * n, () => NaN);
  addon.matmul(x, BF16, w, null, 0, n, k, bias, y0, rows, threads);
  addon.matmul(x, BF16, w, null, 0, n, k, bias, y1, rows, threads, p);
  return [y0, y1];
}

function sameBits(a: Float32Array, b: Float32Array, label: string): void {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) if (ua[i] !== ub[i]) assert.fail(`${label}: element ${i} ${a[i]} (transposing) vs ${b[i]} (panels)`);
}

test('packed GEMM over panels equals the transposing GEMM bit for bit: every strip width, K tails, 1 and 2 threads', () => {
  const addon = addonOrSkip();
  if (!addon) return;
  addon.configure(-1, -1, 1, -1); // the GEMM from 1 row, so small row counts run it too
  try {
    let seed = 1;
    // N 1..48: last 24-column strips of every width; rows ≤ 96: 4×24 tiles, > 96: 16-column strips.
    for (let n = 1; n <= 48; n += n < 26 ? 1 : 5)
      for (const [rows, k] of [[3, 9], [32, 203], [100, 37]] as const)
        for (const t of [1, 2]) sameBits(...pair(addon, n, k, rows, t, seed++), `N ${n} K ${k} rows ${rows} threads ${t}`);
    // Several K blocks (256) with a tail, 24- and 16-column strips, the packed-rows path (≥ 192 outputs).
    // 240 × 264 × 32: 24-column strips over packed rows whose first tile widens the panels (2 K blocks).
    for (const [n, k, rows] of [[200, 600, 33], [240, 264, 32], [200, 600, 130], [37, 1, 5], [9, 257, 97]] as const)
      for (const t of [1, 2]) sameBits(...pair(addon, n, k, rows, t, seed++), `N ${n} K ${k} rows ${rows} threads ${t}`);
  } finally {
    addon.configure(-1, -1, 16, -1);
  }
});

test('backend: panels made at the first GEMM-sized bf16 call, within the budget; weightRows views of one buffer stay apart', () => {
  const addon = addonOrSkip();
  const be = nativeBackend({ numThreads: 2, quiet: true });
  if (!addon || !be) return;
  const n = 40, k = 72, rows = 20, data = bf16Data(2 * n * k, 7);
  const whole: LinearWeight = { format: 'bf16', outDim: 2 * n, inDim: k, data };
  const halves = [weightRows(whole, 0, n), weightRows(whole, n, n)];
  const x = sharedF32(rows * k, rng(8));
  const before = panelBytesUsed();
  be.matmul(x, halves[0]!, new Float32Array(rows * n), 1); // GEMV-sized: nothing made
  assert.equal(panelBytesUsed(), before);
  for (const w of [...halves, halves[1]!]) {
    const y = new Float32Array(rows * n), ref = new Float32Array(rows * n), plain = sharedF32(rows * n, () => NaN);
    be.matmul(x, w, y, rows);
    addon.matmul(x, BF16, w.data, null, 0, n, k, null, plain, rows, 2);
    sameBits(plain, y, 'backend vs addon without panels');
    referenceBackend.matmul(x, w, ref, rows);
    for (let i = 0; i < y.length; i++) assert.ok(Math.abs(y[i]! - ref[i]!) <= 1e-4, `element ${i}: ${y[i]} vs reference ${ref[i]}`);
  }
  assert.equal(panelBytesUsed() - before, 2 * panelElems(n, k) * 2, 'one copy per view, made once');
  try {
    setPanelBudget(0);
    const fresh: LinearWeight = { format: 'bf16', outDim: n, inDim: k, data: bf16Data(n * k, 9) };
    be.matmul(x, fresh, new Float32Array(rows * n), rows);
    assert.equal(panelBytesUsed() - before, 2 * panelElems(n, k) * 2, 'budget 0: no copy');
  } finally {
    setPanelBudget(2 ** 31);
  }
  assert.throws(() => nativeBackend({ panelBudgetBytes: -1, quiet: true }), (e: unknown) => e instanceof XdsError && e.param === 'panelBudgetBytes');
});
