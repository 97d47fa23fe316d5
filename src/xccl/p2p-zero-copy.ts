/**
 * Zero-copy p2p into a registered receive buffer (issue 5: "the application area (KV blocks,
 * activations) can be registered too, so that a zero-copy path is possible"; paper notes §2.4.1,
 * memory semantics: the sender writes straight into the receiver's memory). shm only.
 *
 * Rendezvous in the metadata area: a receive whose destination lies in the receiver's application
 * area posts it, as [seq, pos, offset, maxBytes, eventId] in the post field of the sender's region
 * (field p2pPostField + receiver): "my next message from you starts at ring position `pos`; put
 * it at byte `offset` of my region". A sender whose next message starts at exactly `pos`, carries
 * `eventId` and fits, claims the post (compare-and-swap of seq), copies the message straight into
 * the receiver's region (one copy instead of sender → ring slot → receiver's buffer), and then
 * writes a one-slot *marker* into the ring (chunk id ZC_CHUNK, no payload): ring order, credits,
 * the ACK and every error path stay those of the ring protocol. Anything else takes the ring: a
 * post that arrives late, another event id, a bigger message, a small one. Such a post is dead
 * (the sender's ring position has passed `pos`) and is retired when the message at `pos` is read.
 *
 * seq of post k (k = 1, 2, ...): 2k - 1 while open, 2k once claimed (sender) or retired
 * (receiver), both by compare-and-swap from 2k - 1, so exactly one of them wins. The receiver
 * writes the fields of post k + 1 only after seq left 2k - 1, and a claim checks them before its
 * swap: a claim that succeeds read the fields of the post it claimed.
 *
 * The copy goes in pieces of ZC_PIECE_BYTES, claimed one by one from a counter in the post field,
 * each followed by an add to a progress count in the receiver's region (word IN_ZC_PROGRESS of its
 * p2p-in field for this sender): the receiver's wait for the marker is a streaming wait on that
 * progress (p2p-recv.ts), so a receiver that shares its core with the copying sender parks instead
 * of spinning through the slice the copy needs (the one-core mode of docs/xccl.md follow-up 6).
 *
 * Two-sided copy: when the send's source lies in the sender's own application area (a KV block
 * handed from one registered cache to another), the claim publishes where, and a receiver that is
 * waiting for this message claims pieces from the same counter and copies them itself, from the
 * sender's region into its own: one copy of the message, split between two cores (a 1 MiB copy
 * between cores is bound by what one core moves; docs/xccl.md follow-up 11). The sender writes the
 * marker once no piece is left to claim; a piece the receiver still copies then is done before
 * the receiver reads the marker (it copies inside its wait), and the send completes only at the
 * ACK, after that, so the source is not reused while the receiver reads it.
 */
import { wordOf } from './region.js';
import { copyBytes, copyBytesClaimed } from './copy.js';
import { IN_ZC_PROGRESS } from './p2p-ops.js';
import { ShmTransport } from './shm/shm-transport.js';
import type { Transport } from './transport.js';

/** Messages from this size are sent zero-copy when posted; a posted destination must be at least this big. */
export const ZC_MIN_BYTES = 16 << 10;
/** Chunk id of the marker slot that completes a zero-copy message (its payload already lies at the post). */
export const ZC_CHUNK = -1;
/** A zero-copy copy is claimed, and signals its progress, in pieces this big. */
export const ZC_PIECE_BYTES = 256 << 10;

// Words of a post field (in the sender's region, one field per receiver).
const P_SEQ = 0;
const P_POS = 1;
const P_OFF = 2;
const P_MAX = 3;
const P_EVENT = 4;
// Written by the sender before its claim: the source's byte offset in its region (-1: not in shared memory), the bytes, the next piece to claim.
const P_SRC = 5;
const P_BYTES = 6;
const P_NEXT = 7;

