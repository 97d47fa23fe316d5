/**
 * Model-level checks of the reference itself: GQA head mapping by hand, expected tensor names,
 * the layer plan against the ModelSpec, causality (a prefix gives the same rows), MTP shapes and
 * causality, bf16 storage decoding, and clear errors on bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../../config/model-config.js';
import { isXdsError } from '../../core/errors.js';
import type { Tensor } from '../tensor.js';
import { gqaAttention } from './attention.js';
import { maxAbsDiff } from './compare.js';
import { referenceForward } from './forward.js';
import { referenceLayerKinds } from './layer-plan.js';
import { referenceMtp } from './mtp.js';
import { mlaAttention } from './mla.js';
import { mlaAttentionAbsorbed } from './mla-absorbed.js';
import { makeRefRope } from './rope.js';
import { normalSampler } from './testing/random-weights.js';
import { referenceTensorShapes } from './tensor-list.js';
import { FIXTURE_CONFIGS, FIXTURE_NAMES } from './testing/fixtures.js';
import { f32Tensor, memoryWeights, randomWeights } from './testing/random-weights.js';
import { rms } from './compare.js';

const PROMPT = [1, 17, 42, 250, 3, 99, 128, 7, 64, 200, 5, 31];

test('GQA: query head h reads KV head ⌊h/g⌋ (not h mod Hkv)', () => {
  const spec = parseModelConfig({ ...FIXTURE_CONFIGS['llama-tiny'], hidden_size: 8, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 2, rope_scaling: null });
  const D = 8;
  const zeros = (n: number) => new Array<number>(n).fill(0);
  const v = zeros(4 * D); // [Hkv·dh, D]: kv head 0 → (10, 11)·x0, kv head 1 → (20, 21)·x0
  [10, 11, 20, 21].forEach((c, r) => { v[r * D] = c; });
  const eye = zeros(D * 8).map((_, i) => (Math.floor(i / 8) === i % 8 ? 1 : 0));
  const ws = memoryWeights([
    f32Tensor('p.self_attn.q_proj.weight', [8, D], zeros(8 * D)), f32Tensor('p.self_attn.k_proj.weight', [4, D], zeros(4 * D)),
    f32Tensor('p.self_attn.v_proj.weight', [4, D], v), f32Tensor('p.self_attn.o_proj.weight', [D, 8], eye),
  ]);
  const x = Float64Array.from([1, 0, 0, 0, 0, 0, 0, 0]);
  const y = gqaAttention(spec, ws, 'p.', x, [0], makeRefRope(spec.rope));
  assert.deepEqual([...y], [10, 11, 10, 11, 20, 21, 20, 21]);
});

test('the ModelSpec layer plan matches the MODELS.md rules applied to config.json', () => {
  for (const name of FIXTURE_NAMES) {
    const cfg = FIXTURE_CONFIGS[name];
    assert.deepEqual(parseModelConfig(cfg).layers.map((l) => l.ffn.kind), referenceLayerKinds(cfg), name);
  }
  assert.deepEqual(referenceLayerKinds(FIXTURE_CONFIGS['qwen3moe-tiny']), ['dense', 'moe', 'dense', 'dense']);
  assert.deepEqual(referenceLayerKinds(FIXTURE_CONFIGS['dsv3-tiny-noq']), ['dense', 'dense', 'moe']);
});

test('expected tensors: MTP, tied head, q LoRA vs q_proj, correction bias, Mixtral w1/w3/w2', () => {
  const dsv3 = referenceTensorShapes(parseModelConfig(FIXTURE_CONFIGS['dsv3-tiny']));
  assert.deepEqual(dsv3.get('model.layers.3.eh_proj.weight'), [64, 128]);
  assert.deepEqual(dsv3.get('model.layers.2.mlp.gate.e_score_correction_bias'), [16]);
  assert.deepEqual(dsv3.get('model.layers.1.self_attn.kv_b_proj.weight'), [4 * (16 + 12), 32]);
  assert.deepEqual(dsv3.get('model.layers.1.mlp.shared_experts.down_proj.weight'), [64, 16]);
  assert.ok(!dsv3.has('model.layers.0.self_attn.q_proj.weight'));
  const noq = referenceTensorShapes(parseModelConfig(FIXTURE_CONFIGS['dsv3-tiny-noq']));
  assert.deepEqual(noq.get('model.layers.0.self_attn.q_proj.weight'), [4 * 24, 64]);
  assert.deepEqual(noq.get('model.layers.2.mlp.shared_experts.gate_proj.weight'), [32, 64]);
  const qwen = referenceTensorShapes(parseModelConfig(FIXTURE_CONFIGS['qwen3-tiny']));
  assert.ok(!qwen.has('lm_head.weight'), 'tied');
  assert.deepEqual(qwen.get('model.layers.0.self_attn.q_proj.weight'), [64, 48]);
  const mixtral = referenceTensorShapes(parseModelConfig(FIXTURE_CONFIGS['mixtral-tiny']));
  assert.deepEqual(mixtral.get('model.layers.1.block_sparse_moe.experts.3.w2.weight'), [64, 48]);
});

test('causality: the rows of a prefix forward equal the first rows of the full forward (every fixture)', () => {
  for (const name of FIXTURE_NAMES) {
    const spec = parseModelConfig(FIXTURE_CONFIGS[name]);
    const ws = randomWeights(spec, 7);
    const full = referenceForward(spec, ws, PROMPT);
    const pre = referenceForward(spec, ws, PROMPT.slice(0, 5));
    assert.equal(full.logits.length, PROMPT.length * spec.vocabSize);
    assert.equal(full.hidden.length, PROMPT.length * spec.hiddenSize);
    assert.ok(maxAbsDiff(pre.logits, full.logits.subarray(0, 5 * spec.vocabSize)) < 1e-12, name);
    const other = referenceForward(spec, ws, [PROMPT[0]!, 9, ...PROMPT.slice(2)]);
    assert.ok(maxAbsDiff(other.logits.subarray(spec.vocabSize), full.logits.subarray(spec.vocabSize)) > 1e-3, `${name}: later rows depend on earlier tokens`);
  }
});

test('MTP: shapes, causality over the MTP sequence, order of the concatenation matters', () => {
  const spec = parseModelConfig(FIXTURE_CONFIGS['dsv3-tiny']);
  const ws = randomWeights(spec, 3);
  const main = referenceForward(spec, ws, PROMPT);
  const T = PROMPT.length - 1;
  const pos = [...Array(T).keys()];
  const h = main.hidden.subarray(0, T * spec.hiddenSize);
  const mtp = referenceMtp(spec, ws, h, PROMPT.slice(1), pos);
  assert.equal(mtp.length, T * spec.vocabSize);
  const pre = referenceMtp(spec, ws, h.subarray(0, 4 * spec.hiddenSize), PROMPT.slice(1, 5), pos.slice(0, 4));
  assert.ok(maxAbsDiff(pre, mtp.subarray(0, 4 * spec.vocabSize)) < 1e-12);
  const zeroed = referenceMtp(spec, ws, h, PROMPT.slice(1), pos, { zeroEmbeddingAtPos0: true });
  assert.ok(maxAbsDiff(zeroed.subarray(0, spec.vocabSize), mtp.subarray(0, spec.vocabSize)) > 1e-3);
  assert.throws(() => referenceMtp(parseModelConfig(FIXTURE_CONFIGS['dsv2-tiny']), ws, h, PROMPT.slice(1), pos),
    (e) => isXdsError(e, 'invalid_argument') && e.param === 'num_nextn_predict_layers');
});

test('bf16 storage: decoded from raw bits, equal to the f32 model holding the same rounded values', () => {
  const spec = parseModelConfig(FIXTURE_CONFIGS['mixtral-tiny']);
  const ws = randomWeights(spec, 5);
  const u32 = new Uint32Array(1);
  const f32 = new Float32Array(u32.buffer);
  const bf16: Tensor[] = [];
  const rounded: Tensor[] = [];
  for (const name of ws.names()) {
    const t = ws.get(name);
    const bits = new Uint16Array(t.data.length);
    t.data.forEach((v, i) => { f32[0] = v; bits[i] = u32[0]! >>> 16; }); // truncation: exact in both views
    bf16.push({ ...t, dtype: 'bf16', data: bits });
    rounded.push({ ...t, data: Float32Array.from(bits, (b) => { u32[0] = b << 16; return f32[0]!; }) });
  }
  const a = referenceForward(spec, memoryWeights(bf16), PROMPT);
  const b = referenceForward(spec, memoryWeights(rounded), PROMPT);
  assert.equal(maxAbsDiff(a.logits, b.logits), 0);
});

test('bad input: a missing tensor, a wrong shape and an out-of-range token are XdsErrors naming the field', () => {
  const spec = parseModelConfig(FIXTURE_CONFIGS['llama-tiny']);
  const ws = randomWeights(spec, 1);
  const drop = memoryWeights(ws.names().filter((n) => n !== 'lm_head.weight').map((n) => ws.get(n)));
  assert.throws(() => referenceForward(spec, drop, PROMPT), (e) => isXdsError(e, 'checkpoint_missing') && e.param === 'lm_head.weight');
  const bad = memoryWeights(ws.names().map((n) => (n === 'model.norm.weight' ? f32Tensor(n, [63], new Array<number>(63).fill(1)) : ws.get(n))));
  assert.throws(() => referenceForward(spec, bad, PROMPT), (e) => isXdsError(e, 'checkpoint_corrupt') && /model\.norm\.weight/.test(e.message));
  assert.throws(() => referenceForward(spec, ws, [1, 256]), (e) => isXdsError(e, 'invalid_argument') && e.param === 'tokenIds');
  assert.throws(() => referenceForward(spec, ws, []), (e) => isXdsError(e, 'invalid_argument'));
});

test('MLA: the naive form equals the absorbed form in float64 (MODELS.md §4.4 identity), every MLA fixture', () => {
  for (const name of ['dsv3-tiny', 'dsv3-tiny-noq', 'dsv3-tiny-k2yarn', 'dsv2-tiny', 'dsv2-lite-tiny'] as const) {
    const spec = parseModelConfig(FIXTURE_CONFIGS[name]);
    const ws = randomWeights(spec, 9);
    const normal = normalSampler(4);
    const positions = [0, 1, 2, 3, 4, 5, 6];
    const x = Float64Array.from({ length: positions.length * spec.hiddenSize }, normal);
    const rope = makeRefRope(spec.rope);
    const naive = mlaAttention(spec, ws, 'model.layers.1.', x, positions, rope);
    const absorbed = mlaAttentionAbsorbed(spec, ws, 'model.layers.1.', x, positions, rope);
    const rel = maxAbsDiff(naive, absorbed) / rms(naive);
    assert.ok(rel < 1e-12, `${name}: ${rel}`);
  }
});

test('onLayer reports each main layer\'s residual stream, and the model is not the identity', () => {
  const spec = parseModelConfig(FIXTURE_CONFIGS['dsv3-tiny']);
  const ws = randomWeights(spec, 8);
  const seen: number[] = [];
  let prev: Float64Array | null = null;
  referenceForward(spec, ws, PROMPT, {
    onLayer: (l, h) => {
      seen.push(l);
      assert.equal(h.length, PROMPT.length * spec.hiddenSize);
      if (prev) assert.ok(maxAbsDiff(prev, h) > 1e-3, `layer ${l} changes the residual stream`);
      prev = Float64Array.from(h);
    },
  });
  assert.deepEqual(seen, [0, 1, 2], 'the MTP layer (index 3) is not part of the main forward');
});
