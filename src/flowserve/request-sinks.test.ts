import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EngineEvent } from './engine-types.js';
import { RequestSinks } from './request-sinks.js';

const finished = (id: string): EngineEvent => ({ kind: 'finished', requestId: id, reason: 'stop', usage: { promptTokens: 1, completionTokens: 1, cachedTokens: 0 } });

test('RequestSinks: delivers to the right sink, reports a throwing one, forgets, and reports fired signals until forgotten', () => {
  const signalled: string[] = [];
  const sinks = new RequestSinks((id) => signalled.push(id));
  const got: string[] = [];
  const a = new AbortController(), b = new AbortController();
  sinks.add('a', (e) => got.push(`a:${e.kind}`), a.signal);
  sinks.add('b', () => { throw new Error('socket closed'); }, b.signal);
  sinks.add('c', (e) => got.push(`c:${e.kind}`), undefined);
  assert.deepEqual(sinks.ids(), ['a', 'b', 'c']);
  assert.equal(sinks.deliver('a', finished('a')), true);
  assert.equal(sinks.deliver('b', finished('b')), false);
  assert.equal(sinks.deliver('gone', finished('gone')), true, 'no sink: nothing to deliver, nothing failed');
  assert.deepEqual(got, ['a:finished']);
  a.abort();
  assert.deepEqual(signalled, ['a']);
  sinks.forget('b');
  b.abort();
  assert.deepEqual(signalled, ['a'], 'a forgotten request is no longer watched');
  assert.deepEqual(sinks.ids(), ['a', 'c']);
  sinks.forget('a');
  sinks.forget('c');
  assert.deepEqual(sinks.ids(), []);
});
