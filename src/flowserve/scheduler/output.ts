/**
 * What one scheduling step decides (a plain record, paper notes §2.5.1): for every scheduled
 * request, the slice of tokens to compute this step. The engine turns it into one ForwardBatch
 * (mixed prefill chunks and decode tokens in one forward) and hands it back to `commit`.
 */
import type { SequenceSlice } from '../runner/types.js';
import type { Request } from '../request.js';

export interface ScheduledSeq {
  readonly request: Request;
  /** [numNew] i32 tokens whose KV this step computes. */
  readonly tokenIds: Int32Array;
  /** Absolute position of tokenIds[0] (= the request's numComputedTokens at schedule time). */
  readonly startPos: number;
  /** [numLogicalBlocks] i32 physical block per logical block, covering startPos + numNew. */
  readonly blockTable: Int32Array;
  /** True when the slice reaches the request's last token, so a token is sampled from its logits.
   *  A prefill chunk that stops short of the end of the prompt samples nothing. */
  readonly samples: boolean;
}

export interface SchedulerOutput {
  readonly kind: 'schedule';
  /** Step counter of this scheduler, from 0. */
  readonly stepId: number;
  /** In execution order; the runner's slices follow it. */
  readonly seqs: readonly ScheduledSeq[];
  /** Σ tokenIds.length ≤ maxNumBatchedTokens. */
  readonly numBatchedTokens: number;
  /** Ids preempted this step (KV dropped, back to waiting, to be recomputed). */
  readonly preemptedIds: readonly string[];
  /** Requests that ended at scheduling time (reason 'error': they can never fit in the KV cache). */
  readonly failed: readonly Request[];
}

/** The runner's view of one scheduled request. */
export function toSequenceSlice(seq: ScheduledSeq): SequenceSlice {
  const wantAllLogits = seq.request.promptLogprobs?.wantsSlice(seq.startPos, seq.tokenIds.length) ?? false;
  return { seqId: seq.request.id, tokenIds: seq.tokenIds, startPos: seq.startPos, blockTable: seq.blockTable, wantAllLogits };
}
