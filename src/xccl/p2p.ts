/**
 * Point-to-point send/recv with event ids (paper notes §2.4.1, the 8-step protocol). The sender
 * writes chunks into its ring in the receiver's region (p2p-write.ts): one slot each, header
 * [seq, eventId, chunkId, totalBytes] + payload, where seq = the ring position after the chunk.
 * On shm the seq word is stored last (the signal) and the receiver polls the slot itself, so the
 * flag and a small payload share one 128-byte pair of cache lines. Over transports that signal
 * only metadata words (tcp), seq travels in the header and a tail word is signalled after it.
 * The receiver (p2p-recv.ts) copies chunks out in order and returns credits in one head word in
 * the sender's region; a message is ACKed when head reaches the position after its last chunk
 * (its event id is written just before; p2p-credits.ts keeps what the sender knows of both).
 * `send` waits for the ACK (synchronous mode); `isend`/`irecv` return handles to poll or await
 * (asynchronous mode). Messages larger than a slot are chunked and reassembled; they stream
 * through the ring as credits come back (queued per peer, p2p-send-queue.ts). On shm, a message
 * for a receive posted into the receiver's application area is copied straight there and the ring
 * carries a one-slot marker (p2p-zero-copy.ts).
 */
import { XdsError, isXdsError } from '../core/errors.js';
import { SLOT_HEADER_BYTES } from './region.js';
import { asBytes, isPromise, type MaybePromise, type Transport, type WaitSpec } from './transport.js';
import { ACK_HEAD, DONE, OpWait, SMALL_PAYLOAD_BYTES, SendOp, WAIT_ACK, WAIT_SLOT, type RingContext } from './p2p-ops.js';
import { SlotWriter } from './p2p-write.js';
import { SendCredits } from './p2p-credits.js';
import { RecvRing } from './p2p-recv.js';
import { directSlotsOf, type DirectSlots } from './shm/slots.js';
import { ZC_MIN_BYTES, ZC_PIECE_BYTES, zeroCopyOf, type ZeroCopy } from './p2p-zero-copy.js';
import { SendQueues } from './p2p-send-queue.js';

/** A transfer that was issued; completion is polled or awaited (DeepEP/XCCL async mode). */
export interface XcclHandle<T> {
  /** Makes what progress is possible without waiting; true once complete. Throws the op's error. */
  poll(): boolean;
  /** Completes the transfer (deadline from the communicator's timeout). */
  wait(): Promise<T>;
}

/** While sends are queued, waits are cut into slices this long (µs) to pump them (parked waits; spins pump as they go). */
const PUMP_SLICE_US = 1000;
/**
 * A peer mid-message moves a word at least once per chunk copy. A streaming wait that sees no
 * progress for the time of one chunk at STALL_BYTES_PER_US (1 GB/s, well under a copy on this
 * host), and at least STALL_MIN_US, parks: the peer is not running (it shares this core or lost
 * its own), so spinning on would only hold the core it needs (docs/xccl.md, follow-up 6).
 */
const STALL_BYTES_PER_US = 1000;
const STALL_MIN_US = 50;

export class P2p implements RingContext {
  readonly payloadBytes: number;
  readonly numSlots: number;
  readonly streamStallUs: number;
  readonly zcStallUs: number;
  /** shm: slots are polled, written and read in place (signals and waits reach any word of a region). */
  readonly direct: DirectSlots | undefined;
  /** shm with an application area: zero-copy sends into posted receive buffers. */
  readonly zc: ZeroCopy | undefined;
  private readonly recvRing: RecvRing;
  private readonly sends: SendQueues; // messages waiting for ring slots
  private readonly writer: SlotWriter; // chunks into the rings toward the peers
  private readonly sendEnd: number[]; // per peer: ring position after the last issued message
  private readonly credits: SendCredits; // what each receiver has consumed and acknowledged
  private readonly syncWait: OpWait; // reused by synchronous (shm) waits

