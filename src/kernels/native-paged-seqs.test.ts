/**
 * Multi-sequence paged attention (PagedSeqs: many sequences in one call, each with its own rows and
 * block table; MODELS.md §1.4, §4.4) on the native backend vs the reference backend (one call per
 * sequence, f64 accumulation): random block tables (distinct physical blocks per sequence), varied
 * context lengths, 1–3 rows per sequence, rows left out between sequences (must stay untouched),
 * 1 and 2 threads, and a case large enough to wake the pool. Tolerance: max |Δ| ≤ 1e-5 · max|out|.
 * The native multi-sequence call must also equal native one-sequence calls bit for bit (each
 * (row, head) is computed by one thread with the same arithmetic). Bad layouts are XdsErrors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ComputeBackend, PagedAttentionArgs, PagedMlaArgs, PagedSeqs } from './backend.js';
import { forEachSeq } from './paged-seqs.js';
import { referenceBackend } from './reference.js';
import { isXdsError } from '../core/errors.js';
import { maxAbs, maxAbsDiff, randomLayout, requireNative, rng, sharedF32, type Layout } from './native-test-util.js';

const nb1 = requireNative(1);
const nb2 = requireNative(2);
const SENTINEL = 7.25;

function mlaCase(H: number, R: number, dr: number, bs: number, L: Layout, seed: number): PagedMlaArgs {
  const r = rng(seed);
  return {
    q: sharedF32(L.numRows * H * (R + dr), r), out: new Float32Array(L.numRows * H * R).fill(SENTINEL), latentCache: sharedF32(L.numBlocks * bs * (R + dr), r),
    blockTable: L.blockTable, positions: L.positions, seqs: L.seqs, numHeads: H, kvLoraRank: R, ropeDim: dr, blockSizeTokens: bs, scale: 0.11,
  };
}

function gqaCase(H: number, Hkv: number, D: number, Dv: number, bs: number, window: number, L: Layout, seed: number): PagedAttentionArgs {
  const r = rng(seed);
  return {
    q: sharedF32(L.numRows * H * D, r), out: new Float32Array(L.numRows * H * Dv).fill(SENTINEL),
    kCache: sharedF32(L.numBlocks * bs * Hkv * D, r), vCache: sharedF32(L.numBlocks * bs * Hkv * Dv, r),
    blockTable: L.blockTable, positions: L.positions, seqs: L.seqs, numHeads: H, numKvHeads: Hkv, headDim: D, headDimV: Dv,
    blockSizeTokens: bs, scale: 1 / Math.sqrt(D), slidingWindow: window,
  };
}

/** Rows no sequence owns must still hold the sentinel. */
function untouched(out: Float32Array, L: Layout, width: number): boolean {
  const owned = new Uint8Array(L.numRows);
  L.seqs.firstRow.forEach((f, s) => owned.fill(1, f, f + L.seqs.numRows[s]!));
  return owned.every((o, row) => o === 1 || out.subarray(row * width, (row + 1) * width).every((v) => v === SENTINEL));
}

/**
 * Runs `call` (writing `out`) on 1 and 2 threads: within 1e-5 of the reference's magnitude, rows
 * outside every sequence untouched, bit-identical to one native call per sequence.
 */
function checkNative(label: string, out: Float32Array, want: Float32Array, oneByOne: Float32Array, L: Layout, width: number, call: (nb: ComputeBackend) => void): void {
  for (const nb of [nb1!, nb2!]) {
    out.fill(SENTINEL);
    call(nb);
    const d = maxAbsDiff(out, want);
    assert.ok(d <= 1e-5 * maxAbs(want), `${label} via ${nb.name}: ${d}`);
    assert.ok(untouched(out, L, width), `${label}: a row outside every sequence was written`);
    assert.deepEqual(out, oneByOne, `${label} via ${nb.name}: differs from one call per sequence`);
  }
}

const MLA_CASES = [
  { H: 4, R: 32, dr: 8, bs: 4, contexts: [0, 7, 13, 2, 20, 5], rows: [1, 1, 2, 1, 3, 1] },
  { H: 3, R: 17, dr: 0, bs: 3, contexts: [9, 1], rows: [1, 1] },
  { H: 8, R: 64, dr: 16, bs: 16, contexts: [120, 90, 100, 70, 130, 110, 95, 85, 60, 140, 75, 105], rows: Array(12).fill(1) as number[] }, // wakes the pool
];

