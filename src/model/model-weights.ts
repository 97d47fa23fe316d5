/**
 * Binding a checkpoint (WeightSource, HF names) to typed per-layer weight structs the units read
 * (MODELS.md §2–§6 tensor tables, §7 steps 3–4). Every expected tensor is checked for presence and
 * shape; bf16/f16 are converted to f32 once (into SharedArrayBuffer memory) unless `dtype: 'keep'`,
 * which leaves bf16 linear weights as LinearWeight format 'bf16'. Norms, biases and
 * e_score_correction_bias are always f32. Tied embeddings and the MTP copies of embed/head fall
 * back to the main tensors.
 */

import type { ModelSpec } from '../config/model-spec.js';
import { XdsError } from '../core/errors.js';
import { f16ToF32 } from '../core/dtype.js';
import { hugePageBuffer } from '../core/huge-pages.js';
import type { LinearWeight } from '../kernels/backend.js';
import type { Tensor, WeightSource } from './tensor.js';
import {
  EMBED_TOKENS, FINAL_NORM, LM_HEAD, layerTensorNames, modelTensorList, mtpTensorNames,
  type AttentionNames, type FfnNames, type LayerTensorNames, type LinearNames, type MlpNames,
} from './tensor-names.js';

export interface GqaAttentionWeights {
  readonly kind: 'gqa';
  readonly q: LinearWeight; readonly k: LinearWeight; readonly v: LinearWeight; readonly o: LinearWeight;
  /** [dh] f32 Qwen3 per-head norms, null otherwise. */
  readonly qNorm: Float32Array | null; readonly kNorm: Float32Array | null;
}

export interface MlaAttentionWeights {
  readonly kind: 'mla';
  /** q LoRA path: qA [qLoraRank, D], qANorm [qLoraRank], qB [H·(dn+dr), qLoraRank]; else q [H·(dn+dr), D]. */
  readonly qA: LinearWeight | null; readonly qANorm: Float32Array | null; readonly qB: LinearWeight | null;
  readonly q: LinearWeight | null;
  /** [R + dr, D] */ readonly kvA: LinearWeight;
  /** [R] f32 */ readonly kvANorm: Float32Array;
  /** [H·(dn+dv), R], rows per head [k_nope | v] */ readonly kvB: LinearWeight;
  /** [D, H·dv] */ readonly o: LinearWeight;
}

export type AttentionWeights = GqaAttentionWeights | MlaAttentionWeights;

export interface MlpWeights { readonly gate: LinearWeight; readonly up: LinearWeight; readonly down: LinearWeight }

export type FfnWeights =
  | { readonly kind: 'dense'; readonly mlp: MlpWeights }
  | {
      readonly kind: 'moe';
      /** [E, D] router. */ readonly router: LinearWeight;
      /** [E] f32 noaux_tc selection bias, null otherwise. */ readonly correctionBias: Float32Array | null;
      readonly experts: readonly MlpWeights[];
      /** One MLP of width S·Im, null when there is no shared expert. */ readonly shared: MlpWeights | null;
    };

export interface LayerWeights {
  readonly index: number;
  /** [D] f32 */ readonly inputNorm: Float32Array;
  /** [D] f32 */ readonly postAttnNorm: Float32Array;
  readonly attention: AttentionWeights;
  readonly ffn: FfnWeights;
}

/** One MTP module (MODELS.md §6.1); `block.index` = numLayers + i (its KV-cache layer). */
export interface MtpWeights {
  readonly block: LayerWeights;
  /** [V, D] MTP embed copy, or the main embedding. */ readonly embed: LinearWeight;
  readonly enorm: Float32Array; readonly hnorm: Float32Array;
  /** [D, 2D]: columns 0…D−1 take enorm(embedding), D…2D−1 hnorm(hidden). */ readonly ehProj: LinearWeight;
  readonly sharedHeadNorm: Float32Array;
  /** [V, D] shared_head.head, or the main LM head. */ readonly head: LinearWeight;
}

export interface ModelWeights {
  /** [V, D] embedding table (also the LM head when tied). */ readonly embed: LinearWeight;
  readonly layers: readonly LayerWeights[];
  /** [D] f32 */ readonly finalNorm: Float32Array;
  /** [V, D] */ readonly lmHead: LinearWeight;
  readonly mtp: readonly MtpWeights[];
}

export interface BindOptions {
  /** 'f32' (default): convert bf16/f16 to f32; 'keep': bf16 linear weights stay bf16. */
  readonly dtype?: 'f32' | 'keep';
}

/** Fetches tensors by name with the expected shape and the wanted storage. */
class Binder {
  private readonly shapes: Map<string, readonly number[]>;

  constructor(readonly spec: ModelSpec, private readonly source: WeightSource, private readonly keepBf16: boolean) {
    this.shapes = new Map(modelTensorList(spec, { includeMtp: true, includeMtpCopies: true }).map((t) => [t.name, t.shape]));
  }

  has(name: string): boolean {
    return this.source.has(name);
  }

