import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from './random.js';

test('same seed and stream ⇒ same numbers; other seed or stream ⇒ different', () => {
  const take = (r: Rng): number[] => Array.from({ length: 8 }, () => r.nextU32());
  const a = take(new Rng(1, 'x'));
  assert.deepEqual(take(new Rng(1, 'x')), a);
  assert.notDeepEqual(take(new Rng(2, 'x')), a);
  assert.notDeepEqual(take(new Rng(1, 'y')), a);
  assert.notDeepEqual(take(new Rng(2 ** 40 + 1, 'x')), a);
});

test('uniform and normal moments (n = 200k, tolerances 5 standard errors)', () => {
  const r = new Rng(7, 'moments');
  const n = 200_000;
  let su = 0, sn = 0, sn2 = 0, sn4 = 0;
  for (let i = 0; i < n; i++) {
    const u = r.uniform();
    assert.ok(u >= 0 && u < 1);
    su += u;
    const z = r.normal();
    sn += z; sn2 += z * z; sn4 += z ** 4;
  }
  assert.ok(Math.abs(su / n - 0.5) < 5 * Math.sqrt(1 / 12 / n));
  assert.ok(Math.abs(sn / n) < 5 / Math.sqrt(n));
  assert.ok(Math.abs(sn2 / n - 1) < 5 * Math.sqrt(2 / n));
  assert.ok(Math.abs(sn4 / n - 3) < 5 * Math.sqrt(96 / n));
});
