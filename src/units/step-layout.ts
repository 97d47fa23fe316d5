/**
 * How the rows of one forward step map onto sequences (Transformerless units, paper §2.1): token-wise
 * units (norms, projections, FFN, MoE) see only the concatenated rows; attention units use this to
 * run per sequence with its own block table and absolute positions (MODELS.md §8.1 #17).
 */

export interface SeqRows {
  /** First row of this sequence in the step's [numRows, …] buffers. */
  readonly first: number;
  readonly count: number;
  /** Absolute position of row `first` (= tokens already in the cache). */
  readonly startPos: number;
  /** Logical block b → physical block blockTable[b]. */
  readonly blockTable: Int32Array;
}

export interface StepLayout {
  readonly numRows: number;
  /** [numRows] absolute position of each row. */
  readonly positions: Int32Array;
  readonly seqs: readonly SeqRows[];
}

/** Lay out sequences of the given lengths back to back. */
export function buildStepLayout(seqs: readonly { count: number; startPos: number; blockTable: Int32Array }[]): StepLayout {
  const numRows = seqs.reduce((a, s) => a + s.count, 0);
  const positions = new Int32Array(numRows);
  const out: SeqRows[] = [];
  let first = 0;
  for (const s of seqs) {
    for (let i = 0; i < s.count; i++) positions[first + i] = s.startPos + i;
    out.push({ first, count: s.count, startPos: s.startPos, blockTable: s.blockTable });
    first += s.count;
  }
  return { numRows, positions, seqs: out };
}
