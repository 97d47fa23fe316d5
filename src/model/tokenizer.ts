/**
 * Text tokenizer over a checkpoint's Hugging Face `tokenizer.json` + `tokenizer_config.json`
 * (MODELS.md §7; CPU-FACTS.md §5: `@huggingface/tokenizers`, pure JS). The DP group's tokenizer and
 * output process (paper §2.5.1, ARCHITECTURE.md "DP group") encode prompts and detokenize with it.
 *
 * NOTE: transformers' fast Llama tokenizers honour `add_bos_token`/`add_eos_token` from
 * tokenizer_config.json by rewriting the post-processor (DeepSeek-V3 relies on this: its
 * tokenizer.json post-processor adds nothing); the JS library does not, so we add them here when
 * the post-processor does not already. For ByteLevel decoders (GPT-2 style: DeepSeek, Qwen, Llama 3)
 * `decode` takes a fast path of its own: the library scans every added token for every token
 * decoded (about 50 µs a token with DeepSeek-V3's 800 added tokens), too slow for streaming.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { join } from 'node:path';
import { XdsError } from '../core/errors.js';
import { readJsonObject } from './generation-config.js';

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

export interface EncodeOptions {
  /** Add BOS/EOS and whatever else the post-processor adds (default true, as in transformers). */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (default false). */
  skipSpecialTokens?: boolean;
}

/** The special-token strings a chat template receives (transformers' `special_tokens_map`). */
export interface SpecialTokenStrings {
  readonly bos_token?: string;
  readonly eos_token?: string;
  readonly pad_token?: string;
  readonly unk_token?: string;
}

/**
 * A special token in tokenizer_config.json: a string, `{content, ...}` (AddedToken), or null.
 * Returns the token text or undefined.
 */
export function specialTokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/** Reads bos/eos/pad/unk strings from a tokenizer_config.json object. */
export function specialTokenStrings(config: Record<string, unknown>): SpecialTokenStrings {
  const out: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token'] as const) {
    const text = specialTokenText(config[key]);
    if (text !== undefined) out[key] = text;
  }
  return Object.freeze(out);
}

export class TextTokenizer {
  /** Number of ids including added tokens: the largest id + 1. */
  readonly vocabSize: number;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  readonly specialTokens: SpecialTokenStrings;
  readonly specialTokenIds: ReadonlySet<number>;
  private readonly tok: Tokenizer;
  /** Ids we add ourselves because the post-processor does not (see header NOTE). */
  private readonly prefixIds: readonly number[];
  private readonly suffixIds: readonly number[];
  private readonly fastDecoder: ByteLevelDecoder | undefined;

  constructor(tokenizerJson: Record<string, unknown>, tokenizerConfig: Record<string, unknown>) {
    this.tok = new Tokenizer(tokenizerJson, tokenizerConfig);
    this.specialTokens = specialTokenStrings(tokenizerConfig);
    this.bosTokenId = this.idOf(this.specialTokens.bos_token);
    this.eosTokenId = this.idOf(this.specialTokens.eos_token);
    this.padTokenId = this.idOf(this.specialTokens.pad_token);
    this.vocabSize = maxId(this.tok.get_vocab(true).values()) + 1;
    this.specialTokenIds = Object.freeze(collectSpecialIds(this, tokenizerJson, tokenizerConfig));
    const postAdds = this.tok.encode('', { add_special_tokens: true }).ids.length > 0;
    const want = (flag: unknown, id: number | undefined): number[] => (!postAdds && flag === true && id !== undefined ? [id] : []);
    this.prefixIds = want(tokenizerConfig.add_bos_token, this.bosTokenId);
    this.suffixIds = want(tokenizerConfig.add_eos_token, this.eosTokenId);
    this.fastDecoder = ByteLevelDecoder.fits(tokenizerJson, tokenizerConfig) ? new ByteLevelDecoder(this, tokenizerJson) : undefined;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const addSpecial = opts.addSpecialTokens ?? true;
    const ids = this.tok.encode(text, { add_special_tokens: addSpecial }).ids;
    return addSpecial ? [...this.prefixIds, ...ids, ...this.suffixIds] : ids;
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new XdsError('invalid_argument', `token id ${id} at position ${i} is outside the vocabulary [0, ${this.vocabSize})`, { param: `ids[${i}]` });
      }
    }
    const skip = opts.skipSpecialTokens ?? false;
    if (this.fastDecoder) return this.fastDecoder.decode(ids, skip ? this.specialTokenIds : undefined);
    const kept = skip ? ids.filter((id) => !this.specialTokenIds.has(id)) : ids;
    return kept.length === 0 ? '' : this.tok.decode([...kept], { skip_special_tokens: skip });
  }

  /** The library's own decode, without the fast path (the reference the fast path is tested against). */
  decodeReference(ids: readonly number[], opts: DecodeOptions = {}): string {
    return ids.length === 0 ? '' : this.tok.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  private idOf(token: string | undefined): number | undefined {
    return token === undefined ? undefined : this.tok.token_to_id(token);
  }
}

/** GPT-2's reversible map from bytes to printable characters (e.g. space → 'Ġ', newline → 'Ċ'). */
export function byteToUnicodeTable(): string[] {
  const table: string[] = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + extra++);
  }
  return table;
}

