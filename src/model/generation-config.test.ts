/** Tests for generation_config.json loading and the shared JSON-file reader. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isXdsError } from '../core/errors.js';
import { GENERATION_CONFIG_FILE, loadGenerationConfig, readJsonObject } from './generation-config.js';

const tmp = mkdtempSync(join(tmpdir(), 'xds-gen-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function dirWith(name: string, text: string): string {
  const dir = mkdtempSync(join(tmp, 'd'));
  writeFileSync(join(dir, name), text);
  return dir;
}

test('missing generation_config.json gives defaults', () => {
  assert.deepEqual(loadGenerationConfig(tmp), { eosTokenIds: [] });
});

test('HF keys map to camelCase; eos_token_id as a number or a list', () => {
  const dir = dirWith(GENERATION_CONFIG_FILE, JSON.stringify({
    bos_token_id: 0, eos_token_id: 1, do_sample: true, temperature: 0.6, top_p: 0.95, top_k: 20,
    max_new_tokens: 128, repetition_penalty: 1.1, pad_token_id: null, transformers_version: '4.46.3',
  }));
  assert.deepEqual(loadGenerationConfig(dir), {
    bosTokenId: 0, eosTokenIds: [1], doSample: true, temperature: 0.6, topP: 0.95, topK: 20, maxNewTokens: 128, repetitionPenalty: 1.1,
  });
  const list = dirWith(GENERATION_CONFIG_FILE, JSON.stringify({ eos_token_id: [151645, 151643] }));
  assert.deepEqual(loadGenerationConfig(list).eosTokenIds, [151645, 151643]);
});

test('wrong types give checkpoint_corrupt naming the key; bad JSON names the file', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ temperature: 'hot' }, 'temperature'], [{ top_k: 2.5 }, 'top_k'], [{ eos_token_id: ['x'] }, 'eos_token_id'], [{ do_sample: 1 }, 'do_sample'],
  ];
  for (const [json, key] of cases) {
    const dir = dirWith(GENERATION_CONFIG_FILE, JSON.stringify(json));
    assert.throws(() => loadGenerationConfig(dir), (e: unknown) => isXdsError(e, 'checkpoint_corrupt') && e.param === key && e.message.includes(key));
  }
  const bad = dirWith(GENERATION_CONFIG_FILE, '{ "eos_token_id": ');
  assert.throws(() => loadGenerationConfig(bad), (e: unknown) => isXdsError(e, 'checkpoint_corrupt') && e.message.includes(GENERATION_CONFIG_FILE));
});

test('readJsonObject: missing → checkpoint_missing (or undefined when optional), non-object → checkpoint_corrupt', () => {
  assert.throws(() => readJsonObject(join(tmp, 'nope.json')), (e: unknown) => isXdsError(e, 'checkpoint_missing') && e.message.includes('nope.json'));
  assert.equal(readJsonObject(join(tmp, 'nope.json'), { optional: true }), undefined);
  const arr = dirWith('a.json', '[1, 2]');
  assert.throws(() => readJsonObject(join(arr, 'a.json')), (e: unknown) => isXdsError(e, 'checkpoint_corrupt') && e.message.includes('a.json'));
  assert.deepEqual(readJsonObject(join(dirWith('b.json', '{"x": 1}'), 'b.json')), { x: 1 });
});
