/**
 * A Hugging Face checkpoint directory opened as one object (MODELS.md §7): config.json (parsed,
 * not interpreted: `parseModelConfig` in src/config/model-config.ts turns it into a ModelSpec),
 * the safetensors weights (headers read now, tensors on first use), the tokenizer and chat
 * template (loaded on first call: the real tokenizer.json files take about a second), and
 * generation_config.json.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { XdsError } from '../core/errors.js';
import type { WeightSource } from './tensor.js';
import { openSafetensorsWeights, type SafetensorsOptions } from './safetensors.js';
import { loadTokenizer, type TextTokenizer } from './tokenizer.js';
import { loadChatTemplate, type ChatTemplate } from './chat-template.js';
import { loadGenerationConfig, readJsonObject, type GenerationConfig } from './generation-config.js';

export const CONFIG_FILE = 'config.json';

export interface Checkpoint {
  /** Absolute path of the checkpoint directory. */
  readonly dir: string;
  /** config.json as parsed JSON. */
  readonly configJson: Readonly<Record<string, unknown>>;
  readonly weights: WeightSource;
  readonly generationConfig: GenerationConfig;
  /** Loaded on the first call, then cached. */
  tokenizer(): TextTokenizer;
  /** Loaded on the first call, then cached; null when the checkpoint has no chat template. */
  chatTemplate(): ChatTemplate | null;
}

function lazy<T>(load: () => T): () => T {
  let loaded = false;
  let value: T;
  return () => {
    if (!loaded) {
      value = load();
      loaded = true;
    }
    return value;
  };
}

/**
 * Opens `dir`. Missing directory or config.json, or no safetensors: 'checkpoint_missing'; invalid
 * config.json or corrupt safetensors headers: 'checkpoint_corrupt'. Each error names the file.
 */
export function openCheckpoint(dir: string, opts: SafetensorsOptions = {}): Checkpoint {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    throw new XdsError('checkpoint_missing', `checkpoint directory ${abs} does not exist`, { param: dir });
  }
  const configJson = Object.freeze(readJsonObject(join(abs, CONFIG_FILE)));
  return Object.freeze({
    dir: abs,
    configJson,
    weights: openSafetensorsWeights(abs, opts),
    generationConfig: loadGenerationConfig(abs),
    tokenizer: lazy(() => loadTokenizer(abs)),
    chatTemplate: lazy(() => loadChatTemplate(abs)),
  });
}
