import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { HUGE_PAGE_BYTES, hugePageBuffer, hugePageBytesAdvised, setHugePages, SharedArena } from './huge-pages.js';
import { loadKernelsAddon } from '../kernels/native.js';

test('SharedArena: 64-byte aligned slices that never overlap, chunks that grow, big requests on their own', () => {
  const arena = new SharedArena(1 << 16, 1 << 20);
  const slices = [1, 63, 64, 65, 1000, 0, 65000, 30000, 200000, 300000].map((n) => ({ n, s: arena.alloc(n) }));
  for (const { s } of slices) assert.equal(s.byteOffset % 64, 0);
  for (const a of slices) {
    assert.ok(a.s.byteOffset + a.n <= a.s.buffer.byteLength, 'a slice lies inside its buffer');
    for (const b of slices) {
      if (a === b || a.s.buffer !== b.s.buffer || a.n === 0 || b.n === 0) continue;
      assert.ok(a.s.byteOffset + a.n <= b.s.byteOffset || b.s.byteOffset + b.n <= a.s.byteOffset, `slices of ${a.n} and ${b.n} bytes overlap`);
    }
  }
  assert.notEqual(slices[6]!.s.buffer, slices[0]!.s.buffer, 'a slice that does not fit starts a new chunk');
  assert.ok(slices[6]!.s.buffer.byteLength >= 2 * (1 << 16), 'the next chunk is larger');
  assert.equal(slices[9]!.s.byteOffset, 0, 'over a quarter of the largest chunk: a buffer of its own');
  assert.equal(slices[9]!.s.buffer.byteLength, 300000);
  // Writes through one slice leave its neighbours alone.
  const a = new Uint8Array(slices[3]!.s.buffer, slices[3]!.s.byteOffset, 65).fill(7);
  const b = new Uint8Array(slices[4]!.s.buffer, slices[4]!.s.byteOffset, 1000);
  assert.equal(b.every((x) => x === 0), true);
  assert.equal(a.every((x) => x === 7), true);
  assert.throws(() => arena.alloc(-1), /bytes must be an integer/);
});

test('hugePageBuffer advises the 2 MiB-aligned interior (Linux with the addon), and the pages come back huge where THP allows', (t) => {
  if (loadKernelsAddon({ quiet: true }) === null) return t.skip('native addon not built');
  if (process.platform !== 'linux') return t.skip('MADV_HUGEPAGE is Linux only');
  const was = setHugePages(true);
  t.after(() => setHugePages(was));
  const before = hugePageBytesAdvised();
  const bytes = 16 * HUGE_PAGE_BYTES;
  const buf = hugePageBuffer(bytes);
  const advised = hugePageBytesAdvised() - before;
  assert.equal(buf.byteLength, bytes);
  assert.ok(advised >= bytes - 2 * HUGE_PAGE_BYTES && advised <= bytes, `advised ${advised} of ${bytes}`);
  assert.equal(advised % HUGE_PAGE_BYTES, 0);
  setHugePages(false);
  hugePageBuffer(bytes);
  assert.equal(hugePageBytesAdvised() - before, advised, 'off: nothing more is advised');
  setHugePages(true);
  // Whether the kernel hands out huge pages depends on its THP mode; where it is "never" there are none to see.
  const mode = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
  if (mode.includes('[never]')) return;
  const anonHuge = (): number => Number(/AnonHugePages:\s+(\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? 0);
  const h0 = anonHuge();
  const big = new Uint8Array(hugePageBuffer(bytes));
  for (let i = 0; i < big.length; i += 4096) big[i] = 1; // first touch
  assert.ok(anonHuge() - h0 >= 4 * 1024, `at least two 2 MiB pages (${anonHuge() - h0} kB more on huge pages)`);
});
