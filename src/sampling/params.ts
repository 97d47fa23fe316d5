/**
 * Per-request sampling parameters (OpenAI / vLLM names) and their validation. Bad values are
 * XdsError('invalid_argument') naming the field, so the gateway can return them as-is.
 */
import { XdsError } from '../core/errors.js';

export interface SamplingParams {
  /** 0 ⇒ greedy (argmax, lowest id on ties). */
  readonly temperature: number;
  /** Keep the k most likely tokens; 0 (or -1 on input) ⇒ off. */
  readonly topK: number;
  /** Keep the smallest set of most likely tokens whose mass reaches topP; 1 ⇒ off. */
  readonly topP: number;
  /** Keep tokens with p ≥ minP · p_max; 0 ⇒ off. */
  readonly minP: number;
  /** Seed of this request's own PRNG; null ⇒ a fresh random seed. */
  readonly seed: number | null;
  /** Subtracted once from every token already generated (output only). */
  readonly presencePenalty: number;
  /** Subtracted count times from every token already generated (output only). */
  readonly frequencyPenalty: number;
  /** HF/vLLM: divides positive / multiplies negative logits of tokens in prompt or output; 1 ⇒ off. */
  readonly repetitionPenalty: number;
  /** Number of top logprobs to report per token; null ⇒ none (the sampled token's is always given). */
  readonly logprobs: number | null;
  /** vLLM `min_tokens`: the request's stop tokens cannot be sampled before this many tokens; 0 ⇒ off. */
  readonly minTokens: number;
  /** OpenAI `response_format`: 'json_object' constrains the output to one JSON object (json-constraint.ts). */
  readonly responseFormat: 'text' | 'json_object';
  /** With 'json_object': the JSON Schema the object must match (json-schema.ts), or null for any object. */
  readonly jsonSchema: Readonly<Record<string, unknown>> | null;
  /** OpenAI `logit_bias`: [token id, bias in [-100, 100]] pairs added to the raw logits; [] ⇒ off. */
  readonly logitBias: readonly (readonly [number, number])[];
}

export const DEFAULT_SAMPLING: SamplingParams = Object.freeze({
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  seed: null,
  presencePenalty: 0,
  frequencyPenalty: 0,
  repetitionPenalty: 1,
  logprobs: null,
  minTokens: 0,
  responseFormat: 'text',
  jsonSchema: null,
  logitBias: [],
});

/** OpenAI's range for a `logit_bias` value. */
export const MAX_LOGIT_BIAS = 100;

/** Upper bound on `logprobs` (OpenAI allows 20 for chat; vLLM defaults to 20 too). */
export const MAX_LOGPROBS = 20;

function check(ok: boolean, field: string, rule: string, value: unknown): void {
  if (!ok) throw new XdsError('invalid_argument', `${field} must be ${rule}, got ${String(value)}`, { param: field });
}

/** Fills defaults and validates; the result is frozen. */
export function makeSamplingParams(input: Partial<SamplingParams> = {}): SamplingParams {
  const p = { ...DEFAULT_SAMPLING, ...stripUndefined(input) };
  const fin = Number.isFinite;
  check(fin(p.temperature) && p.temperature >= 0, 'temperature', 'a number ≥ 0', p.temperature);
  check(Number.isInteger(p.topK) && p.topK >= -1, 'top_k', 'an integer ≥ -1 (0 or -1 = off)', p.topK);
  check(fin(p.topP) && p.topP > 0 && p.topP <= 1, 'top_p', 'in (0, 1]', p.topP);
  check(fin(p.minP) && p.minP >= 0 && p.minP <= 1, 'min_p', 'in [0, 1]', p.minP);
  check(p.seed === null || Number.isSafeInteger(p.seed), 'seed', 'an integer', p.seed);
  check(fin(p.presencePenalty) && Math.abs(p.presencePenalty) <= 2, 'presence_penalty', 'in [-2, 2]', p.presencePenalty);
  check(fin(p.frequencyPenalty) && Math.abs(p.frequencyPenalty) <= 2, 'frequency_penalty', 'in [-2, 2]', p.frequencyPenalty);
  check(fin(p.repetitionPenalty) && p.repetitionPenalty > 0, 'repetition_penalty', 'a number > 0', p.repetitionPenalty);
  const lp = p.logprobs;
  check(lp === null || (Number.isInteger(lp) && lp >= 0 && lp <= MAX_LOGPROBS), 'logprobs', `an integer in [0, ${MAX_LOGPROBS}]`, lp);
  check(Number.isSafeInteger(p.minTokens) && p.minTokens >= 0, 'min_tokens', 'an integer ≥ 0', p.minTokens);
  check(p.responseFormat === 'text' || p.responseFormat === 'json_object', 'response_format', "'text' or 'json_object'", p.responseFormat);
  check(p.jsonSchema === null || (p.responseFormat === 'json_object' && typeof p.jsonSchema === 'object'), 'response_format', 'a JSON Schema object, with json_object', typeof p.jsonSchema);
  for (const [id, bias] of p.logitBias) {
    check(Number.isSafeInteger(id) && id >= 0, 'logit_bias', 'keyed by token ids (integers ≥ 0)', id);
    check(fin(bias) && Math.abs(bias) <= MAX_LOGIT_BIAS, 'logit_bias', `valued in [-${MAX_LOGIT_BIAS}, ${MAX_LOGIT_BIAS}]`, `${bias} for token ${id}`);
  }
  const logitBias = Object.freeze(p.logitBias.map(([id, bias]) => Object.freeze([id, bias] as const)));
  return Object.freeze({ ...p, topK: p.topK < 0 ? 0 : p.topK, logitBias });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
