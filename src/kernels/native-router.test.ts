/**
 * Native MoE router (router.c, ComputeBackend.moeRoute) vs units/moe/router.ts routeTokens, which
 * defines it (MODELS.md §3.1, §3.2, §4.5): same experts in the same order; weights within one f32
 * ulp (both compute in f64 and round once; libm's exp and V8's Math.exp may differ in the last f64
 * bit). Covers the DeepSeek-V3 (noaux_tc, sigmoid, groups, bias), DeepSeek-V2 (group max,
 * softmax), Qwen3/Mixtral (plain top-k, normEps 0) and unnormalized rules, k = 1, ties, bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouterSpec } from '../config/model-spec.js';
import { isXdsError } from '../core/errors.js';
import { routeTokens } from '../units/moe/router.js';
import { requireNative, rng } from './native-test-util.js';

const nb = requireNative(1);

const V3: RouterSpec = { scoring: 'sigmoid', method: 'noaux_tc', numGroups: 8, topkGroups: 4, normTopkProb: true, routedScalingFactor: 2.5, scalingRule: 'always', hasCorrectionBias: true, normEps: 1e-20 };
const V2: RouterSpec = { scoring: 'softmax', method: 'group_limited_greedy', numGroups: 8, topkGroups: 3, normTopkProb: false, routedScalingFactor: 16, scalingRule: 'unless_normalized', hasCorrectionBias: false, normEps: 1e-20 };
const QWEN: RouterSpec = { scoring: 'softmax', method: 'topk', numGroups: 1, topkGroups: 1, normTopkProb: true, routedScalingFactor: 1, scalingRule: 'never', hasCorrectionBias: false, normEps: 0 };
const PLAIN: RouterSpec = { ...QWEN, normTopkProb: false };

function compare(spec: RouterSpec, logits: Float32Array, T: number, E: number, k: number, bias: Float32Array | null, what: string): void {
  const want = routeTokens(logits, T, E, k, spec, bias);
  const experts = new Int32Array(T * k).fill(-1), weights = new Float32Array(T * k);
  nb!.moeRoute!({ logits, numTokens: T, numExperts: E, k, spec, bias, experts, weights });
  assert.deepEqual(experts, want.experts, `${what}: experts`);
  for (let i = 0; i < T * k; i++) {
    const d = Math.abs(weights[i]! - want.weights[i]!);
    assert.ok(d <= Math.abs(want.weights[i]!) * 2 ** -23, `${what}: weight ${i} ${weights[i]} vs ${want.weights[i]}`);
  }
}

function randomLogits(n: number, seed: number, scale: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

test('native router matches router.ts on every rule, random logits', { skip: !nb }, () => {
  for (const [name, spec, E, k] of [['V3', V3, 64, 6], ['V3 k=1', V3, 64, 1], ['V2', V2, 32, 4], ['Qwen3', QWEN, 48, 8], ['plain', PLAIN, 8, 2], ['one expert', PLAIN, 1, 1]] as const) {
    for (const T of [1, 5, 33]) {
      const logits = randomLogits(T * E, T * 101 + E, 4);
      const bias = spec.method === 'noaux_tc' ? randomLogits(E, E, 0.1) : null;
      compare(spec, logits, T, E, k, bias, `${name} T=${T}`);
    }
  }
});

test('native router breaks ties as router.ts (the lower index wins), with and without groups', { skip: !nb }, () => {
  const T = 3, E = 64;
  const flat = new Float32Array(T * E).fill(0.25);
  const steps = Float32Array.from({ length: T * E }, (_, i) => Math.floor((i % E) / 3) % 4);
  for (const spec of [V3, V2, QWEN]) {
    compare(spec, flat, T, E, 6, spec.method === 'noaux_tc' ? new Float32Array(E) : null, `${spec.method} flat`);
    compare(spec, steps, T, E, 6, null, `${spec.method} steps`);
  }
});

test('native router rejects bad shapes with an error naming the field', { skip: !nb }, () => {
  const args = { logits: new Float32Array(64), numTokens: 1, numExperts: 64, k: 6, spec: V3, bias: null, experts: new Int32Array(6), weights: new Float32Array(6) };
  const bad: [string, object][] = [['logits', { logits: new Float32Array(63) }], ['k', { k: 65 }], ['experts', { experts: new Int32Array(5) }],
    ['spec.numGroups', { spec: { ...V3, numGroups: 7 } }], ['bias', { bias: new Float32Array(3) }]];
  for (const [param, change] of bad) {
    assert.throws(() => nb!.moeRoute!({ ...args, ...change }), (e: unknown) => isXdsError(e) && e.param === param, param);
  }
});