export class ZeroCopy {
  /** Counts (tests and the bench): zero-copy sends, zero-copy receives, posts that were not used, pieces this rank copied as the receiver. */
  readonly stats = { sent: 0, received: 0, unused: 0, helped: 0 };
  /** Test only (p2p-zero-copy.test.ts): run by a claim after its compare-and-swap, before the copy. */
  afterClaimForTest: ((peer: number) => void) | undefined = undefined;
  private readonly words: Int32Array[]; // [worldSize] regions, [totalBytes / 4] i32 each
  private readonly bytes: Uint8Array[]; // [worldSize] regions, [totalBytes] u8 each
  private readonly posts: number[]; // receiver, per sender: posts made (k of the last one)
  private readonly isOpen: boolean[]; // receiver, per sender: the last post is neither claimed nor retired, as far as known
  private readonly postedOff: number[]; // receiver, per sender: byte offset in my region of the last post's destination
  private readonly isClaimed: boolean[]; // receiver, per sender: a withdrawal lost, the claimed message's marker is not read yet (its bytes go to postedOff)
  private readonly appStart: number; // byte range of the application area in every region
  private readonly appEnd: number;
  private pollPeer = 0; // receiver: the sender whose copy `poll` watches, and the progress it saw last
  private pollSeen = 0;

  constructor(private readonly tr: ShmTransport) {
    const W = tr.worldSize;
    this.words = Array.from({ length: W }, (_, r) => tr.regionWords(r));
    this.bytes = Array.from({ length: W }, (_, r) => tr.regionBytes(r));
    this.posts = new Array<number>(W).fill(0);
    this.isOpen = new Array<boolean>(W).fill(false);
    this.postedOff = new Array<number>(W).fill(0);
    this.isClaimed = new Array<boolean>(W).fill(false);
    this.appStart = tr.layout.appOffset;
    this.appEnd = tr.layout.appOffset + tr.layout.config.appBytes;
  }

  /** Byte offset in my region of `dst` when it lies in my application area and is big enough to post; else -1. */
  postableOffset(dst: Uint8Array | undefined): number {
    return dst === undefined || dst.byteLength < ZC_MIN_BYTES ? -1 : this.appOffset(dst);
  }

  /** Byte offset in my region of `a` when it lies in my application area; else -1. */
  private appOffset(a: Uint8Array): number {
    const local = this.tr.local;
    if (a.buffer !== local.buffer) return -1;
    const off = a.byteOffset - local.byteOffset;
    return off >= this.appStart && off + a.byteLength <= this.appEnd ? off : -1;
  }

  /** Receiver: posts `dst` (at byte `off` of my region) for the message from `peer` at ring position `pos`. */
  post(peer: number, pos: number, off: number, maxBytes: number, eventId: number): void {
    if (this.isOpen[peer]) this.retire(peer);
    if (this.isClaimed[peer]) return; // the message at `pos` is claimed already (its receive was cancelled): no post
    const w = this.words[peer]!;
    const f = wordOf(this.tr.layout.p2pPostField + this.tr.rank);
    const k = ++this.posts[peer]!;
    w[f + P_POS] = pos;
    w[f + P_OFF] = off;
    w[f + P_MAX] = maxBytes;
    w[f + P_EVENT] = eventId;
    Atomics.store(w, f + P_SEQ, 2 * k - 1);
    this.isOpen[peer] = true;
    this.postedOff[peer] = off;
  }

  /**
   * Receiver: the last post to `peer` will not be used (its message took the ring, or the receive
   * failed). True when it was withdrawn; false when the sender had claimed it (its bytes land there).
   */
  retire(peer: number): boolean {
    if (!this.isOpen[peer]) return true;
    this.isOpen[peer] = false;
    const f = wordOf(this.tr.layout.p2pPostField + this.tr.rank);
    const open = 2 * this.posts[peer]! - 1;
    const won = Atomics.compareExchange(this.words[peer]!, f + P_SEQ, open, open + 1) === open;
    if (won) this.stats.unused++;
    else this.isClaimed[peer] = true;
    return won;
  }

  /** Receiver: whether a post to `peer` may be open (a ring message from it then retires it). */
  hasOpenPost(peer: number): boolean {
    return this.isOpen[peer]!;
  }

  /**
   * Receiver: a marker from `peer` said its message of `total` bytes lies at the last post. Copies
   * it into `dst` unless `dst` is that very destination (a `recv` that timed out after its post
   * was claimed is cancelled and leaves the bytes, at its buffer, to the next receive).
   */
  landed(peer: number, dst: Uint8Array, total: number): void {
    this.isOpen[peer] = false;
    this.isClaimed[peer] = false;
    this.stats.received++;
    const off = this.postedOff[peer]!;
    const local = this.tr.local;
    if (dst.buffer === local.buffer && dst.byteOffset === local.byteOffset + off) return;
    copyBytes(dst, 0, local, off, total);
  }

