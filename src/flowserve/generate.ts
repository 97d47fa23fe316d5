/**
 * A single-request generation loop over a ModelRunner (the colocated path of the request
 * lifecycle, src/README.md steps 3–4, without a scheduler): prefill the prompt in one forward,
 * then decode one token per forward, each into the request's own block table 0..numBlocks−1.
 * Sampling is sampling/sampler.ts; text is detokenized incrementally and never ends in half a
 * UTF-8 character, and stop strings are cut, by the output process's own pieces
 * (output/detokenizer.ts, output/stop-strings.ts), so this loop and the gateway emit the same text.
 * Prefill and decode tokens/s are measured with the injected Clock.
 */
import { realClock, type Clock } from '../core/clock.js';
import { XdsError } from '../core/errors.js';
import type { ModelRunner } from './runner/types.js';
import { RequestSampler, type SampleResult } from '../sampling/sampler.js';
import type { SamplingParams } from '../sampling/params.js';
import { checkStopToken, type FinishReason } from '../sampling/stop.js';
import { IncrementalDetokenizer } from './output/detokenizer.js';
import { StopStringMatcher } from './output/stop-strings.js';
import type { TokenDecoder } from './output/types.js';

/** What generate needs from a tokenizer (model/tokenizer.ts TextTokenizer satisfies it). */
export type Detokenizer = TokenDecoder;

export interface TokenEvent {
  readonly tokenId: number;
  /** Text that became final with this token (may be empty: an unfinished UTF-8 character, a held-back stop-string prefix). */
  readonly text: string;
  readonly sample: SampleResult;
}

export interface GenerateOptions {
  readonly runner: ModelRunner;
  readonly tokenizer: Detokenizer;
  readonly promptIds: readonly number[];
  readonly params?: Partial<SamplingParams>;
  readonly maxTokens: number;
  /** EOS and any other ids that end generation (their text is not emitted). */
  readonly stopTokenIds?: readonly number[];
  readonly stopStrings?: readonly string[];
  /** The model's context (spec.maxPositionEmbeddings); the KV capacity also limits it. */
  readonly maxPositionEmbeddings?: number;
  readonly clock?: Clock;
  readonly onToken?: (ev: TokenEvent) => void;
  readonly signal?: AbortSignal;
}

export interface GenerateResult {
  readonly text: string;
  /** Generated ids, including a final stop token. */
  readonly tokenIds: number[];
  readonly promptTokenIds: number[];
  readonly finishReason: FinishReason;
  readonly samples: SampleResult[];
  /** µs spent in the prefill forward + first sample, and in all later steps. */
  readonly prefillUs: number;
  readonly decodeUs: number;
  readonly prefillTokensPerSec: number;
  /** Generated tokens after the first, per second of decode time; 0 when there were none. */
  readonly decodeTokensPerSec: number;
}

/** The longest sequence this runner (and model) can hold. */
export function contextLimit(runner: ModelRunner, maxPositionEmbeddings = Infinity): number {
  return Math.min(maxPositionEmbeddings, runner.numBlocks * runner.blockSizeTokens);
}

function checkInputs(o: GenerateOptions, limit: number): void {
  if (o.promptIds.length === 0) throw new XdsError('invalid_argument', 'the prompt has no tokens', { param: 'prompt' });
  if (!Number.isInteger(o.maxTokens) || o.maxTokens < 1) {
    throw new XdsError('invalid_argument', `max_tokens must be an integer ≥ 1, got ${o.maxTokens}`, { param: 'max_tokens' });
  }
  for (const [i, id] of o.promptIds.entries()) {
    if (!Number.isInteger(id) || id < 0 || id >= o.runner.vocabSize) {
      throw new XdsError('invalid_argument', `prompt token ${id} at position ${i} is outside the vocabulary [0, ${o.runner.vocabSize})`, { param: 'prompt' });
    }
  }
  if (o.promptIds.length >= limit) {
    throw new XdsError('context_length_exceeded',
      `the prompt has ${o.promptIds.length} tokens but this model's context holds ${limit} (prompt plus at least one generated token)`, { param: 'prompt' });
  }
}

