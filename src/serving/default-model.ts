/**
 * The embedded default model (issue 4 "Commands"): a tiny DeepSeek-V3-architecture checkpoint
 * (MODELS.md §9.2 dsv3-tiny: MLA, MoE with group-limited routing, shared expert) with the real
 * DeepSeek-V3 tokenizer and chat template, generated deterministically on first start into the
 * cache folder (config/env.ts) and reused afterwards. Written into a temporary sibling folder and
 * renamed, so an interrupted first start never leaves a half-written model behind.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { generateCheckpoint, type GenProgress } from '../model/generator/write-checkpoint.js';

export const DEFAULT_MODEL_NAME = 'xdeepserve/dsv3-tiny';

/** What the default model is; changing any of it changes the folder name (a new cache entry). */
export const DEFAULT_MODEL_RECIPE = Object.freeze({ arch: 'deepseek-v3', preset: 'tiny', seed: 0, tokenizer: 'deepseek-v3', dtype: 'f32' });

const COMPLETE_MARKER = 'config.json';

export function defaultModelDir(cacheDir: string): string {
  const r = DEFAULT_MODEL_RECIPE;
  return join(cacheDir, 'models', `${r.arch}-${r.preset}-${r.tokenizer}-seed${r.seed}-${r.dtype}`);
}

/** One progress line: "generating …: 12/40 tensors, 31.5 MiB". */
export function formatGenProgress(p: GenProgress): string {
  const mib = (p.bytesDone / 2 ** 20).toFixed(1);
  if (p.phase === 'build') return `generating the default model: ${p.tensorsDone}/${p.tensorsTotal} tensors, ${mib} MiB`;
  if (p.phase === 'write') return `writing the default model (${mib} MiB)`;
  return `default model ready (${mib} MiB)`;
}

/**
 * Returns the default model's folder, generating it first when it is not in the cache.
 * `onProgress` gets progress while generating (never when the cache already holds it).
 */
export async function ensureDefaultModel(o: { readonly cacheDir: string; readonly onProgress?: (p: GenProgress) => void }): Promise<string> {
  const dir = defaultModelDir(o.cacheDir);
  if (existsSync(join(dir, COMPLETE_MARKER))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const r = DEFAULT_MODEL_RECIPE;
  try {
    await generateCheckpoint({ ...r, outDir: tmp, ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }) });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}
