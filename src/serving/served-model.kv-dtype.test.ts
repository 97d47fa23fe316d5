/**
 * The KV cache's element type through loadServedModel (serve --kv-cache-dtype): 'auto' follows the
 * checkpoint's torch_dtype as vLLM does (bfloat16 → bf16 cache, anything else → f32), an explicit
 * choice wins, and an unknown one is an XdsError naming the field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isXdsError } from '../core/errors.js';
import { tinyCheckpoint } from '../gateway/testing.js';
import { loadServedModel, resolveKvDtype } from './served-model.js';
import { tokensOfOneRequest } from './testing/one-request.js';

test("resolveKvDtype: auto follows torch_dtype; explicit choices win; others are refused by name", () => {
  assert.equal(resolveKvDtype('auto', 'bfloat16'), 'bfloat16');
  assert.equal(resolveKvDtype('auto', 'float32'), 'float32');
  assert.equal(resolveKvDtype('auto', 'float16'), 'float32');
  assert.equal(resolveKvDtype('auto', null), 'float32');
  assert.equal(resolveKvDtype('float32', 'bfloat16'), 'float32');
  assert.equal(resolveKvDtype('bfloat16', 'float32'), 'bfloat16');
  assert.throws(() => resolveKvDtype('fp8', 'bfloat16'), (e: unknown) => isXdsError(e, 'invalid_config') && e.param === 'kvCacheDtype');
});

test('loadServedModel builds the runner with the chosen KV cache', async () => {
  const { dir, remove } = await tinyCheckpoint('byte');
  try {
    const lines: string[] = [];
    const m = loadServedModel({ dir, backend: 'reference', numKvBlocks: 8, kvCacheDtype: 'bfloat16', onLog: (l) => lines.push(l) });
    assert.match(lines.join('\n'), /8 KV blocks × 16 \(bfloat16, /);
    assert.equal(await tokensOfOneRequest(m, [1, 2, 3], 3), 3);
  } finally {
    remove();
  }
});
