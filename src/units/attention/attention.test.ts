// GQA and MLA attention units against naive per-token math written from MODELS.md §1.4, §2, §4.3;
// MLA also with several sequences per step (multi-row absorbed prefill) on the reference and native backends, and the auto rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../../config/model-config.js';
import type { ModelSpec } from '../../config/model-spec.js';
import { referenceBackend } from '../../kernels/reference.js';
import { buildRopeTable } from '../../kernels/rope-table.js';
import { KvStorage } from '../../kvcache/kv-storage.js';
import { bindModelWeights } from '../../model/model-weights.js';
import { layerTensorNames } from '../../model/tensor-names.js';
import { normalSampler, randomWeightSource, TINY_CONFIGS, type MemoryWeights } from '../testing/random-model.js';
import { attend, matvec, maxAbsDiff, rmsnorm, ropeVec, values, type Vec } from '../testing/naive.js';
import { buildStepLayout } from '../step-layout.js';
import { gqaAttention } from './gqa.js';
import { mlaAttention, naiveIsCheaper, type MlaMode } from './mla.js';
import type { ComputeBackend } from '../../kernels/backend.js';
import { nativeBackend } from '../../kernels/native.js';
import { Scratch } from '../scratch.js';
import type { StepLayout } from '../step-layout.js';
import type { AttentionState } from './gqa.js';

const T = 9;
const TABLE = Int32Array.from([3, 0, 5]);

function setup(arch: string) {
  const spec = parseModelConfig(TINY_CONFIGS[arch]);
  const src = randomWeightSource(spec, 3);
  const w = bindModelWeights(spec, src).layers[1]!;
  const n = normalSampler(5);
  const x = Float32Array.from({ length: T * spec.hiddenSize }, n);
  return { spec, src, w, x, rope: buildRopeTable(spec.rope) };
}

/** Run a unit over the T rows in two chunks (5 + 4) through a paged cache; returns [T, D]. */
function runUnit(spec: ModelSpec, run: (st: Parameters<typeof gqaAttention>[0], x: Float32Array, out: Float32Array, layout: ReturnType<typeof buildStepLayout>) => void, x: Float32Array): Float32Array {
  const D = spec.hiddenSize;
  const kv = new KvStorage(spec, { numBlocks: 6, blockSizeTokens: 4 });
  const st = { backend: referenceBackend, rope: buildRopeTable(spec.rope), kv, kvLayer: 1, eps: spec.rmsNormEps };
  const out = new Float32Array(T * D);
  for (const [start, count] of [[0, 5], [5, 4]] as const) {
    const layout = buildStepLayout([{ count, startPos: start, blockTable: TABLE }]);
    run(st, x.subarray(start * D, (start + count) * D), out.subarray(start * D, (start + count) * D), layout);
  }
  return out;
}

const get = (src: MemoryWeights, name: string | null): Vec => values(src.get(name!));
const row = (x: Float32Array, t: number, D: number): Vec => Array.from(x.subarray(t * D, (t + 1) * D));
const split = (v: Vec, n: number, w: number): Vec[] => Array.from({ length: n }, (_, i) => v.slice(i * w, (i + 1) * w));

function naiveGqa(spec: ModelSpec, src: MemoryWeights, x: Float32Array, invFreq: Float32Array): Vec {
  const a = spec.attention;
  if (a.kind !== 'gqa') throw new Error('gqa');
  const n = layerTensorNames(spec, 1).attention;
  if (n.kind !== 'gqa') throw new Error('gqa');
  const D = spec.hiddenSize, H = a.numHeads, Hkv = a.numKvHeads, dh = a.headDim;
  const bias = (b: string | null) => (b === null ? undefined : get(src, b));
  const proj = (ln: { weight: string; bias: string | null }, out: number, t: number) => matvec(get(src, ln.weight), out, row(x, t, D), bias(ln.bias));
  const norm = (v: Vec, wn: string | null) => (wn === null ? v : rmsnorm(v, get(src, wn), spec.rmsNormEps));
  const qs: Vec[][] = [], ks: Vec[][] = [], vs: Vec[][] = [];
  for (let t = 0; t < T; t++) {
    qs.push(split(proj(n.q, H * dh, t), H, dh).map((h) => ropeVec(norm(h, n.qNorm), t, invFreq, 'halves')));
    ks.push(split(proj(n.k, Hkv * dh, t), Hkv, dh).map((h) => ropeVec(norm(h, n.kNorm), t, invFreq, 'halves')));
    vs.push(split(proj(n.v, Hkv * dh, t), Hkv, dh));
  }
  const out: Vec = [];
  for (let t = 0; t < T; t++) {
    const heads: Vec = [];
    for (let h = 0; h < H; h++) {
      const j = Math.floor(h / (H / Hkv));
      const lo = a.slidingWindow ? Math.max(0, t - a.slidingWindow + 1) : 0;
      heads.push(...attend(qs[t]![h]!, ks.map((k) => k[j]!), vs.map((v) => v[j]!), 1 / Math.sqrt(dh), lo, t));
    }
    out.push(...matvec(get(src, n.o.weight), D, heads, bias(n.o.bias)));
  }
  return out;
}

