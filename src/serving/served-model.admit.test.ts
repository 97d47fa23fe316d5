/**
 * The serving loop's admission window option through loadServedModel (serve --admit-window-us):
 * a bad value is a clear XdsError naming the field; 0 (off) still serves requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isXdsError } from '../core/errors.js';
import { tinyCheckpoint } from '../gateway/testing.js';
import { loadServedModel } from './served-model.js';
import { tokensOfOneRequest } from './testing/one-request.js';

test('admitQuietUs: negative is refused by name; 0 turns the window off and still serves', async () => {
  const { dir, remove } = await tinyCheckpoint('byte');
  try {
    assert.throws(() => loadServedModel({ dir, backend: 'reference', numKvBlocks: 16, admitQuietUs: -1 }),
      (e: unknown) => isXdsError(e, 'invalid_config') && e.param === 'admitQuietUs');
    const m = loadServedModel({ dir, backend: 'reference', numKvBlocks: 16, admitQuietUs: 0 });
    assert.equal(await tokensOfOneRequest(m, [1, 2, 3], 2), 2);
  } finally {
    remove();
  }
});
