/**
 * LocalModelRunner: the executor of one rank that runs every unit locally (ARCHITECTURE.md
 * "Executor per die"; paper §2.1). It only composes units: embedding → decoder blocks (attention
 * with the paged KV cache, dense FFN or MoE) → final norm → LM head, over all slices of a batch in
 * one pass (token-wise ops on the concatenated rows, attention per slice with its own block table
 * and absolute positions). `forwardMtp` runs the DeepSeek-V3 MTP module (MODELS.md §6.2) on its own
 * KV-cache layer.
 */

import type { ModelSpec } from '../../config/model-spec.js';
import { XdsError } from '../../core/errors.js';
import type { ComputeBackend, RopeTable } from '../../kernels/backend.js';
import { buildRopeTable } from '../../kernels/rope-table.js';
import { KvStorage, type KvDtype } from '../../kvcache/kv-storage.js';
import type { ModelWeights } from '../../model/model-weights.js';
import type { AttentionState } from '../../units/attention/gqa.js';
import type { MlaMode } from '../../units/attention/mla.js';
import { decoderBlock } from '../../units/decoder-block.js';
import { embedTokens } from '../../units/embedding.js';
import { finalNormRows, lmHeadLogits } from '../../units/lm-head.js';
import type { Routing } from '../../units/moe/router.js';
import { mtpInput } from '../../units/mtp.js';
import { Scratch } from '../../units/scratch.js';
import { buildStepLayout, type StepLayout } from '../../units/step-layout.js';
import type { ForwardBatch, ForwardResult, ModelRunner, SequenceSlice, WarmUpShapes } from './types.js';

export interface LocalModelRunnerOptions {
  readonly numBlocks: number;
  /** Tokens per KV block (default 16). */
  readonly blockSizeTokens?: number;
  /** Element type of the KV cache (default 'float32'; a given `kv` keeps its own). */
  readonly kvDtype?: KvDtype;
  /** MLA form: 'auto' (default) = naive for multi-token slices, absorbed for single-token decode. */
  readonly mlaMode?: MlaMode;
  /** MTP: zero the embedding of rows at position 0 before enorm, as vLLM does (default false). */
  readonly mtpZeroEmbedAtPos0?: boolean;
  /** Use this KV storage (e.g. shared with another runner) instead of allocating one; must match numBlocks/blockSizeTokens. */
  readonly kv?: KvStorage;
  /**
   * Called after each MoE block with its routing (expert-load counters for EPLB); MTP blocks report
   * layer numLayers + i. The routing's arrays may be the runner's scratch: copy what you keep.
   */
  readonly onRouting?: (layer: number, routing: Routing) => void;
}

/** One MTP slice: the pairs (h_j, t_{j+1}) for j = startPos … startPos + n − 1. */
export interface MtpSlice extends SequenceSlice {
  /** [n, D] f32 post-final-norm main hidden states h_j (ForwardResult.hidden rows). tokenIds holds t_{j+1}. */
  readonly hidden: Float32Array;
}

export interface MtpForwardBatch {
  readonly kind: 'forward_mtp';
  /** blockTable is the sequence's own: the MTP cache is a separate layer addressed by the same blocks. */
  readonly seqs: readonly MtpSlice[];
  /** MTP module index (default 0). */
  readonly module?: number;
}

export class LocalModelRunner implements ModelRunner {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly blockSizeTokens: number;
  readonly numBlocks: number;
  /** The paged KV storage (main layers, then MTP layers). */
  readonly kv: KvStorage;
  private readonly rope: RopeTable;
  private readonly mlaMode: MlaMode;
  /** Temporaries of every unit, reused step after step (grows to the largest step seen). */
  readonly scratch = new Scratch();
  /** True when this runner allocated its KV storage (warmUp may touch it). */
  private readonly ownsKv: boolean;
  /** Set during warmUp: its dummy routing is not reported (expert-load counters). */
  private isWarmingUp = false;

