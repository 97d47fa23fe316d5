/**
 * Combine data movement (paper notes §2.4.2, "combine mirrors dispatch"): the expert side sums
 * its outputs per received token, weighted by the gate, into its own EP area partitioned by the
 * token's source; the source pulls and adds the partial sums into the tokens' original order.
 */
import { XdsError } from '../../core/errors.js';
import { assert } from '../../core/assert.js';
import type { DispatchHandle } from './dispatch.js';
import type { Pulled, Section } from './pull.js';
import { combineRowBytes } from './wire.js';
import { copyBytes } from '../copy.js';
import { loadXcclAddon } from '../shm/process.js';

const addon = loadXcclAddon(true);

/** dst[dOff + i] += w * src[sOff + i], i < n: native when the addon is built, else plain TS. */
function axpy(dst: Float32Array, dOff: number, src: Float32Array, sOff: number, n: number, w: number): void {
  if (addon) return addon.axpy(dst, dOff, src, sOff, n, w);
  for (let i = 0; i < n; i++) dst[dOff + i]! += w * src[sOff + i]!;
}

export function combineBytes(handle: DispatchHandle, hidden: number): number {
  return handle.rowsFrom.reduce((a, b) => a + b, 0) * combineRowBytes(hidden);
}

/** Checks y [numRecv, hidden] against the handle. */
export function checkCombineInput(y: Float32Array, handle: DispatchHandle, hidden: number): void {
  const expected = handle.entrySource.length * hidden;
  if (y.length !== expected) {
    throw new XdsError('invalid_argument', `xccl combine: y has ${y.length} elements, expected received entries ${handle.entrySource.length} x hidden ${hidden}`, { param: 'y' });
  }
}

/** Writes the weighted partial sums, one row per token received from each member. */
export function writeCombine(area: Uint8Array, members: readonly number[], handle: DispatchHandle, y: Float32Array, hidden: number): Section[] {
  const rowBytes = combineRowBytes(hidden);
  const starts: number[] = [];
  let off = 0;
  const sections: Section[] = handle.rowsFrom.map((rows, s) => {
    starts.push(off);
    const sec = { dest: members[s]!, offsetBytes: off, numRows: rows, rowBytes };
    off += rows * rowBytes;
    return sec;
  });
  // With the native axpy the sums go straight into the shared area; the TS loop is several times
  // slower over shared memory than over private memory, so without the addon they are summed
  // privately and copied in.
  const sums = addon ? new Float32Array(area.buffer, area.byteOffset, off / 4) : new Float32Array(off / 4); // [sum rowsFrom, hidden] f32
  if (addon) sums.fill(0);
  for (let i = 0; i < handle.entrySource.length; i++) {
    const base = starts[handle.entrySource[i]!]! / 4 + handle.entryRow[i]! * hidden;
    axpy(sums, base, y, i * hidden, hidden, handle.recvWeights[i]!);
  }
  if (!addon) copyBytes(area, 0, new Uint8Array(sums.buffer), 0, off);
  return sections;
}

/** Adds the pulled partial sums into out [numTokens, hidden] f32 in the original token order. */
export function readCombine(pulled: readonly Pulled[], handle: DispatchHandle, hidden: number): Float32Array {
  const out = new Float32Array(handle.layout.numTokens * hidden);
  pulled.forEach((p, g) => {
    const tokens = handle.layout.destTokens[g]!;
    assert(p.numRows === tokens.length, () => `combine: ${p.numRows} rows from member ${g}, dispatched ${tokens.length}`);
    const rows = new Float32Array(p.bytes.buffer, p.bytes.byteOffset, p.numRows * hidden);
    for (let j = 0; j < p.numRows; j++) {
        axpy(out, tokens[j]! * hidden, rows, j * hidden, hidden, 1);
    }
  });
  return out;
}
