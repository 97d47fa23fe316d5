import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isXdsError } from '../core/errors.js';
import { DpEngine } from './engine.js';
import type { EngineEvent } from './engine-types.js';
import { greedySampleFn } from './sample-fn.js';
import { FakeRunner } from './testing/fake-runner.js';
import { assertKvIdle, expectedGreedy } from './testing/builders.js';
import type { ForwardBatch, ForwardResult } from './runner/types.js';

const prompt = (n: number, base = 1): number[] => Array.from({ length: n }, (_, i) => base + i);

function setup(o: { numBlocks?: number; budget?: number; maxNumSeqs?: number; maxWaiting?: number } = {}): { engine: DpEngine; runner: FakeRunner } {
  const runner = new FakeRunner({ numBlocks: o.numBlocks ?? 32, blockSizeTokens: 4, vocabSize: 50 });
  const engine = new DpEngine({
    runner,
    sample: greedySampleFn,
    scheduler: { maxNumBatchedTokens: o.budget ?? 16, maxNumSeqs: o.maxNumSeqs ?? 8, maxWaiting: o.maxWaiting ?? 16 },
  });
  return { engine, runner };
}

/** Collects events per request. */
function collector(): { sink: (e: EngineEvent) => void; events: EngineEvent[]; tokens: () => number[] } {
  const events: EngineEvent[] = [];
  return {
    sink: (e) => { events.push(e); },
    events,
    tokens: () => events.flatMap((e) => (e.kind === 'token' ? [e.tokenId] : [])),
  };
}

test('concurrent requests stream the same greedy tokens as each alone; mixed prefill+decode in one forward', async () => {
  const { engine, runner } = setup({ budget: 12 });
  const specs = [prompt(5), prompt(11, 20), prompt(3, 40), prompt(9, 7)];
  const cs = specs.map((p, i) => {
    const c = collector();
    engine.addRequest({ id: `r${i}`, promptTokenIds: p, maxTokens: 6, sampling: { temperature: 0 } }, c.sink);
    return c;
  });
  await engine.run();
  specs.forEach((p, i) => {
    const c = cs[i]!;
    assert.deepEqual(c.tokens(), expectedGreedy((x) => runner.expectedNext(x), p, 6));
    const last = c.events.at(-1)!;
    assert.deepEqual(last, { kind: 'finished', requestId: `r${i}`, reason: 'length', usage: { promptTokens: p.length, completionTokens: 6, cachedTokens: 0 } });
    assert.deepEqual(c.events.slice(0, -1).map((e) => (e.kind === 'token' ? e.index : -1)), [0, 1, 2, 3, 4, 5]);
  });
  const isMixed = (b: ForwardBatch): boolean => b.seqs.some((s) => s.tokenIds.length === 1 && s.startPos > 0) && b.seqs.some((s) => s.tokenIds.length > 1);
  assert.ok(runner.batches.some(isMixed), 'one forward with both decode tokens and a prefill chunk');
  assert.ok(runner.batches.every((b) => b.seqs.reduce((n, s) => n + s.tokenIds.length, 0) <= 12));
  assert.equal(engine.stats().numSteps, runner.batches.length);
  assertKvIdle(engine.kv);
});

test('a client that disconnects mid-stream aborts its request and frees its KV blocks at once', async () => {
  const { engine } = setup();
  const events: EngineEvent[] = [];
  engine.addRequest({ id: 'gone', promptTokenIds: prompt(10), maxTokens: 100 }, (e) => {
    events.push(e);
    if (e.kind === 'token' && e.index === 1) {
      assert.equal(engine.abort('gone'), true);
      assertKvIdle(engine.kv); // freed inside the abort call, before the next step
    }
  });
  const other = collector();
  engine.addRequest({ id: 'stays', promptTokenIds: prompt(4, 30), maxTokens: 3 }, other.sink);
  await engine.run();
  assert.deepEqual(events.map((e) => e.kind), ['token', 'token', 'finished']);
  const fin = events.at(-1);
  assert.equal(fin?.kind === 'finished' ? fin.reason : '', 'abort');
  assert.equal(other.tokens().length, 3);
  assert.equal(engine.abort('gone'), false);
  assertKvIdle(engine.kv);
});

