/**
 * config.json contents of the random checkpoints: the `tiny` fixtures of MODELS.md §9.2 (all
 * dimensions small and different, so a transposed tensor is a shape error) and `small` presets
 * (~100–125 M parameters with a byte vocabulary: ~400–500 MB f32, half in bf16) shaped like the
 * released models (MODELS.md §2–§4 tables) for benchmarks. Keys and spellings are Hugging Face's.
 */
import { XdsError } from '../../core/errors.js';

export const GEN_ARCHS = ['deepseek-v3', 'deepseek-v2', 'qwen3-moe', 'qwen3', 'mixtral', 'llama'] as const;
export type GenArch = (typeof GEN_ARCHS)[number];
export const GEN_PRESETS = ['tiny', 'small'] as const;
export type GenPreset = (typeof GEN_PRESETS)[number];

/** Named variants per architecture (MODELS.md §9.2 fixture names in comments). */
export const GEN_VARIANTS: Readonly<Record<GenArch, readonly string[]>> = {
  'deepseek-v3': ['noq', 'k2yarn', 'posbias'], // dsv3-tiny-noq, dsv3-tiny-k2yarn, dsv3-tiny with |bias|
  'deepseek-v2': ['v2-lite'], // dsv2-lite-tiny
  'qwen3-moe': ['nonorm'], // qwen3moe-tiny with norm_topk_prob false
  qwen3: [],
  mixtral: [],
  llama: [],
};

/** Token facts the config needs from the tokenizer. */
export interface TokenFacts {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number;
}

export type ConfigJson = Record<string, unknown>;

const ARCH_NAMES: Readonly<Record<GenArch, readonly [string, string]>> = {
  'deepseek-v3': ['DeepseekV3ForCausalLM', 'deepseek_v3'],
  'deepseek-v2': ['DeepseekV2ForCausalLM', 'deepseek_v2'],
  'qwen3-moe': ['Qwen3MoeForCausalLM', 'qwen3_moe'],
  qwen3: ['Qwen3ForCausalLM', 'qwen3'],
  mixtral: ['MixtralForCausalLM', 'mixtral'],
  llama: ['LlamaForCausalLM', 'llama'],
};

// ---- DeepSeek ------------------------------------------------------------------------------

const DSV3_YARN = { type: 'yarn', rope_type: 'yarn', factor: 4, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 };

function dsv3Tiny(): ConfigJson {
  return {
    hidden_size: 64, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 4,
    q_lora_rank: 24, kv_lora_rank: 32, qk_nope_head_dim: 16, qk_rope_head_dim: 8, v_head_dim: 12,
    intermediate_size: 96, moe_intermediate_size: 16, n_routed_experts: 16, num_experts_per_tok: 4,
    n_group: 4, topk_group: 2, n_shared_experts: 1, first_k_dense_replace: 1, moe_layer_freq: 1,
    scoring_func: 'sigmoid', topk_method: 'noaux_tc', norm_topk_prob: true, routed_scaling_factor: 2.5,
    rope_theta: 10000, rope_scaling: DSV3_YARN, max_position_embeddings: 16384, rms_norm_eps: 1e-6,
    num_nextn_predict_layers: 1, rope_interleave: true, tie_word_embeddings: false,
  };
}

function dsv3Small(): ConfigJson {
  return {
    ...dsv3Tiny(), hidden_size: 1024, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 8,
    q_lora_rank: 384, kv_lora_rank: 256, qk_nope_head_dim: 64, qk_rope_head_dim: 32, v_head_dim: 64,
    intermediate_size: 2048, moe_intermediate_size: 64, n_routed_experts: 64, num_experts_per_tok: 6,
    n_group: 8, topk_group: 4, rope_scaling: { ...DSV3_YARN, factor: 40 }, max_position_embeddings: 163840,
  };
}

function dsv3Variant(base: ConfigJson, variant: string | undefined): ConfigJson {
  const noq = {
    q_lora_rank: null, n_group: 1, topk_group: 1, n_shared_experts: 2, first_k_dense_replace: 2,
    rope_scaling: null, rms_norm_eps: 1e-5, num_nextn_predict_layers: 0, max_position_embeddings: 8192,
  };
  if (variant === 'noq') return { ...base, ...noq };
  if (variant === 'k2yarn') {
    const yarn = { ...DSV3_YARN, factor: 32, beta_fast: 1, beta_slow: 1 };
    return { ...base, ...noq, rope_theta: 50000, rope_scaling: yarn, max_position_embeddings: 131072 };
  }
  return base; // 'posbias' changes only the weights (build-weights.ts)
}

function dsv2(base: ConfigJson, preset: GenPreset, variant: string | undefined): ConfigJson {
  const yarn = { ...(base['rope_scaling'] as object), mscale: 0.707, mscale_all_dim: 0.707 };
  const v2 = {
    ...base, scoring_func: 'softmax', topk_method: 'group_limited_greedy', norm_topk_prob: false,
    routed_scaling_factor: 16, rope_scaling: yarn, num_nextn_predict_layers: undefined, rope_interleave: undefined,
    n_shared_experts: preset === 'tiny' ? 1 : 2, topk_group: preset === 'tiny' ? 2 : 3,
  };
  if (variant !== 'v2-lite') return v2;
  return { ...v2, topk_method: 'greedy', q_lora_rank: null, n_group: 1, topk_group: 1, routed_scaling_factor: 1 };
}

// ---- GQA models ----------------------------------------------------------------------------

