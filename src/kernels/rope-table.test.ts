// RoPE tables against the MODELS.md §5 test values and hand-computed llama3 branches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRopeTable, mlaSoftmaxScale, yarnCorrectionRange } from './rope-table.js';
import type { RopeSpec } from '../config/model-spec.js';

function close(a: number, b: number, rel = 1e-6): void {
  assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${a} vs ${b}`);
}
const yarn = (factor: number, bf: number, bs: number, m: number | null, mad: number | null) =>
  ({ kind: 'yarn', factor, originalMaxPositions: 4096, betaFast: bf, betaSlow: bs, mscale: m, mscaleAllDim: mad, attentionFactor: null }) as const;

test('default: inv_freq = θ^(−2i/d)', () => {
  const t = buildRopeTable({ theta: 10000, dim: 8, layout: 'halves', scaling: { kind: 'none' } });
  assert.equal(t.invFreq.length, 4);
  for (let i = 0; i < 4; i++) close(t.invFreq[i]!, Math.pow(10000, -i / 4));
  assert.equal(t.attentionFactor, 1);
  const lin = buildRopeTable({ theta: 10000, dim: 8, layout: 'halves', scaling: { kind: 'linear', factor: 2 } });
  close(lin.invFreq[1]!, Math.pow(10000, -0.25) / 2);
});

test('YaRN V3 (dr 64, θ 1e4, f 40, βf 32, βs 1): MODELS.md §5 values, factor 1', () => {
  const t = buildRopeTable({ theta: 10000, dim: 64, layout: 'interleaved', scaling: yarn(40, 32, 1, 1, 1) });
  assert.deepEqual(yarnCorrectionRange(64, 10000, 4096, 32, 1), [10, 23]);
  close(t.invFreq[0]!, 1);
  close(t.invFreq[10]!, 0.0562341325);
  close(t.invFreq[16]!, 0.0055, 1e-4);
  close(t.invFreq[23]!, 3.33380358e-5);
  close(t.invFreq[31]!, 3.33380358e-6);
  assert.equal(t.attentionFactor, 1);
  close(mlaSoftmaxScale(192, yarn(40, 32, 1, 1, 1)), 0.135234, 1e-5);
  close(mlaSoftmaxScale(192, yarn(40, 32, 1, 0.707, 0.707)), 0.114721, 1e-5);
});

test('YaRN Kimi K2 (θ 5e4, f 32, βf = βs = 1): hard switch, and low == high branch', () => {
  const t = buildRopeTable({ theta: 50000, dim: 64, layout: 'interleaved', scaling: yarn(32, 1, 1, 1, 1) });
  close(t.invFreq[10]!, 0.0340072782);
  close(t.invFreq[16]!, 0.00447213595);
  close(t.invFreq[23]!, 1.31058542e-5);
  close(t.invFreq[31]!, 8.76441291e-7);
  close(mlaSoftmaxScale(192, yarn(32, 1, 1, 1, 1)), 0.130861, 1e-5);
  // dr 8, θ 5e4, βf = βs = 1: corr(1) = 2.396 → low 2, high 3 (MODELS.md §9.2 k2yarn).
  assert.deepEqual(yarnCorrectionRange(8, 50000, 4096, 1, 1), [2, 3]);
  // low == high: βf = βs and corr an exact integer is rare, so force it with dr 8, θ 1e4, L0 = 2π·1e4^(2/8)... use range directly.
  const [lo, hi] = yarnCorrectionRange(8, 10000, 2 * Math.PI * 100, 1, 1);
  assert.equal(lo, 2);
  close(hi, 2.001, 1e-9);
  const eq = buildRopeTable({ theta: 10000, dim: 8, layout: 'interleaved', scaling: { ...yarn(4, 1, 1, 1, 1), originalMaxPositions: 2 * Math.PI * 100 } });
  const base = [1, 0.1, 0.01, 0.001];
  close(eq.invFreq[2]!, base[2]!); // ramp 0 at i == low
  close(eq.invFreq[3]!, base[3]! / 4); // ramp clamps to 1 just past high
});

test('YaRN generic (Qwen3): cos/sin factor 0.1·ln f + 1; attention_factor wins; mscale ratio', () => {
  const g = buildRopeTable({ theta: 1e6, dim: 16, layout: 'halves', scaling: { ...yarn(4, 32, 1, null, null), originalMaxPositions: 32768 } });
  close(g.attentionFactor, 0.1 * Math.log(4) + 1);
  const af = buildRopeTable({ theta: 1e6, dim: 16, layout: 'halves', scaling: { ...yarn(4, 32, 1, null, null), attentionFactor: 1.5 } });
  assert.equal(af.attentionFactor, 1.5);
  const r = buildRopeTable({ theta: 1e4, dim: 8, layout: 'interleaved', scaling: yarn(4, 32, 1, 1, 0.5) });
  close(r.attentionFactor, (0.1 * Math.log(4) + 1) / (0.05 * Math.log(4) + 1));
});

test('llama3 scaling: the three branches (MODELS.md §9.2 llama-tiny: f 4, lf 1, hf 4, L0 32)', () => {
  const spec: RopeSpec = { theta: 10000, dim: 16, layout: 'halves', scaling: { kind: 'llama3', factor: 4, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 32 } };
  const t = buildRopeTable(spec);
  for (let i = 0; i < 8; i++) {
    const f = Math.pow(10000, -i / 8);
    const wl = (2 * Math.PI) / f;
    let want: number;
    if (wl < 8) want = f;
    else if (wl > 32) want = f / 4;
    else { const s = (32 / wl - 1) / 3; want = (1 - s) * f / 4 + s * f; }
    close(t.invFreq[i]!, want);
  }
  // wavelengths 6.3 (kept), 19.9 (blended), 62.8 (divided): check the branches are hit.
  close(t.invFreq[0]!, 1);
  close(t.invFreq[2]!, 0.1 / 4);
  assert.ok(t.invFreq[1]! < Math.pow(10000, -1 / 8) && t.invFreq[1]! > Math.pow(10000, -1 / 8) / 4);
});
