/**
 * The engine proven against the independent reference (MODELS.md §8.3, §9.1 test sequences): for
 * every §9.2 fixture, generated to disk and loaded like a real model, LocalModelRunner's logits
 * (full prefill; prefill 5 + decode 7; chunked 4+4+4; a prefix-cache hit continuing at the
 * absolute position; MLA absorbed vs naive; MTP) match src/model/reference/ (float64, no KV cache),
 * and 16 greedy tokens are identical. Max differences are printed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ComputeBackend } from '../../kernels/backend.js';
import { referenceBackend } from '../../kernels/reference.js';
import { isNativeAvailable, selectBackend } from '../../kernels/select-backend.js';
import { bindModelWeights } from '../../model/model-weights.js';
import { argmaxRow, maxAbsDiff, printLogitDiff, rms } from '../../model/reference/compare.js';
import { referenceForward } from '../../model/reference/forward.js';
import { referenceMtp } from '../../model/reference/mtp.js';
import { parseModelConfig } from '../../config/model-config.js';
import { FIXTURE_CONFIGS } from '../../model/reference/testing/fixtures.js';
import { randomWeights } from '../../model/reference/testing/random-weights.js';
import { GENERATED_FIXTURES, generateFixture, scratchDir, type LoadedFixture } from '../../model/reference/testing/generated.js';
import { LocalModelRunner, type MtpSlice } from './model-runner.js';
import type { ForwardResult, SequenceSlice } from './types.js';

/** MODELS.md §8.3: tiny model f32 engine vs reference, and prefill vs decode / chunked. */
const LOGIT_TOL = 1e-4;
/** MODELS.md §8.3: MLA naive vs absorbed, max abs diff / RMS. */
const MLA_REL_TOL = 1e-5;
const BLOCK = 4;
const PROMPT = [1, 17, 42, 250, 3, 99, 128, 7, 64, 200, 5, 31]; // 12 tokens, byte vocabulary

const scratch = scratchDir('xds-ref-runner-');
after(() => scratch.cleanup());

type MlaMode = 'auto' | 'naive' | 'absorbed';

/** The native addon's backend when it is built here (f32 weights), else null: then only the reference backend runs. */
const nativeBackend: ComputeBackend | null = isNativeAvailable() ? selectBackend({ kind: 'native', numThreads: 1 }) : null;

function makeRunner(m: LoadedFixture, mlaMode: MlaMode = 'auto', mtpZeroEmbedAtPos0 = false, dtype: 'f32' | 'keep' = 'f32', backend = referenceBackend): LocalModelRunner {
  const weights = bindModelWeights(m.spec, m.weights, { includeMtp: m.spec.numMtpLayers > 0, dtype });
  return new LocalModelRunner(m.spec, weights, backend, { numBlocks: 16, blockSizeTokens: BLOCK, mlaMode, mtpZeroEmbedAtPos0 });
}

function blocks(...ids: number[]): Int32Array {
  return Int32Array.from(ids);
}

/** One slice through the runner, every row's logits. */
function run(r: LocalModelRunner, seqId: string, tokens: readonly number[], startPos: number, table: Int32Array): ForwardResult {
  const slice: SequenceSlice = { seqId, tokenIds: Int32Array.from(tokens), startPos, blockTable: table, wantAllLogits: true };
  return r.forward({ kind: 'forward', seqs: [slice] });
}

/** Rows [from, to) of a [T, width] matrix. */
function rows(a: Float64Array | Float32Array, from: number, to: number, width: number): Float64Array | Float32Array {
  return a.subarray(from * width, to * width);
}

/** Prefill `split[0]` tokens, then the next chunks, concatenating all logits rows. */
function chunked(r: LocalModelRunner, tokens: readonly number[], split: readonly number[], table: Int32Array): Float32Array {
  const out: number[] = [];
  let pos = 0;
  for (const n of split) {
    out.push(...run(r, 'chunked', tokens.slice(pos, pos + n), pos, table).logits);
    pos += n;
  }
  return Float32Array.from(out);
}

const table3 = blocks(0, 1, 2);

