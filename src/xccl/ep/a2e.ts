/**
 * A2E / E2A for disaggregated MoE-attention (paper notes §2.4.3) with trampoline forwarding.
 * Ranks [0, A) are attention ranks, [A, A+E) expert ranks, E >= A. Expert rank A+i is the
 * trampoline of attention rank i: A2E stage 1 moves all of attention rank i's tokens to its
 * trampoline (one peer, EP channel 1); stage A2E' dispatches them among the expert ranks (EP
 * channel 2). E2A mirrors it: E2A' combines back to the trampolines, which forward the sums to
 * their attention rank. No attention rank fans out to every expert rank.
 */
import { XdsError } from '../../core/errors.js';
import type { Communicator } from '../communicator.js';
import { checkDispatchInputs, type EpConfig } from './layout.js';
import { rowFormat, type DispatchHandle, type DispatchResult } from './dispatch.js';
import { EpGroupEngine } from './expert-parallel.js';
import type { PullExchange } from './pull.js';
import { combineRowBytes, decodeHidden, decodeRouting, dispatchRowBytes, encodeDispatchRow } from './wire.js';

const STAGE1 = 1;
const STAGE2 = 2;

export interface A2eConfig extends EpConfig {
  /** Attention ranks come first; the rest of the world are expert ranks (at least as many). */
  readonly numAttention: number;
}

/** Kept by an attention rank between a2e and e2a. */
export interface AttentionHandle { readonly kind: 'attention-handle'; readonly numTokens: number }
/** Kept by an expert rank between a2e and e2a. */
export interface ExpertHandle { readonly kind: 'expert-handle'; readonly dispatch: DispatchHandle; readonly numForwarded: number }
export interface ExpertBatch extends Omit<DispatchResult, 'handle'> { readonly handle: ExpertHandle }

export class AttentionExpert {
  readonly role: 'attention' | 'expert';
  /** The trampoline (for an attention rank) or the attention rank served (for a trampoline), else -1. */
  readonly partner: number;
  private readonly xchg: PullExchange;
  private readonly experts: EpGroupEngine | undefined;

  constructor(comm: Communicator, readonly cfg: A2eConfig) {
    const A = cfg.numAttention;
    const E = comm.worldSize - A;
    if (!Number.isInteger(A) || A < 1 || E < A) {
      throw new XdsError('invalid_argument', `xccl a2e: numAttention ${A} must be >= 1 and leave at least as many expert ranks (world ${comm.worldSize})`, { param: 'numAttention' });
    }
    this.xchg = comm.pull;
    this.role = comm.rank < A ? 'attention' : 'expert';
    this.partner = this.role === 'attention' ? A + comm.rank : comm.rank - A < A ? comm.rank - A : -1;
    const members = Array.from({ length: E }, (_, i) => A + i);
    this.experts = this.role === 'expert' ? new EpGroupEngine(comm.pull, members, comm.rank, STAGE2, cfg) : undefined;
  }

  /** Attention rank: sends x [tokens, hidden] f32 with its routing to the trampoline. */
  async a2e(x: Float32Array, topkIdx: Int32Array, topkWeights: Float32Array): Promise<AttentionHandle> {
    this.expectRole('attention', 'a2e');
    const numTokens = checkDispatchInputs(this.cfg, x, topkIdx, topkWeights);
    const f = rowFormat(this.cfg);
    const rowBytes = dispatchRowBytes(f);
    this.xchg.checkFits(numTokens * rowBytes);
    await this.xchg.reclaimArea();
    for (let t = 0; t < numTokens; t++) encodeDispatchRow(this.xchg.area, t * rowBytes, f, x, topkIdx, topkWeights, t);
    this.xchg.publish(STAGE1, [{ dest: this.partner, offsetBytes: 0, numRows: numTokens, rowBytes }]);
    return { kind: 'attention-handle', numTokens };
  }

  /** Expert rank: receives its tokens grouped by local expert (trampolines forward first). */
  async a2eRecv(): Promise<ExpertBatch> {
    const experts = this.expectRole('expert', 'a2eRecv');
    let x: Float32Array = new Float32Array(0);
    let idx: Int32Array = new Int32Array(0);
    let w: Float32Array = new Float32Array(0);
    if (this.partner >= 0) [x, idx, w] = await this.receiveForwarded();
    const r = await experts.dispatch(x, idx, w);
    return { ...r, handle: { kind: 'expert-handle', dispatch: r.handle, numForwarded: x.length / this.cfg.hidden } };
  }

  /** Expert rank: returns y [numRecv, hidden] f32; trampolines forward the sums to their attention rank. */
  async e2a(y: Float32Array, handle: ExpertHandle): Promise<void> {
    const experts = this.expectRole('expert', 'e2a');
    const sums = await experts.combine(y, handle.dispatch); // [numForwarded, hidden] f32
    if (this.partner < 0) return;
    const bytes = new Uint8Array(sums.buffer, sums.byteOffset, sums.byteLength);
    this.xchg.checkFits(bytes.byteLength);
    await this.xchg.reclaimArea();
    this.xchg.area.set(bytes, 0);
    this.xchg.publish(STAGE1, [{ dest: this.partner, offsetBytes: 0, numRows: handle.numForwarded, rowBytes: combineRowBytes(this.cfg.hidden) }]);
  }

  /** Attention rank: the weighted expert sums of its tokens in the original order. // [tokens, hidden] f32 */
  async e2aRecv(handle: AttentionHandle): Promise<Float32Array> {
    this.expectRole('attention', 'e2aRecv');
    const [p] = await this.xchg.pullAll(STAGE1, [this.partner], this.xchg.reserveRecv(STAGE1, [this.partner]));
    const rows = p!.numRows;
    if (rows !== handle.numTokens) throw new XdsError('xccl_event_mismatch', `xccl e2a: trampoline ${this.partner} returned ${rows} tokens, a2e sent ${handle.numTokens}`, { param: 'handle' });
    return new Float32Array(p!.bytes.buffer, p!.bytes.byteOffset, rows * this.cfg.hidden).slice();
  }

  private async receiveForwarded(): Promise<[Float32Array, Int32Array, Float32Array]> {
    const [p] = await this.xchg.pullAll(STAGE1, [this.partner], this.xchg.reserveRecv(STAGE1, [this.partner]));
    const f = rowFormat(this.cfg);
    const n = p!.numRows;
    const x = new Float32Array(n * f.hidden);
    const idx = new Int32Array(n * f.topk);
    const w = new Float32Array(n * f.topk);
    for (let t = 0; t < n; t++) {
      decodeHidden(p!.bytes, t * p!.rowBytes, f, x.subarray(t * f.hidden, (t + 1) * f.hidden));
      const r = decodeRouting(p!.bytes, t * p!.rowBytes, f);
      idx.set(r.idx, t * f.topk);
      w.set(r.weights, t * f.topk);
    }
    return [x, idx, w];
  }

  private expectRole(role: 'attention' | 'expert', op: string): EpGroupEngine {
    if (this.role !== role) throw new XdsError('invalid_argument', `xccl: ${op} is for ${role} ranks; this rank is an ${this.role} rank`, { param: 'role' });
    return this.experts as EpGroupEngine;
  }
}
