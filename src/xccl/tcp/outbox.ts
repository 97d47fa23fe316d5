/**
 * Outgoing frame batch of one tcp connection (paper notes §2.4 semantics over sockets; frame
 * format in frames.ts). Frames are encoded straight into a pooled buffer, so a small message
 * (put header + put payload + signal, and the ACK signals that travel with it) costs no Buffer
 * allocation per frame; `take()` hands the batch to one socket write. Large trailing payloads are
 * referenced, not copied (the protocols keep them unchanged until acknowledged).
 */
import { FRAME, FRAME_HEAD_BYTES, type FrameType } from './frames.js';

/** Trailing payloads up to this size are copied into the batch (callers reuse scratch buffers). */
export const COPY_TRAILING_BYTES = 4096;
const CHUNK_BYTES = 16 * 1024;

export class Outbox {
  private parts: Uint8Array[] = [];
  private buf: Buffer = Buffer.allocUnsafe(CHUNK_BYTES); // [CHUNK_BYTES] u8 encoding area
  private start = 0; // first byte of buf not yet handed out
  private pos = 0; // next byte to encode
  private lastAt = -1; // header offset in buf of the last frame while signals may extend it (a put copied whole, or signals); -1 otherwise

  get isEmpty(): boolean {
    return this.parts.length === 0 && this.pos === this.start;
  }

  /**
   * Appends `[u32 bodyBytes][u8 type][numWords i32: w0, w1, w2][trailing]` (no word array per
   * frame); `trailing` above COPY_TRAILING_BYTES is referenced, not copied.
   */
  frame(type: FrameType, numWords: 1 | 2 | 3, w0: number, w1 = 0, w2 = 0, trailing?: Uint8Array): void {
    const tBytes = trailing === undefined ? 0 : trailing.byteLength;
    const copy = tBytes <= COPY_TRAILING_BYTES;
    this.ensure(FRAME_HEAD_BYTES + 4 * numWords + (copy ? tBytes : 0));
    const b = this.buf;
    let p = this.pos;
    b.writeUInt32LE(4 * numWords + tBytes, p);
    b[p + 4] = type;
    p = b.writeInt32LE(w0 | 0, p + FRAME_HEAD_BYTES);
    if (numWords > 1) p = b.writeInt32LE(w1 | 0, p);
    if (numWords > 2) p = b.writeInt32LE(w2 | 0, p);
    if (trailing !== undefined && tBytes > 0 && copy) {
      b.set(trailing, p);
      p += tBytes;
    }
    this.lastAt = (type === FRAME.put || type === FRAME.signals) && copy ? this.pos : -1;
    this.pos = p;
    if (trailing !== undefined && !copy) {
      this.seal();
      this.parts.push(trailing);
    }
  }

  /**
   * Appends the pair `[wordIdx, value]` to the last frame when it is a put or signals frame still
   * in the encoding area (its body grows by 8 bytes), else starts a signals frame: a put and the
   * signal that follows it, or a run of signals, cost the receiver one frame.
   */
  signal(wordIdx: number, value: number): void {
    const at = this.lastAt;
    if (at < 0 || this.buf.length - this.pos < 8) {
      this.frame(FRAME.signals, 2, wordIdx, value);
      return;
    }
    const b = this.buf;
    b.writeUInt32LE(b.readUInt32LE(at) + 8, at);
    b.writeInt32LE(wordIdx | 0, this.pos);
    b.writeInt32LE(value | 0, this.pos + 4);
    this.pos += 8;
  }

  /** The batch in order (one part in the common case); the outbox starts a new batch. */
  take(): Uint8Array[] {
    this.seal();
    const out = this.parts;
    this.parts = [];
    return out;
  }

  private seal(): void {
    this.lastAt = -1;
    if (this.pos > this.start) this.parts.push(this.buf.subarray(this.start, this.pos));
    this.start = this.pos;
  }

  /** Makes room for `n` contiguous bytes; bytes already handed out are never rewritten. */
  private ensure(n: number): void {
    if (this.buf.length - this.pos >= n) return;
    this.seal();
    this.buf = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, n));
    this.start = 0;
    this.pos = 0;
  }
}