/**
 * ByteLevel decoding: added tokens verbatim, runs of other tokens mapped back to bytes, then UTF-8.
 * Each id's bytes are mapped once and kept; a token whose bytes are all ASCII, met with no bytes
 * pending, is appended as text (ASCII bytes decode to themselves and end no multi-byte sequence),
 * so the detokenizer's per-token decodes of short windows mostly skip the UTF-8 decoder.
 */
class ByteLevelDecoder {
  private readonly charToByte: ReadonlyMap<string, number> = new Map(byteToUnicodeTable().map((ch, b) => [ch, b]));
  private readonly addedIds: ReadonlySet<number>;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  /** Per id, filled on first use: the token's bytes, or its text when they are all ASCII or it is added. */
  private readonly pieces: (Uint8Array | string | null)[] = [];
  private pending = new Uint8Array(256); // bytes of the current run not yet decoded
  private numPending = 0;

  /** Only where the library's decode is exactly this: a ByteLevel decoder and no clean-up pass. */
  static fits(json: Record<string, unknown>, config: Record<string, unknown>): boolean {
    const decoder = json.decoder as { type?: unknown } | null | undefined;
    const model = json.model as { end_of_word_suffix?: unknown } | undefined;
    return decoder?.type === 'ByteLevel' && config.clean_up_tokenization_spaces === false && !model?.end_of_word_suffix;
  }

  constructor(private readonly tok: TextTokenizer, json: Record<string, unknown>) {
    const added = Array.isArray(json.added_tokens) ? (json.added_tokens as Array<{ id?: unknown }>) : [];
    this.addedIds = new Set(added.map((a) => a.id).filter((id): id is number => typeof id === 'number'));
  }

  decode(ids: readonly number[], skip: ReadonlySet<number> | undefined): string {
    let out = '';
    this.numPending = 0;
    for (const id of ids) {
      if (skip?.has(id)) continue;
      const p = this.piece(id);
      if (p === null) continue;
      if (typeof p !== 'string') this.push(p);
      else if (this.addedIds.has(id)) out += this.flush() + p;
      else if (this.numPending === 0) out += p;
      else for (let i = 0; i < p.length; i++) this.push1(p.charCodeAt(i));
    }
    return out + this.flush();
  }

  private piece(id: number): Uint8Array | string | null {
    let p = this.pieces[id];
    if (p !== undefined) return p;
    const token = this.tok.idToToken(id);
    if (token === undefined) p = null;
    else if (this.addedIds.has(id)) p = token;
    else {
      const bytes = Uint8Array.from(token, (ch) => this.charToByte.get(ch) ?? 0);
      p = bytes.every((b) => b < 0x80) ? String.fromCharCode(...bytes) : bytes;
    }
    this.pieces[id] = p;
    return p;
  }

  private push(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.push1(bytes[i]!);
  }

  private push1(b: number): void {
    if (this.numPending === this.pending.length) {
      const grown = new Uint8Array(2 * this.pending.length);
      grown.set(this.pending);
      this.pending = grown;
    }
    this.pending[this.numPending++] = b;
  }

  /** The pending bytes as text (U+FFFD for bytes that form no character), and none pending after. */
  private flush(): string {
    if (this.numPending === 0) return '';
    const text = this.utf8.decode(this.pending.subarray(0, this.numPending));
    this.numPending = 0;
    return text;
  }
}

function maxId(ids: Iterable<number>): number {
  let m = -1;
  for (const id of ids) if (id > m) m = id;
  return m;
}

/** Added tokens marked special in either file, plus the ids of bos/eos/pad/unk and additional_special_tokens. */
function collectSpecialIds(t: TextTokenizer, json: Record<string, unknown>, config: Record<string, unknown>): Set<number> {
  const ids = new Set<number>();
  const added = Array.isArray(json.added_tokens) ? (json.added_tokens as Array<{ id?: unknown; special?: unknown }>) : [];
  for (const a of added) if (a.special === true && typeof a.id === 'number') ids.add(a.id);
  const decoder = (config.added_tokens_decoder ?? {}) as Record<string, { special?: unknown }>;
  for (const [id, a] of Object.entries(decoder)) if (a?.special === true && Number.isInteger(Number(id))) ids.add(Number(id));
  const extra = Array.isArray(config.additional_special_tokens) ? config.additional_special_tokens : [];
  for (const tok of [...Object.values(t.specialTokens), ...extra.map(specialTokenText)]) {
    const id = tok === undefined ? undefined : t.tokenToId(tok);
    if (id !== undefined) ids.add(id);
  }
  return ids;
}

/**
 * Loads `dir/tokenizer.json` (required) and `dir/tokenizer_config.json` (optional: a missing one
 * means no bos/eos). Missing tokenizer.json: 'checkpoint_missing'; bad JSON or a tokenizer the
 * library rejects: 'checkpoint_corrupt'.
 */
export function loadTokenizer(dir: string): TextTokenizer {
  const jsonPath = join(dir, TOKENIZER_FILE);
  const json = readJsonObject(jsonPath);
  const config = readJsonObject(join(dir, TOKENIZER_CONFIG_FILE), { optional: true }) ?? {};
  try {
    return new TextTokenizer(json, config);
  } catch (cause) {
    if (cause instanceof XdsError) throw cause;
    throw new XdsError('checkpoint_corrupt', `${jsonPath} could not be loaded as a tokenizer: ${(cause as Error).message}`, { param: jsonPath, cause });
  }
}
