/**
 * GGUF exporters on tiny in-memory models: names, GGUF dims, key types, the llama Q/K permutation
 * (checked by un-permuting), expert stacking, the deepseek2 kv_b split (checked by re-joining),
 * dropped MTP layers, tokenizer keys, Q8_0 choice, and the refusals that name the config key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bf16ToF32, f32ToBf16 } from '../../core/dtype.js';
import { isXdsError } from '../../core/errors.js';
import { layerTensorNames } from '../tensor-names.js';
import { exportGguf, planGguf, type GgufPlan } from './export.js';
import { ggufValueOf, readGguf, readGgufTensor } from './reader.js';
import { MemoryWeights, randomWeights, tinySpec, TINY_VOCAB } from './testing/tiny-models.js';
import { tensorToF32 } from './tensors.js';
import { preTokenizerName } from './tokenizer-keys.js';
import { realTokenizerDir } from '../real-tokenizers.js';

const TOKENIZER = {
  tokenizerJson: {
    model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2, 'Ġ': 3 }, merges: [['a', 'b']] },
    added_tokens: [{ id: 4, content: '<|begin_of_text|>', special: true }, { id: 5, content: '<think>', special: false }],
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  },
  tokenizerConfigJson: { bos_token: '<|begin_of_text|>', eos_token: { content: '<|begin_of_text|>' }, add_bos_token: true, chat_template: '{{ x }}' },
};

function tensorOf(plan: GgufPlan, name: string): { shape: readonly number[]; data: Float32Array } {
  const t = plan.tensors.find((x) => x.name === name);
  assert.ok(t, `tensor ${name} planned`);
  return { shape: t.shape, data: t.data() };
}

function kvType(plan: GgufPlan, key: string): string | undefined {
  return plan.kv.find((e) => e.key === key)?.value.type;
}

function kvValue(plan: GgufPlan, key: string): unknown {
  const v = plan.kv.find((e) => e.key === key)?.value;
  return v === undefined ? undefined : v.type === 'array' ? v.values : v.value;
}

function hf(source: MemoryWeights, name: string): Float32Array {
  return tensorToF32(source.get(name));
}

/** Inverse of the halves→pairs reordering on [heads·d, cols]. */
function unpermute(w: Float32Array, cols: number, d: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let h = 0; h < w.length / (cols * d); h++) {
    for (let i = 0; i < d / 2; i++) {
      out.set(w.subarray((h * d + 2 * i) * cols, (h * d + 2 * i + 1) * cols), (h * d + i) * cols);
      out.set(w.subarray((h * d + 2 * i + 1) * cols, (h * d + 2 * i + 2) * cols), (h * d + i + d / 2) * cols);
    }
  }
  return out;
}

test('llama: names, u32/f32 key types, Q/K permutation, biases, llama3 rope_freqs', () => {
  const spec = tinySpec('llama');
  const source = randomWeights(spec, 1);
  const plan = planGguf({ spec, weights: source, tokenizer: TOKENIZER, type: 'f32' });
  assert.equal(plan.arch, 'llama');
  for (const k of ['llama.block_count', 'llama.context_length', 'llama.embedding_length', 'llama.attention.head_count_kv', 'llama.rope.dimension_count']) {
    assert.equal(kvType(plan, k), 'u32', k);
  }
  assert.equal(kvType(plan, 'llama.attention.layer_norm_rms_epsilon'), 'f32');
  assert.equal(kvValue(plan, 'llama.feed_forward_length'), 96);
  const names = new Set(plan.tensors.map((t) => t.name));
  for (const n of ['token_embd.weight', 'output_norm.weight', 'output.weight', 'rope_freqs.weight', 'blk.1.attn_q.weight', 'blk.1.attn_q.bias', 'blk.0.ffn_down.weight']) assert.ok(names.has(n), n);
  const hfNames = layerTensorNames(spec, 1).attention;
  assert.ok(hfNames.kind === 'gqa' && hfNames.q.bias !== null && hfNames.k.bias !== null);
  const q = tensorOf(plan, 'blk.1.attn_q.weight');
  assert.deepEqual(q.shape, [64, 64]);
  assert.notDeepEqual(q.data, hf(source, hfNames.q.weight));
  assert.deepEqual(unpermute(q.data, 64, 16), hf(source, hfNames.q.weight));
  assert.deepEqual(unpermute(tensorOf(plan, 'blk.1.attn_k.weight').data, 64, 16), hf(source, hfNames.k.weight));
  assert.deepEqual(unpermute(tensorOf(plan, 'blk.1.attn_k.bias').data, 1, 16), hf(source, hfNames.k.bias));
  assert.deepEqual(tensorOf(plan, 'blk.1.attn_v.weight').data, hf(source, hfNames.v.weight));
  // llama-tiny scaling (f 4, lf 1, hf 4, L0 32, d 16, θ 1e4): wavelengths 6.3 | 19.9 | 62.8 …
  const freqs = tensorOf(plan, 'rope_freqs.weight').data;
  assert.equal(freqs.length, 8);
  assert.equal(freqs[0], 1);
  assert.ok(freqs[1]! > 1 && freqs[1]! < 4, `smooth branch ${freqs[1]}`);
  assert.equal(freqs[7], 4);
});

