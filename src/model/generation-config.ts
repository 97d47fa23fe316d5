/**
 * A checkpoint's `generation_config.json` (Hugging Face format): sampling defaults and stop tokens
 * (MODELS.md §7). Also home of `readJsonObject`, the small JSON-file reader the model I/O files share.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { XdsError } from '../core/errors.js';

export const GENERATION_CONFIG_FILE = 'generation_config.json';

/** Sampling defaults and stop tokens; absent fields mean "not set by the model". */
export interface GenerationConfig {
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly maxNewTokens?: number;
  readonly repetitionPenalty?: number;
  readonly doSample?: boolean;
  /** `eos_token_id`, always as a list (HF allows a number or a list). */
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId?: number;
  readonly padTokenId?: number;
}

/**
 * Reads `path` as a JSON object. Missing file: XdsError 'checkpoint_missing' (or undefined when
 * `optional`); unreadable, bad JSON or not an object: 'checkpoint_corrupt'. Both name the file.
 */
export function readJsonObject(path: string, opts: { optional: true }): Record<string, unknown> | undefined;
export function readJsonObject(path: string, opts?: { optional?: false }): Record<string, unknown>;
export function readJsonObject(path: string, opts: { optional?: boolean } = {}): Record<string, unknown> | undefined {
  if (!existsSync(path) || !statSync(path).isFile()) {
    if (opts.optional) return undefined;
    throw new XdsError('checkpoint_missing', `${path} does not exist`, { param: path });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new XdsError('checkpoint_corrupt', `${path} is not valid JSON: ${(cause as Error).message}`, { param: path, cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new XdsError('checkpoint_corrupt', `${path} must hold a JSON object`, { param: path });
  }
  return parsed as Record<string, unknown>;
}

/** Loads `dir/generation_config.json`; a missing file gives the defaults (no fields, no eos ids). */
export function loadGenerationConfig(dir: string): GenerationConfig {
  const path = join(dir, GENERATION_CONFIG_FILE);
  const json = readJsonObject(path, { optional: true });
  return json ? parseGenerationConfig(json, path) : Object.freeze({ eosTokenIds: Object.freeze([]) });
}

/** Maps the HF keys to camelCase, checking each value's type; `source` names the file in errors. */
export function parseGenerationConfig(json: Record<string, unknown>, source = GENERATION_CONFIG_FILE): GenerationConfig {
  const num = (key: string, isInt = false): number | undefined => readNumber(json, key, source, isInt);
  const doSample = json.do_sample;
  if (doSample !== undefined && doSample !== null && typeof doSample !== 'boolean') throw badField(source, 'do_sample', 'a boolean', doSample);
  const cfg: GenerationConfig = {
    eosTokenIds: Object.freeze(readIdList(json, 'eos_token_id', source)),
    ...defined('temperature', num('temperature')),
    ...defined('topP', num('top_p')),
    ...defined('topK', num('top_k', true)),
    ...defined('maxNewTokens', num('max_new_tokens', true)),
    ...defined('repetitionPenalty', num('repetition_penalty')),
    ...defined('doSample', doSample ?? undefined),
    ...defined('bosTokenId', num('bos_token_id', true)),
    ...defined('padTokenId', num('pad_token_id', true)),
  };
  return Object.freeze(cfg);
}

function defined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function badField(source: string, key: string, want: string, got: unknown): XdsError {
  return new XdsError('checkpoint_corrupt', `${source}: ${key} must be ${want}, got ${JSON.stringify(got)}`, { param: key });
}

function readNumber(json: Record<string, unknown>, key: string, source: string, isInt: boolean): number | undefined {
  const v = json[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (isInt && !Number.isInteger(v))) {
    throw badField(source, key, isInt ? 'an integer' : 'a number', v);
  }
  return v;
}

function readIdList(json: Record<string, unknown>, key: string, source: string): number[] {
  const v = json[key];
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  if (!list.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) throw badField(source, key, 'a token id or a list of token ids', v);
  return list as number[];
}
