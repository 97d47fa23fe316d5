/**
 * Small pieces of the p2p fast path (paper notes §2.4.1, the 8-step protocol in p2p.ts): the
 * handles returned by `isend`/`irecv`, the allocation-light wait spec of one op, and `settle`,
 * which turns a synchronous-or-promised outcome into the promise the API returns.
 */
import { isPromise, type MaybePromise, type Transport, type WaitSpec } from './transport.js';
import type { P2p, RecvOp, SendOp, XcclHandle } from './p2p.js';

/** Runs `f` and returns its outcome as a promise: a synchronous throw becomes a rejection. */
export function settle<T>(f: () => MaybePromise<T>): Promise<T> {
  try {
    const r = f();
    return isPromise(r) ? r : Promise.resolve(r);
  } catch (e) {
    return Promise.reject(e);
  }
}

export class SendHandle implements XcclHandle<void> {
  constructor(private readonly p: P2p, private readonly op: SendOp) {}
  poll(): boolean { return this.p.pollSend(this.op); }
  wait(): Promise<void> { return settle(() => this.p.completeSend(this.op)); }
}

export class RecvHandle implements XcclHandle<Uint8Array> {
  constructor(private readonly p: P2p, private readonly op: RecvOp) {}
  poll(): boolean { return this.p.pollRecv(this.op); }
  wait(): Promise<Uint8Array> { return settle(() => this.p.completeRecv(this.op)); }
}

export const WAIT_SLOT = 0;
export const WAIT_ACK = 1;
export const WAIT_DATA = 2;

/**
 * The wait of one op for `word >= bound`, without per-wait closures or strings: the message is
 * built only when a timeout reports it, and the deadline is read from the clock (a BigInt hrtime
 * read) only when the transport first asks for it, i.e. once a wait outlasts its first spins.
 */
export class OpWait implements WaitSpec {
  readonly peer: number;
  constructor(
    private readonly tr: Transport,
    private readonly timeoutUs: number,
    private readonly op: SendOp | RecvOp,
    private readonly kind: number,
    readonly wordIdx: number,
    private readonly bound: number,
  ) {
    this.peer = op.peer;
  }

  pred(v: number): boolean {
    return v >= this.bound;
  }

  get deadlineUs(): number {
    if (this.op.deadlineUs === 0) this.op.deadlineUs = this.tr.nowUs() + this.timeoutUs;
    return this.op.deadlineUs;
  }

  get what(): string {
    const { peer, eventId } = this.op;
    if (this.kind === WAIT_SLOT) return `a free ring slot toward rank ${peer} (event ${eventId})`;
    return this.kind === WAIT_ACK ? `the ACK of event ${eventId} from rank ${peer}` : `event ${eventId} from rank ${peer}`;
  }
}
