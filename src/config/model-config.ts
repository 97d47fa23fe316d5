/**
 * config.json → ModelSpec (MODELS.md §1–§5 tables, §7 step 1, §8.1 #18 spellings).
 * Dispatches on `architectures[0]` (DeepSeek also checks `model_type`), reads every key that
 * changes the math, rejects unsupported or contradictory settings with XdsError('invalid_config')
 * naming the key, and returns a deep-frozen ModelSpec. Nothing downstream reads config.json again.
 */

import { XdsError } from '../core/errors.js';
import type {
  ArchKind, AttentionSpec, FfnSpec, LayerSpec, ModelSpec, RopeScaling, RopeSpec, RouterSpec, TensorNaming,
} from './model-spec.js';
import { Cfg, parseRopeScaling, ropeTheta } from './config-reader.js';

const ARCHITECTURES: Readonly<Record<string, ArchKind>> = {
  LlamaForCausalLM: 'llama',
  Qwen3ForCausalLM: 'qwen3',
  MixtralForCausalLM: 'mixtral',
  Qwen3MoeForCausalLM: 'qwen3_moe',
  DeepseekV2ForCausalLM: 'deepseek_v2',
  DeepseekV3ForCausalLM: 'deepseek_v3',
};

const NAMING: Readonly<Record<ArchKind, TensorNaming>> = {
  llama: 'llama', qwen3: 'llama', mixtral: 'mixtral', qwen3_moe: 'qwen3_moe', deepseek_v2: 'deepseek', deepseek_v3: 'deepseek',
};

const KNOWN_QUANT_METHODS = new Set(['fp8']);

/** YaRN magnitude: ymscale(s, m) = 1 if s ≤ 1 else 0.1·m·ln(s) + 1 (MODELS.md §5 step 3). */
export function yarnMscale(scale: number, mscale: number): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

/** MLA softmax scale (dn+dr)^-½ · m², m = ymscale(factor, mscale_all_dim) under YaRN (MODELS.md §4.3, §5). */
export function mlaSoftmaxScale(qkHeadDim: number, scaling: RopeScaling): number {
  const base = 1 / Math.sqrt(qkHeadDim);
  if (scaling.kind !== 'yarn' || !scaling.mscaleAllDim) return base;
  const m = yarnMscale(scaling.factor, scaling.mscaleAllDim);
  return base * m * m;
}

/** Parse a Hugging Face config.json object into a validated, deep-frozen ModelSpec. */
export function parseModelConfig(json: unknown): ModelSpec {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new XdsError('invalid_config', 'config.json must be a JSON object', { param: 'config' });
  }
  const cfg = new Cfg(json as Record<string, unknown>);
  const arch = detectArch(cfg);
  const spec = arch === 'deepseek_v2' || arch === 'deepseek_v3' ? parseDeepseek(cfg, arch) : parseGqa(cfg, arch);
  return deepFreeze(spec);
}

function detectArch(cfg: Cfg): ArchKind {
  const archs = cfg.raw['architectures'];
  if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== 'string') {
    throw new XdsError('invalid_config', 'config.json: `architectures` must be a non-empty array of strings', { param: 'architectures' });
  }
  const arch = ARCHITECTURES[archs[0]];
  if (arch === undefined) {
    throw new XdsError('unsupported_architecture',
      `config.json: architectures[0] = ${JSON.stringify(archs[0])} is not supported (supported: ${Object.keys(ARCHITECTURES).join(', ')})`,
      { param: 'architectures' });
  }
  const modelType = cfg.optString('model_type');
  if (arch === 'deepseek_v3' && modelType !== null && modelType !== 'deepseek_v3' && modelType !== 'kimi_k2') {
    throw new XdsError('invalid_config', `config.json: model_type ${JSON.stringify(modelType)} is not deepseek_v3 or kimi_k2`, { param: 'model_type' });
  }
  return arch;
}

interface CommonFields {
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly vocabSize: number;
  readonly numHeads: number;
  readonly rmsNormEps: number;
  readonly maxPositionEmbeddings: number;
}

function commonFields(cfg: Cfg, defaultEps: number): CommonFields {
  checkQuantization(cfg);
  if (cfg.optBool('mlp_bias', false)) {
    throw new XdsError('invalid_config', 'config.json: mlp_bias = true is not supported', { param: 'mlp_bias' });
  }
  return {
    hiddenSize: cfg.posInt('hidden_size'),
    numLayers: cfg.posInt('num_hidden_layers'),
    vocabSize: cfg.posInt('vocab_size'),
    numHeads: cfg.posInt('num_attention_heads'),
    rmsNormEps: cfg.optPosNumber('rms_norm_eps', defaultEps),
    maxPositionEmbeddings: cfg.optPosInt('max_position_embeddings', 4096),
  };
}

