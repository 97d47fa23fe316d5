/**
 * In-place slot access for p2p over shm (paper notes §2.4.1: a put is a store into the peer's
 * memory plus a flag). Small chunks are written and read as i32 words straight between the user's
 * buffer and the ring slot: on shared memory, `TypedArray.set` and the views it needs cost
 * 40–120 ns for 64 B, a word loop 15–20 ns. The flag (the slot's seq word) is stored by the
 * caller with `Transport.signal`, after these plain stores.
 */
import { SLOT_HEADER_BYTES } from '../region.js';
import { copyBytes } from '../copy.js';
import { SMALL_PAYLOAD_BYTES } from '../p2p-ops.js';
import type { Transport } from '../transport.js';
import { ShmTransport } from './shm-transport.js';

/** The Int32Array view of a 4-byte-aligned Uint8Array, cached for the last array seen (callers reuse buffers). */
export class WordView {
  private bytes: Uint8Array | undefined;
  private words: Int32Array | undefined;

  of(a: Uint8Array): Int32Array | undefined {
    if (a === this.bytes) return this.words;
    this.bytes = a;
    this.words = (a.byteOffset & 3) === 0 ? new Int32Array(a.buffer, a.byteOffset, a.byteLength >> 2) : undefined;
    return this.words;
  }
}

/** dst[dOff, dOff + n) = src[sOff, sOff + n) // u8, as words then tail bytes; both offsets 4-aligned; `*32` view the same bytes. */
export function copyWords(dst: Uint8Array, dst32: Int32Array, dOff: number, src: Uint8Array, src32: Int32Array, sOff: number, n: number): void {
  const w = n >> 2;
  const d = dOff >> 2;
  const s = sOff >> 2;
  for (let i = 0; i < w; i++) dst32[d + i] = src32[s + i]!;
  for (let i = w << 2; i < n; i++) dst[dOff + i] = src[sOff + i]!;
}

/**
 * copyWords from the last byte down: the payload's later cache line is written first and the
 * flag's line last, so the reader polling the flag line loses it for as short a time as possible.
 */
export function copyWordsDown(dst: Uint8Array, dst32: Int32Array, dOff: number, src: Uint8Array, src32: Int32Array, sOff: number, n: number): void {
  const d = dOff >> 2;
  const s = sOff >> 2;
  for (let i = n - 1; i >= (n & ~3); i--) dst[dOff + i] = src[sOff + i]!;
  for (let i = (n >> 2) - 1; i >= 0; i--) dst32[d + i] = src32[s + i]!;
}

/** Byte-loop copy, for small unaligned buffers (still cheaper than `set` with a view on shared memory). */
function copyLoop(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dOff + i] = src[sOff + i]!;
}

export class DirectSlots {
  private readonly srcView = new WordView();
  private readonly dstView = new WordView();
  private readonly local: Uint8Array; // [totalBytes] u8 own region
  private readonly local32: Int32Array; // [totalBytes / 4] i32 own region
  private readonly bytesOf: Uint8Array[]; // [worldSize] regions, [totalBytes] u8 each
  private readonly wordsOf: Int32Array[]; // [worldSize] regions, [totalBytes / 4] i32 each

  constructor(private readonly tr: ShmTransport) {
    this.local = tr.regionBytes(tr.rank);
    this.local32 = tr.regionWords(tr.rank);
    this.bytesOf = Array.from({ length: tr.worldSize }, (_, r) => tr.regionBytes(r));
    this.wordsOf = Array.from({ length: tr.worldSize }, (_, r) => tr.regionWords(r));
  }

  /**
   * Writes header words 1..5 (eventId, chunkId, total, ackHead, ackEvent) and bytes[start, start + n)
   * as the payload of the slot at byte `off` of `peer`'s region: as words up to SMALL_PAYLOAD_BYTES,
   * else memcpy. `ackHead`/`ackEvent`: this rank's receive state of `peer`'s ring (the piggybacked ACK).
   */
  writeSlot(peer: number, off: number, eventId: number, chunkId: number, bytes: Uint8Array, start: number, n: number, ackHead: number, ackEvent: number): void {
    const w = this.wordsOf[peer]!;
    const dOff = off + SLOT_HEADER_BYTES;
    if (n > SMALL_PAYLOAD_BYTES) {
      this.writeHeader(w, off >> 2, eventId, chunkId, bytes.byteLength, ackHead, ackEvent);
      return copyBytes(this.bytesOf[peer]!, dOff, bytes, start, n);
    }
    // A small payload first, from its end, then the header: the flag's line gets its stores last and together.
    const p32 = this.srcView.of(bytes); // start is a multiple of the (4-aligned) payload size
    if (p32) copyWordsDown(this.bytesOf[peer]!, w, dOff, bytes, p32, start, n);
    else copyLoop(this.bytesOf[peer]!, dOff, bytes, start, n);
    this.writeHeader(w, off >> 2, eventId, chunkId, bytes.byteLength, ackHead, ackEvent);
  }

  /** Header words 1..5 of the slot at word `h` (word 0, the flag, is the caller's signal). */
  private writeHeader(w: Int32Array, h: number, eventId: number, chunkId: number, total: number, ackHead: number, ackEvent: number): void {
    w[h + 1] = eventId;
    w[h + 2] = chunkId;
    w[h + 3] = total;
    w[h + 4] = ackHead;
    w[h + 5] = ackEvent;
  }

  /** dst[0, n) = payload of the own slot at byte `off`. */
  readSlot(off: number, dst: Uint8Array, n: number): void {
    const d32 = this.dstView.of(dst);
    if (d32) copyWords(dst, d32, 0, this.local, this.local32, off + SLOT_HEADER_BYTES, n);
    else copyLoop(dst, 0, this.local, off + SLOT_HEADER_BYTES, n);
  }

  /** Plain store of word `idx` of `peer`'s region (published by a later signal). */
  store(peer: number, idx: number, value: number): void {
    this.wordsOf[peer]![idx] = value;
  }
}

/** The in-place slot access of a transport, when it maps its peers' memory (shm). */
export function directSlotsOf(tr: Transport): DirectSlots | undefined {
  return tr instanceof ShmTransport ? new DirectSlots(tr) : undefined;
}
