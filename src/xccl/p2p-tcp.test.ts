/**
 * Tests of the p2p fast paths over tcp (p2p.ts `sendParked`, p2p-recv.ts `recvParked`; paper notes
 * §2.4.1): two ranks of real tcp communicators in this process over loopback sockets. A receive
 * posted before its message settles from the read callback; receives posted behind it keep their
 * order; a wrong event id, too small a buffer and a multi-chunk message reaching a parked receive
 * take the general path with the same typed errors, leaving the message in place; sends settle on
 * the ACK; a closed peer ends a parked receive; big chunks that span socket reads arrive intact. Child-process ranks run the same protocol in the conformance suite (tcp.test.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isXdsError } from '../core/errors.js';
import { createCommunicator, type Communicator } from './communicator.js';
import { freePorts } from './testing/launch.js';
import { SLOT_HEADER_BYTES } from './region.js';

const SLOT_BYTES = SLOT_HEADER_BYTES + 300; // payload 300 B per chunk
const NUM_SLOTS = 4;

async function pair(slotBytes = SLOT_BYTES): Promise<[Communicator, Communicator]> {
  const region = { worldSize: 2, slotBytes, numSlots: NUM_SLOTS, epAreaBytes: 0 };
  const endpoints = (await freePorts(2)).map((port) => ({ host: '127.0.0.1', port }));
  const open = (rank: number): Promise<Communicator> => createCommunicator({ transport: { kind: 'tcp', endpoints }, region, nonce: 9 }, rank, { timeoutMs: 300 });
  const [a, b] = await Promise.all([open(0), open(1)]);
  return [a, b];
}

function payload(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7 + (i >> 8)) & 255;
  return b;
}

describe('xccl p2p fast paths (tcp, two ranks in one process)', () => {
  it('receives posted before their messages: the parked one and those queued behind it, in order', async () => {
    const [a, b] = await pair();
    const sizes = [64, 300, 1000, 0, 5]; // 1000 B: 4 chunks; 0 B: an empty message
    const recvs = sizes.map((_, i) => b.recv(0, 10 + i));
    const sends = sizes.map((n, i) => a.send(1, 10 + i, payload(n, i)));
    const got = await Promise.all(recvs);
    await Promise.all(sends);
    got.forEach((g, i) => assert.deepEqual(g, payload(sizes[i]!, i), `message ${i}`));
    await Promise.all([a.close(), b.close()]);
  });

  it('ping-pong through the fast paths, into the same buffer, with event ids', async () => {
    const [a, b] = await pair();
    const dst = new Uint8Array(64);
    const echo = (async () => {
      for (let ev = 1; ev <= 50; ev++) {
        const m = await b.recv(0, ev, dst);
        await b.send(0, ev, m);
      }
    })();
    const back = new Uint8Array(64);
    for (let ev = 1; ev <= 50; ev++) {
      const h = a.isend(1, ev, payload(64, ev));
      assert.deepEqual(await a.recv(1, ev, back), payload(64, ev), `round ${ev}`);
      await h.wait();
    }
    await echo;
    await Promise.all([a.close(), b.close()]);
  });

  it('a parked receive that meets a wrong event id or too small a buffer fails typed and leaves the message in place', async () => {
    const [a, b] = await pair();
    const msg = payload(100, 3);
    const wrong = b.recv(0, 41); // parked: the message is not there yet
    const s = a.send(1, 42, msg);
    await assert.rejects(wrong, (e) => isXdsError(e, 'xccl_event_mismatch') && /expected event 41, got event 42/.test(e.message));
    await assert.rejects(b.recv(0, 42, new Uint8Array(99)), (e) => isXdsError(e, 'xccl_buffer_too_small') && e.param === 'dst');
    assert.deepEqual(await b.recv(0, 42), msg);
    await s;
    const small = b.recv(0, 43, new Uint8Array(10)); // parked, then a 1000 B message (multi-chunk) arrives
    const big = payload(1000, 4);
    const s2 = a.send(1, 43, big);
    await assert.rejects(small, (e) => isXdsError(e, 'xccl_buffer_too_small'));
    assert.deepEqual(await b.recv(0, 43), big);
    await s2;
    await assert.rejects(b.recv(0, 44), (e) => isXdsError(e, 'xccl_timeout') && /event 44 from rank 0/.test(e.message));
    await Promise.all([a.close(), b.close()]);
  });

  it('64 KiB chunks spanning socket reads arrive intact (the header put can land a read before the payload)', async () => {
    const [a, b] = await pair((64 << 10) + SLOT_HEADER_BYTES);
    for (let m = 0; m < 4; m++) {
      const src = payload(300 << 10, m + 1); // 5 chunks through a 4-slot ring, a different pattern each time
      const r = b.recv(0, m);
      await a.send(1, m, src);
      assert.deepEqual(await r, src, `message ${m}`);
    }
    await Promise.all([a.close(), b.close()]);
  });

  it('a parked receive ends in xccl_peer_gone when the peer closes', async () => {
    const [a, b] = await pair();
    const r = assert.rejects(b.recv(0, 1), (e) => isXdsError(e, 'xccl_peer_gone') && /peer rank 0/.test(e.message));
    await a.close();
    await r;
    await b.close();
  });
});
