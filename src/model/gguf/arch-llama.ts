/**
 * GGUF archs `llama` (LlamaForCausalLM, and MixtralForCausalLM as llama + experts) and `qwen3`
 * (Qwen3ForCausalLM) — GGUF-EXPORT.md §4, MODELS.md §2.1–§2.2, §3.1.
 * llama.cpp runs `llama` with adjacent-pair RoPE, so HF's halves-layout q_proj/k_proj rows (and
 * biases) are permuted per head (§4.3); `qwen3` runs NeoX RoPE and is copied as is. Llama-3 RoPE
 * scaling becomes the `rope_freqs.weight` tensor of per-frequency divisors.
 */
import type { GqaAttentionSpec, ModelSpec } from '../../config/model-spec.js';
import { layerTensorNames, type LinearNames } from '../tensor-names.js';
import type { WeightSource } from '../tensor.js';
import {
  commonKeys, expertTensors, globalTensors, gqaRopeScalingKeys, mlpTensors, uniformFfn, unsupported, type ArchPlan,
} from './arch-common.js';
import { kv, type GgufKv } from './format.js';
import { copied, permuteHalvesToPairs, planned, readF32, type PlannedTensor } from './tensors.js';

function gqa(spec: ModelSpec): GqaAttentionSpec {
  if (spec.attention.kind !== 'gqa') throw unsupported(`${spec.architecture} has no GQA attention`, 'architectures');
  return spec.attention;
}

function checkCommon(spec: ModelSpec, a: GqaAttentionSpec, arch: string): void {
  if (a.slidingWindow !== null) throw unsupported(`llama.cpp arch ${arch} has no sliding-window attention`, 'sliding_window');
  if (spec.rope.dim !== a.headDim) throw unsupported(`arch ${arch} needs full-width RoPE (rope dim ${spec.rope.dim} ≠ head_dim ${a.headDim})`, 'head_dim');
}

