import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkStopToken, StopStringMatcher } from './stop.js';

test('stop token ids and max tokens', () => {
  const c = { stopTokenIds: [7, 9], maxTokens: 3 };
  assert.equal(checkStopToken(7, 1, c), 'stop');
  assert.equal(checkStopToken(5, 1, c), null);
  assert.equal(checkStopToken(5, 3, c), 'length');
  assert.equal(checkStopToken(9, 3, c), 'stop');
});

test('a stop string split across chunks is never emitted', () => {
  const m = new StopStringMatcher(['END', 'xyz']);
  const out: string[] = [];
  for (const chunk of ['hello E', 'N', 'Dworld']) {
    const r = m.push(chunk);
    out.push(r.text);
    if (r.matched) assert.equal(r.matched, 'END');
  }
  assert.equal(out.join(''), 'hello ');
  assert.ok(m.isStopped);
  assert.deepEqual(m.push('more'), { text: '', matched: null });
});

test('held-back text is released when it stops matching, and on flush', () => {
  const m = new StopStringMatcher(['abc']);
  assert.equal(m.push('xa').text, 'x');
  assert.equal(m.push('b').text, '');
  assert.equal(m.push('d').text, 'abd');
  assert.equal(m.push('ab').text, '');
  assert.equal(m.flush(), 'ab');
});

test('the earliest of several stop strings wins', () => {
  const m = new StopStringMatcher(['world', 'lo w']);
  const r = m.push('hello world');
  assert.deepEqual(r, { text: 'hel', matched: 'lo w' });
  assert.equal(new StopStringMatcher([]).push('abc').text, 'abc');
});
