/**
 * Small pieces of the p2p protocol (paper notes §2.4.1, the 8-step protocol in p2p.ts): the slot
 * and field word layout, the ops that `isend`/`irecv` return as handles, the allocation-free wait
 * spec of one op, and the context that the receive side (p2p-recv.ts) shares with P2p.
 */
import { XdsError } from '../core/errors.js';
import type { MaybePromise, Transport, WaitSpec } from './transport.js';
import type { P2p, XcclHandle } from './p2p.js';
import type { RecvRing } from './p2p-recv.js';
import type { DirectSlots } from './shm/slots.js';
import type { ZeroCopy } from './p2p-zero-copy.js';

// Slot header words (SLOT_HEADER_BYTES): seq = ring position after this chunk (the flag on shm), then the message fields.
export const H_SEQ = 0;
export const H_EVENT = 1;
export const H_CHUNK = 2;
export const H_TOTAL = 3;
// Piggybacked ACK (shm): the writer's consumption of the reader's ring toward it when it wrote the slot
// (a lower bound of the reader's head word, and the event id of the last message it completed).
export const H_ACK_HEAD = 4;
export const H_ACK_EVENT = 5;
// Words of the p2p metadata fields.
export const IN_TAIL = 0; // receiver's field for a sender: chunks written (signalled only where slot words cannot be, i.e. tcp)
export const IN_ZC_PROGRESS = 1; // receiver's field for a sender: pieces copied by zero-copy sends, a running count (shm)
export const ACK_HEAD = 0; // sender's field for a receiver: chunks consumed (credits; a message is ACKed once head passes it)
export const ACK_EVENT = 1; // event id of the last message received, written before its final head

/** Payloads up to this size are written as one put (or in place as words on shm). */
export const SMALL_PAYLOAD_BYTES = 256;

/** What the receive side needs from P2p. */
export interface RingContext {
  readonly tr: Transport;
  /** shm: slots are polled, written and read in place. */
  readonly direct: DirectSlots | undefined;
  /** shm with an application area: receives posted there are zero-copy. */
  readonly zc: ZeroCopy | undefined;
  readonly payloadBytes: number;
  readonly numSlots: number;
  /** µs without progress after which a wait on a peer that is mid-message parks (WaitSpec.stallUs). */
  readonly streamStallUs: number;
  /** The same for a wait on a zero-copy message: one piece (ZC_PIECE_BYTES) at the stall rate. */
  readonly zcStallUs: number;
  /** True while some send waits for ring slots (waits then pump it in slices). */
  hasQueuedSends(): boolean;
  spec(peer: number, eventId: number, kind: number, wordIdx: number, bound: number): OpWait;
  /** A slot from `peer` said it had consumed `head` chunks of my ring toward it, the last message completed being `eventId`. */
  notePiggyback(peer: number, head: number, eventId: number): void;
  wait(spec: WaitSpec): MaybePromise<number>;
}

/** One resolved promise shared by every send that completes synchronously (no allocation per send). */
export const DONE: Promise<void> = Promise.resolve();

/** A send in flight; it is its own handle. `endTail` = the ring position after its last chunk (ACKed when head reaches it). */
export class SendOp implements XcclHandle<void> {
  constructor(
    private readonly p: P2p,
    readonly peer: number,
    readonly eventId: number,
    readonly bytes: Uint8Array,
    readonly numChunks: number,
    readonly endTail: number,
    public nextChunk = 0, // chunks written
    /** The bytes went straight into the receiver's posted buffer; the one chunk is the marker. */
    readonly isZeroCopy = false,
  ) {}
  poll(): boolean { return this.p.pollSend(this); }
  wait(): Promise<void> { return this.p.waitSend(this); }
}

