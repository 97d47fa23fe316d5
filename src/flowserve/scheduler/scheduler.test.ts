import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isXdsError } from '../../core/errors.js';
import { FakeRunner } from '../testing/fake-runner.js';
import { assertKvIdle, expectedGreedy, greedyStep, makeRequest, makeScheduler, runUntilIdle } from '../testing/builders.js';
import type { Request } from '../request.js';
import { policyNames, registerPolicy } from './policies.js';

const prompt = (n: number, base = 1): number[] => Array.from({ length: n }, (_, i) => base + i);

function fakeFor(kv: { numBlocks: number; blockSizeTokens: number }): FakeRunner {
  return new FakeRunner({ numBlocks: kv.numBlocks, blockSizeTokens: kv.blockSizeTokens });
}

function assertGreedyOutputs(runner: FakeRunner, reqs: Request[]): void {
  for (const r of reqs) {
    const want = expectedGreedy((c) => runner.expectedNext(c), [...r.promptTokenIds], r.maxTokens, r.stopTokenIds);
    assert.deepEqual([...r.outputTokenIds], want, `${r.id} tokens`);
  }
}

test('chunked prefill: a long prompt is split by the budget and only the last chunk samples', () => {
  const { scheduler, kv } = makeScheduler({ maxNumBatchedTokens: 8, numBlocks: 16 });
  const runner = fakeFor(kv);
  const r = makeRequest('long', { prompt: 20, maxTokens: 3 });
  scheduler.addRequest(r);
  const outs = runUntilIdle(scheduler, runner);
  const chunks = outs.map((o) => o.seqs.map((s) => [s.startPos, s.tokenIds.length, s.samples]));
  assert.deepEqual(chunks, [[[0, 8, false]], [[8, 8, false]], [[16, 4, true]], [[20, 1, true]], [[21, 1, true]]]);
  assert.equal(r.finishReason, 'length');
  assertGreedyOutputs(runner, [r]);
  assertKvIdle(kv);
});

test('running requests first, mixed prefill and decode in one step, budget and cap respected', () => {
  const { scheduler, kv } = makeScheduler({ maxNumBatchedTokens: 10, maxNumSeqs: 3, numBlocks: 32 });
  const runner = fakeFor(kv);
  const reqs = [0, 1, 2, 3, 4].map((i) => makeRequest(`r${i}`, { prompt: prompt(6, 10 * i + 1), maxTokens: 5 }));
  reqs.forEach((r) => scheduler.addRequest(r));
  const outs = runUntilIdle(scheduler, runner); // runUntilIdle asserts budget, cap, accounting each step
  const mixed = outs.some((o) => o.seqs.some((s) => s.tokenIds.length === 1 && s.startPos >= 6) && o.seqs.some((s) => s.tokenIds.length > 1));
  assert.ok(mixed, 'expected a step with decode tokens and a prefill chunk together');
  for (const o of outs) {
    // running (already admitted) requests precede newly admitted ones in the step
    const firstNew = o.seqs.findIndex((s) => s.startPos === 0);
    if (firstNew >= 0) assert.ok(o.seqs.slice(firstNew).every((s) => s.startPos === 0 || s.tokenIds.length > 1));
  }
  assert.ok(outs.every((o) => o.seqs.length <= 3));
  assertGreedyOutputs(runner, reqs);
  assertKvIdle(kv);
});

test('prefix reuse: a second request with a shared prefix gets cached blocks and computes fewer tokens', () => {
  const { scheduler, kv } = makeScheduler({ maxNumBatchedTokens: 64, numBlocks: 16 });
  const runner = fakeFor(kv);
  const a = makeRequest('a', { prompt: prompt(13), maxTokens: 2 });
  scheduler.addRequest(a);
  runUntilIdle(scheduler, runner);
  const b = makeRequest('b', { prompt: [...prompt(12), 99, 98], maxTokens: 3 });
  scheduler.addRequest(b);
  const outs = runUntilIdle(scheduler, runner);
  assert.deepEqual([outs[0]!.seqs[0]!.startPos, outs[0]!.seqs[0]!.tokenIds.length], [12, 2]);
  assert.equal(b.numCachedTokens, 12);
  // a full-prompt hit still recomputes the last prompt token so there are logits to sample
  const c = makeRequest('c', { prompt: prompt(12), maxTokens: 1 });
  scheduler.addRequest(c);
  const outC = runUntilIdle(scheduler, runner);
  assert.deepEqual([outC[0]!.seqs[0]!.startPos, outC[0]!.seqs[0]!.tokenIds.length], [8, 4]);
  assertGreedyOutputs(runner, [a, b, c]);
  assert.ok(Math.abs(kv.prefixHitRate - 20 / 39) < 1e-12, `hit rate ${kv.prefixHitRate}`);
  assertKvIdle(kv);
});

