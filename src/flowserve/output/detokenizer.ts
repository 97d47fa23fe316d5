/**
 * Incremental detokenization for the output process (paper notes §2.5.1, output shortcut), the
 * method of vLLM's `detokenize_incrementally` and Hugging Face's TextStreamer: decode a short
 * window [prefixOffset, end) of the ids and emit only what lies past the decode of
 * [prefixOffset, readOffset), the text already emitted. Decoding a window (not each token alone)
 * keeps byte-level BPE bytes and SentencePiece leading spaces right, because a token's text
 * depends on its neighbours. While the window's text ends in U+FFFD the last character is still
 * incomplete (a multi-byte UTF-8 character split over tokens): nothing is emitted until it completes.
 */
import { XdsError } from '../../core/errors.js';
import type { TokenDecoder } from './types.js';

/** vLLM's INITIAL_INCREMENTAL_DETOKENIZATION_OFFSET: prompt tokens of context for the first window. */
export const PROMPT_CONTEXT_TOKENS = 5;

const REPLACEMENT_CHAR = '\uFFFD';

export interface DetokenizerOptions {
  /** Drop special tokens (BOS, EOS, `<|im_end|>` ...) from the text (default true, as vLLM). */
  readonly skipSpecialTokens?: boolean;
}

export class IncrementalDetokenizer {
  /** Prompt tail + generated ids; the window start never moves back. */
  private readonly ids: number[];
  private prefixOffset: number;
  private readOffset: number;
  private readonly skipSpecialTokens: boolean;
  private numGenerated = 0;

  constructor(private readonly tokenizer: TokenDecoder, promptIds: readonly number[] = [], opts: DetokenizerOptions = {}) {
    this.ids = promptIds.slice(Math.max(0, promptIds.length - PROMPT_CONTEXT_TOKENS));
    this.prefixOffset = 0;
    this.readOffset = this.ids.length;
    this.skipSpecialTokens = opts.skipSpecialTokens ?? true;
  }

  /** Generated tokens pushed so far. */
  get numTokens(): number {
    return this.numGenerated;
  }

  /** Adds one generated token; returns the text that became final (possibly ''). */
  push(tokenId: number): string {
    if (!Number.isInteger(tokenId) || tokenId < 0) {
      throw new XdsError('invalid_argument', `token id must be a non-negative integer, got ${tokenId}`, { param: 'tokenId' });
    }
    this.ids.push(tokenId);
    this.numGenerated++;
    const prefix = this.decode(this.prefixOffset, this.readOffset);
    const full = this.decode(this.prefixOffset, this.ids.length);
    if (full.length <= prefix.length || full.endsWith(REPLACEMENT_CHAR)) return '';
    this.advance();
    return full.slice(prefix.length);
  }

  /** End of stream: the held-back text, if any (U+FFFD for bytes that never formed a character). */
  flush(): string {
    const prefix = this.decode(this.prefixOffset, this.readOffset);
    const full = this.decode(this.prefixOffset, this.ids.length);
    this.advance();
    return full.length > prefix.length ? full.slice(prefix.length) : '';
  }

  /** Everything up to the end is emitted: the next window starts at the old read offset. */
  private advance(): void {
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    if (this.prefixOffset > 64) this.compact();
  }

  /** Drops ids before the window so a long generation does not keep every id. */
  private compact(): void {
    this.ids.splice(0, this.prefixOffset);
    this.readOffset -= this.prefixOffset;
    this.prefixOffset = 0;
  }

  private decode(from: number, to: number): string {
    return from >= to ? '' : this.tokenizer.decode(this.ids.slice(from, to), { skipSpecialTokens: this.skipSpecialTokens });
  }
}
