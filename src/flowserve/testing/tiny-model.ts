/**
 * A tiny generated model for engine tests (MODELS.md §9.2), written to a temp folder and loaded
 * like a real checkpoint, for the enclosing test file or describe block (before/after hooks).
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCheckpoint } from '../../model/generator/write-checkpoint.js';
import { openSafetensorsWeights } from '../../model/safetensors.js';
import { bindModelWeights, type ModelWeights } from '../../model/model-weights.js';
import type { ModelSpec } from '../../config/model-spec.js';

export interface TinyModel { readonly spec: ModelSpec; readonly weights: ModelWeights }

/** The tiny `arch` model of this seed (byte tokenizer); read `model` inside the tests. */
export function useTinyModel(arch: string, seed: number): { readonly model: TinyModel } {
  const scratch = mkdtempSync(join(tmpdir(), `xds-tiny-${arch}-`));
  let model: TinyModel | undefined;
  before(async () => {
    const dir = join(scratch, `${arch}-tiny`);
    const g = await generateCheckpoint({ arch, preset: 'tiny', seed, tokenizer: 'byte', outDir: dir });
    model = { spec: g.spec, weights: bindModelWeights(g.spec, openSafetensorsWeights(dir)) };
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));
  return { get model() { return model ?? assert.fail('the model is generated in before()'); } };
}
