/**
 * DpEngine with the real tiny model (MODELS.md §9.2 llama-tiny, generated to disk and loaded like
 * a real checkpoint) through LocalModelRunner: requests served concurrently — chunked prefill,
 * mixed prefill+decode forwards, prefix-cache hits, preemption under a small KV cache — give the
 * same greedy tokens as each request alone (ARCHITECTURE.md: the first test of any new mode).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend } from '../kernels/reference.js';
import { LocalModelRunner } from './runner/model-runner.js';
import { DpEngine } from './engine.js';
import type { EngineEvent } from './engine-types.js';
import { assertKvIdle } from './testing/builders.js';
import { useTinyModel } from './testing/tiny-model.js';

const tiny = useTinyModel('llama', 1);

const SHARED = [72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100]; // 12 tokens, 3 blocks of 4
const PROMPTS = [
  [...SHARED, 33],
  [1, 17, 42, 250, 3, 99, 128, 7, 64, 200, 5, 31, 9, 9, 80, 81, 82],
  [...SHARED, 10, 11, 12, 13, 14],
  [65, 66],
  [...SHARED.slice(0, 8), 90, 91, 92],
];
const MAX_TOKENS = 8;

interface EngineSetup { numBlocks: number; budget: number; maxNumSeqs: number; warmUp?: boolean }

/** Serves `prompts` concurrently; returns each one's greedy tokens and the engine for checks. */
async function serve(prompts: readonly number[][], s: EngineSetup): Promise<{ tokens: number[][]; engine: DpEngine }> {
  const runner = new LocalModelRunner(tiny.model.spec, tiny.model.weights, referenceBackend, { numBlocks: s.numBlocks, blockSizeTokens: 4 });
  const engine = new DpEngine({ runner, scheduler: { maxNumBatchedTokens: s.budget, maxNumSeqs: s.maxNumSeqs, maxWaiting: 16 } });
  if (s.warmUp === true) engine.warmUp();
  const tokens = prompts.map(() => [] as number[]);
  prompts.forEach((p, i) => {
    engine.addRequest({ id: `m${i}`, promptTokenIds: p, maxTokens: MAX_TOKENS, sampling: { temperature: 0 } }, (e: EngineEvent) => {
      if (e.kind === 'token') tokens[i]!.push(e.tokenId);
      if (e.kind === 'error') assert.fail(`m${i}: ${e.message}`);
    });
  });
  await engine.run();
  return { tokens, engine };
}

test('tiny llama: concurrent requests give the same greedy tokens as each alone', async () => {
  const alone: number[][] = [];
  for (const p of PROMPTS) alone.push((await serve([p], { numBlocks: 16, budget: 64, maxNumSeqs: 1 })).tokens[0]!);
  assert.ok(alone.every((t) => t.length === MAX_TOKENS));
  assert.ok(new Set(alone.map((t) => t.join(','))).size > 1, 'different prompts should not all give the same tokens');

  const together = await serve(PROMPTS, { numBlocks: 64, budget: 10, maxNumSeqs: 8 });
  assert.deepEqual(together.tokens, alone);
  assert.ok(together.engine.stats().kv.numHitTokens > 0, 'the shared prefix was served from the cache');
  assertKvIdle(together.engine.kv);

  const tight = await serve(PROMPTS, { numBlocks: 12, budget: 16, maxNumSeqs: 8 });
  assert.deepEqual(tight.tokens, alone);
  assert.ok(tight.engine.stats().numPreemptions > 0, 'a 12-block cache forces preemption');
  assertKvIdle(tight.engine.kv);
});

test('tiny llama: an engine warmed up (runner.warmUp with the scheduler shapes) gives the same tokens; warmUp after a request does nothing', async () => {
  const cold = await serve(PROMPTS, { numBlocks: 64, budget: 10, maxNumSeqs: 8 });
  const warm = await serve(PROMPTS, { numBlocks: 64, budget: 10, maxNumSeqs: 8, warmUp: true });
  assert.deepEqual(warm.tokens, cold.tokens);
  assertKvIdle(warm.engine.kv);

  const seen: { maxRows: number; maxSeqs: number }[] = [];
  class CountingRunner extends LocalModelRunner {
    override warmUp(shapes: { maxRows: number; maxSeqs: number }): void { seen.push(shapes); super.warmUp(shapes); }
  }
  const runner = new CountingRunner(tiny.model.spec, tiny.model.weights, referenceBackend, { numBlocks: 16, blockSizeTokens: 4 });
  const engine = new DpEngine({ runner, scheduler: { maxNumBatchedTokens: 24, maxNumSeqs: 3, maxWaiting: 4 } });
  engine.warmUp();
  assert.deepEqual(seen, [{ maxRows: 24, maxSeqs: 3 }]);
  engine.addRequest({ id: 'x', promptTokenIds: [1, 2], maxTokens: 1 }, () => {});
  engine.warmUp();
  assert.equal(seen.length, 1);
  await engine.run();
});
