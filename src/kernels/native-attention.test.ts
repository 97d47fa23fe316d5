/**
 * Native paged attention (GQA with sliding window, absorbed MLA) vs the reference backend
 * (MODELS.md §1.4, §4.4, §8.3): shuffled block tables, several query tokens (chunked prefill),
 * odd head widths, headDimV ≠ headDim. Tolerance: max |Δ| ≤ 1e-5 · max|out| (f32 accumulation
 * against the reference's f64). Bad block tables are XdsErrors naming `blockTable`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PagedAttentionArgs, PagedMlaArgs } from './backend.js';
import { referenceBackend } from './reference.js';
import { isXdsError } from '../core/errors.js';
import { maxAbs, maxAbsDiff, requireNative, rng, sharedF32 } from './native-test-util.js';

const nb2 = requireNative(2);
const nb1 = requireNative(1);

/** A block table naming blocks in a scrambled order (block b of the sequence → physical). */
function scrambledTable(numLogical: number, numBlocks: number): Int32Array {
  return Int32Array.from({ length: numLogical }, (_, b) => (b * 7 + 3) % numBlocks);
}

function gqaArgs(c: { H: number; Hkv: number; D: number; Dv: number; bs: number; window: number; positions: number[] }): PagedAttentionArgs {
  const r = rng(c.H * 100 + c.D), numBlocks = 11, T = c.positions.length;
  return {
    q: sharedF32(T * c.H * c.D, r), out: new Float32Array(T * c.H * c.Dv),
    kCache: sharedF32(numBlocks * c.bs * c.Hkv * c.D, r), vCache: sharedF32(numBlocks * c.bs * c.Hkv * c.Dv, r),
    blockTable: scrambledTable(Math.ceil((Math.max(...c.positions) + 1) / c.bs), numBlocks), positions: Int32Array.from(c.positions),
    numHeads: c.H, numKvHeads: c.Hkv, headDim: c.D, headDimV: c.Dv, blockSizeTokens: c.bs, scale: 1 / Math.sqrt(c.D), slidingWindow: c.window,
  };
}

test('paged GQA attention matches the reference', { skip: !nb2 }, () => {
  const cases = [
    { H: 4, Hkv: 2, D: 16, Dv: 16, bs: 4, window: 0, positions: [0] },
    { H: 4, Hkv: 1, D: 12, Dv: 20, bs: 3, window: 0, positions: [17, 18, 19] },
    { H: 6, Hkv: 3, D: 33, Dv: 7, bs: 5, window: 4, positions: [9, 10, 30] },
    { H: 2, Hkv: 2, D: 64, Dv: 64, bs: 16, window: 0, positions: [40, 41, 42, 43, 44, 45, 46, 47] },
  ];
  for (const c of cases) {
    const a = gqaArgs(c), want = new Float32Array(a.out.length);
    referenceBackend.pagedAttention({ ...a, out: want });
    for (const nb of [nb1!, nb2!]) {
      a.out.fill(NaN);
      nb.pagedAttention(a);
      assert.ok(maxAbsDiff(a.out, want) <= 1e-5 * maxAbs(want), `GQA H=${c.H} Hkv=${c.Hkv} D=${c.D} window=${c.window} via ${nb.name}: ${maxAbsDiff(a.out, want)}`);
    }
  }
});

function mlaArgs(H: number, R: number, dr: number, bs: number, positions: number[]): PagedMlaArgs {
  const r = rng(H + R), numBlocks = 9, T = positions.length;
  return {
    q: sharedF32(T * H * (R + dr), r), out: new Float32Array(T * H * R), latentCache: sharedF32(numBlocks * bs * (R + dr), r),
    blockTable: scrambledTable(Math.ceil((Math.max(...positions) + 1) / bs), numBlocks), positions: Int32Array.from(positions),
    numHeads: H, kvLoraRank: R, ropeDim: dr, blockSizeTokens: bs, scale: 0.135,
  };
}

test('paged absorbed-MLA attention matches the reference', { skip: !nb2 }, () => {
  for (const [H, R, dr, bs, positions] of [[3, 24, 8, 4, [0]], [4, 32, 16, 5, [20, 21]], [8, 64, 0, 16, [100]], [1, 17, 6, 2, [3, 4, 5]]] as const) {
    const a = mlaArgs(H, R, dr, bs, [...positions]), want = new Float32Array(a.out.length);
    referenceBackend.pagedMlaAttention({ ...a, out: want });
    for (const nb of [nb1!, nb2!]) {
      a.out.fill(NaN);
      nb.pagedMlaAttention(a);
      assert.ok(maxAbsDiff(a.out, want) <= 1e-5 * maxAbs(want), `MLA H=${H} R=${R} dr=${dr}: ${maxAbsDiff(a.out, want)}`);
    }
  }
});

test('a block table that is too short or names a missing block is an XdsError', { skip: !nb2 }, () => {
  const a = gqaArgs({ H: 2, Hkv: 1, D: 8, Dv: 8, bs: 4, window: 0, positions: [9] });
  assert.throws(() => nb2!.pagedAttention({ ...a, blockTable: Int32Array.of(0, 1) }), (e) => isXdsError(e, 'invalid_argument') && e.param === 'blockTable');
  assert.throws(() => nb2!.pagedAttention({ ...a, blockTable: Int32Array.of(0, 1, 11) }), (e) => isXdsError(e) && e.param === 'blockTable');
  assert.throws(() => nb2!.pagedAttention({ ...a, numKvHeads: 3 }), (e) => isXdsError(e) && e.param === 'numKvHeads');
  const m = mlaArgs(2, 8, 4, 4, [5]);
  assert.throws(() => nb2!.pagedMlaAttention({ ...m, positions: Int32Array.of(-1) }), (e) => isXdsError(e) && e.param === 'positions');
});
