/**
 * Hugging Face tensor names and shapes per architecture (MODELS.md §2.1, §3.1, §3.2, §4.2, §6.1),
 * as functions of a ModelSpec, so the loader (model-weights.ts), the random checkpoint generator
 * and the GGUF exporter all agree. Shapes are [out, in] for linear weights (MODELS.md §0).
 */

import type { FfnSpec, ModelSpec } from '../config/model-spec.js';

/** A linear layer: `<prefix>.weight` and, when the config has biases, `<prefix>.bias`. */
export interface LinearNames {
  readonly weight: string;
  readonly bias: string | null;
}

export interface MlpNames {
  readonly gate: string;
  readonly up: string;
  readonly down: string;
}

export type AttentionNames =
  | {
      readonly kind: 'gqa';
      readonly q: LinearNames; readonly k: LinearNames; readonly v: LinearNames; readonly o: LinearNames;
      /** Qwen3 per-head norms [dh], null otherwise. */
      readonly qNorm: string | null; readonly kNorm: string | null;
    }
  | {
      readonly kind: 'mla';
      /** q LoRA path (q_lora_rank set): q_a_proj, q_a_layernorm, q_b_proj; else q_proj. */
      readonly qA: string | null; readonly qANorm: string | null; readonly qB: string | null; readonly q: string | null;
      readonly kvA: string; readonly kvANorm: string; readonly kvB: string; readonly o: string;
    };

export type FfnNames =
  | { readonly kind: 'dense'; readonly mlp: MlpNames }
  | {
      readonly kind: 'moe';
      readonly router: string;
      /** noaux_tc only: `mlp.gate.e_score_correction_bias`. */
      readonly correctionBias: string | null;
      readonly experts: readonly MlpNames[];
      readonly shared: MlpNames | null;
    };

export interface LayerTensorNames {
  readonly index: number;
  readonly inputNorm: string;
  readonly postAttnNorm: string;
  readonly attention: AttentionNames;
  readonly ffn: FfnNames;
}

/** MTP module at layer index L + i (MODELS.md §6.1); embed/head are copies that may be absent. */
export interface MtpTensorNames extends LayerTensorNames {
  readonly embed: string;
  readonly enorm: string;
  readonly hnorm: string;
  readonly ehProj: string;
  readonly sharedHeadNorm: string;
  readonly sharedHeadHead: string;
}

export const EMBED_TOKENS = 'model.embed_tokens.weight';
export const FINAL_NORM = 'model.norm.weight';
export const LM_HEAD = 'lm_head.weight';

function linear(prefix: string, hasBias: boolean): LinearNames {
  return { weight: `${prefix}.weight`, bias: hasBias ? `${prefix}.bias` : null };
}

function mlp(prefix: string, w1w3w2: boolean): MlpNames {
  return w1w3w2
    ? { gate: `${prefix}.w1.weight`, up: `${prefix}.w3.weight`, down: `${prefix}.w2.weight` }
    : { gate: `${prefix}.gate_proj.weight`, up: `${prefix}.up_proj.weight`, down: `${prefix}.down_proj.weight` };
}

function attentionNames(spec: ModelSpec, p: string): AttentionNames {
  const a = spec.attention;
  if (a.kind === 'gqa') {
    return {
      kind: 'gqa', q: linear(`${p}.q_proj`, a.hasBias), k: linear(`${p}.k_proj`, a.hasBias),
      v: linear(`${p}.v_proj`, a.hasBias), o: linear(`${p}.o_proj`, a.hasBias),
      qNorm: a.hasQkNorm ? `${p}.q_norm.weight` : null, kNorm: a.hasQkNorm ? `${p}.k_norm.weight` : null,
    };
  }
  const lora = a.qLoraRank !== null;
  return {
    kind: 'mla',
    qA: lora ? `${p}.q_a_proj.weight` : null, qANorm: lora ? `${p}.q_a_layernorm.weight` : null,
    qB: lora ? `${p}.q_b_proj.weight` : null, q: lora ? null : `${p}.q_proj.weight`,
    kvA: `${p}.kv_a_proj_with_mqa.weight`, kvANorm: `${p}.kv_a_layernorm.weight`,
    kvB: `${p}.kv_b_proj.weight`, o: `${p}.o_proj.weight`,
  };
}

