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
import { asBytes, type Transport, type WaitSpec } from './transport.js';

/** A transfer that was issued; completion is polled or awaited (DeepEP/XCCL async mode). */
export interface XcclHandle<T> {
  /** Makes what progress is possible without waiting; true once complete. Throws the op's error. */
  poll(): boolean;
  /** Completes the transfer (deadline from the communicator's timeout). */
  wait(): Promise<T>;
}

/** While sends are queued, waits are cut into slices this long (µs) to pump them. */
const PUMP_SLICE_US = 1000;

// Words of the p2p fields.
const IN_TAIL = 0; // receiver's field for sender: chunks written
const ACK_HEAD = 0; // sender's field for receiver: chunks consumed (credits)
const ACK_MSGS = 1; // messages fully received
const ACK_EVENT = 2; // event id of the last message received

interface SendOp { readonly peer: number; readonly eventId: number; readonly bytes: Uint8Array; readonly msgSeq: number; nextChunk: number; readonly numChunks: number; deadlineUs: number }
interface RecvOp { readonly peer: number; readonly eventId: number; dst: Uint8Array | undefined; nextChunk: number; done: boolean; error?: unknown; deadlineUs: number }

export class P2p {
  private readonly payloadBytes: number;
  private readonly sendQueues: SendOp[][];
  private readonly recvQueues: RecvOp[][];
  private readonly sendTail: number[];
  private readonly sendMsgs: number[];
  private readonly recvHead: number[];
  private readonly recvMsgs: number[];
  private readonly dv: DataView;
  private readonly header = new Int32Array(4); // scratch slot header: eventId, chunkId, totalBytes, chunkBytes
  private readonly headerBytes = new Uint8Array(this.header.buffer);

  constructor(private readonly tr: Transport, private readonly timeoutUs: number) {
    const W = tr.worldSize;
    this.payloadBytes = tr.layout.config.slotBytes - SLOT_HEADER_BYTES;
    this.sendQueues = Array.from({ length: W }, () => []);
    this.recvQueues = Array.from({ length: W }, () => []);
    this.sendTail = new Array<number>(W).fill(0);
    this.sendMsgs = new Array<number>(W).fill(0);
    this.recvHead = new Array<number>(W).fill(0);
    this.recvMsgs = new Array<number>(W).fill(0);
    this.dv = new DataView(tr.local.buffer, tr.local.byteOffset, tr.local.byteLength);
  }

  /** Synchronous send: returns after the receiver's ACK. */
  async send(peer: number, eventId: number, data: ArrayBufferView): Promise<void> {
    return this.isend(peer, eventId, data).wait();
  }

  /** Asynchronous send: chunks that fit are written now; the handle completes on the ACK. */
  isend(peer: number, eventId: number, data: ArrayBufferView): XcclHandle<void> {
    this.checkPeerArg(peer);
    const bytes = asBytes(data);
    const op: SendOp = { peer, eventId, bytes, msgSeq: ++this.sendMsgs[peer]!, nextChunk: 0, numChunks: Math.max(1, Math.ceil(bytes.byteLength / this.payloadBytes)), deadlineUs: 0 };
    this.sendQueues[peer]!.push(op);
    this.pumpSend(peer);
    return { poll: () => this.pumpSend(peer) === 0 && this.isAcked(op), wait: () => this.completeSend(op) };
  }

  /** Receives the next message from `peer`; it must carry `eventId` and fit in `dst` when given. */
  async recv(peer: number, eventId: number, dst?: Uint8Array): Promise<Uint8Array> {
    return this.irecv(peer, eventId, dst).wait();
  }

