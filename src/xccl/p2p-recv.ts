/**
 * The receive side of p2p (paper notes §2.4.1, steps 5–8 of the 8-step protocol; the protocol is
 * described in p2p.ts): chunks are copied out of the ring in order, each slot's credit goes back
 * in the sender's head word, and a message's event id is written just before its final head (the
 * ACK). `recv` on an empty queue takes a fast path without an op: on shm without a closure or a
 * promise per wait; over tcp (`Transport.parkLocal`) with one promise, settled from the read
 * callback that stores the ring's tail, after the chunk was copied out. On shm, the first queued
 * receive whose buffer lies in the application area posts it (p2p-zero-copy.ts): at issue when it
 * is first, else just before the ACK of the message ahead of it, so a sender that sees that ACK
 * sees the post; a marker in the ring then says the bytes are already there.
 */
import { XdsError } from '../core/errors.js';
import { SLOT_HEADER_BYTES, ringSlotOffset, wordOf } from './region.js';
import { copyBytes } from './copy.js';
import { ZC_CHUNK } from './p2p-zero-copy.js';
import { isPromise, type MaybePromise } from './transport.js';
import { H_ACK_EVENT, H_ACK_HEAD, H_EVENT, H_SEQ, H_TOTAL, H_CHUNK, IN_TAIL, ACK_EVENT, ACK_HEAD, RecvOp, WAIT_DATA, SMALL_PAYLOAD_BYTES, type OpWait, type RingContext } from './p2p-ops.js';

export class RecvRing {
  private readonly queues: RecvOp[][];
  private readonly head: number[]; // per sender: chunks consumed
  private readonly headSlot: number[]; // per sender: ring slot index of the chunk at `head` (head mod numSlots)
  private readonly lastEvent: number[]; // per sender: event id of the last message completed (its ACK's event id)
  private readonly ringBase: number[]; // per sender: byte offset of its ring (slot 0) in my region
  private readonly isParked: boolean[]; // per sender: a fast-path recv waits in parkLocal (later receives queue behind it)
  private readonly localI32: Int32Array; // [totalBytes / 4] i32 view of the own region (slot headers)
  private readonly ackBase: number; // word index of my ACK field in any sender's region
  private lastOut: Uint8Array | undefined; // the last buffer a recv resolved to, and its promise (reused while it repeats)
  private lastOutPromise: Promise<Uint8Array> | undefined;

  constructor(private readonly c: RingContext) {
    const { tr } = c;
    this.queues = Array.from({ length: tr.worldSize }, () => []);
    this.head = new Array<number>(tr.worldSize).fill(0);
    this.headSlot = new Array<number>(tr.worldSize).fill(0);
    this.lastEvent = new Array<number>(tr.worldSize).fill(0);
    this.ringBase = Array.from({ length: tr.worldSize }, (_, p) => ringSlotOffset(tr.layout, p, 0));
    this.isParked = new Array<boolean>(tr.worldSize).fill(false);
    this.localI32 = new Int32Array(tr.local.buffer, tr.local.byteOffset, tr.local.byteLength >> 2);
    this.ackBase = wordOf(tr.layout.p2pAckField + tr.rank);
  }

  /** Chunks consumed from `peer`'s ring (what the head word in its region says once signalled). */
  headOf(peer: number): number {
    return this.head[peer]!;
  }

  /** Event id of the last message completed from `peer`. */
  lastEventOf(peer: number): number {
    return this.lastEvent[peer]!;
  }

  recv(peer: number, eventId: number, dst: Uint8Array | undefined): Promise<Uint8Array> {
    if (this.mayTakeFastPath(peer, dst)) {
      if (this.canPark(peer)) return this.recvParked(peer, eventId, dst);
      const got = this.recvSingle(peer, eventId, dst);
      if (got !== undefined) return this.resolved(got);
    }
    return this.waitOnce(this.issue(peer, eventId, dst));
  }

  /**
   * `recv` without a promise, for transports whose waits block (shm; P2p.recvSync checks): the
   * message, or a throw. A failed wait cancels the receive as in `waitOnce`.
   */
  recvSync(peer: number, eventId: number, dst: Uint8Array | undefined): Uint8Array {
    if (this.mayTakeFastPath(peer, dst)) {
      const got = this.recvSingle(peer, eventId, dst);
      if (got !== undefined) return got;
    }
    const op = this.issue(peer, eventId, dst);
    let r: MaybePromise<Uint8Array>;
    try {
      r = this.complete(op);
    } catch (e) {
      this.unqueue(op);
      throw e;
    }
    if (isPromise(r)) throw new XdsError('internal', `xccl rank ${this.c.tr.rank}: a blocking receive met a wait that does not block`);
    return r;
  }