function ffnNames(spec: ModelSpec, ffn: FfnSpec, p: string): FfnNames {
  if (ffn.kind === 'dense') return { kind: 'dense', mlp: mlp(`${p}.mlp`, false) };
  const isMixtral = spec.naming === 'mixtral';
  const base = isMixtral ? `${p}.block_sparse_moe` : `${p}.mlp`;
  const experts: MlpNames[] = [];
  for (let e = 0; e < ffn.numExperts; e++) experts.push(mlp(`${base}.experts.${e}`, isMixtral));
  return {
    kind: 'moe', router: `${base}.gate.weight`,
    correctionBias: ffn.router.hasCorrectionBias ? `${base}.gate.e_score_correction_bias` : null,
    experts, shared: ffn.sharedIntermediateSize > 0 ? mlp(`${base}.shared_experts`, false) : null,
  };
}

function blockNames(spec: ModelSpec, l: number, ffn: FfnSpec): LayerTensorNames {
  const p = `model.layers.${l}`;
  return {
    index: l, inputNorm: `${p}.input_layernorm.weight`, postAttnNorm: `${p}.post_attention_layernorm.weight`,
    attention: attentionNames(spec, `${p}.self_attn`), ffn: ffnNames(spec, ffn, p),
  };
}

/** Names of main decoder layer l (0 ≤ l < numLayers). */
export function layerTensorNames(spec: ModelSpec, l: number): LayerTensorNames {
  const layer = spec.layers[l];
  if (layer === undefined) throw new RangeError(`layer ${l} out of range [0, ${spec.numLayers})`);
  return blockNames(spec, l, layer.ffn);
}

/** Names of MTP module i (0 ≤ i < numMtpLayers), stored as layer numLayers + i. */
export function mtpTensorNames(spec: ModelSpec, i: number): MtpTensorNames {
  if (i < 0 || i >= spec.numMtpLayers || spec.mtpFfn === null) throw new RangeError(`MTP module ${i} out of range [0, ${spec.numMtpLayers})`);
  const l = spec.numLayers + i;
  const p = `model.layers.${l}`;
  return {
    ...blockNames(spec, l, spec.mtpFfn), embed: `${p}.embed_tokens.weight`, enorm: `${p}.enorm.weight`,
    hnorm: `${p}.hnorm.weight`, ehProj: `${p}.eh_proj.weight`, sharedHeadNorm: `${p}.shared_head.norm.weight`,
    sharedHeadHead: `${p}.shared_head.head.weight`,
  };
}

// ---- Flat list with shapes and roles (generator, loader checks, GGUF export) ----------------

/** What a tensor is, so a generator can pick its initialization (MODELS.md §9.1). */
export type TensorRole = 'embedding' | 'linear' | 'norm' | 'bias' | 'router' | 'correction_bias';

export interface TensorInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly role: TensorRole;
}

/** Every tensor the checkpoint must hold (MTP copies of embed/head excluded unless asked). */
export function modelTensorList(spec: ModelSpec, opts: { includeMtp?: boolean; includeMtpCopies?: boolean } = {}): TensorInfo[] {
  const D = spec.hiddenSize;
  const V = spec.vocabSize;
  const out: TensorInfo[] = [{ name: EMBED_TOKENS, shape: [V, D], role: 'embedding' }];
  for (let l = 0; l < spec.numLayers; l++) pushLayer(out, spec, layerTensorNames(spec, l), spec.layers[l]!.ffn);
  out.push({ name: FINAL_NORM, shape: [D], role: 'norm' });
  if (!spec.tieWordEmbeddings) out.push({ name: LM_HEAD, shape: [V, D], role: 'linear' });
  if (opts.includeMtp ?? true) {
    for (let i = 0; i < spec.numMtpLayers; i++) pushMtp(out, spec, i, opts.includeMtpCopies ?? false);
  }
  return out;
}

function pushMtp(out: TensorInfo[], spec: ModelSpec, i: number, copies: boolean): void {
  const D = spec.hiddenSize;
  const n = mtpTensorNames(spec, i);
  if (copies) out.push({ name: n.embed, shape: [spec.vocabSize, D], role: 'embedding' });
  out.push({ name: n.enorm, shape: [D], role: 'norm' }, { name: n.hnorm, shape: [D], role: 'norm' });
  out.push({ name: n.ehProj, shape: [D, 2 * D], role: 'linear' });
  pushLayer(out, spec, n, spec.mtpFfn!);
  out.push({ name: n.sharedHeadNorm, shape: [D], role: 'norm' });
  if (copies) out.push({ name: n.sharedHeadHead, shape: [spec.vocabSize, D], role: 'linear' });
}