test('qwen3 (tied, NeoX) and mixtral (stacked experts in router order)', () => {
  const qwen = tinySpec('qwen3');
  const qs = randomWeights(qwen, 2);
  const qp = planGguf({ spec: qwen, weights: qs, tokenizer: null, type: 'f32' });
  assert.equal(qp.arch, 'qwen3');
  assert.ok(!qp.tensors.some((t) => t.name === 'output.weight'), 'tied: no output.weight');
  const qn = layerTensorNames(qwen, 0).attention;
  assert.ok(qn.kind === 'gqa' && qn.qNorm !== null);
  assert.deepEqual(tensorOf(qp, 'blk.0.attn_q.weight').data, hf(qs, qn.q.weight), 'qwen3: no permutation');
  assert.deepEqual(tensorOf(qp, 'blk.0.attn_q_norm.weight').data, hf(qs, qn.qNorm));
  const mix = tinySpec('mixtral');
  const ms = randomWeights(mix, 3);
  const mp = planGguf({ spec: mix, weights: ms, tokenizer: null, type: 'f32' });
  assert.equal(mp.arch, 'llama');
  assert.equal(kvValue(mp, 'llama.expert_count'), 4);
  assert.equal(kvValue(mp, 'llama.feed_forward_length'), 48);
  const up = tensorOf(mp, 'blk.1.ffn_up_exps.weight');
  assert.deepEqual(up.shape, [4, 48, 64]);
  const fn = layerTensorNames(mix, 1).ffn;
  assert.ok(fn.kind === 'moe');
  fn.experts.forEach((e, i) => assert.deepEqual(up.data.subarray(i * 48 * 64, (i + 1) * 48 * 64), hf(ms, e.up), `expert ${i}`));
});

test('qwen3moe: keys and tensors; refuses dense layers and norm_topk_prob=false naming the key', () => {
  const spec = tinySpec('qwen3moe');
  const plan = planGguf({ spec, weights: randomWeights(spec, 4), tokenizer: null, type: 'f32' });
  assert.equal(plan.arch, 'qwen3moe');
  assert.equal(kvValue(plan, 'qwen3moe.expert_feed_forward_length'), 32);
  assert.equal(kvValue(plan, 'qwen3moe.attention.key_length'), 16);
  assert.deepEqual(tensorOf(plan, 'blk.1.ffn_down_exps.weight').shape, [8, 48, 32]);
  assert.deepEqual(tensorOf(plan, 'blk.1.ffn_gate_inp.weight').shape, [8, 48]);
  for (const [patch, param] of [[{ norm_topk_prob: false }, 'norm_topk_prob'], [{ mlp_only_layers: [1] }, 'mlp_only_layers']] as const) {
    const bad = tinySpec('qwen3moe', patch);
    assert.throws(() => planGguf({ spec: bad, weights: randomWeights(bad, 4), tokenizer: null, type: 'f32' }),
      (e) => isXdsError(e, 'unsupported_architecture') && e.param === param && e.message.includes(param));
  }
});

