// Router variants on hand-built logits with known answers (MODELS.md §3.1, §3.2, §4.5, §8.1 #5–#8).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouterSpec } from '../../config/model-spec.js';
import { routeToken, routeTokens } from './router.js';
import { normalSampler } from '../testing/random-model.js';

const base: RouterSpec = { scoring: 'softmax', method: 'topk', numGroups: 1, topkGroups: 1, normTopkProb: false, routedScalingFactor: 1, scalingRule: 'never', hasCorrectionBias: false, normEps: 0 };
const sig = (z: number): number => 1 / (1 + Math.exp(-z));

function route(logits: number[], k: number, spec: RouterSpec, bias: number[] | null = null): { experts: number[]; weights: number[] } {
  const r = routeTokens(Float32Array.from(logits), 1, logits.length, k, spec, bias ? Float32Array.from(bias) : null);
  const pairs = Array.from(r.experts, (e, i) => [e, r.weights[i]!] as const).sort((a, b) => a[0] - b[0]);
  return { experts: pairs.map((p) => p[0]), weights: pairs.map((p) => p[1]) };
}

function closeAll(got: number[], want: number[], tol = 1e-6): void {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) <= tol, `${g} vs ${want[i]}`));
}

test('Mixtral: top-k of the logits, softmax over the selected logits only', () => {
  const r = route([1, 3, 2, 0.5], 2, { ...base, normTopkProb: true });
  assert.deepEqual(r.experts, [1, 2]);
  closeAll(r.weights, [Math.E / (Math.E + 1), 1 / (Math.E + 1)]);
});

test('Qwen3-MoE without norm_topk_prob: raw softmax probabilities (sum < 1)', () => {
  const z = [1, 3, 2, 0.5];
  const Z = z.reduce((a, v) => a + Math.exp(v), 0);
  const r = route(z, 2, base);
  closeAll(r.weights, [Math.exp(3) / Z, Math.exp(2) / Z]);
});

test('V2 group_limited_greedy: group score = max; scaling only when not normalized', () => {
  // groups {0,1} {2,3} {4,5} {6,7}: maxima 5, 4, 4.5, 0 → keep groups 0 and 2 (a top-2-sum rule would keep group 1).
  const z = [5, 1, 4, 4, 4.5, -5, 0, 0];
  const Z = z.reduce((a, v) => a + Math.exp(v), 0);
  const spec: RouterSpec = { ...base, method: 'group_limited_greedy', numGroups: 4, topkGroups: 2, routedScalingFactor: 16, scalingRule: 'unless_normalized', normEps: 1e-20 };
  const r = route(z, 3, spec);
  assert.deepEqual(r.experts, [0, 1, 4]);
  closeAll(r.weights, [5, 1, 4.5].map((v) => 16 * Math.exp(v) / Z));
  const n = route(z, 3, { ...spec, normTopkProb: true });
  closeAll(n.weights, [5, 1, 4.5].map((v) => Math.exp(v) / (Math.exp(5) + Math.exp(1) + Math.exp(4.5))));
});

test('V3 noaux_tc: bias only selects, group top-2 sum, −∞ masking with negative biased scores', () => {
  const z = [3, -4, 0, 0, 1.5, 1.4, -1, -1];
  const bias = [-2.5, -2.5, -2.5, 1.0, -2.5, -2.5, -2.5, -2.5];
  // biased: g0 {−1.55, −2.48} sum −4.03; g1 {−2.0, 1.5} −0.5; g2 {−1.68, −1.70} −3.38; g3 −4.46 → keep g1, g2.
  // A max rule would keep g0; 0.0 masking would let a masked expert (0.0) beat −1.68.
  const spec: RouterSpec = { ...base, scoring: 'sigmoid', method: 'noaux_tc', numGroups: 4, topkGroups: 2, normTopkProb: true, routedScalingFactor: 2.5, scalingRule: 'always', hasCorrectionBias: true, normEps: 1e-20 };
  const r = route(z, 2, spec, bias);
  assert.deepEqual(r.experts, [3, 4]);
  const [s3, s4] = [sig(0), sig(1.5)];
  closeAll(r.weights, [2.5 * s3 / (s3 + s4), 2.5 * s4 / (s3 + s4)]);
  const raw = route(z, 2, { ...spec, normTopkProb: false }, bias);
  closeAll(raw.weights, [2.5 * s3, 2.5 * s4]);
  const noBias = route(z, 2, spec, [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(noBias.experts, [4, 5]); // groups g2 (1.62) and g1 (1.0) by unbiased top-2 sums
});

test('random logits: selections respect the kept groups; normalized weights sum to the scale', () => {
  const n = normalSampler(11);
  const E = 16;
  const spec: RouterSpec = { ...base, scoring: 'sigmoid', method: 'noaux_tc', numGroups: 4, topkGroups: 2, normTopkProb: true, routedScalingFactor: 2.5, scalingRule: 'always', hasCorrectionBias: true, normEps: 1e-20 };
  const T = 50;
  const logits = Float32Array.from({ length: T * E }, () => 2 * n());
  const bias = Float32Array.from({ length: E }, () => 0.3 * n());
  const r = routeTokens(logits, T, E, 4, spec, bias);
  for (let t = 0; t < T; t++) {
    const ex = Array.from(r.experts.subarray(t * 4, t * 4 + 4));
    assert.equal(new Set(ex).size, 4);
    assert.ok(new Set(ex.map((e) => Math.floor(e / 4))).size <= 2, 'at most topk_group groups');
    const sum = Array.from(r.weights.subarray(t * 4, t * 4 + 4)).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 2.5) < 1e-5);
    ex.forEach((e, j) => assert.ok(Math.abs(r.weights[t * 4 + j]! / 2.5 * ex.reduce((a, x) => a + sig(logits[t * E + x]!), 0) - sig(logits[t * E + e]!)) < 1e-5));
  }
});

test('batched routing (in-place top-k) == per-token routeToken (sort-based top-k), ties included', () => {
  const n = normalSampler(5);
  const E = 16;
  const k = 4;
  const T = 40;
  // Logits on a coarse grid so scores tie often; a tie must go to the lower expert index.
  const logits = Float32Array.from({ length: T * E }, () => Math.round(2 * n()) / 2);
  const bias = Float32Array.from({ length: E }, (_, e) => (e % 3) * 0.25);
  const specs: RouterSpec[] = [
    { ...base, normTopkProb: true },
    { ...base, method: 'group_limited_greedy', numGroups: 4, topkGroups: 2, routedScalingFactor: 16, scalingRule: 'always' },
    { ...base, scoring: 'sigmoid', method: 'noaux_tc', numGroups: 4, topkGroups: 2, normTopkProb: true, routedScalingFactor: 2.5, scalingRule: 'always', hasCorrectionBias: true, normEps: 1e-20 },
  ];
  for (const spec of specs) {
    const r = routeTokens(logits, T, E, k, spec, bias);
    for (let t = 0; t < T; t++) {
      const [sel, w] = routeToken(logits, t * E, E, k, spec, bias);
      assert.deepEqual(Array.from(r.experts.subarray(t * k, (t + 1) * k)), sel, `${spec.method} token ${t}`);
      assert.deepEqual(Array.from(r.weights.subarray(t * k, (t + 1) * k)), Array.from(Float32Array.from(w)));
    }
  }
});