for (const arch of ['llama', 'qwen3', 'mixtral']) {
  test(`GQA unit (${arch}) == naive: bias / q-k norm before RoPE / ⌊h/g⌋ / sliding window, chunked 5+4`, () => {
    const { spec, src, w, x, rope } = setup(arch);
    if (w.attention.kind !== 'gqa' || spec.attention.kind !== 'gqa') throw new Error('gqa');
    const att = w.attention, as = spec.attention;
    const got = runUnit(spec, (st, xs, out, layout) => gqaAttention(st, att, as, xs, out, layout), x);
    const want = naiveGqa(spec, src, x, rope.invFreq);
    const d = maxAbsDiff(got, want);
    console.log(`GQA ${arch}: max|Δ| ${d.toExponential(2)}`);
    assert.ok(d <= 1e-5, `diff ${d}`);
  });
}

/** MODELS.md §4.3 per token for the rows of x ([n, D], positions 0 … n−1 of one sequence). */
function naiveMla(spec: ModelSpec, src: MemoryWeights, x: Float32Array, invFreq: Float32Array): Vec {
  const a = spec.attention;
  const n = layerTensorNames(spec, 1).attention;
  if (a.kind !== 'mla' || n.kind !== 'mla') throw new Error('mla');
  const { numHeads: H, kvLoraRank: R, qkNopeHeadDim: dn, qkRopeHeadDim: dr, vHeadDim: dv } = a;
  const D = spec.hiddenSize, T = x.length / D;
  const qs: Vec[][] = [], ks: Vec[][] = [], vs: Vec[][] = [];
  for (let t = 0; t < T; t++) {
    const xt = row(x, t, D);
    const q = a.qLoraRank === null ? matvec(get(src, n.q), H * (dn + dr), xt)
      : matvec(get(src, n.qB), H * (dn + dr), rmsnorm(matvec(get(src, n.qA), a.qLoraRank, xt), get(src, n.qANorm), 1e-6));
    qs.push(split(q, H, dn + dr).map((h) => [...h.slice(0, dn), ...ropeVec(h.slice(dn), t, invFreq, 'interleaved')]));
    const kvA = matvec(get(src, n.kvA), R + dr, xt);
    const c = rmsnorm(kvA.slice(0, R), get(src, n.kvANorm), 1e-6);
    const kpe = ropeVec(kvA.slice(R), t, invFreq, 'interleaved');
    const kv = split(matvec(get(src, n.kvB), H * (dn + dv), c), H, dn + dv);
    ks.push(kv.map((h) => [...h.slice(0, dn), ...kpe]));
    vs.push(kv.map((h) => h.slice(dn)));
  }
  const out: Vec = [];
  for (let t = 0; t < T; t++) {
    const heads: Vec = [];
    for (let h = 0; h < H; h++) heads.push(...attend(qs[t]![h]!, ks.map((k) => k[h]!), vs.map((v) => v[h]!), a.softmaxScale, 0, t));
    out.push(...matvec(get(src, n.o), D, heads));
  }
  return out;
}

for (const arch of ['deepseek_v3', 'deepseek_v3_noq', 'deepseek_v2']) {
  test(`MLA unit (${arch}) == naive §4.3 in naive, absorbed and auto modes`, () => {
    const { spec, src, w, x, rope } = setup(arch);
    if (w.attention.kind !== 'mla' || spec.attention.kind !== 'mla') throw new Error('mla');
    const att = w.attention, as = spec.attention;
    const want = naiveMla(spec, src, x, rope.invFreq);
    for (const mode of ['naive', 'absorbed', 'auto'] as MlaMode[]) {
      const got = runUnit(spec, (st, xs, out, layout) => mlaAttention(st, att, as, xs, out, layout, mode), x);
      const d = maxAbsDiff(got, want);
      console.log(`MLA ${arch} ${mode}: max|Δ| ${d.toExponential(2)}`);
      assert.ok(d <= 1e-5, `${mode} diff ${d}`);
    }
  });
}

