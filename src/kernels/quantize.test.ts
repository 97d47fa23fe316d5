/**
 * quantizeLinearInt8: every dequantized weight is within half a step (scale/2) of the source,
 * values stay in [-127, 127], the group's largest |w| maps to ±127, bf16 sources and tails of
 * partial groups work, bad group sizes name the field; plus the size report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LinearWeight } from './backend.js';
import { quantizeLinearInt8, quantizationReport, formatQuantizationReport, linearWeightBytes } from './quantize.js';
import { weightRow } from './reference.js';
import { f32ToBf16 } from '../core/dtype.js';
import { isXdsError } from '../core/errors.js';
import { rng, sharedF32 } from './native-test-util.js';

function checkQuantized(src: LinearWeight, q: LinearWeight): void {
  assert.equal(q.format, 'int8');
  if (q.format !== 'int8') return;
  const groups = Math.ceil(q.inDim / q.groupSize);
  const a = new Float32Array(src.inDim), b = new Float32Array(src.inDim);
  for (let o = 0; o < src.outDim; o++) {
    weightRow(src, o, a);
    weightRow(q, o, b);
    for (let g = 0; g < groups; g++) {
      const scale: number = q.scales[o * groups + g]!;
      let peak = 0;
      for (let i = g * q.groupSize; i < Math.min(q.inDim, (g + 1) * q.groupSize); i++) {
        assert.ok(Math.abs(a[i]! - b[i]!) <= scale / 2 + 1e-7 * Math.abs(a[i]!), `row ${o} col ${i}`);
        peak = Math.max(peak, Math.abs(q.data[o * q.inDim + i]!));
      }
      assert.equal(peak, scale === 0 ? 0 : 127);
    }
  }
  for (const v of q.data) assert.ok(v >= -127 && v <= 127);
}

test('per-channel and per-32-block int8 are within half a quantization step', () => {
  const r = rng(5);
  const w: LinearWeight = { format: 'f32', outDim: 9, inDim: 77, data: sharedF32(9 * 77, r, 0.3), bias: sharedF32(9, r) };
  for (const gs of ['channel', 32, 64] as const) {
    const q = quantizeLinearInt8(w, gs);
    checkQuantized(w, q);
    assert.equal(q.bias, w.bias);
    assert.ok(q.data.buffer instanceof SharedArrayBuffer);
  }
});

test('bf16 sources and all-zero rows quantize', () => {
  const data = new Uint16Array(4 * 40);
  const r = rng(6);
  for (let i = 40; i < data.length; i++) data[i] = f32ToBf16(r() * 2);
  const w: LinearWeight = { format: 'bf16', outDim: 4, inDim: 40, data };
  const q = quantizeLinearInt8(w, 32);
  checkQuantized(w, q);
  assert.equal(q.format === 'int8' ? q.scales[0] : -1, 0);
});

test('a group size that is not a multiple of 32 names the field', () => {
  const w: LinearWeight = { format: 'f32', outDim: 1, inDim: 64, data: new Float32Array(64) };
  assert.throws(() => quantizeLinearInt8(w, 16), (e) => isXdsError(e, 'invalid_argument') && e.param === 'groupSize');
});

test('the size report counts data, scales and bias', () => {
  const w: LinearWeight = { format: 'f32', outDim: 64, inDim: 128, data: new Float32Array(64 * 128) };
  const q = quantizeLinearInt8(w, 32);
  assert.equal(linearWeightBytes(q), 64 * 128 + 64 * 4 * 4);
  const rep = quantizationReport([w, w], [q, q]);
  assert.deepEqual(rep, { kind: 'quantization_report', numWeights: 2, bytesBefore: 2 * 32768, bytesAfter: 2 * 9216 });
  assert.match(formatQuantizationReport(rep), /^int8: 2 linear weights, 0\.1 MiB → 0\.0 MiB \(3\.6× smaller\)$/);
});
