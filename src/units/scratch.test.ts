// Scratch arena (issue 4): a slot is reused while it fits, grows on demand, and slots never share memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scratch } from './scratch.js';

test('a slot returns views of one buffer while the request fits; it grows when it does not', () => {
  const s = new Scratch();
  const a = s.f32('x', 10);
  assert.equal(a.length, 10);
  a.fill(7);
  const b = s.f32('x', 4);
  assert.equal(b.length, 4);
  assert.equal(b.buffer, a.buffer, 'same buffer reused');
  assert.equal(b[0], 7, 'contents are not cleared');
  assert.equal(s.growths, 1);
  const c = s.f32('x', 11);
  assert.equal(c.length, 11);
  assert.notEqual(c.buffer, a.buffer);
  assert.equal(s.growths, 2);
  assert.ok(s.f32('x', 15).buffer === c.buffer, 'grown by at least 1.5×');
});

test('a request of the same length as the last one gets the same view (no new view per call)', () => {
  const s = new Scratch();
  s.i32('y', 30);
  const a = s.i32('y', 12);
  assert.equal(s.i32('y', 12), a);
  const b = s.i32('y', 5);
  assert.equal(b.length, 5);
  assert.equal(b.buffer, a.buffer);
  const c = s.i32('y', 12);
  assert.equal(c.length, 12);
  assert.equal(c.buffer, a.buffer);
  assert.equal(s.f32('z', 9), s.f32('z', 9));
});

test('distinct slots (and f32 vs i32) never alias', () => {
  const s = new Scratch();
  const a = s.f32('a', 8);
  const b = s.f32('b', 8);
  const i = s.i32('a', 8);
  a.fill(1);
  b.fill(2);
  i.fill(3);
  assert.deepEqual([a[0], b[0], i[0]], [1, 2, 3]);
  assert.equal(s.bytes, 3 * 8 * 4);
});

test('requests above maxSlotElements get a fresh array that is not retained', () => {
  const s = new Scratch(100);
  const small = s.f32('x', 80);
  const big = s.f32('x', 101);
  assert.equal(big.length, 101);
  assert.notEqual(big.buffer, small.buffer);
  assert.equal(s.bytes, 80 * 4, 'the big one is not kept');
  assert.notEqual(s.f32('x', 101).buffer, big.buffer);
  assert.equal(s.f32('x', 90).length, 90);
  assert.equal(s.bytes, 100 * 4, 'growth 80 → 1.5× capped at 100 elements');
});
