/**
 * Tests of zero-copy p2p into the registered application area (p2p-zero-copy.ts; issue 5): two
 * ranks of a real shm communicator (SharedArrayBuffer regions) driven from one thread through
 * handles, so each case controls whether the receive is posted before the send. Checked: the
 * bytes land at the posted buffer with one copy (the receive resolves to that very view), every
 * case that cannot use the post takes the ring with the right bytes or the ring's typed error,
 * and a receive that times out withdraws its post. A receive that times out after the sender
 * claimed its post (a test hook holds the sender between its claim and its copy): an irecv handle
 * (one thread) and a cancelled recv() followed by another receive (two threads: recv() waits
 * synchronously on shm). Threads and processes: conformance suite.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isXdsError, type ErrorCode } from '../core/errors.js';
import { createCommunicator, type Communicator } from './communicator.js';
import { SLOT_HEADER_BYTES, makeRegionLayout, wordOf } from './region.js';
import { allocateThreadRegions } from './shm/thread.js';
import { ZC_MIN_BYTES, ZC_PIECE_BYTES } from './p2p-zero-copy.js';
import { IN_ZC_PROGRESS } from './p2p-ops.js';
import type { XcclHandle } from './p2p.js';
import { launchRanks } from './testing/launch.js';
import type { SharedSourceReport, StaleReport } from './testing/zero-copy-scenarios.js';

const APP = 1 << 20;

async function pair(timeoutMs = 2000): Promise<[Communicator, Communicator]> {
  const region = { worldSize: 2, slotBytes: SLOT_HEADER_BYTES + 4096, numSlots: 4, epAreaBytes: 0, appBytes: APP };
  const regions = allocateThreadRegions(makeRegionLayout(region));
  const open = (rank: number): Promise<Communicator> => createCommunicator({ transport: { kind: 'shm-thread', regions }, region, nonce: 9 }, rank, { timeoutMs });
  return Promise.all([open(0), open(1)]) as Promise<[Communicator, Communicator]>;
}

function payload(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7 + (i >> 9)) & 255;
  return b;
}

/** Polls the handles in turn (sender and receiver share this thread) until all are complete. */
function drive(...hs: XcclHandle<unknown>[]): void {
  let polls = 0;
  while (!hs.map((h) => h.poll()).every(Boolean)) assert.ok(++polls < 100_000, 'no progress');
}

function zcStats(c: Communicator): { sent: number; received: number; unused: number } {
  assert.ok(c.p2p.zc, 'shm with an application area has the zero-copy path');
  const { sent, received, unused } = c.p2p.zc.stats;
  return { sent, received, unused };
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => isXdsError(e, code));
}

/** A posted receive that goes zero-copy, then a message through the ring: bytes intact; the zero-copy counts are then `sent` (sender) and `after` (receiver). */
async function checkRingUsable(a: Communicator, b: Communicator, sent: number, after: ReturnType<typeof zcStats>): Promise<void> {
  const dst = b.appArea.subarray(131_072, 131_072 + 40_000);
  const r1 = b.irecv(0, 21, dst);
  const s1 = a.isend(1, 21, payload(40_000, 21));
  drive(s1, r1);
  const got = await r1.wait();
  assert.equal(got.byteOffset, dst.byteOffset, 'zero-copy into the posted buffer');
  assert.deepEqual(got, payload(40_000, 21));
  const r2 = b.irecv(0, 22, new Uint8Array(9000)); // not in the application area: the ring
  const s2 = a.isend(1, 22, payload(9000, 22));
  drive(s2, r2);
  assert.deepEqual(await r2.wait(), payload(9000, 22));
  assert.equal(zcStats(a).sent, sent);
  assert.deepEqual(zcStats(b), after);
}

