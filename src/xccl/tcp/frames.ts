/**
 * Framing of the `tcp` transport (paper notes §2.4 semantics over sockets): every frame is
 * [u32 bodyBytes][u8 type][body], little-endian. Bodies (i32 words):
 *   put      [offset, payloadBytes][payload][wordIdx, value]*   (the signals that follow the put)
 *   signals  [wordIdx, value]+
 *   getReq   [reqId, offset, bytes]        getResp [reqId][bytes]        hello [rank] The parser is fed each read as it arrives (a
 * view of a read buffer that the socket reuses, see tcp-transport.ts), applies complete frames in
 * place and copies only a frame that spans reads, once, into its own assembly buffer.
 */

export const FRAME = { put: 1, signals: 2, getReq: 3, getResp: 4, hello: 5 } as const;
export type FrameType = (typeof FRAME)[keyof typeof FRAME];

/** Bytes of `[u32 bodyBytes][u8 type]`. */
export const FRAME_HEAD_BYTES = 5;

/** Receives a complete frame whose body is `buf[start, end)`; `buf` is only valid during the call. */
export type FrameHandler = (type: number, buf: Buffer, start: number, end: number) => void;

/** Header of a frame whose body is `fixed` (u32/i32 words) followed by `trailingBytes` bytes. */
export function frameHeader(type: FrameType, fixed: readonly number[], trailingBytes = 0): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEAD_BYTES + 4 * fixed.length);
  b.writeUInt32LE(4 * fixed.length + trailingBytes, 0);
  b.writeUInt8(type, 4);
  fixed.forEach((v, i) => b.writeInt32LE(v | 0, FRAME_HEAD_BYTES + 4 * i));
  return b;
}

/** An assembly buffer bigger than this (left by a large frame) is dropped once that frame is applied. */
const KEEP_ASSEMBLY_BYTES = 1 << 20;

export class FrameParser {
  private asm: Buffer = Buffer.allocUnsafe(256); // [capacity] u8: the frame that spans reads
  private asmLen = 0; // bytes of it held; 0 = no partial frame
  private asmNeed = 0; // its total bytes, known once its header is complete

  /**
   * Calls `onFrame` for every complete frame in `data[0, n)`, in order, after any frame left
   * partial by the previous read. `data` is not referenced after the call (the caller may reuse it).
   */
  drain(data: Buffer, n: number, onFrame: FrameHandler): void {
    let p = this.asmLen > 0 ? this.assemble(data, 0, n, onFrame) : 0;
    while (n - p >= FRAME_HEAD_BYTES) {
      const end = p + FRAME_HEAD_BYTES + data.readUInt32LE(p);
      if (end > n) break;
      onFrame(data[p + 4]!, data, p + FRAME_HEAD_BYTES, end);
      p = end;
    }
    if (p < n) this.assemble(data, p, n, onFrame);
  }

  /** Bytes of a partial frame held between reads (0 when reads ended on a frame boundary). */
  get pendingBytes(): number {
    return this.asmLen;
  }

  /** Appends `data[p, n)` to the partial frame, applying it once complete; returns the end of what it consumed. */
  private assemble(data: Buffer, p: number, n: number, onFrame: FrameHandler): number {
    if (this.asmLen < FRAME_HEAD_BYTES) {
      p = this.append(data, p, Math.min(n, p + FRAME_HEAD_BYTES - this.asmLen));
      if (this.asmLen < FRAME_HEAD_BYTES) return p;
      this.reserve(FRAME_HEAD_BYTES + this.asm.readUInt32LE(0));
    }
    p = this.append(data, p, Math.min(n, p + this.asmNeed - this.asmLen));
    if (this.asmLen < this.asmNeed) return p;
    this.asmLen = 0;
    onFrame(this.asm[4]!, this.asm, FRAME_HEAD_BYTES, this.asmNeed);
    if (this.asm.length > KEEP_ASSEMBLY_BYTES) this.asm = Buffer.allocUnsafe(256);
    return p;
  }

  private append(data: Buffer, from: number, to: number): number {
    this.asmLen += data.copy(this.asm, this.asmLen, from, to);
    return to;
  }

  /** Makes the assembly buffer hold a frame of `need` bytes, keeping its header. */
  private reserve(need: number): void {
    this.asmNeed = need;
    if (this.asm.length >= need) return;
    const grown = Buffer.allocUnsafe(need);
    this.asm.copy(grown, 0, 0, this.asmLen);
    this.asm = grown;
  }
}
