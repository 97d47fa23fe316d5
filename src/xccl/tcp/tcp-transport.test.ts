/**
 * Tests of the tcp transport on its own (tcp-transport.ts, links.ts, waits.ts; paper notes §2.4
 * semantics over sockets): two ranks in this process over real loopback sockets. Puts and the
 * signals after them arrive in order, large puts and gets cross many reads intact, waits end in
 * typed errors at their deadline or when the peer closes. The full protocols run over tcp in the
 * conformance suite (tcp.test.ts, child processes).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { realClock } from '../../core/clock.js';
import { isXdsError } from '../../core/errors.js';
import { makeRegionLayout, wordOf, type RegionLayout } from '../region.js';
import { freePorts } from '../testing/launch.js';
import { connectTcp, type TcpTransport } from './tcp-transport.js';

const BIG_BYTES = 3 << 20; // 3 MiB: dozens of 64 KiB reads

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 9)) & 255;
  return b;
}

function waitFor(tr: TcpTransport, wordIdx: number, value: number, peer: number, ms = 5000): number | Promise<number> {
  return tr.waitLocal({ wordIdx, pred: (v) => v === value, peer, deadlineUs: realClock.nowUs() + ms * 1000, what: `word ${wordIdx} = ${value}` });
}

async function rejection(p: number | Promise<number>): Promise<unknown> {
  try { await p; } catch (e) { return e; }
  return assert.fail('expected the wait to fail');
}

describe('xccl tcp transport (two ranks, one process, real sockets)', () => {
  let layout: RegionLayout;
  let t0: TcpTransport;
  let t1: TcpTransport;
  before(async () => {
    layout = makeRegionLayout({ worldSize: 2, slotBytes: 256, numSlots: 2, epAreaBytes: BIG_BYTES });
    const endpoints = (await freePorts(2)).map((port) => ({ host: '127.0.0.1', port }));
    const [a, b] = await Promise.all([0, 1].map((r) => connectTcp(endpoints, r, layout, { clock: realClock, timeoutMs: 10_000 })));
    t0 = a!;
    t1 = b!;
  });
  after(async () => { await Promise.all([t0.close(), t1.close()]); });

  it('puts, then the signals after them, arrive in order; a parked wait resumes with the value', async () => {
    const word = wordOf(layout.barrierField, 0);
    const small = pattern(80, 1);
    for (let round = 1; round <= 3; round++) {
      t0.put(1, layout.epOffset + round, small);
      t0.signal(1, word, round); // joins the put's frame
      t0.signal(1, word + 1, -round); // joins it too
      assert.equal(await waitFor(t1, word, round, 0), round);
      assert.equal(t1.localWords[word + 1], -round);
      assert.deepEqual(t1.local.subarray(layout.epOffset + round, layout.epOffset + round + 80), small);
    }
  });

  it('a 3 MiB put and a 3 MiB get cross many reads intact', async () => {
    const big = pattern(BIG_BYTES, 7);
    const word = wordOf(layout.barrierField, 1);
    t1.put(0, layout.epOffset, big);
    t1.signal(0, word, 1);
    await waitFor(t0, word, 1, 1);
    assert.ok(Buffer.from(t0.local.subarray(layout.epOffset, layout.epOffset + BIG_BYTES)).equals(Buffer.from(big)), '3 MiB put');
    const dst = new Uint8Array(BIG_BYTES - 5);
    await t1.get(0, layout.epOffset + 5, dst, realClock.nowUs() + 5e6);
    assert.ok(Buffer.from(dst).equals(Buffer.from(big.subarray(5))), '3 MiB get');
  });

  it('a wait past its deadline ends in xccl_timeout, within the sweep period', async () => {
    const t = performance.now();
    const e = await rejection(waitFor(t1, wordOf(layout.barrierField, 0), 1234, 0, 30));
    const ms = performance.now() - t;
    assert.ok(isXdsError(e, 'xccl_timeout'), String(e));
    assert.match((e as Error).message, /rank 0/);
    assert.ok(ms >= 29 && ms < 1000, `timed out after ${ms} ms (deadline 30 ms)`);
  });

  it('a peer that closes ends the waits on it in xccl_peer_gone, naming it; later puts to it throw', async () => {
    const failed = rejection(waitFor(t1, wordOf(layout.barrierField, 0), 999, 0));
    await t0.close();
    const e = await failed;
    assert.ok(isXdsError(e, 'xccl_peer_gone'), String(e));
    assert.match((e as Error).message, /peer rank 0/);
    assert.throws(() => t1.signal(0, 0, 1), (err: unknown) => isXdsError(err, 'xccl_peer_gone'));
  });
});
