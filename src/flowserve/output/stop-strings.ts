/**
 * Stop strings of one request (OpenAI `stop`) over streamed text, for the output process (paper
 * notes §2.5.1). Text deltas go in; out comes the text safe to emit now, holding back any tail
 * that could still grow into a stop string, so a stop string spanning tokens is still caught and
 * never shown (OpenAI semantics; the first stop string to complete wins; vLLM's `include_stop_str_in_output` keeps it, as an option here).
 * The one stop-string matcher of the project: the single-request `generate` loop uses it too.
 */
import { XdsError } from '../../core/errors.js';
import { partialMarkerLength } from './text-hold.js';

export interface StopStringStep {
  /** Text safe to emit now. */
  readonly text: string;
  /** The stop string that matched, or null; after a match every push returns nothing. */
  readonly matched: string | null;
}

export interface StopStringOptions {
  /** Emit the stop string itself too (vLLM's include_stop_str_in_output; default false). */
  readonly includeInOutput?: boolean;
}

export class StopStringMatcher {
  private readonly stops: readonly string[];
  private readonly includeInOutput: boolean;
  private pending = '';
  private matchedStop: string | null = null;

  constructor(stops: readonly string[], opts: StopStringOptions = {}) {
    this.stops = checkStops(stops);
    this.includeInOutput = opts.includeInOutput ?? false;
  }

  /** The stop string that ended the stream, or null. */
  get matched(): string | null {
    return this.matchedStop;
  }

  /** Adds a text delta; returns what may be emitted and whether a stop string matched. */
  push(delta: string): StopStringStep {
    if (this.matchedStop !== null) return { text: '', matched: null };
    if (this.stops.length === 0) return { text: delta, matched: null };
    this.pending += delta;
    const hit = firstCompleted(this.pending, this.stops);
    if (hit !== null) {
      this.matchedStop = hit.marker;
      const end = hit.index + (this.includeInOutput ? hit.marker.length : 0);
      const text = this.pending.slice(0, end);
      this.pending = '';
      return { text, matched: hit.marker };
    }
    const keep = partialMarkerLength(this.pending, this.stops);
    const text = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return { text, matched: null };
  }

  /** End of the stream without a match: releases the held-back tail. */
  flush(): string {
    const text = this.pending;
    this.pending = '';
    return text;
  }
}

/**
 * The stop string that completes first (earliest end; on a tie the longer one), as a stream fed
 * one character at a time would see it, so the result does not depend on how text was chunked.
 */
function firstCompleted(text: string, stops: readonly string[]): { index: number; marker: string } | null {
  let best: { index: number; marker: string } | null = null;
  for (const marker of stops) {
    const index = text.indexOf(marker);
    if (index < 0) continue;
    const end = index + marker.length;
    const bestEnd = best === null ? Infinity : best.index + best.marker.length;
    if (end < bestEnd || (end === bestEnd && index < best!.index)) best = { index, marker };
  }
  return best;
}

function checkStops(stops: readonly string[]): string[] {
  if (!Array.isArray(stops)) throw new XdsError('invalid_argument', 'stop must be a list of strings', { param: 'stop' });
  return stops.map((s, i) => {
    if (typeof s !== 'string' || s.length === 0) {
      throw new XdsError('invalid_argument', `stop[${i}] must be a non-empty string, got ${JSON.stringify(s)}`, { param: `stop[${i}]` });
    }
    return s;
  });
}
