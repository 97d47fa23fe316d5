/** Hand-checked values for the reference RoPE / YaRN / llama3 / MLA-scale code (MODELS.md §1.3, §2.1, §4.3, §5). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RopeScaling } from '../../config/model-spec.js';
import { applyRope, baseInvFreq, llama3InvFreq, refAttentionFactor, refMlaScale, refInvFreq, yarnCorrectionRange, ymscale, type RefRope } from './rope.js';

function yarn(factor: number, l0: number, betaFast: number, betaSlow: number, mscale: number | null, mscaleAllDim: number | null): Extract<RopeScaling, { kind: 'yarn' }> {
  return { kind: 'yarn', factor, originalMaxPositions: l0, betaFast, betaSlow, mscale, mscaleAllDim, attentionFactor: null };
}

function close(actual: number, expected: number, relTol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= relTol * Math.abs(expected), `${what}: ${actual} vs ${expected}`);
}

test('YaRN inv_freq: DeepSeek-V3 test values of MODELS.md §5', () => {
  const inv = refInvFreq({ theta: 1e4, dim: 64, layout: 'interleaved', scaling: yarn(40, 4096, 32, 1, 1, 1) });
  const expected: Record<number, number> = { 0: 1, 10: 0.0562341325, 16: 0.0055, 23: 3.33380358e-5, 31: 3.33380358e-6 };
  for (const [i, v] of Object.entries(expected)) close(inv[Number(i)]!, v, 1e-8, `inv_freq'[${i}]`);
  assert.deepEqual(yarnCorrectionRange(64, 1e4, 4096, 32, 1), { low: 10, high: 23 });
});

test('YaRN inv_freq: Kimi K2 hard switch (θ 5e4, f 32, βf = βs = 1)', () => {
  const inv = refInvFreq({ theta: 5e4, dim: 64, layout: 'interleaved', scaling: yarn(32, 4096, 1, 1, 1, 1) });
  const expected: Record<number, number> = { 10: 0.0340072782, 16: 0.00447213595, 23: 1.31058542e-5, 31: 8.76441291e-7 };
  for (const [i, v] of Object.entries(expected)) close(inv[Number(i)]!, v, 1e-8, `inv_freq'[${i}]`);
});

test('YaRN tiny fixtures: dsv3-tiny ramp [0, 0, 0.5, 1] and k2yarn ramp [0, 0, 0, 1] (MODELS.md §9.2)', () => {
  const base = baseInvFreq(1e4, 8);
  const inv = refInvFreq({ theta: 1e4, dim: 8, layout: 'interleaved', scaling: yarn(4, 4096, 32, 1, 1, 1) });
  const ramp = [...inv].map((v, i) => (base[i]! - v) / (base[i]! - base[i]! / 4));
  ramp.forEach((r, i) => close(r + 1, [0, 0, 0.5, 1][i]! + 1, 1e-12, `dsv3 ramp[${i}]`));
  const baseK = baseInvFreq(5e4, 8);
  const invK = refInvFreq({ theta: 5e4, dim: 8, layout: 'interleaved', scaling: yarn(32, 4096, 1, 1, 1, 1) });
  assert.deepEqual(yarnCorrectionRange(8, 5e4, 4096, 1, 1), { low: 2, high: 3 });
  [...invK].forEach((v, i) => close(v, i < 3 ? baseK[i]! : baseK[i]! / 32, 1e-12, `k2yarn inv[${i}]`));
});

test('YaRN low == high branch: high += 0.001 keeps the ramp finite', () => {
  // dr 8, θ 1e4, L0 1.987: corr(1) ≈ −0.5 → high = 0; corr(32) < 0 → low = 0.
  const r = yarnCorrectionRange(8, 1e4, 1.987, 32, 1);
  assert.equal(r.low, 0);
  close(r.high, 0.001, 1e-9, 'high');
  const base = baseInvFreq(1e4, 8);
  const inv = refInvFreq({ theta: 1e4, dim: 8, layout: 'interleaved', scaling: yarn(4, 1.987, 32, 1, 1, 1) });
  assert.ok(inv.every(Number.isFinite));
  [...inv].forEach((v, i) => close(v, i === 0 ? base[0]! : base[i]! / 4, 1e-12, `inv[${i}]`));
});

test('llama3 scaling hits its three branches (llama-tiny: dh 16, θ 1e4, f 4, lf 1, hf 4, L0 32)', () => {
  const inv = llama3InvFreq(baseInvFreq(1e4, 16), { kind: 'llama3', factor: 4, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 32 });
  const expected = [1.0, 0.12732395447351627, 0.025, 0.007905694150420948, 0.0025, 0.0007905694150420948, 0.00025, 7.905694150420948e-05];
  expected.forEach((v, i) => close(inv[i]!, v, 1e-12, `llama3 inv[${i}]`));
});

test('magnitude factors and the MLA softmax scale (MODELS.md §4.3, §4.7, §5)', () => {
  close(refMlaScale(192, yarn(40, 4096, 32, 1, 1, 1)), 0.135234, 1e-5, 'V3 scale');
  close(refMlaScale(192, yarn(40, 4096, 32, 1, 0.707, 0.707)), 0.114721, 1e-5, 'V2 scale');
  close(refMlaScale(192, yarn(32, 4096, 1, 1, 1, 1)), 0.130861, 1e-5, 'K2 scale');
  close(refMlaScale(192, yarn(64, 4096, 1, 1, 1, 1)), 0.144680, 1e-5, 'K2 f64 scale');
  close(refMlaScale(192, { kind: 'none' }), 0.072169, 1e-5, 'Moonlight scale');
  close(ymscale(4, 1) ** 2, 1.296477, 1e-6, 'dsv3-tiny m²');
  close(ymscale(4, 0.707) ** 2, 1.205628, 1e-6, 'dsv2-tiny m²');
  close(ymscale(40, 0.707), 1.260804, 1e-6, 'V2 m');
  assert.equal(refAttentionFactor({ theta: 1e4, dim: 64, layout: 'interleaved', scaling: yarn(40, 4096, 32, 1, 0.707, 0.707) }), 1);
  close(refAttentionFactor({ theta: 1e6, dim: 128, layout: 'halves', scaling: yarn(4, 32768, 32, 1, null, null) }), 0.1 * Math.log(4) + 1, 1e-12, 'Qwen3 YaRN factor');
});

test('applyRope pairs (i, i+dr/2) for halves and (2i, 2i+1) for interleaved', () => {
  // dr 4, inv_freq [1, 0.5], position 1: angles a0 = 1, a1 = 0.5.
  const r: RefRope = { invFreq: Float64Array.from([1, 0.5]), factor: 1, layout: 'halves', dim: 4 };
  const x = Float64Array.from([1, 2, 3, 4]);
  applyRope(x, 0, 1, r);
  const [c0, s0, c1, s1] = [Math.cos(1), Math.sin(1), Math.cos(0.5), Math.sin(0.5)];
  const halves = [1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1];
  halves.forEach((v, i) => close(x[i]!, v, 1e-14, `halves[${i}]`));
  const y = Float64Array.from([1, 2, 3, 4]);
  applyRope(y, 0, 1, { ...r, layout: 'interleaved' });
  const inter = [1 * c0 - 2 * s0, 2 * c0 + 1 * s0, 3 * c1 - 4 * s1, 4 * c1 + 3 * s1];
  inter.forEach((v, i) => close(y[i]!, v, 1e-14, `interleaved[${i}]`));
  const z = Float64Array.from([1, 2, 3, 4]);
  applyRope(z, 0, 0, r);
  assert.deepEqual([...z], [1, 2, 3, 4], 'position 0 is the identity');
});
