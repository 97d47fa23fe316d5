/**
 * Reads what the GGUF export needs from a Hugging Face checkpoint directory (MODELS.md §7):
 * config.json → ModelSpec (parseModelConfig), the safetensors weights, and the raw tokenizer.json
 * / tokenizer_config.json objects (their tokens and merges become GGUF keys, GGUF-EXPORT.md §9).
 * Missing or unreadable files are XdsErrors naming the file.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseModelConfig } from '../../config/model-config.js';
import type { ModelSpec } from '../../config/model-spec.js';
import { XdsError } from '../../core/errors.js';
import { openSafetensorsWeights } from '../safetensors.js';
import type { WeightSource } from '../tensor.js';
import type { TokenizerFiles } from './tokenizer-keys.js';

export interface CheckpointForExport {
  readonly spec: ModelSpec;
  readonly weights: WeightSource;
  /** null when the directory has no tokenizer.json. */
  readonly tokenizer: TokenizerFiles | null;
}

function readJson(path: string, required: boolean): unknown {
  if (!existsSync(path)) {
    if (required) throw new XdsError('checkpoint_missing', `${path} does not exist`, { param: path });
    return null;
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (e) {
    throw new XdsError('checkpoint_corrupt', `${path} is not valid JSON: ${(e as Error).message}`, { param: path, cause: e });
  }
}

export function openCheckpointForExport(dir: string): CheckpointForExport {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new XdsError('checkpoint_missing', `model directory ${dir} does not exist`, { param: 'model' });
  }
  const spec = parseModelConfig(readJson(join(dir, 'config.json'), true));
  const weights = openSafetensorsWeights(dir);
  const tokenizerJson = readJson(join(dir, 'tokenizer.json'), false);
  const tokenizerConfigJson = readJson(join(dir, 'tokenizer_config.json'), false) ?? {};
  return { spec, weights, tokenizer: tokenizerJson === null ? null : { tokenizerJson, tokenizerConfigJson } };
}
