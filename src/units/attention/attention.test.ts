// GQA and MLA attention units against naive per-token math written from MODELS.md §1.4, §2, §4.3.
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
import { mlaAttention, type MlaMode } from './mla.js';

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

function naiveMla(spec: ModelSpec, src: MemoryWeights, x: Float32Array, invFreq: Float32Array): Vec {
  const a = spec.attention;
  const n = layerTensorNames(spec, 1).attention;
  if (a.kind !== 'mla' || n.kind !== 'mla') throw new Error('mla');
  const { numHeads: H, kvLoraRank: R, qkNopeHeadDim: dn, qkRopeHeadDim: dr, vHeadDim: dv } = a;
  const D = spec.hiddenSize;
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
