/**
 * Where each live request's events go (the output shortcut of engine.ts): its sink, and the
 * watch on its abort signal. Mechanism only: what a throwing sink or a fired signal means
 * (abort the request) is the engine's call, through the callbacks.
 */
import type { EngineEvent, EventSink } from './engine-types.js';

export class RequestSinks {
  private readonly entries = new Map<string, { readonly sink: EventSink; readonly detach: () => void }>();

  /** `onSignal(id)` runs when a request's abort signal fires. */
  constructor(private readonly onSignal: (requestId: string) => void) {}

  add(requestId: string, sink: EventSink, signal: AbortSignal | undefined): void {
    this.entries.set(requestId, { sink, detach: this.watch(requestId, signal) });
  }

  /** Ids of the requests with a sink (a copy: callers may end them while iterating). */
  ids(): string[] {
    return [...this.entries.keys()];
  }

  /** Hands the event to the request's sink (none: nothing); false when the sink threw. */
  deliver(requestId: string, event: EngineEvent): boolean {
    const entry = this.entries.get(requestId);
    if (entry === undefined) return true;
    try {
      entry.sink(event);
      return true;
    } catch {
      return false;
    }
  }

  /** Drops the request's sink and stops watching its signal. */
  forget(requestId: string): void {
    this.entries.get(requestId)?.detach();
    this.entries.delete(requestId);
  }

  private watch(requestId: string, signal: AbortSignal | undefined): () => void {
    if (signal === undefined) return () => {};
    const onAbort = (): void => { this.onSignal(requestId); };
    signal.addEventListener('abort', onAbort, { once: true });
    return () => signal.removeEventListener('abort', onAbort);
  }
}
