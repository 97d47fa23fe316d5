/**
 * ModelSpec: the validated, frozen description of a model that every other module reads.
 * `config.json` (any of the spellings in MODELS.md §8.1 #18) is parsed into this once by
 * `parseModelConfig` (config/model-config.ts); nothing downstream reads config.json again.
 * Field names follow MODELS.md §0 symbols; sizes are element counts.
 */

export type ArchKind = 'llama' | 'qwen3' | 'mixtral' | 'qwen3_moe' | 'deepseek_v2' | 'deepseek_v3';

export type RopeScaling =
  | { readonly kind: 'none' }
  | { readonly kind: 'linear'; readonly factor: number }
  | {
      readonly kind: 'llama3';
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositions: number;
    }
  | {
      readonly kind: 'yarn';
      readonly factor: number;
      readonly originalMaxPositions: number;
      readonly betaFast: number;
      readonly betaSlow: number;
      /** null when absent from the config. */
      readonly mscale: number | null;
      readonly mscaleAllDim: number | null;
      readonly attentionFactor: number | null;
    };

export interface RopeSpec {
  readonly theta: number;
  /** Rotary width dr: head_dim for GQA models, qk_rope_head_dim for MLA. */
  readonly dim: number;
  /** 'halves' (NeoX, HF rotate_half) or 'interleaved' (GPT-J pairs 2i,2i+1; DeepSeek). */
  readonly layout: 'halves' | 'interleaved';
  readonly scaling: RopeScaling;
}

export interface GqaAttentionSpec {
  readonly kind: 'gqa';
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  /** Qwen3: per-head RMSNorm on q and k before RoPE. */
  readonly hasQkNorm: boolean;
  readonly hasBias: boolean;
  /** Sliding window W (query at P sees positions > P − W), or null. */
  readonly slidingWindow: number | null;
  /** Softmax scale, headDim^-½. */
  readonly softmaxScale: number;
}

export interface MlaAttentionSpec {
  readonly kind: 'mla';
  readonly numHeads: number;
  /** null ⇒ a direct q_proj. */
  readonly qLoraRank: number | null;
  /** R: latent width. */
  readonly kvLoraRank: number;
  readonly qkNopeHeadDim: number;
  readonly qkRopeHeadDim: number;
  readonly vHeadDim: number;
  /** (dn+dr)^-½ · m² (MODELS.md §4.3, §5). */
  readonly softmaxScale: number;
}

export type AttentionSpec = GqaAttentionSpec | MlaAttentionSpec;

export interface RouterSpec {
  readonly scoring: 'softmax' | 'sigmoid';
  /**
   * 'topk': plain top-k of the scores (Mixtral, Qwen3-MoE, DeepSeek 'greedy');
   * 'group_limited_greedy': group score = max (V2); 'noaux_tc': biased sigmoid, group score = top-2 sum (V3).
   */
  readonly method: 'topk' | 'group_limited_greedy' | 'noaux_tc';
  readonly numGroups: number;
  readonly topkGroups: number;
  readonly normTopkProb: boolean;
  readonly routedScalingFactor: number;
  /** V3: multiply always; V2: only when not normalizing; GQA MoE: never. */
  readonly scalingRule: 'always' | 'unless_normalized' | 'never';
  /** noaux_tc: `mlp.gate.e_score_correction_bias` exists. */
  readonly hasCorrectionBias: boolean;
  /** Mixtral/Qwen3-MoE `norm` eps is 0; DeepSeek adds 1e-20 to the sum. */
  readonly normEps: number;
}

/**
 * The post-selection weight rules of a router with k picks (MODELS.md §3.2): renormalize the k
 * weights (+ normEps), then multiply by routedScalingFactor per scalingRule. One definition for
 * units/moe/router.ts and the native router.
 */
export function routerWeightRules(r: RouterSpec, k: number): { readonly normalize: boolean; readonly scale: boolean } {
  // NOTE: DeepSeek renormalizes only when k > 1; Mixtral/Qwen3-MoE (normEps 0) always do.
  const normalize = r.normTopkProb && (k > 1 || r.normEps === 0);
  return { normalize, scale: r.scalingRule === 'always' || (r.scalingRule === 'unless_normalized' && !normalize) };
}

export type FfnSpec =
  | { readonly kind: 'dense'; readonly intermediateSize: number }
  | {
      readonly kind: 'moe';
      readonly numExperts: number;
      readonly numExpertsPerTok: number;
      readonly expertIntermediateSize: number;
      /** Width of the one shared-expert MLP (S·Im), 0 when there is none. */
      readonly sharedIntermediateSize: number;
      readonly router: RouterSpec;
    };

export interface LayerSpec {
  readonly index: number;
  readonly ffn: FfnSpec;
}

/** How this architecture names its tensors (model/tensor-names.ts maps logical → HF names). */
export type TensorNaming = 'llama' | 'mixtral' | 'qwen3_moe' | 'deepseek';

export interface ModelSpec {
  readonly arch: ArchKind;
  /** `architectures[0]` as written in config.json. */
  readonly architecture: string;
  readonly modelType: string;
  readonly naming: TensorNaming;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly vocabSize: number;
  readonly rmsNormEps: number;
  readonly maxPositionEmbeddings: number;
  readonly tieWordEmbeddings: boolean;
  readonly attention: AttentionSpec;
  readonly rope: RopeSpec;
  /** One entry per main layer, in order; `layers[l].ffn` says dense or MoE. */
  readonly layers: readonly LayerSpec[];
  /** Number of MTP modules stored after the main layers (DeepSeek-V3 num_nextn_predict_layers). */
  readonly numMtpLayers: number;
  /** FFN spec of the MTP block(s) (DeepSeek: MoE), null when numMtpLayers = 0. */
  readonly mtpFfn: FfnSpec | null;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  /** Storage dtype declared by config (`torch_dtype`), informational. */
  readonly torchDtype: string | null;
}
