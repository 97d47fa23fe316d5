/**
 * The fast sampler (sampler.ts, fast-exp.ts, select.ts, truncate.ts) against the first sampler
 * kept in reference.ts and against naive sorts: same tokens for the same seed, same truncation
 * sets, logprobs within 1e-9, over many seeds, parameters and logits shapes (ties, −∞).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expNeg, sumExpShiftedLoose } from './fast-exp.js';
import { kthLargestAbove, massCut } from './select.js';
import { truncateCandidates } from './truncate.js';
import { referencePeek, referenceTruncate, softmaxWithLse } from './reference.js';
import { RequestSampler } from './sampler.js';
import { topLogprobs } from './logprobs.js';
import { makeSamplingParams, type SamplingParams } from './params.js';
import { TokenHistory } from './penalties.js';
import { Rng } from '../core/rng.js';

/** Greedy's log Σ exp is within 1.3e-9 by design (fast-exp.ts sumExpShiftedLoose); others ~1e-14. */
const LOGPROB_TOL = 2e-9;

test('expNeg is within 3 ulps of Math.exp on [−708, 0], monotone, 0 at −∞', () => {
  const rng = new Rng(1, 'exp');
  let maxRel = 0;
  for (let i = 0; i < 200_000; i++) {
    const d = -rng.uniform() * (i % 2 === 0 ? 30 : 708);
    maxRel = Math.max(maxRel, Math.abs(expNeg(d) / Math.exp(d) - 1));
  }
  assert.ok(maxRel < 7e-16, `max relative error ${maxRel}`);
  let prev = 0;
  for (let d = -50; d <= 0; d += 1 / 1031) {
    const v = expNeg(d);
    assert.ok(v >= prev, `not monotone at ${d}`);
    prev = v;
  }
  assert.equal(expNeg(0), 1);
  assert.equal(expNeg(-Infinity), 0);
  assert.equal(expNeg(-1e300), 0);
  assert.ok(Number.isNaN(expNeg(Number.NaN)));
});

function naiveKthLargest(values: number[], k: number): number {
  return [...values].sort((a, b) => b - a)[k - 1]!;
}

test('sumExpShiftedLoose is within 1.3e-9 of Σ Math.exp, and 0-safe for −∞', () => {
  const rng = new Rng(7, 'loose');
  for (let trial = 0; trial < 20; trial++) {
    const row = makeLogits(rng, 2000, trial);
    const max = Math.max(...row);
    const want = row.reduce((s, x) => s + Math.exp(x - max), 0);
    const got = sumExpShiftedLoose(row, max);
    assert.ok(Math.abs(got / want - 1) < 1.3e-9, `trial ${trial}: ${got} vs ${want}`);
  }
  assert.equal(sumExpShiftedLoose(Float32Array.from([0, -Infinity, -1e30]), 0), 1);
});

test('kthLargestAbove equals a sort, with ties and a floor', () => {
  const rng = new Rng(2, 'kth');
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + (rng.nextU32() % 300);
    const row = Float64Array.from({ length: n }, () => Math.round(rng.uniform() * 40) / 40);
    const floor = trial % 3 === 0 ? 0.5 : Number.MIN_VALUE;
    const k = 1 + (rng.nextU32() % 60);
    const above = Array.from(row).filter((x) => x >= floor);
    const want = above.length > k ? naiveKthLargest(above, k) : floor;
    assert.equal(kthLargestAbove(row, 1, floor, k, new Float64Array(k + 1 + (trial % 3) * k)), want, `trial ${trial}`);
  }
});

test('massCut finds the value where the descending cumulative mass reaches the target', () => {
  const rng = new Rng(3, 'mass');
  for (let trial = 0; trial < 300; trial++) {
    const n = 1 + (rng.nextU32() % 400);
    const values = Array.from({ length: n }, () => (trial % 2 ? Math.round(rng.uniform() * 8) / 8 : rng.uniform() ** 4));
    const total = values.reduce((a, b) => a + b, 0);
    const need = total * rng.uniform();
    const sorted = [...values].sort((a, b) => b - a);
    let cum = 0;
    const want = sorted.find((x) => (cum += x) >= need) ?? -Infinity;
    const cut = massCut(Float64Array.from(values), n, need);
    assert.equal(cut.value, want, `trial ${trial}`);
    const above = values.filter((x) => x > want).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(cut.massAbove - above) <= 1e-12 * total);
  }
});

/** A [vocab] f32 logits row of a given shape. */
function makeLogits(rng: Rng, vocab: number, shape: number): Float32Array {
  const row = rng.fillNormal(new Float32Array(vocab), [1, 3, 8, 2][shape % 4]!);
  if (shape % 4 === 3) for (let i = 0; i < vocab; i++) row[i] = Math.round(row[i]! * 2) / 2; // many ties
  if (shape % 5 === 4) for (let i = 0; i < vocab; i += 7) row[i] = -Infinity; // masked tokens
  return row;
}

