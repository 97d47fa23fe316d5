/** Hand-computed checks of the reference's elementary ops, attention core and routers (MODELS.md §1, §3, §4.5). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causalAttention } from './attention.js';
import { linear, rmsNorm, siluGlu, softmax } from './math.js';
import { routeDeepseek, routeSoftmaxTopk } from './moe.js';
import { decodeBf16Bits, decodeF16Bits } from './tensors.js';
import type { RouterSpec } from '../../config/model-spec.js';

const close = (a: number, b: number, tol: number, what: string): void =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);
const sig = (z: number): number => 1 / (1 + Math.exp(-z));

test('bf16 and f16 bit decoding', () => {
  assert.equal(decodeBf16Bits(0x3f80), 1);
  assert.equal(decodeBf16Bits(0xc000), -2);
  assert.equal(decodeBf16Bits(0x3fc0), 1.5);
  assert.equal(decodeBf16Bits(0x7f80), Infinity);
  assert.ok(Number.isNaN(decodeBf16Bits(0x7fc0)));
  assert.equal(decodeBf16Bits(0x0001), 2 ** -133, 'subnormal');
  assert.equal(decodeF16Bits(0x3c00), 1);
  assert.equal(decodeF16Bits(0xc100), -2.5);
  assert.equal(decodeF16Bits(0x0001), 2 ** -24);
  assert.equal(decodeF16Bits(0x7bff), 65504);
  assert.equal(decodeF16Bits(0xfc00), -Infinity);
});

test('linear uses W as [out, in] and adds the bias; rmsNorm by hand', () => {
  const y = linear(Float64Array.from([1, 2]), Float64Array.from([1, 0, 0, 1, 3, 4]), 3, 2, Float64Array.from([0, 10, 0]));
  assert.deepEqual([...y], [1, 12, 11]);
  const n = rmsNorm(Float64Array.from([3, 4]), Float64Array.from([1, 2]), 2, 0);
  const r = Math.sqrt((9 + 16) / 2);
  close(n[0]!, 3 / r, 1e-15, 'norm[0]');
  close(n[1]!, (2 * 4) / r, 1e-15, 'norm[1]');
});

test('softmax gives −∞ entries probability 0 and sums to 1', () => {
  const p = softmax([1000, -Infinity, 1000 + Math.log(3)]);
  assert.deepEqual([p[0]!.toFixed(12), p[1], p[2]!.toFixed(12)], [(0.25).toFixed(12), 0, (0.75).toFixed(12)]);
});

test('SiLU-GLU by hand: D 1, width 1', () => {
  const y = siluGlu(Float64Array.from([2]), { gate: Float64Array.from([1]), up: Float64Array.from([3]), down: Float64Array.from([0.5]), width: 1 }, 1);
  close(y[0]!, (2 * sig(2)) * 6 * 0.5, 1e-15, 'glu');
});

test('causal attention by hand: 2 tokens, one head, dh 2', () => {
  const q = Float64Array.from([1, 0, 0, 1]);
  const k = Float64Array.from([1, 0, 1, 1]);
  const v = Float64Array.from([1, 2, 3, 4]);
  const o = new Float64Array(4);
  const view = (data: Float64Array) => ({ data, stride: 2, offset: 0 });
  causalAttention(view(q), view(k), view(v), 2, 2, [0, 1], 1, null, view(o));
  assert.deepEqual([o[0], o[1]], [1, 2], 'token 0 sees only itself');
  const p1 = Math.E / (1 + Math.E); // scores [0, 1]
  close(o[2]!, (1 - p1) * 1 + p1 * 3, 1e-15, 'o1[0]');
  close(o[3]!, (1 - p1) * 2 + p1 * 4, 1e-15, 'o1[1]');
  causalAttention(view(q), view(k), view(v), 2, 2, [0, 1], 1, 1, view(o));
  assert.deepEqual([o[2], o[3]], [3, 4], 'sliding window 1: token 1 sees only itself');
});

test('Mixtral / Qwen3-MoE routing: softmax over the selected logits, or raw probabilities', () => {
  const z = Float64Array.from([1, 3, 2, 0]);
  const r = routeSoftmaxTopk(true, 2, z);
  assert.deepEqual(r.experts, [1, 2]);
  close(r.weights[0]!, Math.E / (Math.E + 1), 1e-15, 'w0');
  const raw = routeSoftmaxTopk(false, 2, z);
  const sum = Math.exp(1) + Math.exp(3) + Math.exp(2) + 1;
  close(raw.weights[0]!, Math.exp(3) / sum, 1e-15, 'raw w0');
  close(raw.weights[1]!, Math.exp(2) / sum, 1e-15, 'raw w1');
});

function router(over: Partial<RouterSpec>): RouterSpec {
  return { scoring: 'sigmoid', method: 'noaux_tc', numGroups: 2, topkGroups: 1, normTopkProb: true, routedScalingFactor: 2.5, scalingRule: 'always', hasCorrectionBias: true, normEps: 1e-20, ...over };
}

test('noaux_tc: bias selects only, group score = top-2 sum, −∞ masking keeps a negative in-group expert', () => {
  const z = Float64Array.from([0.2, -0.3, 0.1, 0.4]);
  const bias = Float64Array.from([1.2, -0.7, 0.1, 0.1]);
  // sigmoid ≈ [0.550, 0.426, 0.525, 0.599]; biased ≈ [1.750, −0.274, 0.625, 0.699]: group sums 1.475 > 1.324.
  const s = [...z].map(sig);
  const b = s.map((v, i) => v + bias[i]!);
  assert.ok(b[0]! + b[1]! > b[2]! + b[3]!, 'fixture: group 0 wins on the top-2 sum');
  assert.ok(b[1]! < 0, 'fixture: expert 1 has a negative biased score');
  const r = routeDeepseek('deepseek_v3', router({}), 2, z, bias);
  assert.deepEqual([...r.experts].sort(), [0, 1], '0.0 masking would pick expert 2 or 3 instead of 1');
  const sum = s[0]! + s[1]! + 1e-20;
  close(r.weights[r.experts.indexOf(0)]!, (s[0]! / sum) * 2.5, 1e-15, 'weight from the unbiased sigmoid, normalized, × 2.5');
  const noNorm = routeDeepseek('deepseek_v3', router({ normTopkProb: false }), 2, z, bias);
  close(noNorm.weights[noNorm.experts.indexOf(1)]!, s[1]! * 2.5, 1e-15, 'V3 scales even without normalization');
});

test('group_limited_greedy (V2): group max, scale only when not normalizing', () => {
  const z = Float64Array.from([2, -1, 1.5, 1.4]);
  const p = softmax(z);
  const v2 = router({ scoring: 'softmax', method: 'group_limited_greedy', normTopkProb: false, routedScalingFactor: 16, hasCorrectionBias: false });
  const r = routeDeepseek('deepseek_v2', v2, 2, z, null);
  assert.deepEqual(r.experts, [0, 1], 'group 0 has the max score; plain top-2 would pick 0 and 2');
  close(r.weights[0]!, p[0]! * 16, 1e-14, 'w0 × 16');
  close(r.weights[1]!, p[1]! * 16, 1e-14, 'w1 × 16');
  const normed = routeDeepseek('deepseek_v2', { ...v2, normTopkProb: true }, 2, z, null);
  close(normed.weights[0]! + normed.weights[1]!, 1, 1e-15, 'V2 normalized: no scaling');
  const greedy = routeDeepseek('deepseek_v2', { ...v2, method: 'topk' }, 2, z, null);
  assert.deepEqual(greedy.experts, [0, 2], 'greedy ignores groups');
});