  /**
   * Sender: claims `peer`'s post when it is for ring position `pos` and event `eventId` and `bytes`
   * fit, and copies `bytes` into its region there. False (nothing written): the ring takes it.
   */
  claim(peer: number, pos: number, eventId: number, bytes: Uint8Array): boolean {
    const w = this.tr.localWords;
    const f = wordOf(this.tr.layout.p2pPostField + peer);
    const seq = Atomics.load(w, f + P_SEQ);
    if ((seq & 1) === 0 || w[f + P_POS] !== pos || w[f + P_EVENT] !== eventId) return false;
    const n = bytes.byteLength;
    const off = w[f + P_OFF]!;
    if (n > w[f + P_MAX]! || off < this.appStart || off + n > this.appEnd) return false;
    w[f + P_SRC] = this.appOffset(bytes);
    w[f + P_BYTES] = n;
    w[f + P_NEXT] = 0;
    if (Atomics.compareExchange(w, f + P_SEQ, seq, seq + 1) !== seq) return false; // publishes the three words above with the claim
    this.afterClaimForTest?.(peer);
    copyBytesClaimed(this.bytes[peer]!, off, bytes, 0, n, ZC_PIECE_BYTES, w, f + P_NEXT, this.words[peer]!, wordOf(this.tr.layout.p2pInField + this.tr.rank, IN_ZC_PROGRESS));
    this.stats.sent++;
    return true;
  }

  /**
   * Receiver: when `peer` claimed my open post for a source in its shared memory and pieces are
   * left to claim, copies them (from its region into mine) until none is; the pieces copied.
   */
  private help(peer: number): number {
    const w = this.words[peer]!;
    const f = wordOf(this.tr.layout.p2pPostField + this.tr.rank);
    const src = w[f + P_SRC]!;
    const n = w[f + P_BYTES]!;
    if (src < 0 || Atomics.load(w, f + P_NEXT) * ZC_PIECE_BYTES >= n) return 0;
    const mine = copyBytesClaimed(this.tr.local, this.postedOff[peer]!, this.bytes[peer]!, src, n, ZC_PIECE_BYTES, w, f + P_NEXT, this.tr.localWords, wordOf(this.tr.layout.p2pInField + peer, IN_ZC_PROGRESS));
    this.stats.helped += mine;
    return mine;
  }

  /**
   * Receiver: WaitSpec.poll for the wait on the marker from `peer` (see `poll`). A wait that uses
   * it must be a streaming wait with stallUs of about one piece's copy.
   */
  watch(peer: number): () => boolean {
    this.pollPeer = peer;
    this.pollSeen = Atomics.load(this.tr.localWords, wordOf(this.tr.layout.p2pInField + peer, IN_ZC_PROGRESS));
    return this.poll;
  }

  /**
   * True (progress) while the post to the watched sender is not claimed yet (the sender is not
   * copying: the wait spins on as a plain one), and when a piece was copied since the last call.
   * Once the post is claimed, copies what pieces are left when the source is shared (`help`).
   */
  private readonly poll = (): boolean => {
    const peer = this.pollPeer;
    const f = wordOf(this.tr.layout.p2pPostField + this.tr.rank);
    if ((Atomics.load(this.words[peer]!, f + P_SEQ) & 1) === 1) return true;
    if (this.help(peer) > 0) return true;
    const v = Atomics.load(this.tr.localWords, wordOf(this.tr.layout.p2pInField + peer, IN_ZC_PROGRESS));
    if (v === this.pollSeen) return false;
    this.pollSeen = v;
    return true;
  };
}

/** The zero-copy path of a transport that maps its peers' memory (shm); undefined elsewhere (tcp keeps the ring). */
export function zeroCopyOf(tr: Transport): ZeroCopy | undefined {
  return tr instanceof ShmTransport && tr.layout.config.appBytes >= ZC_MIN_BYTES ? new ZeroCopy(tr) : undefined;
}
