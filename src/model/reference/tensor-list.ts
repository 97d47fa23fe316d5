/**
 * Independent reference, the expected checkpoint contents: every Hugging Face tensor name and
 * shape that MODELS.md's tables (§2.1, §2.2, §3.1, §3.2, §4.2, §6.1) give for a ModelSpec, written
 * from the document and not from the engine's tensor-names module, so the two can be compared.
 */
import type { FfnSpec, ModelSpec } from '../../config/model-spec.js';

export type TensorShapes = Map<string, number[]>;

function gqaAttentionTensors(spec: ModelSpec, p: string, out: TensorShapes): void {
  const a = spec.attention;
  if (a.kind !== 'gqa') return;
  const D = spec.hiddenSize;
  const qRows = a.numHeads * a.headDim;
  const kvRows = a.numKvHeads * a.headDim;
  for (const [n, rows] of [['q_proj', qRows], ['k_proj', kvRows], ['v_proj', kvRows]] as const) {
    out.set(`${p}self_attn.${n}.weight`, [rows, D]);
    if (a.hasBias) out.set(`${p}self_attn.${n}.bias`, [rows]);
  }
  out.set(`${p}self_attn.o_proj.weight`, [D, qRows]);
  if (a.hasBias) out.set(`${p}self_attn.o_proj.bias`, [D]);
  if (spec.arch === 'qwen3' || spec.arch === 'qwen3_moe') {
    out.set(`${p}self_attn.q_norm.weight`, [a.headDim]);
    out.set(`${p}self_attn.k_norm.weight`, [a.headDim]);
  }
}

function mlaTensors(spec: ModelSpec, p: string, out: TensorShapes): void {
  const a = spec.attention;
  if (a.kind !== 'mla') return;
  const D = spec.hiddenSize;
  const qRows = a.numHeads * (a.qkNopeHeadDim + a.qkRopeHeadDim);
  if (a.qLoraRank === null) {
    out.set(`${p}self_attn.q_proj.weight`, [qRows, D]);
  } else {
    out.set(`${p}self_attn.q_a_proj.weight`, [a.qLoraRank, D]);
    out.set(`${p}self_attn.q_a_layernorm.weight`, [a.qLoraRank]);
    out.set(`${p}self_attn.q_b_proj.weight`, [qRows, a.qLoraRank]);
  }
  out.set(`${p}self_attn.kv_a_proj_with_mqa.weight`, [a.kvLoraRank + a.qkRopeHeadDim, D]);
  out.set(`${p}self_attn.kv_a_layernorm.weight`, [a.kvLoraRank]);
  out.set(`${p}self_attn.kv_b_proj.weight`, [a.numHeads * (a.qkNopeHeadDim + a.vHeadDim), a.kvLoraRank]);
  out.set(`${p}self_attn.o_proj.weight`, [D, a.numHeads * a.vHeadDim]);
}

function glu(b: string, names: readonly [string, string, string], width: number, D: number, out: TensorShapes): void {
  out.set(`${b}${names[0]}.weight`, [width, D]);
  out.set(`${b}${names[1]}.weight`, [width, D]);
  out.set(`${b}${names[2]}.weight`, [D, width]);
}

const HF_GLU = ['gate_proj', 'up_proj', 'down_proj'] as const;
const MIXTRAL_GLU = ['w1', 'w3', 'w2'] as const;

function ffnTensors(spec: ModelSpec, p: string, f: FfnSpec, out: TensorShapes): void {
  const D = spec.hiddenSize;
  if (f.kind === 'dense') return glu(`${p}mlp.`, HF_GLU, f.intermediateSize, D, out);
  const isMixtral = spec.arch === 'mixtral';
  const b = isMixtral ? `${p}block_sparse_moe.` : `${p}mlp.`;
  out.set(`${b}gate.weight`, [f.numExperts, D]);
  if (f.router.method === 'noaux_tc') out.set(`${b}gate.e_score_correction_bias`, [f.numExperts]);
  for (let e = 0; e < f.numExperts; e++) glu(`${b}experts.${e}.`, isMixtral ? MIXTRAL_GLU : HF_GLU, f.expertIntermediateSize, D, out);
  if (f.sharedIntermediateSize > 0) glu(`${b}shared_experts.`, HF_GLU, f.sharedIntermediateSize, D, out);
}

function blockTensors(spec: ModelSpec, p: string, f: FfnSpec, out: TensorShapes): void {
  out.set(`${p}input_layernorm.weight`, [spec.hiddenSize]);
  gqaAttentionTensors(spec, p, out);
  mlaTensors(spec, p, out);
  out.set(`${p}post_attention_layernorm.weight`, [spec.hiddenSize]);
  ffnTensors(spec, p, f, out);
}

/** MTP module tensors (MODELS.md §6.1); the embed_tokens / shared_head.head copies are optional. */
function mtpTensors(spec: ModelSpec, m: number, out: TensorShapes, withCopies: boolean): void {
  const D = spec.hiddenSize;
  const p = `model.layers.${spec.numLayers + m}.`;
  out.set(`${p}enorm.weight`, [D]);
  out.set(`${p}hnorm.weight`, [D]);
  out.set(`${p}eh_proj.weight`, [D, 2 * D]);
  blockTensors(spec, p, spec.mtpFfn!, out);
  out.set(`${p}shared_head.norm.weight`, [D]);
  if (withCopies) {
    out.set(`${p}embed_tokens.weight`, [spec.vocabSize, D]);
    out.set(`${p}shared_head.head.weight`, [spec.vocabSize, D]);
  }
}

/**
 * Every tensor of the checkpoint, name → shape. `withMtpCopies` adds the MTP module's copies of
 * embed_tokens and lm_head (present in the released V3 files, optional for a loader).
 */
export function referenceTensorShapes(spec: ModelSpec, opts: { withMtpCopies?: boolean } = {}): TensorShapes {
  const out: TensorShapes = new Map();
  const D = spec.hiddenSize;
  out.set('model.embed_tokens.weight', [spec.vocabSize, D]);
  spec.layers.forEach((layer, l) => blockTensors(spec, `model.layers.${l}.`, layer.ffn, out));
  out.set('model.norm.weight', [D]);
  if (!spec.tieWordEmbeddings) out.set('lm_head.weight', [spec.vocabSize, D]);
  for (let m = 0; m < spec.numMtpLayers; m++) mtpTensors(spec, m, out, opts.withMtpCopies ?? false);
  return out;
}