for (const f of GENERATED_FIXTURES) {
  test(`${f.label}: engine == reference (prefill, decode, chunked, prefix hit${f.isMla ? ', MLA forms' : ''}, greedy)`, async () => {
    const m = await generateFixture(f, scratch.dir);
    const V = m.spec.vocabSize;
    const ref = referenceForward(m.spec, m.weights, PROMPT);

    const full = run(makeRunner(m), 'full', PROMPT, 0, table3);
    assert.ok(printLogitDiff(`${f.label} prefill 12`, full.logits, ref.logits) <= LOGIT_TOL);
    assert.ok(maxAbsDiff(full.hidden, ref.hidden) <= LOGIT_TOL, 'post-norm hidden states');

    const dec = chunked(makeRunner(m), PROMPT, [5, 1, 1, 1, 1, 1, 1, 1], table3);
    assert.ok(printLogitDiff(`${f.label} prefill 5 + decode 7`, dec, ref.logits) <= LOGIT_TOL);

    if (nativeBackend) {
      const nat = chunked(makeRunner(m, 'auto', false, 'f32', nativeBackend), PROMPT, [5, 1, 1, 1, 1, 1, 1, 1], table3);
      assert.ok(printLogitDiff(`${f.label} NATIVE backend prefill 5 + decode 7`, nat, ref.logits) <= LOGIT_TOL);
    }

    const ch = chunked(makeRunner(m), PROMPT, [4, 4, 4], table3);
    assert.ok(printLogitDiff(`${f.label} chunked 4+4+4 vs unchunked`, ch, full.logits) <= LOGIT_TOL);

    checkPrefixHit(m, f.label);
    checkMixedBatch(m, f.label);
    if (f.isMla) checkMlaForms(m, f.label);
    if (m.spec.numMtpLayers > 0) for (const zero of [false, true]) checkMtp(m, f.label, zero);
    checkGreedy(m, f.label);
    assert.equal(full.logits.length, PROMPT.length * V);
  });
}

/** Sequence B shares A's first 8 tokens (2 full blocks): it reuses blocks 0, 1 and computes from position 8. */
function checkPrefixHit(m: LoadedFixture, label: string): void {
  const r = makeRunner(m);
  run(r, 'A', PROMPT, 0, table3);
  const b = [...PROMPT.slice(0, 8), 77, 78, 79, 80];
  const hit = run(r, 'B', b.slice(8), 8, blocks(0, 1, 3));
  const ref = referenceForward(m.spec, m.weights, b);
  const V = m.spec.vocabSize;
  assert.ok(printLogitDiff(`${label} prefix hit (8 cached) continues at position 8`, hit.logits, rows(ref.logits, 8, 12, V)) <= LOGIT_TOL);
}

/** One batch mixing a 12-token prefill (A) and a decode step (B, 5 tokens already cached): each equals the reference. */
function checkMixedBatch(m: LoadedFixture, label: string): void {
  const r = makeRunner(m);
  const b = [9, 8, 7, 6, 5, 4];
  run(r, 'B', b.slice(0, 5), 0, blocks(4, 5));
  const out = r.forward({ kind: 'forward', seqs: [
    { seqId: 'A', tokenIds: Int32Array.from(PROMPT), startPos: 0, blockTable: table3, wantAllLogits: true },
    { seqId: 'B', tokenIds: Int32Array.from(b.slice(5)), startPos: 5, blockTable: blocks(4, 5), wantAllLogits: false },
  ] });
  const V = m.spec.vocabSize;
  assert.deepEqual(out.rows, [{ first: 0, count: 12 }, { first: 12, count: 1 }]);
  const refA = referenceForward(m.spec, m.weights, PROMPT).logits;
  const refB = referenceForward(m.spec, m.weights, b).logits;
  const d = Math.max(maxAbsDiff(rows(out.logits, 0, 12, V), refA), maxAbsDiff(rows(out.logits, 12, 13, V), rows(refB, 5, 6, V)));
  console.log(`${label} mixed batch (prefill 12 + decode 1): max |logit diff| = ${d.toExponential(3)}`);
  assert.ok(d <= LOGIT_TOL);
}

/** MLA naive and absorbed runners agree on prefill and on decode (max abs diff / RMS). */
function checkMlaForms(m: LoadedFixture, label: string): void {
  const split = [5, 1, 1, 1, 1, 1, 1, 1];
  const naive = chunked(makeRunner(m, 'naive'), PROMPT, split, table3);
  const absorbed = chunked(makeRunner(m, 'absorbed'), PROMPT, split, table3);
  const rel = maxAbsDiff(naive, absorbed) / rms(naive);
  console.log(`${label} MLA absorbed vs naive: max |diff| / RMS = ${rel.toExponential(3)}`);
  assert.ok(rel <= MLA_REL_TOL, `${rel}`);
}

/**
 * 16 greedy tokens: the engine decodes with its KV cache. The reference, being causal and without
 * state, is run once over prompt + the engine's tokens: its argmax at every position must be the
 * engine's next token, which (by induction over the steps) is the same as the reference's own
 * greedy generation, at 1/16 of the cost.
 */
function checkGreedy(m: LoadedFixture, label: string): void {
  const V = m.spec.vocabSize;
  const prompt = PROMPT.slice(0, 6);
  const r = makeRunner(m);
  const table = blocks(0, 1, 2, 3, 4, 5);
  const engine: number[] = [];
  let out = run(r, 'g', prompt, 0, table);
  for (let step = 0; step < 16; step++) {
    const tok = argmaxRow(out.logits, out.logits.length / V - 1, V);
    engine.push(tok);
    if (step < 15) out = run(r, 'g', [tok], prompt.length + step, table);
  }
  const ref = referenceForward(m.spec, m.weights, [...prompt, ...engine.slice(0, 15)]).logits;
  const reference = engine.map((_, step) => argmaxRow(ref, prompt.length - 1 + step, V));
  const margin = Math.min(...engine.map((_, step) => top2Margin(ref.subarray((prompt.length - 1 + step) * V, (prompt.length + step) * V))));
  console.log(`${label} greedy 16: ${engine.join(' ')} (smallest reference top-2 margin ${margin.toExponential(2)})`);
  assert.deepEqual(engine, reference);
}

