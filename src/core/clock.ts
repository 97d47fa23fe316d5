/**
 * The injected clock (ARCHITECTURE.md "Rules"): everything that tells time or waits goes through
 * a `Clock`, so the simulator can run the same code in virtual time.
 */

export interface Clock {
  /** Monotonic time in µs. */
  nowUs(): number;
  /** Wall-clock time in ms since the epoch (for timestamps in responses). */
  wallMs(): number;
  /** Resolves after `us` µs of this clock's time. */
  sleepUs(us: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  nowUs: () => Number(process.hrtime.bigint() / 1000n),
  wallMs: () => Date.now(),
  sleepUs: (us, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, us / 1000);
      const onAbort = (): void => { clearTimeout(t); reject(signal?.reason); };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** A clock that moves only when told: for tests and the simulator. */
export class ManualClock implements Clock {
  private timeUs = 0;
  private timers: { atUs: number; resolve: () => void }[] = [];

  nowUs(): number { return this.timeUs; }
  wallMs(): number { return 1_700_000_000_000 + this.timeUs / 1000; }

  sleepUs(us: number): Promise<void> {
    return new Promise((resolve) => this.timers.push({ atUs: this.timeUs + us, resolve }));
  }

  advanceUs(us: number): void {
    this.timeUs += us;
    const due = this.timers.filter((t) => t.atUs <= this.timeUs);
    this.timers = this.timers.filter((t) => t.atUs > this.timeUs);
    for (const t of due) t.resolve();
  }
}
