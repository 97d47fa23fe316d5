/** GGUF writer ↔ reader round trip, byte layout checks, and Q8_0 error bounds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { f16ToF32, f32ToF16 } from '../../core/dtype.js';
import { isXdsError } from '../../core/errors.js';
import { kv, type GgufKv } from './format.js';
import { dequantizeQ8_0, quantizeQ8_0 } from './q8_0.js';
import { ggufValueOf, readGguf, readGgufTensor } from './reader.js';
import { writeGguf, type GgufTensorToWrite } from './writer.js';

function f32Tensor(name: string, dims: number[], data: Float32Array): GgufTensorToWrite {
  return { name, dims, type: 'f32', encode: () => new Uint8Array(data.buffer.slice(0)) };
}

function seq(n: number, f: (i: number) => number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => f(i));
}

test('GGUF round trip: header, keys of every type, tensor infos and data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gguf-rt-'));
  try {
    const a = seq(3 * 5, (i) => i * 0.5 - 3); // [5, 3] row-major → dims {3, 5}
    const b = seq(64, (i) => Math.sin(i)); // Q8_0 {64}
    const c = seq(7, (i) => i / 7); // F16 {7}
    const kvs: GgufKv[] = [
      kv.str('general.architecture', 'llama'), kv.u32('llama.block_count', 2), kv.f32('x.f', 0.25),
      kv.bool('x.b', true), kv.i32('x.i', -7), kv.strArray('x.sa', ['a', 'Ġb', '']), kv.i32Array('x.ia', [1, -2, 3]),
      kv.f32Array('x.fa', [1.5, -2]), { key: 'x.u64', value: { type: 'u64', value: 1n << 40n } },
      { key: 'x.f64', value: { type: 'f64', value: Math.PI } }, { key: 'x.u8', value: { type: 'u8', value: 200 } },
    ];
    const tensors: GgufTensorToWrite[] = [
      f32Tensor('a.weight', [3, 5], a),
      { name: 'b.weight', dims: [64], type: 'q8_0', encode: () => quantizeQ8_0(b) },
      { name: 'c.weight', dims: [7], type: 'f16', encode: () => new Uint8Array(Uint16Array.from(c, (x) => f32ToF16(x)).buffer) },
    ];
    const path = join(dir, 'x.gguf');
    const size = writeGguf(path, { kv: kvs, tensors });
    const bytes = readFileSync(path);
    assert.equal(bytes.length, size);
    assert.equal(bytes.toString('latin1', 0, 4), 'GGUF');
    assert.equal(bytes.readUInt32LE(4), 3);
    const file = readGguf(path);
    assert.equal(file.dataStart % 32, 0);
    assert.equal(file.kv.size, kvs.length);
    assert.equal(ggufValueOf(file, 'general.architecture'), 'llama');
    assert.deepEqual(file.kv.get('llama.block_count'), { type: 'u32', value: 2 });
    assert.equal(ggufValueOf(file, 'x.f'), 0.25);
    assert.equal(ggufValueOf(file, 'x.b'), true);
    assert.equal(ggufValueOf(file, 'x.i'), -7);
    assert.deepEqual(ggufValueOf(file, 'x.sa'), ['a', 'Ġb', '']);
    assert.deepEqual(file.kv.get('x.ia'), { type: 'array', itemType: 'i32', values: [1, -2, 3] });
    assert.deepEqual(ggufValueOf(file, 'x.fa'), [1.5, -2]);
    assert.equal(ggufValueOf(file, 'x.u64'), 1n << 40n);
    assert.equal(ggufValueOf(file, 'x.f64'), Math.PI);
    assert.equal(ggufValueOf(file, 'x.u8'), 200);
    assert.deepEqual(file.tensors.map((t) => [t.name, t.dims, t.type, t.offset]), [
      ['a.weight', [3, 5], 'f32', 0], ['b.weight', [64], 'q8_0', 64], ['c.weight', [7], 'f16', 64 + 96],
    ]);
    assert.deepEqual(readGgufTensor(file, 'a.weight'), a);
    assert.deepEqual(readGgufTensor(file, 'b.weight'), dequantizeQ8_0(quantizeQ8_0(b)));
    assert.deepEqual(readGgufTensor(file, 'c.weight'), Float32Array.from(c, (x) => f16ToF32(f32ToF16(x))));
    assert.equal(bytes.length, file.dataStart + 64 + 96 + 32);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('GGUF writer refuses what llama.cpp refuses', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gguf-bad-'));
  const path = join(dir, 'x.gguf');
  const t = f32Tensor('t', [2], seq(2, (i) => i));
  try {
    const bad: [string, Parameters<typeof writeGguf>[1]][] = [
      ['duplicate key', { kv: [kv.u32('k', 1), kv.u32('k', 2)], tensors: [] }],
      ['duplicate tensor', { kv: [], tensors: [t, t] }],
      ['long name', { kv: [], tensors: [{ ...t, name: 'x'.repeat(64) }] }],
      ['5 dims', { kv: [], tensors: [{ ...t, dims: [1, 1, 1, 1, 2] }] }],
      ['q8_0 ne0', { kv: [], tensors: [{ name: 'q', dims: [33], type: 'q8_0', encode: () => new Uint8Array(0) }] }],
      ['alignment', { kv: [kv.u32('general.alignment', 24)], tensors: [] }],
    ];
    for (const [what, file] of bad) {
      assert.throws(() => writeGguf(path, file), (e) => isXdsError(e), what);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Q8_0: layout, ties away from zero, and |x − deq(q(x))| ≤ d/2 per block', () => {
  const x = seq(32 * 40, (i) => Math.sin(i * 1.7) * (1 + (i >> 5)) + (i % 97 === 0 ? 50 : 0));
  const q = quantizeQ8_0(x);
  assert.equal(q.length, 40 * 34);
  const y = dequantizeQ8_0(q);
  let worst = 0;
  for (let b = 0; b < 40; b++) {
    const blk = x.subarray(b * 32, b * 32 + 32);
    const amax = Math.max(...Array.from(blk, Math.abs));
    const d = f16ToF32(f32ToF16(amax / 127));
    for (let j = 0; j < 32; j++) {
      const err = Math.abs(blk[j]! - y[b * 32 + j]!);
      // bound: half a step of the f32 scale plus the f16 rounding of the scale (≤ 2^-11 relative) × 127
      const bound = (amax / 127) * 0.5 + Math.abs(d - amax / 127) * 127 + 1e-6;
      assert.ok(err <= bound, `block ${b} elem ${j}: err ${err} > ${bound}`);
      worst = Math.max(worst, err / amax);
    }
  }
  console.log(`Q8_0 worst error relative to block max: ${worst.toExponential(2)}`);
  // Exact case: a block of integers with max 127 has scale 1 and quantizes exactly; 0.5 steps round away from zero.
  const ints = seq(32, (i) => (i === 0 ? 127 : i - 16));
  assert.deepEqual(dequantizeQ8_0(quantizeQ8_0(ints)), ints);
  const half = seq(32, (i) => (i === 0 ? 127 : i === 1 ? 2.5 : i === 2 ? -2.5 : 0));
  const qh = new Int8Array(quantizeQ8_0(half).buffer);
  assert.equal(qh[3], 3);
  assert.equal(qh[4], -3);
  assert.deepEqual(dequantizeQ8_0(quantizeQ8_0(new Float32Array(32))), new Float32Array(32));
});
