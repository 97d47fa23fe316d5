/**
 * The reference moeExperts (the per-expert loop of moe-experts.ts over the reference kernels)
 * against a naive per-token definition in f64 (MODELS.md §1.2, §3): out[t] = Σ over t's entries of
 * weight · down(silu(gate·x) ⊙ up·x). Tolerance: max |Δ| ≤ 1e-5 · rms(out) (the loop rounds
 * intermediates to f32; measured ~1e-7).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExpertWeights, LinearWeight } from './backend.js';
import { referenceBackend, weightRow } from './reference.js';
import { moeExpertsLoop } from './moe-experts.js';
import { randomExperts, randomGroups, rms } from './moe-test-util.js';
import { rng, sharedF32 } from './native-test-util.js';

function naiveLinear(w: LinearWeight, x: ArrayLike<number>): Float64Array {
  const row = new Float32Array(w.inDim);
  const y = new Float64Array(w.outDim);
  for (let o = 0; o < w.outDim; o++) {
    weightRow(w, o, row);
    for (let i = 0; i < w.inDim; i++) y[o]! += row[i]! * x[i]!;
  }
  return y;
}

function naiveExpert(ex: ExpertWeights, x: ArrayLike<number>): Float64Array {
  const g = naiveLinear(ex.gate, x), u = naiveLinear(ex.up, x);
  const h = g.map((gi, i) => (gi / (1 + Math.exp(-gi))) * u[i]!);
  return naiveLinear(ex.down, h);
}

test('reference moeExperts equals the naive per-token sum over each token\'s experts', () => {
  const [E, D, I, k, T] = [7, 24, 10, 3, 9];
  for (const format of ['f32', 'bf16', 'int8'] as const) {
    const experts = randomExperts(E, D, I, format, 3);
    const g = randomGroups(T, E, k, new Set([2, 5]), 4);
    const x = sharedF32(T * D, rng(5));
    const out = new Float32Array(T * D).fill(NaN);
    referenceBackend.moeExperts!({ x, out, numTokens: T, ...g, experts });
    const want = new Float64Array(T * D);
    for (let e = 0; e < E; e++) {
      for (let j = g.offsets[e]!; j < g.offsets[e + 1]!; j++) {
        const t = g.rows[j]!;
        const y = naiveExpert(experts[e]!, x.subarray(t * D, (t + 1) * D));
        for (let d = 0; d < D; d++) want[t * D + d]! += g.weights[j]! * y[d]!;
      }
    }
    const tol = 1e-5 * rms(want);
    for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i]! - want[i]!) <= tol, `${format} [${i}]: ${out[i]} vs ${want[i]}`);
    assert.ok(rms(want) > 0);
  }
});

test('moeExpertsLoop writes zeros for tokens without entries and leaves rows past numTokens alone', () => {
  const experts = randomExperts(3, 8, 4, 'f32', 6);
  const offsets = Int32Array.of(0, 1, 1, 2), rows = Int32Array.of(0, 2), weights = Float32Array.of(0.5, 1);
  const x = sharedF32(4 * 8, rng(7));
  const out = new Float32Array(4 * 8).fill(7);
  moeExpertsLoop(referenceBackend, { x, out, numTokens: 3, offsets, rows, weights, experts });
  assert.ok(out.subarray(8, 16).every((v) => v === 0), 'token 1 has no entry');
  assert.ok(out.subarray(24).every((v) => v === 7), 'row 3 is past numTokens');
  assert.ok(out.subarray(0, 8).some((v) => v !== 0));
});
