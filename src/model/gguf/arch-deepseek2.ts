/**
 * GGUF arch `deepseek2` (DeepseekV2ForCausalLM / DeepseekV3ForCausalLM) — GGUF-EXPORT.md §6–§8,
 * MODELS.md §4–§5. MLA is written in llama.cpp's absorbed layout: kv_b_proj is split into
 * attn_k_b {dn, R, H} (transposed per head) and attn_v_b {R, dv, H}; the KV "head" is one MQA head
 * of width R + dr. Routed experts are stacked, the noaux_tc bias is `exp_probs_b.bias`, the MTP
 * layers (index ≥ num_hidden_layers) are dropped. RoPE rows are left alone when the checkpoint
 * already uses DeepSeek's interleaved layout, which is the pair layout llama.cpp runs (§6.4).
 */
import type { FfnSpec, MlaAttentionSpec, ModelSpec } from '../../config/model-spec.js';
import { layerTensorNames } from '../tensor-names.js';
import type { WeightSource } from '../tensor.js';
import { commonKeys, expertTensors, globalTensors, mlpTensors, unsupported, yarnBetaNote, type ArchPlan } from './arch-common.js';
import { kv, type GgufKv } from './format.js';
import { copied, permuteHalvesToPairs, planned, readF32, type PlannedTensor } from './tensors.js';

const ARCH = 'deepseek2';

function mla(spec: ModelSpec): MlaAttentionSpec {
  if (spec.attention.kind !== 'mla') throw unsupported(`${spec.architecture} has no MLA attention`, 'architectures');
  return spec.attention;
}

/** llama.cpp decides q-LoRA from the layer count (GGUF-EXPORT.md §6.5). */
export function isLiteLayerCount(numLayers: number, vocabSize: number): boolean {
  return numLayers === 26 || numLayers === 27 || (numLayers === 48 && vocabSize === 128256);
}

function checkLite(spec: ModelSpec, a: MlaAttentionSpec): void {
  const lite = isLiteLayerCount(spec.numLayers, spec.vocabSize);
  if (a.qLoraRank !== null && lite) {
    throw unsupported(`llama.cpp treats a deepseek2 model with ${spec.numLayers} layers as "lite" (no q LoRA); this one has q_lora_rank set`, 'num_hidden_layers');
  }
  if (a.qLoraRank === null && !lite) {
    throw unsupported(`llama.cpp loads deepseek2 without q LoRA only at 26/27 layers; this one has ${spec.numLayers} (set q_lora_rank)`, 'q_lora_rank');
  }
}

/** Leading dense layers then MoE layers, all MoE layers alike (llama.cpp's only pattern). */
function moeLayout(spec: ModelSpec): { numDense: number; moe: Extract<FfnSpec, { kind: 'moe' }> | null; denseWidth: number | null } {
  const numDense = spec.layers.findIndex((l) => l.ffn.kind === 'moe');
  const firstMoe = numDense < 0 ? null : spec.layers[numDense]!.ffn;
  const dense = spec.layers[0]!.ffn;
  for (const layer of spec.layers.slice(Math.max(numDense, 0))) {
    if (numDense >= 0 && JSON.stringify(layer.ffn) !== JSON.stringify(firstMoe)) {
      throw unsupported(`deepseek2 needs dense layers first, then identical MoE layers (layer ${layer.index} differs; check moe_layer_freq)`, 'moe_layer_freq');
    }
  }
  return {
    numDense: numDense < 0 ? spec.numLayers : numDense,
    moe: firstMoe?.kind === 'moe' ? firstMoe : null,
    denseWidth: dense.kind === 'dense' ? dense.intermediateSize : null,
  };
}

function routerKeys(moe: Extract<FfnSpec, { kind: 'moe' }>): GgufKv[] {
  const r = moe.router;
  const keys: GgufKv[] = [
    kv.u32(`${ARCH}.expert_count`, moe.numExperts), kv.u32(`${ARCH}.expert_used_count`, moe.numExpertsPerTok),
    kv.u32(`${ARCH}.expert_shared_count`, moe.sharedIntermediateSize / moe.expertIntermediateSize),
    kv.u32(`${ARCH}.expert_feed_forward_length`, moe.expertIntermediateSize),
    kv.u32(`${ARCH}.expert_gating_func`, r.scoring === 'sigmoid' ? 2 : 1),
    kv.bool(`${ARCH}.expert_weights_norm`, r.normTopkProb),
    kv.f32(`${ARCH}.expert_weights_scale`, routedScale(moe)),
  ];
  const grouped = r.topkGroups < r.numGroups;
  if (grouped && r.method === 'group_limited_greedy') {
    throw unsupported('llama.cpp groups experts by the V3 top-2-sum rule only; DeepSeek-V2 group_limited_greedy (group max) with topk_group < n_group cannot be expressed', 'topk_method');
  }
  // llama.cpp aborts unless 0 < used < count; with no real restriction both keys are omitted (§3).
  if (grouped) keys.push(kv.u32(`${ARCH}.expert_group_count`, r.numGroups), kv.u32(`${ARCH}.expert_group_used_count`, r.topkGroups));
  return keys;
}