/** Rows of each sequence per step: prefills, chunks after a cached prefix, decodes, odd lengths, block boundaries (bs 4). */
const MULTI_STEPS: readonly (readonly number[])[] = [[5, 1, 7, 3], [4, 2, 1, 0], [1, 1, 1, 6]];
const MULTI_TABLES = [Int32Array.of(7, 2, 11), Int32Array.of(0, 5), Int32Array.of(9, 3, 1), Int32Array.of(4, 10, 6)];

/** The unit over several sequences at once, step by step (MULTI_STEPS); returns each sequence's out rows [n_s, D]. */
function runMulti(spec: ModelSpec, backend: ComputeBackend, xs: readonly Float32Array[], run: (st: AttentionState, x: Float32Array, out: Float32Array, layout: StepLayout) => void): Float32Array[] {
  const D = spec.hiddenSize;
  const st: AttentionState = { backend, rope: buildRopeTable(spec.rope), kv: new KvStorage(spec, { numBlocks: 12, blockSizeTokens: 4 }), kvLayer: 1, eps: spec.rmsNormEps, scratch: new Scratch() };
  const outs = xs.map((x) => new Float32Array(x.length));
  const done = xs.map(() => 0);
  for (const counts of MULTI_STEPS) {
    const layout = buildStepLayout(counts.map((count, s) => ({ count, startPos: done[s]!, blockTable: MULTI_TABLES[s]! })));
    const x = new Float32Array(layout.numRows * D), out = new Float32Array(layout.numRows * D);
    layout.seqs.forEach((q, s) => x.set(xs[s]!.subarray(done[s]! * D, (done[s]! + q.count) * D), q.first * D));
    run(st, x, out, layout);
    layout.seqs.forEach((q, s) => { outs[s]!.set(out.subarray(q.first * D, (q.first + q.count) * D), done[s]! * D); done[s]! += q.count; });
  }
  return outs;
}

const nativeBackends = [1, 2].map((n) => nativeBackend({ numThreads: n, quiet: true })).filter((b): b is ComputeBackend => b !== null);

test('MLA unit, 4 sequences per step (multi-row absorbed prefill, chunks, decode; odd lengths, block boundaries) == naive §4.3 in every mode, reference and native', () => {
  const { spec, src, w, rope } = setup('deepseek_v3');
  if (w.attention.kind !== 'mla' || spec.attention.kind !== 'mla') throw new Error('mla');
  const att = w.attention, as = spec.attention, D = spec.hiddenSize;
  const n = normalSampler(11);
  const lengths = MULTI_TABLES.map((_, s) => MULTI_STEPS.reduce((a, c) => a + c[s]!, 0));
  const xs = lengths.map((len) => Float32Array.from({ length: len * D }, n));
  const want = xs.map((x) => naiveMla(spec, src, x, rope.invFreq));
  for (const backend of [referenceBackend, ...nativeBackends]) {
    for (const mode of ['naive', 'absorbed', 'auto'] as MlaMode[]) {
      const got = runMulti(spec, backend, xs, (st, x, out, layout) => mlaAttention(st, att, as, x, out, layout, mode));
      const d = Math.max(...got.map((g, s) => maxAbsDiff(g, want[s]!)));
      console.log(`MLA 4 seqs ${backend.name} ${mode}: max|Δ| ${d.toExponential(2)}`);
      assert.ok(d <= 1e-5, `${backend.name} ${mode}: diff ${d}`);
    }
  }
});

test("MLA 'auto' rule: absorbed for decode, short prompts and chunks after a prefix; naive for a long fresh prompt", () => {
  const a = parseModelConfig(TINY_CONFIGS.deepseek_v3).attention;
  if (a.kind !== 'mla') throw new Error('mla');
  const small = { ...a, kvLoraRank: 256, qkNopeHeadDim: 64, qkRopeHeadDim: 32, vHeadDim: 64 }; // the small preset
  assert.equal(naiveIsCheaper(small, { count: 1, startPos: 4000 }), false);
  assert.equal(naiveIsCheaper(small, { count: 16, startPos: 0 }), false);
  assert.equal(naiveIsCheaper(small, { count: 256, startPos: 0 }), false);
  assert.equal(naiveIsCheaper(small, { count: 64, startPos: 2048 }), false);
  assert.equal(naiveIsCheaper(small, { count: 2048, startPos: 0 }), true);
});
