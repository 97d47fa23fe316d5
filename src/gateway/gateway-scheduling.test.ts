/**
 * `--scheduling-policy priority` through a real server: with one request running at a time, the
 * waiting requests run in `priority` order (lower first, vLLM's convention) instead of arrival
 * order; under the default FCFS policy a non-zero priority is a 400 naming `priority`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { postRaw, serveTinyModel } from './testing.js';

/** Starts a long request, then (once it streams) the others in order; returns the ids in finishing order. */
async function finishingOrder(t: ReturnType<typeof serveTinyModel>, priorities: readonly number[]): Promise<number[]> {
  const { server, client } = t;
  const order: number[] = [];
  const long = await client.completions.create({ model: server.modelName, prompt: 'first', max_tokens: 200, temperature: 0, stream: true, ignore_eos: true } as never) as unknown as AsyncIterable<unknown>;
  const it = long[Symbol.asyncIterator]();
  await it.next(); // the long request runs: the next ones wait
  const rest: Promise<void>[] = [];
  for (const [i, priority] of priorities.entries()) {
    rest.push(client.completions.create({ model: server.modelName, prompt: `req ${i}`, max_tokens: 3, temperature: 0, priority } as never).then(() => { order.push(i); }));
    // one at a time into the waiting queue, so arrival order is the order sent
    while (server.gateway.ctx.model.engine.stats().numWaiting < i + 1) await new Promise((r) => setTimeout(r, 2));
  }
  for (let r = await it.next(); !r.done; r = await it.next());
  await Promise.all(rest);
  return order;
}

describe('priority scheduling', () => {
  const t = serveTinyModel({ numKvBlocks: 64, maxNumSeqs: 1, schedulingPolicy: 'priority' });
  it('waiting requests run lowest priority value first, FCFS among equals', async () => {
    assert.deepEqual(await finishingOrder(t, [5, -1, 5, 0]), [1, 3, 0, 2]);
  });
});

describe('fcfs scheduling (the default)', () => {
  const t = serveTinyModel({ numKvBlocks: 64, maxNumSeqs: 1 });
  it('arrival order; a non-zero priority is refused naming the field', async () => {
    assert.deepEqual(await finishingOrder(t, [0, 0, 0]), [0, 1, 2]);
    const r = await postRaw(`${t.server.url}/v1/completions`, { model: t.server.modelName, prompt: 'a', priority: 3 });
    assert.equal(r.status, 400);
    assert.equal((r.json.error as { param: string }).param, 'priority');
  });
});
