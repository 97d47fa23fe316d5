/**
 * Point-to-point send/recv with event ids (paper notes §2.4.1, the 8-step protocol). The sender
 * writes chunks into its ring in the receiver's region (one slot each: eventId, chunkId, sizes,
 * payload) and bumps the ring's tail word there; the receiver copies slots out in order, returns
 * a credit per slot (head word in the sender's region) and, after the last chunk, an ACK (message
 * count + event id). `send` waits for the ACK (synchronous mode); `isend`/`irecv` return handles
 * to poll or await (asynchronous mode). Messages larger than a slot are chunked and reassembled.
 */
import { XdsError, isXdsError } from '../core/errors.js';
import { SLOT_HEADER_BYTES, ringSlotOffset, wordOf } from './region.js';
import { copyBytes } from './copy.js';
import { asBytes, isPromise, type MaybePromise, type Transport, type WaitSpec } from './transport.js';
import { OpWait, RecvHandle, SendHandle, WAIT_ACK, WAIT_DATA, WAIT_SLOT, settle } from './p2p-ops.js';

/** A transfer that was issued; completion is polled or awaited (DeepEP/XCCL async mode). */
export interface XcclHandle<T> {
  /** Makes what progress is possible without waiting; true once complete. Throws the op's error. */
  poll(): boolean;
  /** Completes the transfer (deadline from the communicator's timeout). */
  wait(): Promise<T>;
}

/** Payloads up to this size are staged behind the header in private memory and written with one put. */
const SMALL_PAYLOAD_BYTES = 256;

/** While sends are queued, waits are cut into slices this long (µs) to pump them. */
const PUMP_SLICE_US = 1000;

// Words of the p2p fields.
const IN_TAIL = 0; // receiver's field for sender: chunks written
const ACK_HEAD = 0; // sender's field for receiver: chunks consumed (credits)
const ACK_MSGS = 1; // messages fully received
const ACK_EVENT = 2; // event id of the last message received

export interface SendOp { readonly peer: number; readonly eventId: number; readonly bytes: Uint8Array; readonly msgSeq: number; nextChunk: number; readonly numChunks: number; deadlineUs: number }
export interface RecvOp { readonly peer: number; readonly eventId: number; dst: Uint8Array | undefined; nextChunk: number; done: boolean; error?: unknown; deadlineUs: number }

export class P2p {
  private readonly payloadBytes: number;
  private readonly sendQueues: SendOp[][];
  private readonly recvQueues: RecvOp[][];
  private readonly sendTail: number[];
  private readonly sendMsgs: number[];
  private readonly recvHead: number[];
  private readonly recvMsgs: number[];
  private readonly localI32: Int32Array; // [totalBytes / 4] i32 view of the own region (slot headers)
  // Scratch slot: header (eventId, chunkId, totalBytes, chunkBytes) + a small payload, so a small chunk is one put.
  private readonly scratch = new Uint8Array(SLOT_HEADER_BYTES + SMALL_PAYLOAD_BYTES); // [16 + 256] u8
  private readonly header = new Int32Array(this.scratch.buffer, 0, 4); // [4] i32
  private readonly headerBytes = this.scratch.subarray(0, SLOT_HEADER_BYTES);
  private staged = this.headerBytes; // the scratch view of the last small put (reused while sizes repeat)

  constructor(private readonly tr: Transport, private readonly timeoutUs: number) {
    const W = tr.worldSize;
    this.payloadBytes = tr.layout.config.slotBytes - SLOT_HEADER_BYTES;
    this.sendQueues = Array.from({ length: W }, () => []);
    this.recvQueues = Array.from({ length: W }, () => []);
    this.sendTail = new Array<number>(W).fill(0);
    this.sendMsgs = new Array<number>(W).fill(0);
    this.recvHead = new Array<number>(W).fill(0);
    this.recvMsgs = new Array<number>(W).fill(0);
    this.localI32 = new Int32Array(tr.local.buffer, tr.local.byteOffset, tr.local.byteLength >> 2);
  }

  /** Synchronous send: returns after the receiver's ACK. */
  send(peer: number, eventId: number, data: ArrayBufferView): Promise<void> {
    return settle(() => {
      const op = this.issueSend(peer, eventId, data);
      return this.completeSend(op);
    });
  }

  /** Asynchronous send: chunks that fit are written now; the handle completes on the ACK. */
  isend(peer: number, eventId: number, data: ArrayBufferView): XcclHandle<void> {
    return new SendHandle(this, this.issueSend(peer, eventId, data));
  }

  /** @internal handle support: makes progress on `op`; true once acknowledged. */
  pollSend(op: SendOp): boolean {
    return this.pumpSend(op.peer) === 0 && this.isAcked(op);
  }

  private issueSend(peer: number, eventId: number, data: ArrayBufferView): SendOp {
    this.checkPeerArg(peer);
    const bytes = asBytes(data);
    const op: SendOp = { peer, eventId, bytes, msgSeq: ++this.sendMsgs[peer]!, nextChunk: 0, numChunks: Math.max(1, Math.ceil(bytes.byteLength / this.payloadBytes)), deadlineUs: 0 };
    this.sendQueues[peer]!.push(op);
    this.pumpSend(peer);
    return op;
  }

