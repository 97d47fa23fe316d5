/**
 * The one XCCL conformance suite (STYLE.md §11): every transport runs exactly these tests with
 * real worker threads or real child processes. Expected values are computed here, in one place.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchRanks, type LaunchKind, type RankResult } from './launch.js';
import { EP_CONFORMANCE } from './ep-conformance.js';

export function okValues(results: readonly RankResult[]): unknown[] {
  return results.map((r, i) => {
    assert.ok(r.ok, `rank ${i} failed: ${r.ok ? '' : `${r.code}: ${r.message}`}`);
    return r.value;
  });
}

interface ErrorReport { code: string; message: string; elapsedMs: number }

export function conformanceSuite(kind: LaunchKind): void {
  const slot = { slotBytes: 256, numSlots: 4 };
  describe(`xccl conformance: ${kind}`, { concurrency: 1 }, () => {
    it('p2p keeps order and reassembles chunked messages (0 B to 9 slots, ring wraps)', async () => {
      const sizes = [0, 1, 240, 241, 1000, 2100, 7, 480, 64];
      const v = okValues(await launchRanks(kind, { region: { worldSize: 2, ...slot }, scenario: 'ordering', params: { sizes } }));
      assert.deepEqual(v[1], sizes.map((bytes) => ({ bytes, firstBad: -1 })));
    });

    it('p2p between every pair at once (4 ranks, self included)', async () => {
      const v = okValues(await launchRanks(kind, { region: { worldSize: 4, ...slot }, scenario: 'allPairs', params: { numMsgs: 3, bytes: 300 } }));
      for (const r of v) assert.deepEqual(r, { received: 12, bad: 0 });
    });

    it('bad input: event mismatch, buffer too small, timeout, each a typed error', async () => {
      const v = okValues(await launchRanks(kind, { region: { worldSize: 2, ...slot }, scenario: 'badInput', options: { timeoutMs: 300 } }));
      const r = v[1] as { mismatch: ErrorReport; tooSmall: ErrorReport; okBytes: number; okBad: number; timeout: ErrorReport };
      assert.equal(r.mismatch.code, 'xccl_event_mismatch');
      assert.match(r.mismatch.message, /expected event 8, got event 7/);
      assert.equal(r.tooSmall.code, 'xccl_buffer_too_small');
      assert.equal(r.okBytes, 1000);
      assert.equal(r.okBad, -1);
      assert.equal(r.timeout.code, 'xccl_timeout');
      assert.ok(r.timeout.elapsedMs >= 250 && r.timeout.elapsedMs < 3000, `timeout took ${r.timeout.elapsedMs} ms`);
    });

    it('a peer that dies is reported as gone, by rank, within a bounded time', async () => {
      const how = kind === 'shm-thread' ? 'exit' : 'kill';
      const results = await launchRanks(kind, { region: { worldSize: 2, ...slot }, scenario: 'peerDies', params: { how }, options: { timeoutMs: 20_000 } });
      assert.ok(results[0]!.ok, JSON.stringify(results[0]));
      const r = (results[0] as { value: unknown }).value as ErrorReport;
      assert.equal(r.code, 'xccl_peer_gone');
      assert.match(r.message, /peer rank 1/);
      assert.ok(r.elapsedMs < 5000, `noticed after ${r.elapsedMs} ms`);
      assert.equal(results[1]!.ok, false);
    });

    it('barrier and allGather over several rounds', async () => {
      const v = okValues(await launchRanks(kind, { region: { worldSize: 3, ...slot }, scenario: 'collectives', params: { rounds: 5 } }));
      const expected = Array.from({ length: 5 }, (_, r) => [0, 1, 2].map((s) => s * 100 + r));
      for (const r of v) assert.deepEqual(r, expected);
    });

    for (const [name, fn] of Object.entries(EP_CONFORMANCE)) it(name, () => fn(kind));
  });
}
