/**
 * The one XCCL conformance suite (STYLE.md §11): every transport runs exactly these tests with
 * real worker threads or real child processes; expected values are computed here, in one place.
 * Cases that share a world run as steps of one launch (fewer process starts on 2 cores); the
 * timeout and killed-peer cases get launches of their own.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchRanks, type LaunchKind, type RankResult } from './launch.js';
import { EP_STEPS, EP_WORLD, type ConformanceStep } from './ep-conformance.js';
import { SLOT_HEADER_BYTES } from '../region.js';
import { ZC_MIN_BYTES } from '../p2p-zero-copy.js';
import type { ZeroCopyReport } from './zero-copy-scenarios.js';
import type { BlockingReport } from './blocking-scenarios.js';

export function okValues(results: readonly RankResult[]): unknown[] {
  return results.map((r, i) => {
    assert.ok(r.ok, `rank ${i} failed: ${r.ok ? '' : `${r.code}: ${r.message}`}`);
    return r.value;
  });
}

interface ErrorReport { code: string; message: string; elapsedMs: number }

const SIZES = [0, 1, 240, 241, 1000, 2100, 7, 480, 64];
/** Zero-copy step: larger than the ring (4 slots of 240 B), one small message among them. */
const ZC_SIZES = [16_384, 100, 40_000, 70_000, 20_000];

const P2P_STEPS: readonly ConformanceStep[] = [
  {
    name: 'p2p keeps order and reassembles chunked messages (0 B to 9 slots, ring wraps)',
    scenario: 'ordering',
    params: { sizes: SIZES },
    check: (v) => assert.deepEqual(v[1], SIZES.map((bytes) => ({ bytes, firstBad: -1 }))),
  },
  {
    name: 'p2p between every pair at once (4 ranks, self included, more chunks than slots)',
    scenario: 'allPairs',
    params: { numMsgs: 3, bytes: 300 },
    check: (v) => { for (const r of v) assert.deepEqual(r, { received: 12, bad: 0 }); },
  },
  {
    name: 'p2p into the registered application area: zero-copy when posted (shm), the ring otherwise; same bytes (pairs 0→1, 2→3)',
    scenario: 'zeroCopy',
    params: { sizes: ZC_SIZES },
    check: (v) => checkZeroCopy(v as ZeroCopyReport[]),
  },
  {
    name: 'blocking sendSync / recvSync (pairs 0→1, 2→3): every size intact and 20 round trips (shm); invalid_argument at once over tcp',
    scenario: 'blocking',
    params: { sizes: SIZES, rounds: 20 },
    check: (v) => checkBlocking(v as BlockingReport[]),
  },
  {
    name: 'barrier and allGather over several rounds',
    scenario: 'collectives',
    params: { rounds: 5 },
    check: (v) => {
      const expected = Array.from({ length: 5 }, (_, r) => [0, 1, 2, 3].map((s) => s * 100 + r));
      for (const r of v) assert.deepEqual(r, expected);
    },
  },
];

/** Every message intact; on shm every posted message from ZC_MIN_BYTES up went zero-copy, the late one through the ring. */
function checkZeroCopy(v: readonly ZeroCopyReport[]): void {
  const big = ZC_SIZES.filter((n) => n >= ZC_MIN_BYTES).length;
  for (const [r, rep] of v.entries()) {
    if (rep.role === 'receiver') assert.deepEqual(rep.messages.map((m) => [m.bytes, m.firstBad]), [...ZC_SIZES, 30_000].map((n) => [n, -1]), `rank ${r}`);
    if (rep.zc === null) continue; // tcp: the ring only
    const expected = rep.role === 'sender' ? { sent: big, received: 0, unused: 0 } : { sent: 0, received: big, unused: ZC_SIZES.length - big };
    assert.deepEqual(rep.zc, expected, `rank ${r} zero-copy counts`);
    if (rep.role === 'receiver') assert.ok(rep.messages.every((m) => m.inPlace), `rank ${r}: receives resolve to the posted buffers`);
  }
}

function checkBlocking(v: readonly BlockingReport[]): void {
  const refused = v.map((r) => r.refused);
  if (v[0]!.transport === 'tcp') {
    assert.deepEqual(refused, v.map(() => 'invalid_argument'), 'tcp: every rank\'s first blocking call refuses');
    return;
  }
  assert.deepEqual(refused, v.map(() => null), 'shm: no call refuses');
  for (const [r, rep] of v.entries()) {
    if (r % 2 === 1) assert.deepEqual(rep.messages, SIZES.map((bytes) => ({ bytes, firstBad: -1 })), `rank ${r}`);
    assert.equal(rep.badRounds, 0, `rank ${r}`);
  }
}

export function conformanceSuite(kind: LaunchKind): void {
  const region = { slotBytes: SLOT_HEADER_BYTES + 240, numSlots: 4, epAreaBytes: 1 << 16, appBytes: 1 << 18 };
  const steps = [...P2P_STEPS, ...EP_STEPS];
  describe(`xccl conformance: ${kind}`, { concurrency: 1 }, () => {
    let batch: unknown[][] = [];
    before(async () => {
      const params = { steps: steps.map((s) => ({ scenario: s.scenario, params: s.params })) };
      batch = okValues(await launchRanks(kind, { region: { worldSize: EP_WORLD, ...region }, scenario: 'sequence', params })) as unknown[][];
    });

    steps.forEach((s, i) => it(s.name, () => s.check(batch.map((rank) => rank[i]))));

    it('bad input: event mismatch, buffer too small, timeout, each a typed error', async () => {
      const v = okValues(await launchRanks(kind, { region: { worldSize: 2, ...region }, scenario: 'badInput', options: { timeoutMs: 300 } }));
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
      const results = await launchRanks(kind, { region: { worldSize: 2, ...region }, scenario: 'peerDies', params: { how }, options: { timeoutMs: 20_000 } });
      assert.ok(results[0]!.ok, JSON.stringify(results[0]));
      const r = (results[0] as { value: unknown }).value as ErrorReport;
      assert.equal(r.code, 'xccl_peer_gone', JSON.stringify(r));
      assert.match(r.message, /peer rank 1/);
      assert.ok(r.elapsedMs < 10_000, `noticed after ${r.elapsedMs} ms (deadline 20 s)`);
      assert.equal(results[1]!.ok, false, JSON.stringify(results[1]));
    });

    it('a hung peer is detected by its stalled heartbeat (shm) or the deadline (tcp), naming it', async () => {
      const options = { timeoutMs: kind === 'tcp' ? 800 : 20_000, heartbeatTimeoutMs: 400 };
      const v = okValues(await launchRanks(kind, { region: { worldSize: 2, ...region }, scenario: 'peerHangs', params: { hangMs: 2500 }, options }));
      const r = v[0] as ErrorReport;
      assert.equal(r.code, kind === 'tcp' ? 'xccl_timeout' : 'xccl_peer_gone');
      assert.match(r.message, kind === 'tcp' ? /rank 1/ : /peer rank 1 missed heartbeats/);
      assert.ok(r.elapsedMs >= 300 && r.elapsedMs < 2400, `noticed after ${r.elapsedMs} ms`);
    });
  });
}
