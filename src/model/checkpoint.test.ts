/** Tests for openCheckpoint on a small real checkpoint directory written with our own writers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isXdsError, type ErrorCode } from '../core/errors.js';
import { f32ToBf16 } from '../core/dtype.js';
import { CONFIG_FILE, openCheckpoint } from './checkpoint.js';
import { writeByteLevelTokenizer } from './byte-tokenizer.js';
import { writeShardedSafetensors } from './safetensors.js';
import { GENERATION_CONFIG_FILE } from './generation-config.js';
import type { Tensor } from './tensor.js';

const tmp = mkdtempSync(join(tmpdir(), 'xds-ckpt-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const tensors: Tensor[] = [
  { name: 'model.embed_tokens.weight', dtype: 'bf16', shape: [4, 3], data: Uint16Array.from({ length: 12 }, (_, i) => f32ToBf16(i / 7)) },
  { name: 'model.norm.weight', dtype: 'f32', shape: [3], data: Float32Array.of(1, 1.5, 0.5) },
];

function makeCheckpoint(name: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, CONFIG_FILE), JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 3, vocab_size: 4 }));
  writeShardedSafetensors(dir, tensors, 16);
  writeByteLevelTokenizer(dir);
  writeFileSync(join(dir, GENERATION_CONFIG_FILE), JSON.stringify({ eos_token_id: [3, 1], temperature: 0.7 }));
  return dir;
}

test('opens config, sharded weights, generation config, and lazily the tokenizer and chat template', () => {
  const ckpt = openCheckpoint(makeCheckpoint('ok'));
  assert.equal(ckpt.configJson.model_type, 'llama');
  assert.ok(Object.isFrozen(ckpt.configJson));
  assert.deepEqual(ckpt.weights.names().sort(), tensors.map((t) => t.name).sort());
  assert.deepEqual([...ckpt.weights.get('model.norm.weight').data], [1, 1.5, 0.5]);
  assert.deepEqual([...ckpt.weights.get('model.embed_tokens.weight').data], [...tensors[0]!.data]);
  assert.deepEqual(ckpt.generationConfig, { eosTokenIds: [3, 1], temperature: 0.7 });
  const tok = ckpt.tokenizer();
  assert.equal(ckpt.tokenizer(), tok, 'tokenizer is loaded once');
  assert.equal(tok.decode(tok.encode('hello')), 'hello');
  const chat = ckpt.chatTemplate();
  assert.ok(chat !== null && ckpt.chatTemplate() === chat);
  assert.equal(chat.render({ messages: [{ role: 'user', content: 'hi' }], addGenerationPrompt: true }), '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
});

function expectError(dir: string, code: ErrorCode, mention: string): void {
  assert.throws(() => openCheckpoint(dir), (e: unknown) => {
    assert.ok(isXdsError(e, code), `expected ${code}, got ${String(e)}`);
    assert.ok(e.message.includes(mention), `'${e.message}' should mention ${mention}`);
    return true;
  });
}

test('missing dir, missing or invalid config.json, and missing weights give clear errors', () => {
  expectError(join(tmp, 'nowhere'), 'checkpoint_missing', 'nowhere');
  const noConfig = makeCheckpoint('no-config');
  rmSync(join(noConfig, CONFIG_FILE));
  expectError(noConfig, 'checkpoint_missing', CONFIG_FILE);
  const badConfig = makeCheckpoint('bad-config');
  writeFileSync(join(badConfig, CONFIG_FILE), '{"architectures": [');
  expectError(badConfig, 'checkpoint_corrupt', CONFIG_FILE);
  writeFileSync(join(badConfig, CONFIG_FILE), '"just a string"');
  expectError(badConfig, 'checkpoint_corrupt', CONFIG_FILE);
  const noWeights = join(tmp, 'no-weights');
  mkdirSync(noWeights);
  writeFileSync(join(noWeights, CONFIG_FILE), '{}');
  expectError(noWeights, 'checkpoint_missing', 'safetensors');
});

test('a checkpoint without tokenizer.json fails only when the tokenizer is asked for', () => {
  const dir = makeCheckpoint('no-tokenizer');
  rmSync(join(dir, 'tokenizer.json'));
  const ckpt = openCheckpoint(dir);
  assert.ok(ckpt.chatTemplate() !== null);
  assert.throws(() => ckpt.tokenizer(), (e: unknown) => isXdsError(e, 'checkpoint_missing') && e.message.includes('tokenizer.json'));
});