describe('xccl p2p zero-copy into the registered application area (shm)', () => {
  it('a posted receive gets the bytes at its buffer, with a marker through the ring; a chain of posts stays zero-copy', async () => {
    const [a, b] = await pair();
    const bufs = [b.appArea.subarray(0, 100_000), b.appArea.subarray(131_072, 231_072)];
    const sizes = [ZC_MIN_BYTES, 20_001, 99_999];
    const rs = sizes.map((_, i) => b.irecv(0, 10 + i, bufs[i % 2]));
    for (const [i, n] of sizes.entries()) {
      const s = a.isend(1, 10 + i, payload(n, i)); // the post of receive i was made when receive i - 1 completed
      drive(s, rs[i]!);
      const got = await rs[i]!.wait();
      assert.equal(got.byteLength, n);
      assert.equal(got.byteOffset, bufs[i % 2]!.byteOffset, 'a view of the posted buffer');
      assert.deepEqual(got, payload(n, i));
    }
    assert.deepEqual(zcStats(a), { sent: 3, received: 0, unused: 0 });
    assert.deepEqual(zcStats(b), { sent: 0, received: 3, unused: 0 });
    await Promise.all([a.close(), b.close()]);
  });

  it('a send from the sender\'s application area: the receiver, waiting, copies the pieces left to claim (two-sided copy); from a plain buffer it cannot', async () => {
    const [a, b] = await pair();
    const n = 3 * ZC_PIECE_BYTES + 1000;
    const progress = (): number => Atomics.load(b.transport.localWords, wordOf(b.transport.layout.p2pInField + 0, IN_ZC_PROGRESS));
    const poll = b.p2p.zc!.watch(0); // what b's wait on the marker calls between spins
    const sendOnce = async (src: Uint8Array, eventId: number): Promise<{ helped: number; pieces: number }> => {
      const dst = b.appArea.subarray(0, n);
      const r = b.irecv(0, eventId, dst);
      const p0 = progress();
      let helped = -1;
      a.p2p.zc!.afterClaimForTest = () => { // a has claimed the post, b's wait polls before a copies
        const h0 = b.p2p.zc!.stats.helped;
        poll();
        helped = b.p2p.zc!.stats.helped - h0;
      };
      const s = a.isend(1, eventId, src);
      a.p2p.zc!.afterClaimForTest = undefined;
      drive(s, r);
      const got = await r.wait();
      assert.equal(got.byteOffset, dst.byteOffset, 'zero-copy into the posted buffer');
      assert.deepEqual(got, payload(n, eventId));
      return { helped, pieces: progress() - p0 };
    };
    const shared = a.appArea.subarray(4096, 4096 + n);
    shared.set(payload(n, 5));
    assert.deepEqual(await sendOnce(shared, 5), { helped: 4, pieces: 4 }, 'every piece copied once, all by the receiver');
    assert.deepEqual(await sendOnce(payload(n, 6), 6), { helped: 0, pieces: 4 }, 'a plain source is not readable by the receiver');
    assert.deepEqual(zcStats(a), { sent: 2, received: 0, unused: 0 });
    assert.deepEqual(zcStats(b), { sent: 0, received: 2, unused: 0 });
    await Promise.all([a.close(), b.close()]);
  });

  it('a large copy goes in pieces, each counted in the receiver\'s progress word (what its streaming wait watches)', async () => {
    const [a, b] = await pair();
    const n = 2 * ZC_PIECE_BYTES + 1000;
    const progress = (): number => Atomics.load(b.transport.localWords, wordOf(b.transport.layout.p2pInField + 0, IN_ZC_PROGRESS));
    const before = progress();
    const r = b.irecv(0, 1, b.appArea.subarray(0, n));
    const s = a.isend(1, 1, payload(n, 4));
    assert.equal(progress() - before, 3, 'three pieces');
    drive(s, r);
    assert.deepEqual(await r.wait(), payload(n, 4));
    assert.equal(zcStats(b).received, 1);
    await Promise.all([a.close(), b.close()]);
  });

  it('a send before the post, an unregistered buffer and a small message take the ring', async () => {
    const [a, b] = await pair();
    const dst = b.appArea.subarray(4096, 4096 + 50_000);
    const s1 = a.isend(1, 1, payload(30_000, 1)); // not posted yet
    const r1 = b.irecv(0, 1, dst);
    drive(s1, r1);
    assert.deepEqual(await r1.wait(), payload(30_000, 1));
    const r2 = b.irecv(0, 2, new Uint8Array(50_000)); // not in the application area: never posted
    const s2 = a.isend(1, 2, payload(40_000, 2));
    drive(s2, r2);
    assert.deepEqual(await r2.wait(), payload(40_000, 2));
    const r3 = b.irecv(0, 3, dst); // posted, but the message is small: the post is retired
    const s3 = a.isend(1, 3, payload(100, 3));
    drive(s3, r3);
    assert.deepEqual(await r3.wait(), payload(100, 3));
    assert.deepEqual(zcStats(a), { sent: 0, received: 0, unused: 0 });
    assert.deepEqual(zcStats(b), { sent: 0, received: 0, unused: 1 });
    await Promise.all([a.close(), b.close()]);
  });

  it('another event id or a bigger message than the post: the ring, with the typed error; the retry works', async () => {
    const [a, b] = await pair();
    const dst = b.appArea.subarray(0, 20_000);
    const r1 = b.irecv(0, 5, dst);
    const s1 = a.isend(1, 6, payload(20_000, 6));
    await rejectsWith(r1.wait(), 'xccl_event_mismatch');
    const r1b = b.irecv(0, 6, dst);
    drive(s1, r1b);
    assert.deepEqual(await r1b.wait(), payload(20_000, 6));
    const r2 = b.irecv(0, 7, dst); // posted for 20 000 bytes
    const s2 = a.isend(1, 7, payload(30_000, 7));
    await rejectsWith(r2.wait(), 'xccl_buffer_too_small');
    const r2b = b.irecv(0, 7, b.appArea.subarray(0, 40_000));
    drive(s2, r2b);
    assert.deepEqual(await r2b.wait(), payload(30_000, 7));
    assert.equal(zcStats(a).sent, 0);
    assert.equal(zcStats(b).unused, 2);
    await Promise.all([a.close(), b.close()]);
  });

  it('a receive that times out withdraws its post: the next send takes the ring', async () => {
    const [a, b] = await pair(150);
    const dst = b.appArea.subarray(0, 20_000);
    const r = b.irecv(0, 1, dst);
    await rejectsWith(r.wait(), 'xccl_timeout');
    assert.equal(zcStats(b).unused, 1);
    const s = a.isend(1, 1, payload(20_000, 1));
    drive(s, r); // the timed-out receive is still first in line and takes the message
    assert.deepEqual(await r.wait(), payload(20_000, 1));
    assert.equal(zcStats(a).sent, 0);
    await Promise.all([a.close(), b.close()]);
  });

  it('a receive that times out after the sender claimed its post: it rejects, the bytes land in its buffer and waiting it again returns them there; the ring stays usable', async () => {
    const [a, b] = await pair(100);
    const dst = b.appArea.subarray(0, 20_000);
    dst.fill(0xee);
    const r = b.irecv(0, 1, dst); // posted
    let timedOut: Promise<Uint8Array> | undefined;
    let statsAtTimeout: ReturnType<typeof zcStats> | undefined;
    a.p2p.zc!.afterClaimForTest = () => { // the sender holds the claim, no byte copied, no marker in the ring
      timedOut = r.wait(); // shm waits are synchronous: the receiver's deadline passes here
      statsAtTimeout = zcStats(b);
    };
    const s = a.isend(1, 1, payload(20_000, 1));
    a.p2p.zc!.afterClaimForTest = undefined;
    assert.ok(timedOut, 'the send claimed the post');
    await rejectsWith(timedOut, 'xccl_timeout');
    assert.deepEqual(statsAtTimeout, { sent: 0, received: 0, unused: 0 }, 'the withdrawal lost: the post stays claimed');
    assert.equal(zcStats(a).sent, 1);
    assert.deepEqual(dst, payload(20_000, 1), 'the copy went on into the timed-out receive\'s buffer');
    drive(s, r); // the timed-out receive is still first in line: the marker completes it
    const got = await r.wait();
    assert.equal(got.byteOffset, dst.byteOffset, 'a view of the posted buffer');
    assert.deepEqual(got, payload(20_000, 1));
    assert.deepEqual(zcStats(b), { sent: 0, received: 1, unused: 0 });
    await checkRingUsable(a, b, 2, { sent: 0, received: 2, unused: 0 });
    await Promise.all([a.close(), b.close()]);
  });

  it('recv() into a posted buffer that times out is cancelled: the next recv() of the same event id gets the message', async () => {
    const [a, b] = await pair(100);
    const dst = b.appArea.subarray(0, 20_000);
    await rejectsWith(b.recv(0, 1, dst), 'xccl_timeout'); // posted, then withdrawn
    assert.equal(zcStats(b).unused, 1);
    const s = a.isend(1, 1, payload(16_000, 1)); // the ring (the post was withdrawn); it fits, so no handle needs polling
    assert.deepEqual(await b.recv(0, 1, dst), payload(16_000, 1));
    await s.wait();
    await checkRingUsable(a, b, 1, { sent: 0, received: 1, unused: 1 });
    await Promise.all([a.close(), b.close()]);
  });

  it('recv() that times out after the sender claimed its post (two threads): the next receive of that event id, into another buffer, gets the bytes', async () => {
    const n = 40_000;
    const rs = await launchRanks('shm-thread', { region: { worldSize: 2, slotBytes: SLOT_HEADER_BYTES + 4096, numSlots: 4, epAreaBytes: 0, appBytes: 1 << 19 }, scenario: 'zeroCopyStale', params: { bytes: n }, options: { timeoutMs: 500 }, killAfterMs: 30_000 });
    const [s, r] = rs.map((x) => { assert.ok(x.ok, JSON.stringify(x)); return x.value as StaleReport; }) as [StaleReport, StaleReport];
    assert.equal(s.claimed, true, 'the send claimed the post (the path under test)');
    assert.equal(r.firstRecv, 'xccl_timeout');
    assert.deepEqual(r.zcAtTimeout, { sent: 0, received: 0, unused: 0 }, 'the withdrawal lost: claimed, not withdrawn');
    assert.deepEqual(r.messages, [
      { bytes: n, firstBad: -1, inPlace: true }, // copied out of the timed-out receive's buffer into its own
      { bytes: n, firstBad: -1, inPlace: true }, // the ring stays usable: zero-copy ...
      { bytes: 1000, firstBad: -1, inPlace: true }, // ... and a ring message
    ]);
    assert.equal(r.timedOutBufferBad, -1, 'the timed-out receive\'s buffer holds the message');
    assert.deepEqual(s.zc, { sent: 2, received: 0, unused: 0 });
    assert.deepEqual(r.zc, { sent: 0, received: 2, unused: 0 });
  });

  it('a sender ahead of the receiver: the posted first message is zero-copy, the rest keep order through the ring', async () => {
    const [a, b] = await pair();
    const app = b.appArea;
    const sizes = [20_000, 100, 50_000, 30_000];
    const dsts = [app.subarray(0, 20_000), app.subarray(20_000, 40_000), new Uint8Array(50_000), app.subarray(65_536, 65_536 + 30_000)];
    const rs = sizes.map((_, i) => b.irecv(0, i + 1, dsts[i]));
    const ss = sizes.map((n, i) => a.isend(1, i + 1, payload(n, i))); // all issued before the receiver reads anything
    drive(...ss, ...rs);
    for (const [i, n] of sizes.entries()) assert.deepEqual(await rs[i]!.wait(), payload(n, i), `message ${i}`);
    assert.equal(zcStats(a).sent, 1, 'only the first send found its post (its ring position was the receiver\'s head)');
    assert.equal(zcStats(b).received, 1);
    await Promise.all([a.close(), b.close()]);
  });

  for (const kind of ['shm-thread', 'shm-process'] as const) {
    it(`sends from the sender's application area (${kind}): every message intact at its posted buffer, every piece counted once, whichever rank copied it`, async () => {
      const bytes = 2 * ZC_PIECE_BYTES + 123; // three pieces
      const count = 16;
      const rs = await launchRanks(kind, { region: { worldSize: 2, slotBytes: SLOT_HEADER_BYTES + 4096, numSlots: 4, epAreaBytes: 0, appBytes: count * bytes }, scenario: 'zeroCopySharedSource', params: { bytes, count }, options: { timeoutMs: 10_000 }, killAfterMs: 60_000 });
      const [s, r] = rs.map((x) => { assert.ok(x.ok, JSON.stringify(x)); return x.value as SharedSourceReport; }) as [SharedSourceReport, SharedSourceReport];
      assert.deepEqual(r.messages, Array.from({ length: count }, () => ({ firstBad: -1, inPlace: true })));
      assert.equal(r.pieces, 3 * count, 'each piece counted exactly once');
      assert.ok(r.helped >= 0 && r.helped <= r.pieces, `the receiver copied ${r.helped} of ${r.pieces} pieces`);
      assert.deepEqual(s.zc, { sent: count, received: 0, unused: 0 });
      assert.deepEqual(r.zc, { sent: 0, received: count, unused: 0 });
    });
  }
});