test('deepseek2: MLA keys, kv_b split re-joins, exp_probs_b, groups, YaRN, MTP dropped', () => {
  const spec = tinySpec('deepseek3');
  const source = randomWeights(spec, 5);
  const plan = planGguf({ spec, weights: source, tokenizer: null, type: 'f32' });
  assert.equal(plan.arch, 'deepseek2');
  const expect: Record<string, unknown> = {
    'deepseek2.block_count': 3, 'deepseek2.attention.head_count_kv': 1, 'deepseek2.attention.key_length': 40,
    'deepseek2.attention.value_length': 32, 'deepseek2.attention.key_length_mla': 24, 'deepseek2.attention.value_length_mla': 12,
    'deepseek2.attention.q_lora_rank': 24, 'deepseek2.rope.dimension_count': 8, 'deepseek2.leading_dense_block_count': 1,
    'deepseek2.expert_count': 16, 'deepseek2.expert_shared_count': 1, 'deepseek2.expert_gating_func': 2,
    'deepseek2.expert_weights_norm': true, 'deepseek2.expert_weights_scale': 2.5, 'deepseek2.expert_group_count': 4,
    'deepseek2.expert_group_used_count': 2, 'deepseek2.rope.scaling.type': 'yarn', 'deepseek2.feed_forward_length': 96,
  };
  for (const [k, v] of Object.entries(expect)) assert.equal(kvValue(plan, k), v, k);
  assert.ok(Math.abs((kvValue(plan, 'deepseek2.rope.scaling.yarn_log_multiplier') as number) - 0.1) < 1e-7);
  assert.ok(!plan.tensors.some((t) => t.name.startsWith('blk.3.')), 'MTP layer dropped');
  assert.ok(plan.notes.some((n) => n.includes('MTP')));
  const n = layerTensorNames(spec, 1);
  assert.ok(n.attention.kind === 'mla' && n.ffn.kind === 'moe' && n.ffn.correctionBias !== null);
  assert.deepEqual(tensorOf(plan, 'blk.1.exp_probs_b.bias').data, hf(source, n.ffn.correctionBias));
  assert.deepEqual(tensorOf(plan, 'blk.1.attn_q_b.weight').data, hf(source, n.attention.qB!), 'interleaved: no permutation');
  const kB = tensorOf(plan, 'blk.1.attn_k_b.weight');
  const vB = tensorOf(plan, 'blk.1.attn_v_b.weight');
  assert.deepEqual(kB.shape, [4, 32, 16]);
  assert.deepEqual(vB.shape, [4, 12, 32]);
  const kvB = hf(source, n.attention.kvB); // [H·(dn+dv), R]
  for (let h = 0; h < 4; h++) for (let r = 0; r < 28; r++) for (let c = 0; c < 32; c++) {
    const got = r < 16 ? kB.data[h * 32 * 16 + c * 16 + r] : vB.data[h * 12 * 32 + (r - 16) * 32 + c];
    assert.equal(got, kvB[(h * 28 + r) * 32 + c]);
  }
  assert.deepEqual(tensorOf(plan, 'blk.2.ffn_gate_shexp.weight').shape, [16, 64]);
  assert.deepEqual(tensorOf(plan, 'blk.0.ffn_gate.weight').shape, [96, 64]);
});

