/** The native memcpy ping-pong baselines of `bench xccl` (two copies, and one copy for the zero-copy path): their argument contract. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadXcclAddon } from '../shm/process.js';

const addon = loadXcclAddon(true);

test('memcpyPingPong gives one positive time per iteration with one or two copies, and rejects other counts', { skip: addon ? false : 'native addon xccl unavailable' }, () => {
  for (const copies of [undefined, 1, 2] as const) {
    const ns = copies === undefined ? addon!.memcpyPingPong(4096, 16) : addon!.memcpyPingPong(4096, 16, copies);
    assert.equal(ns.length, 16);
    assert.ok(ns.every((x) => Number.isFinite(x) && x > 0), `copies ${copies}: ${Array.from(ns).join(',')}`);
  }
  assert.throws(() => addon!.memcpyPingPong(4096, 4, 3 as 1), RangeError);
});