/** A receive in flight; it is its own handle. */
export class RecvOp implements XcclHandle<Uint8Array> {
  nextChunk = 0;
  done = false;
  error: unknown = undefined;
  constructor(private readonly p: RecvRing, readonly peer: number, readonly eventId: number, public dst: Uint8Array | undefined) {}
  poll(): boolean { return this.p.pollRecv(this); }
  wait(): Promise<Uint8Array> { return this.p.waitRecv(this); }

  /** The first chunk of the message arrived (on rank `rank`): checks its event id and size, sizes `dst` to it. */
  start(eventId: number, total: number, rank: number): void {
    if (eventId !== this.eventId) {
      throw new XdsError('xccl_event_mismatch', `xccl rank ${rank}: recv from rank ${this.peer} expected event ${this.eventId}, got event ${eventId}`, { param: 'eventId' });
    }
    if (this.dst === undefined) this.dst = new Uint8Array(total);
    else if (this.dst.byteLength < total) {
      throw new XdsError('xccl_buffer_too_small', `xccl rank ${rank}: event ${eventId} from rank ${this.peer} has ${total} bytes, the receive buffer only ${this.dst.byteLength}`, { param: 'dst' });
    } else if (this.dst.byteLength !== total) this.dst = this.dst.subarray(0, total);
  }
}

export const WAIT_SLOT = 0;
export const WAIT_ACK = 1;
export const WAIT_DATA = 2;

/**
 * The wait for `word >= bound`, without closures or strings: the message is built only when a
 * timeout reports it, and the deadline is read from the clock (a BigInt hrtime read) only when the
 * transport first asks for it, i.e. once a wait outlasts its free spins. Transports whose waits are
 * synchronous (shm) get one reused instance (`reset`); asynchronous ones (tcp) a fresh one per wait.
 */
export class OpWait implements WaitSpec {
  peer = 0;
  wordIdx = 0;
  /** A streaming wait (the peer is mid-message): WaitSpec.stallUs; undefined for the others. */
  stallUs: number | undefined = undefined;
  /** WaitSpec.wakeAt: the bound, or a higher threshold for a stream; wakeWord: the word it applies to (undefined: wordIdx). */
  wakeAt = 0;
  wakeWord: number | undefined = undefined;
  /** WaitSpec.poll: progress other than the word's (a zero-copy copy in flight); undefined for the others. */
  poll: (() => boolean) | undefined = undefined;
  private eventId = 0;
  private kind = 0;
  private bound = 0;
  private deadline = 0;

  constructor(private readonly clock: { nowUs(): number }, private readonly timeoutUs: number) {}

  reset(peer: number, eventId: number, kind: number, wordIdx: number, bound: number): this {
    this.peer = peer;
    this.eventId = eventId;
    this.kind = kind;
    this.wordIdx = wordIdx;
    this.bound = bound;
    this.deadline = 0;
    this.stallUs = undefined;
    this.wakeAt = bound;
    this.wakeWord = undefined;
    this.poll = undefined;
    return this;
  }

  /** Sets WaitSpec.poll (for a streaming wait whose peer moves another word than the awaited one). */
  polling(poll: () => boolean): this {
    this.poll = poll;
    return this;
  }

  /** Marks the wait as one on a peer that is streaming (WaitSpec.stallUs); once parked, it wakes when `wakeWord` reaches `wakeAt`. */
  streaming(stallUs: number, wakeAt = this.bound, wakeWord?: number): this {
    this.stallUs = stallUs;
    this.wakeAt = wakeAt;
    this.wakeWord = wakeWord;
    return this;
  }

  pred(v: number): boolean {
    return v >= this.bound;
  }

  get deadlineUs(): number {
    if (this.deadline === 0) this.deadline = this.clock.nowUs() + this.timeoutUs;
    return this.deadline;
  }

  get what(): string {
    const { peer, eventId } = this;
    if (this.kind === WAIT_SLOT) return `a free ring slot toward rank ${peer} (event ${eventId})`;
    return this.kind === WAIT_ACK ? `the ACK of event ${eventId} from rank ${peer}` : `event ${eventId} from rank ${peer}`;
  }
}
