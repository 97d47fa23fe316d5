/**
 * Independent naive reference forward pass (MODELS.md §0 skeleton) for all six architectures:
 * embedding → L pre-norm decoder blocks (GQA or MLA attention, dense or MoE FFN) → final RMSNorm →
 * LM head (tied → embed_tokens). No KV cache: the whole sequence is recomputed, float64 throughout,
 * tensors read by their Hugging Face names. This is the yardstick the engine is tested against.
 */
import type { FfnSpec, ModelSpec } from '../../config/model-spec.js';
import type { WeightSource } from '../tensor.js';
import { gqaAttention } from './attention.js';
import { linear, rmsNorm } from './math.js';
import { mlaAttention } from './mla.js';
import { ffn } from './moe.js';
import { makeRefRope, type RefRope } from './rope.js';
import { readTensor } from './tensors.js';
import { XdsError } from '../../core/errors.js';

export interface ReferenceOutput {
  /** [T, V] f64 */
  readonly logits: Float64Array;
  /** [T, D] f64, after the final norm (the MTP input). */
  readonly hidden: Float64Array;
}

/** Rows of the embedding table for the given token ids: [T, D] f64. */
export function embed(spec: ModelSpec, table: Float64Array, tokenIds: readonly number[]): Float64Array {
  const D = spec.hiddenSize;
  const h = new Float64Array(tokenIds.length * D); // [T, D]
  tokenIds.forEach((id, t) => {
    if (!Number.isInteger(id) || id < 0 || id >= spec.vocabSize) {
      throw new XdsError('invalid_argument', `reference: token id ${id} at index ${t} is outside [0, ${spec.vocabSize})`, { param: 'tokenIds' });
    }
    h.set(table.subarray(id * D, (id + 1) * D), t * D);
  });
  return h;
}

function addInPlace(a: Float64Array, b: Float64Array): void {
  for (let i = 0; i < a.length; i++) a[i] = a[i]! + b[i]!;
}

/**
 * One pre-norm decoder block at tensor prefix `p` (e.g. `model.layers.3.`), in place on h [T, D]:
 * h += Attn(RMSNorm(h)); h += FFN(RMSNorm(h)).
 */
export function decoderBlock(spec: ModelSpec, ws: WeightSource, p: string, f: FfnSpec, h: Float64Array, positions: readonly number[], rope: RefRope): void {
  const D = spec.hiddenSize;
  const eps = spec.rmsNormEps;
  const xa = rmsNorm(h, readTensor(ws, `${p}input_layernorm.weight`, [D]), D, eps);
  const attn = spec.attention.kind === 'mla' ? mlaAttention(spec, ws, p, xa, positions, rope) : gqaAttention(spec, ws, p, xa, positions, rope);
  addInPlace(h, attn);
  const xf = rmsNorm(h, readTensor(ws, `${p}post_attention_layernorm.weight`, [D]), D, eps);
  addInPlace(h, ffn(spec, ws, p, f, xf));
}

/** The LM head matrix [V, D]: lm_head.weight, or embed_tokens when tied (MODELS.md §1.5). */
export function lmHeadWeight(spec: ModelSpec, ws: WeightSource): Float64Array {
  const shape = [spec.vocabSize, spec.hiddenSize];
  return readTensor(ws, spec.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight', shape);
}

export interface ReferenceForwardOptions {
  /** Called after each main layer with the residual stream h [T, D] (for locating a mismatch; do not keep or modify it). */
  readonly onLayer?: (layer: number, h: Float64Array) => void;
}

/** Full forward over tokenIds at positions 0 … T−1: logits [T, V] and post-norm hidden [T, D]. */
export function referenceForward(spec: ModelSpec, weights: WeightSource, tokenIds: readonly number[], opts: ReferenceForwardOptions = {}): ReferenceOutput {
  const D = spec.hiddenSize;
  const V = spec.vocabSize;
  if (tokenIds.length === 0) throw new XdsError('invalid_argument', 'reference: tokenIds is empty', { param: 'tokenIds' });
  const rope = makeRefRope(spec.rope);
  const positions = tokenIds.map((_, t) => t);
  const h = embed(spec, readTensor(weights, 'model.embed_tokens.weight', [V, D]), tokenIds);
  spec.layers.forEach((layer, l) => {
    decoderBlock(spec, weights, `model.layers.${l}.`, layer.ffn, h, positions, rope);
    opts.onLayer?.(l, h);
  });
  const hidden = rmsNorm(h, readTensor(weights, 'model.norm.weight', [D]), D, spec.rmsNormEps);
  return { logits: linear(hidden, lmHeadWeight(spec, weights), V, D), hidden };
}
