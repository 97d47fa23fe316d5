/**
 * Reusable buffers of the sampler step (src/README.md step 4), so sampling a 150k-entry row
 * allocates nothing of vocabulary size. Buffers only grow. One instance per thread is enough:
 * sampling is synchronous and nothing returned to the caller points into these buffers.
 */

export class SamplingScratch {
  private logitsBuf = new Float32Array(0);
  private probsBuf = new Float64Array(0);
  private valuesBuf = new Float64Array(0);
  private topKBuf = new Float64Array(0);
  private idsBuf = new Int32Array(0);

  /** Processed logits (penalized, temperature-scaled). [n] f32 */
  logits(n: number): Float32Array {
    if (this.logitsBuf.length < n) this.logitsBuf = new Float32Array(n);
    return this.logitsBuf.subarray(0, n);
  }

  /** exp(logit − max): the unnormalized probabilities. [n] f64 */
  probs(n: number): Float64Array {
    if (this.probsBuf.length < n) this.probsBuf = new Float64Array(n);
    return this.probsBuf.subarray(0, n);
  }

  /** Compacted candidate probabilities for selection, reordered freely. [≤ n] f64 */
  values(n: number): Float64Array {
    if (this.valuesBuf.length < n) this.valuesBuf = new Float64Array(n);
    return this.valuesBuf;
  }

  /** Candidate token ids. [≤ n] i32 */
  ids(n: number): Int32Array {
    if (this.idsBuf.length < n) this.idsBuf = new Int32Array(n);
    return this.idsBuf;
  }

  /** Kept values of the top-k scan (select.ts kthLargestAbove). [cap] f64 */
  topK(cap: number): Float64Array {
    if (this.topKBuf.length < cap) this.topKBuf = new Float64Array(cap);
    return this.topKBuf.subarray(0, cap);
  }
}

/** The scratch of this thread (module instances are per worker thread). */
export const threadScratch = new SamplingScratch();