/** Largest minus second-largest value: how far a greedy choice is from a tie. */
function top2Margin(row: Float64Array): number {
  const [a, b] = [...row].sort((x, y) => y - x);
  return a! - b!;
}

/**
 * MTP (MODELS.md §6.2): after a 12-token prefill, the pairs (h_j, t_{j+1}) for j = 0 … 10 go through
 * forwardMtp in two chunks (6 + 5, so the second reads the MTP module's own cache) and must match
 * referenceMtp on the reference's own hidden states.
 */
function checkMtp(m: LoadedFixture, label: string, zeroEmbedAtPos0: boolean): void {
  const D = m.spec.hiddenSize;
  const r = makeRunner(m, 'auto', zeroEmbedAtPos0);
  const main = run(r, 'm', PROMPT, 0, table3);
  const mtpChunk = (from: number, to: number): Float32Array => {
    const slice: MtpSlice = {
      seqId: 'm', tokenIds: Int32Array.from(PROMPT.slice(from + 1, to + 1)), startPos: from, blockTable: table3,
      wantAllLogits: true, hidden: main.hidden.slice(from * D, to * D),
    };
    return r.forwardMtp({ kind: 'forward_mtp', seqs: [slice] }).logits;
  };
  const engine = Float32Array.from([...mtpChunk(0, 6), ...mtpChunk(6, 11)]);
  const ref = referenceForward(m.spec, m.weights, PROMPT);
  const positions = [...Array(11).keys()];
  const refMtp = referenceMtp(m.spec, m.weights, ref.hidden.subarray(0, 11 * D), PROMPT.slice(1), positions, { zeroEmbeddingAtPos0: zeroEmbedAtPos0 });
  assert.ok(printLogitDiff(`${label} MTP (zero embedding at pos 0: ${zeroEmbedAtPos0})`, engine, refMtp) <= LOGIT_TOL);
}

test('dsv3-tiny stored in bf16, engine keeping bf16 weights: == reference decoding the same bits', async () => {
  const m = await generateFixture(GENERATED_FIXTURES.find((x) => x.label === 'dsv3-tiny')!, scratch.dir, 11, 'bf16');
  assert.equal(m.weights.get('model.layers.0.self_attn.kv_b_proj.weight').dtype, 'bf16');
  const ref = referenceForward(m.spec, m.weights, PROMPT);
  const dec = chunked(makeRunner(m, 'auto', false, 'keep'), PROMPT, [5, 1, 1, 1, 1, 1, 1, 1], table3);
  assert.ok(printLogitDiff('dsv3-tiny bf16 weights, prefill 5 + decode 7', dec, ref.logits) <= LOGIT_TOL);
});

/** Config paths the generator presets do not take, on in-memory random weights (MODELS.md §9.1 init). */
const VARIANTS: readonly { label: string; config: Record<string, unknown> }[] = [
  { label: 'qwen3 + generic YaRN (cos/sin × (0.1·ln f + 1))', config: { ...FIXTURE_CONFIGS['qwen3-tiny'], rope_theta: 10000, rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 64 } } },
  { label: 'llama + attention_bias + linear scaling', config: { ...FIXTURE_CONFIGS['llama-tiny'], attention_bias: true, rope_scaling: { type: 'linear', factor: 2 } } },
  { label: 'mixtral + sliding_window 5', config: { ...FIXTURE_CONFIGS['mixtral-tiny'], sliding_window: 5 } },
  { label: 'deepseek-v3 noaux_tc without normalization (scaled anyway)', config: { ...FIXTURE_CONFIGS['dsv3-tiny'], norm_topk_prob: false, num_nextn_predict_layers: 0 } },
  { label: 'deepseek-v2 group_limited_greedy normalized (no scaling)', config: { ...FIXTURE_CONFIGS['dsv2-tiny'], norm_topk_prob: true } },
];

for (const v of VARIANTS) {
  test(`variant ${v.label}: engine prefill 5 + decode 7 == reference`, () => {
    const spec = parseModelConfig(v.config);
    const m: LoadedFixture = { dir: '', config: v.config, spec, weights: randomWeights(spec, 21) };
    const ref = referenceForward(spec, m.weights, PROMPT);
    const dec = chunked(makeRunner(m), PROMPT, [5, 1, 1, 1, 1, 1, 1, 1], table3);
    assert.ok(printLogitDiff(`variant ${v.label}`, dec, ref.logits) <= LOGIT_TOL);
  });
}
