// LocalModelRunner end to end on tiny random models of every architecture (MODELS.md §9.1 tests):
// incremental decode == full prefill, chunked == unchunked, MLA absorbed == naive, batched == alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../../config/model-config.js';
import { isXdsError } from '../../core/errors.js';
import { referenceBackend } from '../../kernels/reference.js';
import { bindModelWeights } from '../../model/model-weights.js';
import { randomWeightSource, TINY_CONFIGS } from '../../units/testing/random-model.js';
import type { MlaMode } from '../../units/attention/mla.js';
import type { Routing } from '../../units/moe/router.js';
import { LocalModelRunner } from './model-runner.js';
import type { SequenceSlice } from './types.js';

const PROMPT = Int32Array.from([3, 17, 42, 5, 88, 1, 64, 23, 9, 71, 30, 50]);
const OTHER = Int32Array.from([90, 2, 33, 7, 61, 12, 44]);
const BS = 4;

function makeRunner(arch: string, mlaMode: MlaMode = 'auto', onRouting?: (layer: number, r: Routing) => void): LocalModelRunner {
  const spec = parseModelConfig(TINY_CONFIGS[arch]);
  const weights = bindModelWeights(spec, randomWeightSource(spec, 7));
  return new LocalModelRunner(spec, weights, referenceBackend, onRouting ? { numBlocks: 12, blockSizeTokens: BS, mlaMode, onRouting } : { numBlocks: 12, blockSizeTokens: BS, mlaMode });
}

