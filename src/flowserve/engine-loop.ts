/**
 * The DP group's serving loop (paper notes §2.5.1): steps while there is work, yields to the event
 * loop between steps (one setImmediate turn, no timer) so HTTP handlers and sinks keep running,
 * and parks when idle until `notify()` (a new request). `drain()` finishes the work in hand and
 * ends the loop.
 *
 * Admission window (mechanism here, numbers in `AdmitPolicy`): a step blocks the thread, and Node
 * accepts ONE new connection per event-loop turn, so a burst of N new clients would otherwise be
 * admitted one request per step (N steps of ramp, each new prompt prefilled alone). When arrivals
 * came in the turn after a step (or woke the parked loop), the loop keeps yielding turns while
 * arrivals keep coming (each within `quietUs` of the last), for at most `maxFraction` of the last
 * step's time (≤ `maxUs`), then steps with everything that arrived. With no arrival it steps at
 * once, so steady decode pays one event-loop turn per step and nothing more.
 */
import { realClock, type Clock } from '../core/clock.js';

export interface Steppable {
  readonly hasWork: boolean;
  /** One synchronous step (schedule → execute → commit). */
  step(): unknown;
  /** Grows by one per arrival event (a request added, a connection announced); optional. */
  readonly arrivals?: number;
}

export interface AdmitPolicy {
  /** Keep admitting while the last arrival is at most this old (µs); 0 turns the window off. Default 1000. */
  readonly quietUs: number;
  /** The window is at most this fraction of the previous step's time. Default 0.5. */
  readonly maxFraction: number;
  /** ... and never longer than this (µs). Default 50000. */
  readonly maxUs: number;
}

export const DEFAULT_ADMIT_POLICY: AdmitPolicy = Object.freeze({ quietUs: 1000, maxFraction: 0.5, maxUs: 50_000 });

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface ServeLoopOptions {
  readonly admit?: Partial<AdmitPolicy>;
  /** Default realClock. */
  readonly clock?: Clock;
}

export class ServeLoop {
  private running: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private isStopping = false;
  private readonly admit: AdmitPolicy;
  private readonly clock: Clock;
  /** `target.arrivals` when the last step started. */
  private seenArrivals = 0;
  /** µs the last step took (window cap). */
  private lastStepUs = 0;

  constructor(private readonly target: Steppable, private readonly onError: (e: unknown) => void, o: ServeLoopOptions = {}) {
    this.admit = { ...DEFAULT_ADMIT_POLICY, ...o.admit };
    this.clock = o.clock ?? realClock;
  }

  get isRunning(): boolean {
    return this.running !== null;
  }

  /** Starts the loop if it is not running. */
  start(): void {
    if (this.running !== null) return;
    this.isStopping = false;
    this.running = this.loop().finally(() => { this.running = null; });
  }

  /** New work arrived: wake the parked loop. */
  notify(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  /** Lets the loop finish the work in hand, then ends it. Resolves when it has ended. */
  async drain(): Promise<void> {
    this.isStopping = true;
    this.notify();
    await this.running;
  }

  private async loop(): Promise<void> {
    for (;;) {
      if (!this.target.hasWork) {
        if (this.isStopping) return;
        await new Promise<void>((resolve) => { this.wakeUp = resolve; });
        await this.admitArrivals();
        continue;
      }
      this.stepOnce();
      await yieldToEventLoop();
      await this.admitArrivals();
    }
  }

  private stepOnce(): void {
    this.seenArrivals = this.target.arrivals ?? 0;
    const t0 = this.clock.nowUs();
    try {
      this.target.step();
    } catch (e) {
      this.onError(e);
    }
    this.lastStepUs = this.clock.nowUs() - t0;
  }

  /** Yields event-loop turns while arrivals keep coming (see the header); returns at once when none came. */
  private async admitArrivals(): Promise<void> {
    const { quietUs, maxFraction, maxUs } = this.admit;
    if (quietUs <= 0 || this.target.arrivals === undefined) return;
    const start = this.clock.nowUs();
    const limitUs = Math.min(maxUs, Math.max(quietUs, maxFraction * this.lastStepUs));
    let lastArrivalUs = -Infinity;
    let prevUs = -Infinity;
    for (;;) {
      const now = this.clock.nowUs();
      const a = this.target.arrivals;
      const arrived = a !== this.seenArrivals;
      if (arrived) { this.seenArrivals = a; lastArrivalUs = now; }
      // NOTE: a turn with no arrival on a clock that did not move (a simulated clock) ends it too.
      if (now - lastArrivalUs >= quietUs || now - start >= limitUs || this.isStopping || (!arrived && now <= prevUs)) return;
      prevUs = now;
      await yieldToEventLoop();
    }
  }
}

/** Steps `target` until it has no work, yielding to the event loop between steps. */
export async function runUntilIdle(target: Steppable): Promise<void> {
  while (target.hasWork) {
    target.step();
    await yieldToEventLoop();
  }
}
