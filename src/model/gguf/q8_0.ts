/**
 * Q8_0 blocks as ggml stores them (GGUF-EXPORT.md §1; CPU-FACTS.md §4): 32 consecutive values
 * along ne[0] share one f16 scale d = max|x| / 127; each value is round(x / d) as int8
 * (ties away from zero, like ggml's `roundf`). One block = 2 + 32 = 34 bytes.
 */
import { f16ToF32, f32ToF16 } from '../../core/dtype.js';
import { XdsError } from '../../core/errors.js';

export const Q8_0_BLOCK_ELEMS = 32;
export const Q8_0_BLOCK_BYTES = 34;

/** x: [n] f32 with n % 32 == 0 → [n/32 × 34] bytes. */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  if (x.length % Q8_0_BLOCK_ELEMS !== 0) {
    throw new XdsError('invalid_argument', `Q8_0 needs a multiple of 32 values, got ${x.length}`);
  }
  const numBlocks = x.length / Q8_0_BLOCK_ELEMS;
  const out = new Uint8Array(numBlocks * Q8_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  for (let b = 0; b < numBlocks; b++) quantizeBlock(x, b, out, view);
  return out;
}

function quantizeBlock(x: Float32Array, b: number, out: Uint8Array, view: DataView): void {
  const base = b * Q8_0_BLOCK_ELEMS;
  let amax = 0;
  for (let j = 0; j < Q8_0_BLOCK_ELEMS; j++) amax = Math.max(amax, Math.abs(x[base + j]!));
  const d = Math.fround(amax / 127);
  const id = d !== 0 ? Math.fround(1 / d) : 0;
  const at = b * Q8_0_BLOCK_BYTES;
  view.setUint16(at, f32ToF16(d), true);
  for (let j = 0; j < Q8_0_BLOCK_ELEMS; j++) {
    const v = Math.fround(x[base + j]! * id);
    const q = Math.sign(v) * Math.round(Math.abs(v)); // roundf: ties away from zero
    out[at + 2 + j] = q & 0xff;
  }
}

/** Inverse of quantizeQ8_0: [numBlocks × 34] bytes → [numBlocks × 32] f32. */
export function dequantizeQ8_0(bytes: Uint8Array): Float32Array {
  if (bytes.length % Q8_0_BLOCK_BYTES !== 0) {
    throw new XdsError('invalid_argument', `Q8_0 data must be a multiple of 34 bytes, got ${bytes.length}`);
  }
  const numBlocks = bytes.length / Q8_0_BLOCK_BYTES;
  const out = new Float32Array(numBlocks * Q8_0_BLOCK_ELEMS);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < numBlocks; b++) {
    const d = f16ToF32(view.getUint16(b * Q8_0_BLOCK_BYTES, true));
    for (let j = 0; j < Q8_0_BLOCK_ELEMS; j++) out[b * 32 + j] = d * q[b * Q8_0_BLOCK_BYTES + 2 + j]!;
  }
  return out;
}