function gqaBase(preset: GenPreset): ConfigJson {
  return {
    hidden_act: 'silu', attention_bias: false, attention_dropout: 0, tie_word_embeddings: false,
    max_position_embeddings: preset === 'tiny' ? 4096 : 32768,
  };
}

function llama(preset: GenPreset): ConfigJson {
  const tiny = {
    hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16,
    intermediate_size: 96, rope_theta: 10000, rms_norm_eps: 1e-5, mlp_bias: false,
    rope_scaling: { rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
  };
  if (preset === 'tiny') return { ...gqaBase(preset), ...tiny };
  return {
    ...gqaBase(preset), ...tiny, hidden_size: 1024, num_hidden_layers: 8, num_attention_heads: 16, num_key_value_heads: 4,
    head_dim: 64, intermediate_size: 4096, rope_theta: 500000,
    rope_scaling: { ...tiny.rope_scaling, factor: 8, original_max_position_embeddings: 8192 },
  };
}

function qwen3(preset: GenPreset): ConfigJson {
  const tiny = {
    hidden_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 16,
    intermediate_size: 80, rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true,
    use_sliding_window: false, sliding_window: null, rope_scaling: null,
  };
  if (preset === 'tiny') return { ...gqaBase(preset), ...tiny };
  return {
    ...gqaBase(preset), ...tiny, hidden_size: 1024, num_hidden_layers: 8, num_attention_heads: 16,
    num_key_value_heads: 8, head_dim: 128, intermediate_size: 3072,
  };
}

function qwen3Moe(preset: GenPreset, variant: string | undefined): ConfigJson {
  const tiny = {
    ...qwen3('tiny'), num_hidden_layers: 4, num_key_value_heads: 2, moe_intermediate_size: 24, num_experts: 8,
    num_experts_per_tok: 2, decoder_sparse_step: 2, mlp_only_layers: [3], norm_topk_prob: true,
    tie_word_embeddings: false, router_aux_loss_coef: 0.001, output_router_logits: false,
  };
  const base = preset === 'tiny' ? tiny : {
    ...tiny, ...qwen3('small'), hidden_size: 1024, num_hidden_layers: 8, num_attention_heads: 16, num_key_value_heads: 4,
    head_dim: 64, intermediate_size: 3072, moe_intermediate_size: 64, num_experts: 64, num_experts_per_tok: 8,
    decoder_sparse_step: 1, mlp_only_layers: [], tie_word_embeddings: false,
  };
  return variant === 'nonorm' ? { ...base, norm_topk_prob: false } : base;
}

function mixtral(preset: GenPreset): ConfigJson {
  const tiny = {
    hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16,
    intermediate_size: 48, num_local_experts: 4, num_experts_per_tok: 2, rope_theta: 1000000,
    rms_norm_eps: 1e-5, sliding_window: null, router_aux_loss_coef: 0.02, output_router_logits: false,
  };
  if (preset === 'tiny') return { ...gqaBase(preset), ...tiny };
  return {
    ...gqaBase(preset), ...tiny, hidden_size: 1024, num_hidden_layers: 8, num_attention_heads: 16,
    num_key_value_heads: 4, head_dim: 64, intermediate_size: 512, num_local_experts: 8,
  };
}

// ---- Entry point ---------------------------------------------------------------------------

function archFields(arch: GenArch, preset: GenPreset, variant: string | undefined): ConfigJson {
  switch (arch) {
    case 'deepseek-v3': return dsv3Variant(preset === 'tiny' ? dsv3Tiny() : dsv3Small(), variant);
    case 'deepseek-v2': return dsv2(preset === 'tiny' ? dsv3Tiny() : dsv3Small(), preset, variant);
    case 'qwen3-moe': return qwen3Moe(preset, variant);
    case 'qwen3': return qwen3(preset);
    case 'mixtral': return mixtral(preset);
    case 'llama': return llama(preset);
  }
}

/** Validates arch / preset / variant, naming the flag at fault. */
export function checkGenChoice(arch: string, preset: string, variant: string | undefined): asserts arch is GenArch {
  if (!(GEN_ARCHS as readonly string[]).includes(arch)) {
    throw new XdsError('invalid_argument', `--arch must be one of ${GEN_ARCHS.join(', ')}; got '${arch}'`, { param: 'arch' });
  }
  if (!(GEN_PRESETS as readonly string[]).includes(preset)) {
    throw new XdsError('invalid_argument', `--preset must be one of ${GEN_PRESETS.join(', ')}; got '${preset}'`, { param: 'preset' });
  }
  const allowed = GEN_VARIANTS[arch as GenArch];
  if (variant !== undefined && !allowed.includes(variant)) {
    const list = allowed.length > 0 ? allowed.join(', ') : 'none';
    throw new XdsError('invalid_argument', `--variant for ${arch} must be one of: ${list}; got '${variant}'`, { param: 'variant' });
  }
}

/** The full config.json object (keys with undefined values dropped). */
export function buildConfigJson(arch: GenArch, preset: GenPreset, variant: string | undefined, tok: TokenFacts, torchDtype: string): ConfigJson {
  const [architecture, modelType] = ARCH_NAMES[arch];
  const fields = archFields(arch, preset, variant);
  const json: ConfigJson = {
    architectures: [architecture], model_type: modelType, ...fields, hidden_act: 'silu',
    vocab_size: tok.vocabSize, bos_token_id: tok.bosTokenId, eos_token_id: tok.eosTokenId,
    torch_dtype: torchDtype, initializer_range: 0.02, use_cache: true, transformers_version: '4.46.3',
  };
  return Object.fromEntries(Object.entries(json).filter(([, v]) => v !== undefined));
}
