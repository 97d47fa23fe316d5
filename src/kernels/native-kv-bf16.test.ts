/**
 * Paged attention over bf16 KV caches (KvArray as Uint16Array: `--kv-cache-dtype bfloat16`). A
 * kernel widens each cached element to f32, so over a bf16 cache it must give bit for bit what it
 * gives over an f32 cache holding the same values widened: GQA, the latent attention of MLA, and
 * absorbed MLA (W_UK / W_UV inside the call), 1 and 2 threads, several sequences, a case that
 * wakes the pool. The reference backend over the bf16 cache (f64 accumulation) is the independent
 * check: max |Δ| ≤ 2e-5 · max|out|. Mismatched k / v forms are an XdsError naming vCache. The
 * native store conversion (toBf16) equals core/dtype.ts f32ToBf16 bit for bit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LinearWeight, PagedAttentionArgs, PagedMlaArgs } from './backend.js';
import { referenceBackend } from './reference.js';
import { bf16ArrayToF32, f32ArrayToBf16, f32ToBf16 } from '../core/dtype.js';
import { isXdsError } from '../core/errors.js';
import { maxAbs, maxAbsDiff, randomLayout, requireNative, rng, sharedF32 } from './native-test-util.js';

const nb1 = requireNative(1);
const nb2 = requireNative(2);

/** Random values rounded to bf16: the bits, and the same values as f32. */
function bf16Pair(n: number, r: () => number): { bits: Uint16Array; widened: Float32Array } {
  const bits = new Uint16Array(new SharedArrayBuffer(n * 2));
  f32ArrayToBf16(sharedF32(n, r), bits);
  const widened = new Float32Array(n);
  bf16ArrayToF32(bits, 0, n, widened);
  return { bits, widened };
}

/** Runs `call` over the bf16 and the widened f32 args on 1 and 2 threads; both equal, and near the reference over bf16. */
function checkSame<A extends { out: Float32Array }>(label: string, bf: A, f32: A, run: (nb: NonNullable<typeof nb1>, a: A) => void, ref: (a: A) => void): void {
  const want = new Float32Array(bf.out.length);
  ref({ ...bf, out: want });
  for (const nb of [nb1!, nb2!]) {
    const a = { ...bf, out: new Float32Array(bf.out.length) }, b = { ...f32, out: new Float32Array(bf.out.length) };
    run(nb, a);
    run(nb, b);
    assert.deepEqual(a.out, b.out, `${label} via ${nb.name}: bf16 cache differs from its widened f32 form`);
    const d = maxAbsDiff(a.out, want);
    assert.ok(d <= 2e-5 * maxAbs(want), `${label} via ${nb.name}: ${d} from the reference`);
  }
}

const LAYOUTS = [
  { contexts: [0, 9, 3, 17, 6], rows: [2, 1, 1, 3, 1], bs: 4 },
  { contexts: Array.from({ length: 12 }, (_, i) => 60 + 9 * i), rows: Array(12).fill(1) as number[], bs: 16 }, // wakes the pool
];

test('GQA over a bf16 KV cache == over its widened f32 form, bit for bit; ≈ the reference', { skip: !nb2 }, () => {
  LAYOUTS.forEach((c, k) => {
    const H = 8, Hkv = 2, D = 36, Dv = 20, L = randomLayout(c.contexts, c.rows, c.bs, 3 + k), r = rng(50 + k);
    const kc = bf16Pair(L.numBlocks * c.bs * Hkv * D, r), vc = bf16Pair(L.numBlocks * c.bs * Hkv * Dv, r);
    const base = {
      q: sharedF32(L.numRows * H * D, r), out: new Float32Array(L.numRows * H * Dv), blockTable: L.blockTable, positions: L.positions, seqs: L.seqs,
      numHeads: H, numKvHeads: Hkv, headDim: D, headDimV: Dv, blockSizeTokens: c.bs, scale: 1 / Math.sqrt(D), slidingWindow: k === 0 ? 5 : 0,
    };
    const bf: PagedAttentionArgs = { ...base, kCache: kc.bits, vCache: vc.bits }, f32: PagedAttentionArgs = { ...base, kCache: kc.widened, vCache: vc.widened };
    checkSame(`GQA layout ${k}`, bf, f32, (nb, a) => nb.pagedAttention(a), (a) => referenceBackend.pagedAttention(a));
  });
});