function randomParams(rng: Rng, seed: number): SamplingParams {
  const pick = <T>(xs: readonly T[]): T => xs[rng.nextU32() % xs.length]!;
  return makeSamplingParams({
    temperature: pick([0, 0.3, 0.7, 1, 1.6]),
    topK: pick([0, 0, 1, 5, 50, 3000]),
    topP: pick([1, 1, 0.5, 0.9, 0.99]),
    minP: pick([0, 0, 0.02, 0.3]),
    repetitionPenalty: pick([1, 1.3]),
    frequencyPenalty: pick([0, 0.5]),
    presencePenalty: pick([0, -0.4]),
    logprobs: pick([null, 0, 5]),
    logitBias: pick([[], [], [[1, 5], [7, -100]], [[rng.nextU32() % 500, 2.5]]]),
    seed,
  });
}

test('RequestSampler matches the reference sampler token for token (120 seeds × 6 steps)', () => {
  const rng = new Rng(4, 'fast-vs-ref');
  for (let seed = 0; seed < 120; seed++) {
    const vocab = 500 + (rng.nextU32() % 4000);
    const params = randomParams(rng, seed);
    const prompt = Array.from({ length: 20 }, () => rng.nextU32() % vocab);
    const fast = new RequestSampler(params, prompt);
    const refHistory = new TokenHistory(prompt);
    const refRng = new Rng(seed, 'sampling');
    for (let step = 0; step < 6; step++) {
      const logits = makeLogits(rng, vocab, seed + step);
      const want = referencePeek(logits, params, refHistory, refRng);
      const got = fast.sample(logits);
      const what = `seed ${seed} step ${step} ${JSON.stringify(params)}`;
      assert.equal(got.tokenId, want.tokenId, what);
      assert.ok(Math.abs(got.logprob - want.logprob) <= LOGPROB_TOL, `${what}: ${got.logprob} vs ${want.logprob}`);
      assert.deepEqual(got.topLogprobs.map((t) => t.tokenId), want.topLogprobs.map((t) => t.tokenId), what);
      got.topLogprobs.forEach((t, i) => assert.ok(Math.abs(t.logprob - want.topLogprobs[i]!.logprob) <= LOGPROB_TOL));
      refHistory.recordOutput(want.tokenId);
    }
  }
});

test('truncateCandidates equals the reference truncation on many rows and parameters', () => {
  const rng = new Rng(5, 'truncate');
  for (let trial = 0; trial < 150; trial++) {
    const vocab = 100 + (rng.nextU32() % 5000);
    const { probs } = softmaxWithLse(makeLogits(rng, vocab, trial));
    const p = randomParams(rng, trial);
    assert.deepEqual(truncateCandidates(probs, p), referenceTruncate(probs, p), `trial ${trial} ${JSON.stringify(p)}`);
  }
});

test('top-p exactly at a cumulative boundary agrees with the reference (the sort fallback)', () => {
  // Eight equal tokens of 1/8: top-p 0.5 reaches the target (minus 1e-12) exactly at the 4th.
  const probs = Float64Array.from({ length: 8 }, () => 0.125);
  for (const topP of [0.5, 0.375 + 1e-13, 0.625 - 1e-13, 0.999]) {
    const p = { topK: 0, topP, minP: 0 };
    assert.deepEqual(truncateCandidates(probs, p), referenceTruncate(probs, p), `topP ${topP}`);
  }
  const skew = Float64Array.from([0.5, 0.25, 0.125, 0.0625, 0.0625]);
  for (const topP of [0.5, 0.75, 0.875, 0.9375, 0.95]) {
    const p = { topK: 0, topP, minP: 0 };
    assert.deepEqual(truncateCandidates(skew, p), referenceTruncate(skew, p), `skew topP ${topP}`);
  }
  // Not normalized (mass 0.3): the one-pass lower bound of the cut does not hold, so it recompacts.
  const rng = new Rng(8, 'unnormalized');
  const loose = Float64Array.from({ length: 3000 }, () => rng.uniform() ** 3 * 2e-4);
  for (const topP of [0.3, 0.9]) {
    const p = { topK: 0, topP, minP: 0 };
    assert.deepEqual(truncateCandidates(loose, p), referenceTruncate(loose, p), `loose topP ${topP}`);
  }
});

test('topLogprobs equals a full sort (highest first, lower id first on ties)', () => {
  const rng = new Rng(6, 'top-logprobs');
  for (let trial = 0; trial < 100; trial++) {
    const vocab = 1 + (rng.nextU32() % 300);
    const row = makeLogits(rng, vocab, trial);
    const n = rng.nextU32() % 21;
    const want = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b).slice(0, n);
    const got = topLogprobs(row, 0.5, n);
    assert.deepEqual(got.map((t) => t.tokenId), want, `trial ${trial}`);
    got.forEach((t) => assert.equal(t.logprob, row[t.tokenId]! - 0.5));
  }
});
