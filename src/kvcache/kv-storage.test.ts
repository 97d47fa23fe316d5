// KvStorage layout: GQA k/v and MLA latent addressing through block tables, MTP layers, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../config/model-config.js';
import { isXdsError } from '../core/errors.js';
import { TINY_CONFIGS } from '../units/testing/random-model.js';
import { KvStorage } from './kv-storage.js';

test('GQA: k and v [numBlocks, blockSize, Hkv, dh] in SharedArrayBuffers, written through the block table', () => {
  const spec = parseModelConfig(TINY_CONFIGS['llama']); // Hkv 2, dh 12
  const kv = new KvStorage(spec, { numBlocks: 5, blockSizeTokens: 4 });
  assert.equal(kv.numLayers, 2);
  assert.equal(kv.entryWidth, 24);
  const l = kv.layer(1);
  assert.ok(l.kind === 'gqa' && l.k.buffer instanceof SharedArrayBuffer && l.k.length === 5 * 4 * 24);
  const k = Float32Array.from({ length: 24 }, (_, i) => i + 1);
  const v = Float32Array.from({ length: 24 }, (_, i) => -(i + 1));
  kv.writeKv(1, Int32Array.from([3, 1]), 6, k, v); // logical block 1 → physical 1, offset 2
  const o = (1 * 4 + 2) * 24;
  assert.deepEqual(Array.from(l.k.subarray(o, o + 24)), Array.from(k));
  assert.deepEqual(Array.from(l.v.subarray(o, o + 24)), Array.from(v));
  assert.equal(l.k.reduce((a, x) => a + Math.abs(x), 0), 300, 'nothing else written');
  assert.equal(kv.bytesPerToken, 2 * 24 * 4 * 2);
  assert.equal(new KvStorage(spec, { numBlocks: 1 }).blockSizeTokens, 16);
});

test('MLA: latent [numBlocks, blockSize, R + dr]; MTP layer after the main layers; readLatents', () => {
  const spec = parseModelConfig(TINY_CONFIGS['deepseek_v3']); // R 20, dr 8, 3 layers + 1 MTP
  const kv = new KvStorage(spec, { numBlocks: 4, blockSizeTokens: 2 });
  assert.equal(kv.numLayers, 4);
  assert.equal(kv.entryWidth, 28);
  assert.equal(new KvStorage(spec, { numBlocks: 4, includeMtp: false }).numLayers, 3);
  const table = Int32Array.from([2, 0, 3]);
  for (let p = 0; p < 5; p++) kv.writeLatent(3, table, p, new Float32Array(28).fill(p + 1));
  const lat = kv.layer(3);
  assert.ok(lat.kind === 'mla');
  assert.equal(lat.latent[(3 * 2 + 0) * 28], 5); // position 4 → block 3 offset 0
  assert.equal(lat.latent[(0 * 2 + 1) * 28], 4); // position 3 → block 0 offset 1
  const out = new Float32Array(5 * 28);
  kv.readLatents(3, table, 5, out);
  assert.deepEqual(Array.from({ length: 5 }, (_, u) => out[u * 28]), [1, 2, 3, 4, 5]);
  const main = kv.layer(0);
  assert.ok(main.kind === 'mla' && main.latent.every((x) => x === 0), 'MTP layer is separate storage');
});

test('bad block tables and sizes are XdsErrors', () => {
  const spec = parseModelConfig(TINY_CONFIGS['llama']);
  const kv = new KvStorage(spec, { numBlocks: 2, blockSizeTokens: 4 });
  const e = new Float32Array(24);
  assert.throws(() => kv.writeKv(0, Int32Array.of(0), 4, e, e), (x: unknown) => isXdsError(x, 'invalid_argument') && x.param === 'blockTable');
  assert.throws(() => kv.writeKv(0, Int32Array.of(2), 0, e, e), (x: unknown) => isXdsError(x, 'invalid_argument'));
  assert.throws(() => new KvStorage(spec, { numBlocks: 0 }), (x: unknown) => isXdsError(x, 'invalid_argument') && x.param === 'numBlocks');
  assert.throws(() => kv.layer(2), RangeError);
});

test('adopting existing storage shares memory; mismatched storage is rejected', () => {
  const spec = parseModelConfig(TINY_CONFIGS['deepseek_v3']);
  const a = new KvStorage(spec, { numBlocks: 3, blockSizeTokens: 2 });
  const b = new KvStorage(spec, { numBlocks: 3, blockSizeTokens: 2 }, a.layerStorage);
  b.writeLatent(2, Int32Array.of(1), 1, new Float32Array(28).fill(7));
  const l = a.layer(2);
  assert.ok(l.kind === 'mla' && l.latent[(1 * 2 + 1) * 28] === 7);
  assert.throws(() => new KvStorage(spec, { numBlocks: 4, blockSizeTokens: 2 }, a.layerStorage), (x: unknown) => isXdsError(x, 'invalid_argument'));
  assert.throws(() => new KvStorage(spec, { numBlocks: 3, blockSizeTokens: 2, includeMtp: false }, a.layerStorage), (x: unknown) => isXdsError(x, 'invalid_argument'));
});
