/**
 * The serving loop's admission window (engine-loop.ts) against real sockets: a burst of clients
 * connecting while a step blocks the thread. Node accepts one connection per event-loop turn, so
 * without the window the burst is admitted one request per step; with it, in one or two steps.
 * Compute is the FakeRunner with a busy-waited forward (the step really blocks the thread).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { DpEngine } from './engine.js';
import { greedySampleFn } from './sample-fn.js';
import { FakeRunner } from './testing/fake-runner.js';
import { assertKvIdle } from './testing/builders.js';
import type { AdmitPolicy } from './engine-loop.js';
import { ManualClock } from '../core/clock.js';

const NUM_CLIENTS = 8;
const PROMPT_LEN = 5;

/** Serves NUM_CLIENTS one-line requests ("<i>\n") over TCP; returns how many steps prefilled them. */
async function burst(admit: Partial<AdmitPolicy>): Promise<{ prefillSteps: number; engine: DpEngine }> {
  const runner = new FakeRunner({ numBlocks: 64, blockSizeTokens: 4, vocabSize: 50, forwardCostUs: 15_000 });
  const engine = new DpEngine({ runner, sample: greedySampleFn, admit, scheduler: { maxNumBatchedTokens: 256, maxNumSeqs: 16, maxWaiting: 16 } });
  // A long request keeps the loop stepping while the burst connects.
  engine.addRequest({ id: 'busy', promptTokenIds: [1, 2, 3], maxTokens: 40 }, () => {});
  engine.start();
  const finished: Promise<void>[] = [];
  const server = net.createServer((sock) => {
    engine.noteArrival();
    sock.once('data', (buf) => {
      const i = Number(buf.toString().trim());
      finished.push(new Promise((resolve) => {
        engine.addRequest({ id: `c${i}`, promptTokenIds: Array.from({ length: PROMPT_LEN }, (_, j) => 10 + i + j), maxTokens: 2 }, (ev) => {
          if (ev.kind === 'finished') { sock.end(); resolve(); }
        });
      }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => setTimeout(resolve, 20)); // the busy request is stepping now
  const clients = Array.from({ length: NUM_CLIENTS }, (_, i) => new Promise<void>((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(`${i}\n`));
    c.on('close', () => resolve());
    c.resume();
  }));
  await Promise.all(clients);
  await Promise.all(finished);
  await engine.drain();
  await new Promise((resolve) => server.close(resolve));
  const prefillSteps = runner.batches.filter((b) => b.seqs.some((s) => s.seqId.startsWith('c') && s.tokenIds.length === PROMPT_LEN)).length;
  return { prefillSteps, engine };
}

test('a burst of new connections is admitted in one or two steps with the admission window', async () => {
  const { prefillSteps, engine } = await burst({});
  assert.ok(prefillSteps <= 2, `the burst took ${prefillSteps} prefill steps`);
  assertKvIdle(engine.kv);
});

test('without the window (quietUs 0) the same burst trickles in over several steps', async () => {
  // NOTE: documents why the window exists; if Node ever accepts the whole backlog per turn this
  // fails and the window can go.
  const { prefillSteps, engine } = await burst({ quietUs: 0 });
  assert.ok(prefillSteps >= 3, `the burst took ${prefillSteps} prefill steps`);
  assertKvIdle(engine.kv);
});

test('with a clock that does not move (simulation) the window ends after a quiet turn', { timeout: 5000 }, async () => {
  const runner = new FakeRunner({ numBlocks: 16, blockSizeTokens: 4, vocabSize: 50 });
  const engine = new DpEngine({ runner, sample: greedySampleFn, clock: new ManualClock(), scheduler: { maxNumBatchedTokens: 64, maxNumSeqs: 4, maxWaiting: 4 } });
  engine.start();
  const done = new Promise<number>((resolve) => {
    let n = 0;
    engine.addRequest({ id: 'm', promptTokenIds: [1, 2, 3], maxTokens: 3 }, (ev) => { if (ev.kind === 'token') n++; if (ev.kind === 'finished') resolve(n); });
  });
  assert.equal(await done, 3);
  await engine.drain();
  assertKvIdle(engine.kv);
});