test('deepseek2 refusals: lite layer-count trap, V2 group max, no groups when topk_group = n_group', () => {
  const lite = tinySpec('deepseek3', { num_hidden_layers: 27 });
  assert.throws(() => planGguf({ spec: lite, weights: randomWeights(lite, 6), tokenizer: null, type: 'f32' }),
    (e) => isXdsError(e, 'unsupported_architecture') && e.param === 'num_hidden_layers');
  const noq = tinySpec('deepseek3', { q_lora_rank: null });
  assert.throws(() => planGguf({ spec: noq, weights: randomWeights(noq, 6), tokenizer: null, type: 'f32' }),
    (e) => isXdsError(e, 'unsupported_architecture') && e.param === 'q_lora_rank');
  const v2 = tinySpec('deepseek3', { architectures: ['DeepseekV2ForCausalLM'], model_type: 'deepseek_v2', scoring_func: 'softmax', topk_method: 'group_limited_greedy', norm_topk_prob: false, routed_scaling_factor: 16 });
  assert.throws(() => planGguf({ spec: v2, weights: randomWeights(v2, 6), tokenizer: null, type: 'f32' }),
    (e) => isXdsError(e, 'unsupported_architecture') && e.param === 'topk_method');
  const flat = tinySpec('deepseek3', { topk_group: 4 });
  const fp = planGguf({ spec: flat, weights: randomWeights(flat, 6), tokenizer: null, type: 'f32' });
  assert.equal(kvValue(fp, 'deepseek2.expert_group_count'), undefined);
  const v2flat = tinySpec('deepseek3', { architectures: ['DeepseekV2ForCausalLM'], model_type: 'deepseek_v2', scoring_func: 'softmax', topk_method: 'greedy', n_group: 1, topk_group: 1, norm_topk_prob: false, routed_scaling_factor: 16 });
  const vp = planGguf({ spec: v2flat, weights: randomWeights(v2flat, 6), tokenizer: null, type: 'f32' });
  assert.equal(kvValue(vp, 'deepseek2.expert_weights_scale'), 16);
  assert.equal(kvValue(vp, 'deepseek2.expert_gating_func'), 1);
});

test('tokenizer keys: gpt2, pre gpt-2, padded tokens, INT32 types, merges, bos/eos, template', () => {
  const spec = tinySpec('qwen3');
  const plan = planGguf({ spec, weights: randomWeights(spec, 7), tokenizer: TOKENIZER, type: 'f32' });
  assert.equal(kvValue(plan, 'tokenizer.ggml.model'), 'gpt2');
  assert.equal(kvValue(plan, 'tokenizer.ggml.pre'), 'gpt-2');
  const tokens = kvValue(plan, 'tokenizer.ggml.tokens') as string[];
  assert.equal(tokens.length, TINY_VOCAB);
  assert.deepEqual(tokens.slice(0, 7), ['a', 'b', 'ab', 'Ġ', '<|begin_of_text|>', '<think>', '[PAD6]']);
  const types = plan.kv.find((e) => e.key === 'tokenizer.ggml.token_type')!.value;
  assert.ok(types.type === 'array' && types.itemType === 'i32');
  assert.deepEqual(types.values.slice(0, 7), [1, 1, 1, 1, 3, 4, 5]);
  assert.deepEqual(kvValue(plan, 'tokenizer.ggml.merges'), ['a b']);
  assert.equal(kvValue(plan, 'tokenizer.ggml.bos_token_id'), 4);
  assert.equal(kvType(plan, 'tokenizer.ggml.bos_token_id'), 'u32');
  assert.equal(kvValue(plan, 'tokenizer.ggml.add_bos_token'), true);
  assert.equal(kvValue(plan, 'tokenizer.chat_template'), '{{ x }}');
});

