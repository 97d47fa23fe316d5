/**
 * The serving benchmark client (src/bench/serve-client.ts) against a real gateway on a real port:
 * every request completes with exactly output-len tokens (ignore_eos), the throughput arithmetic
 * is consistent, and the server's scheduler share is read from /metrics. Percentiles against a
 * hand-computed nearest-rank reference. `bench scaling` (src/bench/scaling.ts and its command):
 * pairs alternate their order, each ratio is its pair's high / low output tok/s, the medians are
 * over the pairs, and its command's flags are checked. Figures are not asserted (benchmarks print them).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { latencyStats, percentile, runServeBench, tpotMs } from '../bench/serve-client.js';
import { runScalingBench, summarize } from '../bench/scaling.js';
import { command as scalingCommand, formatScaling } from '../cli/commands/bench/scaling.js';
import { isXdsError } from '../core/errors.js';
import { serveTinyModel, type TestServer } from './testing.js';

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
  const served = serveTinyModel({ numKvBlocks: 64 });
  let server: TestServer;
  before(() => { server = served.server; });

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

  it('bench scaling: a discarded warm-up run of each side, then alternating pairs, per-pair ratios, medians over the pairs', async () => {
    const runs: string[] = [];
    const r = await runScalingBench({
      url: server.url, low: { concurrency: 1, numPrompts: 2 }, high: { concurrency: 3, numPrompts: 3 }, pairs: 3, inputLen: 4, outputLen: 3,
      onRun: (pair, side, res) => { runs.push(`${pair}${side}`); assert.equal(res.completed, side === 'low' ? 2 : 3); },
    });
    assert.deepEqual(runs, ['-1low', '-1high', '0low', '0high', '1high', '1low', '2low', '2high']);
    assert.deepEqual(r.pairs.map((p) => p.first), ['low', 'high', 'low']);
    assert.equal(r.failed, 0, r.firstError ?? '');
    for (const p of r.pairs) {
      assert.ok(p.low.outputTokPerSec > 0 && p.high.outputTokPerSec > 0);
      assert.equal(p.ratio, p.high.outputTokPerSec / p.low.outputTokPerSec);
    }
    const ratios = r.pairs.map((p) => p.ratio).sort((a, b) => a - b);
    assert.deepEqual(r.ratio, { median: ratios[1], min: ratios[0], max: ratios[2] });
    assert.equal(r.highOutputTokPerSec.median, [...r.pairs.map((p) => p.high.outputTokPerSec)].sort((a, b) => a - b)[1]);
    assert.match(formatScaling(r), /c3\/c1 output tok\/s: median [\d.]+ \([\d.]+–[\d.]+\) over 3 pairs, 0 requests failed/);
  });

  it('a refused request counts as failed, not as a crash', async () => {
    const r = await runServeBench({ url: server.url, model: 'no-such-model', numPrompts: 2, inputLen: 2, outputLen: 2 });
    assert.equal(r.failed, 2);
    assert.match(r.firstError ?? '', /HTTP 404/);
  });
});

it('scaling medians of odd and even counts; bad scaling flags name the flag', async () => {
  assert.deepEqual(summarize([3, 1, 2]), { median: 2, min: 1, max: 3 });
  assert.deepEqual(summarize([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4 });
  await assert.rejects(scalingCommand.run([]), (e: unknown) => isXdsError(e, 'invalid_argument') && /--url/.test((e as Error).message));
  await assert.rejects(scalingCommand.run(['--url', 'http://127.0.0.1:1', '--pairs', '0']), (e: unknown) => isXdsError(e, 'invalid_argument') && /--pairs/.test((e as Error).message));
});
