/** Scalar conversions between f32 and the 16-bit storage formats (bf16, f16). */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bf16 bits → f32 value: bf16 is the top half of an f32. */
export function bf16ToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

/** f32 → bf16 bits, round to nearest even (NaN stays NaN). */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  return bf16OfBits(u32[0]!);
}

/** f32 bits → bf16 bits, round to nearest even; a NaN stays a (quiet) NaN. */
function bf16OfBits(b: number): number {
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * dst[dstOffset + i] = f32ToBf16(src[i]) for the whole of src, through a 32-bit view of src's
 * bytes (no per-element call: a bf16 KV cache stores every written row this way).
 */
export function f32ArrayToBf16(src: Float32Array, dst: Uint16Array, dstOffset = 0): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) dst[dstOffset + i] = bf16OfBits(bits[i]!);
}

/** dst[dstOffset + i] = bf16ToF32(src[srcOffset + i]) for i < n (exact). */
export function bf16ArrayToF32(src: Uint16Array, srcOffset: number, n: number, dst: Float32Array, dstOffset = 0): void {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset + dstOffset * 4, n);
  for (let i = 0; i < n; i++) bits[i] = src[srcOffset + i]! << 16;
}

/** IEEE half bits → f32 value. */
export function f16ToF32(h: number): number {
  const s = (h & 0x8000) ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** f32 → IEEE half bits, round to nearest even. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let r = mant >> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1))) {
    r++;
    if (r === 0x400) { r = 0; e++; if (e >= 31) return sign | 0x7c00; }
  }
  return sign | (e << 10) | r;
}
