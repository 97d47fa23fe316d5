/**
 * Expert-parallel dispatch/combine (paper notes §2.4.2), DeepEP-style: the layout is computed
 * first, then data moves; `issueDispatch` writes and publishes and returns a pending op that can
 * be polled while the caller computes, `wait()` pulls; the dispatch handle is reused by combine.
 * `EpGroupEngine` works over any group of ranks on one EP channel (the world for ExpertParallel,
 * the expert ranks for a2e/e2a stage 2).
 */
import { assert } from '../../core/assert.js';
import type { Communicator } from '../communicator.js';
import { checkDispatchInputs, computeDispatchLayout, validateEpConfig, type EpConfig } from './layout.js';
import { dispatchBytes, readDispatch, writeDispatch, type DispatchHandle, type DispatchResult } from './dispatch.js';
import { checkCombineInput, combineBytes, readCombine, writeCombine } from './combine.js';
import type { PullExchange } from './pull.js';

/** An issued EP operation: `poll()` is true once every peer's metadata is in; `wait()` pulls. */
export interface PendingOp<T> {
  poll(): boolean;
  wait(): Promise<T>;
}

export class EpGroupEngine {
  private readonly me: number;

  constructor(private readonly xchg: PullExchange, readonly members: readonly number[], rank: number, private readonly channel: number, readonly cfg: EpConfig) {
    validateEpConfig(cfg, members.length);
    this.me = members.indexOf(rank);
    assert(this.me >= 0, `rank ${rank} is not a member of EP group [${members.join(',')}]`);
  }

  /** x [tokens, hidden] f32, topkIdx [tokens, topk] i32 (global expert ids, -1 = none), topkWeights [tokens, topk] f32. */
  async issueDispatch(x: Float32Array, topkIdx: Int32Array, topkWeights: Float32Array): Promise<PendingOp<DispatchResult>> {
    const numTokens = checkDispatchInputs(this.cfg, x, topkIdx, topkWeights);
    const layout = computeDispatchLayout(this.cfg, topkIdx, numTokens, this.members.length);
    this.xchg.checkFits(dispatchBytes(this.cfg, layout));
    await this.xchg.reclaimArea();
    const sections = writeDispatch(this.xchg.area, this.members, this.cfg, layout, x, topkIdx, topkWeights);
    this.xchg.publish(this.channel, sections);
    const seqs = this.xchg.reserveRecv(this.channel, this.members);
    return {
      poll: () => this.xchg.isReady(this.channel, this.members, seqs),
      wait: async () => readDispatch(await this.xchg.pullAll(this.channel, this.members, seqs), this.cfg, layout, this.me, this.members.length),
    };
  }

  /** y [numRecv, hidden] f32: expert outputs in the order dispatch returned; result [tokens, hidden] f32. */
  async issueCombine(y: Float32Array, handle: DispatchHandle): Promise<PendingOp<Float32Array>> {
    checkCombineInput(y, handle, this.cfg.hidden);
    this.xchg.checkFits(combineBytes(handle, this.cfg.hidden));
    await this.xchg.reclaimArea();
    const sections = writeCombine(this.xchg.area, this.members, handle, y, this.cfg.hidden);
    this.xchg.publish(this.channel, sections);
    const seqs = this.xchg.reserveRecv(this.channel, this.members);
    return {
      poll: () => this.xchg.isReady(this.channel, this.members, seqs),
      wait: async () => readCombine(await this.xchg.pullAll(this.channel, this.members, seqs), handle, this.cfg.hidden),
    };
  }

  async dispatch(x: Float32Array, topkIdx: Int32Array, topkWeights: Float32Array): Promise<DispatchResult> {
    return (await this.issueDispatch(x, topkIdx, topkWeights)).wait();
  }

  async combine(y: Float32Array, handle: DispatchHandle): Promise<Float32Array> {
    return (await this.issueCombine(y, handle)).wait();
  }
}

/** Dispatch/combine over every rank of the communicator (colocated EP, EP channel 0). */
export class ExpertParallel extends EpGroupEngine {
  constructor(comm: Communicator, cfg: EpConfig) {
    super(comm.pull, Array.from({ length: comm.worldSize }, (_, r) => r), comm.rank, 0, cfg);
  }
}
