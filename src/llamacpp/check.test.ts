/**
 * The check's own logic without llama.cpp: the comparison of two greedy runs, softmax/argmax, the
 * prebuilt package choice, the check models (each exports to its GGUF arch, patches applied), and
 * the reference engine's greedy loop against a direct forward.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpointForExport } from '../model/gguf/checkpoint-dir.js';
import { planGguf } from '../model/gguf/export.js';
import { referenceForward } from '../model/reference/forward.js';
import { CHECK_CASES } from './check-cases.js';
import { compareRuns, generateCaseModel } from './check.js';
import { referenceEngine, softmaxStep, type EngineStep } from './engines.js';
import { prebuiltPackage } from './install.js';
import type { LlamaCppStep } from './run.js';

function step(tokenId: number, probs: number[]): EngineStep {
  return { tokenId, probs: Float64Array.from(probs) };
}
function theirs(tokenId: number, probs: number[]): LlamaCppStep {
  return { tokenId, probs: Float32Array.from(probs) };
}

test('compareRuns: identical tokens and max |Δp|; stops comparing after the first divergence', () => {
  const same = compareRuns([step(1, [0.2, 0.8]), step(0, [0.6, 0.4])], [theirs(1, [0.2005, 0.7995]), theirs(0, [0.6, 0.4])]);
  assert.equal(same.tokensIdentical, true);
  assert.equal(same.firstDivergence, null);
  assert.ok(Math.abs(same.maxProbDiff - 5e-4) < 1e-7, `${same.maxProbDiff}`);
  const diverged = compareRuns(
    [step(1, [0.4, 0.6]), step(1, [0.1, 0.9]), step(0, [1, 0])],
    [theirs(1, [0.4, 0.6]), theirs(0, [0.52, 0.48]), theirs(1, [0, 1])],
  );
  assert.equal(diverged.tokensIdentical, false);
  assert.equal(diverged.firstDivergence, 1);
  assert.ok(Math.abs(diverged.maxProbDiff - 0.42) < 1e-6, 'step 2 (different contexts) is not compared');
});

test('softmaxStep: f64 softmax, lowest id on ties; prebuilt package per platform', () => {
  const s = softmaxStep([1, 3, 3, -1]);
  assert.equal(s.tokenId, 1);
  const e = [Math.exp(-2), 1, 1, Math.exp(-4)];
  const z = e.reduce((a, b) => a + b, 0);
  e.forEach((v, i) => assert.ok(Math.abs(s.probs[i]! - v / z) < 1e-15));
  assert.equal(prebuiltPackage('linux', 'x64'), '@node-llama-cpp/linux-x64');
  assert.equal(prebuiltPackage('darwin', 'arm64'), '@node-llama-cpp/mac-arm64-metal');
  assert.equal(prebuiltPackage('aix', 'ppc64'), null);
});

test('every check model exports to its GGUF arch; patches reach config and weights', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xds-check-cases-'));
  try {
    for (const c of CHECK_CASES) {
      const d = join(dir, c.genArch);
      await generateCaseModel(c, d);
      const ckpt = openCheckpointForExport(d);
      const plan = planGguf({ spec: ckpt.spec, weights: ckpt.weights, tokenizer: ckpt.tokenizer, type: 'f32' });
      assert.equal(plan.arch, c.ggufArch, c.name);
      for (const t of plan.tensors) assert.equal(t.data().length, t.shape.reduce((a, b) => a * b, 1), `${c.name} ${t.name}`);
      if (c.genArch === 'qwen3-moe') assert.ok(ckpt.spec.layers.every((l) => l.ffn.kind === 'moe'));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reference engine: greedy steps equal argmax of a direct forward over the grown sequence', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xds-check-ref-'));
  try {
    const c = CHECK_CASES.find((x) => x.genArch === 'qwen3')!;
    await generateCaseModel(c, dir);
    const { spec, weights } = openCheckpointForExport(dir);
    const steps = referenceEngine(spec, weights).greedy([84, 104, 101], 3);
    const ids = [84, 104, 101, steps[0]!.tokenId, steps[1]!.tokenId];
    const { logits } = referenceForward(spec, weights, ids);
    const V = spec.vocabSize;
    const last = softmaxStep(logits.subarray(4 * V, 5 * V));
    assert.equal(last.tokenId, steps[2]!.tokenId);
    assert.deepEqual(last.probs, steps[2]!.probs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