  constructor(readonly spec: ModelSpec, readonly weights: ModelWeights, readonly backend: ComputeBackend, private readonly opts: LocalModelRunnerOptions) {
    const kvOpts = { numBlocks: opts.numBlocks, blockSizeTokens: opts.blockSizeTokens ?? 16, includeMtp: weights.mtp.length > 0, dtype: opts.kv?.dtype ?? opts.kvDtype ?? 'float32' };
    this.kv = opts.kv === undefined ? new KvStorage(spec, kvOpts) : new KvStorage(spec, kvOpts, opts.kv.layerStorage);
    this.rope = buildRopeTable(spec.rope);
    this.vocabSize = spec.vocabSize;
    this.hiddenSize = spec.hiddenSize;
    this.blockSizeTokens = this.kv.blockSizeTokens;
    this.numBlocks = this.kv.numBlocks;
    this.mlaMode = opts.mlaMode ?? 'auto';
    this.ownsKv = opts.kv === undefined;
  }

  /**
   * Load-time preparation (ModelRunner.warmUp), so the first requests do not pay it inside their
   * steps: writes every page of the KV storage this runner allocated (first-touch page faults,
   * ~3 µs per 4 KiB on the dev VM: the small preset's 1024 blocks are ~37k faults, otherwise taken
   * one block at a time inside decode steps), then one dummy forward of `maxRows` prompt tokens
   * and one of `maxSeqs` one-token sequences (scratch arena grown, JIT warm, absorbed-MLA weights
   * built), KV written to blocks 0…, routing not reported.
   */
  warmUp(shapes: WarmUpShapes): void {
    if (this.ownsKv) for (const kv of this.kv.layerStorage) for (const a of kv.kind === 'gqa' ? [kv.k, kv.v] : [kv.latent]) a.fill(0);
    const bs = this.blockSizeTokens;
    const numRows = Math.min(shapes.maxRows, this.numBlocks * bs, this.spec.maxPositionEmbeddings);
    const numSeqs = Math.min(shapes.maxSeqs, this.numBlocks);
    const dummy = (i: number, n: number, blockTable: Int32Array): SequenceSlice =>
      ({ seqId: `warm-up ${i}`, tokenIds: Int32Array.from({ length: n }, (_, t) => t % this.vocabSize), startPos: 0, blockTable, wantAllLogits: false });
    this.isWarmingUp = true;
    try {
      if (numRows > 0) this.forward({ kind: 'forward', seqs: [dummy(0, numRows, Int32Array.from({ length: Math.ceil(numRows / bs) }, (_, b) => b))] });
      if (numSeqs > 0) this.forward({ kind: 'forward', seqs: Array.from({ length: numSeqs }, (_, i) => dummy(i, 1, Int32Array.of(i))) });
    } finally {
      this.isWarmingUp = false;
    }
  }

  forward(batch: ForwardBatch): ForwardResult {
    const layout = this.layoutOf(batch.seqs);
    const h = this.scratch.f32('runner.h', layout.numRows * this.hiddenSize); // [T, D] residual stream
    embedTokens(this.weights.embed, this.concatTokens(batch.seqs), h);
    for (const [l, w] of this.weights.layers.entries()) {
      const routing = decoderBlock(this.state(l), this.spec, w, this.spec.layers[l]!.ffn, h, layout, this.mlaMode);
      this.report(l, routing);
    }
    return this.finish(h, layout, batch.seqs, this.weights.finalNorm, this.weights.lmHead, batch.mayReuseOutputs === true);
  }

  /**
   * MTP module forward (MODELS.md §6.2): x = eh_proj([enorm(embed(t_{j+1})) ‖ hnorm(h_j)]), one decoder
   * block at RoPE position j writing its own KV layer (numLayers + module), then shared_head.norm and
   * the head. Returns logits for t_{j+2} and the post-shared_head.norm hidden states (for chaining).
   */
  forwardMtp(batch: MtpForwardBatch): ForwardResult {
    const i = batch.module ?? 0;
    const w = this.weights.mtp[i];
    if (w === undefined || this.spec.mtpFfn === null) {
      throw new XdsError('invalid_argument', `MTP module ${i} is not loaded (model has ${this.weights.mtp.length})`, { param: 'module' });
    }
    const layout = this.layoutOf(batch.seqs);
    const D = this.hiddenSize;
    const prev = this.scratch.f32('runner.prev', layout.numRows * D); // [T, D] h_j
    batch.seqs.forEach((s, k) => prev.set(checkHidden(s, D), layout.seqs[k]!.first * D));
    const x = mtpInput(this.backend, w, this.spec.rmsNormEps, this.concatTokens(batch.seqs), prev, layout.positions, this.opts.mtpZeroEmbedAtPos0 ?? false, this.scratch);
    const kvLayer = this.spec.numLayers + i;
    this.report(kvLayer, decoderBlock(this.state(kvLayer), this.spec, w.block, this.spec.mtpFfn, x, layout, this.mlaMode));
    return this.finish(x, layout, batch.seqs, w.sharedHeadNorm, w.head);
  }

