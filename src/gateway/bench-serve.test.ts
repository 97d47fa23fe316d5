/**
 * The serving benchmark client (src/bench/serve-client.ts) against a real gateway on a real port:
 * every request completes with exactly output-len tokens (ignore_eos), the throughput arithmetic
 * is consistent, and the server's scheduler share is read from /metrics. Percentiles against a
 * hand-computed nearest-rank reference. Figures are not asserted (benchmarks print them).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { latencyStats, percentile, runServeBench, tpotMs } from '../bench/serve-client.js';
import { startTestServer, tinyCheckpoint, type TestServer } from './testing.js';

it('percentiles are nearest-rank', () => {
  const xs = Array.from({ length: 10 }, (_, i) => i + 1); // 1..10
  assert.equal(percentile(xs, 50), 5);
  assert.equal(percentile(xs, 90), 9);
  assert.equal(percentile(xs, 99), 10);
  assert.equal(percentile([], 50), 0);
  assert.deepEqual(latencyStats([3, 1, 2]), { mean: 2, p50: 2, p90: 3, p99: 3 });
  assert.equal(tpotMs({ ok: true, ttftMs: 10, itlMs: [], e2eMs: 40, outputTokens: 4, promptTokens: 1 }), 10);
});

describe('bench serve against a live gateway', () => {
  let server: TestServer;
  let remove: () => void;
  before(async () => {
    const c = await tinyCheckpoint('byte');
    remove = c.remove;
    server = await startTestServer({ dir: c.dir, numKvBlocks: 64 });
  });
  after(async () => { await server.close(); remove(); });

  it('completes every request with exactly output-len tokens', async () => {
    const progress: number[] = [];
    const r = await runServeBench({ url: server.url, concurrency: 2, numPrompts: 5, inputLen: 6, outputLen: 5, sloTtftMs: 1e9, onProgress: (d) => progress.push(d) });
    assert.equal(r.failed, 0, r.firstError ?? '');
    assert.equal(r.completed, 5);
    assert.deepEqual(progress, [1, 2, 3, 4, 5]);
    assert.ok(Math.abs(r.outputTokPerSec - (5 * 5) / r.durationS) < 1e-9, 'every request produced 5 tokens');
    assert.ok(Math.abs(r.requestsPerSec - 5 / r.durationS) < 1e-9);
    assert.ok(Math.abs((r.goodputRequestsPerSec ?? 0) - r.requestsPerSec) < 1e-9, 'a huge SLO admits every request');
    assert.ok(r.ttftMs.p50 > 0 && r.ttftMs.p50 <= r.ttftMs.p99 && r.tpotMs.p50 <= r.tpotMs.p99);
    assert.ok(r.schedulerFraction !== null && r.schedulerFraction > 0 && r.schedulerFraction < 1);
  });

  it('a refused request counts as failed, not as a crash', async () => {
    const r = await runServeBench({ url: server.url, model: 'no-such-model', numPrompts: 2, inputLen: 2, outputLen: 2 });
    assert.equal(r.failed, 2);
    assert.match(r.firstError ?? '', /HTTP 404/);
  });
});