/** llama.cpp divides each RoPE frequency by rope_freqs[i] (MODELS.md §2.1, converter's LlamaModel). */
export function llama3RopeFreqs(spec: ModelSpec): Float32Array {
  const s = spec.rope.scaling;
  if (s.kind !== 'llama3') throw unsupported('rope_freqs only exists for llama3 scaling', 'rope_scaling');
  const d = spec.rope.dim;
  const out = new Float32Array(d / 2); // [d/2] f32 divisors
  const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositions / s.highFreqFactor;
  for (let i = 0; i < d / 2; i++) {
    const freq = spec.rope.theta ** (-(2 * i) / d);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = s.factor;
    else {
      const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

/** q/k rows (and bias) in llama.cpp's pair order when the checkpoint uses halves. */
function qkTensors(source: WeightSource, names: LinearNames, gguf: string, heads: number, a: GqaAttentionSpec, D: number, permute: boolean): PlannedTensor[] {
  const rows = heads * a.headDim;
  const fix = (w: Float32Array, cols: number): Float32Array => (permute ? permuteHalvesToPairs(w, cols, a.headDim, 0, a.headDim) : w);
  const out = [planned(`${gguf}.weight`, [rows, D], () => fix(readF32(source, names.weight, [rows, D]), D))];
  const bias = names.bias;
  if (bias !== null) out.push(planned(`${gguf}.bias`, [rows], () => fix(readF32(source, bias, [rows]), 1), true));
  return out;
}

function linearTensors(source: WeightSource, names: LinearNames, gguf: string, outDim: number, inDim: number): PlannedTensor[] {
  const out = [copied(source, names.weight, `${gguf}.weight`, [outDim, inDim])];
  if (names.bias !== null) out.push(copied(source, names.bias, `${gguf}.bias`, [outDim], true));
  return out;
}

function layerTensors(spec: ModelSpec, source: WeightSource, l: number, permute: boolean): PlannedTensor[] {
  const a = gqa(spec);
  const D = spec.hiddenSize;
  const n = layerTensorNames(spec, l);
  const p = `blk.${l}`;
  if (n.attention.kind !== 'gqa') throw unsupported('GQA names expected', 'architectures');
  const at = n.attention;
  const out: PlannedTensor[] = [
    copied(source, n.inputNorm, `${p}.attn_norm.weight`, [D], true),
    ...qkTensors(source, at.q, `${p}.attn_q`, a.numHeads, a, D, permute),
    ...qkTensors(source, at.k, `${p}.attn_k`, a.numKvHeads, a, D, permute),
    ...linearTensors(source, at.v, `${p}.attn_v`, a.numKvHeads * a.headDim, D),
    ...linearTensors(source, at.o, `${p}.attn_output`, D, a.numHeads * a.headDim),
  ];
  if (at.qNorm !== null && at.kNorm !== null) {
    out.push(copied(source, at.qNorm, `${p}.attn_q_norm.weight`, [a.headDim], true));
    out.push(copied(source, at.kNorm, `${p}.attn_k_norm.weight`, [a.headDim], true));
  }
  out.push(copied(source, n.postAttnNorm, `${p}.ffn_norm.weight`, [D], true));
  const ffn = spec.layers[l]!.ffn;
  if (n.ffn.kind === 'dense' && ffn.kind === 'dense') out.push(...mlpTensors(source, n.ffn.mlp, p, '', D, ffn.intermediateSize));
  if (n.ffn.kind === 'moe' && ffn.kind === 'moe') {
    out.push(copied(source, n.ffn.router, `${p}.ffn_gate_inp.weight`, [ffn.numExperts, D], true));
    out.push(...expertTensors(source, n.ffn.experts, p, D, ffn.expertIntermediateSize));
  }
  return out;
}

function ffnKeys(arch: string, spec: ModelSpec): GgufKv[] {
  const ffn = uniformFfn(spec, `arch ${arch}`);
  if (ffn.kind === 'dense') return [kv.u32(`${arch}.feed_forward_length`, ffn.intermediateSize)];
  const r = ffn.router;
  // llama.cpp's llama-arch MoE is Mixtral's: softmax, top-k, renormalized, unscaled, no shared expert.
  if (r.scoring !== 'softmax' || r.method !== 'topk' || !r.normTopkProb || ffn.sharedIntermediateSize > 0 || (r.scalingRule === 'always' && r.routedScalingFactor !== 1)) {
    throw unsupported(`arch ${arch} only runs Mixtral-style routing (softmax, top-k, renormalized, no shared expert)`, 'norm_topk_prob');
  }
  return [
    kv.u32(`${arch}.feed_forward_length`, ffn.expertIntermediateSize),
    kv.u32(`${arch}.expert_count`, ffn.numExperts), kv.u32(`${arch}.expert_used_count`, ffn.numExpertsPerTok),
  ];
}

/** llama (Llama, Mixtral) or qwen3 (dense Qwen3). */
export function planLlamaLike(spec: ModelSpec, source: WeightSource): ArchPlan {
  const a = gqa(spec);
  const arch = a.hasQkNorm ? 'qwen3' : 'llama';
  checkCommon(spec, a, arch);
  if (arch === 'qwen3' && spec.layers.some((l) => l.ffn.kind === 'moe')) throw unsupported('a Qwen3 MoE model exports as qwen3moe', 'architectures');
  if (arch === 'qwen3' && spec.rope.layout !== 'halves') throw unsupported('arch qwen3 runs NeoX (halves) RoPE', 'rope_interleave');
  if (arch === 'qwen3' && spec.rope.scaling.kind === 'llama3') throw unsupported('llama3 rope scaling is exported for arch llama only', 'rope_scaling');
  // llama arch rotates adjacent pairs: halves-layout checkpoints are permuted, interleaved ones are not.
  const permute = arch === 'llama' && spec.rope.layout === 'halves';
  const notes = permute ? ['q_proj/k_proj rows permuted from halves to adjacent-pair RoPE order (GGUF-EXPORT.md §4.3)'] : [];
  const keys = [
    ...commonKeys(arch, spec), ...ffnKeys(arch, spec),
    kv.u32(`${arch}.attention.head_count_kv`, a.numKvHeads),
    kv.u32(`${arch}.attention.key_length`, a.headDim), kv.u32(`${arch}.attention.value_length`, a.headDim),
    kv.u32(`${arch}.rope.dimension_count`, spec.rope.dim), ...gqaRopeScalingKeys(arch, spec, notes),
  ];
  const g = globalTensors(spec, source);
  const tensors = [...g.first];
  if (spec.rope.scaling.kind === 'llama3') tensors.push(planned('rope_freqs.weight', [spec.rope.dim / 2], () => llama3RopeFreqs(spec), true));
  for (let l = 0; l < spec.numLayers; l++) tensors.push(...layerTensors(spec, source, l, permute));
  tensors.push(...g.last);
  return { arch, kv: keys, tensors, notes };
}
