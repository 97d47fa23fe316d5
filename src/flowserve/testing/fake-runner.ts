/**
 * A test double of the compute (not of the scheduler or the RTC under test): a ModelRunner whose
 * "attention" really goes through the paged KV cache. Each slice writes its token ids into the
 * physical blocks named by its block table, then the logits of a position are a function of every
 * token READ BACK through the block table at positions ≤ p. So wrong block accounting (a shared
 * block overwritten, a bad prefix hit, a stale block after preemption) changes the generated
 * tokens, exactly as it would with a real model. Next token (greedy) = contextHash(p) mod vocab.
 */
import { assert } from '../../core/assert.js';
import type { ForwardBatch, ForwardResult, ModelRunner, SequenceSlice } from '../runner/types.js';

export interface FakeRunnerOptions {
  readonly numBlocks: number;
  readonly blockSizeTokens: number;
  /** Default 64. */
  readonly vocabSize?: number;
  /** Busy-waits this long per forward (µs), to model compute in benchmarks. Default 0. */
  readonly forwardCostUs?: number;
}

export class FakeRunner implements ModelRunner {
  readonly vocabSize: number;
  readonly hiddenSize = 4;
  readonly blockSizeTokens: number;
  readonly numBlocks: number;
  /** Every batch seen, for assertions. */
  readonly batches: ForwardBatch[] = [];
  private readonly kv: Int32Array; // [numBlocks, blockSizeTokens] token id written at each slot, -1 empty
  private readonly forwardCostUs: number;

  constructor(o: FakeRunnerOptions) {
    this.numBlocks = o.numBlocks;
    this.blockSizeTokens = o.blockSizeTokens;
    this.vocabSize = o.vocabSize ?? 64;
    this.forwardCostUs = o.forwardCostUs ?? 0;
    this.kv = new Int32Array(o.numBlocks * o.blockSizeTokens).fill(-1);
  }

  forward(batch: ForwardBatch): ForwardResult {
    this.batches.push(batch);
    const spinUntil = performance.now() + this.forwardCostUs / 1000;
    for (const s of batch.seqs) this.writeKv(s);
    const rows: { first: number; count: number }[] = [];
    let numRows = 0;
    for (const s of batch.seqs) {
      const count = s.wantAllLogits ? s.tokenIds.length : 1;
      rows.push({ first: numRows, count });
      numRows += count;
    }
    const logits = new Float32Array(numRows * this.vocabSize); // [numRows, vocab] f32
    batch.seqs.forEach((s, i) => this.fillLogits(s, rows[i]!, logits));
    while (performance.now() < spinUntil) { /* model compute time */ }
    return { logits, rows, hidden: new Float32Array(numRows * this.hiddenSize) };
  }

  /** The greedy next token after `context` (what a correct cache must reproduce). */
  expectedNext(context: ArrayLike<number>): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < context.length; i++) h = Math.imul(h ^ (context[i]! + i), 0x01000193);
    return (h >>> 0) % this.vocabSize;
  }

  private slot(s: SequenceSlice, pos: number): number {
    const block = s.blockTable[Math.floor(pos / this.blockSizeTokens)];
    assert(block !== undefined && block >= 0 && block < this.numBlocks, () => `${s.seqId}: no block for position ${pos}`);
    return block * this.blockSizeTokens + (pos % this.blockSizeTokens);
  }

  private writeKv(s: SequenceSlice): void {
    for (let i = 0; i < s.tokenIds.length; i++) this.kv[this.slot(s, s.startPos + i)] = s.tokenIds[i]!;
  }

  private fillLogits(s: SequenceSlice, row: { first: number; count: number }, out: Float32Array): void {
    const lastPos = s.startPos + s.tokenIds.length - 1;
    for (let r = 0; r < row.count; r++) {
      const pos = lastPos - row.count + 1 + r;
      const context = new Int32Array(pos + 1); // [pos + 1] tokens read back from the cache
      for (let p = 0; p <= pos; p++) context[p] = this.kv[this.slot(s, p)]!;
      const base = (row.first + r) * this.vocabSize;
      for (let v = 0; v < this.vocabSize; v++) out[base + v] = -((v * 7) % 13) / 13;
      out[base + this.expectedNext(context)] = 5;
    }
  }
}