test('a sink that throws gets its request aborted; the others go on', async () => {
  const { engine } = setup();
  let calls = 0;
  engine.addRequest({ id: 'bad', promptTokenIds: prompt(4), maxTokens: 10 }, () => { calls++; throw new Error('socket closed'); });
  const ok = collector();
  engine.addRequest({ id: 'ok', promptTokenIds: prompt(4, 9), maxTokens: 4 }, ok.sink);
  await engine.run();
  assert.equal(calls, 2); // the token, then the 'finished' of the abort
  assert.equal(ok.tokens().length, 4);
  assertKvIdle(engine.kv);
});

test('a runner failure ends the scheduled requests with error and the engine keeps serving', async () => {
  const { engine, runner } = setup();
  const real = runner.forward.bind(runner);
  let failNext = true;
  runner.forward = (b: ForwardBatch): ForwardResult => {
    if (failNext) { failNext = false; throw new Error('device lost'); }
    return real(b);
  };
  const a = collector();
  engine.addRequest({ id: 'a', promptTokenIds: prompt(4), maxTokens: 3 }, a.sink);
  await engine.run();
  assert.deepEqual(a.events.map((e) => e.kind), ['error', 'finished']);
  assert.match(a.events[0]?.kind === 'error' ? a.events[0].message : '', /device lost/);
  const b = collector();
  engine.addRequest({ id: 'b', promptTokenIds: prompt(4), maxTokens: 3 }, b.sink);
  await engine.run();
  assert.equal(b.tokens().length, 3);
  assertKvIdle(engine.kv);
});

test('overload and bad requests throw at addRequest without events', () => {
  const { engine } = setup({ maxWaiting: 1 });
  const c = collector();
  engine.addRequest({ id: 'a', promptTokenIds: [1], maxTokens: 1 }, c.sink);
  assert.throws(() => engine.addRequest({ id: 'b', promptTokenIds: [1], maxTokens: 1 }, c.sink), (e: unknown) => isXdsError(e, 'overloaded') && e.httpStatus === 429);
  assert.throws(() => engine.addRequest({ id: 'c', promptTokenIds: [-1], maxTokens: 1 }, c.sink), (e: unknown) => isXdsError(e, 'invalid_argument') && e.param === 'promptTokenIds[0]');
  assert.equal(c.events.length, 0);
  engine.abort('a');
  assertKvIdle(engine.kv);
});

test('prefix hits show in usage.cachedTokens and the hit rate; default sampler reports logprobs', async () => {
  const runner = new FakeRunner({ numBlocks: 32, blockSizeTokens: 4, vocabSize: 50 });
  const engine = new DpEngine({ runner, scheduler: { maxNumBatchedTokens: 64, maxNumSeqs: 4, maxWaiting: 8 } });
  const first = collector();
  engine.addRequest({ id: 'p1', promptTokenIds: prompt(10), maxTokens: 2, sampling: { temperature: 0, logprobs: 2 } }, first.sink);
  await engine.run();
  const second = collector();
  engine.addRequest({ id: 'p2', promptTokenIds: [...prompt(8), 77, 78], maxTokens: 2, sampling: { temperature: 0 } }, second.sink);
  await engine.run();
  const fin = second.events.at(-1);
  assert.equal(fin?.kind === 'finished' ? fin.usage.cachedTokens : -1, 8);
  assert.ok(Math.abs(engine.stats().kv.prefixHitRate - 8 / 20) < 1e-12);
  const tok = first.events[0];
  assert.ok(tok?.kind === 'token' && tok.logprob !== undefined && tok.logprob <= 0 && tok.topLogprobs?.length === 2);
  assert.equal(tok.kind === 'token' ? tok.topLogprobs?.[0]?.tokenId : -1, tok.kind === 'token' ? tok.tokenId : -2);
  assertKvIdle(engine.kv);
});

