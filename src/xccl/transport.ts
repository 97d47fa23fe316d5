/**
 * The Transport contract: the seam between XCCL's protocols (p2p, dispatch/combine, a2e/e2a,
 * collectives) and the medium that moves bytes (paper notes §2.4: memory semantics over a global
 * shared address space). A transport exposes one-sided operations on registered regions laid out
 * by region.ts: `put` bytes into a peer's region, `signal` a metadata word there (after the puts),
 * `get` (pull) bytes from a peer's region, and `waitLocal` on a word of one's own metadata. The
 * `shm` transports map peers' memory; `tcp` emulates the same semantics with frames; a `sim`
 * transport (simulator issue) will implement the same methods against a cost model.
 */
import type { RegionLayout } from './region.js';

export type TransportKind = 'shm-thread' | 'shm-process' | 'tcp' | 'sim';

/** A value or a promise of it: shm transports complete synchronously, tcp asynchronously. */
export type MaybePromise<T> = T | Promise<T>;

export interface WaitSpec {
  /** Word index in this rank's own metadata area. */
  readonly wordIdx: number;
  /** Resolves once `pred(word)` holds. */
  readonly pred: (value: number) => boolean;
  /** The rank whose signal is awaited: its death ends the wait with `xccl_peer_gone`. */
  readonly peer: number;
  /** Absolute deadline on the transport's clock (µs); past it the wait ends with `xccl_timeout`. */
  readonly deadlineUs: number;
  /** What is awaited, for the error message (e.g. "recv ring tail from rank 2"). */
  readonly what: string;
  /**
   * Optional (shm): the peer is expected to move the word within about this long (µs), because it
   * is streaming a message through a ring. A spin that sees neither the word change nor `poll`
   * make progress for this long parks at once, whatever the spin budget: a peer that shares this
   * core (or lost its own) then runs, instead of waiting for this spin's scheduler slice to end.
   */
  readonly stallUs?: number;
  /**
   * Optional (shm): a parked waiter needs no wake-up before word `wakeWord` (default `wordIdx`)
   * reaches this value; `pred` must hold once it has. It then parks on `wakeWord`.
   */
  readonly wakeAt?: number;
  readonly wakeWord?: number;
  /** Optional (shm): called between spins; true when it made progress (resets the stall clock). */
  readonly poll?: () => boolean;
}

export interface Transport {
  readonly kind: TransportKind;
  readonly rank: number;
  readonly worldSize: number;
  readonly layout: RegionLayout;
  /** This rank's own region. // [totalBytes] u8 */
  readonly local: Uint8Array;
  /** Metadata words of the own region. // [numFields * 8] i32 */
  readonly localWords: Int32Array;
  /** Monotonic µs (the injected clock of the communicator). */
  nowUs(): number;
  /** One-sided write of `src` into `peer`'s region at byte `offset`; visible before any later signal to `peer`. */
  put(peer: number, offset: number, src: Uint8Array): void;
  /** Stores `value` into metadata word `wordIdx` of `peer`'s region (after earlier puts) and wakes a waiter there. */
  signal(peer: number, wordIdx: number, value: number): void;
  /** Pulls `dst.byteLength` bytes at byte `offset` of `peer`'s region into `dst`. */
  get(peer: number, offset: number, dst: Uint8Array, deadlineUs: number): MaybePromise<void>;
  /** Waits until a word of the own metadata satisfies `spec.pred`; returns its value. */
  waitLocal(spec: WaitSpec): MaybePromise<number>;
  /**
   * Optional callback form of `waitLocal` for asynchronous transports (tcp): returns the value when
   * `spec.pred` holds now; else parks and calls `onValue` from the code that stores the word (the
   * read callback), or `onError` (timeout, peer gone), and returns undefined. A protocol settles its
   * own promise there, without a `.then` hop on a wait promise. The callbacks must not throw.
   */
  parkLocal?(spec: WaitSpec, onValue: (value: number) => void, onError: (e: unknown) => void): number | undefined;
  /** Throws `xccl_peer_gone` naming `peer` when it is known to be dead or closed. */
  checkPeer(peer: number): void;
  /** Marks this rank closed (peers see it as gone) and releases the medium. */
  close(): Promise<void>;
}

export function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return typeof v === 'object' && v !== null && typeof (v as Promise<T>).then === 'function';
}

/** Views any typed array as bytes without copying. */
export function asBytes(a: ArrayBufferView): Uint8Array {
  return a instanceof Uint8Array ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
