// Tests for parseModelConfig (MODELS.md §1–§5 keys, §8.1 #18 spellings) and every rejection path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig, mlaSoftmaxScale } from './model-config.js';
import { isXdsError } from '../core/errors.js';

type Json = Record<string, unknown>;

const llama: Json = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, num_hidden_layers: 2, vocab_size: 256,
  num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 96, rms_norm_eps: 1e-5, rope_theta: 10000,
  rope_scaling: { rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
  tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, torch_dtype: 'float32',
};
const qwen3: Json = {
  architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 48, num_hidden_layers: 2, vocab_size: 256,
  num_attention_heads: 4, num_key_value_heads: 1, head_dim: 16, intermediate_size: 80, rms_norm_eps: 1e-6,
  rope_theta: 1e6, tie_word_embeddings: true, use_sliding_window: false, sliding_window: 4096, eos_token_id: [5, 6],
};
const mixtral: Json = {
  architectures: ['MixtralForCausalLM'], model_type: 'mixtral', hidden_size: 64, num_hidden_layers: 2, vocab_size: 256,
  num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 48, num_local_experts: 4, num_experts_per_tok: 2,
  rope_theta: 1e6, sliding_window: null,
};
const qwen3moe: Json = {
  architectures: ['Qwen3MoeForCausalLM'], model_type: 'qwen3_moe', hidden_size: 48, num_hidden_layers: 4, vocab_size: 256,
  num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, intermediate_size: 80, moe_intermediate_size: 24,
  num_experts: 8, num_experts_per_tok: 2, decoder_sparse_step: 2, mlp_only_layers: [3], norm_topk_prob: true,
};
const dsv3: Json = {
  architectures: ['DeepseekV3ForCausalLM'], model_type: 'deepseek_v3', hidden_size: 64, num_hidden_layers: 3, vocab_size: 256,
  num_attention_heads: 4, num_key_value_heads: 4, q_lora_rank: 24, kv_lora_rank: 32, qk_nope_head_dim: 16,
  qk_rope_head_dim: 8, v_head_dim: 12, intermediate_size: 96, moe_intermediate_size: 16, n_routed_experts: 16,
  num_experts_per_tok: 4, n_group: 4, topk_group: 2, n_shared_experts: 1, first_k_dense_replace: 1, moe_layer_freq: 1,
  norm_topk_prob: true, routed_scaling_factor: 2.5, scoring_func: 'sigmoid', topk_method: 'noaux_tc',
  rope_theta: 10000, rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
  num_nextn_predict_layers: 1, rms_norm_eps: 1e-6, max_position_embeddings: 16384,
};
const dsv2: Json = {
  ...dsv3, architectures: ['DeepseekV2ForCausalLM'], model_type: 'deepseek_v2', scoring_func: 'softmax',
  topk_method: 'group_limited_greedy', norm_topk_prob: false, routed_scaling_factor: 16,
  rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 0.707, mscale_all_dim: 0.707 },
  num_nextn_predict_layers: undefined,
};

function expectErr(json: Json, code: 'invalid_config' | 'unsupported_architecture', param: string): void {
  assert.throws(() => parseModelConfig(json), (e: unknown) => {
    assert.ok(isXdsError(e, code), `expected ${code}, got ${String(e)}`);
    assert.equal(e.param, param);
    assert.ok(e.message.includes(param.split('.').pop()!), `message names ${param}: ${e.message}`);
    return true;
  });
}

test('llama: GQA, halves, llama3 scaling, untied, deep-frozen', () => {
  const s = parseModelConfig(llama);
  assert.equal(s.arch, 'llama');
  assert.equal(s.naming, 'llama');
  assert.deepEqual(s.attention, { kind: 'gqa', numHeads: 4, numKvHeads: 2, headDim: 16, hasQkNorm: false, hasBias: false, slidingWindow: null, softmaxScale: 0.25 });
  assert.deepEqual(s.rope.scaling, { kind: 'llama3', factor: 4, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 32 });
  assert.equal(s.rope.layout, 'halves');
  assert.equal(s.rope.dim, 16);
  assert.equal(s.layers.length, 2);
  assert.deepEqual(s.layers[1]!.ffn, { kind: 'dense', intermediateSize: 96 });
  assert.deepEqual(s.eosTokenIds, [2]);
  assert.equal(s.bosTokenId, 1);
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.layers) && Object.isFrozen(s.layers[0]!.ffn) && Object.isFrozen(s.rope.scaling));
});

test('qwen3: q/k norm, head_dim ≠ D/H, tied, eos array; default head_dim 128', () => {
  const s = parseModelConfig(qwen3);
  assert.equal(s.attention.kind === 'gqa' && s.attention.hasQkNorm, true);
  assert.equal(s.attention.kind === 'gqa' && s.attention.headDim, 16);
  assert.equal(s.attention.kind === 'gqa' && s.attention.slidingWindow, null);
  assert.equal(s.tieWordEmbeddings, true);
  assert.deepEqual(s.eosTokenIds, [5, 6]);
  assert.equal(s.rope.theta, 1e6);
  const noHd = parseModelConfig({ ...qwen3, head_dim: undefined });
  assert.equal(noHd.attention.kind === 'gqa' && noHd.attention.headDim, 128);
});

