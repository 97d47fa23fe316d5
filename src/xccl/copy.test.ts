/**
 * Tests of copy.ts (the data-path copies of paper notes §2.4.1): copyBytes equals a naive byte
 * loop for sizes below and above NATIVE_COPY_BYTES, between shared and plain buffers, at odd
 * offsets; the addon's own range check rejects a copy past the end.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NATIVE_COPY_BYTES, copyBytes } from './copy.js';
import { loadXcclAddon } from './shm/process.js';

function naive(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i]!;
}

describe('xccl copyBytes', () => {
  for (const n of [0, 1, 63, NATIVE_COPY_BYTES - 1, NATIVE_COPY_BYTES, 3 * NATIVE_COPY_BYTES + 5]) {
    it(`${n} bytes, shared <-> plain, odd offsets, equals a byte loop`, () => {
      const size = n + 64;
      const shared = new Uint8Array(new SharedArrayBuffer(size));
      const plain = new Uint8Array(size).map((_, i) => (i * 7 + 3) & 255);
      const want = new Uint8Array(size);
      copyBytes(shared, 5, plain, 11, n);
      naive(want, 5, plain, 11, n);
      assert.deepEqual([...shared], [...want]);
      const back = new Uint8Array(size);
      const wantBack = new Uint8Array(size);
      copyBytes(back, 3, shared, 5, n);
      naive(wantBack, 3, want, 5, n);
      assert.deepEqual([...back], [...wantBack]);
    });
  }

  it('the addon copy rejects a range past the end (when built)', () => {
    const addon = loadXcclAddon(true);
    if (!addon) return;
    assert.throws(() => addon.copy(new Uint8Array(8), 4, new Uint8Array(8), 0, 5), RangeError);
    assert.throws(() => addon.copy(new Uint8Array(8), 0, new Uint8Array(8), 6, 3), RangeError);
  });
});