  /**
   * The queued path of `recv`: the application holds no handle, so a receive whose wait fails
   * before its message started (a timeout) is cancelled, as the fast paths leave nothing queued;
   * kept, it would take the next message from `peer` with nobody to see it. (A handle from
   * `irecv` that times out stays first in line and may be waited again.)
   */
  private waitOnce(op: RecvOp): Promise<Uint8Array> {
    try {
      const r = this.complete(op);
      return isPromise(r) ? r.catch((e: unknown) => this.cancel(op, e)) : Promise.resolve(r);
    } catch (e) {
      return this.cancel(op, e);
    }
  }

  /** Takes `op` out of its queue unless its message has started (its post was retired in `complete`); rejects with `e`. */
  private cancel(op: RecvOp, e: unknown): Promise<never> {
    this.unqueue(op);
    return Promise.reject(e);
  }

  private unqueue(op: RecvOp): void {
    const q = this.queues[op.peer]!;
    const i = q.indexOf(op);
    if (i >= 0 && op.nextChunk === 0) q.splice(i, 1);
  }

  /** tcp fast path: nothing has arrived yet, waits are not sliced, the transport parks with callbacks. */
  private canPark(peer: number): boolean {
    const head = this.head[peer]!;
    return this.c.direct === undefined && this.c.tr.parkLocal !== undefined && !this.c.hasQueuedSends() && !this.hasArrived(peer, this.slotOf(peer), head);
  }

  /**
   * Fast path of `recv` over tcp: one promise, settled from the read callback that stores the
   * ring's tail (the chunk is copied out and credited there). Errors and multi-chunk messages go to
   * the general path, at the head of the queue.
   */
  private recvParked(peer: number, eventId: number, dst: Uint8Array | undefined): Promise<Uint8Array> {
    const head = this.head[peer]!;
    const spec = this.c.spec(peer, eventId, WAIT_DATA, this.dataWord(peer, 0), head + 1);
    return new Promise<Uint8Array>((resolve, reject) => {
      const onError = (e: unknown): void => { this.isParked[peer] = false; reject(e); };
      const onData = (): void => {
        this.isParked[peer] = false;
        try {
          const got = this.recvSingle(peer, eventId, dst);
          if (got !== undefined) resolve(got);
          else this.waitRecv(this.issueFirst(peer, eventId, dst)).then(resolve, reject);
        } catch (e) { reject(e); }
      };
      this.isParked[peer] = true;
      try {
        if (this.c.tr.parkLocal!(spec, onData, onError) !== undefined) onData();
      } catch (e) { onError(e); }
    });
  }

  /** An op ahead of every queued receive (the message in the ring is the parked receive's). */
  private issueFirst(peer: number, eventId: number, dst: Uint8Array | undefined): RecvOp {
    const op = new RecvOp(this, peer, eventId, dst);
    this.queues[peer]!.unshift(op);
    return op;
  }

  issue(peer: number, eventId: number, dst: Uint8Array | undefined): RecvOp {
    const op = new RecvOp(this, peer, eventId, dst);
    const q = this.queues[peer]!;
    q.push(op);
    if (q.length === 1 && this.c.zc !== undefined && !this.isParked[peer] && !this.hasArrived(peer, this.slotOf(peer), this.head[peer]!)) this.post(op, this.head[peer]!);
    return op;
  }

  /** Nothing queued or parked toward `peer` and `dst` not to be posted: a receive may skip the op. */
  private mayTakeFastPath(peer: number, dst: Uint8Array | undefined): boolean {
    return this.queues[peer]!.length === 0 && !this.isParked[peer] && !this.isPostable(dst);
  }

  /** Whether `dst` is a zero-copy destination (then receives take the queued path, which posts it). */
  private isPostable(dst: Uint8Array | undefined): boolean {
    return dst !== undefined && this.c.zc !== undefined && this.c.zc.postableOffset(dst) >= 0;
  }

  /** Posts the buffer of `op` (if it is a zero-copy destination) for the message at ring position `pos`. */
  private post(op: RecvOp, pos: number): void {
    const zc = this.c.zc;
    const off = zc === undefined ? -1 : zc.postableOffset(op.dst);
    if (off >= 0) zc!.post(op.peer, pos, off, op.dst!.byteLength, op.eventId);
  }

