/**
 * The output shortcut (paper notes §2.5.1): joins one request's DpEngine events to its
 * OutputProcessor and sends plain typed messages straight to the gateway's stream, with no hop
 * through a central frontend. Stop strings end the request inside the engine through
 * `RequestInit.shouldStop` (the scheduler asks right after appending a token, before the token's
 * event), so no token is generated past a stop string.
 *
 * Usage:
 *   const out = new RequestOutput(id, new OutputProcessor({ tokenizer, promptIds, stop, toolParser: 'hermes' }), send);
 *   engine.addRequest({ id, promptTokenIds, maxTokens, stopTokenIds, shouldStop: out.shouldStop }, out.sink);
 */
import { assert } from '../../core/assert.js';
import type { ErrorCode } from '../../core/errors.js';
import type { EngineEvent, Usage } from '../engine-types.js';
import type { OutputProcessor } from './output-processor.js';
import type { OutputDelta, OutputFinal } from './types.js';

/** What the gateway's stream receives for one request: deltas, then maybe an error, then one final. */
export type OutputMessage =
  | { readonly kind: 'delta'; readonly requestId: string; readonly delta: OutputDelta }
  | { readonly kind: 'error'; readonly requestId: string; readonly code: ErrorCode; readonly message: string }
  | { readonly kind: 'final'; readonly requestId: string; readonly final: OutputFinal; readonly usage: Usage };

export type OutputSend = (message: OutputMessage) => void;

export class RequestOutput {
  /** Deltas computed in shouldStop, waiting for their token event (which carries the logprobs). */
  private readonly waiting = new Map<number, OutputDelta>();
  private numFed = 0;
  /** Index of the token that completed a stop string; later tokens show nothing (not even logprobs). */
  private stopIndex: number | null = null;

  constructor(readonly requestId: string, private readonly processor: OutputProcessor, private readonly send: OutputSend) {}

  /** For RequestInit.shouldStop: feeds the new tokens; true once a stop string matched. */
  readonly shouldStop = (outputTokenIds: Int32Array): boolean => {
    while (this.numFed < outputTokenIds.length) this.feed(outputTokenIds[this.numFed]!);
    return this.processor.stopMatched !== null;
  };

  /** For DpEngine.addRequest: the request's event sink. */
  readonly sink = (event: EngineEvent): void => {
    switch (event.kind) {
      case 'token':
        return this.onTokenEvent(event);
      case 'error':
        return this.send({ kind: 'error', requestId: this.requestId, code: event.code, message: event.message });
      case 'finished':
        return this.send({ kind: 'final', requestId: this.requestId, final: this.processor.finish(event.reason), usage: event.usage });
    }
  };

  private feed(tokenId: number): void {
    const delta = this.processor.onToken(tokenId);
    if (delta.stopMatched !== null) this.stopIndex = this.numFed;
    this.waiting.set(this.numFed++, delta);
  }

  private onTokenEvent(event: Extract<EngineEvent, { kind: 'token' }>): void {
    if (this.numFed === event.index) this.feed(event.tokenId);
    assert(this.numFed > event.index, () => `token ${event.index} of ${this.requestId} arrived before token ${this.numFed}`);
    const delta = this.waiting.get(event.index);
    this.waiting.delete(event.index);
    if (delta === undefined || (this.stopIndex !== null && event.index > this.stopIndex)) return;
    const info = event.logprob === undefined ? undefined : { logprob: event.logprob, topLogprobs: event.topLogprobs };
    const logprobs = info === undefined ? undefined : this.processor.logprobEntry(event.tokenId, info);
    const full: OutputDelta = logprobs === undefined ? delta : { ...delta, logprobs };
    if (hasSomething(full)) this.send({ kind: 'delta', requestId: this.requestId, delta: full });
  }
}

function hasSomething(d: OutputDelta): boolean {
  return d.contentDelta !== '' || d.reasoningDelta !== '' || d.toolCalls !== undefined || d.stopMatched !== null || d.logprobs !== undefined;
}