  constructor(readonly tr: Transport, private readonly timeoutUs: number) {
    const W = tr.worldSize;
    this.payloadBytes = tr.layout.config.slotBytes - SLOT_HEADER_BYTES;
    this.numSlots = tr.layout.config.numSlots;
    this.streamStallUs = Math.max(STALL_MIN_US, this.payloadBytes / STALL_BYTES_PER_US);
    this.zcStallUs = Math.max(STALL_MIN_US, ZC_PIECE_BYTES / STALL_BYTES_PER_US);
    this.direct = directSlotsOf(tr);
    this.zc = this.direct !== undefined ? zeroCopyOf(tr) : undefined;
    this.sendEnd = new Array<number>(W).fill(0);
    this.credits = new SendCredits(tr);
    this.syncWait = new OpWait(tr, timeoutUs);
    this.recvRing = new RecvRing(this);
    this.writer = new SlotWriter(tr, this.direct, this.payloadBytes, this.numSlots, this.recvRing);
    this.sends = new SendQueues(W, this.writer, (peer) => this.hasFreeSlot(peer));
  }

  /** Synchronous send: returns after the receiver's ACK. */
  send(peer: number, eventId: number, data: ArrayBufferView): Promise<void> {
    try {
      this.checkPeerArg(peer);
      const bytes = asBytes(data);
      if (this.sendSingle(peer, eventId, bytes)) return DONE;
      if (this.canSendParked(peer, bytes)) return this.sendParked(peer, eventId, bytes);
      return this.waitSend(this.issueSend(peer, eventId, bytes));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * `send` without a promise where waits block (shm: they spin, then park in place): returns after
   * the receiver's ACK, or throws. Each `await` of a promise costs a microtask turn, which on this
   * project's VM was most of a 64 B one-way trip (docs/xccl.md, follow-up 12); a rank in a tight
   * exchange loop can skip it. Over tcp, `invalid_argument`: use `send`.
   */
  sendSync(peer: number, eventId: number, data: ArrayBufferView): void {
    this.checkPeerArg(peer);
    this.checkBlockingWaits('sendSync');
    const bytes = asBytes(data);
    if (this.sendSingle(peer, eventId, bytes)) return;
    if (this.completeSend(this.issueSend(peer, eventId, bytes)) !== undefined) throw new XdsError('internal', `xccl rank ${this.tr.rank}: a blocking send met a wait that does not block`);
  }

  /** `recv` without a promise where waits block (shm); see `sendSync`. Over tcp, `invalid_argument`: use `recv`. */
  recvSync(peer: number, eventId: number, dst?: Uint8Array): Uint8Array {
    this.checkPeerArg(peer);
    this.checkBlockingWaits('recvSync');
    return this.recvRing.recvSync(peer, eventId, dst);
  }

  /** Asynchronous send: chunks that fit are written now; the handle completes on the ACK. */
  isend(peer: number, eventId: number, data: ArrayBufferView): XcclHandle<void> {
    this.checkPeerArg(peer);
    const bytes = asBytes(data);
    if (this.canWriteSingle(peer, bytes.byteLength)) {
      const endTail = (this.sendEnd[peer] = this.sendEnd[peer]! + 1);
      this.writer.write(peer, eventId, 0, bytes);
      return new SendOp(this, peer, eventId, bytes, 1, endTail, 1);
    }
    return this.issueSend(peer, eventId, bytes);
  }

  /** Receives the next message from `peer`; it must carry `eventId` and fit in `dst` when given. */
  recv(peer: number, eventId: number, dst?: Uint8Array): Promise<Uint8Array> {
    try {
      this.checkPeerArg(peer);
      return this.recvRing.recv(peer, eventId, dst);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  irecv(peer: number, eventId: number, dst?: Uint8Array): XcclHandle<Uint8Array> {
    this.checkPeerArg(peer);
    return this.recvRing.issue(peer, eventId, dst);
  }

  /** @internal handle support: makes progress on `op`; true once acknowledged. */
  pollSend(op: SendOp): boolean {
    if (!this.sends.isEmpty) this.sends.pump(op.peer);
    return op.nextChunk === op.numChunks && this.credits.isAcked(op.peer, op.endTail);
  }

  /** @internal receive side (shm): the ACK piggybacked on a slot from `peer`; see RingContext. */
  notePiggyback(peer: number, head: number, eventId: number): void {
    this.credits.notePiggyback(peer, head, eventId);
  }

  /** @internal */
  waitSend(op: SendOp): Promise<void> {
    try {
      const r = this.completeSend(op);
      return r === undefined ? DONE : r;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  hasQueuedSends(): boolean {
    return !this.sends.isEmpty;
  }

  /** The wait spec for one op: the reused instance while waits are synchronous (shm), else a new one. */
  spec(peer: number, eventId: number, kind: number, wordIdx: number, bound: number): OpWait {
    const w = this.direct !== undefined ? this.syncWait : new OpWait(this.tr, this.timeoutUs);
    return w.reset(peer, eventId, kind, wordIdx, bound);
  }

  /** Blocking calls need waits that block in place: shm's (the direct slots say shm). */
  private checkBlockingWaits(call: string): void {
    if (this.direct === undefined) throw new XdsError('invalid_argument', `xccl ${call}: blocking p2p needs a shared-memory transport, this one is ${this.tr.kind}; use the promise form`, { param: 'transport' });
  }

  private checkPeerArg(peer: number): void {
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.tr.worldSize) {
      throw new XdsError('invalid_argument', `xccl p2p: peer must be a rank in [0, ${this.tr.worldSize}), got ${peer}`, { param: 'peer' });
    }
  }

  /**
   * Whether the ring toward `peer` has a free slot. The head word is read (a cache line the
   * receiver wrote) only when the last value read says the ring is full.
   */
  private hasFreeSlot(peer: number): boolean {
    return this.credits.hasFreeSlot(peer, this.writer.tailOf(peer), this.numSlots);
  }

  /**
   * Fast path of `send` (shm, small message, nothing queued, a free slot): written in place, the ACK
   * awaited with the reused spec, no op. False when the general path must take the message.
   */
  private sendSingle(peer: number, eventId: number, bytes: Uint8Array): boolean {
    if (!this.canWriteSingle(peer, bytes.byteLength)) return false;
    const endTail = (this.sendEnd[peer] = this.sendEnd[peer]! + 1);
    this.writer.write(peer, eventId, 0, bytes);
    if (!this.credits.isAcked(peer, endTail)) this.tr.waitLocal(this.spec(peer, eventId, WAIT_ACK, this.credits.ackWord(peer, ACK_HEAD), endTail));
    this.checkAck(peer, eventId, endTail);
    return true;
  }

  /** shm, a small one-chunk message, nothing queued, a free slot: written in place at once. */
  private canWriteSingle(peer: number, n: number): boolean {
    return this.direct !== undefined && n <= SMALL_PAYLOAD_BYTES && n <= this.payloadBytes && this.sends.isEmpty && this.hasFreeSlot(peer);
  }

  /** tcp fast path of `send`: one chunk, nothing queued, a free slot, a transport that parks with callbacks. */
  private canSendParked(peer: number, bytes: Uint8Array): boolean {
    return this.direct === undefined && this.tr.parkLocal !== undefined && this.sends.isEmpty && bytes.byteLength <= this.payloadBytes && this.hasFreeSlot(peer);
  }

  /** Writes the one chunk, then one promise that the read callback storing the ACK settles (no op, no `.then`). */
  private sendParked(peer: number, eventId: number, bytes: Uint8Array): Promise<void> {
    const endTail = (this.sendEnd[peer] = this.sendEnd[peer]! + 1);
    this.writer.write(peer, eventId, 0, bytes);
    const spec = this.spec(peer, eventId, WAIT_ACK, this.credits.ackWord(peer, ACK_HEAD), endTail);
    return new Promise<void>((resolve, reject) => {
      const onAck = (): void => {
        try {
          this.checkAck(peer, eventId, endTail);
          resolve();
        } catch (e) { reject(e); }
      };
      try {
        if (this.tr.parkLocal!(spec, onAck, reject) !== undefined) onAck();
      } catch (e) { reject(e); }
    });
  }

  private issueSend(peer: number, eventId: number, bytes: Uint8Array): SendOp {
    const isZeroCopy = this.zc !== undefined && bytes.byteLength >= ZC_MIN_BYTES && this.zc.claim(peer, this.sendEnd[peer]!, eventId, bytes);
    const numChunks = isZeroCopy || bytes.byteLength <= this.payloadBytes ? 1 : Math.ceil(bytes.byteLength / this.payloadBytes);
    const endTail = (this.sendEnd[peer] = this.sendEnd[peer]! + numChunks);
    const op = new SendOp(this, peer, eventId, bytes, numChunks, endTail, 0, isZeroCopy);
    this.sends.issue(op);
    return op;
  }

  /**
   * Completes a send: synchronous while the transport's waits are (shm spins and parks in place),
   * so the fast path costs no promise hops; continues asynchronously from the first wait that is
   * a promise (tcp).
   */
  private completeSend(op: SendOp): MaybePromise<void> {
    const headWord = this.credits.ackWord(op.peer, ACK_HEAD);
    while (op.nextChunk < op.numChunks) {
      if (this.sends.pump(op.peer) === 0 || op.nextChunk === op.numChunks) break;
      const r = this.wait(this.creditWait(op, headWord));
      if (isPromise(r)) return r.then(() => this.completeSend(op));
    }
    if (!this.credits.isAcked(op.peer, op.endTail)) {
      const spec = this.spec(op.peer, op.eventId, WAIT_ACK, headWord, op.endTail);
      // The receiver is draining the message's chunks, or has a marker to read and ACK at once (zero-copy).
      if (op.numChunks > 1 || op.isZeroCopy) spec.streaming(this.streamStallUs);
      const r = this.wait(spec);
      if (isPromise(r)) return r.then(() => this.checkAck(op.peer, op.eventId, op.endTail));
    }
    this.checkAck(op.peer, op.eventId, op.endTail);
  }

  /**
   * The wait for a free slot toward `op.peer` mid-message (a credit stall): a streaming wait that,
   * once parked, is woken when half the ring (or what the message still needs) is free, not at
   * every credit: with both ranks on one core, each wake-up would otherwise hand the core over for
   * one chunk.
   */
  private creditWait(op: SendOp, headWord: number): OpWait {
    const bound = this.writer.tailOf(op.peer) - this.numSlots + 1;
    const want = Math.max(1, Math.min(op.numChunks - op.nextChunk, this.numSlots >> 1));
    return this.spec(op.peer, op.eventId, WAIT_SLOT, headWord, bound).streaming(this.streamStallUs, bound + want - 1);
  }

  private checkAck(peer: number, eventId: number, endTail: number): void {
    // The ACK's event id is checked only when no later message to this peer exists (it would overwrite the word).
    if (this.sendEnd[peer] !== endTail) return;
    const acked = this.credits.ackedEvent(peer, endTail);
    if (acked !== eventId) {
      throw new XdsError('xccl_event_mismatch', `xccl rank ${this.tr.rank}: rank ${peer} acknowledged event ${acked}, expected ${eventId}`, { param: 'eventId' });
    }
  }

  /**
   * Waits on one word; while sends are still queued for want of ring slots, waits in short slices
   * and pumps them in between, so a rank blocked in a receive still frees its peers (and itself).
   */
  wait(spec: WaitSpec): MaybePromise<number> {
    for (;;) {
      if (this.sends.isEmpty || !this.sends.pumpAll()) return this.tr.waitLocal(spec);
      const sliceUs = Math.min(spec.deadlineUs, this.tr.nowUs() + PUMP_SLICE_US);
      try {
        const slice = { wordIdx: spec.wordIdx, pred: (v: number) => spec.pred(v), peer: spec.peer, deadlineUs: sliceUs, what: spec.what, stallUs: spec.stallUs, wakeAt: spec.wakeAt, wakeWord: spec.wakeWord, poll: this.pollSends };
        const r = this.tr.waitLocal(slice);
        return isPromise(r) ? r.catch((e: unknown) => this.afterSlice(e, spec)) : r;
      } catch (e) {
        if (!this.isSliceEnd(e, spec)) throw e;
      }
    }
  }

  /** A slice that ended in `xccl_timeout` before the real deadline just loops (after a pump). */
  private isSliceEnd(e: unknown, spec: WaitSpec): boolean {
    return isXdsError(e, 'xccl_timeout') && this.tr.nowUs() < spec.deadlineUs;
  }

  private afterSlice(e: unknown, spec: WaitSpec): MaybePromise<number> {
    if (!this.isSliceEnd(e, spec)) throw e;
    return this.wait(spec);
  }

  /** WaitSpec.poll of sliced waits: pumps the queued sends between spins; true when a chunk went out. */
  private readonly pollSends = (): boolean => {
    const before = this.writer.chunksWritten;
    if (!this.sends.isEmpty) this.sends.pumpAll();
    return this.writer.chunksWritten !== before;
  };
}
