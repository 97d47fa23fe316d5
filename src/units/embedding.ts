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
  // NOTE: an odd D or an unaligned table (rare) takes weightRow, which converts the same bits one value at a time.
  if (table.format === 'bf16' && IS_LITTLE_ENDIAN && D % 2 === 0 && table.data.byteOffset % 4 === 0) {
    const pairs = new Uint32Array(table.data.buffer, table.data.byteOffset, table.data.length >> 1); // [V, D/2] u32
    widenBf16Pairs(pairs, D, tokenIds, new Uint32Array(out.buffer, out.byteOffset, tokenIds.length * D));
    return;
  }
  for (let t = 0; t < tokenIds.length; t++) weightRow(table, tokenIds[t]!, out.subarray(t * D, (t + 1) * D));
}

function checkId(id: number, vocab: number): void {
  if (id < 0 || id >= vocab) throw new XdsError('invalid_argument', `token id ${id} is outside the vocabulary [0, ${vocab})`, { param: 'tokenIds' });
}

const IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** out[t] = f32(table[ids[t]]) as bits (bf16 b → f32 b << 16), two values per load: pairs [V, D/2] u32 (little-endian: value 2j in the low half), bits [T, D] u32. */
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
