/**
 * The sequences of one step as a multi-sequence paged-attention call (ComputeBackend PagedSeqs;
 * paper §2.1 attention unit, MODELS.md §1.4 / §4.4): row ranges and all block tables back to back
 * in one flat table, in the runner's scratch arena (no allocation in a steady decode loop).
 */
import type { PagedSeqs } from '../../kernels/backend.js';
import type { Scratch } from '../scratch.js';
import type { SeqRows } from '../step-layout.js';

export interface PagedSeqsLayout {
  readonly seqs: PagedSeqs;
  /** [Σ table lengths] every sequence's block table, in order. */
  readonly blockTable: Int32Array;
}

/** Slot names per prefix, built once: a template literal per call is a new string to hash at every lookup. */
const slotNames = new Map<string, readonly [string, string, string, string]>();

function namesOf(prefix: string): readonly [string, string, string, string] {
  let n = slotNames.get(prefix);
  if (n === undefined) slotNames.set(prefix, (n = [`${prefix}.firstRow`, `${prefix}.numRows`, `${prefix}.tableStart`, `${prefix}.blockTable`]));
  return n;
}

/** `seqs` (in row order) as PagedSeqs over one flattened block table; slots named `prefix.*`. */
export function pagedSeqsLayout(sc: Scratch, seqs: readonly SeqRows[], prefix: string): PagedSeqsLayout {
  const S = seqs.length;
  const names = namesOf(prefix);
  const firstRow = sc.i32(names[0], S); // [S]
  const numRows = sc.i32(names[1], S); // [S]
  const tableStart = sc.i32(names[2], S + 1); // [S + 1]
  let total = 0;
  tableStart[0] = 0;
  for (let i = 0; i < S; i++) {
    const s = seqs[i]!;
    firstRow[i] = s.first;
    numRows[i] = s.count;
    total += s.blockTable.length;
    tableStart[i + 1] = total;
  }
  const blockTable = sc.i32(names[3], total);
  for (let i = 0; i < S; i++) blockTable.set(seqs[i]!.blockTable, tableStart[i]);
  return { seqs: { firstRow, numRows, tableStart }, blockTable };
}
