/**
 * Tests of copy.ts (the data-path copies of paper notes §2.4.1): copyBytes equals a naive byte
 * loop for sizes below and above NATIVE_COPY_BYTES, between shared and plain buffers, at odd
 * offsets, at 4 KiB-aliased distances and over overlapping ranges; the addon's own range check
 * rejects a copy past the end. copyBytesClaimed copies the same bytes, one piece per claim from
 * the counter, counting each in the progress word; pieces another caller claimed first are left
 * to it (both the addon and the JS loop: sizes below NATIVE_COPY_BYTES take the loop).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NATIVE_COPY_BYTES, copyBytes, copyBytesClaimed } from './copy.js';
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

  for (const [n, piece] of [[100, 64], [NATIVE_COPY_BYTES * 5 + 3, NATIVE_COPY_BYTES], [NATIVE_COPY_BYTES * 4, NATIVE_COPY_BYTES]] as const) {
    const pieces = Math.ceil(n / piece);
    for (const taken of [0, 1, pieces]) {
      it(`copyBytesClaimed: ${n} bytes in pieces of ${piece}, ${taken} claimed by another caller first`, () => {
        const dst = new Uint8Array(new SharedArrayBuffer(n + 16));
        const src = new Uint8Array(n + 8).map((_, i) => (i * 13 + 1) & 255);
        const want = new Uint8Array(n + 16);
        naive(want, 7 + taken * piece, src, 2 + taken * piece, Math.max(0, n - taken * piece)); // the pieces left to this call
        const claim = new Int32Array(new SharedArrayBuffer(16));
        const progress = new Int32Array(new SharedArrayBuffer(16));
        claim[1] = taken;
        progress[3] = 41;
        const mine = copyBytesClaimed(dst, 7, src, 2, n, piece, claim, 1, progress, 3);
        assert.deepEqual([...dst], [...want]);
        assert.equal(mine, pieces - taken);
        assert.equal(progress[3], 41 + pieces - taken);
        assert.ok(claim[1]! > pieces, 'the counter moved past the last piece');
        assert.equal(copyBytesClaimed(dst, 7, src, 2, n, piece, claim, 1, progress, 3), 0, 'nothing is left to claim');
      });
    }
  }

  it('4 KiB-aliased distances (the addon loop, not rep movsb) and overlapping ranges copy as memmove', () => {
    const n = 3 * NATIVE_COPY_BYTES + 77;
    const gap = 4096 * Math.ceil((n + 64) / 4096); // source and destination in one buffer, apart by gap + dist: the distance modulo 4 KiB is dist
    for (const dist of [0, 1, 8, 24, 31, 32, 63, 64, 65]) {
      for (const srcOff of [0, 16, 40]) {
        const buf = new Uint8Array(new SharedArrayBuffer(2 * gap + 8192)).map((_, i) => (i * 29 + 5) & 255);
        const want = buf.slice();
        copyBytes(buf, srcOff + gap + dist, buf, srcOff, n);
        naive(want, srcOff + gap + dist, want, srcOff, n);
        assert.deepEqual(buf, want, `distance ${dist}, source offset ${srcOff}`);
      }
    }
    for (const shift of [24, -24, 4096 + 8, -(4096 + 8)]) {
      const buf = new Uint8Array(n + 16384).map((_, i) => (i * 13 + 7) & 255);
      const want = buf.slice();
      const from = 4200;
      want.copyWithin(from + shift, from, from + n); // memmove semantics
      copyBytes(buf, from + shift, buf, from, n);
      assert.deepEqual(buf, want, `overlap, shift ${shift}`);
    }
  });

  it('the addon copy rejects a range past the end (when built)', () => {
    const addon = loadXcclAddon(true);
    if (!addon) return;
    assert.throws(() => addon.copy(new Uint8Array(8), 4, new Uint8Array(8), 0, 5), RangeError);
    assert.throws(() => addon.copy(new Uint8Array(8), 0, new Uint8Array(8), 6, 3), RangeError);
    assert.throws(() => addon.copyClaimed(new Uint8Array(8), 0, new Uint8Array(8), 0, 8, 4, new Int32Array(2), 2, new Int32Array(2), 0), RangeError);
    assert.throws(() => addon.copyClaimed(new Uint8Array(8), 0, new Uint8Array(8), 0, 8, 4, new Int32Array(2), 0, new Int32Array(2), 2), RangeError);
  });
});
