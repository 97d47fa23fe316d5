/**
 * Framing of the `tcp` transport (paper notes §2.4 semantics over sockets): every frame is
 * [u32 bodyBytes][u8 type][body], little-endian. A parser turns a byte stream back into frames
 * without copying more than one frame at a time.
 */

export const FRAME = { put: 1, signal: 2, getReq: 3, getResp: 4, hello: 5 } as const;
export type FrameType = (typeof FRAME)[keyof typeof FRAME];

export interface Frame { readonly type: number; readonly body: Buffer }

/** Header of a frame whose body is `fixed` (u32/i32 words) followed by `trailingBytes` bytes. */
export function frameHeader(type: FrameType, fixed: readonly number[], trailingBytes = 0): Buffer {
  const b = Buffer.allocUnsafe(5 + 4 * fixed.length);
  b.writeUInt32LE(4 * fixed.length + trailingBytes, 0);
  b.writeUInt8(type, 4);
  fixed.forEach((v, i) => b.writeInt32LE(v | 0, 5 + 4 * i));
  return b;
}

export class FrameParser {
  private chunks: Buffer[] = [];
  private have = 0;

  /** Appends received bytes and returns every complete frame. */
  push(data: Buffer): Frame[] {
    this.chunks.push(data);
    this.have += data.length;
    const out: Frame[] = [];
    for (;;) {
      if (this.have < 5) break;
      const head = this.peek(5);
      const bodyBytes = head.readUInt32LE(0);
      if (this.have < 5 + bodyBytes) break;
      const all = this.take(5 + bodyBytes);
      out.push({ type: all.readUInt8(4), body: all.subarray(5) });
    }
    return out;
  }

  /**
   * Calls `onFrame(type, buf, bodyStart, bodyEnd)` for every complete frame, in place (no Frame
   * objects, no per-frame views). Partial frames wait, unconcatenated, until they are complete.
   */
  drain(data: Buffer, onFrame: (type: number, buf: Buffer, start: number, end: number) => void): void {
    let buf = data;
    if (this.have > 0) {
      this.chunks.push(data);
      this.have += data.length;
      if (this.have < this.pendingFrameBytes()) return;
      buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.have);
      this.chunks = [];
      this.have = 0;
    }
    let p = 0;
    while (buf.length - p >= 5) {
      const end = p + 5 + buf.readUInt32LE(p);
      if (end > buf.length) break;
      onFrame(buf[p + 4]!, buf, p + 5, end);
      p = end;
    }
    if (p < buf.length) {
      this.chunks = [buf.subarray(p)];
      this.have = buf.length - p;
    }
  }

  /** Bytes of the first pending frame (5 while its header is incomplete). */
  private pendingFrameBytes(): number {
    return this.have < 5 ? 5 : 5 + this.peek(5).readUInt32LE(0);
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    const first = this.peek(n);
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.have -= n;
    return out;
  }
}
