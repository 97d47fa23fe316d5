/**
 * Test helper: the tiny fixture configs of MODELS.md §9.2 as Hugging Face config.json objects
 * (dimensions all different, every routing/rope path covered). The generator
 * (src/model/generator/) produces the same shapes as checkpoints on disk.
 */

export type FixtureName =
  | 'llama-tiny' | 'qwen3-tiny' | 'mixtral-tiny' | 'qwen3moe-tiny' | 'qwen3moe-tiny-nonorm'
  | 'dsv3-tiny' | 'dsv3-tiny-noq' | 'dsv3-tiny-k2yarn' | 'dsv2-tiny' | 'dsv2-lite-tiny';

const common = { vocab_size: 256, max_position_embeddings: 4096, bos_token_id: 1, eos_token_id: 2, torch_dtype: 'float32', hidden_act: 'silu' };

const llama = {
  ...common, architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 96, rms_norm_eps: 1e-5, rope_theta: 10000,
  rope_scaling: { rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
  tie_word_embeddings: false,
};

const qwen3 = {
  ...common, architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 48, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 1, head_dim: 16, intermediate_size: 80, rms_norm_eps: 1e-6,
  rope_theta: 1000000, tie_word_embeddings: true,
};

const mixtral = {
  ...common, architectures: ['MixtralForCausalLM'], model_type: 'mixtral', hidden_size: 64, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 48, num_local_experts: 4, num_experts_per_tok: 2,
  rms_norm_eps: 1e-5, rope_theta: 1000000, sliding_window: null, tie_word_embeddings: false,
};

const qwen3moe = {
  ...common, architectures: ['Qwen3MoeForCausalLM'], model_type: 'qwen3_moe', hidden_size: 48, num_hidden_layers: 4,
  num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, intermediate_size: 80, moe_intermediate_size: 24,
  num_experts: 8, num_experts_per_tok: 2, decoder_sparse_step: 2, mlp_only_layers: [3], norm_topk_prob: true,
  rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: false,
};

const dsv3 = {
  ...common, architectures: ['DeepseekV3ForCausalLM'], model_type: 'deepseek_v3', hidden_size: 64, num_hidden_layers: 3,
  num_attention_heads: 4, num_key_value_heads: 4, q_lora_rank: 24, kv_lora_rank: 32, qk_nope_head_dim: 16,
  qk_rope_head_dim: 8, v_head_dim: 12, intermediate_size: 96, moe_intermediate_size: 16, n_routed_experts: 16,
  num_experts_per_tok: 4, n_group: 4, topk_group: 2, n_shared_experts: 1, first_k_dense_replace: 1, moe_layer_freq: 1,
  scoring_func: 'sigmoid', topk_method: 'noaux_tc', norm_topk_prob: true, routed_scaling_factor: 2.5,
  rope_theta: 10000, rms_norm_eps: 1e-6, num_nextn_predict_layers: 1, tie_word_embeddings: false,
  rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
};

const dsv3noq = {
  ...dsv3, q_lora_rank: null, n_group: 1, topk_group: 1, n_shared_experts: 2, first_k_dense_replace: 2,
  rope_scaling: null, rms_norm_eps: 1e-5, num_nextn_predict_layers: 0,
};

const dsv2 = {
  ...dsv3, architectures: ['DeepseekV2ForCausalLM'], model_type: 'deepseek_v2', scoring_func: 'softmax',
  topk_method: 'group_limited_greedy', norm_topk_prob: false, routed_scaling_factor: 16, num_nextn_predict_layers: 0,
  rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 0.707, mscale_all_dim: 0.707 },
};

export const FIXTURE_CONFIGS: Readonly<Record<FixtureName, Readonly<Record<string, unknown>>>> = {
  'llama-tiny': llama,
  'qwen3-tiny': qwen3,
  'mixtral-tiny': mixtral,
  'qwen3moe-tiny': qwen3moe,
  'qwen3moe-tiny-nonorm': { ...qwen3moe, norm_topk_prob: false },
  'dsv3-tiny': dsv3,
  'dsv3-tiny-noq': dsv3noq,
  'dsv3-tiny-k2yarn': {
    ...dsv3noq, rope_theta: 50000,
    rope_scaling: { type: 'yarn', factor: 32, original_max_position_embeddings: 4096, beta_fast: 1, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
  },
  'dsv2-tiny': dsv2,
  'dsv2-lite-tiny': { ...dsv2, topk_method: 'greedy', q_lora_rank: null, n_group: 1, topk_group: 1, routed_scaling_factor: 1 },
};

export const FIXTURE_NAMES = Object.keys(FIXTURE_CONFIGS) as FixtureName[];
