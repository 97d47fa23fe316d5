import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkStopToken } from './stop.js';

test('stop token ids and max tokens', () => {
  const c = { stopTokenIds: [7, 9], maxTokens: 3 };
  assert.equal(checkStopToken(7, 1, c), 'stop');
  assert.equal(checkStopToken(5, 1, c), null);
  assert.equal(checkStopToken(5, 3, c), 'length');
  assert.equal(checkStopToken(9, 3, c), 'stop');
});