test('mixtral: every layer MoE of width I, softmax top-k renormalized, no scaling', () => {
  const s = parseModelConfig(mixtral);
  assert.equal(s.naming, 'mixtral');
  for (const l of s.layers) {
    assert.equal(l.ffn.kind, 'moe');
    if (l.ffn.kind !== 'moe') continue;
    assert.equal(l.ffn.expertIntermediateSize, 48);
    assert.equal(l.ffn.numExperts, 4);
    assert.equal(l.ffn.sharedIntermediateSize, 0);
    assert.deepEqual(l.ffn.router, { scoring: 'softmax', method: 'topk', numGroups: 1, topkGroups: 1, normTopkProb: true, routedScalingFactor: 1, scalingRule: 'never', hasCorrectionBias: false, normEps: 0 });
  }
  const sw = parseModelConfig({ ...mixtral, sliding_window: 8 });
  assert.equal(sw.attention.kind === 'gqa' && sw.attention.slidingWindow, 8);
});

test('qwen3_moe: (l+1) mod step, mlp_only_layers wins, norm_topk_prob both ways', () => {
  const s = parseModelConfig(qwen3moe);
  assert.deepEqual(s.layers.map((l) => l.ffn.kind), ['dense', 'moe', 'dense', 'dense']);
  const moe = s.layers[1]!.ffn;
  assert.ok(moe.kind === 'moe' && moe.expertIntermediateSize === 24 && moe.router.normTopkProb);
  assert.deepEqual(s.layers[0]!.ffn, { kind: 'dense', intermediateSize: 80 });
  const nonorm = parseModelConfig({ ...qwen3moe, norm_topk_prob: false, decoder_sparse_step: 1, mlp_only_layers: [] });
  assert.deepEqual(nonorm.layers.map((l) => l.ffn.kind), ['moe', 'moe', 'moe', 'moe']);
  assert.ok(nonorm.layers[0]!.ffn.kind === 'moe' && !nonorm.layers[0]!.ffn.router.normTopkProb);
});

test('deepseek_v3: MLA, YaRN m² scale, noaux_tc groups, dense prefix, shared expert, MTP', () => {
  const s = parseModelConfig(dsv3);
  assert.equal(s.naming, 'deepseek');
  assert.ok(s.attention.kind === 'mla');
  assert.equal(s.attention.qLoraRank, 24);
  const m = 0.1 * Math.log(4) + 1;
  assert.ok(Math.abs(s.attention.softmaxScale - m * m / Math.sqrt(24)) < 1e-12);
  assert.equal(s.rope.layout, 'interleaved');
  assert.equal(s.rope.dim, 8);
  assert.deepEqual(s.layers.map((l) => l.ffn.kind), ['dense', 'moe', 'moe']);
  const f = s.layers[1]!.ffn;
  assert.ok(f.kind === 'moe');
  assert.equal(f.sharedIntermediateSize, 16);
  assert.deepEqual(f.router, { scoring: 'sigmoid', method: 'noaux_tc', numGroups: 4, topkGroups: 2, normTopkProb: true, routedScalingFactor: 2.5, scalingRule: 'always', hasCorrectionBias: true, normEps: 1e-20 });
  assert.equal(s.numMtpLayers, 1);
  assert.equal(s.mtpFfn?.kind, 'moe');
  const kimi = parseModelConfig({ ...dsv3, model_type: 'kimi_k2', q_lora_rank: null, n_group: 1, topk_group: 1, rope_scaling: null });
  assert.ok(kimi.attention.kind === 'mla' && kimi.attention.qLoraRank === null);
  assert.ok(kimi.attention.kind === 'mla' && Math.abs(kimi.attention.softmaxScale - 1 / Math.sqrt(24)) < 1e-15);
});

test('deepseek_v2: group_limited_greedy, unless_normalized scaling, mscale 0.707; gready alias; moe_layer_freq', () => {
  const s = parseModelConfig(dsv2);
  const f = s.layers[2]!.ffn;
  assert.ok(f.kind === 'moe');
  assert.equal(f.router.method, 'group_limited_greedy');
  assert.equal(f.router.scoring, 'softmax');
  assert.equal(f.router.scalingRule, 'unless_normalized');
  assert.equal(f.router.hasCorrectionBias, false);
  assert.equal(s.numMtpLayers, 0);
  const m = 0.1 * 0.707 * Math.log(4) + 1;
  assert.ok(s.attention.kind === 'mla' && Math.abs(s.attention.softmaxScale - m * m / Math.sqrt(24)) < 1e-12);
  const lite = parseModelConfig({ ...dsv2, topk_method: 'gready', n_group: 1, topk_group: 1, q_lora_rank: null });
  assert.ok(lite.layers[1]!.ffn.kind === 'moe' && lite.layers[1]!.ffn.router.method === 'topk');
  const freq = parseModelConfig({ ...dsv2, moe_layer_freq: 2 });
  assert.deepEqual(freq.layers.map((l) => l.ffn.kind), ['dense', 'dense', 'moe']);
});