function checkQuantization(cfg: Cfg): void {
  const q = cfg.raw['quantization_config'];
  if (q === undefined || q === null) return;
  const method = typeof q === 'object' ? (q as Record<string, unknown>)['quant_method'] : undefined;
  if (typeof method !== 'string' || !KNOWN_QUANT_METHODS.has(method)) {
    throw new XdsError('invalid_config', `config.json: quantization_config.quant_method ${JSON.stringify(method)} is not supported (supported: fp8)`,
      { param: 'quantization_config.quant_method' });
  }
}

function tokenFields(cfg: Cfg): Pick<ModelSpec, 'bosTokenId' | 'eosTokenIds' | 'torchDtype' | 'tieWordEmbeddings' | 'modelType' | 'architecture'> {
  return {
    bosTokenId: cfg.optIntOrNull('bos_token_id'),
    eosTokenIds: cfg.intOrIntArray('eos_token_id'),
    torchDtype: cfg.optString('torch_dtype') ?? cfg.optString('dtype'),
    tieWordEmbeddings: cfg.optBool('tie_word_embeddings', false),
    modelType: cfg.optString('model_type') ?? '',
    architecture: (cfg.raw['architectures'] as string[])[0]!,
  };
}

function ropeSpec(cfg: Cfg, dim: number, layout: RopeSpec['layout'], maxPos: number): RopeSpec {
  if (dim % 2 !== 0) {
    const param = layout === 'interleaved' ? 'qk_rope_head_dim' : 'head_dim';
    throw new XdsError('invalid_config', `config.json: the rotary width ${param} (${dim}) must be even`, { param });
  }
  return { theta: ropeTheta(cfg, 10000), dim, layout, scaling: parseRopeScaling(cfg, maxPos) };
}

// ---- Llama, Qwen3, Mixtral, Qwen3-MoE (GQA) --------------------------------------------------

function parseGqa(cfg: Cfg, arch: ArchKind): ModelSpec {
  const isQwen = arch === 'qwen3' || arch === 'qwen3_moe';
  const c = commonFields(cfg, arch === 'mixtral' ? 1e-5 : 1e-6);
  const attention = gqaAttention(cfg, c, arch, isQwen);
  const layers: LayerSpec[] = [];
  for (let l = 0; l < c.numLayers; l++) layers.push({ index: l, ffn: gqaLayerFfn(cfg, arch, l, c.numLayers) });
  return {
    arch, naming: NAMING[arch], ...tokenFields(cfg), ...omitHeads(c), attention,
    rope: ropeSpec(cfg, attention.kind === 'gqa' ? attention.headDim : 0, 'halves', c.maxPositionEmbeddings),
    layers, numMtpLayers: 0, mtpFfn: null,
  };
}

function omitHeads(c: CommonFields): Omit<CommonFields, 'numHeads'> {
  const { numHeads: _unused, ...rest } = c;
  return rest;
}

function gqaAttention(cfg: Cfg, c: CommonFields, arch: ArchKind, isQwen: boolean): AttentionSpec {
  const numKvHeads = cfg.optPosInt('num_key_value_heads', c.numHeads);
  if (c.numHeads % numKvHeads !== 0) {
    throw new XdsError('invalid_config', `config.json: num_attention_heads (${c.numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`,
      { param: 'num_key_value_heads' });
  }
  // NOTE: HF Qwen3Config defaults head_dim to 128; Llama/Mixtral default to D/H.
  const headDim = cfg.raw['head_dim'] == null ? (isQwen ? 128 : defaultHeadDim(c)) : cfg.posInt('head_dim');
  if (isQwen && cfg.optBool('use_sliding_window', false)) {
    throw new XdsError('invalid_config', 'config.json: use_sliding_window = true is not supported', { param: 'use_sliding_window' });
  }
  const slidingWindow = arch === 'mixtral' ? cfg.optIntOrNull('sliding_window') : null;
  return {
    kind: 'gqa', numHeads: c.numHeads, numKvHeads, headDim, hasQkNorm: isQwen,
    hasBias: cfg.optBool('attention_bias', false), slidingWindow, softmaxScale: 1 / Math.sqrt(headDim),
  };
}

function defaultHeadDim(c: CommonFields): number {
  if (c.hiddenSize % c.numHeads !== 0) {
    throw new XdsError('invalid_config', `config.json: head_dim is missing and hidden_size (${c.hiddenSize}) is not a multiple of num_attention_heads (${c.numHeads})`,
      { param: 'head_dim' });
  }
  return c.hiddenSize / c.numHeads;
}

