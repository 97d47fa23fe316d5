/**
 * One pre-norm decoder block (MODELS.md §0 skeleton, §4.6): h += Attn(RMSNorm(h; input_layernorm));
 * h += FFN(RMSNorm(h; post_attention_layernorm)), FFN dense or MoE. Composes the attention, FFN and
 * MoE units; used for the main layers and for the MTP block.
 */

import type { FfnSpec, ModelSpec } from '../config/model-spec.js';
import type { ComputeBackend } from '../kernels/backend.js';
import type { LayerWeights } from '../model/model-weights.js';
import { gqaAttention, scratchOf, type AttentionState } from './attention/gqa.js';
import { mlaAttention, type MlaMode } from './attention/mla.js';
import { denseMlp } from './ffn.js';
import { moeFfn } from './moe/moe.js';
import type { Routing } from './moe/router.js';
import type { StepLayout } from './step-layout.js';

/** h += y over n floats: the backend's add when it has one. */
function addInto(B: ComputeBackend, h: Float32Array, y: Float32Array, n: number): void {
  if (B.add) { B.add(h, y, n); return; }
  for (let i = 0; i < n; i++) h[i] = h[i]! + y[i]!;
}

/** In place on h [T, D]; returns the MoE routing of this block (null for a dense FFN). */
export function decoderBlock(st: AttentionState, spec: ModelSpec, w: LayerWeights, ffn: FfnSpec, h: Float32Array, layout: StepLayout, mlaMode: MlaMode): Routing | null {
  const B = st.backend;
  const T = layout.numRows;
  const D = spec.hiddenSize;
  const sc = scratchOf(st);
  const x = sc.f32('block.x', T * D); // [T, D] normalized input
  const y = sc.f32('block.y', T * D); // [T, D] unit output
  B.rmsNorm(h, w.inputNorm, spec.rmsNormEps, x, T, D);
  const a = spec.attention;
  if (a.kind === 'gqa' && w.attention.kind === 'gqa') gqaAttention(st, w.attention, a, x, y, layout);
  else if (a.kind === 'mla' && w.attention.kind === 'mla') mlaAttention(st, w.attention, a, x, y, layout, mlaMode);
  else throw new RangeError(`layer ${w.index}: attention weights do not match the spec`);
  addInto(B, h, y, T * D);
  B.rmsNorm(h, w.postAttnNorm, spec.rmsNormEps, x, T, D);
  let routing: Routing | null = null;
  if (ffn.kind === 'dense' && w.ffn.kind === 'dense') denseMlp(B, w.ffn.mlp, x, y, T, sc);
  else if (ffn.kind === 'moe' && w.ffn.kind === 'moe') routing = moeFfn(B, w.ffn, ffn, x, y, T, sc);
  else throw new RangeError(`layer ${w.index}: FFN weights do not match the spec`);
  addInto(B, h, y, T * D);
  return routing;
}
