/**
 * What every GGUF architecture exporter shares (GGUF-EXPORT.md §3, §4.2, §6.2): the plan record,
 * the common `{arch}.*` keys with the exact GGUF types llama.cpp checks, the generic RoPE scaling
 * keys, and the global tensors (token_embd, output_norm, output).
 */
import type { FfnSpec, ModelSpec } from '../../config/model-spec.js';
import { XdsError } from '../../core/errors.js';
import { EMBED_TOKENS, FINAL_NORM, LM_HEAD } from '../tensor-names.js';
import type { WeightSource } from '../tensor.js';
import { kv, type GgufKv } from './format.js';
import { copied, stackExperts, type PlannedTensor } from './tensors.js';
import type { MlpNames } from '../tensor-names.js';

/** One architecture's part of a GGUF file, before the tokenizer keys and the type choice. */
export interface ArchPlan {
  /** `general.architecture`: llama | qwen3 | qwen3moe | deepseek2. */
  readonly arch: string;
  readonly kv: GgufKv[];
  readonly tensors: PlannedTensor[];
  /** What was changed or dropped on the way (MTP layers, …), for the export report. */
  readonly notes: string[];
}

export function unsupported(message: string, param: string): XdsError {
  return new XdsError('unsupported_architecture', `GGUF export: ${message}`, { param });
}

/** Keys every arch needs: context, widths, depth, heads, norm eps, RoPE base, vocab. */
export function commonKeys(arch: string, spec: ModelSpec): GgufKv[] {
  return [
    kv.u32(`${arch}.context_length`, spec.maxPositionEmbeddings),
    kv.u32(`${arch}.embedding_length`, spec.hiddenSize),
    kv.u32(`${arch}.block_count`, spec.numLayers),
    kv.u32(`${arch}.attention.head_count`, spec.attention.numHeads),
    kv.f32(`${arch}.attention.layer_norm_rms_epsilon`, spec.rmsNormEps),
    kv.f32(`${arch}.rope.freq_base`, spec.rope.theta),
    kv.u32(`${arch}.vocab_size`, spec.vocabSize),
  ];
}

/**
 * NOTE: the llama.cpp in node-llama-cpp 3.21.1 reads yarn_beta_fast/slow only for grok and
 * mistral3; every other arch runs YaRN with β 32/1. The keys are still written (as the converter
 * does), and a note says the reference will differ.
 */
export function yarnBetaNote(betaFast: number, betaSlow: number): string[] {
  if (betaFast === 32 && betaSlow === 1) return [];
  return [`YaRN beta_fast/beta_slow ${betaFast}/${betaSlow}: llama.cpp (node-llama-cpp 3.21.1) ignores these keys here and uses 32/1, so its output will differ`];
}

/** Generic rope scaling keys for GQA archs (linear, YaRN); llama3 is a tensor (arch-llama.ts). */
export function gqaRopeScalingKeys(arch: string, spec: ModelSpec, notes: string[] = []): GgufKv[] {
  const s = spec.rope.scaling;
  switch (s.kind) {
    case 'none':
    case 'llama3':
      return [];
    case 'linear':
      return [kv.str(`${arch}.rope.scaling.type`, 'linear'), kv.f32(`${arch}.rope.scaling.factor`, s.factor)];
    case 'yarn':
      if (s.attentionFactor !== null || s.mscale !== null || s.mscaleAllDim !== null) {
        throw unsupported(`YaRN with mscale/attention_factor is exported for deepseek2 only (arch ${arch})`, 'rope_scaling');
      }
      notes.push(...yarnBetaNote(s.betaFast, s.betaSlow));
      return [
        kv.str(`${arch}.rope.scaling.type`, 'yarn'), kv.f32(`${arch}.rope.scaling.factor`, s.factor),
        kv.u32(`${arch}.rope.scaling.original_context_length`, s.originalMaxPositions),
        kv.f32(`${arch}.rope.scaling.yarn_beta_fast`, s.betaFast), kv.f32(`${arch}.rope.scaling.yarn_beta_slow`, s.betaSlow),
      ];
  }
}

/** token_embd, output_norm and (untied) output. */
export function globalTensors(spec: ModelSpec, source: WeightSource): { first: PlannedTensor[]; last: PlannedTensor[] } {
  const V = spec.vocabSize;
  const D = spec.hiddenSize;
  const last = [copied(source, FINAL_NORM, 'output_norm.weight', [D], true)];
  // Tied: llama.cpp reuses token_embd when output.weight is absent (GGUF-EXPORT.md §4.2).
  if (!spec.tieWordEmbeddings) last.push(copied(source, LM_HEAD, 'output.weight', [V, D]));
  return { first: [copied(source, EMBED_TOKENS, 'token_embd.weight', [V, D])], last };
}

/** Dense SiLU-GLU FFN: ffn_gate / ffn_up / ffn_down (+ suffix, e.g. `_shexp`). */
export function mlpTensors(source: WeightSource, names: MlpNames, prefix: string, suffix: string, D: number, width: number): PlannedTensor[] {
  return [
    copied(source, names.gate, `${prefix}.ffn_gate${suffix}.weight`, [width, D]),
    copied(source, names.up, `${prefix}.ffn_up${suffix}.weight`, [width, D]),
    copied(source, names.down, `${prefix}.ffn_down${suffix}.weight`, [D, width]),
  ];
}

/** Routed experts stacked [E, out, in] in router order: ffn_{gate,up,down}_exps. */
export function expertTensors(source: WeightSource, experts: readonly MlpNames[], prefix: string, D: number, width: number): PlannedTensor[] {
  return [
    stackExperts(source, experts.map((e) => e.gate), `${prefix}.ffn_gate_exps.weight`, [width, D]),
    stackExperts(source, experts.map((e) => e.up), `${prefix}.ffn_up_exps.weight`, [width, D]),
    stackExperts(source, experts.map((e) => e.down), `${prefix}.ffn_down_exps.weight`, [D, width]),
  ];
}

/** The MoE spec every layer must share for archs that cannot mix dense and MoE layers. */
export function uniformFfn(spec: ModelSpec, what: string): FfnSpec {
  const first = spec.layers[0]!.ffn;
  for (const layer of spec.layers) {
    if (layer.ffn.kind !== first.kind) {
      throw unsupported(`${what} needs every layer to be ${first.kind} (layer ${layer.index} is ${layer.ffn.kind}; check mlp_only_layers / decoder_sparse_step)`, 'mlp_only_layers');
    }
  }
  return first;
}
