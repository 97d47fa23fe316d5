/**
 * The DP group's serving loop (paper notes §2.5.1): steps while there is work, yields to the event
 * loop between steps (setImmediate) so HTTP handlers and sinks keep running, and parks when idle
 * until `notify()` (a new request). `drain()` finishes the work in hand and ends the loop.
 */

export interface Steppable {
  readonly hasWork: boolean;
  /** One synchronous step (schedule → execute → commit). */
  step(): unknown;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class ServeLoop {
  private running: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private isStopping = false;

  constructor(private readonly target: Steppable, private readonly onError: (e: unknown) => void) {}

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
        continue;
      }
      try {
        this.target.step();
      } catch (e) {
        this.onError(e);
      }
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
