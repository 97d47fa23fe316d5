/**
 * Tests of the p2p fast paths (paper notes §2.4.1; p2p.ts, p2p-recv.ts, shm/slots.ts): two ranks
 * of a real shm communicator (SharedArrayBuffer regions) driven from one thread, so every byte
 * path is checked against the sent bytes: slots written and read in place as words (aligned and
 * unaligned buffers, sizes around the word, small-payload and slot boundaries), chunked messages
 * that stream through a ring smaller than them via handle polls, and the typed errors.
 * Concurrency between threads and processes is covered by the conformance suite.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isXdsError } from '../core/errors.js';
import { createCommunicator, type Communicator } from './communicator.js';
import { SLOT_HEADER_BYTES, makeRegionLayout } from './region.js';
import { allocateThreadRegions } from './shm/thread.js';

const SLOT_BYTES = SLOT_HEADER_BYTES + 300; // payload 300 B: the in-place limit (256 B) and the slot limit differ
const NUM_SLOTS = 4;

async function pair(): Promise<[Communicator, Communicator]> {
  const region = { worldSize: 2, slotBytes: SLOT_BYTES, numSlots: NUM_SLOTS, epAreaBytes: 0 };
  const regions = allocateThreadRegions(makeRegionLayout(region));
  const open = (rank: number): Promise<Communicator> => createCommunicator({ transport: { kind: 'shm-thread', regions }, region, nonce: 5 }, rank, { timeoutMs: 200 });
  const [a, b] = await Promise.all([open(0), open(1)]);
  return [a, b];
}

/** `n` pattern bytes starting at byte `shift` of a fresh buffer (shift 1..3: not 4-byte aligned). */
function payload(n: number, seed: number, shift: number): Uint8Array {
  const buf = new Uint8Array(n + shift + 8).fill(0xee);
  const v = buf.subarray(shift, shift + n);
  for (let i = 0; i < n; i++) v[i] = (seed * 31 + i * 7 + (i >> 8)) & 255;
  return v;
}

