/**
 * Per-token logprob records for the stream (OpenAI chat `logprobs.content[i]`: token text, logprob,
 * UTF-8 bytes, top alternatives), built by the output process from what the sampler reported
 * (sampling/logprobs.ts). The gateway renames the fields to snake_case.
 * NOTE: a byte-level BPE token may hold part of a UTF-8 character; its text alone is then U+FFFD,
 * so `bytes` come from the token's byte-level spelling (GPT-2 byte table) when the tokenizer
 * exposes `idToToken`, which is what OpenAI's `bytes` field is for.
 */
import type { TokenLogprob } from '../../sampling/logprobs.js';
import { byteLevelBytes } from '../../model/token-bytes.js';
import type { TokenDecoder } from './types.js';

/** What the sampler reported for one generated token. */
export interface LogprobInfo {
  readonly logprob: number;
  readonly topLogprobs?: readonly TokenLogprob[];
}

export interface TokenLogprobText {
  readonly token: string;
  readonly logprob: number;
  readonly bytes: readonly number[];
}

export interface TokenLogprobEntry extends TokenLogprobText {
  readonly topLogprobs: readonly TokenLogprobText[];
}

/** A tokenizer that can also spell a token (TextTokenizer can). */
export type SpellingDecoder = TokenDecoder & { idToToken?(id: number): string | undefined };

/** Text and UTF-8 bytes of one token (special tokens spelled out). */
export function tokenText(tokenizer: SpellingDecoder, id: number, logprob: number): TokenLogprobText {
  const token = tokenizer.decode([id], { skipSpecialTokens: false });
  const partial = token.includes('\uFFFD') ? byteLevelBytes(tokenizer, id) : null;
  return { token, logprob, bytes: partial ?? [...Buffer.from(token, 'utf8')] };
}

export function logprobEntry(tokenizer: SpellingDecoder, tokenId: number, info: LogprobInfo): TokenLogprobEntry {
  return {
    ...tokenText(tokenizer, tokenId, info.logprob),
    topLogprobs: (info.topLogprobs ?? []).map((t) => tokenText(tokenizer, t.tokenId, t.logprob)),
  };
}
