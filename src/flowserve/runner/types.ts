/**
 * The contract between the scheduler (decides) and the model runner (computes) (ARCHITECTURE.md:
 * "the scheduler never computes, the runner never decides"). A step is a batch of sequences, each
 * contributing the tokens it was assigned this step (a prefill chunk or one decode token).
 */

export interface SequenceSlice {
  /** Request id, for logs only. */
  readonly seqId: string;
  /** [n] the tokens to compute this step (their KV is written into the cache). */
  readonly tokenIds: Int32Array;
  /** Absolute position of tokenIds[0] (= numComputedTokens before this step). */
  readonly startPos: number;
  /** Physical KV block of each logical block; must cover positions < startPos + n. */
  readonly blockTable: Int32Array;
  /** Return logits for every token of the slice (true) or only the last one (false). */
  readonly wantAllLogits: boolean;
}

export interface ForwardBatch {
  readonly kind: 'forward';
  readonly seqs: readonly SequenceSlice[];
  /**
   * The caller reads the result before its next forward (the engine samples at once): the runner
   * may return logits and hidden in buffers it reuses step after step instead of fresh arrays.
   * Default false: the result stays valid for good.
   */
  readonly mayReuseOutputs?: boolean;
}

export interface ForwardResult {
  /** Concatenated logits rows, in slice order: [numRows, vocabSize] f32. */
  readonly logits: Float32Array;
  /** For each slice, the index of its first row in `logits` and its row count. */
  readonly rows: readonly { readonly first: number; readonly count: number }[];
  /** [numRows, hiddenSize] post-final-norm hidden states (MTP input), aligned with `logits`. */
  readonly hidden: Float32Array;
}

/** The step shapes a runner prepares for at load time (ModelRunner.warmUp). */
export interface WarmUpShapes {
  /** Most tokens one step computes (the scheduler's maxNumBatchedTokens). */
  readonly maxRows: number;
  /** Most sequences one step holds (maxNumSeqs). */
  readonly maxSeqs: number;
}

export interface ModelRunner {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly blockSizeTokens: number;
  readonly numBlocks: number;
  forward(batch: ForwardBatch): ForwardResult;
  /**
   * Optional load-time preparation before the first request (vLLM's profile run): whatever the
   * first steps of these shapes would otherwise pay once. Only while no sequence holds KV blocks:
   * it may write any block.
   */
  warmUp?(shapes: WarmUpShapes): void;
}
