// Token-wise units against naive math: embedding, dense FFN, MoE (grouped experts + shared expert),
// decoder block residuals, MTP input order (MODELS.md §1.2, §1.5, §4.5, §6.2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../config/model-config.js';
import { bf16ToF32 } from '../core/dtype.js';
import { isXdsError } from '../core/errors.js';
import { referenceBackend as B } from '../kernels/reference.js';
import { bindModelWeights } from '../model/model-weights.js';
import { layerTensorNames, mtpTensorNames, EMBED_TOKENS } from '../model/tensor-names.js';
import { embedTokens } from './embedding.js';
import { denseMlp } from './ffn.js';
import { groupByExpert, moeFfn } from './moe/moe.js';
import { routeToken } from './moe/router.js';
import { mtpInput } from './mtp.js';
import { normalSampler, randomWeightSource, TINY_CONFIGS } from './testing/random-model.js';
import { matvec, maxAbsDiff, mlp, rmsnorm, values, type Vec } from './testing/naive.js';

const rows = (x: Float32Array, T: number, D: number): Vec[] => Array.from({ length: T }, (_, t) => Array.from(x.subarray(t * D, (t + 1) * D)));

test('embedding rows and dense FFN == naive', () => {
  const spec = parseModelConfig(TINY_CONFIGS['llama']);
  const src = randomWeightSource(spec, 1);
  const w = bindModelWeights(spec, src);
  const D = spec.hiddenSize;
  const ids = Int32Array.from([4, 0, 95]);
  const e = new Float32Array(3 * D);
  embedTokens(w.embed, ids, e);
  const table = values(src.get(EMBED_TOKENS));
  assert.deepEqual(Array.from(e.subarray(2 * D)), table.slice(95 * D, 96 * D));
  assert.throws(() => embedTokens(w.embed, Int32Array.of(-1), e), (err: unknown) => isXdsError(err, 'invalid_argument'));
  const f = w.layers[0]!.ffn;
  const n = layerTensorNames(spec, 0).ffn;
  if (f.kind !== 'dense' || n.kind !== 'dense') throw new Error('dense');
  const y = new Float32Array(3 * D);
  denseMlp(B, f.mlp, e, y, 3);
  const want = rows(e, 3, D).flatMap((x) => mlp(x, values(src.get(n.mlp.gate)), values(src.get(n.mlp.up)), values(src.get(n.mlp.down)), 56));
  assert.ok(maxAbsDiff(y, want) <= 1e-5);
});

for (const [D, at] of [[5, 0], [6, 0], [6, 1]] as const) {
  test(`embedding of a bf16 table (D ${D}, table at element ${at}): the values of bf16ToF32 (±0 and NaN included), into a view at an offset; bad id refused`, () => {
    const V = 7;
    const all = Uint16Array.from({ length: at + V * D }, (_, i) => (i === 3 ? 0x8000 : i === 4 ? 0x7fc1 : (i * 7919 + 0x3f00) & 0xffff));
    const data = all.subarray(at); // [V, D] bf16 bits; at 1: not 4-byte aligned
    const table = { format: 'bf16', outDim: V, inDim: D, data } as const;
    const ids = Int32Array.of(6, 0, 3, 3);
    const buf = new Float32Array(1 + ids.length * D);
    embedTokens(table, ids, buf.subarray(1)); // a view with byteOffset 4
    const same = (a: number, b: number): boolean => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
    ids.forEach((id, t) => {
      for (let i = 0; i < D; i++) assert.ok(same(buf[1 + t * D + i]!, bf16ToF32(data[id * D + i]!)), `row ${t} col ${i}`);
    });
    assert.ok([...all].some((b) => b === 0x8000) && [...all].some((b) => (b & 0x7f80) === 0x7f80), 'the table holds -0 and an infinity or NaN');
    assert.throws(() => embedTokens(table, Int32Array.of(V), buf), (err: unknown) => isXdsError(err, 'invalid_argument') && /tokenIds/.test(String((err as { param?: string }).param)));
  });
}