  tensor(name: string): Tensor {
    if (!this.source.has(name)) throw new XdsError('checkpoint_missing', `tensor '${name}' is missing from the checkpoint`, { param: name });
    const t = this.source.get(name);
    const want = this.shapes.get(name);
    if (want !== undefined && (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i]))) {
      throw new XdsError('checkpoint_corrupt', `tensor '${name}' has shape [${t.shape.join(', ')}], expected [${want.join(', ')}]`, { param: name });
    }
    return t;
  }

  vector(name: string): Float32Array {
    return toF32(this.tensor(name));
  }

  linear(name: string, biasName: string | null = null): LinearWeight {
    const t = this.tensor(name);
    const [outDim, inDim] = t.shape as [number, number];
    const bias = biasName === null ? undefined : this.vector(biasName);
    const base = bias === undefined ? { outDim, inDim } : { outDim, inDim, bias };
    if (t.dtype === 'bf16' && this.keepBf16) return { format: 'bf16', ...base, data: t.data as Uint16Array };
    return { format: 'f32', ...base, data: toF32(t) };
  }

  linearOf(n: LinearNames): LinearWeight {
    return this.linear(n.weight, n.bias);
  }
}

/** A tensor's values as f32: f32 as is, bf16/f16 converted into new shared memory. */
export function toF32(t: Tensor): Float32Array {
  if (t.dtype === 'f32') return t.data as Float32Array;
  const src = t.data as Uint16Array;
  const out = new Float32Array(hugePageBuffer(src.length * 4)); // [numel] f32
  if (t.dtype === 'bf16') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  } else {
    for (let i = 0; i < src.length; i++) out[i] = f16ToF32(src[i]!);
  }
  return out;
}

function bindAttention(b: Binder, n: AttentionNames): AttentionWeights {
  if (n.kind === 'gqa') {
    return {
      kind: 'gqa', q: b.linearOf(n.q), k: b.linearOf(n.k), v: b.linearOf(n.v), o: b.linearOf(n.o),
      qNorm: n.qNorm === null ? null : b.vector(n.qNorm), kNorm: n.kNorm === null ? null : b.vector(n.kNorm),
    };
  }
  const opt = <T>(name: string | null, f: (s: string) => T): T | null => (name === null ? null : f(name));
  return {
    kind: 'mla', qA: opt(n.qA, (s) => b.linear(s)), qANorm: opt(n.qANorm, (s) => b.vector(s)),
    qB: opt(n.qB, (s) => b.linear(s)), q: opt(n.q, (s) => b.linear(s)),
    kvA: b.linear(n.kvA), kvANorm: b.vector(n.kvANorm), kvB: b.linear(n.kvB), o: b.linear(n.o),
  };
}

function bindMlp(b: Binder, n: MlpNames): MlpWeights {
  return { gate: b.linear(n.gate), up: b.linear(n.up), down: b.linear(n.down) };
}

function bindFfn(b: Binder, n: FfnNames): FfnWeights {
  if (n.kind === 'dense') return { kind: 'dense', mlp: bindMlp(b, n.mlp) };
  return {
    kind: 'moe', router: b.linear(n.router),
    correctionBias: n.correctionBias === null ? null : b.vector(n.correctionBias),
    experts: n.experts.map((e) => bindMlp(b, e)), shared: n.shared === null ? null : bindMlp(b, n.shared),
  };
}

function bindLayer(b: Binder, n: LayerTensorNames): LayerWeights {
  return {
    index: n.index, inputNorm: b.vector(n.inputNorm), postAttnNorm: b.vector(n.postAttnNorm),
    attention: bindAttention(b, n.attention), ffn: bindFfn(b, n.ffn),
  };
}

function bindMtp(b: Binder, i: number, embed: LinearWeight, lmHead: LinearWeight): MtpWeights {
  const n = mtpTensorNames(b.spec, i);
  return {
    block: bindLayer(b, n),
    embed: b.has(n.embed) ? b.linear(n.embed) : embed,
    enorm: b.vector(n.enorm), hnorm: b.vector(n.hnorm), ehProj: b.linear(n.ehProj),
    sharedHeadNorm: b.vector(n.sharedHeadNorm),
    head: b.has(n.sharedHeadHead) ? b.linear(n.sharedHeadHead) : lmHead,
  };
}

/**
 * Bind every tensor of `spec` from `source`. Throws XdsError('checkpoint_missing') naming a missing
 * tensor, XdsError('checkpoint_corrupt') naming a tensor with the wrong shape (expected and actual).
 * `includeMtp` (default true) binds the MTP modules when the spec has them.
 */
export function bindModelWeights(spec: ModelSpec, source: WeightSource, opts: BindOptions & { includeMtp?: boolean } = {}): ModelWeights {
  const b = new Binder(spec, source, opts.dtype === 'keep');
  const embed = b.linear(EMBED_TOKENS);
  const lmHead = spec.tieWordEmbeddings ? embed : b.linear(LM_HEAD);
  const layers = spec.layers.map((l) => bindLayer(b, layerTensorNames(spec, l.index)));
  const mtp: MtpWeights[] = [];
  if (opts.includeMtp ?? true) for (let i = 0; i < spec.numMtpLayers; i++) mtp.push(bindMtp(b, i, embed, lmHead));
  return { embed, layers, finalNorm: b.vector(FINAL_NORM), lmHead, mtp };
}