/** llama.cpp multiplies after the optional renormalization, unconditionally (MODELS.md §4.5). */
function routedScale(moe: Extract<FfnSpec, { kind: 'moe' }>): number {
  const r = moe.router;
  if (r.scalingRule === 'never') return 1;
  if (r.scalingRule === 'unless_normalized' && r.normTopkProb) return 1;
  return r.routedScalingFactor;
}

function ropeKeys(spec: ModelSpec, notes: string[]): GgufKv[] {
  const s = spec.rope.scaling;
  if (s.kind === 'none') return [];
  if (s.kind !== 'yarn') throw unsupported(`deepseek2 supports YaRN rope scaling only, not ${s.kind}`, 'rope_scaling');
  if (s.attentionFactor !== null) throw unsupported('YaRN attention_factor is not expressible in deepseek2 GGUF', 'rope_scaling.attention_factor');
  if ((s.mscale ?? 1) !== (s.mscaleAllDim ?? 1) && s.mscale !== null && s.mscaleAllDim !== null) {
    notes.push('YaRN mscale ≠ mscale_all_dim: llama.cpp assumes a cos/sin magnitude factor of 1 and will differ (GGUF-EXPORT.md §8)');
  }
  notes.push(...yarnBetaNote(s.betaFast, s.betaSlow));
  return [
    kv.str(`${ARCH}.rope.scaling.type`, 'yarn'), kv.f32(`${ARCH}.rope.scaling.factor`, s.factor),
    kv.u32(`${ARCH}.rope.scaling.original_context_length`, s.originalMaxPositions),
    kv.f32(`${ARCH}.rope.scaling.yarn_log_multiplier`, 0.1 * (s.mscaleAllDim ?? 0)),
    kv.f32(`${ARCH}.rope.scaling.yarn_beta_fast`, s.betaFast), kv.f32(`${ARCH}.rope.scaling.yarn_beta_slow`, s.betaSlow),
  ];
}

function attentionKeys(a: MlaAttentionSpec): GgufKv[] {
  const keys = [
    kv.u32(`${ARCH}.attention.head_count_kv`, 1),
    kv.u32(`${ARCH}.attention.key_length`, a.kvLoraRank + a.qkRopeHeadDim),
    kv.u32(`${ARCH}.attention.value_length`, a.kvLoraRank),
    kv.u32(`${ARCH}.attention.key_length_mla`, a.qkNopeHeadDim + a.qkRopeHeadDim),
    kv.u32(`${ARCH}.attention.value_length_mla`, a.vHeadDim),
    kv.u32(`${ARCH}.attention.kv_lora_rank`, a.kvLoraRank),
    kv.u32(`${ARCH}.rope.dimension_count`, a.qkRopeHeadDim),
  ];
  if (a.qLoraRank !== null) keys.push(kv.u32(`${ARCH}.attention.q_lora_rank`, a.qLoraRank));
  return keys;
}

/** kv_b [H·(dn+dv), R] → k_b [H, R, dn] (per-head transpose) and v_b [H, dv, R] (GGUF-EXPORT.md §6.3). */
export function splitKvB(kvB: Float32Array, a: MlaAttentionSpec): { kB: Float32Array; vB: Float32Array } {
  const { numHeads: H, qkNopeHeadDim: dn, vHeadDim: dv, kvLoraRank: R } = a;
  const kB = new Float32Array(H * R * dn); // [H, R, dn] f32
  const vB = new Float32Array(H * dv * R); // [H, dv, R] f32
  for (let h = 0; h < H; h++) {
    const head = h * (dn + dv) * R;
    for (let d = 0; d < dn; d++) {
      for (let c = 0; c < R; c++) kB[h * R * dn + c * dn + d] = kvB[head + d * R + c]!;
    }
    vB.set(kvB.subarray(head + dn * R, head + (dn + dv) * R), h * dv * R);
  }
  return { kB, vB };
}