  /** Receives the next message from `peer`; it must carry `eventId` and fit in `dst` when given. */
  recv(peer: number, eventId: number, dst?: Uint8Array): Promise<Uint8Array> {
    return settle(() => this.completeRecv(this.issueRecv(peer, eventId, dst)));
  }

  irecv(peer: number, eventId: number, dst?: Uint8Array): XcclHandle<Uint8Array> {
    return new RecvHandle(this, this.issueRecv(peer, eventId, dst));
  }

  private issueRecv(peer: number, eventId: number, dst: Uint8Array | undefined): RecvOp {
    this.checkPeerArg(peer);
    const op: RecvOp = { peer, eventId, dst, nextChunk: 0, done: false, deadlineUs: 0 };
    this.recvQueues[peer]!.push(op);
    return op;
  }

  private checkPeerArg(peer: number): void {
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.tr.worldSize) {
      throw new XdsError('invalid_argument', `xccl p2p: peer must be a rank in [0, ${this.tr.worldSize}), got ${peer}`, { param: 'peer' });
    }
  }

  private ackWord(peer: number, w: number): number {
    return wordOf(this.tr.layout.p2pAckField + peer, w);
  }

  private isAcked(op: SendOp): boolean {
    return Atomics.load(this.tr.localWords, this.ackWord(op.peer, ACK_MSGS)) >= op.msgSeq;
  }

  /** Writes every chunk that has a free slot, oldest send first; returns the sends still unissued. */
  private pumpSend(peer: number): number {
    const q = this.sendQueues[peer]!;
    const numSlots = this.tr.layout.config.numSlots;
    while (q.length > 0) {
      const op = q[0]!;
      const head = Atomics.load(this.tr.localWords, this.ackWord(peer, ACK_HEAD));
      while (op.nextChunk < op.numChunks && this.sendTail[peer]! - head < numSlots) this.writeChunk(op);
      if (op.nextChunk < op.numChunks) break;
      q.shift();
    }
    return q.length;
  }

  private writeChunk(op: SendOp): void {
    const { peer } = op;
    const tail = this.sendTail[peer]!;
    const off = ringSlotOffset(this.tr.layout, this.tr.rank, tail % this.tr.layout.config.numSlots);
    const start = op.nextChunk * this.payloadBytes;
    const payload = op.numChunks === 1 ? op.bytes : op.bytes.subarray(start, Math.min(op.bytes.byteLength, start + this.payloadBytes));
    const h = this.header;
    h[0] = op.eventId;
    h[1] = op.nextChunk;
    h[2] = op.bytes.byteLength;
    h[3] = payload.byteLength;
    this.putSlot(peer, off, payload);
    this.sendTail[peer] = tail + 1;
    op.nextChunk++;
    this.tr.signal(peer, wordOf(this.tr.layout.p2pInField + this.tr.rank, IN_TAIL), tail + 1);
  }

  /** Header + payload into the slot at `off`: one put for small payloads, two otherwise. */
  private putSlot(peer: number, off: number, payload: Uint8Array): void {
    const n = payload.byteLength;
    if (n <= SMALL_PAYLOAD_BYTES) {
      if (n > 0) this.scratch.set(payload, SLOT_HEADER_BYTES);
      if (this.staged.byteLength !== SLOT_HEADER_BYTES + n) this.staged = this.scratch.subarray(0, SLOT_HEADER_BYTES + n);
      this.tr.put(peer, off, this.staged);
      return;
    }
    this.tr.put(peer, off, this.headerBytes);
    this.tr.put(peer, off + SLOT_HEADER_BYTES, payload);
  }

  /**
   * Completes a send: synchronous while the transport's waits are (shm spins and parks in place),
   * so the fast path costs no promise hops; continues asynchronously from the first wait that is
   * a promise (tcp).
   */
  /** @internal */
  completeSend(op: SendOp): MaybePromise<void> {
    const numSlots = this.tr.layout.config.numSlots;
    while (this.pumpSend(op.peer) > 0 && this.sendQueues[op.peer]!.includes(op)) {
      const need = this.sendTail[op.peer]! - numSlots;
      const r = this.wait(new OpWait(this.tr, this.timeoutUs, op, WAIT_SLOT, this.ackWord(op.peer, ACK_HEAD), need + 1));
      if (isPromise(r)) return r.then(() => this.completeSend(op));
    }
    if (!this.isAcked(op)) {
      const r = this.wait(new OpWait(this.tr, this.timeoutUs, op, WAIT_ACK, this.ackWord(op.peer, ACK_MSGS), op.msgSeq));
      if (isPromise(r)) return r.then(() => this.checkAck(op));
    }
    this.checkAck(op);
  }

  private checkAck(op: SendOp): void {
    // The ACK's event id is checked only when no later message to this peer exists (it would overwrite the word).
    const acked = Atomics.load(this.tr.localWords, this.ackWord(op.peer, ACK_EVENT));
    if (this.sendMsgs[op.peer] === op.msgSeq && acked !== op.eventId) {
      throw new XdsError('xccl_event_mismatch', `xccl rank ${this.tr.rank}: rank ${op.peer} acknowledged event ${acked}, expected ${op.eventId}`, { param: 'eventId' });
    }
  }

  /**
   * Waits on one word; while sends are still queued for want of ring slots, waits in short slices
   * and pumps them in between, so a rank blocked in a receive still frees its peers (and itself).
   */
  private wait(spec: WaitSpec): MaybePromise<number> {
    for (;;) {
      if (!this.pumpAllSends()) return this.tr.waitLocal(spec);
      const sliceUs = Math.min(spec.deadlineUs, this.tr.nowUs() + PUMP_SLICE_US);
      try {
        const r = this.tr.waitLocal({ wordIdx: spec.wordIdx, pred: (v) => spec.pred(v), peer: spec.peer, deadlineUs: sliceUs, what: spec.what });
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

  /** Pumps every peer's send queue; true while some send still waits for a slot. */
  private pumpAllSends(): boolean {
    let pending = false;
    for (let p = 0; p < this.tr.worldSize; p++) if (this.sendQueues[p]!.length > 0 && this.pumpSend(p) > 0) pending = true;
    return pending;
  }

  /** @internal */
  pollRecv(op: RecvOp): boolean {
    this.pumpRecv(op.peer);
    if (op.error !== undefined) throw op.error;
    return op.done;
  }

  /** Completes a receive; synchronous while the waits are (see completeSend). */
  /** @internal */
  completeRecv(op: RecvOp): MaybePromise<Uint8Array> {
    const tailWord = wordOf(this.tr.layout.p2pInField + op.peer, IN_TAIL);
    while (!this.pollRecv(op)) {
      const head = this.recvHead[op.peer]!;
      const r = this.wait(new OpWait(this.tr, this.timeoutUs, op, WAIT_DATA, tailWord, head + 1));
      if (isPromise(r)) return r.then(() => this.completeRecv(op));
    }
    return op.dst!;
  }

  /** Copies out every chunk that has arrived, for the oldest pending receives first. */
  private pumpRecv(peer: number): void {
    const q = this.recvQueues[peer]!;
    const tail = Atomics.load(this.tr.localWords, wordOf(this.tr.layout.p2pInField + peer, IN_TAIL));
    while (q.length > 0 && this.recvHead[peer]! < tail) {
      const op = q[0]!;
      try {
        this.readChunk(op);
      } catch (e) {
        op.error = e;
        q.shift();
        continue;
      }
      if (op.done) q.shift();
    }
  }

  private readChunk(op: RecvOp): void {
    const { peer } = op;
    const head = this.recvHead[peer]!;
    const off = ringSlotOffset(this.tr.layout, peer, head % this.tr.layout.config.numSlots);
    const h = off >> 2; // slot header, written by the sender as native i32 (writeChunk's scratch header)
    const eventId = this.localI32[h]!;
    const chunkId = this.localI32[h + 1]!;
    const total = this.localI32[h + 2]!;
    const chunkBytes = this.localI32[h + 3]!;
    if (op.nextChunk === 0) this.startMessage(op, eventId, total);
    if (chunkId !== op.nextChunk) throw new XdsError('xccl_event_mismatch', `xccl rank ${this.tr.rank}: chunk ${chunkId} of event ${eventId} from rank ${peer} arrived, expected chunk ${op.nextChunk}`, { param: 'chunkId' });
    copyBytes(op.dst!, chunkId * this.payloadBytes, this.tr.local, off + SLOT_HEADER_BYTES, chunkBytes);
    this.recvHead[peer] = head + 1;
    op.nextChunk++;
    this.tr.signal(peer, this.ackWordAt(ACK_HEAD), head + 1);
    if (op.nextChunk * this.payloadBytes >= total) this.finishMessage(op);
  }

  private startMessage(op: RecvOp, eventId: number, total: number): void {
    if (eventId !== op.eventId) {
      throw new XdsError('xccl_event_mismatch', `xccl rank ${this.tr.rank}: recv from rank ${op.peer} expected event ${op.eventId}, got event ${eventId}`, { param: 'eventId' });
    }
    if (op.dst === undefined) op.dst = new Uint8Array(total);
    else if (op.dst.byteLength < total) {
      throw new XdsError('xccl_buffer_too_small', `xccl rank ${this.tr.rank}: event ${eventId} from rank ${op.peer} has ${total} bytes, the receive buffer only ${op.dst.byteLength}`, { param: 'dst' });
    } else if (op.dst.byteLength !== total) op.dst = op.dst.subarray(0, total);
  }

  private finishMessage(op: RecvOp): void {
    op.done = true;
    const msgs = ++this.recvMsgs[op.peer]!;
    this.tr.signal(op.peer, this.ackWordAt(ACK_EVENT), op.eventId);
    this.tr.signal(op.peer, this.ackWordAt(ACK_MSGS), msgs);
  }

  /** Word `w` of my ACK field inside a sender's region. */
  private ackWordAt(w: number): number {
    return wordOf(this.tr.layout.p2pAckField + this.tr.rank, w);
  }
}

