/**
 * Vocabulary size and bos/eos ids of a tokenizer folder, read straight from tokenizer.json and
 * tokenizer_config.json (no BPE model is built: loading the real 150k-token tokenizers takes
 * seconds). Same rules as model/tokenizer.ts: vocab = largest id + 1, specials by their text.
 */
import { join } from 'node:path';
import { XdsError } from '../../core/errors.js';
import { readJsonObject } from '../generation-config.js';
import { specialTokenText, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from '../tokenizer.js';
import type { TokenFacts } from './presets.js';

interface AddedToken { readonly id?: unknown; readonly content?: unknown }

function idTable(json: Record<string, unknown>): Map<string, number> {
  const ids = new Map<string, number>();
  const model = json['model'] as { vocab?: unknown } | undefined;
  const vocab = model?.vocab;
  if (vocab !== null && typeof vocab === 'object' && !Array.isArray(vocab)) {
    for (const [text, id] of Object.entries(vocab as Record<string, unknown>)) if (typeof id === 'number') ids.set(text, id);
  }
  const added = Array.isArray(json['added_tokens']) ? (json['added_tokens'] as AddedToken[]) : [];
  for (const a of added) if (typeof a.content === 'string' && typeof a.id === 'number') ids.set(a.content, a.id);
  return ids;
}

export function readTokenFacts(dir: string): TokenFacts {
  const json = readJsonObject(join(dir, TOKENIZER_FILE));
  const config = readJsonObject(join(dir, TOKENIZER_CONFIG_FILE), { optional: true }) ?? {};
  const ids = idTable(json);
  let maxId = -1;
  for (const id of ids.values()) if (id > maxId) maxId = id;
  const idOf = (key: string): number | null => {
    const text = specialTokenText(config[key]);
    return text === undefined ? null : ids.get(text) ?? null;
  };
  const eos = idOf('eos_token');
  if (eos === null) throw new XdsError('checkpoint_corrupt', `${join(dir, TOKENIZER_CONFIG_FILE)} names no eos_token in the vocabulary`, { param: 'eos_token' });
  return { vocabSize: maxId + 1, bosTokenId: idOf('bos_token'), eosTokenId: eos };
}
