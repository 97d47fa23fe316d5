/**
 * Parked waits of the `tcp` transport (paper notes §2.4: a wait on a word of the own metadata,
 * with a deadline that ends in a typed error). The frame handler that stores a word resolves the
 * waits on it at once, in the same synchronous run, so the waiting protocol resumes in the next
 * microtask. There is no timer per wait: one sweep every SWEEP_MS fails the waits past their
 * deadline, and reads a wait's deadline only when it first sees it, so parking reads no clock.
 */
import type { WaitSpec } from '../transport.js';

/** Period of the deadline sweep while waits are parked (ms): the bound on how late a timeout fires. */
export const SWEEP_MS = 5;

interface Parked {
  readonly spec: WaitSpec;
  readonly resolve: (v: number) => void;
  readonly reject: (e: unknown) => void;
  /** Deadline on performance.now() (ms); NaN until the first sweep reads `spec.deadlineUs`. */
  dueMs: number;
}

export interface WaitClock {
  /** ms from now until `deadlineUs` on the transport's clock (0 when past). */
  msUntil(deadlineUs: number): number;
}

export class WaitList {
  private readonly byWord: (Parked[] | undefined)[] = []; // [wordIdx] waits parked on that word
  private numParked = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private isUnref = false;

  constructor(private readonly clock: WaitClock, private readonly timeoutError: (spec: WaitSpec) => unknown) {}

  /** Parks a wait on `spec.wordIdx` until `wake` sees a value that satisfies `spec.pred`. */
  park(spec: WaitSpec): Promise<number> {
    return new Promise<number>((resolve, reject) => this.parkWith(spec, resolve, reject));
  }

  /** Parks a wait whose outcome goes to `resolve` (called from `wake`) or `reject` (sweep, failPeer). */
  parkWith(spec: WaitSpec, resolve: (v: number) => void, reject: (e: unknown) => void): void {
    const list = (this.byWord[spec.wordIdx] ??= []);
    list.push({ spec, resolve, reject, dueMs: NaN });
    this.numParked++;
    if (this.sweeper === undefined) this.startSweeper();
  }

  /** After `value` was stored into `wordIdx`: resolves the waits on it whose predicate holds. */
  wake(wordIdx: number, value: number): void {
    const list = this.byWord[wordIdx];
    if (list === undefined || list.length === 0) return;
    let keep = 0;
    for (let i = 0; i < list.length; i++) {
      const w = list[i]!;
      if (w.spec.pred(value)) {
        this.numParked--;
        w.resolve(value);
      } else list[keep++] = w;
    }
    list.length = keep;
  }

  /** Rejects every wait on `peer` with `err` (the peer is gone). */
  failPeer(peer: number, err: unknown): void {
    this.removeWhere((w) => w.spec.peer === peer, () => err);
  }

  /** Waits still parked time out, but the sweep no longer keeps the process alive. */
  unref(): void {
    this.isUnref = true;
    this.sweeper?.unref();
  }

  private startSweeper(): void {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    if (this.isUnref) this.sweeper.unref();
  }

  /** Fails the waits past their deadline; stops itself when no wait is left. */
  private sweep(): void {
    const now = performance.now();
    this.removeWhere((w) => {
      if (Number.isNaN(w.dueMs)) w.dueMs = now + this.clock.msUntil(w.spec.deadlineUs);
      return now >= w.dueMs;
    }, (w) => this.timeoutError(w.spec));
    if (this.numParked === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private removeWhere(hit: (w: Parked) => boolean, error: (w: Parked) => unknown): void {
    for (const list of this.byWord) {
      if (list === undefined) continue;
      let keep = 0;
      for (let i = 0; i < list.length; i++) {
        const w = list[i]!;
        if (hit(w)) {
          this.numParked--;
          w.reject(error(w));
        } else list[keep++] = w;
      }
      list.length = keep;
    }
  }
}
