import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StopStringMatcher } from './stop-strings.js';
import { isXdsError } from '../../core/errors.js';

/** Feeds the chunks; returns what was emitted (flush included when no stop matched) and the match. */
function run(stops: string[], chunks: string[], includeInOutput = false): { text: string; matched: string | null } {
  const m = new StopStringMatcher(stops, { includeInOutput });
  let text = '';
  for (const c of chunks) {
    const r = m.push(c);
    text += r.text;
    if (r.matched !== null) return { text, matched: r.matched };
  }
  return { text: text + m.flush(), matched: null };
}

/** Naive reference: the first stop to complete reading the whole text left to right (the longer on a tie). */
function reference(stops: string[], whole: string): { text: string; matched: string | null } {
  for (let end = 1; end <= whole.length; end++) {
    const done = stops.filter((s) => whole.slice(0, end).endsWith(s)).sort((x, y) => y.length - x.length);
    if (done[0] !== undefined) return { text: whole.slice(0, end - done[0].length), matched: done[0] };
  }
  return { text: whole, matched: null };
}

test('a stop string spanning several deltas is caught and not emitted', () => {
  assert.deepEqual(run(['###'], ['Hello #', '#', '# world']), { text: 'Hello ', matched: '###' });
  assert.deepEqual(run(['END'], ['abc E', 'N', 'x END']), { text: 'abc ENx ', matched: 'END' });
});

test('held-back prefixes are released when they do not complete', () => {
  const m = new StopStringMatcher(['STOP']);
  assert.equal(m.push('go ST').text, 'go ');
  assert.equal(m.push('O').text, '');
  assert.equal(m.push('p').text, 'STOp');
  assert.equal(m.push('ST').text, '');
  assert.equal(m.flush(), 'ST');
});

test('the first stop to complete wins; includeInOutput keeps the stop text', () => {
  assert.deepEqual(run(['world', 'lo w'], ['hel', 'lo wor', 'ld']), { text: 'hel', matched: 'lo w' });
  assert.deepEqual(run(['abcd', 'bc'], ['abcd']), { text: 'a', matched: 'bc' });
  assert.deepEqual(run(['\n\n'], ['a\n', '\nb'], true), { text: 'a\n\n', matched: '\n\n' });
});

test('after a match nothing more comes out; no stops = pass-through', () => {
  const m = new StopStringMatcher(['x']);
  assert.equal(m.push('abxcd').matched, 'x');
  assert.deepEqual(m.push('more'), { text: '', matched: null });
  assert.equal(m.flush(), '');
  assert.equal(m.matched, 'x');
  assert.deepEqual(run([], ['a', 'b']), { text: 'ab', matched: null });
});

test('random splits of random texts agree with the naive whole-text cut', () => {
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
  const alphabet = 'ab c😀';
  for (let trial = 0; trial < 300; trial++) {
    const chars = Array.from({ length: 1 + rand(30) }, () => [...alphabet][rand(5)]!);
    const whole = chars.join('');
    const stops = Array.from({ length: 1 + rand(3) }, () => Array.from({ length: 1 + rand(3) }, () => [...alphabet][rand(5)]!).join(''));
    const chunks: string[] = [];
    for (let i = 0; i < chars.length;) {
      const n = 1 + rand(4);
      chunks.push(chars.slice(i, i + n).join(''));
      i += n;
    }
    assert.deepEqual(run(stops, chunks), reference(stops, whole), `stops ${JSON.stringify(stops)} chunks ${JSON.stringify(chunks)}`);
  }
});

test('bad stops give invalid_argument naming the entry', () => {
  assert.throws(() => new StopStringMatcher(['ok', '']), (e) => isXdsError(e, 'invalid_argument') && e.param === 'stop[1]');
  assert.throws(() => new StopStringMatcher([3 as unknown as string]), (e) => isXdsError(e, 'invalid_argument') && e.param === 'stop[0]');
});
