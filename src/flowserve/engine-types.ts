/**
 * The public surface of a DP group engine (paper notes §2.5.1): options, the plain typed events
 * a request's sink receives (output shortcut: the output process consumes them and streams to the
 * gateway), the injected sampling function, and the statistics the DP load balancer (§2.5.2) and
 * the benchmarks read.
 */
import type { Clock } from '../core/clock.js';
import type { ErrorCode } from '../core/errors.js';
import type { KvStats } from '../kvcache/kv-manager.js';
import type { TokenLogprob } from '../sampling/logprobs.js';
import type { FinishReason, Request } from './request.js';
import type { PromptLogprob } from './prompt-logprobs.js';
import type { ModelRunner } from './runner/types.js';
import type { SchedulerConfig } from './scheduler/config.js';
import type { AdmitPolicy } from './engine-loop.js';

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Prompt tokens served from the prefix cache at admission. */
  readonly cachedTokens: number;
}

/**
 * Events of one request, in order: zero or more 'token', then (on failure) one 'error', then
 * exactly one 'finished'. Nothing follows 'finished'.
 */
export type EngineEvent =
  | {
      readonly kind: 'token';
      readonly requestId: string;
      readonly tokenId: number;
      /** 0-based index among generated tokens. */
      readonly index: number;
      readonly logprob?: number;
      readonly topLogprobs?: readonly TokenLogprob[];
      /** First token only, when the request asked for them: entries for prompt positions 1, 2, …. */
      readonly promptLogprobs?: readonly PromptLogprob[];
    }
  | { readonly kind: 'finished'; readonly requestId: string; readonly reason: FinishReason; readonly usage: Usage }
  | { readonly kind: 'error'; readonly requestId: string; readonly code: ErrorCode; readonly message: string };

/** Receives a request's events synchronously on the engine's thread. Throwing aborts the request. */
export type EventSink = (event: EngineEvent) => void;

export interface SampledToken {
  readonly tokenId: number;
  readonly logprob?: number;
  readonly topLogprobs?: readonly TokenLogprob[];
}

/** Picks the next token of `req` from its logits row ([vocabSize] f32, a view: copy to keep). */
export type SampleFn = (logits: Float32Array, req: Request) => SampledToken;

export interface DpEngineOptions {
  readonly runner: ModelRunner;
  readonly scheduler: SchedulerConfig;
  /** Default: one sampling/sampler.ts RequestSampler per request (seeded, penalties, logprobs). */
  readonly sample?: SampleFn;
  /** Default realClock. */
  readonly clock?: Clock;
  /** KV blocks the RTC manages; default runner.numBlocks (block size is the runner's). */
  readonly numBlocks?: number;
  /** Default true. */
  readonly enablePrefixCache?: boolean;
  /** The serving loop's admission window (engine-loop.ts); default DEFAULT_ADMIT_POLICY. */
  readonly admit?: Partial<AdmitPolicy>;
}

/** Time spent in one step (µs, injected clock). Scheduler time = schedule + commit. */
export interface StepTiming {
  readonly scheduleUs: number;
  readonly forwardUs: number;
  readonly sampleUs: number;
  readonly commitUs: number;
  readonly numSeqs: number;
  readonly numBatchedTokens: number;
}

export interface EngineStats {
  readonly numRunning: number;
  readonly numWaiting: number;
  readonly kv: KvStats;
  readonly numSteps: number;
  readonly numPreemptions: number;
  /** Sums over all steps that ran a forward (µs). */
  readonly totalScheduleUs: number;
  readonly totalForwardUs: number;
  readonly totalSampleUs: number;
  readonly totalCommitUs: number;
  readonly lastStep: StepTiming | null;
}