  /** A resolved promise of `out`, reused while receives land in the same buffer (a promise costs ~50 ns). */
  private resolved(out: Uint8Array): Promise<Uint8Array> {
    if (out !== this.lastOut) {
      this.lastOut = out;
      this.lastOutPromise = Promise.resolve(out);
    }
    return this.lastOutPromise!;
  }

  /** @internal handle support: copies out what has arrived; true once `op` is complete. Throws its error. */
  pollRecv(op: RecvOp): boolean {
    this.pump(op.peer, op);
    if (op.error !== undefined) throw op.error;
    return op.done;
  }

  /** @internal */
  waitRecv(op: RecvOp): Promise<Uint8Array> {
    try {
      const r = this.complete(op);
      return isPromise(r) ? r : Promise.resolve(r);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Slot offset of the next chunk (ring position `head[peer]`) of the ring from `peer`. */
  private slotOf(peer: number): number {
    return this.ringBase[peer]! + this.headSlot[peer]! * this.c.tr.layout.slotStride;
  }

  /** The word a receiver waits on for the chunk at `off`: the slot's seq in place, else the ring's tail. */
  private dataWord(peer: number, off: number): number {
    return this.c.direct !== undefined ? (off >> 2) + H_SEQ : wordOf(this.c.tr.layout.p2pInField + peer, IN_TAIL);
  }

  /**
   * Whether the chunk at ring position `head` (slot `off`) is complete. NOTE: over tcp the slot's
   * seq arrives with the header put, which can be applied a read before the payload put of a big
   * chunk; the tail word is signalled after both, so it is the flag there.
   */
  private hasArrived(peer: number, off: number, head: number): boolean {
    if (this.c.direct !== undefined) return Atomics.load(this.localI32, (off >> 2) + H_SEQ) === head + 1;
    return Atomics.load(this.c.tr.localWords, this.dataWord(peer, off)) >= head + 1;
  }

  /**
   * Fast path of `recv` on an empty queue: a one-chunk message received without an op (shm waits
   * are synchronous and reuse one spec). Returns undefined to hand over to the general path, which
   * also reports every error (event mismatch, buffer too small) and takes multi-chunk messages.
   */
  private recvSingle(peer: number, eventId: number, dst: Uint8Array | undefined): Uint8Array | undefined {
    const head = this.head[peer]!;
    const off = this.slotOf(peer);
    const h = off >> 2;
    if (!this.hasArrived(peer, off, head)) {
      if (this.c.direct === undefined || this.c.hasQueuedSends()) return undefined;
      this.c.tr.waitLocal(this.c.spec(peer, eventId, WAIT_DATA, h + H_SEQ, head + 1));
    }
    const total = this.localI32[h + H_TOTAL]!;
    if (this.localI32[h + H_EVENT] !== eventId || this.localI32[h + H_CHUNK] !== 0 || total > this.c.payloadBytes || (dst !== undefined && dst.byteLength < total)) return undefined;
    const out = dst === undefined ? new Uint8Array(total) : dst.byteLength === total ? dst : dst.subarray(0, total);
    if (this.c.direct !== undefined && total <= SMALL_PAYLOAD_BYTES) this.c.direct.readSlot(off, dst ?? out, total);
    else copyBytes(out, 0, this.c.tr.local, off + SLOT_HEADER_BYTES, total);
    if (this.c.direct !== undefined) this.c.notePiggyback(peer, this.localI32[h + H_ACK_HEAD]!, this.localI32[h + H_ACK_EVENT]!);
    this.consumed(peer, head + 1, eventId, true);
    return out;
  }

  /** Completes a receive; synchronous while the transport's waits are (shm), else from the first promise on (tcp). */
  private complete(op: RecvOp): MaybePromise<Uint8Array> {
    while (!this.pollRecv(op)) {
      const head = this.head[op.peer]!;
      const spec = this.c.spec(op.peer, op.eventId, WAIT_DATA, this.dataWord(op.peer, this.slotOf(op.peer)), head + 1);
      if (op.nextChunk > 0 && this.c.direct !== undefined) this.streamWait(spec, op, head);
      else if (this.c.zc?.hasOpenPost(op.peer) === true && this.queues[op.peer]![0] === op) {
        const poll = this.c.zc.watch(op.peer); // its post: the bytes may be in flight
        if (poll() && this.pollRecv(op)) break; // a claimed copy may have pieces left for this rank to take at once
        spec.streaming(this.c.zcStallUs).polling(poll);
      }
      let r;
      try {
        r = this.c.wait(spec);
      } catch (e) {
        if (op.nextChunk === 0 && this.queues[op.peer]![0] === op) this.c.zc?.retire(op.peer); // withdrawn, unless already claimed
        throw e;
      }
      if (isPromise(r)) return r.then(() => this.complete(op));
    }
    return op.dst!;
  }

  /**
   * Mid-message on shm, the sender is writing the next chunks: a streaming wait that, once parked,
   * is woken by the seq of the chunk half a ring ahead (or the message's last), not by every chunk.
   */
  private streamWait(spec: OpWait, op: RecvOp, head: number): void {
    const P = this.c.payloadBytes;
    const left = Math.ceil(op.dst!.byteLength / P) - op.nextChunk; // chunks of the message not read yet
    const m = Math.max(1, Math.min(left, this.c.numSlots >> 1));
    const slot = (this.headSlot[op.peer]! + m - 1) % this.c.numSlots;
    const wakeWord = ((this.ringBase[op.peer]! + slot * this.c.tr.layout.slotStride) >> 2) + H_SEQ;
    spec.streaming(this.c.streamStallUs, head + m, wakeWord);
  }

  /**
   * Copies out every chunk that has arrived, for the oldest pending receives first. With zero-copy,
   * it stops once `polled` is complete: the next message stays in the ring until its receive is
   * polled, by which time the receive after it has usually been issued, and is posted before that
   * message's ACK. Read on at once, the ACK would go out with nothing posted behind it, and the
   * sender (woken by it, on a busy host often before this rank runs again) would send the next
   * message through the ring (1 MiB bench: a third to four fifths of the messages).
   */
  private pump(peer: number, polled: RecvOp): void {
    const q = this.queues[peer]!;
    if (this.isParked[peer]) return; // the next message is the parked fast-path receive's
    while (q.length > 0) {
      const head = this.head[peer]!;
      const off = this.slotOf(peer);
      if (!this.hasArrived(peer, off, head)) return;
      const op = q[0]!;
      try {
        this.readChunk(op, off);
      } catch (e) {
        op.error = e;
        q.shift();
        continue;
      }
      if (!op.done) continue;
      q.shift();
      if (op === polled && this.c.zc !== undefined) return;
    }
  }

  private readChunk(op: RecvOp, off: number): void {
    const { peer } = op;
    const h = off >> 2;
    const eventId = this.localI32[h + H_EVENT]!;
    const chunkId = this.localI32[h + H_CHUNK]!;
    const total = this.localI32[h + H_TOTAL]!;
    const zc = this.c.zc;
    if (op.nextChunk === 0 && chunkId !== ZC_CHUNK && zc !== undefined && zc.hasOpenPost(peer)) zc.retire(peer); // the message took the ring
    if (op.nextChunk === 0) op.start(eventId, total, this.c.tr.rank);
    if (chunkId === ZC_CHUNK && op.nextChunk === 0 && zc !== undefined) {
      zc.landed(peer, op.dst!, total); // the bytes are at the post already
      op.done = true;
    } else {
      if (chunkId !== op.nextChunk) throw new XdsError('xccl_event_mismatch', `xccl rank ${this.c.tr.rank}: chunk ${chunkId} of event ${eventId} from rank ${peer} arrived, expected chunk ${op.nextChunk}`, { param: 'chunkId' });
      const start = chunkId * this.c.payloadBytes;
      copyBytes(op.dst!, start, this.c.tr.local, off + SLOT_HEADER_BYTES, Math.min(this.c.payloadBytes, total - start));
      op.done = start + this.c.payloadBytes >= total;
    }
    if (this.c.direct !== undefined) this.c.notePiggyback(peer, this.localI32[h + H_ACK_HEAD]!, this.localI32[h + H_ACK_EVENT]!);
    op.nextChunk++;
    const head = this.head[peer]! + 1;
    const next = this.queues[peer]![1];
    if (op.done && next !== undefined && this.queues[peer]![0] === op) this.post(next, head); // before the ACK below
    this.consumed(peer, head, op.eventId, op.done);
  }

  /** Returns the slot's credit to `peer`; after a message's last chunk, its event id goes first (the ACK). */
  private consumed(peer: number, head: number, eventId: number, isLast: boolean): void {
    this.head[peer] = head;
    const slot = this.headSlot[peer]! + 1;
    this.headSlot[peer] = slot === this.c.numSlots ? 0 : slot;
    if (isLast) this.lastEvent[peer] = eventId;
    const d = this.c.direct;
    if (isLast && d !== undefined) d.store(peer, this.ackBase + ACK_EVENT, eventId); // published by the head signal below
    else if (isLast) this.c.tr.signal(peer, this.ackBase + ACK_EVENT, eventId);
    this.c.tr.signal(peer, this.ackBase + ACK_HEAD, head);
  }
}