/** One forward of `tokens` at `startPos`; returns the last row's logits. [vocab] f32 */
function forwardLast(runner: ModelRunner, blockTable: Int32Array, tokens: readonly number[], startPos: number): Float32Array {
  const r = runner.forward({
    kind: 'forward',
    seqs: [{ seqId: 'generate', tokenIds: Int32Array.from(tokens), startPos, blockTable, wantAllLogits: false }],
  });
  const row = r.rows[0]!;
  const last = row.first + row.count - 1;
  return r.logits.subarray(last * runner.vocabSize, (last + 1) * runner.vocabSize);
}

/**
 * The text that becomes final with `tokenId`: a stop token adds none; at the end of generation
 * the detokenizer and the stop-string matcher release what they held back.
 */
function nextText(detok: IncrementalDetokenizer, matcher: StopStringMatcher, tokenId: number, finish: FinishReason | null): { text: string; finish: FinishReason | null } {
  let raw = finish === 'stop' ? '' : detok.push(tokenId);
  if (finish !== null) raw += detok.flush();
  const r = matcher.push(raw);
  if (r.matched !== null) return { text: r.text, finish: 'stop' };
  return { text: finish !== null ? r.text + matcher.flush() : r.text, finish };
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Generates up to `maxTokens` tokens for one prompt. */
export async function generate(o: GenerateOptions): Promise<GenerateResult> {
  const limit = contextLimit(o.runner, o.maxPositionEmbeddings);
  checkInputs(o, limit);
  const clock = o.clock ?? realClock;
  const stop = { stopTokenIds: o.stopTokenIds ?? [], maxTokens: Math.min(o.maxTokens, limit - o.promptIds.length) };
  const sampler = new RequestSampler(o.params ?? {}, o.promptIds);
  const detok = new IncrementalDetokenizer(o.tokenizer, o.promptIds);
  const matcher = new StopStringMatcher(o.stopStrings ?? []);
  const blockTable = Int32Array.from({ length: o.runner.numBlocks }, (_, i) => i);
  const tokenIds: number[] = [];
  const samples: SampleResult[] = [];
  let text = '';
  let finish: FinishReason | null = null;
  const t0 = clock.nowUs();
  let tPrefill = t0;
  let logits = forwardLast(o.runner, blockTable, o.promptIds, 0);
  for (;;) {
    if (o.signal?.aborted) throw new XdsError('request_aborted', 'generation was aborted', { cause: o.signal.reason });
    const sample = sampler.sample(logits);
    tokenIds.push(sample.tokenId);
    samples.push(sample);
    if (tokenIds.length === 1) tPrefill = clock.nowUs();
    finish = checkStopToken(sample.tokenId, tokenIds.length, stop);
    const piece = nextText(detok, matcher, sample.tokenId, finish);
    finish = piece.finish;
    text += piece.text;
    o.onToken?.({ tokenId: sample.tokenId, text: piece.text, sample });
    if (finish !== null) break;
    await yieldToEventLoop();
    logits = forwardLast(o.runner, blockTable, [sample.tokenId], o.promptIds.length + tokenIds.length - 1);
  }
  const tEnd = clock.nowUs();
  return finishResult(o, { text, tokenIds, samples, finish, prefillUs: tPrefill - t0, decodeUs: tEnd - tPrefill });
}

function finishResult(
  o: GenerateOptions,
  r: { text: string; tokenIds: number[]; samples: SampleResult[]; finish: FinishReason; prefillUs: number; decodeUs: number },
): GenerateResult {
  const perSec = (n: number, us: number): number => (n > 0 && us > 0 ? (n * 1e6) / us : 0);
  return {
    text: r.text, tokenIds: r.tokenIds, promptTokenIds: [...o.promptIds], finishReason: r.finish, samples: r.samples,
    prefillUs: r.prefillUs, decodeUs: r.decodeUs,
    prefillTokensPerSec: perSec(o.promptIds.length, r.prefillUs),
    decodeTokensPerSec: perSec(r.tokenIds.length - 1, r.decodeUs),
  };
}