describe('xccl p2p fast paths (shm, two ranks in one thread)', () => {
  it('sizes around words, the in-place limit and the slot: aligned and unaligned sources and destinations', async () => {
    const [a, b] = await pair();
    let ev = 1;
    for (const n of [0, 1, 3, 4, 5, 63, 64, 65, 255, 256, 257, 299, 300, 301, 601, 900]) {
      for (const shift of [0, 1, 2]) {
        const src = payload(n, ev, shift);
        const h = a.isend(1, ev, src);
        const dst = payload(n + 5, 0, (shift + 1) % 4); // larger than the message, maybe unaligned
        const before = dst.slice(n);
        const got = await b.recv(0, ev, dst);
        await h.wait();
        assert.equal(got.byteLength, n, `size ${n} shift ${shift}`);
        assert.deepEqual(got, src, `size ${n} shift ${shift}`);
        assert.deepEqual(dst.subarray(n), before, `bytes past the message untouched (size ${n})`);
        ev++;
      }
    }
    await Promise.all([a.close(), b.close()]);
  });

  it('a receive into the same buffer again resolves to the new bytes', async () => {
    const [a, b] = await pair();
    const dst = new Uint8Array(64);
    for (let ev = 1; ev <= 3; ev++) {
      const h = a.isend(1, ev, payload(64, ev, 0));
      assert.deepEqual(await b.recv(0, ev, dst), payload(64, ev, 0));
      await h.wait();
    }
    await Promise.all([a.close(), b.close()]);
  });

  it('a message larger than the ring streams through handle polls, in order, with its event ids', async () => {
    const [a, b] = await pair();
    const big = payload(NUM_SLOTS * 300 * 3 + 17, 9, 1);
    const small = payload(40, 10, 0);
    const s1 = a.isend(1, 7, big);
    const s2 = a.isend(1, 8, small);
    const r1 = b.irecv(0, 7);
    const r2 = b.irecv(0, 8);
    let polls = 0;
    while (![s1, s2, r1, r2].map((h) => h.poll()).every(Boolean)) assert.ok(++polls < 10_000, 'no progress'); // sender and receiver take turns
    assert.deepEqual(await r1.wait(), big);
    assert.deepEqual(await r2.wait(), small);
    await s1.wait();
    await s2.wait();
    await Promise.all([a.close(), b.close()]);
  });

  it('wrong event id and too small a buffer are typed errors that leave the message in place', async () => {
    const [a, b] = await pair();
    const msg = payload(100, 3, 0);
    const h = a.isend(1, 42, msg);
    await assert.rejects(b.recv(0, 41), (e) => isXdsError(e, 'xccl_event_mismatch') && /expected event 41, got event 42/.test(e.message));
    await assert.rejects(b.recv(0, 42, new Uint8Array(99)), (e) => isXdsError(e, 'xccl_buffer_too_small') && e.param === 'dst');
    assert.deepEqual(await b.recv(0, 42), msg);
    await h.wait();
    await assert.rejects(b.recv(0, 43), (e) => isXdsError(e, 'xccl_timeout') && /event 43 from rank 0/.test(e.message));
    await assert.rejects(b.recv(2, 1), (e) => isXdsError(e, 'invalid_argument') && e.param === 'peer');
    await Promise.all([a.close(), b.close()]);
  });

  it('an ACK piggybacked on a reply counts only what the peer had consumed when it wrote the reply', async () => {
    const [a, b] = await pair();
    const m1 = payload(64, 1, 0);
    const r1 = payload(8, 2, 0);
    const h1 = a.isend(1, 1, m1);
    const hb = b.isend(0, 9, r1); // written before b received event 1
    assert.deepEqual(await a.recv(1, 9), r1);
    assert.equal(h1.poll(), false, 'the reply must not acknowledge a message its writer had not read');
    assert.deepEqual(await b.recv(0, 1), m1);
    assert.equal(h1.poll(), true);
    await Promise.all([h1.wait(), hb.wait()]);
    for (let i = 0; i < 3 * NUM_SLOTS; i++) { // replies written after the receive carry its ACK; the ring wraps
      const m = payload(40 + i, 10 + i, 0);
      const h = a.isend(1, 100 + i, m);
      assert.deepEqual(await b.recv(0, 100 + i), m);
      const hr = b.isend(0, 200 + i, m.subarray(0, 4));
      assert.deepEqual(await a.recv(1, 200 + i), m.subarray(0, 4));
      assert.equal(h.poll(), true);
      await Promise.all([h.wait(), hr.wait()]);
    }
    await Promise.all([a.close(), b.close()]);
  });

  it('blocking calls: recvSync and sendSync end in a thrown xccl_timeout at their deadline; a timed-out recvSync is cancelled, the next one gets the message', async () => {
    const [a, b] = await pair();
    const timeout = (fn: () => unknown): number => {
      const t0 = performance.now();
      assert.throws(fn, (e: unknown) => isXdsError(e, 'xccl_timeout'));
      return performance.now() - t0;
    };
    assert.ok(timeout(() => b.recvSync(0, 1)) >= 150, 'waited for its deadline');
    const m = payload(100, 1, 1);
    const h = a.isend(1, 1, m); // small: in the slot at once
    assert.deepEqual(b.recvSync(0, 1, new Uint8Array(100)), m, 'the cancelled receive took nothing');
    await h.wait();
    const big = payload(NUM_SLOTS * 300 * 2, 2, 0); // more than the ring, and nobody receives: the credit wait times out
    assert.ok(timeout(() => a.sendSync(1, 2, big)) >= 150);
    assert.throws(() => a.sendSync(5, 3, m), (e: unknown) => isXdsError(e, 'invalid_argument'));
    await Promise.all([a.close(), b.close()]);
  });
});
