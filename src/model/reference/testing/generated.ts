/**
 * Test helper: the MODELS.md §9.2 fixtures as real checkpoints on disk, written by the project's
 * generator (src/model/generator/) into a temporary directory and opened back through the
 * safetensors reader and parseModelConfig, exactly as the engine loads a model.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelSpec } from '../../../config/model-spec.js';
import { parseModelConfig } from '../../../config/model-config.js';
import { generateCheckpoint } from '../../generator/write-checkpoint.js';
import { openSafetensorsWeights } from '../../safetensors.js';
import type { WeightSource } from '../../tensor.js';

export interface GeneratedFixture {
  /** MODELS.md §9.2 name. */
  readonly label: string;
  readonly arch: string;
  readonly variant?: string;
  readonly isMla: boolean;
}

export const GENERATED_FIXTURES: readonly GeneratedFixture[] = [
  { label: 'llama-tiny', arch: 'llama', isMla: false },
  { label: 'qwen3-tiny', arch: 'qwen3', isMla: false },
  { label: 'mixtral-tiny', arch: 'mixtral', isMla: false },
  { label: 'qwen3moe-tiny', arch: 'qwen3-moe', isMla: false },
  { label: 'qwen3moe-tiny-nonorm', arch: 'qwen3-moe', variant: 'nonorm', isMla: false },
  { label: 'dsv3-tiny', arch: 'deepseek-v3', isMla: true },
  { label: 'dsv3-tiny-noq', arch: 'deepseek-v3', variant: 'noq', isMla: true },
  { label: 'dsv3-tiny-k2yarn', arch: 'deepseek-v3', variant: 'k2yarn', isMla: true },
  { label: 'dsv2-tiny', arch: 'deepseek-v2', isMla: true },
  { label: 'dsv2-lite-tiny', arch: 'deepseek-v2', variant: 'v2-lite', isMla: true },
];

export interface LoadedFixture {
  readonly dir: string;
  readonly config: Record<string, unknown>;
  readonly spec: ModelSpec;
  readonly weights: WeightSource;
}

/** A scratch directory removed by the returned `cleanup`. */
export function scratchDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Generates fixture `f` (byte tokenizer, f32 unless told) under `parent` and loads it back from disk. */
export async function generateFixture(f: GeneratedFixture, parent: string, seed = 11, dtype: 'f32' | 'bf16' = 'f32'): Promise<LoadedFixture> {
  const dir = join(parent, `${f.label}-${dtype}`);
  await generateCheckpoint({ arch: f.arch, preset: 'tiny', seed, tokenizer: 'byte', variant: f.variant, dtype, outDir: dir });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  return { dir, config, spec: parseModelConfig(config), weights: openSafetensorsWeights(dir) };
}
