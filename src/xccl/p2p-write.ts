/**
 * The sender's half of the ring protocol at the level of one chunk (paper notes §2.4.1, the 8-step
 * protocol; p2p.ts has the messages, queues and waits): chunk `chunkId` of a message goes into
 * the next slot of my ring in the receiver's region, header [seq, eventId, chunkId, totalBytes] +
 * payload, seq = the ring position after the chunk. On shm the slot is written in place with seq
 * stored last (its flag), carrying the ACK this rank owes the receiver (piggybacked); over tcp
 * header and payload are puts and a tail word is signalled after them.
 */
import { SLOT_HEADER_BYTES, ringSlotOffset, wordOf } from './region.js';
import type { Transport } from './transport.js';
import { H_CHUNK, H_EVENT, H_SEQ, H_TOTAL, IN_TAIL, SMALL_PAYLOAD_BYTES } from './p2p-ops.js';
import type { DirectSlots } from './shm/slots.js';

/** What the writer reads of the receive side: the ACK it piggybacks on each shm slot. */
export interface PiggybackSource {
  headOf(peer: number): number;
  lastEventOf(peer: number): number;
}

export class SlotWriter {
  /** Chunks written over all peers (progress of queued sends, for WaitSpec.poll). */
  chunksWritten = 0;
  private readonly tail: number[]; // per peer: chunks written
  private readonly slot: number[]; // per peer: ring slot index of the next chunk (tail mod numSlots)
  private readonly ringBase: number; // byte offset of my ring (slot 0) in every peer's region
  private readonly slotStride: number;
  // Scratch slot for puts through the transport: header + a small payload, so a small chunk is one put.
  private readonly scratch = new Uint8Array(SLOT_HEADER_BYTES + SMALL_PAYLOAD_BYTES); // [16 + 256] u8
  private readonly header = new Int32Array(this.scratch.buffer, 0, 4); // [4] i32
  private staged: Uint8Array; // the scratch view of the last small put (reused while sizes repeat)

  constructor(
    private readonly tr: Transport,
    private readonly direct: DirectSlots | undefined,
    private readonly payloadBytes: number,
    private readonly numSlots: number,
    private readonly acks: PiggybackSource,
  ) {
    this.tail = new Array<number>(tr.worldSize).fill(0);
    this.slot = new Array<number>(tr.worldSize).fill(0);
    this.ringBase = ringSlotOffset(tr.layout, tr.rank, 0);
    this.slotStride = tr.layout.slotStride;
    this.staged = this.scratch.subarray(0, SLOT_HEADER_BYTES);
  }

  /** Chunks written toward `peer` (the ring position after the last one). */
  tailOf(peer: number): number {
    return this.tail[peer]!;
  }

  /** Chunk `chunkId` of message `bytes` into the next slot toward `peer`, then its signal (ZC_CHUNK: a marker, no payload). */
  write(peer: number, eventId: number, chunkId: number, bytes: Uint8Array): void {
    const seq = this.tail[peer]! + 1;
    const slot = this.slot[peer]!;
    const off = this.ringBase + slot * this.slotStride;
    const start = chunkId * this.payloadBytes;
    const n = chunkId < 0 ? 0 : Math.min(this.payloadBytes, bytes.byteLength - start);
    this.tail[peer] = seq;
    this.chunksWritten++;
    this.slot[peer] = slot + 1 === this.numSlots ? 0 : slot + 1;
    if (this.direct !== undefined) {
      this.direct.writeSlot(peer, off, eventId, chunkId, bytes, start, n, this.acks.headOf(peer), this.acks.lastEventOf(peer));
      this.tr.signal(peer, (off >> 2) + H_SEQ, seq); // the slot's flag: after its header and payload
    } else {
      this.header[H_SEQ] = seq;
      this.putSlot(peer, off, eventId, chunkId, bytes.byteLength, n === bytes.byteLength ? bytes : bytes.subarray(start, start + n));
      this.tr.signal(peer, wordOf(this.tr.layout.p2pInField + this.tr.rank, IN_TAIL), seq);
    }
  }

  /** Header + payload through the transport (tcp): one put when small. */
  private putSlot(peer: number, off: number, eventId: number, chunkId: number, total: number, payload: Uint8Array): void {
    const h = this.header;
    h[H_EVENT] = eventId;
    h[H_CHUNK] = chunkId;
    h[H_TOTAL] = total;
    const n = payload.byteLength;
    if (n <= SMALL_PAYLOAD_BYTES) {
      if (n > 0) this.scratch.set(payload, SLOT_HEADER_BYTES);
      if (this.staged.byteLength !== SLOT_HEADER_BYTES + n) this.staged = this.scratch.subarray(0, SLOT_HEADER_BYTES + n);
      this.tr.put(peer, off, this.staged);
      return;
    }
    this.tr.put(peer, off, this.scratch.subarray(0, SLOT_HEADER_BYTES));
    this.tr.put(peer, off + SLOT_HEADER_BYTES, payload);
  }
}
