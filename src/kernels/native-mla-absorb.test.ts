/**
 * Absorbed MLA with the W_UK / W_UV products inside pagedMlaAttention (MlaAbsorb; MODELS.md §4.4)
 * on the native backend (mla_absorbed.c) vs the reference backend (per-head matmuls around the
 * latent attention, f64 accumulation; paged-seqs.ts mlaAbsorbLoop): kv_b_proj in f32, bf16 and
 * int8 (per-32 and per-channel), several sequences with random block tables and rows left out,
 * 1 and 2 threads, a case large enough to wake the pool. Tolerance: max |Δ| ≤ 2e-5 · max|out|
 * (f32 against f64); int8 1e-2 (the native int8 GEMV quantizes its activations, ctx, to q8). The native call must equal the same loop run through native kernels
 * (the unit's previous code path) bit for bit, and bad absorption weights are XdsErrors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LinearWeight, PagedMlaArgs } from './backend.js';
import { mlaAbsorbLoop } from './paged-seqs.js';
import { quantizeLinearInt8 } from './quantize.js';
import { referenceBackend } from './reference.js';
import { f32ToBf16 } from '../core/dtype.js';
import { isXdsError } from '../core/errors.js';
import { maxAbs, maxAbsDiff, randomLayout, requireNative, rng, sharedF32 } from './native-test-util.js';

const nb1 = requireNative(1);
const nb2 = requireNative(2);
const SENTINEL = -3.5;

interface Dims { readonly H: number; readonly R: number; readonly dn: number; readonly dr: number; readonly dv: number; readonly bs: number }

function kvBWeights(d: Dims, seed: number): Record<string, LinearWeight> {
  const r = rng(seed), outDim = d.H * (d.dn + d.dv), inDim = d.R;
  const f32: LinearWeight = { format: 'f32', outDim, inDim, data: sharedF32(outDim * inDim, r, 0.2) };
  const bf16: LinearWeight = { format: 'bf16', outDim, inDim, data: Uint16Array.from(f32.data, (v) => f32ToBf16(v)) };
  return { f32, bf16, int8_32: quantizeLinearInt8(f32, 32), int8_channel: quantizeLinearInt8(f32, 'channel') };
}

/** ukT [H, R, dn] from kv_b_proj's W_UK rows, as the unit builds it (reference weightRow values). */
function ukTOf(kvB: LinearWeight, d: Dims): Float32Array {
  const dense = new Float32Array(kvB.outDim * kvB.inDim);
  referenceBackend.matmul(eye(kvB.inDim), kvB, dense, kvB.inDim); // dense[c, o] = W[o, c]
  const ukT = new Float32Array(d.H * d.R * d.dn);
  for (let h = 0; h < d.H; h++)
    for (let c = 0; c < d.R; c++)
      for (let k = 0; k < d.dn; k++) ukT[(h * d.R + c) * d.dn + k] = dense[c * kvB.outDim + h * (d.dn + d.dv) + k]!;
  return ukT;
}

function eye(n: number): Float32Array {
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

function absorbCase(d: Dims, contexts: number[], rows: number[], kvB: LinearWeight, seed: number): PagedMlaArgs {
  const L = randomLayout(contexts, rows, d.bs, seed), r = rng(seed + 1);
  return {
    q: sharedF32(L.numRows * d.H * (d.dn + d.dr), r), out: new Float32Array(L.numRows * d.H * d.dv).fill(SENTINEL),
    latentCache: sharedF32(L.numBlocks * d.bs * (d.R + d.dr), r), blockTable: L.blockTable, positions: L.positions, seqs: L.seqs,
    numHeads: d.H, kvLoraRank: d.R, ropeDim: d.dr, blockSizeTokens: d.bs, scale: 0.13,
    absorb: { ukT: ukTOf(kvB, d), kvB, qkNopeHeadDim: d.dn, vHeadDim: d.dv },
  };
}

const CASES: { d: Dims; contexts: number[]; rows: number[] }[] = [
  { d: { H: 4, R: 32, dn: 16, dr: 8, dv: 12, bs: 4 }, contexts: [0, 6, 11, 3, 19], rows: [1, 1, 2, 1, 1] },
  { d: { H: 2, R: 20, dn: 8, dr: 0, dv: 8, bs: 3 }, contexts: [4], rows: [1] },
  { d: { H: 8, R: 64, dn: 32, dr: 16, dv: 32, bs: 16 }, contexts: Array.from({ length: 20 }, (_, i) => 40 + 7 * i), rows: Array(20).fill(1) as number[] }, // wakes the pool
];

test('absorbed MLA in one call: native (1, 2 threads) == reference for f32/bf16/int8 kv_b_proj, == native per-head loop bit for bit', { skip: !nb2 }, () => {
  CASES.forEach((c, k) => {
    for (const [fmt, kvB] of Object.entries(kvBWeights(c.d, 30 + k))) {
      const a = absorbCase(c.d, c.contexts, c.rows, kvB, 40 + k), want = new Float32Array(a.out.length).fill(SENTINEL);
      referenceBackend.pagedMlaAttention({ ...a, out: want });
      const loop = new Float32Array(a.out.length).fill(SENTINEL);
      mlaAbsorbLoop(nb1!, { ...a, out: loop }, a.absorb!);
      for (const nb of [nb1!, nb2!]) {
        a.out.fill(SENTINEL);
        nb.pagedMlaAttention(a);
        const diff = maxAbsDiff(a.out, want);
        assert.ok(diff <= (fmt.startsWith('int8') ? 1e-2 : 2e-5) * maxAbs(want), `case ${k} ${fmt} via ${nb.name}: ${diff}`);
        assert.deepEqual(a.out, loop, `case ${k} ${fmt} via ${nb.name}: differs from the per-head loop`);
      }
    }
  });
});

test('bad absorption weights are XdsErrors naming the field', { skip: !nb2 }, () => {
  const d = CASES[0]!.d, kvB = kvBWeights(d, 1).f32!;
  const a = absorbCase(d, [3, 5], [1, 1], kvB, 2), ab = a.absorb!;
  const param = (args: PagedMlaArgs, name: string): void => assert.throws(() => nb2!.pagedMlaAttention(args), (e) => isXdsError(e, 'invalid_argument') && e.param === name, name);
  param({ ...a, absorb: { ...ab, ukT: ab.ukT.subarray(1) } }, 'absorb.ukT');
  param({ ...a, absorb: { ...ab, vHeadDim: 0 } }, 'absorb.vHeadDim');
  param({ ...a, absorb: { ...ab, kvB: { ...kvB, outDim: 8 } } }, 'absorb.kvB');
  param({ ...a, absorb: { ...ab, kvB: { format: 'f32', outDim: kvB.outDim, inDim: kvB.inDim, data: new Float32Array(4) } } }, 'absorb.kvB.data');
  param({ ...a, out: a.out.subarray(0, a.out.length - 1) }, 'out');
});
