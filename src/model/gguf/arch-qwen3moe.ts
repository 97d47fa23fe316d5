/**
 * GGUF arch `qwen3moe` (Qwen3MoeForCausalLM) — GGUF-EXPORT.md §5, MODELS.md §3.2.
 * NeoX RoPE (no permutation), per-head q/k norms, every layer MoE with softmax routing and
 * renormalized top-k weights. llama.cpp's qwen3moe cannot express dense layers
 * (mlp_only_layers / decoder_sparse_step ≠ 1), norm_topk_prob = false, or shared experts:
 * such checkpoints are refused with an error naming the config key.
 */
import type { ModelSpec } from '../../config/model-spec.js';
import { layerTensorNames } from '../tensor-names.js';
import type { WeightSource } from '../tensor.js';
import { commonKeys, expertTensors, globalTensors, gqaRopeScalingKeys, uniformFfn, unsupported, type ArchPlan } from './arch-common.js';
import { kv, type GgufKv } from './format.js';
import { copied, type PlannedTensor } from './tensors.js';

function checkSpec(spec: ModelSpec): { E: number; k: number; Fe: number } {
  const a = spec.attention;
  if (a.kind !== 'gqa' || !a.hasQkNorm) throw unsupported('qwen3moe needs GQA attention with q/k norms', 'architectures');
  if (a.slidingWindow !== null) throw unsupported('qwen3moe has no sliding-window attention', 'sliding_window');
  if (spec.rope.layout !== 'halves' || spec.rope.dim !== a.headDim) throw unsupported('qwen3moe runs full-width NeoX RoPE', 'head_dim');
  if (spec.rope.scaling.kind === 'llama3') throw unsupported('llama3 rope scaling is exported for arch llama only', 'rope_scaling');
  const ffn = uniformFfn(spec, 'qwen3moe');
  if (ffn.kind !== 'moe') throw unsupported('qwen3moe needs MoE layers', 'num_experts');
  const r = ffn.router;
  if (!r.normTopkProb) throw unsupported('llama.cpp qwen3moe always renormalizes the top-k weights; norm_topk_prob=false cannot be expressed', 'norm_topk_prob');
  if (r.scoring !== 'softmax' || r.method !== 'topk' || ffn.sharedIntermediateSize > 0) {
    throw unsupported('qwen3moe runs softmax top-k routing without shared experts', 'scoring_func');
  }
  return { E: ffn.numExperts, k: ffn.numExpertsPerTok, Fe: ffn.expertIntermediateSize };
}

function layerTensors(spec: ModelSpec, source: WeightSource, l: number, Fe: number, E: number): PlannedTensor[] {
  const a = spec.attention;
  const n = layerTensorNames(spec, l);
  if (a.kind !== 'gqa' || n.attention.kind !== 'gqa' || n.ffn.kind !== 'moe') {
    throw unsupported('qwen3moe tensor names expected', 'architectures');
  }
  const D = spec.hiddenSize;
  const dh = a.headDim;
  const at = n.attention;
  const qNorm = at.qNorm;
  const kNorm = at.kNorm;
  if (qNorm === null || kNorm === null) throw unsupported('qwen3moe needs q_norm/k_norm', 'architectures');
  const p = `blk.${l}`;
  return [
    copied(source, n.inputNorm, `${p}.attn_norm.weight`, [D], true),
    copied(source, at.q.weight, `${p}.attn_q.weight`, [a.numHeads * dh, D]),
    copied(source, at.k.weight, `${p}.attn_k.weight`, [a.numKvHeads * dh, D]),
    copied(source, at.v.weight, `${p}.attn_v.weight`, [a.numKvHeads * dh, D]),
    copied(source, at.o.weight, `${p}.attn_output.weight`, [D, a.numHeads * dh]),
    copied(source, qNorm, `${p}.attn_q_norm.weight`, [dh], true),
    copied(source, kNorm, `${p}.attn_k_norm.weight`, [dh], true),
    copied(source, n.postAttnNorm, `${p}.ffn_norm.weight`, [D], true),
    copied(source, n.ffn.router, `${p}.ffn_gate_inp.weight`, [E, D], true),
    ...expertTensors(source, n.ffn.experts, p, D, Fe),
  ];
}

export function planQwen3Moe(spec: ModelSpec, source: WeightSource): ArchPlan {
  const { E, k, Fe } = checkSpec(spec);
  const a = spec.attention;
  if (a.kind !== 'gqa' || a.hasBias) throw unsupported('qwen3moe has no attention biases', 'attention_bias');
  const arch = 'qwen3moe';
  const notes: string[] = [];
  const keys: GgufKv[] = [
    ...commonKeys(arch, spec),
    // The dense width is unused when every layer is MoE; the converter writes intermediate_size.
    kv.u32(`${arch}.feed_forward_length`, Fe * k),
    kv.u32(`${arch}.attention.head_count_kv`, a.numKvHeads),
    kv.u32(`${arch}.attention.key_length`, a.headDim), kv.u32(`${arch}.attention.value_length`, a.headDim),
    kv.u32(`${arch}.rope.dimension_count`, a.headDim), ...gqaRopeScalingKeys(arch, spec, notes),
    kv.u32(`${arch}.expert_count`, E), kv.u32(`${arch}.expert_used_count`, k),
    kv.u32(`${arch}.expert_feed_forward_length`, Fe),
  ];
  const g = globalTensors(spec, source);
  const tensors = [...g.first];
  for (let l = 0; l < spec.numLayers; l++) tensors.push(...layerTensors(spec, source, l, Fe, E));
  tensors.push(...g.last);
  return { arch, kv: keys, tensors, notes };
}
