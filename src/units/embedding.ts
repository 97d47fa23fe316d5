/**
 * Embedding unit (MODELS.md §1.5, paper §2.1): look up one row of Embed [V, D] per token; no √D
 * scaling. A bf16 table is widened by a 16-bit shift straight into the output's bits (integer
 * stores, the same bits as weightRow's conversion), two values per 32-bit load when the table is
 * 4-byte aligned: a 512-token prefill step widens 512·D values, so the per-value cost is the unit's
 * whole cost (small preset, 32 rows: ~140 → ~70 µs; 1 thread, CPU time).
 */

import { XdsError } from '../core/errors.js';
import type { LinearWeight } from '../kernels/backend.js';
import { weightRow } from '../kernels/reference.js';

/** out[t] = table[tokenIds[t]]: tokenIds [T] int32, table [V, D], out [T, D] f32. */
export function embedTokens(table: LinearWeight, tokenIds: Int32Array, out: Float32Array): void {
  const D = table.inDim;
  for (let t = 0; t < tokenIds.length; t++) checkId(tokenIds[t]!, table.outDim);
  if (table.format === 'bf16') { widenBf16Rows(table.data, D, tokenIds, out); return; }
  for (let t = 0; t < tokenIds.length; t++) weightRow(table, tokenIds[t]!, out.subarray(t * D, (t + 1) * D));
}

function checkId(id: number, vocab: number): void {
  if (id < 0 || id >= vocab) throw new XdsError('invalid_argument', `token id ${id} is outside the vocabulary [0, ${vocab})`, { param: 'tokenIds' });
}

const IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** out[t] = f32(table[ids[t]]): bf16 bits b become the f32 bits b << 16. table [V, D] u16, out [T, D] f32. */
function widenBf16Rows(table: Uint16Array, D: number, ids: Int32Array, out: Float32Array): void {
  const bits = new Uint32Array(out.buffer, out.byteOffset, ids.length * D); // [T, D] the f32 bits of out
  if (IS_LITTLE_ENDIAN && D % 2 === 0 && table.byteOffset % 4 === 0) { widenBf16Pairs(new Uint32Array(table.buffer, table.byteOffset, table.length >> 1), D, ids, bits); return; }
  for (let t = 0; t < ids.length; t++) {
    const src = ids[t]! * D, dst = t * D;
    for (let i = 0; i < D; i++) bits[dst + i] = table[src + i]! << 16;
  }
}

/** As widenBf16Rows over pairs: pairs [V, D/2] u32 (little-endian: value 2j in the low half), bits [T, D] u32. */
function widenBf16Pairs(pairs: Uint32Array, D: number, ids: Int32Array, bits: Uint32Array): void {
  const half = D >> 1;
  for (let t = 0; t < ids.length; t++) {
    const src = ids[t]! * half, dst = t * D;
    for (let j = 0; j < half; j++) {
      const p = pairs[src + j]!;
      bits[dst + 2 * j] = p << 16;
      bits[dst + 2 * j + 1] = p & 0xffff0000;
    }
  }
}
