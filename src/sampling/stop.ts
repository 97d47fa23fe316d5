/**
 * Stop conditions of one request: stop token ids (EOS and user `stop_token_ids`), max tokens, and
 * `StopStringMatcher`, an incremental matcher of stop strings over streamed text that holds back
 * any tail that could still become a stop string, so a stop string is never emitted (OpenAI
 * semantics: the stop text itself is not part of the output).
 */

export type FinishReason = 'stop' | 'length';

export interface StopConditions {
  /** Generation ends after emitting any of these (the token counts as generated, its text is not shown). */
  readonly stopTokenIds: readonly number[];
  /** Maximum number of generated tokens. */
  readonly maxTokens: number;
}

/** Why generation ends after `tokenId`, the `numGenerated`-th token, or null to go on. */
export function checkStopToken(tokenId: number, numGenerated: number, c: StopConditions): FinishReason | null {
  if (c.stopTokenIds.includes(tokenId)) return 'stop';
  if (numGenerated >= c.maxTokens) return 'length';
  return null;
}

export interface StopStringResult {
  /** Text safe to emit now. */
  readonly text: string;
  /** The stop string that matched, or null. After a match, further pushes return nothing. */
  readonly matched: string | null;
}

export class StopStringMatcher {
  private readonly stops: readonly string[];
  private readonly holdChars: number;
  private pending = '';
  private done = false;

  constructor(stopStrings: readonly string[]) {
    this.stops = stopStrings.filter((s) => s.length > 0);
    this.holdChars = Math.max(0, ...this.stops.map((s) => s.length - 1));
  }

  get isStopped(): boolean {
    return this.done;
  }

  /** Adds streamed text; returns what may be emitted and whether a stop string matched. */
  push(chunk: string): StopStringResult {
    if (this.done) return { text: '', matched: null };
    this.pending += chunk;
    const hit = this.firstMatch();
    if (hit) {
      this.done = true;
      const text = this.pending.slice(0, hit.index);
      this.pending = '';
      return { text, matched: hit.stop };
    }
    const keep = this.heldTail();
    const text = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return { text, matched: null };
  }

  /** End of generation without a match: releases the held-back tail. */
  flush(): string {
    const text = this.done ? '' : this.pending;
    this.pending = '';
    return text;
  }

  private firstMatch(): { index: number; stop: string } | null {
    let best: { index: number; stop: string } | null = null;
    for (const stop of this.stops) {
      const index = this.pending.indexOf(stop);
      if (index >= 0 && (best === null || index < best.index)) best = { index, stop };
    }
    return best;
  }

  /** Length of the longest suffix of `pending` that is a proper prefix of some stop string. */
  private heldTail(): number {
    const max = Math.min(this.holdChars, this.pending.length);
    for (let n = max; n > 0; n--) {
      const tail = this.pending.slice(this.pending.length - n);
      if (this.stops.some((s) => s.startsWith(tail))) return n;
    }
    return 0;
  }
}