function attentionTensors(spec: ModelSpec, source: WeightSource, l: number, permute: boolean): PlannedTensor[] {
  const a = mla(spec);
  const n = layerTensorNames(spec, l).attention;
  if (n.kind !== 'mla') throw unsupported('MLA names expected', 'architectures');
  const D = spec.hiddenSize;
  const { numHeads: H, qkNopeHeadDim: dn, qkRopeHeadDim: dr, vHeadDim: dv, kvLoraRank: R } = a;
  const p = `blk.${l}`;
  const qk = dn + dr;
  // Halves-layout rope rows → pairs, only if our checkpoint is not already interleaved (§6.4).
  const fixQ = (w: Float32Array, cols: number): Float32Array => (permute ? permuteHalvesToPairs(w, cols, qk, dn, dr) : w);
  const fixKv = (w: Float32Array): Float32Array => (permute ? permuteHalvesToPairs(w, D, R + dr, R, dr) : w);
  const out: PlannedTensor[] = [];
  if (a.qLoraRank !== null && n.qA !== null && n.qANorm !== null && n.qB !== null) {
    const rq = a.qLoraRank;
    const qB = n.qB;
    out.push(copied(source, n.qA, `${p}.attn_q_a.weight`, [rq, D]), copied(source, n.qANorm, `${p}.attn_q_a_norm.weight`, [rq], true));
    out.push(planned(`${p}.attn_q_b.weight`, [H * qk, rq], () => fixQ(readF32(source, qB, [H * qk, rq]), rq)));
  } else if (n.q !== null) {
    const q = n.q;
    out.push(planned(`${p}.attn_q.weight`, [H * qk, D], () => fixQ(readF32(source, q, [H * qk, D]), D)));
  }
  out.push(planned(`${p}.attn_kv_a_mqa.weight`, [R + dr, D], () => fixKv(readF32(source, n.kvA, [R + dr, D]))));
  out.push(copied(source, n.kvANorm, `${p}.attn_kv_a_norm.weight`, [R], true));
  const split = (): ReturnType<typeof splitKvB> => splitKvB(readF32(source, n.kvB, [H * (dn + dv), R]), a);
  out.push(planned(`${p}.attn_k_b.weight`, [H, R, dn], () => split().kB));
  out.push(planned(`${p}.attn_v_b.weight`, [H, dv, R], () => split().vB));
  out.push(copied(source, n.o, `${p}.attn_output.weight`, [D, H * dv]));
  return out;
}

function ffnTensors(spec: ModelSpec, source: WeightSource, l: number): PlannedTensor[] {
  const n = layerTensorNames(spec, l).ffn;
  const ffn = spec.layers[l]!.ffn;
  const D = spec.hiddenSize;
  const p = `blk.${l}`;
  if (n.kind === 'dense' && ffn.kind === 'dense') return mlpTensors(source, n.mlp, p, '', D, ffn.intermediateSize);
  if (n.kind !== 'moe' || ffn.kind !== 'moe') throw unsupported('FFN names do not match the spec', 'architectures');
  const out = [copied(source, n.router, `${p}.ffn_gate_inp.weight`, [ffn.numExperts, D], true)];
  if (n.correctionBias !== null) out.push(copied(source, n.correctionBias, `${p}.exp_probs_b.bias`, [ffn.numExperts], true));
  out.push(...expertTensors(source, n.experts, p, D, ffn.expertIntermediateSize));
  if (n.shared !== null) out.push(...mlpTensors(source, n.shared, p, '_shexp', D, ffn.sharedIntermediateSize));
  return out;
}

export function planDeepseek2(spec: ModelSpec, source: WeightSource): ArchPlan {
  const a = mla(spec);
  checkLite(spec, a);
  const layout = moeLayout(spec);
  if (layout.moe !== null && layout.moe.sharedIntermediateSize % layout.moe.expertIntermediateSize !== 0) {
    throw unsupported('deepseek2 needs the shared-expert width to be a multiple of moe_intermediate_size', 'n_shared_experts');
  }
  const notes: string[] = [];
  const keys: GgufKv[] = [
    ...commonKeys(ARCH, spec), ...attentionKeys(a), ...ropeKeys(spec, notes),
    kv.u32(`${ARCH}.feed_forward_length`, layout.denseWidth ?? layout.moe?.expertIntermediateSize ?? 0),
    kv.u32(`${ARCH}.leading_dense_block_count`, layout.numDense),
    ...(layout.moe ? routerKeys(layout.moe) : []),
  ];
  if (spec.numMtpLayers > 0) notes.push(`dropped ${spec.numMtpLayers} MTP layer(s) (model.layers.${spec.numLayers}+): llama.cpp's DeepSeek conversion has no MTP (GGUF-EXPORT.md §6.6)`);
  const permute = spec.rope.layout === 'halves';
  if (permute) notes.push('q_pe / k_pe rope rows permuted from halves to adjacent pairs (GGUF-EXPORT.md §6.4)');
  const D = spec.hiddenSize;
  const g = globalTensors(spec, source);
  const tensors = [...g.first];
  for (let l = 0; l < spec.numLayers; l++) {
    const n = layerTensorNames(spec, l);
    tensors.push(copied(source, n.inputNorm, `blk.${l}.attn_norm.weight`, [D], true));
    tensors.push(...attentionTensors(spec, source, l, permute));
    tensors.push(copied(source, n.postAttnNorm, `blk.${l}.ffn_norm.weight`, [D], true));
    tensors.push(...ffnTensors(spec, source, l));
  }
  tensors.push(...g.last);
  return { arch: ARCH, kv: keys, tensors, notes };
}
