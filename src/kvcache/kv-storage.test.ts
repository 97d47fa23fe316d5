// KvStorage layout: GQA k/v and MLA latent addressing through block tables, MTP layers, bf16 storage, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../config/model-config.js';
import { bf16ToF32, f32ToBf16 } from '../core/dtype.js';
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
  assert.equal(Array.from(l.k).reduce((a, x) => a + Math.abs(x), 0), 300, 'nothing else written');
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

test("bf16 storage: half the bytes; writes round each value to nearest even, readLatents widens them", () => {
  const spec = parseModelConfig(TINY_CONFIGS['deepseek_v3']);
  const kv = new KvStorage(spec, { numBlocks: 4, blockSizeTokens: 2, dtype: 'bfloat16' });
  assert.equal(kv.bytesPerToken, new KvStorage(spec, { numBlocks: 4, blockSizeTokens: 2 }).bytesPerToken / 2);
  const lat = kv.layer(1);
  assert.ok(lat.kind === 'mla' && lat.latent instanceof Uint16Array && lat.latent.buffer instanceof SharedArrayBuffer);
  // ties to even, beyond bf16's range, subnormal, NaN, and ordinary values
  const special = [1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4e38, -1e-40, NaN, -0, Infinity, 0.1, -2.75];
  const entry = Float32Array.from({ length: 28 }, (_, i) => special[i] ?? Math.sin(i) * 100);
  const table = Int32Array.from([3, 1]);
  kv.writeLatent(1, table, 3, entry); // block 1, offset 1
  const o = (1 * 2 + 1) * 28;
  assert.deepEqual(Array.from(lat.latent.subarray(o, o + 28)), Array.from(entry, (x) => f32ToBf16(x)));
  assert.equal(lat.latent[o], 0x3f80, '1 + 2^-8 ties down to 1');
  assert.equal(lat.latent[o + 1], 0x3f82, '1 + 3·2^-8 ties up to even');
  const out = new Float32Array(4 * 28);
  kv.readLatents(1, table, 4, out);
  assert.deepEqual(Array.from(out.subarray(3 * 28)), Array.from(lat.latent.subarray(o, o + 28), (b) => bf16ToF32(b)));
  const g = new KvStorage(parseModelConfig(TINY_CONFIGS['llama']), { numBlocks: 2, blockSizeTokens: 4, dtype: 'bfloat16' });
  g.writeKv(0, Int32Array.of(1), 2, new Float32Array(24).fill(0.3), new Float32Array(24).fill(-7));
  const gl = g.layer(0);
  assert.ok(gl.kind === 'gqa' && gl.k[(4 + 2) * 24] === f32ToBf16(0.3) && gl.v[(4 + 2) * 24 + 23] === f32ToBf16(-7));
  assert.throws(() => new KvStorage(spec, { numBlocks: 4, blockSizeTokens: 2 }, kv.layerStorage), (x: unknown) => isXdsError(x, 'invalid_argument') && x.param === 'existing');
  assert.throws(() => new KvStorage(spec, { numBlocks: 4, dtype: 'fp8' as never }), (x: unknown) => isXdsError(x, 'invalid_argument') && x.param === 'dtype');
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
