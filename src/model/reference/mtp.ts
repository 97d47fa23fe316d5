/**
 * Independent reference, DeepSeek-V3 Multi-Token Prediction module (MODELS.md §6.2, depth 1):
 * x = [enorm(Embed(t_{j+1})) ‖ hnorm(h_j)]·W_ehᵀ (embedding FIRST), one full decoder block at
 * `model.layers.{L}.` attending only over the MTP sequence itself (its own "cache"), at the RoPE
 * position j of the hidden state, then shared_head.norm and shared_head.head. The module's own
 * embed_tokens / shared_head.head copies are used when present, else the main model's tensors.
 */
import type { ModelSpec } from '../../config/model-spec.js';
import { XdsError } from '../../core/errors.js';
import type { WeightSource } from '../tensor.js';
import { decoderBlock, embed, lmHeadWeight } from './forward.js';
import { linear, rmsNorm } from './math.js';
import { makeRefRope } from './rope.js';
import { readOptional, readTensor } from './tensors.js';

export interface ReferenceMtpOptions {
  /** Which MTP module (0-based; its layer index is L + module). Default 0. */
  readonly module?: number;
  /** vLLM zeroes the embedding input of rows at position 0 (MODELS.md §6.2). Default false. */
  readonly zeroEmbeddingAtPos0?: boolean;
}

function checkInputs(spec: ModelSpec, hidden: Float64Array, nextTokens: readonly number[], positions: readonly number[]): void {
  if (spec.numMtpLayers < 1 || spec.mtpFfn === null) {
    throw new XdsError('invalid_argument', 'reference: the model has no MTP module (num_nextn_predict_layers = 0)', { param: 'num_nextn_predict_layers' });
  }
  if (hidden.length !== nextTokens.length * spec.hiddenSize) {
    throw new XdsError('invalid_argument', `reference: hiddenPostNorm has ${hidden.length} values, expected ${nextTokens.length}×${spec.hiddenSize}`, { param: 'hiddenPostNorm' });
  }
  if (positions.length !== nextTokens.length) {
    throw new XdsError('invalid_argument', `reference: ${positions.length} positions for ${nextTokens.length} tokens`, { param: 'positions' });
  }
}

/**
 * MTP logits for the pairs (h_j, t_{j+1}) at positions j: hiddenPostNorm [T, D] (main model, after
 * model.norm), nextTokens [T], positions [T] → logits [T, V] f64 predicting t_{j+2}.
 */
export function referenceMtp(spec: ModelSpec, weights: WeightSource, hiddenPostNorm: Float64Array, nextTokens: readonly number[], positions: readonly number[], opts: ReferenceMtpOptions = {}): Float64Array {
  checkInputs(spec, hiddenPostNorm, nextTokens, positions);
  const D = spec.hiddenSize;
  const V = spec.vocabSize;
  const p = `model.layers.${spec.numLayers + (opts.module ?? 0)}.`;
  const table = readOptional(weights, `${p}embed_tokens.weight`, [V, D]) ?? readTensor(weights, 'model.embed_tokens.weight', [V, D]);
  const e = embed(spec, table, nextTokens); // [T, D]
  if (opts.zeroEmbeddingAtPos0) positions.forEach((pos, t) => { if (pos === 0) e.fill(0, t * D, (t + 1) * D); });
  const en = rmsNorm(e, readTensor(weights, `${p}enorm.weight`, [D]), D, spec.rmsNormEps);
  const hn = rmsNorm(hiddenPostNorm, readTensor(weights, `${p}hnorm.weight`, [D]), D, spec.rmsNormEps);
  const cat = new Float64Array(nextTokens.length * 2 * D); // [T, 2D]: [enorm(e) ‖ hnorm(h)]
  for (let t = 0; t < nextTokens.length; t++) {
    cat.set(en.subarray(t * D, (t + 1) * D), t * 2 * D);
    cat.set(hn.subarray(t * D, (t + 1) * D), t * 2 * D + D);
  }
  const x = linear(cat, readTensor(weights, `${p}eh_proj.weight`, [D, 2 * D]), D, 2 * D); // [T, D]
  decoderBlock(spec, weights, p, spec.mtpFfn!, x, positions, makeRefRope(spec.rope));
  const out = rmsNorm(x, readTensor(weights, `${p}shared_head.norm.weight`, [D]), D, spec.rmsNormEps);
  const head = readOptional(weights, `${p}shared_head.head.weight`, [V, D]) ?? lmHeadWeight(spec, weights);
  return linear(out, head, V, D);
}