  irecv(peer: number, eventId: number, dst?: Uint8Array): XcclHandle<Uint8Array> {
    this.checkPeerArg(peer);
    const op: RecvOp = { peer, eventId, dst, nextChunk: 0, done: false, deadlineUs: 0 };
    this.recvQueues[peer]!.push(op);
    return { poll: () => this.pollRecv(op), wait: () => this.completeRecv(op) };
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
    this.tr.put(peer, off, this.headerBytes);
    if (payload.byteLength > 0) this.tr.put(peer, off + SLOT_HEADER_BYTES, payload);
    this.sendTail[peer] = tail + 1;
    op.nextChunk++;
    this.tr.signal(peer, wordOf(this.tr.layout.p2pInField + this.tr.rank, IN_TAIL), tail + 1);
  }

  /** The deadline of an op, read from the clock only once it has to wait (clock reads cost). */
  private deadline(op: { deadlineUs: number }): number {
    if (op.deadlineUs === 0) op.deadlineUs = this.tr.nowUs() + this.timeoutUs;
    return op.deadlineUs;
  }

  private async completeSend(op: SendOp): Promise<void> {
    const numSlots = this.tr.layout.config.numSlots;
    while (this.pumpSend(op.peer) > 0 && this.sendQueues[op.peer]!.includes(op)) {
      const need = this.sendTail[op.peer]! - numSlots;
      await this.wait({ wordIdx: this.ackWord(op.peer, ACK_HEAD), pred: (v) => v > need, peer: op.peer, deadlineUs: this.deadline(op), what: `a free ring slot toward rank ${op.peer} (event ${op.eventId})` });
    }
    if (!this.isAcked(op)) {
      await this.wait({ wordIdx: this.ackWord(op.peer, ACK_MSGS), pred: (m) => m >= op.msgSeq, peer: op.peer, deadlineUs: this.deadline(op), what: `the ACK of event ${op.eventId} from rank ${op.peer}` });
    }
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
  private async wait(spec: WaitSpec): Promise<number> {
    for (;;) {
      if (!this.pumpAllSends()) return this.tr.waitLocal(spec);
      const sliceUs = Math.min(spec.deadlineUs, this.tr.nowUs() + PUMP_SLICE_US);
      try {
        return await this.tr.waitLocal({ ...spec, deadlineUs: sliceUs });
      } catch (e) {
        if (!isXdsError(e, 'xccl_timeout') || this.tr.nowUs() >= spec.deadlineUs) throw e;
      }
    }
  }

  /** Pumps every peer's send queue; true while some send still waits for a slot. */
  private pumpAllSends(): boolean {
    let pending = false;
    for (let p = 0; p < this.tr.worldSize; p++) if (this.sendQueues[p]!.length > 0 && this.pumpSend(p) > 0) pending = true;
    return pending;
  }

  private pollRecv(op: RecvOp): boolean {
    this.pumpRecv(op.peer);
    if (op.error !== undefined) throw op.error;
    return op.done;
  }

  private async completeRecv(op: RecvOp): Promise<Uint8Array> {
    const tailWord = wordOf(this.tr.layout.p2pInField + op.peer, IN_TAIL);
    while (!this.pollRecv(op)) {
      const head = this.recvHead[op.peer]!;
      await this.wait({ wordIdx: tailWord, pred: (t) => t > head, peer: op.peer, deadlineUs: this.deadline(op), what: `event ${op.eventId} from rank ${op.peer}` });
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
    const eventId = this.dv.getInt32(off, true);
    const chunkId = this.dv.getInt32(off + 4, true);
    const total = this.dv.getInt32(off + 8, true);
    const chunkBytes = this.dv.getInt32(off + 12, true);
    if (op.nextChunk === 0) this.startMessage(op, eventId, total);
    if (chunkId !== op.nextChunk) throw new XdsError('xccl_event_mismatch', `xccl rank ${this.tr.rank}: chunk ${chunkId} of event ${eventId} from rank ${peer} arrived, expected chunk ${op.nextChunk}`, { param: 'chunkId' });
    const dst = op.dst!;
    dst.set(this.tr.local.subarray(off + SLOT_HEADER_BYTES, off + SLOT_HEADER_BYTES + chunkBytes), chunkId * this.payloadBytes);
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
    } else op.dst = op.dst.subarray(0, total);
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
