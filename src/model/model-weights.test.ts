// bindModelWeights: typed structs, tied head, bf16 conversion or keep, MTP fallbacks, missing/corrupt errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../config/model-config.js';
import { bf16ToF32 } from '../core/dtype.js';
import { isXdsError } from '../core/errors.js';
import { MemoryWeights, randomWeightSource, TINY_CONFIGS } from '../units/testing/random-model.js';
import { bindModelWeights } from './model-weights.js';
import { EMBED_TOKENS, LM_HEAD } from './tensor-names.js';
import type { Tensor } from './tensor.js';

test('llama: every layer bound with shapes; untied head; attention biases', () => {
  const spec = parseModelConfig(TINY_CONFIGS['llama']);
  const w = bindModelWeights(spec, randomWeightSource(spec, 1));
  assert.equal(w.layers.length, 2);
  const a = w.layers[1]!.attention;
  assert.ok(a.kind === 'gqa' && a.q.outDim === 48 && a.q.inDim === 40 && a.k.outDim === 24 && a.o.bias?.length === 40);
  assert.notEqual(w.lmHead, w.embed);
  assert.equal(w.mtp.length, 0);
});

test('qwen3 tied: lm_head is embed_tokens; bf16 converted to f32 by default, kept with dtype keep', () => {
  const spec = parseModelConfig(TINY_CONFIGS['qwen3']);
  const src = randomWeightSource(spec, 2, 'bf16');
  const w = bindModelWeights(spec, src);
  assert.equal(w.lmHead, w.embed);
  assert.equal(w.embed.format, 'f32');
  const bits = src.get(EMBED_TOKENS).data as Uint16Array;
  assert.equal(w.embed.data[5], bf16ToF32(bits[5]!));
  const k = bindModelWeights(spec, src, { dtype: 'keep' });
  assert.equal(k.embed.format, 'bf16');
  assert.equal(k.embed.data, bits);
  const a = k.layers[0]!.attention;
  assert.ok(a.kind === 'gqa' && a.qNorm instanceof Float32Array && a.qNorm.length === 16);
});

test('deepseek_v3: MLA, MoE with bias and shared expert, MTP falls back to main embed/head or uses its copies', () => {
  const spec = parseModelConfig(TINY_CONFIGS['deepseek_v3']);
  const src = randomWeightSource(spec, 3);
  const w = bindModelWeights(spec, src);
  const f = w.layers[2]!.ffn;
  assert.ok(f.kind === 'moe' && f.experts.length === 16 && f.correctionBias?.length === 16 && f.shared?.gate.outDim === 16);
  assert.equal(w.layers[0]!.ffn.kind, 'dense');
  assert.equal(w.mtp.length, 1);
  assert.equal(w.mtp[0]!.embed, w.embed);
  assert.equal(w.mtp[0]!.head, w.lmHead);
  assert.equal(w.mtp[0]!.block.index, 3);
  const copy = (from: string, to: string): Tensor => ({ ...src.get(from), name: to });
  const withCopies = new MemoryWeights([...src.map.values(), copy(EMBED_TOKENS, 'model.layers.3.embed_tokens.weight'), copy(LM_HEAD, 'model.layers.3.shared_head.head.weight')]);
  const w2 = bindModelWeights(spec, withCopies);
  assert.notEqual(w2.mtp[0]!.embed, w2.embed);
  assert.deepEqual(w2.mtp[0]!.head.data, w2.lmHead.data);
  assert.equal(bindModelWeights(spec, src, { includeMtp: false }).mtp.length, 0);
});

test('missing tensor → checkpoint_missing naming it; wrong shape → checkpoint_corrupt naming tensor and shapes', () => {
  const spec = parseModelConfig(TINY_CONFIGS['deepseek_v3']);
  const src = randomWeightSource(spec, 4);
  const drop = (name: string) => new MemoryWeights([...src.map.values()].filter((t) => t.name !== name));
  const bias = 'model.layers.1.mlp.gate.e_score_correction_bias';
  assert.throws(() => bindModelWeights(spec, drop(bias)), (e: unknown) => isXdsError(e, 'checkpoint_missing') && e.param === bias && e.message.includes(bias));
  assert.throws(() => bindModelWeights(spec, drop(LM_HEAD)), (e: unknown) => isXdsError(e, 'checkpoint_missing') && e.message.includes(LM_HEAD));
  const kvb = 'model.layers.0.self_attn.kv_b_proj.weight';
  const t = src.get(kvb);
  const bad = new MemoryWeights([...src.map.values()].map((x) => (x.name === kvb ? { ...t, shape: [t.shape[1]!, t.shape[0]!] } : x)));
  assert.throws(() => bindModelWeights(spec, bad), (e: unknown) => isXdsError(e, 'checkpoint_corrupt') && e.param === kvb && e.message.includes('[20, 88]') && e.message.includes('[88, 20]'));
});
