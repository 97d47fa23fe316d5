/**
 * `generateCheckpoint`: writes a complete random checkpoint directory in Hugging Face layout
 * (MODELS.md §7, §9): tokenizer.json + tokenizer_config.json (with its chat template), config.json
 * whose vocab and bos/eos ids come from that tokenizer, safetensors with HF names (sharded with an
 * index when over `maxShardBytes`), generation_config.json. Same options ⇒ byte-identical files.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XdsError } from '../../core/errors.js';
import { parseModelConfig } from '../../config/model-config.js';
import type { ModelSpec } from '../../config/model-spec.js';
import { INDEX_FILE, writeShardedSafetensors } from '../safetensors.js';
import { copyRealTokenizer } from '../real-tokenizers.js';
import { writeByteLevelTokenizer } from '../byte-tokenizer.js';
import { GENERATION_CONFIG_FILE } from '../generation-config.js';
import { buildConfigJson, checkGenChoice, type ConfigJson, type GenArch, type GenPreset, type TokenFacts } from './presets.js';
import { buildWeights } from './build-weights.js';
import { readTokenFacts } from './token-facts.js';

export const GEN_TOKENIZERS = ['byte', 'deepseek-v3', 'qwen3'] as const;
export type GenTokenizer = (typeof GEN_TOKENIZERS)[number];

export interface GenerateCheckpointOptions {
  readonly arch: GenArch | string;
  readonly preset: GenPreset | string;
  readonly seed: number;
  /** Default 'byte' (256 byte tokens + a few specials: fast, tiny embeddings). */
  readonly tokenizer?: GenTokenizer | string;
  readonly variant?: string;
  /** Default f32 for tiny, bf16 for small. */
  readonly dtype?: 'f32' | 'bf16' | string;
  readonly outDir: string;
  /** Shard the safetensors above this many bytes (default 200 MiB). */
  readonly maxShardBytes?: number;
  /** Progress: called after each tensor is built, then once with phase 'write'. */
  readonly onProgress?: (p: GenProgress) => void;
}

export interface GenProgress {
  readonly phase: 'build' | 'write' | 'done';
  readonly tensorsDone: number;
  readonly tensorsTotal: number;
  readonly bytesDone: number;
}

export interface GeneratedCheckpoint {
  readonly dir: string;
  /** The config.json object as written. */
  readonly config: ConfigJson;
  readonly spec: ModelSpec;
  readonly numTensors: number;
  readonly totalBytes: number;
}

export const DEFAULT_MAX_SHARD_BYTES = 200 * 1024 * 1024;

function checkOptions(o: GenerateCheckpointOptions): { tokenizer: GenTokenizer; dtype: 'f32' | 'bf16' } {
  checkGenChoice(o.arch, o.preset, o.variant);
  const tokenizer = o.tokenizer ?? 'byte';
  if (!(GEN_TOKENIZERS as readonly string[]).includes(tokenizer)) {
    throw new XdsError('invalid_argument', `--tokenizer must be one of ${GEN_TOKENIZERS.join(', ')}; got '${tokenizer}'`, { param: 'tokenizer' });
  }
  const dtype = o.dtype ?? (o.preset === 'tiny' ? 'f32' : 'bf16');
  if (dtype !== 'f32' && dtype !== 'bf16') throw new XdsError('invalid_argument', `--dtype must be f32 or bf16; got '${dtype}'`, { param: 'dtype' });
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw new XdsError('invalid_argument', `--seed must be a non-negative integer; got '${o.seed}'`, { param: 'seed' });
  if (o.outDir === '') throw new XdsError('invalid_argument', '--out must name a directory', { param: 'out' });
  return { tokenizer: tokenizer as GenTokenizer, dtype };
}

/** Writes the tokenizer files and reads back the facts config.json needs. */
function writeTokenizer(kind: GenTokenizer, dir: string): TokenFacts {
  if (kind === 'byte') writeByteLevelTokenizer(dir);
  else copyRealTokenizer(kind, dir);
  return readTokenFacts(dir);
}

/** Removes safetensors files of an earlier run, so a stale index or shard cannot mix in. */
function removeStaleWeights(dir: string): void {
  for (const f of readdirSync(dir)) {
    if (f === INDEX_FILE || (f.startsWith('model') && f.endsWith('.safetensors'))) rmSync(join(dir, f));
  }
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, JSON.stringify(value, null, 2) + '\n');
}

function generationConfig(tok: TokenFacts): ConfigJson {
  const json: ConfigJson = { bos_token_id: tok.bosTokenId ?? undefined, eos_token_id: tok.eosTokenId, do_sample: true, temperature: 1.0, top_p: 1.0, transformers_version: '4.46.3' };
  return Object.fromEntries(Object.entries(json).filter(([, v]) => v !== undefined));
}

export async function generateCheckpoint(o: GenerateCheckpointOptions): Promise<GeneratedCheckpoint> {
  const { tokenizer, dtype } = checkOptions(o);
  const arch = o.arch as GenArch;
  const preset = o.preset as GenPreset;
  mkdirSync(o.outDir, { recursive: true });
  removeStaleWeights(o.outDir);
  const tok = writeTokenizer(tokenizer, o.outDir);
  const config = buildConfigJson(arch, preset, o.variant, tok, dtype === 'f32' ? 'float32' : 'bfloat16');
  config['xdeepserve_generator'] = { arch, preset, variant: o.variant ?? null, seed: o.seed, tokenizer };
  const spec = parseModelConfig(config);
  let bytesDone = 0;
  const tensors = buildWeights(spec, { seed: o.seed, dtype, nonNegativeBias: o.variant === 'posbias' }, (done, total, bytes) => {
    bytesDone += bytes;
    o.onProgress?.({ phase: 'build', tensorsDone: done, tensorsTotal: total, bytesDone });
  });
  o.onProgress?.({ phase: 'write', tensorsDone: tensors.length, tensorsTotal: tensors.length, bytesDone });
  writeShardedSafetensors(o.outDir, tensors, o.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES);
  writeJson(join(o.outDir, 'config.json'), config);
  writeJson(join(o.outDir, GENERATION_CONFIG_FILE), generationConfig(tok));
  o.onProgress?.({ phase: 'done', tensorsDone: tensors.length, tensorsTotal: tensors.length, bytesDone });
  return { dir: o.outDir, config, spec, numTensors: tensors.length, totalBytes: bytesDone };
}