test('spellings: rope_parameters with rope_theta inside, type vs rope_type, num_experts aliases', () => {
  const s = parseModelConfig({ ...llama, rope_theta: undefined, rope_scaling: undefined, rope_parameters: { rope_type: 'default', rope_theta: 500000 } });
  assert.equal(s.rope.theta, 500000);
  assert.equal(s.rope.scaling.kind, 'none');
  const lin = parseModelConfig({ ...llama, rope_scaling: { type: 'linear', factor: 2 } });
  assert.deepEqual(lin.rope.scaling, { kind: 'linear', factor: 2 });
  const y = parseModelConfig({ ...qwen3, rope_parameters: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32768, rope_theta: 1e6 } });
  assert.equal(y.rope.scaling.kind === 'yarn' && y.rope.scaling.mscale, null);
  assert.equal(y.rope.scaling.kind === 'yarn' && y.rope.scaling.betaFast, 32);
  const mx = parseModelConfig({ ...mixtral, num_local_experts: undefined, n_routed_experts: 4 });
  assert.ok(mx.layers[0]!.ffn.kind === 'moe' && mx.layers[0]!.ffn.numExperts === 4);
  assert.equal(mlaSoftmaxScale(192, { kind: 'none' }), 1 / Math.sqrt(192));
});

test('rejections name the field', () => {
  expectErr({ ...llama, architectures: ['GPT2LMHeadModel'] }, 'unsupported_architecture', 'architectures');
  expectErr({ ...llama, architectures: undefined }, 'invalid_config', 'architectures');
  expectErr({ ...llama, hidden_size: undefined }, 'invalid_config', 'hidden_size');
  expectErr({ ...llama, hidden_size: '64' }, 'invalid_config', 'hidden_size');
  expectErr({ ...llama, num_key_value_heads: 3 }, 'invalid_config', 'num_key_value_heads');
  expectErr({ ...llama, rope_scaling: { rope_type: 'dynamic', factor: 2 } }, 'invalid_config', 'rope_scaling.rope_type');
  expectErr({ ...llama, rope_scaling: { type: 'longrope', factor: 2 } }, 'invalid_config', 'rope_scaling.type');
  expectErr({ ...llama, rope_scaling: { rope_type: 'llama3', factor: 4 } }, 'invalid_config', 'rope_scaling.low_freq_factor');
  expectErr({ ...llama, mlp_bias: true }, 'invalid_config', 'mlp_bias');
  expectErr({ ...llama, eos_token_id: 'x' }, 'invalid_config', 'eos_token_id');
  expectErr({ ...qwen3, use_sliding_window: true }, 'invalid_config', 'use_sliding_window');
  expectErr({ ...dsv3, quantization_config: { quant_method: 'compressed-tensors' } }, 'invalid_config', 'quantization_config.quant_method');
  expectErr({ ...dsv3, n_routed_experts: 18 }, 'invalid_config', 'n_group');
  expectErr({ ...dsv3, n_routed_experts: 4, num_experts_per_tok: 2 }, 'invalid_config', 'n_group');
  expectErr({ ...dsv3, num_experts_per_tok: 9 }, 'invalid_config', 'num_experts_per_tok');
  expectErr({ ...dsv3, topk_group: 5 }, 'invalid_config', 'topk_group');
  expectErr({ ...dsv3, topk_method: 'random' }, 'invalid_config', 'topk_method');
  expectErr({ ...dsv3, scoring_func: 'relu' }, 'invalid_config', 'scoring_func');
  expectErr({ ...dsv3, model_type: 'gpt2' }, 'invalid_config', 'model_type');
  expectErr({ ...dsv3, kv_lora_rank: 0 }, 'invalid_config', 'kv_lora_rank');
  expectErr({ ...qwen3moe, mlp_only_layers: [7] }, 'invalid_config', 'mlp_only_layers');
  expectErr({ ...mixtral, num_local_experts: undefined }, 'invalid_config', 'num_local_experts');
  expectErr({ ...llama, head_dim: 15 }, 'invalid_config', 'head_dim');
  expectErr({ ...dsv3, qk_rope_head_dim: 7 }, 'invalid_config', 'qk_rope_head_dim');
  expectErr({ ...llama, rope_scaling: undefined, rope_parameters: { full_attention: { rope_type: 'yarn', factor: 2 } } }, 'invalid_config', 'rope_parameters.type');
  assert.throws(() => parseModelConfig([1]), (e: unknown) => isXdsError(e, 'invalid_config'));
  const ok = parseModelConfig({ ...dsv3, quantization_config: { quant_method: 'fp8', weight_block_size: [128, 128] } });
  assert.equal(ok.arch, 'deepseek_v3');
});
