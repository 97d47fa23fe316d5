import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockPool } from './block-pool.js';
import { PrefixCache, hashBlock } from './prefix-cache.js';
import { XdsError } from '../core/errors.js';

test('BlockPool hands out head blocks and counts references', () => {
  const pool = new BlockPool(4);
  assert.deepEqual(pool.freeOrder(), [0, 1, 2, 3]);
  const a = pool.allocate();
  const b = pool.allocate();
  assert.deepEqual([a, b], [0, 1]);
  assert.equal(pool.numFree, 2);
  pool.touch(a);
  assert.equal(pool.refCount(a), 2);
  pool.release(a, false);
  assert.equal(pool.refCount(a), 1);
  assert.equal(pool.numFree, 2);
  pool.checkInvariants();
  pool.release(a, false);
  pool.release(b, false);
  assert.equal(pool.numFree, 4);
  assert.equal(pool.totalRefs(), 0);
  pool.checkInvariants();
});

test('BlockPool eviction order: uncached frees go to the head, cached ones to the tail in LRU order', () => {
  const pool = new BlockPool(5);
  const ids = [0, 1, 2, 3, 4].map(() => pool.allocate());
  pool.release(ids[1]!, true); // cached, released first → evicted first among cached
  pool.release(ids[3]!, true);
  pool.release(ids[0]!, false); // uncached → head
  pool.release(ids[4]!, false);
  assert.deepEqual(pool.freeOrder(), [4, 0, 1, 3]);
  pool.touch(1); // prefix hit on a free cached block takes it out of the list
  assert.deepEqual(pool.freeOrder(), [4, 0, 3]);
  assert.equal(pool.refCount(1), 1);
  assert.equal(pool.allocate(), 4);
  assert.equal(pool.allocate(), 0);
  assert.equal(pool.allocate(), 3);
  pool.checkInvariants();
  assert.throws(() => pool.allocate(), /no free block/);
});

test('BlockPool rejects bad sizes with a clear error and double release with an assertion', () => {
  assert.throws(() => new BlockPool(0), (e: unknown) => e instanceof XdsError && e.param === 'numBlocks');
  const pool = new BlockPool(2);
  const b = pool.allocate();
  pool.release(b, false);
  assert.throws(() => pool.release(b, false), /refcount 0/);
  assert.throws(() => pool.touch(7), /out of/);
});

test('hashBlock chains on the parent and PrefixCache verifies tokens on lookup', () => {
  const h1 = hashBlock(null, [1, 2, 3, 4]);
  assert.equal(h1, hashBlock(null, Int32Array.of(1, 2, 3, 4)));
  assert.notEqual(h1, hashBlock(null, [1, 2, 4, 3]));
  const h2 = hashBlock(h1, [5, 6, 7, 8]);
  assert.notEqual(h2, hashBlock(null, [5, 6, 7, 8]));
  assert.ok(Number.isSafeInteger(h2) && h2 >= 0 && h2 < 2 ** 52);
  const cache = new PrefixCache();
  assert.equal(cache.insert(3, h1, null, [1, 2, 3, 4]), true);
  assert.equal(cache.insert(5, h1, null, [1, 2, 3, 4]), false);
  assert.equal(cache.lookup(h1, null, [1, 2, 3, 4]), 3);
  assert.equal(cache.lookup(h1, null, [9, 2, 3, 4]), undefined); // forced collision → miss
  assert.equal(cache.lookup(h1, h2, [1, 2, 3, 4]), undefined);
  cache.evict(3);
  assert.equal(cache.lookup(h1, null, [1, 2, 3, 4]), undefined);
  assert.equal(cache.numCachedBlocks, 0);
});

test('hashBlock spreads: no collisions over 50k distinct short blocks', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 50000; i++) seen.add(hashBlock(i % 7 === 0 ? null : i, [i & 255, i >> 8, 0, i % 13]));
  assert.equal(seen.size, 50000);
});
