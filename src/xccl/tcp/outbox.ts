/**
 * Outgoing frame batch of one tcp connection (paper notes §2.4 semantics over sockets; frame
 * format in frames.ts). Frames are encoded straight into a pooled buffer, so a small message
 * (put header + put payload + signal, and the ACK signals that travel with it) costs no Buffer
 * allocation per frame; `take()` hands the batch to one socket write. Large trailing payloads are
 * referenced, not copied (the protocols keep them unchanged until acknowledged).
 */
import type { FrameType } from './frames.js';

/** Trailing payloads up to this size are copied into the batch (callers reuse scratch buffers). */
export const COPY_TRAILING_BYTES = 4096;
const CHUNK_BYTES = 16 * 1024;

export class Outbox {
  private parts: Uint8Array[] = [];
  private buf: Buffer = Buffer.allocUnsafe(CHUNK_BYTES); // [CHUNK_BYTES] u8 encoding area
  private start = 0; // first byte of buf not yet handed out
  private pos = 0; // next byte to encode

  get isEmpty(): boolean {
    return this.parts.length === 0 && this.pos === this.start;
  }

  /** Appends `[u32 bodyBytes][u8 type][i32 words...][trailing]`; `trailing` above COPY_TRAILING_BYTES is referenced. */
  frame(type: FrameType, words: readonly [number] | readonly [number, number] | readonly [number, number, number], trailing?: Uint8Array): void {
    const tBytes = trailing?.byteLength ?? 0;
    const copy = tBytes <= COPY_TRAILING_BYTES;
    const headBytes = 5 + 4 * words.length;
    this.ensure(headBytes + (copy ? tBytes : 0));
    const b = this.buf;
    let p = this.pos;
    b.writeUInt32LE(4 * words.length + tBytes, p);
    b[p + 4] = type;
    p += 5;
    for (const w of words) p = b.writeInt32LE(w | 0, p);
    if (trailing && tBytes > 0 && copy) {
      b.set(trailing, p);
      p += tBytes;
    }
    this.pos = p;
    if (trailing && !copy) {
      this.seal();
      this.parts.push(trailing);
    }
  }

  /** The batch in order (one part in the common case); the outbox starts a new batch. */
  take(): Uint8Array[] {
    this.seal();
    const out = this.parts;
    this.parts = [];
    return out;
  }

  private seal(): void {
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