function numRoutedExperts(cfg: Cfg): number | null {
  for (const key of ['num_local_experts', 'num_experts', 'n_routed_experts']) {
    if (cfg.raw[key] != null) return cfg.nonNegInt(key);
  }
  return null;
}

function gqaLayerFfn(cfg: Cfg, arch: ArchKind, l: number, numLayers: number): FfnSpec {
  const dense: FfnSpec = { kind: 'dense', intermediateSize: cfg.posInt('intermediate_size') };
  if (arch === 'llama' || arch === 'qwen3') return dense;
  const numExperts = numRoutedExperts(cfg);
  if (numExperts === null) throw new XdsError('invalid_config', 'config.json: the number of experts is missing (num_local_experts / num_experts)', { param: arch === 'mixtral' ? 'num_local_experts' : 'num_experts' });
  const router: RouterSpec = {
    scoring: 'softmax', method: 'topk', numGroups: 1, topkGroups: 1,
    normTopkProb: arch === 'mixtral' ? true : cfg.optBool('norm_topk_prob', false),
    routedScalingFactor: 1, scalingRule: 'never', hasCorrectionBias: false, normEps: 0,
  };
  const k = cfg.posInt('num_experts_per_tok');
  checkTopk(k, numExperts);
  if (arch === 'mixtral') {
    return { kind: 'moe', numExperts, numExpertsPerTok: k, expertIntermediateSize: dense.intermediateSize, sharedIntermediateSize: 0, router };
  }
  if (!isQwenMoeLayer(cfg, l, numExperts, numLayers)) return dense;
  return { kind: 'moe', numExperts, numExpertsPerTok: k, expertIntermediateSize: cfg.posInt('moe_intermediate_size'), sharedIntermediateSize: 0, router };
}

function checkTopk(k: number, numExperts: number): void {
  if (k > numExperts) {
    throw new XdsError('invalid_config', `config.json: num_experts_per_tok (${k}) exceeds the number of experts (${numExperts})`, { param: 'num_experts_per_tok' });
  }
}

/** Qwen3-MoE: sparse iff l ∉ mlp_only_layers, E > 0 and (l+1) mod decoder_sparse_step == 0 (MODELS.md §3.2). */
function isQwenMoeLayer(cfg: Cfg, l: number, numExperts: number, numLayers: number): boolean {
  const step = cfg.optPosInt('decoder_sparse_step', 1);
  const only = cfg.optIntArray('mlp_only_layers');
  for (const i of only) {
    if (i >= numLayers) throw new XdsError('invalid_config', `config.json: mlp_only_layers has ${i} ≥ num_hidden_layers`, { param: 'mlp_only_layers' });
  }
  return !only.includes(l) && numExperts > 0 && (l + 1) % step === 0;
}

// ---- DeepSeek V2 / V3 / Kimi K2 / Moonlight (MLA + DeepSeekMoE) -------------------------------

function parseDeepseek(cfg: Cfg, arch: ArchKind): ModelSpec {
  const c = commonFields(cfg, 1e-6);
  const qkNope = cfg.posInt('qk_nope_head_dim');
  const qkRope = cfg.posInt('qk_rope_head_dim');
  const rope = ropeSpec(cfg, qkRope, 'interleaved', c.maxPositionEmbeddings);
  const attention: AttentionSpec = {
    kind: 'mla', numHeads: c.numHeads,
    qLoraRank: cfg.raw['q_lora_rank'] == null ? null : cfg.posInt('q_lora_rank'),
    kvLoraRank: cfg.posInt('kv_lora_rank'), qkNopeHeadDim: qkNope, qkRopeHeadDim: qkRope,
    vHeadDim: cfg.posInt('v_head_dim'), softmaxScale: mlaSoftmaxScale(qkNope + qkRope, rope.scaling),
  };
  const router = numRoutedExperts(cfg) === null ? null : deepseekRouter(cfg, arch);
  const layers: LayerSpec[] = [];
  for (let l = 0; l < c.numLayers; l++) layers.push({ index: l, ffn: deepseekLayerFfn(cfg, router, l) });
  const numMtpLayers = arch === 'deepseek_v3' ? cfg.optNonNegInt('num_nextn_predict_layers', 0) : 0;
  return {
    arch, naming: 'deepseek', ...tokenFields(cfg), ...omitHeads(c), attention, rope, layers,
    numMtpLayers, mtpFfn: numMtpLayers > 0 ? deepseekLayerFfn(cfg, router, c.numLayers) : null,
  };
}