test('written file: q8_0 where ne[0] % 32 == 0, f16 fallback, F32 norms/router; data reads back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gguf-exp-'));
  try {
    const spec = tinySpec('deepseek3');
    const source = randomWeights(spec, 8);
    const path = join(dir, 'm.gguf');
    const report = exportGguf({ spec, weights: source, tokenizer: TOKENIZER, type: 'q8_0' }, path);
    const file = readGguf(path);
    assert.equal(file.tensors.length, report.numTensors);
    assert.equal(ggufValueOf(file, 'general.file_type'), 7);
    const type = (n: string): string | undefined => file.tensors.find((t) => t.name === n)?.type;
    assert.equal(type('blk.1.attn_q_a.weight'), 'q8_0'); // ne[0] = 64
    assert.equal(type('blk.1.attn_q_b.weight'), 'f16'); // ne[0] = 24
    assert.equal(type('blk.1.ffn_gate_inp.weight'), 'f32');
    assert.equal(type('blk.1.attn_norm.weight'), 'f32');
    assert.deepEqual(file.tensors.find((t) => t.name === 'blk.1.attn_k_b.weight')?.dims, [16, 32, 4]);
    const w = hf(source, layerTensorNames(spec, 1).attention.kind === 'mla' ? 'model.layers.1.self_attn.q_a_proj.weight' : '');
    const got = readGgufTensor(file, 'blk.1.attn_q_a.weight');
    let worst = 0;
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(got[i]! - w[i]!));
    assert.ok(worst < 0.02, `q8_0 max abs error ${worst}`);
    assert.deepEqual(readGgufTensor(file, 'blk.1.attn_norm.weight'), hf(source, 'model.layers.1.input_layernorm.weight'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing or mis-shaped tensor is an XdsError naming it', () => {
  const spec = tinySpec('qwen3');
  const source = randomWeights(spec, 9);
  source.tensors.delete('model.layers.1.mlp.up_proj.weight');
  assert.throws(() => planGguf({ spec, weights: source, tokenizer: null, type: 'f32' }).tensors.forEach((t) => t.data()),
    (e) => isXdsError(e, 'checkpoint_missing') && e.message.includes('model.layers.1.mlp.up_proj.weight'));
  assert.throws(() => planGguf({ spec, weights: source, tokenizer: null, type: 'q4' as 'f32' }), (e) => isXdsError(e, 'invalid_argument') && e.param === 'type');
});

test('YaRN β other than 32/1 is written but noted (this llama.cpp ignores the keys)', () => {
  const yarn = { type: 'yarn', factor: 32, original_max_position_embeddings: 4096, beta_fast: 1, beta_slow: 1, mscale: 1, mscale_all_dim: 1 };
  const spec = tinySpec('deepseek3', { rope_scaling: yarn, rope_theta: 50000 });
  const plan = planGguf({ spec, weights: randomWeights(spec, 10), tokenizer: null, type: 'f32' });
  assert.equal(kvValue(plan, 'deepseek2.rope.scaling.yarn_beta_fast'), 1);
  assert.ok(plan.notes.some((n) => n.includes('beta_fast/beta_slow 1/1')), plan.notes.join('; '));
  const std = tinySpec('deepseek3');
  assert.ok(!planGguf({ spec: std, weights: randomWeights(std, 10), tokenizer: null, type: 'f32' }).notes.some((n) => n.includes('beta')));
});

test('pre-tokenizer names: byte-level → gpt-2, real Qwen3 → qwen2, real DeepSeek-V3 → deepseek-v3', () => {
  const read = (kind: 'qwen3' | 'deepseek-v3'): Record<string, unknown> =>
    JSON.parse(readFileSync(join(realTokenizerDir(kind), 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(preTokenizerName(TOKENIZER.tokenizerJson), 'gpt-2');
  assert.equal(preTokenizerName(read('qwen3')), 'qwen2');
  assert.equal(preTokenizerName(read('deepseek-v3')), 'deepseek-v3');
  assert.equal(preTokenizerName({ pre_tokenizer: { type: 'Whitespace' } }), 'default');
});

test('bf16 export: 2-D weights as BF16 (round to nearest even), 1-D tensors F32', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gguf-bf16-'));
  try {
    const spec = tinySpec('qwen3moe');
    const source = randomWeights(spec, 12);
    const path = join(dir, 'm.gguf');
    exportGguf({ spec, weights: source, tokenizer: TOKENIZER, type: 'bf16' }, path);
    const file = readGguf(path);
    assert.equal(ggufValueOf(file, 'general.file_type'), 32);
    const type = (n: string): string | undefined => file.tensors.find((t) => t.name === n)?.type;
    assert.equal(type('blk.0.attn_q.weight'), 'bf16');
    assert.equal(type('blk.0.ffn_up_exps.weight'), 'bf16');
    assert.equal(type('blk.0.attn_q_norm.weight'), 'f32');
    const w = hf(source, 'model.layers.0.self_attn.q_proj.weight');
    assert.deepEqual(readGgufTensor(file, 'blk.0.attn_q.weight'), Float32Array.from(w, (x) => bf16ToF32(f32ToBf16(x))));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
