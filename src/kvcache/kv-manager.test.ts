import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvManager } from './kv-manager.js';

const range = (start: number, n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => start + i);

function assertIdle(kv: KvManager): void {
  kv.checkInvariants();
  assert.equal(kv.numSeqs, 0);
  assert.equal(kv.numFreeBlocks, kv.numBlocks);
  assert.equal(kv.usage, 0);
}

function admit(kv: KvManager, id: string, tokens: Int32Array): number {
  const prefix = kv.findCachedPrefix(tokens);
  assert.ok(kv.allocateSlots(id, tokens.length, { prefix, numQueriedTokens: tokens.length }));
  kv.cacheComputed(id, tokens, tokens.length);
  return prefix.numTokens;
}

test('allocateSlots grows the block table one block per blockSizeTokens and fails without side effects', () => {
  const kv = new KvManager({ numBlocks: 4, blockSizeTokens: 4 });
  const none = { prefix: kv.findCachedPrefix([]), numQueriedTokens: 0 };
  assert.ok(kv.allocateSlots('a', 5, none));
  assert.equal(kv.blockTable('a').length, 2);
  assert.ok(kv.allocateSlots('a', 8));
  assert.equal(kv.blockTable('a').length, 2);
  assert.ok(kv.allocateSlots('a', 9));
  assert.equal(kv.usage, 3 / 4);
  assert.equal(kv.allocateSlots('a', 17), false);
  assert.equal(kv.blockTable('a').length, 3);
  kv.checkInvariants();
  kv.free('a');
  assertIdle(kv);
});

test('a shared prefix hits cached full blocks, bumps refcounts, and always leaves the last token', () => {
  const kv = new KvManager({ numBlocks: 8, blockSizeTokens: 4 });
  const a = range(100, 10); // 2 full blocks + 2 tokens
  assert.equal(admit(kv, 'a', a), 0);
  const b = Int32Array.from([...a.subarray(0, 8), 7, 7, 7]);
  assert.equal(admit(kv, 'b', b), 8);
  const ta = kv.blockTable('a');
  const tb = kv.blockTable('b');
  assert.deepEqual([...tb.subarray(0, 2)], [...ta.subarray(0, 2)]);
  assert.notEqual(tb[2], ta[2]);
  assert.equal(kv.refCount(ta[0]!), 2);
  // exactly 8 tokens: only 1 block may hit, so the 8th token is recomputed and gives logits
  assert.equal(kv.findCachedPrefix(a.subarray(0, 8)).numTokens, 4);
  assert.equal(kv.findCachedPrefix(a.subarray(0, 9)).numTokens, 8);
  const s = kv.stats();
  assert.equal(s.numQueriedTokens, 21);
  assert.equal(s.numHitTokens, 8);
  assert.ok(Math.abs(s.prefixHitRate - 8 / 21) < 1e-12);
  kv.free('a');
  kv.free('b');
  assertIdle(kv);
  assert.equal(kv.stats().numCachedBlocks, 2); // cached but evictable
});

test('freed cached blocks survive until the free list reaches them, then are evicted (LRU)', () => {
  const kv = new KvManager({ numBlocks: 4, blockSizeTokens: 2 });
  admit(kv, 'a', range(0, 5)); // 3 blocks, 2 full and cached
  kv.free('a');
  assert.equal(kv.findCachedPrefix(range(0, 5)).numTokens, 4);
  // 2 new blocks: the uncached block and the never-used one go first, cached ones stay
  admit(kv, 'x', range(50, 3));
  assert.equal(kv.findCachedPrefix(range(0, 5)).numTokens, 4);
  kv.free('x');
  // 4 blocks: everything is taken, so the cached prefix is evicted
  admit(kv, 'y', range(90, 8));
  kv.free('y');
  assert.equal(kv.findCachedPrefix(range(0, 5)).numTokens, 0);
  assertIdle(kv);
});

test('admission counts free cached prefix blocks when checking room', () => {
  const kv = new KvManager({ numBlocks: 3, blockSizeTokens: 2 });
  admit(kv, 'a', range(0, 5)); // blocks: 2 cached full + 1
  kv.free('a');
  const tokens = Int32Array.from([0, 1, 2, 3, 9, 9, 9]); // needs 4 blocks: 2 hit + 2 new > 3
  const prefix = kv.findCachedPrefix(tokens);
  assert.equal(prefix.numTokens, 4);
  assert.equal(kv.allocateSlots('b', tokens.length, { prefix, numQueriedTokens: tokens.length }), false);
  assert.equal(kv.has('b'), false);
  assert.ok(kv.allocateSlots('b', 6, { prefix, numQueriedTokens: tokens.length }));
  kv.free('b');
  assertIdle(kv);
});

test('prefix cache disabled: no hits, no cached blocks', () => {
  const kv = new KvManager({ numBlocks: 8, blockSizeTokens: 4, enablePrefixCache: false });
  admit(kv, 'a', range(0, 9));
  assert.equal(admit(kv, 'b', range(0, 9)), 0);
  assert.equal(kv.stats().numCachedBlocks, 0);
  kv.free('a');
  kv.free('b');
  assertIdle(kv);
});

test('bad config names the field', () => {
  assert.throws(() => new KvManager({ numBlocks: 4, blockSizeTokens: 0 }), /blockSizeTokens/);
  assert.throws(() => new KvManager({ numBlocks: -1, blockSizeTokens: 4 }), /numBlocks/);
});
