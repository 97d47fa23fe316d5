/**
 * Test helper: a small in-memory random checkpoint (WeightSource) for any ModelSpec, initialized per
 * MODELS.md §9.1 (linear N(0, 1/fan_in), embeddings N(0,1), norms 1 + 0.2·N(0,1), biases 0.1·N(0,1),
 * router N(0, 4/D), e_score_correction_bias 0.3·N(0,1)), plus tiny config.json objects per
 * architecture following the MODELS.md §9.2 fixtures. Not the product generator (src/model/generator/).
 */

import type { ModelSpec } from '../../config/model-spec.js';
import { XdsError } from '../../core/errors.js';
import { f32ToBf16 } from '../../core/dtype.js';
import type { Tensor, WeightSource } from '../../model/tensor.js';
import { modelTensorList, type TensorInfo } from '../../model/tensor-names.js';

import { normalSampler } from '../../core/testing/random.js';

export { normalSampler };

function initValue(info: TensorInfo, n: () => number): number {
  switch (info.role) {
    case 'embedding': return n();
    case 'linear': return n() / Math.sqrt(info.shape[1]!);
    case 'norm': return 1 + 0.2 * n();
    case 'bias': return 0.1 * n();
    case 'router': return n() * Math.sqrt(4 / info.shape[1]!);
    case 'correction_bias': return 0.3 * n();
  }
}

/** An in-memory WeightSource over the given tensors. */
export class MemoryWeights implements WeightSource {
  readonly map: Map<string, Tensor>;
  constructor(tensors: readonly Tensor[]) {
    this.map = new Map(tensors.map((t) => [t.name, t]));
  }
  has(name: string): boolean { return this.map.has(name); }
  names(): string[] { return [...this.map.keys()]; }
  get(name: string): Tensor {
    const t = this.map.get(name);
    if (t === undefined) throw new XdsError('checkpoint_missing', `tensor '${name}' is not in the checkpoint`, { param: name });
    return t;
  }
}

/** Random weights for `spec` (MTP modules included); dtype 'bf16' stores linear/embedding tensors as bf16 bits. */
export function randomWeightSource(spec: ModelSpec, seed: number, dtype: 'f32' | 'bf16' = 'f32'): MemoryWeights {
  const n = normalSampler(seed);
  const tensors = modelTensorList(spec).map((info): Tensor => {
    const size = info.shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: size }, () => initValue(info, n));
    const asBf16 = dtype === 'bf16' && (info.role === 'linear' || info.role === 'embedding' || info.role === 'router');
    return asBf16
      ? { name: info.name, dtype: 'bf16', shape: info.shape, data: Uint16Array.from(values, (v) => f32ToBf16(v)) }
      : { name: info.name, dtype: 'f32', shape: info.shape, data: values };
  });
  return new MemoryWeights(tensors);
}

type Json = Record<string, unknown>;

const gqaBase: Json = { vocab_size: 96, num_hidden_layers: 2, rms_norm_eps: 1e-5, rope_theta: 10000, max_position_embeddings: 256 };
const dsBase: Json = {
  architectures: ['DeepseekV3ForCausalLM'], model_type: 'deepseek_v3', vocab_size: 96, hidden_size: 40, num_hidden_layers: 3,
  num_attention_heads: 4, num_key_value_heads: 4, q_lora_rank: 24, kv_lora_rank: 20, qk_nope_head_dim: 12,
  qk_rope_head_dim: 8, v_head_dim: 10, intermediate_size: 56, moe_intermediate_size: 16, n_routed_experts: 16,
  num_experts_per_tok: 4, n_group: 4, topk_group: 2, n_shared_experts: 1, first_k_dense_replace: 1, moe_layer_freq: 1,
  norm_topk_prob: true, routed_scaling_factor: 2.5, scoring_func: 'sigmoid', topk_method: 'noaux_tc', rope_theta: 10000,
  rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
  num_nextn_predict_layers: 1, rms_norm_eps: 1e-6, max_position_embeddings: 16384,
};

/** Tiny configs (MODELS.md §9.2 shapes, shrunk further; all dims different). */
export const TINY_CONFIGS: Readonly<Record<string, Json>> = {
  llama: {
    ...gqaBase, architectures: ['LlamaForCausalLM'], hidden_size: 40, num_attention_heads: 4, num_key_value_heads: 2,
    head_dim: 12, intermediate_size: 56, attention_bias: true,
    rope_scaling: { rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
  },
  qwen3: { ...gqaBase, architectures: ['Qwen3ForCausalLM'], hidden_size: 36, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 16, intermediate_size: 48, tie_word_embeddings: true },
  mixtral: { ...gqaBase, architectures: ['MixtralForCausalLM'], hidden_size: 40, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 24, num_local_experts: 4, num_experts_per_tok: 2, sliding_window: 6 },
  qwen3_moe: {
    ...gqaBase, architectures: ['Qwen3MoeForCausalLM'], hidden_size: 36, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2,
    head_dim: 16, intermediate_size: 48, moe_intermediate_size: 20, num_experts: 8, num_experts_per_tok: 2, decoder_sparse_step: 2,
    mlp_only_layers: [3], norm_topk_prob: false,
  },
  deepseek_v3: dsBase,
  deepseek_v3_noq: { ...dsBase, q_lora_rank: null, n_group: 1, topk_group: 1, n_shared_experts: 2, first_k_dense_replace: 2, rope_scaling: null, num_nextn_predict_layers: 0 },
  deepseek_v2: {
    ...dsBase, architectures: ['DeepseekV2ForCausalLM'], model_type: 'deepseek_v2', scoring_func: 'softmax', topk_method: 'group_limited_greedy',
    norm_topk_prob: false, routed_scaling_factor: 16, num_nextn_predict_layers: 0,
    rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 0.707, mscale_all_dim: 0.707 },
  },
};