  private report(layer: number, routing: Routing | null): void {
    if (routing !== null && this.opts.onRouting && !this.isWarmingUp) this.opts.onRouting(layer, routing);
  }

  private state(kvLayer: number): AttentionState {
    return { backend: this.backend, rope: this.rope, kv: this.kv, kvLayer, eps: this.spec.rmsNormEps, scratch: this.scratch };
  }

  private layoutOf(seqs: readonly SequenceSlice[]): StepLayout {
    if (seqs.length === 0) throw new XdsError('invalid_argument', 'a forward batch needs at least one sequence', { param: 'seqs' });
    seqs.forEach((s, k) => checkSlice(s, k, this.kv.blockSizeTokens));
    return buildStepLayout(seqs.map((s) => ({ count: s.tokenIds.length, startPos: s.startPos, blockTable: s.blockTable })));
  }

  /**
   * Final norm on the wanted rows (all, or the last of each slice), then the head over those rows
   * only. hidden and logits are the step's outputs: fresh arrays, or scratch slots when the caller
   * reads them before its next forward (`reuse`, ForwardBatch.mayReuseOutputs).
   * NOTE: fresh arrays of these sizes (batch 32: 128 + 59 KiB) come from the allocator as new pages:
   * ~45 page faults and the zeroing per step, and external memory that drives V8's GC.
   */
  private finish(h: Float32Array, layout: StepLayout, seqs: readonly SequenceSlice[], norm: Float32Array, head: ModelWeights['lmHead'], reuse = false): ForwardResult {
    const pick = this.scratch.i32('runner.pick', layout.numRows); // [≤ T] wanted rows
    let n = 0;
    const rows = seqs.map((s, k) => {
      const r = layout.seqs[k]!;
      const first = n;
      if (s.wantAllLogits) for (let i = 0; i < r.count; i++) pick[n++] = r.first + i;
      else pick[n++] = r.first + r.count - 1;
      return { first, count: n - first };
    });
    const D = this.hiddenSize, V = head.outDim;
    const hidden = finalNormRows(this.backend, norm, this.spec.rmsNormEps, h, pick.subarray(0, n), D, reuse ? this.scratch.f32('runner.hidden', n * D) : undefined);
    return { logits: lmHeadLogits(this.backend, head, hidden, n, reuse ? this.scratch.f32('runner.logits', n * V) : undefined), rows, hidden };
  }

  /** [T] the slices' tokens back to back (a scratch view). */
  private concatTokens(seqs: readonly SequenceSlice[]): Int32Array {
    const out = this.scratch.i32('runner.tokens', seqs.reduce((a, s) => a + s.tokenIds.length, 0));
    let o = 0;
    for (const s of seqs) { out.set(s.tokenIds, o); o += s.tokenIds.length; }
    return out;
  }
}

function checkSlice(s: SequenceSlice, k: number, blockSizeTokens: number): void {
  if (s.tokenIds.length === 0) throw new XdsError('invalid_argument', `seqs[${k}].tokenIds is empty`, { param: `seqs[${k}].tokenIds` });
  if (!Number.isInteger(s.startPos) || s.startPos < 0) throw new XdsError('invalid_argument', `seqs[${k}].startPos must be a non-negative integer`, { param: `seqs[${k}].startPos` });
  const need = Math.ceil((s.startPos + s.tokenIds.length) / blockSizeTokens);
  if (s.blockTable.length < need) {
    throw new XdsError('invalid_argument', `seqs[${k}].blockTable has ${s.blockTable.length} blocks, positions up to ${s.startPos + s.tokenIds.length - 1} need ${need}`, { param: `seqs[${k}].blockTable` });
  }
}

function checkHidden(s: MtpSlice, D: number): Float32Array {
  if (s.hidden.length !== s.tokenIds.length * D) {
    throw new XdsError('invalid_argument', `MTP slice ${s.seqId}: hidden has ${s.hidden.length} values, expected ${s.tokenIds.length}×${D}`, { param: 'hidden' });
  }
  return s.hidden;
}
