/**
 * Scheduler settings of one DP group (paper notes §2.5.1), validated once with messages that name
 * the field (STYLE.md §8), then frozen.
 */
import { XdsError } from '../../core/errors.js';

export interface SchedulerConfig {
  /** Token budget of one step: Σ tokens computed by all scheduled requests. */
  readonly maxNumBatchedTokens: number;
  /** Most requests in the running set. */
  readonly maxNumSeqs: number;
  /** Bounded waiting queue: addRequest beyond it is XdsError('overloaded'). */
  readonly maxWaiting: number;
  /** Policy name in the registry (policies.ts). Default 'fcfs'. */
  readonly policy?: string;
  /** Context length: prompt + generated tokens. Default unlimited (the KV cache bounds it). */
  readonly maxModelLen?: number;
  /** Most tokens one request computes in one step (splits long prompts). Default: the budget. */
  readonly maxPrefillChunkTokens?: number;
  /** false: a prompt is admitted only when all of it fits in this step's budget. Default true. */
  readonly enableChunkedPrefill?: boolean;
}

export type ResolvedSchedulerConfig = Readonly<Required<SchedulerConfig>>;

function positiveInt(value: number, param: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new XdsError('invalid_config', `${param} must be an integer ≥ 1, got ${String(value)}`, { param });
  }
  return value;
}

export function checkSchedulerConfig(c: SchedulerConfig): ResolvedSchedulerConfig {
  const maxNumBatchedTokens = positiveInt(c.maxNumBatchedTokens, 'maxNumBatchedTokens');
  const maxModelLen = c.maxModelLen ?? Number.MAX_SAFE_INTEGER;
  if (maxModelLen !== Number.MAX_SAFE_INTEGER) positiveInt(maxModelLen, 'maxModelLen');
  return Object.freeze({
    maxNumBatchedTokens,
    maxNumSeqs: positiveInt(c.maxNumSeqs, 'maxNumSeqs'),
    maxWaiting: positiveInt(c.maxWaiting, 'maxWaiting'),
    policy: c.policy ?? 'fcfs',
    maxModelLen,
    maxPrefillChunkTokens: positiveInt(c.maxPrefillChunkTokens ?? maxNumBatchedTokens, 'maxPrefillChunkTokens'),
    enableChunkedPrefill: c.enableChunkedPrefill ?? true,
  });
}