test('MLA (latent and absorbed) over a bf16 latent cache == over its widened f32 form, bit for bit; ≈ the reference', { skip: !nb2 }, () => {
  LAYOUTS.forEach((c, k) => {
    const H = 8, R = 40, dr = 8, dn = 16, dv = 12, L = randomLayout(c.contexts, c.rows, c.bs, 7 + k), r = rng(60 + k);
    const lat = bf16Pair(L.numBlocks * c.bs * (R + dr), r);
    const base = { blockTable: L.blockTable, positions: L.positions, seqs: L.seqs, numHeads: H, kvLoraRank: R, ropeDim: dr, blockSizeTokens: c.bs, scale: 0.12 };
    const plain = { ...base, q: sharedF32(L.numRows * H * (R + dr), r), out: new Float32Array(L.numRows * H * R) };
    const run = (nb: NonNullable<typeof nb1>, a: PagedMlaArgs): void => nb.pagedMlaAttention(a);
    const ref = (a: PagedMlaArgs): void => referenceBackend.pagedMlaAttention(a);
    checkSame(`MLA layout ${k}`, { ...plain, latentCache: lat.bits }, { ...plain, latentCache: lat.widened }, run, ref);
    const kvB: LinearWeight = { format: 'f32', outDim: H * (dn + dv), inDim: R, data: sharedF32(H * (dn + dv) * R, r, 0.2) };
    const ukT = new Float32Array(H * R * dn);
    for (let h = 0; h < H; h++) for (let ch = 0; ch < R; ch++) for (let j = 0; j < dn; j++) ukT[(h * R + ch) * dn + j] = kvB.data[(h * (dn + dv) + j) * R + ch]!;
    const absorbed = { ...base, q: sharedF32(L.numRows * H * (dn + dr), r), out: new Float32Array(L.numRows * H * dv), absorb: { ukT, kvB, qkNopeHeadDim: dn, vHeadDim: dv } };
    checkSame(`absorbed MLA layout ${k}`, { ...absorbed, latentCache: lat.bits }, { ...absorbed, latentCache: lat.widened }, run, ref);
  });
});

test('k and v caches of different forms are an XdsError naming vCache', { skip: !nb2 }, () => {
  const L = randomLayout([5], [1], 4, 1), r = rng(2), n = L.numBlocks * 4 * 8;
  const a: PagedAttentionArgs = {
    q: sharedF32(L.numRows * 2 * 8, r), out: new Float32Array(L.numRows * 2 * 8), kCache: bf16Pair(n, r).bits, vCache: sharedF32(n, r),
    blockTable: L.blockTable, positions: L.positions, seqs: L.seqs, numHeads: 2, numKvHeads: 1, headDim: 8, headDimV: 8, blockSizeTokens: 4, scale: 0.3, slidingWindow: 0,
  };
  assert.throws(() => nb2!.pagedAttention(a), (e) => isXdsError(e, 'invalid_argument') && e.param === 'vCache');
});

test('toBf16 (native) == f32ToBf16 bit for bit: ties, overflow to infinity, subnormals, NaN payloads, random bits; tails and offsets', { skip: !nb2 }, () => {
  const bits = new Uint32Array([0x3f808000, 0x3f818000, 0x3f80ffff, 0x7f7fffff, 0xff7fffff, 0x00000001, 0x80008000, 0x7f800000, 0xff800000,
    0x7f800001, 0xffc00000, 0x7fffffff, 0x7f810000, 0x00000000, 0x80000000, 0x3dcccccd]);
  const r = rng(77);
  const random = Uint32Array.from({ length: 4093 }, () => Math.floor((r() + 1) * 2 ** 31) >>> 0);
  for (const u of [bits, random]) {
    const src = new Float32Array(u.buffer);
    for (const [off, n] of [[0, src.length], [3, src.length - 5], [0, 7], [5, 1]] as const) {
      const s = src.subarray(0, n), dst = new Uint16Array(off + n + 2).fill(0xabcd);
      nb2!.toBf16!(s, dst, off);
      s.forEach((v, i) => { if (dst[off + i] !== f32ToBf16(v)) assert.fail(`bits ${u[i]!.toString(16)}: ${dst[off + i]!.toString(16)} vs ${f32ToBf16(v).toString(16)}`); });
      assert.ok(dst[off + n] === 0xabcd && (off === 0 || dst[off - 1] === 0xabcd), 'nothing written outside');
    }
  }
  assert.throws(() => nb2!.toBf16!(new Float32Array(4), new Uint16Array(5), 2), (e) => isXdsError(e, 'invalid_argument') && e.param === 'dst');
});
