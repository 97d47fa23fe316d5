/**
 * Tiny in-memory checkpoints for the GGUF exporter tests (MODELS.md §9.2 shapes, small and all
 * different): a config.json object per architecture, parsed by parseModelConfig, and a seeded
 * random WeightSource holding every tensor of modelTensorList (MTP layers included).
 */
import { normalSampler } from '../../../core/testing/random.js';
import { parseModelConfig } from '../../../config/model-config.js';
import type { ModelSpec } from '../../../config/model-spec.js';
import { XdsError } from '../../../core/errors.js';
import { modelTensorList } from '../../tensor-names.js';
import type { Tensor, WeightSource } from '../../tensor.js';

export const TINY_VOCAB = 300;

const GQA = { hidden_act: 'silu', max_position_embeddings: 4096, vocab_size: TINY_VOCAB, rms_norm_eps: 1e-5, tie_word_embeddings: false };

export const TINY_CONFIGS: Record<string, Record<string, unknown>> = {
  llama: {
    ...GQA, architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, intermediate_size: 96, rope_theta: 10000,
    attention_bias: true,
    rope_scaling: { rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
  },
  qwen3: {
    ...GQA, architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 48, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 1, head_dim: 16, intermediate_size: 80, rope_theta: 1e6, tie_word_embeddings: true,
  },
  mixtral: {
    ...GQA, architectures: ['MixtralForCausalLM'], model_type: 'mixtral', hidden_size: 64, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, intermediate_size: 48, num_local_experts: 4,
    num_experts_per_tok: 2, rope_theta: 1e6,
  },
  qwen3moe: {
    ...GQA, architectures: ['Qwen3MoeForCausalLM'], model_type: 'qwen3_moe', hidden_size: 48, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, intermediate_size: 80, moe_intermediate_size: 32,
    num_experts: 8, num_experts_per_tok: 2, decoder_sparse_step: 1, mlp_only_layers: [], norm_topk_prob: true, rope_theta: 1e6,
  },
  deepseek3: {
    ...GQA, architectures: ['DeepseekV3ForCausalLM'], model_type: 'deepseek_v3', hidden_size: 64, num_hidden_layers: 3,
    num_attention_heads: 4, num_key_value_heads: 4, q_lora_rank: 24, kv_lora_rank: 32, qk_nope_head_dim: 16,
    qk_rope_head_dim: 8, v_head_dim: 12, intermediate_size: 96, moe_intermediate_size: 16, n_routed_experts: 16,
    num_experts_per_tok: 4, n_group: 4, topk_group: 2, n_shared_experts: 1, first_k_dense_replace: 1, moe_layer_freq: 1,
    scoring_func: 'sigmoid', topk_method: 'noaux_tc', norm_topk_prob: true, routed_scaling_factor: 2.5, rope_theta: 10000,
    rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
    max_position_embeddings: 16384, rms_norm_eps: 1e-6, num_nextn_predict_layers: 1, rope_interleave: true,
  },
};

export function tinySpec(name: string, patch: Record<string, unknown> = {}): ModelSpec {
  const base = TINY_CONFIGS[name];
  if (!base) throw new Error(`no tiny config ${name}`);
  return parseModelConfig({ ...base, ...patch });
}


export class MemoryWeights implements WeightSource {
  constructor(readonly tensors: Map<string, Tensor>) {}
  has(name: string): boolean { return this.tensors.has(name); }
  get(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new XdsError('checkpoint_missing', `tensor ${name} missing`, { param: name });
    return t;
  }
  names(): string[] { return [...this.tensors.keys()]; }
}

/** Every tensor of the spec (MTP included), N(0, 1/fan_in) weights, norms 1 + 0.2·N. */
export function randomWeights(spec: ModelSpec, seed: number): MemoryWeights {
  const rand = normalSampler(seed);
  const map = new Map<string, Tensor>();
  for (const info of modelTensorList(spec, { includeMtp: true })) {
    const n = info.shape.reduce((a, b) => a * b, 1);
    const fanIn = info.shape[info.shape.length - 1]!;
    const scale = info.role === 'norm' ? 0.2 : info.shape.length === 1 ? 0.3 : 1 / Math.sqrt(fanIn);
    const data = Float32Array.from({ length: n }, () => (info.role === 'norm' ? 1 : 0) + scale * rand());
    map.set(info.name, { name: info.name, dtype: 'f32', shape: info.shape, data });
  }
  return new MemoryWeights(map);
}
