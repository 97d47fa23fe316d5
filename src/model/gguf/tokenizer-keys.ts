/**
 * Byte-level BPE tokenizer.json + tokenizer_config.json → `tokenizer.ggml.*` keys
 * (GGUF-EXPORT.md §9): model `gpt2`, a `pre` name whose regex matches the pre-tokenizer, tokens
 * by id padded to the embedding rows with `[PAD<id>]` (type UNUSED), INT32 token types
 * (special added → control, other added → user-defined), merges as "left right", BOS/EOS ids,
 * add_bos/add_eos explicit, and the chat template.
 */
import { XdsError } from '../../core/errors.js';
import { kv, type GgufKv } from './format.js';

const TOKEN_TYPE = { normal: 1, control: 3, userDefined: 4, unused: 5 } as const;

export interface TokenizerFiles {
  /** Parsed tokenizer.json. */
  readonly tokenizerJson: unknown;
  /** Parsed tokenizer_config.json (may be {}). */
  readonly tokenizerConfigJson: unknown;
}

type Json = Record<string, unknown>;

function obj(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${what} must be an object`, what);
  return v as Json;
}

function bad(message: string, param: string): XdsError {
  return new XdsError('checkpoint_corrupt', `tokenizer for GGUF: ${message}`, { param });
}

/** tokens[id] and token types, padded to `vocabSize` rows. */
function tokenTable(tok: Json, vocabSize: number): { tokens: string[]; types: number[] } {
  const model = obj(tok['model'], 'tokenizer.json model');
  if (model['type'] !== 'BPE') throw bad(`only BPE tokenizers export as gpt2, got ${String(model['type'])}`, 'model.type');
  const tokens: (string | undefined)[] = new Array<string | undefined>(vocabSize);
  const types: number[] = new Array<number>(vocabSize).fill(TOKEN_TYPE.unused);
  const put = (text: string, id: number, type: number): void => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw bad(`token ${JSON.stringify(text)} has id ${id} outside the ${vocabSize} embedding rows`, 'vocab_size');
    tokens[id] = text;
    types[id] = type;
  };
  for (const [text, id] of Object.entries(obj(model['vocab'], 'model.vocab'))) put(text, id as number, TOKEN_TYPE.normal);
  for (const added of (tok['added_tokens'] ?? []) as Json[]) {
    put(String(added['content']), added['id'] as number, added['special'] === true ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined);
  }
  return { tokens: Array.from(tokens, (t, id) => t ?? `[PAD${id}]`), types };
}

function mergeList(tok: Json): string[] {
  const merges = obj(tok['model'], 'model')['merges'];
  if (!Array.isArray(merges)) throw bad('model.merges must be an array', 'model.merges');
  // New-style [left, right] pairs: a space inside a part is written as U+0120 (GGUF-EXPORT.md §9).
  return merges.map((m) => (Array.isArray(m) ? m.map((p) => String(p).replaceAll(' ', '\u0120')).join(' ') : String(m)));
}

/** HF ByteLevel with its built-in regex → `gpt-2`; the known split regexes by their signature. */
export function preTokenizerName(tok: Json): string {
  const text = JSON.stringify(tok['pre_tokenizer'] ?? null);
  if (text.includes('[一-龥぀-ゟ゠-ヿ]+')) return 'deepseek-v3';
  if (text.includes('\\\\p{N}{1,3}') && text.includes('(?i:')) return 'llama-bpe';
  if (text.includes('\\\\p{N}') && text.includes("(?i:'s|'t|'re|'ve|'m|'ll|'d)")) return 'qwen2';
  const pre = tok['pre_tokenizer'] as Json | null;
  if (pre?.['type'] === 'ByteLevel' && pre['use_regex'] !== false) return 'gpt-2';
  return 'default';
}

function tokenId(configValue: unknown, table: readonly string[]): number | undefined {
  const text = typeof configValue === 'string' ? configValue : (configValue as Json | null)?.['content'];
  if (typeof text !== 'string') return undefined;
  const id = table.indexOf(text);
  return id >= 0 ? id : undefined;
}

function chatTemplate(cfg: Json): string | undefined {
  const t = cfg['chat_template'];
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) return (t as Json[]).find((e) => e['name'] === 'default')?.['template'] as string | undefined;
  return undefined;
}

/** The tokenizer keys; `vocabSize` is the model's embedding rows (tokens are padded to it). */
export function tokenizerKeys(files: TokenizerFiles, vocabSize: number): GgufKv[] {
  const tok = obj(files.tokenizerJson, 'tokenizer.json');
  const cfg = obj(files.tokenizerConfigJson ?? {}, 'tokenizer_config.json');
  const { tokens, types } = tokenTable(tok, vocabSize);
  const keys: GgufKv[] = [
    kv.str('tokenizer.ggml.model', 'gpt2'), kv.str('tokenizer.ggml.pre', preTokenizerName(tok)),
    kv.strArray('tokenizer.ggml.tokens', tokens), kv.i32Array('tokenizer.ggml.token_type', types),
    kv.strArray('tokenizer.ggml.merges', mergeList(tok)),
  ];
  const bos = tokenId(cfg['bos_token'], tokens);
  const eos = tokenId(cfg['eos_token'], tokens);
  if (bos !== undefined) keys.push(kv.u32('tokenizer.ggml.bos_token_id', bos));
  if (eos !== undefined) keys.push(kv.u32('tokenizer.ggml.eos_token_id', eos));
  keys.push(kv.bool('tokenizer.ggml.add_bos_token', cfg['add_bos_token'] === true));
  keys.push(kv.bool('tokenizer.ggml.add_eos_token', cfg['add_eos_token'] === true));
  const template = chatTemplate(cfg);
  if (template !== undefined) keys.push(kv.str('tokenizer.chat_template', template));
  return keys;
}
