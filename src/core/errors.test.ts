import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XdsError, ERROR_CATALOG } from './errors.js';
import { bf16ToF32, f32ToBf16, f16ToF32, f32ToF16 } from './dtype.js';

test('XdsError renders an OpenAI-style body with its catalog status', () => {
  const e = new XdsError('context_length_exceeded', 'prompt too long', { param: 'messages' });
  assert.equal(e.httpStatus, 400);
  assert.deepEqual(e.toJSON(), { error: { message: 'prompt too long', type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } });
  assert.equal(new XdsError('overloaded', 'busy').httpStatus, ERROR_CATALOG.overloaded.status);
});

test('bf16 and f16 conversions round-trip representable values and round to nearest', () => {
  for (const x of [0, 1, -2.5, 3.140625, 65504, 1e-3, -1e-7]) {
    assert.equal(bf16ToF32(f32ToBf16(bf16ToF32(f32ToBf16(x)))), bf16ToF32(f32ToBf16(x)));
    assert.ok(Math.abs(bf16ToF32(f32ToBf16(x)) - x) <= Math.abs(x) * 2 ** -8);
    if (Math.abs(x) >= 6.1e-5) assert.ok(Math.abs(f16ToF32(f32ToF16(x)) - x) <= Math.abs(x) * 2 ** -11);
  }
  assert.equal(f16ToF32(f32ToF16(65504)), 65504);
  assert.equal(f16ToF32(0x3c00), 1);
  assert.equal(f32ToBf16(1), 0x3f80);
});
