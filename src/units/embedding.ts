/** Embedding unit (MODELS.md §1.5, paper §2.1): look up one row of Embed [V, D] per token; no √D scaling. */

import { XdsError } from '../core/errors.js';
import type { LinearWeight } from '../kernels/backend.js';
import { weightRow } from '../kernels/reference.js';

/** out[t] = table[tokenIds[t]]: tokenIds [T] int32, table [V, D], out [T, D] f32. */
export function embedTokens(table: LinearWeight, tokenIds: Int32Array, out: Float32Array): void {
  const D = table.inDim;
  for (let t = 0; t < tokenIds.length; t++) {
    const id = tokenIds[t]!;
    if (id < 0 || id >= table.outDim) {
      throw new XdsError('invalid_argument', `token id ${id} is outside the vocabulary [0, ${table.outDim})`, { param: 'tokenIds' });
    }
    weightRow(table, id, out.subarray(t * D, (t + 1) * D));
  }
}