function pushLayer(out: TensorInfo[], spec: ModelSpec, n: LayerTensorNames, ffn: FfnSpec): void {
  const D = spec.hiddenSize;
  out.push({ name: n.inputNorm, shape: [D], role: 'norm' });
  pushAttention(out, spec, n.attention);
  out.push({ name: n.postAttnNorm, shape: [D], role: 'norm' });
  pushFfn(out, D, n.ffn, ffn);
}

function pushLinear(out: TensorInfo[], names: LinearNames, outDim: number, inDim: number): void {
  out.push({ name: names.weight, shape: [outDim, inDim], role: 'linear' });
  if (names.bias !== null) out.push({ name: names.bias, shape: [outDim], role: 'bias' });
}

function pushAttention(out: TensorInfo[], spec: ModelSpec, n: AttentionNames): void {
  const D = spec.hiddenSize;
  const a = spec.attention;
  if (n.kind === 'gqa' && a.kind === 'gqa') {
    const dh = a.headDim;
    pushLinear(out, n.q, a.numHeads * dh, D);
    pushLinear(out, n.k, a.numKvHeads * dh, D);
    pushLinear(out, n.v, a.numKvHeads * dh, D);
    pushLinear(out, n.o, D, a.numHeads * dh);
    if (n.qNorm !== null && n.kNorm !== null) out.push({ name: n.qNorm, shape: [dh], role: 'norm' }, { name: n.kNorm, shape: [dh], role: 'norm' });
  } else if (n.kind === 'mla' && a.kind === 'mla') {
    pushMlaAttention(out, D, n, a);
  }
}

function pushMlaAttention(out: TensorInfo[], D: number, n: Extract<AttentionNames, { kind: 'mla' }>, a: Extract<ModelSpec['attention'], { kind: 'mla' }>): void {
  const H = a.numHeads;
  const qk = a.qkNopeHeadDim + a.qkRopeHeadDim;
  if (n.qA !== null && n.qANorm !== null && n.qB !== null && a.qLoraRank !== null) {
    out.push({ name: n.qA, shape: [a.qLoraRank, D], role: 'linear' }, { name: n.qANorm, shape: [a.qLoraRank], role: 'norm' });
    out.push({ name: n.qB, shape: [H * qk, a.qLoraRank], role: 'linear' });
  } else if (n.q !== null) {
    out.push({ name: n.q, shape: [H * qk, D], role: 'linear' });
  }
  out.push({ name: n.kvA, shape: [a.kvLoraRank + a.qkRopeHeadDim, D], role: 'linear' });
  out.push({ name: n.kvANorm, shape: [a.kvLoraRank], role: 'norm' });
  out.push({ name: n.kvB, shape: [H * (a.qkNopeHeadDim + a.vHeadDim), a.kvLoraRank], role: 'linear' });
  out.push({ name: n.o, shape: [D, H * a.vHeadDim], role: 'linear' });
}

function pushMlp(out: TensorInfo[], n: MlpNames, D: number, width: number): void {
  out.push({ name: n.gate, shape: [width, D], role: 'linear' }, { name: n.up, shape: [width, D], role: 'linear' });
  out.push({ name: n.down, shape: [D, width], role: 'linear' });
}

function pushFfn(out: TensorInfo[], D: number, n: FfnNames, ffn: FfnSpec): void {
  if (n.kind === 'dense' && ffn.kind === 'dense') return pushMlp(out, n.mlp, D, ffn.intermediateSize);
  if (n.kind !== 'moe' || ffn.kind !== 'moe') return;
  out.push({ name: n.router, shape: [ffn.numExperts, D], role: 'router' });
  if (n.correctionBias !== null) out.push({ name: n.correctionBias, shape: [ffn.numExperts], role: 'correction_bias' });
  for (const e of n.experts) pushMlp(out, e, D, ffn.expertIntermediateSize);
  if (n.shared !== null) pushMlp(out, n.shared, D, ffn.sharedIntermediateSize);
}