for (const arch of ['mixtral', 'qwen3_moe', 'deepseek_v3', 'deepseek_v3_noq', 'deepseek_v2']) {
  test(`MoE (${arch}) == per-token naive Σ w·Expert(x) + Shared(x)`, () => {
    const spec = parseModelConfig(TINY_CONFIGS[arch]);
    const src = randomWeightSource(spec, 2);
    const l = spec.layers.findIndex((x) => x.ffn.kind === 'moe');
    const fs = spec.layers[l]!.ffn;
    const fw = bindModelWeights(spec, src).layers[l]!.ffn;
    const n = layerTensorNames(spec, l).ffn;
    if (fs.kind !== 'moe' || fw.kind !== 'moe' || n.kind !== 'moe') throw new Error('moe');
    const D = spec.hiddenSize, T = 7, E = fs.numExperts;
    const g = normalSampler(9);
    const x = Float32Array.from({ length: T * D }, g);
    const out = new Float32Array(T * D);
    const routing = moeFfn(B, fw, fs, x, out, T);
    const counts = new Int32Array(E);
    routing.experts.forEach((e) => counts[e]!++);
    const grouped = groupByExpert(routing, E);
    assert.deepEqual(Array.from(grouped.offsets.subarray(1)), Array.from(counts).map((_, e) => counts.slice(0, e + 1).reduce((a, b) => a + b, 0)));
    const router = values(src.get(n.router));
    const bias = n.correctionBias === null ? null : Float32Array.from(values(src.get(n.correctionBias)));
    const want: Vec = [];
    for (const xt of rows(x, T, D)) {
      const [sel, wts] = routeToken(Float32Array.from(matvec(router, E, xt)), 0, E, fs.numExpertsPerTok, fs.router, bias);
      const y = new Array<number>(D).fill(0);
      sel.forEach((e, j) => {
        const en = n.experts[e]!;
        mlp(xt, values(src.get(en.gate)), values(src.get(en.up)), values(src.get(en.down)), fs.expertIntermediateSize).forEach((v, d) => { y[d]! += wts[j]! * v; });
      });
      if (n.shared) mlp(xt, values(src.get(n.shared.gate)), values(src.get(n.shared.up)), values(src.get(n.shared.down)), fs.sharedIntermediateSize).forEach((v, d) => { y[d]! += v; });
      want.push(...y);
    }
    const d = maxAbsDiff(out, want);
    console.log(`MoE ${arch}: max|Δ| ${d.toExponential(2)}, experts used ${counts.filter((c) => c > 0).length}/${E}`);
    assert.ok(d <= 1e-5, `diff ${d}`);
  });
}

test('MTP input: eh_proj([enorm(embed(t)) ‖ hnorm(h)]), embedding half first; optional position-0 zeroing', () => {
  const spec = parseModelConfig(TINY_CONFIGS['deepseek_v3']);
  const src = randomWeightSource(spec, 4);
  const w = bindModelWeights(spec, src).mtp[0]!;
  const n = mtpTensorNames(spec, 0);
  const D = spec.hiddenSize, T = 3;
  const g = normalSampler(6);
  const h = Float32Array.from({ length: T * D }, g);
  const ids = Int32Array.from([7, 8, 9]);
  const pos = Int32Array.from([0, 1, 2]);
  const table = values(src.get(EMBED_TOKENS));
  const want = (zero: boolean) => rows(h, T, D).flatMap((ht, t) => {
    const emb = zero && t === 0 ? new Array<number>(D).fill(0) : table.slice(ids[t]! * D, (ids[t]! + 1) * D);
    const cat = [...rmsnorm(emb, values(src.get(n.enorm)), spec.rmsNormEps), ...rmsnorm(ht, values(src.get(n.hnorm)), spec.rmsNormEps)];
    return matvec(values(src.get(n.ehProj)), D, cat);
  });
  assert.ok(maxAbsDiff(mtpInput(B, w, spec.rmsNormEps, ids, h, pos, false), want(false)) <= 1e-5);
  const z = mtpInput(B, w, spec.rmsNormEps, ids, h, pos, true);
  assert.ok(maxAbsDiff(z, want(true)) <= 1e-5);
  assert.ok(maxAbsDiff(z.subarray(D), want(false).slice(D)) <= 1e-5);
});