test('multi-sequence absorbed-MLA attention: native (1, 2 threads) == reference, == one native call per sequence', { skip: !nb2 }, () => {
  MLA_CASES.forEach((c, k) => {
    const L = randomLayout(c.contexts, c.rows, c.bs, 11 + k);
    const a = mlaCase(c.H, c.R, c.dr, c.bs, L, 5 + k), want = new Float32Array(a.out).fill(SENTINEL);
    referenceBackend.pagedMlaAttention({ ...a, out: want });
    const oneByOne = new Float32Array(a.out.length).fill(SENTINEL);
    forEachSeq({ ...a, out: oneByOne }, c.H * (c.R + c.dr), c.H * c.R, (one) => nb1!.pagedMlaAttention(one));
    checkNative(`MLA case ${k}`, a.out, want, oneByOne, L, c.H * c.R, (nb) => nb.pagedMlaAttention(a));
  });
});

const GQA_CASES = [
  { H: 4, Hkv: 2, D: 16, Dv: 12, bs: 4, window: 0, contexts: [0, 9, 3, 17, 6], rows: [2, 1, 1, 3, 1] },
  { H: 6, Hkv: 3, D: 33, Dv: 7, bs: 5, window: 4, contexts: [12, 30, 2], rows: [1, 2, 1] },
  { H: 8, Hkv: 2, D: 64, Dv: 64, bs: 16, window: 0, contexts: [150, 100, 120, 90, 140, 110, 130, 80], rows: Array(8).fill(2) as number[] }, // wakes the pool
];

test('multi-sequence GQA attention: native (1, 2 threads) == reference, == one native call per sequence', { skip: !nb2 }, () => {
  GQA_CASES.forEach((c, k) => {
    const L = randomLayout(c.contexts, c.rows, c.bs, 21 + k);
    const a = gqaCase(c.H, c.Hkv, c.D, c.Dv, c.bs, c.window, L, 9 + k), want = new Float32Array(a.out).fill(SENTINEL);
    referenceBackend.pagedAttention({ ...a, out: want });
    const oneByOne = new Float32Array(a.out.length).fill(SENTINEL);
    forEachSeq({ ...a, out: oneByOne }, c.H * c.D, c.H * c.Dv, (one) => nb1!.pagedAttention(one));
    checkNative(`GQA case ${k}`, a.out, want, oneByOne, L, c.H * c.Dv, (nb) => nb.pagedAttention(a));
  });
});

test('bad multi-sequence layouts are XdsErrors naming the field', { skip: !nb2 }, () => {
  const L = randomLayout([3, 5, 8], [1, 1, 1], 4, 3);
  const a = mlaCase(2, 8, 4, 4, L, 1);
  const withSeqs = (p: Partial<PagedSeqs>): PagedMlaArgs => ({ ...a, seqs: { ...L.seqs, ...p } });
  const param = (f: () => void, name: string): void => assert.throws(f, (e) => isXdsError(e, 'invalid_argument') && e.param === name, name);
  param(() => nb2!.pagedMlaAttention(withSeqs({ firstRow: Int32Array.of(0, 0, 1) })), 'seqs.firstRow');
  param(() => nb2!.pagedMlaAttention(withSeqs({ numRows: Int32Array.of(1, -1, 1) })), 'seqs.numRows');
  param(() => nb2!.pagedMlaAttention(withSeqs({ numRows: Int32Array.of(1, 1) })), 'seqs.numRows');
  param(() => nb2!.pagedMlaAttention(withSeqs({ tableStart: Int32Array.of(0, 2, 1, 4) })), 'seqs.tableStart');
  param(() => nb2!.pagedMlaAttention(withSeqs({ tableStart: Int32Array.of(0, 2, 4, 99) })), 'seqs.tableStart');
  param(() => nb2!.pagedMlaAttention(withSeqs({ firstRow: Int32Array.of(0, 1, 90) })), 'q'); // rows beyond the buffers
  param(() => nb2!.pagedMlaAttention(withSeqs({ tableStart: Int32Array.of(0, 0, 2, 4) })), 'blockTable'); // sequence 0 has no table
  param(() => nb2!.pagedMlaAttention({ ...a, positions: Int32Array.from(L.positions, (p, i) => (i === 1 ? -3 : p)) }), 'positions');
  const g = gqaCase(2, 1, 8, 8, 4, 0, L, 2);
  param(() => nb2!.pagedAttention({ ...g, seqs: { ...L.seqs, tableStart: Int32Array.of(0, 1, 2, 3) } }), 'blockTable');
});
