/** EP wire rows and the dispatch layout, against naive references. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isXdsError } from '../../core/errors.js';
import { decodeHidden, decodeRouting, dispatchRowBytes, encodeDispatchRow, quantizeRowInt8 } from './wire.js';
import { checkDispatchInputs, computeDispatchLayout } from './layout.js';

test('INT8 per-token quantization error is at most scale/2 (naive check over random rows)', () => {
  let seed = 1;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 6 - 3;
  for (let r = 0; r < 20; r++) {
    const x = Float32Array.from({ length: 97 }, rand);
    const q = new Int8Array(97);
    const scale = quantizeRowInt8(x, q);
    const amax = Math.max(...Array.from(x, Math.abs));
    assert.ok(Math.abs(scale - amax / 127) < 1e-6);
    let maxErr = 0;
    for (let i = 0; i < 97; i++) maxErr = Math.max(maxErr, Math.abs(q[i]! * scale - x[i]!));
    assert.ok(maxErr <= scale / 2 + 1e-6, `max error ${maxErr} > scale/2 ${scale / 2}`);
  }
});

test('a dispatch row round-trips hidden state and routing (f32 exact, int8 within bound)', () => {
  for (const isInt8 of [false, true]) {
    const f = { hidden: 10, topk: 3, isInt8 };
    const x = Float32Array.from({ length: 20 }, (_, i) => Math.sin(i) * 2);
    const idx = Int32Array.from([1, 5, -1, 7, 0, 2]);
    const w = Float32Array.from([0.5, 0.25, 0, 0.1, 0.2, 0.3]);
    const buf = new Uint8Array(2 * dispatchRowBytes(f));
    encodeDispatchRow(buf, dispatchRowBytes(f), f, x, idx, w, 1);
    const out = new Float32Array(10);
    decodeHidden(buf, dispatchRowBytes(f), f, out);
    const r = decodeRouting(buf, dispatchRowBytes(f), f);
    assert.deepEqual(Array.from(r.idx), [7, 0, 2]);
    assert.deepEqual(Array.from(r.weights), Array.from(w.subarray(3)));
    const tol = isInt8 ? 2 / 254 + 1e-6 : 0;
    for (let i = 0; i < 10; i++) assert.ok(Math.abs(out[i]! - x[10 + i]!) <= tol);
  }
});

test('layout sends a token once per rank that owns any of its experts, skipping -1', () => {
  const cfg = { hidden: 4, topk: 3, numExperts: 8 };
  const idx = Int32Array.from([0, 1, 6, /**/ 7, -1, 3, /**/ -1, -1, -1]);
  const l = computeDispatchLayout(cfg, idx, 3, 4);
  assert.deepEqual(l.destTokens.map((d) => Array.from(d)), [[0], [1], [], [0, 1]]);
});

test('bad dispatch inputs name the argument', () => {
  const cfg = { hidden: 4, topk: 2, numExperts: 8 };
  const x = new Float32Array(8);
  assert.throws(() => checkDispatchInputs(cfg, new Float32Array(7), new Int32Array(4), new Float32Array(4)), (e) => isXdsError(e, 'invalid_argument') && e.param === 'x');
  assert.throws(() => checkDispatchInputs(cfg, x, new Int32Array(3), new Float32Array(4)), (e) => isXdsError(e, 'invalid_argument') && e.param === 'topkIdx');
  assert.throws(() => checkDispatchInputs(cfg, x, Int32Array.from([0, 8, 1, 2]), new Float32Array(4)), (e) => isXdsError(e) && e.param === 'topkIdx' && /outside/.test(e.message));
});