/** MoE iff n_routed_experts is set, l ≥ first_k_dense_replace and l mod moe_layer_freq == 0 (MODELS.md §4.1). */
function deepseekLayerFfn(cfg: Cfg, router: RouterSpec | null, l: number): FfnSpec {
  const numExperts = numRoutedExperts(cfg);
  const firstDense = cfg.optNonNegInt('first_k_dense_replace', 0);
  const freq = cfg.optPosInt('moe_layer_freq', 1);
  if (router === null || numExperts === null || numExperts === 0 || l < firstDense || l % freq !== 0) {
    return { kind: 'dense', intermediateSize: cfg.posInt('intermediate_size') };
  }
  const im = cfg.posInt('moe_intermediate_size');
  return {
    kind: 'moe', numExperts, numExpertsPerTok: cfg.posInt('num_experts_per_tok'), expertIntermediateSize: im,
    sharedIntermediateSize: cfg.optNonNegInt('n_shared_experts', 0) * im, router,
  };
}

function deepseekTopkMethod(cfg: Cfg, arch: ArchKind): RouterSpec['method'] {
  const raw = cfg.optString('topk_method') ?? (arch === 'deepseek_v3' ? 'noaux_tc' : 'greedy');
  if (raw === 'greedy' || raw === 'gready') return 'topk';
  if (raw === 'group_limited_greedy' || raw === 'noaux_tc') return raw;
  throw new XdsError('invalid_config', `config.json: topk_method ${JSON.stringify(raw)} is not greedy, group_limited_greedy or noaux_tc`, { param: 'topk_method' });
}

function deepseekRouter(cfg: Cfg, arch: ArchKind): RouterSpec {
  const method = deepseekTopkMethod(cfg, arch);
  const scoring = cfg.optString('scoring_func') ?? (arch === 'deepseek_v3' ? 'sigmoid' : 'softmax');
  if (scoring !== 'softmax' && scoring !== 'sigmoid') {
    throw new XdsError('invalid_config', `config.json: scoring_func ${JSON.stringify(scoring)} is not softmax or sigmoid`, { param: 'scoring_func' });
  }
  const numGroups = cfg.raw['n_group'] == null ? 1 : cfg.posInt('n_group');
  const topkGroups = cfg.raw['topk_group'] == null ? 1 : cfg.posInt('topk_group');
  checkGroups(cfg, method, numGroups, topkGroups);
  return {
    scoring, method, numGroups, topkGroups,
    normTopkProb: cfg.optBool('norm_topk_prob', false),
    routedScalingFactor: cfg.optPosNumber('routed_scaling_factor', 1),
    scalingRule: arch === 'deepseek_v3' ? 'always' : 'unless_normalized',
    hasCorrectionBias: method === 'noaux_tc', normEps: 1e-20,
  };
}

/** E mod n_group = 0; topk_group ≤ n_group; noaux_tc needs ≥ 2 experts per group; k ≤ topk_group·E/n_group. */
function checkGroups(cfg: Cfg, method: RouterSpec['method'], numGroups: number, topkGroups: number): void {
  const e = numRoutedExperts(cfg) ?? 0;
  const k = cfg.posInt('num_experts_per_tok');
  checkTopk(k, e);
  if (e % numGroups !== 0) {
    throw new XdsError('invalid_config', `config.json: n_routed_experts (${e}) is not a multiple of n_group (${numGroups})`, { param: 'n_group' });
  }
  if (topkGroups > numGroups) {
    throw new XdsError('invalid_config', `config.json: topk_group (${topkGroups}) exceeds n_group (${numGroups})`, { param: 'topk_group' });
  }
  if (method === 'topk') return;
  const perGroup = e / numGroups;
  if (method === 'noaux_tc' && perGroup < 2) {
    throw new XdsError('invalid_config', `config.json: noaux_tc needs at least 2 experts per group (n_routed_experts ${e} / n_group ${numGroups})`, { param: 'n_group' });
  }
  if (k > topkGroups * perGroup) {
    throw new XdsError('invalid_config', `config.json: num_experts_per_tok (${k}) exceeds topk_group·n_routed_experts/n_group (${topkGroups * perGroup})`, { param: 'num_experts_per_tok' });
  }
}

function deepFreeze<T>(x: T): T {
  if (x !== null && typeof x === 'object' && !Object.isFrozen(x)) {
    for (const v of Object.values(x as Record<string, unknown>)) deepFreeze(v);
    Object.freeze(x);
  }
  return x;
}
