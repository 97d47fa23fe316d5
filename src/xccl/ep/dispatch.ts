/**
 * Dispatch data movement (paper notes §2.4.2, steps 1–7): writes this rank's tokens into its own
 * EP area partitioned by destination (quantizing to INT8 when asked), and turns the rows pulled
 * from every source into tokens grouped by local expert.
 */
import type { DispatchLayout, EpConfig } from './layout.js';
import type { Pulled, Section } from './pull.js';
import { decodeHidden, decodeRouting, dispatchRowBytes, type RowFormat } from './wire.js';
import { encodeDispatchRow } from './wire.js';

export function rowFormat(cfg: EpConfig): RowFormat {
  return { hidden: cfg.hidden, topk: cfg.topk, isInt8: cfg.isInt8 ?? false };
}

/** Total bytes the dispatch sections need in the EP area. */
export function dispatchBytes(cfg: EpConfig, layout: DispatchLayout): number {
  return layout.destTokens.reduce((n, l) => n + l.length, 0) * dispatchRowBytes(rowFormat(cfg));
}

/** Writes rows into `area` partitioned by destination member; returns the sections to publish. */
export function writeDispatch(area: Uint8Array, members: readonly number[], cfg: EpConfig, layout: DispatchLayout,
  x: Float32Array, topkIdx: Int32Array, topkWeights: Float32Array): Section[] {
  const f = rowFormat(cfg);
  const rowBytes = dispatchRowBytes(f);
  const sections: Section[] = [];
  let off = 0;
  layout.destTokens.forEach((tokens, g) => {
    for (let j = 0; j < tokens.length; j++) encodeDispatchRow(area, off + j * rowBytes, f, x, topkIdx, topkWeights, tokens[j]!);
    sections.push({ dest: members[g]!, offsetBytes: off, numRows: tokens.length, rowBytes });
    off += tokens.length * rowBytes;
  });
  return sections;
}

/** What combine needs to send each expert output back (DeepEP's handle). */
export interface DispatchHandle {
  readonly kind: 'dispatch-handle';
  readonly layout: DispatchLayout;
  /** Rows pulled from each member. // [groupSize] */
  readonly rowsFrom: readonly number[];
  /** For each received entry: the member it came from and its row there. // [numRecv] i32 */
  readonly entrySource: Int32Array;
  readonly entryRow: Int32Array;
  /** Gate weight of each entry. // [numRecv] f32 */
  readonly recvWeights: Float32Array;
}

export interface DispatchResult {
  /** Received tokens grouped by local expert. // [numRecv, hidden] f32 */
  readonly recvX: Float32Array;
  /** Entries per local expert, in order. // [expertsPerMember] i32 */
  readonly numRecvPerExpert: Int32Array;
  /** Gate weight of each entry. // [numRecv] f32 */
  readonly recvWeights: Float32Array;
  readonly handle: DispatchHandle;
}

/** Groups the pulled rows (in member order) by local expert of member `me`. */
export function readDispatch(pulled: readonly Pulled[], cfg: EpConfig, layout: DispatchLayout, me: number, groupSize: number): DispatchResult {
  const f = rowFormat(cfg);
  const perMember = cfg.numExperts / groupSize;
  const first = me * perMember;
  const counts = new Int32Array(perMember);
  forEachLocal(pulled, f, first, perMember, (e) => { counts[e]!++; });
  const starts = new Int32Array(perMember);
  for (let e = 1; e < perMember; e++) starts[e] = starts[e - 1]! + counts[e - 1]!;
  const numRecv = counts.reduce((a, b) => a + b, 0);
  const recvX = new Float32Array(numRecv * cfg.hidden);
  const entrySource = new Int32Array(numRecv);
  const entryRow = new Int32Array(numRecv);
  const recvWeights = new Float32Array(numRecv);
  const fill = starts.slice();
  forEachLocal(pulled, f, first, perMember, (e, s, j, w, p) => {
    const at = fill[e]!++;
    decodeHidden(p.bytes, j * p.rowBytes, f, recvX.subarray(at * cfg.hidden, (at + 1) * cfg.hidden));
    entrySource[at] = s;
    entryRow[at] = j;
    recvWeights[at] = w;
  });
  const handle: DispatchHandle = { kind: 'dispatch-handle', layout, rowsFrom: pulled.map((p) => p.numRows), entrySource, entryRow, recvWeights };
  return { recvX, numRecvPerExpert: counts, recvWeights, handle };
}

/** Calls `fn(localExpert, sourceIdx, row, weight, pulled)` for each (row, top-k slot) owned locally. */
function forEachLocal(pulled: readonly Pulled[], f: RowFormat, first: number, perMember: number,
  fn: (e: number, s: number, j: number, w: number, p: Pulled) => void): void {
  pulled.forEach((p, s) => {
    for (let j = 0; j < p.numRows; j++) {
      const r = decodeRouting(p.bytes, j * p.rowBytes, f);
      for (let k = 0; k < f.topk; k++) {
        const e = r.idx[k]! - first;
        if (e >= 0 && e < perMember) fn(e, s, j, r.weights[k]!, p);
      }
    }
  });
}
