/**
 * Tests of the shm waits (paper notes §2.4.1; shm-transport.ts): a wait on a ring-slot word (not
 * only metadata) ends when another thread signals it, and the opt-in yielding spin still ends in
 * a typed timeout naming what it waited for. Real SharedArrayBuffer regions and a real worker.
 * Also the registration's pre-faulting: pages in the range take no fault when written later, bytes
 * are unchanged, pages outside it are left alone (the kernel's minor-fault count of this process).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { isXdsError } from '../../core/errors.js';
import { realClock } from '../../core/clock.js';
import { HDR, RANK_STATE, makeRegionLayout, ringSlotOffset } from '../region.js';
import { allocateThreadRegions, openThreadShm } from './thread.js';
import { prefaultPages } from './shm-transport.js';
import { loadXcclAddon } from './process.js';

const layout = makeRegionLayout({ worldSize: 2, slotBytes: 256, numSlots: 2, epAreaBytes: 0 });

function spec(wordIdx: number, bound: number, deadlineUs: number): { wordIdx: number; pred: (v: number) => boolean; peer: number; deadlineUs: number; what: string } {
  return { wordIdx, pred: (v) => v >= bound, peer: 1, deadlineUs, what: `slot word ${wordIdx}` };
}

describe('xccl shm waits', () => {
  it('a wait on a slot word ends when another thread stores and signals it', async () => {
    const regions = allocateThreadRegions(layout);
    const tr = openThreadShm(regions, 0, layout, { clock: realClock, spinUs: 0, parkSliceMs: 2000, heartbeatTimeoutMs: 0 });
    const idx = ringSlotOffset(layout, 1, 1) >> 2;
    // The worker stores 7 into the slot word after 30 ms and notifies it, as ShmTransport.signal does.
    const src = `const { workerData } = require('node:worker_threads'); const w = new Int32Array(workerData.sab);
      setTimeout(() => { Atomics.store(w, workerData.idx, 7); Atomics.notify(w, workerData.idx); }, 30);`;
    const worker = new Worker(src, { eval: true, workerData: { sab: regions[0], idx } });
    const t0 = performance.now();
    assert.equal(tr.waitLocal(spec(idx, 7, realClock.nowUs() + 5_000_000)), 7);
    const ms = performance.now() - t0;
    assert.ok(ms >= 20 && ms < 1500, `woken after ${ms} ms (the park slice is 2 s: the notify woke it)`);
    await worker.terminate();
    await tr.close();
  });

  it('a yielding spin that outlasts its deadline is an xccl_timeout naming the word', async () => {
    assert.equal(typeof loadXcclAddon(true)?.yieldCpu, 'function', 'the addon exports yieldCpu');
    const tr = openThreadShm(allocateThreadRegions(layout), 0, layout, { clock: realClock, spinUs: 30_000, parkSliceMs: 5, heartbeatTimeoutMs: 0, yieldAfterUs: 0 });
    const t0 = performance.now();
    assert.throws(() => tr.waitLocal(spec(100, 1, realClock.nowUs() + 20_000)), (e) => isXdsError(e, 'xccl_timeout') && /slot word 100/.test(e.message));
    assert.ok(performance.now() - t0 >= 15, 'waited until the deadline');
    await tr.close();
  });

  it('a word the peer set just before closing still ends the wait (its close comes after its last signal)', async () => {
    const regions = allocateThreadRegions(layout);
    const tr = openThreadShm(regions, 0, layout, { clock: realClock, spinUs: 0, parkSliceMs: 5, heartbeatTimeoutMs: 0 });
    Atomics.store(new Int32Array(regions[1]!), HDR.state, RANK_STATE.closed); // rank 1 has closed
    const idx = ringSlotOffset(layout, 1, 0) >> 2;
    const own = new Int32Array(regions[0]!);
    // Rank 1's last store lands after the parked wait's read of the word and before its peer check.
    let reads = 0;
    const racing = { ...spec(idx, 3, realClock.nowUs() + 1_000_000), pred: (v: number) => { if (++reads === 2) Atomics.store(own, idx, 3); return v >= 3; } };
    assert.equal(tr.waitLocal(racing), 3);
    const unset = ringSlotOffset(layout, 1, 1) >> 2;
    assert.throws(() => tr.waitLocal(spec(unset, 1, realClock.nowUs() + 1_000_000)), (e) => isXdsError(e, 'xccl_peer_gone') && /peer rank 1 closed/.test(e.message));
    await tr.close();
  });

  it('prefaultPages maps the pages of its range for writing, changes no byte and leaves other pages alone', () => {
    const MIB = 1 << 20;
    const w = new Int32Array(new SharedArrayBuffer(64 * MIB)); // above glibc's largest mmap threshold: fresh, unmapped pages
    w[(MIB + 100) >> 2] = 11;
    w[(33 * MIB) >> 2] = 13;
    prefaultPages(w, MIB + 100, 33 * MIB + 8); // unaligned ends: pages 256 .. 8448 (the one holding byte 33 MiB + 7)
    assert.equal(w[(MIB + 100) >> 2], 11);
    assert.equal(w[(33 * MIB) >> 2], 13);
    assert.equal(w[(33 * MIB + 4096) >> 2], 0);
    const faultsWriting = (fromPage: number, toPage: number): number => {
      const f0 = process.resourceUsage().minorPageFault;
      for (let p = fromPage; p < toPage; p++) w[(p * 4096 + 64) >> 2] = 1;
      return process.resourceUsage().minorPageFault - f0;
    };
    const inside = faultsWriting(256, 8449);
    const outside = faultsWriting(8449, 16384);
    // NOTE: relative, so that it holds with transparent huge pages too (then one fault per 2 MiB outside).
    assert.ok(outside > 0, 'writing 7935 pages outside the range took no fault (they were not mapped)');
    assert.ok(inside * 10 <= outside, `${inside} faults writing 8193 pre-faulted pages, ${outside} writing 7935 others`);
  });
});