test('preemption: when blocks run out the newest request is preempted and recomputed later', () => {
  const { scheduler, kv } = makeScheduler({ maxNumBatchedTokens: 32, numBlocks: 6, blockSizeTokens: 4, enablePrefixCache: false });
  const runner = fakeFor(kv);
  const reqs = [0, 1, 2].map((i) => makeRequest(`p${i}`, { prompt: prompt(6, 20 * i + 1), maxTokens: 6 }));
  reqs.forEach((r) => scheduler.addRequest(r));
  const outs = runUntilIdle(scheduler, runner);
  const preempted = outs.flatMap((o) => o.preemptedIds);
  assert.ok(preempted.length > 0, 'expected a preemption with 6 blocks for 3×12 tokens');
  assert.ok(!preempted.includes('p0'), 'the oldest request is never the victim');
  const recompute = outs.find((o) => o.seqs.some((s) => s.request.id === preempted[0] && s.startPos === 0 && s.tokenIds.length > 6));
  assert.ok(recompute, 'the preempted request recomputes prompt + generated tokens from 0');
  assert.ok(reqs.every((r) => r.finishReason === 'length'));
  assertGreedyOutputs(runner, reqs);
  assertKvIdle(kv);
});

test('priority policy admits the lowest priority value first; FCFS breaks ties', () => {
  const { scheduler, kv } = makeScheduler({ policy: 'priority', maxNumSeqs: 1, numBlocks: 16 });
  const runner = fakeFor(kv);
  const order: string[] = [];
  const reqs = [['low', 5], ['high', 0], ['mid', 2], ['high2', 0]].map(([id, p]) =>
    makeRequest(id as string, { priority: p as number, maxTokens: 1, shouldStop: () => { order.push(id as string); return false; } }));
  reqs.forEach((r) => scheduler.addRequest(r));
  runUntilIdle(scheduler, runner);
  assert.deepEqual(order, ['high', 'high2', 'mid', 'low']);
  assertKvIdle(kv);
});

test('unknown policy and bad config are clear errors naming the field', () => {
  assert.throws(() => makeScheduler({ policy: 'nope' }), (e: unknown) => isXdsError(e, 'invalid_config') && e.param === 'policy');
  assert.throws(() => makeScheduler({ maxNumSeqs: 0 }), (e: unknown) => isXdsError(e, 'invalid_config') && e.param === 'maxNumSeqs');
});

test('abort frees blocks at once, from running and from waiting', () => {
  const { scheduler, kv } = makeScheduler({ maxNumSeqs: 1 });
  const runner = fakeFor(kv);
  const a = makeRequest('a', { maxTokens: 50 });
  const b = makeRequest('b');
  scheduler.addRequest(a);
  scheduler.addRequest(b);
  greedyStep(scheduler, runner);
  greedyStep(scheduler, runner);
  assert.ok(kv.numFreeBlocks < kv.numBlocks);
  assert.equal(scheduler.abort('a')?.finishReason, 'abort');
  assertKvIdle(kv);
  assert.equal(scheduler.abort('b')?.finishReason, 'abort');
  assert.equal(scheduler.abort('b'), undefined);
  assert.equal(scheduler.hasWork, false);
  assertKvIdle(kv);
});