test('start() serves requests that arrive later; drain() finishes them and refuses new ones', async () => {
  const { engine, runner } = setup();
  engine.start();
  const cs = [collector(), collector(), collector()];
  const done = cs.map((c, i) => new Promise<void>((resolve) => {
    setTimeout(() => {
      engine.addRequest({ id: `t${i}`, promptTokenIds: prompt(3 + i, 5 * i), maxTokens: 4 }, (e) => { c.sink(e); if (e.kind === 'finished') resolve(); });
    }, 5 * i);
  }));
  await Promise.all(done);
  const late = collector();
  engine.addRequest({ id: 'late', promptTokenIds: prompt(6), maxTokens: 20 }, late.sink);
  await engine.drain();
  assert.equal(late.tokens().length, 20);
  cs.forEach((c, i) => assert.deepEqual(c.tokens(), expectedGreedy((x) => runner.expectedNext(x), prompt(3 + i, 5 * i), 4)));
  assert.throws(() => engine.addRequest({ id: 'x', promptTokenIds: [1], maxTokens: 1 }, late.sink), (e: unknown) => isXdsError(e, 'shutting_down'));
  const s = engine.stats();
  assert.ok(s.numSteps > 0 && s.totalForwardUs >= 0 && s.totalScheduleUs >= 0 && s.lastStep !== null);
  assertKvIdle(engine.kv);
});

test('an AbortSignal aborts its request between steps; abortAll ends everything', async () => {
  const { engine } = setup();
  const ac = new AbortController();
  const a = collector();
  engine.addRequest({ id: 'sig', promptTokenIds: prompt(5), maxTokens: 100 }, (e) => { a.sink(e); if (e.kind === 'token' && e.index === 2) setImmediate(() => ac.abort()); }, { signal: ac.signal });
  assert.equal(engine.getRequest('sig')?.status, 'waiting');
  await engine.run();
  const fin = a.events.at(-1);
  assert.equal(fin?.kind === 'finished' ? fin.reason : '', 'abort');
  assert.ok(a.tokens().length >= 3 && a.tokens().length < 100);
  assert.equal(engine.getRequest('sig'), undefined);
  assert.throws(() => engine.addRequest({ id: 'late', promptTokenIds: [1], maxTokens: 1 }, a.sink, { signal: ac.signal }), (e: unknown) => isXdsError(e, 'request_aborted'));
  const b = collector();
  const c = collector();
  engine.addRequest({ id: 'b', promptTokenIds: prompt(5), maxTokens: 9 }, b.sink);
  engine.addRequest({ id: 'c', promptTokenIds: prompt(5, 9), maxTokens: 9 }, c.sink);
  engine.step();
  assert.equal(engine.abortAll(), 2);
  assert.deepEqual([b, c].map((x) => x.events.at(-1)?.kind), ['finished', 'finished']);
  assertKvIdle(engine.kv);
});

test('a request that can never fit in the KV cache gets an error event, then finished with reason error', async () => {
  const { engine } = setup({ numBlocks: 4 });
  const huge = collector();
  engine.addRequest({ id: 'huge', promptTokenIds: prompt(17), maxTokens: 2 }, huge.sink);
  const ok = collector();
  engine.addRequest({ id: 'ok', promptTokenIds: prompt(3), maxTokens: 2 }, ok.sink);
  await engine.run();
  assert.deepEqual(huge.events.map((e) => e.kind), ['error', 'finished']);
  const err = huge.events[0];
  assert.ok(err?.kind === 'error' && err.code === 'context_length_exceeded' && /never fit/.test(err.message));
  const fin = huge.events[1];
  assert.equal(fin?.kind === 'finished' ? fin.reason : '', 'error');
  assert.equal(ok.tokens().length, 2);
  assertKvIdle(engine.kv);
});
