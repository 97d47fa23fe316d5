/** Tests for the safetensors reader/writer: round trips (single, sharded, all dtypes) and every corruption case. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isXdsError, type ErrorCode } from '../core/errors.js';
import { f32ToBf16, f32ToF16 } from '../core/dtype.js';
import type { Tensor } from './tensor.js';
import { INDEX_FILE, SINGLE_FILE, openSafetensorsWeights, readSafetensorsHeader, writeSafetensors, writeShardedSafetensors } from './safetensors.js';

const tmp = mkdtempSync(join(tmpdir(), 'xds-st-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
let dirCount = 0;
const newDir = (): string => join(tmp, `d${dirCount++}`);

function makeTensors(): Tensor[] {
  const vals = (n: number, k: number): number[] => Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + k) * (i + 1));
  return [
    { name: 'a.f32', dtype: 'f32', shape: [3, 5], data: Float32Array.from(vals(15, 1)) },
    { name: 'b.bf16', dtype: 'bf16', shape: [7], data: Uint16Array.from(vals(7, 2), f32ToBf16) },
    { name: 'c.f16', dtype: 'f16', shape: [1, 3, 1], data: Uint16Array.from(vals(3, 3), f32ToF16) },
    { name: 'd.scalar', dtype: 'f32', shape: [], data: Float32Array.of(42.5) },
    { name: 'e.empty', dtype: 'bf16', shape: [0, 4], data: new Uint16Array(0) },
    { name: 'model.layers.0.mlp.gate_proj.weight', dtype: 'f32', shape: [11, 13], data: Float32Array.from(vals(143, 4)) },
  ];
}

function assertSame(got: Tensor, want: Tensor): void {
  assert.equal(got.name, want.name);
  assert.equal(got.dtype, want.dtype);
  assert.deepEqual(got.shape, want.shape);
  assert.equal(got.data.constructor, want.data.constructor);
  assert.ok(got.data.buffer instanceof SharedArrayBuffer, `${got.name} should live in a SharedArrayBuffer`);
  assert.deepEqual([...got.data], [...want.data]);
}

test('single-file round trip keeps dtype, shape, bits, order and metadata', () => {
  const dir = newDir();
  const tensors = makeTensors();
  writeSafetensors(join(dir, SINGLE_FILE), tensors, { format: 'pt', note: 'hi' });
  const raw = readFileSync(join(dir, SINGLE_FILE));
  const n = Number(raw.readBigUInt64LE(0));
  assert.equal(n % 8, 0, 'header is padded to 8 bytes');
  assert.equal(raw.length, 8 + n + tensors.reduce((s, t) => s + t.data.byteLength, 0));
  const header = readSafetensorsHeader(join(dir, SINGLE_FILE));
  assert.deepEqual(header.metadata, { format: 'pt', note: 'hi' });
  assert.deepEqual([...header.entries.keys()], tensors.map((t) => t.name));
  const w = openSafetensorsWeights(dir);
  assert.deepEqual(w.names(), tensors.map((t) => t.name));
  for (const t of tensors) assertSame(w.get(t.name), t);
  assert.equal(w.get('a.f32'), w.get('a.f32'), 'second get returns the same tensor');
  assert.equal(w.get('a.f32').data, w.get('a.f32').data);
  assert.equal(w.has('b.bf16'), true);
  assert.equal(w.has('nope'), false);
});

test('sharded round trip writes an index with total_size and reads every tensor back', () => {
  const dir = newDir();
  const tensors = makeTensors();
  writeShardedSafetensors(dir, tensors, 64);
  const files = readdirSync(dir).sort();
  assert.ok(!files.includes(SINGLE_FILE));
  const shards = files.filter((f) => f.endsWith('.safetensors'));
  assert.ok(shards.length >= 3, `expected several shards, got ${files.join(', ')}`);
  assert.equal(shards[0], `model-00001-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  const index = JSON.parse(readFileSync(join(dir, INDEX_FILE), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
  assert.equal(index.metadata.total_size, tensors.reduce((s, t) => s + t.data.byteLength, 0));
  assert.deepEqual(Object.keys(index.weight_map).sort(), tensors.map((t) => t.name).sort());
  const w = openSafetensorsWeights(dir);
  for (const t of tensors) assertSame(w.get(t.name), t);
  assert.equal(w.info('model.layers.0.mlp.gate_proj.weight').file, join(dir, index.weight_map['model.layers.0.mlp.gate_proj.weight']!));
});

test('sharded writer falls back to one model.safetensors when everything fits', () => {
  const dir = newDir();
  writeShardedSafetensors(dir, makeTensors(), 1 << 20);
  assert.deepEqual(readdirSync(dir), [SINGLE_FILE]);
  assertSame(openSafetensorsWeights(dir).get('c.f16'), makeTensors()[2]!);
});

function expectCode(fn: () => unknown, code: ErrorCode, mention: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isXdsError(e, code), `expected XdsError ${code}, got ${String(e)}`);
    if (typeof mention === 'string') assert.ok(e.message.includes(mention), `'${e.message}' should mention '${mention}'`);
    else assert.match(e.message, mention);
    return true;
  });
}

/** Writes a file made of an 8-byte length, the given header text and `dataBytes` zero bytes. */
function writeRaw(dir: string, header: string, dataBytes: number, lengthOverride?: bigint): string {
  const json = Buffer.from(header, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  writeFileSync(join(dir, SINGLE_FILE), Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
  return dir;
}

function rawDir(): string {
  const dir = newDir();
  mkdirSync(dir);
  return dir;
}

test('missing directory, empty directory and missing shard give checkpoint_missing', () => {
  expectCode(() => openSafetensorsWeights(join(tmp, 'does-not-exist')), 'checkpoint_missing', 'does-not-exist');
  const empty = rawDir();
  expectCode(() => openSafetensorsWeights(empty), 'checkpoint_missing', SINGLE_FILE);
  const dir = newDir();
  writeShardedSafetensors(dir, makeTensors(), 64);
  rmSync(join(dir, readdirSync(dir).filter((f) => f.startsWith('model-00002'))[0]!));
  expectCode(() => openSafetensorsWeights(dir), 'checkpoint_missing', 'model-00002');
  const ok = newDir();
  writeSafetensors(join(ok, SINGLE_FILE), makeTensors());
  expectCode(() => openSafetensorsWeights(ok).get('no.such.tensor'), 'checkpoint_missing', 'no.such.tensor');
});

test('corrupt headers give checkpoint_corrupt naming the file and tensor', () => {
  const entry = (dtype: string, shape: number[], off: [number, number]): string => JSON.stringify({ w: { dtype, shape, data_offsets: off } });
  expectCode(() => openSafetensorsWeights(writeRaw(rawDir(), '{}', 0, 1000n)), 'checkpoint_corrupt', /header length 1000 exceeds/);
  expectCode(() => openSafetensorsWeights(writeRaw(rawDir(), '{"w": {', 0)), 'checkpoint_corrupt', /not valid JSON/);
  expectCode(() => openSafetensorsWeights(writeRaw(rawDir(), entry('F32', [2], [0, 8]), 4)), 'checkpoint_corrupt', /'w'.*past the end/);
  expectCode(() => openSafetensorsWeights(writeRaw(rawDir(), entry('F32', [3], [0, 8]), 8)), 'checkpoint_corrupt', /'w' spans 8 bytes but F32\[3\] needs 12/);
  expectCode(() => openSafetensorsWeights(writeRaw(rawDir(), entry('F32', [2], [8, 0]), 8)), 'checkpoint_corrupt', /'w' has bad data_offsets/);
  expectCode(() => openSafetensorsWeights(writeRaw(rawDir(), entry('F32', [-2], [0, 8]), 8)), 'checkpoint_corrupt', /'w' has a bad shape/);
  const short = rawDir();
  writeFileSync(join(short, SINGLE_FILE), Buffer.alloc(5));
  expectCode(() => openSafetensorsWeights(short), 'checkpoint_corrupt', SINGLE_FILE);
});

test('a truncated file gives checkpoint_corrupt', () => {
  const dir = newDir();
  writeSafetensors(join(dir, SINGLE_FILE), makeTensors());
  const full = readFileSync(join(dir, SINGLE_FILE));
  writeFileSync(join(dir, SINGLE_FILE), full.subarray(0, full.length - 10));
  expectCode(() => openSafetensorsWeights(dir), 'checkpoint_corrupt', /model\.layers\.0\.mlp\.gate_proj\.weight.*past the end/);
});

test('bad index.json and an index entry missing from its shard give checkpoint_corrupt', () => {
  const dir = newDir();
  writeShardedSafetensors(dir, makeTensors(), 64);
  const good = readFileSync(join(dir, INDEX_FILE), 'utf8');
  writeFileSync(join(dir, INDEX_FILE), '{ nope');
  expectCode(() => openSafetensorsWeights(dir), 'checkpoint_corrupt', INDEX_FILE);
  const idx = JSON.parse(good) as { weight_map: Record<string, string> };
  idx.weight_map['ghost.weight'] = idx.weight_map['a.f32']!;
  writeFileSync(join(dir, INDEX_FILE), JSON.stringify(idx));
  expectCode(() => openSafetensorsWeights(dir), 'checkpoint_corrupt', 'ghost.weight');
});

test('unsupported dtypes (I64, F8_E4M3) give unsupported_dtype naming tensor and dtype; raw bytes stay readable', () => {
  for (const [dtype, bytes] of [['I64', 8], ['F8_E4M3', 1]] as const) {
    const dir = writeRaw(rawDir(), JSON.stringify({ 'model.x.weight': { dtype, shape: [2, 2], data_offsets: [0, 4 * bytes] } }), 4 * bytes);
    const w = openSafetensorsWeights(dir);
    assert.equal(w.has('model.x.weight'), true);
    expectCode(() => w.get('model.x.weight'), 'unsupported_dtype', `'model.x.weight'`);
    expectCode(() => w.get('model.x.weight'), 'unsupported_dtype', dtype);
    assert.equal(w.getRaw('model.x.weight').bytes.length, 4 * bytes);
  }
});

test('writer rejects mismatched tensors with invalid_argument naming the tensor', () => {
  const path = join(newDir(), SINGLE_FILE);
  expectCode(() => writeSafetensors(path, [{ name: 'bad', dtype: 'f32', shape: [2, 2], data: new Float32Array(3) }]), 'invalid_argument', 'bad');
  expectCode(() => writeSafetensors(path, [{ name: 'mixed', dtype: 'bf16', shape: [2], data: new Float32Array(2) }]), 'invalid_argument', 'mixed');
  const t = makeTensors()[0]!;
  expectCode(() => writeSafetensors(path, [t, t]), 'invalid_argument', 'twice');
  assert.equal(existsSync(path), false);
});

test('opens a single .safetensors path, or any *.safetensors in a folder without model.safetensors; release re-reads', () => {
  const dir = newDir();
  const tensors = makeTensors();
  writeSafetensors(join(dir, 'b.safetensors'), tensors.slice(3));
  writeSafetensors(join(dir, 'a.safetensors'), tensors.slice(0, 3));
  const w = openSafetensorsWeights(dir);
  assert.deepEqual(w.names(), tensors.map((t) => t.name), 'files in name order');
  assert.equal(w.info('d.scalar').file, join(dir, 'b.safetensors'));
  const one = openSafetensorsWeights(join(dir, 'a.safetensors'));
  assert.deepEqual(one.names(), ['a.f32', 'b.bf16', 'c.f16']);
  const first = one.get('a.f32');
  one.release('a.f32');
  const again = one.get('a.f32');
  assert.notEqual(again.data, first.data);
  assert.deepEqual([...again.data], [...first.data]);
  writeSafetensors(join(dir, 'c.safetensors'), [tensors[0]!]);
  expectCode(() => openSafetensorsWeights(dir), 'checkpoint_corrupt', /'a\.f32' appears in both a\.safetensors and c\.safetensors/);
});

test('tensors are read into one shared arena by default, into buffers of their own with arena: false; the values are the same', () => {
  const dir = newDir();
  const tensors = makeTensors();
  writeSafetensors(join(dir, SINGLE_FILE), tensors);
  const shared = openSafetensorsWeights(dir);
  const own = openSafetensorsWeights(dir, { arena: false });
  const names = tensors.map((t) => t.name);
  for (const t of tensors) {
    assertSame(shared.get(t.name), t);
    assertSame(own.get(t.name), t);
    assert.equal(shared.get(t.name).data.byteOffset % 64, 0, `${t.name} starts on a cache line`);
  }
  assert.equal(new Set(names.map((n) => shared.get(n).data.buffer)).size, 1, 'one arena chunk holds these small tensors');
  assert.equal(new Set(names.map((n) => own.get(n).data.buffer)).size, names.length);
});