test('overload: the waiting queue is bounded; bad requests are clear errors', () => {
  const { scheduler, kv } = makeScheduler({ maxWaiting: 2, maxModelLen: 16 });
  scheduler.addRequest(makeRequest('w1'));
  scheduler.addRequest(makeRequest('w2'));
  assert.throws(() => scheduler.addRequest(makeRequest('w3')), (e: unknown) => isXdsError(e, 'overloaded'));
  assert.throws(() => scheduler.addRequest(makeRequest('w1')), (e: unknown) => isXdsError(e, 'invalid_argument') && e.param === 'id');
  assert.throws(() => makeRequest('x', { prompt: [] }), (e: unknown) => isXdsError(e, 'invalid_argument') && e.param === 'promptTokenIds');
  assert.throws(() => makeRequest('x', { maxTokens: 0 }), (e: unknown) => isXdsError(e, 'invalid_argument') && e.param === 'maxTokens');
  scheduler.abort('w1');
  assert.throws(() => scheduler.addRequest(makeRequest('long', { prompt: 16 })), (e: unknown) => isXdsError(e, 'context_length_exceeded'));
  scheduler.abort('w2');
  assertKvIdle(kv);
});

test('no deadlock: requests that can never fit end with error, the others complete', () => {
  const { scheduler, kv } = makeScheduler({ numBlocks: 4, blockSizeTokens: 4, maxNumBatchedTokens: 8 });
  const runner = fakeFor(kv);
  const huge = makeRequest('huge', { prompt: 17 }); // 5 blocks > 4
  const grows = makeRequest('grows', { prompt: 12, maxTokens: 20 }); // fits, then outgrows the cache
  const ok = makeRequest('ok', { prompt: 3, maxTokens: 2 });
  [huge, grows, ok].forEach((r) => scheduler.addRequest(r));
  runUntilIdle(scheduler, runner, 200);
  assert.equal(huge.finishReason, 'error');
  assert.match(huge.errorMessage ?? '', /never fit/);
  assert.equal(grows.finishReason, 'error');
  assert.ok(grows.numOutputTokens >= 4, 'it generated until the cache was full');
  assert.equal(ok.finishReason, 'length');
  assertGreedyOutputs(runner, [ok]);
  assertKvIdle(kv);
});

test('stop tokens and the shouldStop hook end a request with reason stop', () => {
  const { scheduler, kv } = makeScheduler();
  const runner = fakeFor(kv);
  const first = runner.expectedNext(prompt(8));
  const byToken = makeRequest('tok', { maxTokens: 10, stopTokenIds: [first] });
  const byHook = makeRequest('hook', { prompt: prompt(8, 30), maxTokens: 10, shouldStop: (ids) => ids.length === 3 });
  [byToken, byHook].forEach((r) => scheduler.addRequest(r));
  runUntilIdle(scheduler, runner);
  assert.deepEqual([byToken.finishReason, byToken.numOutputTokens], ['stop', 1]);
  assert.deepEqual([byHook.finishReason, byHook.numOutputTokens], ['stop', 3]);
  assertKvIdle(kv);
});

test('every policy (conformance): invariants every step, greedy tokens as if alone, accounting back to zero', () => {
  let seed = 12345;
  const rnd = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
  registerPolicy({ name: 'shortest-prompt-first', compare: (a, b) => a.numPromptTokens - b.numPromptTokens || a.arrivalSeq - b.arrivalSeq });
  for (const policy of policyNames()) { // conformance: every registered policy
    const { scheduler, kv } = makeScheduler({ policy, numBlocks: 12, blockSizeTokens: 4, maxNumBatchedTokens: 12, maxNumSeqs: 4, maxWaiting: 64 });
    const runner = fakeFor(kv);
    const shared = prompt(8, 40);
    const reqs = Array.from({ length: 16 }, (_, i) => {
      const p = rnd(2) === 0 ? [...shared, ...prompt(1 + rnd(10), 100 + i)] : prompt(1 + rnd(14), 200 + 3 * i);
      return makeRequest(`q${policy}${i}`, { prompt: p, maxTokens: 1 + rnd(8), priority: rnd(3) });
    });
    reqs.forEach((r) => scheduler.addRequest(r));
    runUntilIdle(scheduler, runner, 2000);
    assert.ok(reqs.every((r) => r.finishReason === 'length'));
    assertGreedyOutputs(runner, reqs);
    assert.ok(kv.prefixHitRate > 0);
    assertKvIdle(kv);
  }
});