function slice(tokens: Int32Array, startPos: number, blockTable: Int32Array, all = true): SequenceSlice {
  return { seqId: 's', tokenIds: tokens, startPos, blockTable, wantAllLogits: all };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function rms(a: Float32Array): number {
  return Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
}

/** Run the prompt in chunks of the given sizes; returns all logits rows concatenated. */
function runChunks(r: LocalModelRunner, tokens: Int32Array, sizes: number[], table: Int32Array): Float32Array {
  const out = new Float32Array(tokens.length * r.vocabSize);
  let pos = 0;
  for (const n of sizes) {
    const res = r.forward({ kind: 'forward', seqs: [slice(tokens.subarray(pos, pos + n), pos, table)] });
    assert.equal(res.logits.length, n * r.vocabSize);
    out.set(res.logits, pos * r.vocabSize);
    pos += n;
  }
  return out;
}

const TABLE_A = Int32Array.from([5, 2, 9]);
const TABLE_B = Int32Array.from([0, 11]);

for (const arch of Object.keys(TINY_CONFIGS)) {
  test(`${arch}: decode, chunked prefill and batching match a full prefill`, () => {
    const full = runChunks(makeRunner(arch), PROMPT, [12], TABLE_A);
    assert.ok(full.every(Number.isFinite) && rms(full) > 0.1, 'logits finite and non-trivial');
    const incr = runChunks(makeRunner(arch), PROMPT, [5, 1, 1, 1, 1, 1, 1, 1], TABLE_A);
    const chunked = runChunks(makeRunner(arch), PROMPT, [4, 4, 4], TABLE_A);
    const dDecode = maxAbsDiff(incr, full);
    const dChunk = maxAbsDiff(chunked, full);
    // Batch: A decodes its last token while B prefills, in one forward pass.
    const r = makeRunner(arch);
    runChunks(r, PROMPT.subarray(0, 11), [11], TABLE_A);
    const both = r.forward({ kind: 'forward', seqs: [slice(PROMPT.subarray(11), 11, TABLE_A, false), slice(OTHER, 0, TABLE_B, true)] });
    const alone = runChunks(makeRunner(arch), OTHER, [7], TABLE_B);
    assert.deepEqual(both.rows, [{ first: 0, count: 1 }, { first: 1, count: 7 }]);
    const V = r.vocabSize;
    const dBatchA = maxAbsDiff(both.logits.subarray(0, V), full.subarray(11 * V));
    const dBatchB = maxAbsDiff(both.logits.subarray(V), alone);
    assert.equal(both.hidden.length, 8 * r.hiddenSize);
    console.log(`${arch}: max|Δlogit| decode ${dDecode.toExponential(2)} chunked ${dChunk.toExponential(2)} batchA ${dBatchA.toExponential(2)} batchB ${dBatchB.toExponential(2)} (logit rms ${rms(full).toFixed(2)})`);
    for (const d of [dDecode, dChunk, dBatchA, dBatchB]) assert.ok(d <= 1e-4, `diff ${d}`);
  });
}

for (const arch of ['deepseek_v3', 'deepseek_v3_noq', 'deepseek_v2']) {
  test(`${arch}: MLA absorbed == naive (prefill and decode)`, () => {
    const naive = runChunks(makeRunner(arch, 'naive'), PROMPT, [5, 1, 1, 4, 1], TABLE_A);
    const absorbed = runChunks(makeRunner(arch, 'absorbed'), PROMPT, [5, 1, 1, 4, 1], TABLE_A);
    const rel = maxAbsDiff(naive, absorbed) / rms(naive);
    console.log(`${arch}: MLA absorbed vs naive max|Δ|/rms ${rel.toExponential(2)}`);
    assert.ok(rel <= 1e-5, `rel ${rel}`);
  });
}

test('deepseek_v3 MTP: own KV layer; incremental == full; main cache untouched', () => {
  const r = makeRunner('deepseek_v3');
  const V = r.vocabSize;
  const D = r.hiddenSize;
  const main = r.forward({ kind: 'forward', seqs: [slice(PROMPT, 0, TABLE_A)] });
  const mainLatent = Float32Array.from((r.kv.layer(0) as { latent: Float32Array }).latent);
  // Pairs (h_j, t_{j+1}) for j = 0 … 10.
  const pairs = (j0: number, j1: number) => ({ ...slice(PROMPT.subarray(j0 + 1, j1 + 1), j0, TABLE_A), hidden: main.hidden.subarray(j0 * D, j1 * D) });
  const full = r.forwardMtp({ kind: 'forward_mtp', seqs: [pairs(0, 11)] });
  assert.equal(full.logits.length, 11 * V);
  assert.deepEqual((r.kv.layer(0) as { latent: Float32Array }).latent, mainLatent);
  const r2 = makeRunner('deepseek_v3');
  r2.forward({ kind: 'forward', seqs: [slice(PROMPT, 0, TABLE_A)] });
  const a = r2.forwardMtp({ kind: 'forward_mtp', seqs: [pairs(0, 6)] });
  const b = r2.forwardMtp({ kind: 'forward_mtp', seqs: [pairs(6, 7)] });
  const c = r2.forwardMtp({ kind: 'forward_mtp', seqs: [pairs(7, 11)] });
  const inc = new Float32Array(11 * V);
  inc.set(a.logits, 0); inc.set(b.logits, 6 * V); inc.set(c.logits, 7 * V);
  const d = maxAbsDiff(inc, full.logits);
  console.log(`deepseek_v3 MTP incremental vs full max|Δ| ${d.toExponential(2)}`);
  assert.ok(d <= 1e-4);
  assert.ok(maxAbsDiff(full.logits.subarray(0, V), main.logits.subarray(V, 2 * V)) > 1e-3, 'MTP head differs from the main head');
});

test('bad batches give XdsErrors naming the field', () => {
  const r = makeRunner('llama');
  const bad = (s: SequenceSlice, param: string) => assert.throws(() => r.forward({ kind: 'forward', seqs: [s] }), (e: unknown) => isXdsError(e, 'invalid_argument') && e.param === param);
  bad(slice(PROMPT, 0, Int32Array.from([1, 2])), 'seqs[0].blockTable');
  bad(slice(new Int32Array(0), 0, TABLE_A), 'seqs[0].tokenIds');
  bad(slice(Int32Array.from([96]), 0, TABLE_A), 'tokenIds');
  bad(slice(Int32Array.from([1]), 0, Int32Array.from([99])), 'blockTable');
  assert.throws(() => r.forwardMtp({ kind: 'forward_mtp', seqs: [] }), (e: unknown) => isXdsError(e, 'invalid_argument'));
});

test('onRouting reports each MoE layer (main and MTP) with k experts per token', () => {
  const seen: [number, number][] = [];
  const r = makeRunner('deepseek_v3', 'auto', (layer, routing) => seen.push([layer, routing.numTokens]));
  const main = r.forward({ kind: 'forward', seqs: [slice(PROMPT.subarray(0, 6), 0, TABLE_A)] });
  assert.deepEqual(seen, [[1, 6], [2, 6]]);
  r.forwardMtp({ kind: 'forward_mtp', seqs: [{ ...slice(PROMPT.subarray(1, 6), 0, TABLE_A), hidden: main.hidden.subarray(0, 5 * r.hiddenSize) }] });
  assert.deepEqual(seen[2], [3, 5]);
});

test('bf16 weights kept as bf16 give the same logits as converted f32 (exact conversion), GQA and MLA', () => {
  for (const arch of ['qwen3', 'deepseek_v3']) {
    const spec = parseModelConfig(TINY_CONFIGS[arch]);
    const src = randomWeightSource(spec, 8, 'bf16');
    const f32 = new LocalModelRunner(spec, bindModelWeights(spec, src), referenceBackend, { numBlocks: 12, blockSizeTokens: BS });
    const keep = new LocalModelRunner(spec, bindModelWeights(spec, src, { dtype: 'keep' }), referenceBackend, { numBlocks: 12, blockSizeTokens: BS });
    assert.equal(keep.weights.lmHead.format, 'bf16');
    const a = runChunks(f32, PROMPT, [6, 1, 1, 4], TABLE_A);
    const b = runChunks(keep, PROMPT, [6, 1, 1, 4], TABLE_A);
    assert.ok(maxAbsDiff(a, b) <= 1e-6, arch);
  }
});

test('a runner given another runner\'s KV storage continues its sequence', () => {
  const spec = parseModelConfig(TINY_CONFIGS['mixtral']);
  const weights = bindModelWeights(spec, randomWeightSource(spec, 7));
  const first = new LocalModelRunner(spec, weights, referenceBackend, { numBlocks: 12, blockSizeTokens: BS });
  runChunks(first, PROMPT.subarray(0, 8), [8], TABLE_A);
  const second = new LocalModelRunner(spec, weights, referenceBackend, { numBlocks: 12, blockSizeTokens: BS, kv: first.kv });
  const tail = second.forward({ kind: 'forward', seqs: [slice(PROMPT.subarray(8), 8, TABLE_A)] });
  const full = runChunks(makeRunner('mixtral'), PROMPT, [12], TABLE_A);
  assert.ok(maxAbsDiff(tail.logits, full.subarray(8 * spec.vocabSize)) <= 1e-4);
});
