/**
 * Row formats on the EP wire (paper notes §2.4.2 step 2: optional INT8 on the wire for dispatch).
 * A dispatch row carries one token: its hidden state (f32, or int8 with one f32 scale per token:
 * symmetric, scale = max|x| / 127, so |x - deq(x)| <= scale / 2), then its top-k expert ids (i32)
 * and gate weights (f32). A combine row is one f32 hidden vector.
 *
 * Hidden rows are written into the shared EP area with copyBytes (the addon's memcpy when built):
 * TypedArray.set into a shared buffer copies element by element with relaxed atomics.
 */
import { copyBytes } from '../copy.js';

/** The bytes of a typed array, as a Uint8Array view. */
function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export interface RowFormat {
  readonly hidden: number;
  readonly topk: number;
  readonly isInt8: boolean;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Bytes of one dispatch row. */
export function dispatchRowBytes(f: RowFormat): number {
  return (f.isInt8 ? pad4(f.hidden) + 4 : 4 * f.hidden) + 8 * f.topk;
}

/** Bytes of one combine row. */
export function combineRowBytes(hidden: number): number {
  return 4 * hidden;
}

/** Quantizes `src` [hidden] f32 into `dst` [hidden] i8; returns the scale. */
export function quantizeRowInt8(src: Float32Array, dst: Int8Array): number {
  let amax = 0;
  for (let i = 0; i < src.length; i++) amax = Math.max(amax, Math.abs(src[i]!));
  const scale = amax / 127;
  const inv = scale > 0 ? 1 / scale : 0;
  for (let i = 0; i < src.length; i++) dst[i] = Math.round(src[i]! * inv);
  return scale;
}

/**
 * Writes token `t` of x [tokens, hidden] f32, topkIdx/topkWeights [tokens, topk] into `buf` at
 * byte `off` (4-aligned, relative to buf's own start).
 */
export function encodeDispatchRow(buf: Uint8Array, off: number, f: RowFormat, x: Float32Array, idx: Int32Array, w: Float32Array, t: number): void {
  const base = buf.byteOffset + off;
  let tail = base;
  if (f.isInt8) {
    const scale = quantizeRowInt8(x.subarray(t * f.hidden, (t + 1) * f.hidden), new Int8Array(buf.buffer, base, f.hidden));
    tail = base + pad4(f.hidden);
    new Float32Array(buf.buffer, tail, 1)[0] = scale;
    tail += 4;
  } else {
    copyBytes(buf, off, bytesOf(x), 4 * t * f.hidden, 4 * f.hidden);
    tail = base + 4 * f.hidden;
  }
  new Int32Array(buf.buffer, tail, f.topk).set(idx.subarray(t * f.topk, (t + 1) * f.topk));
  new Float32Array(buf.buffer, tail + 4 * f.topk, f.topk).set(w.subarray(t * f.topk, (t + 1) * f.topk));
}

export interface DecodedRow {
  readonly idx: Int32Array; // [topk]
  readonly weights: Float32Array; // [topk]
}

/** Reads the top-k part of a dispatch row at byte `off` of `buf`. */
export function decodeRouting(buf: Uint8Array, off: number, f: RowFormat): DecodedRow {
  const tail = buf.byteOffset + off + (f.isInt8 ? pad4(f.hidden) + 4 : 4 * f.hidden);
  return { idx: new Int32Array(buf.buffer, tail, f.topk), weights: new Float32Array(buf.buffer, tail + 4 * f.topk, f.topk) };
}

/** Writes the (dequantized) hidden state of the dispatch row at `off` into `out` [hidden] f32. */
export function decodeHidden(buf: Uint8Array, off: number, f: RowFormat, out: Float32Array): void {
  const base = buf.byteOffset + off;
  if (!f.isInt8) {
    out.set(new Float32Array(buf.buffer, base, f.hidden));
    return;
  }
  const q = new Int8Array(buf.buffer, base, f.hidden);
  const scale = new Float32Array(buf.buffer, base + pad4(f.hidden), 1)[0]!;
  for (let i = 0; i < f.hidden; i++) out[i] = q[i]! * scale;
}
