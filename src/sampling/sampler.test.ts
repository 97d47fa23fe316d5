import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestSampler, argmax } from './sampler.js';
import { truncateCandidates } from './truncate.js';
import { makeSamplingParams } from './params.js';
import { isXdsError } from '../core/errors.js';
import { Rng } from '../core/rng.js';

function randomLogits(seed: number, v: number, scale = 3): Float32Array {
  const rng = new Rng(seed, 'test-logits');
  return Float32Array.from({ length: v }, () => scale * rng.normal());
}

/** Naive reference: f64 log-softmax of row / T. */
function naiveLogSoftmax(row: ArrayLike<number>, t = 1): number[] {
  const xs = Array.from(row, (x) => x / t);
  const m = Math.max(...xs);
  const lse = m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
  return xs.map((x) => x - lse);
}

function sampleMany(params: object, logits: Float32Array, n: number): number[] {
  const s = new RequestSampler(params);
  return Array.from({ length: n }, () => s.peek(logits).tokenId);
}

test('temperature 0 is argmax, lowest id on ties', () => {
  const logits = Float32Array.from([1, 5, 2, 5, -1]);
  const s = new RequestSampler({ temperature: 0 });
  assert.equal(s.sample(logits).tokenId, 1);
  assert.equal(argmax(randomLogits(3, 1000)), naiveArgmax(randomLogits(3, 1000)));
});

function naiveArgmax(row: Float32Array): number {
  return Array.from(row).indexOf(Math.max(...row));
}

test('top-k = 1 equals greedy for any seed and temperature', () => {
  const logits = randomLogits(7, 500);
  for (let seed = 0; seed < 5; seed++) {
    const toks = sampleMany({ temperature: 1.5, topK: 1, seed }, logits, 10);
    assert.ok(toks.every((t) => t === naiveArgmax(logits)));
  }
});

test('top-k keeps exactly the k most likely tokens', () => {
  const logits = randomLogits(8, 300);
  const toks = new Set(sampleMany({ temperature: 5, topK: 3, seed: 1 }, logits, 400));
  const top3 = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!).slice(0, 3);
  assert.deepEqual([...toks].sort(), [...top3].sort());
});

test('top-p keeps the minimal nucleus', () => {
  const probs = Float64Array.from([0.05, 0.5, 0.15, 0.3]);
  const tp = (topP: number): number[] => truncateCandidates(probs, { topK: 0, topP, minP: 0 });
  assert.deepEqual(tp(0.5), [1]);
  assert.deepEqual(tp(0.7), [1, 3]);
  assert.deepEqual(tp(0.8), [1, 3]);
  assert.deepEqual(tp(0.81), [1, 2, 3]);
  assert.deepEqual(tp(1), [0, 1, 2, 3]);
  // top-p after top-k is measured on the top-k mass (0.8): 0.7 of it = 0.56 needs 2 tokens.
  assert.deepEqual(truncateCandidates(probs, { topK: 2, topP: 0.7, minP: 0 }), [1, 3]);
  assert.deepEqual(truncateCandidates(probs, { topK: 2, topP: 0.6, minP: 0 }), [1]);
});

test('top-p on a large vocabulary matches a full sort', () => {
  const logits = randomLogits(9, 5000, 2);
  const lp = naiveLogSoftmax(logits);
  const probs = Float64Array.from(lp, Math.exp);
  const order = Array.from(probs.keys()).sort((a, b) => probs[b]! - probs[a]!);
  let cum = 0;
  let n = 0;
  while (cum < 0.9) cum += probs[order[n++]!]!;
  assert.deepEqual(truncateCandidates(probs, { topK: 0, topP: 0.9, minP: 0 }), order.slice(0, n).sort((a, b) => a - b));
  const top7 = order.slice(0, 7).sort((a, b) => a - b);
  assert.deepEqual(truncateCandidates(probs, { topK: 7, topP: 1, minP: 0 }), top7);
});

test('min-p keeps tokens with p ≥ minP · pmax', () => {
  const probs = Float64Array.from([0.4, 0.05, 0.3, 0.25]);
  assert.deepEqual(truncateCandidates(probs, { topK: 0, topP: 1, minP: 0.5 }), [0, 2, 3]);
  assert.deepEqual(truncateCandidates(probs, { topK: 0, topP: 1, minP: 0.125 }), [0, 1, 2, 3]);
  assert.deepEqual(truncateCandidates(probs, { topK: 0, topP: 1, minP: 0.7 }), [0, 2]);
  const toks = new Set(sampleMany({ minP: 0.7, seed: 3 }, Float32Array.from(probs, Math.log), 300));
  assert.deepEqual([...toks].sort(), [0, 2]);
});

test('sampled frequencies follow softmax(logits / T) (chi-square, fixed seed)', () => {
  const logits = Float32Array.from([0.5, 1.5, -0.3, 1.0, 0]);
  const n = 20000;
  const counts = new Array<number>(5).fill(0);
  for (const t of sampleMany({ temperature: 1.7, seed: 42 }, logits, n)) counts[t]!++;
  const p = naiveLogSoftmax(logits, 1.7).map(Math.exp);
  const chi2 = counts.reduce((s, c, i) => s + (c - n * p[i]!) ** 2 / (n * p[i]!), 0);
  assert.ok(chi2 < 18.5, `chi2 ${chi2} (4 dof, p = 0.001 at 18.47)`);
});

test('same seed ⇒ same tokens, different seed ⇒ different tokens', () => {
  const logits = randomLogits(10, 1000, 1);
  const a = sampleMany({ seed: 123 }, logits, 30);
  assert.deepEqual(sampleMany({ seed: 123 }, logits, 30), a);
  assert.notDeepEqual(sampleMany({ seed: 124 }, logits, 30), a);
});

test('logprobs are the log-softmax of the processed logits (tol 1e-5)', () => {
  const logits = randomLogits(11, 400);
  const s = new RequestSampler({ temperature: 0.8, logprobs: 5, seed: 1 });
  const r = s.peek(logits);
  const ref = naiveLogSoftmax(logits, 0.8);
  assert.ok(Math.abs(r.logprob - ref[r.tokenId]!) < 1e-5);
  const refTop = ref.map((lp, id) => ({ id, lp })).sort((a, b) => b.lp - a.lp).slice(0, 5);
  assert.deepEqual(r.topLogprobs.map((t) => t.tokenId), refTop.map((t) => t.id));
  r.topLogprobs.forEach((t, i) => assert.ok(Math.abs(t.logprob - refTop[i]!.lp) < 1e-5));
  const g = new RequestSampler({ temperature: 0 }).peek(logits);
  assert.equal(g.topLogprobs.length, 0);
  assert.ok(Math.abs(g.logprob - naiveLogSoftmax(logits)[g.tokenId]!) < 1e-5);
});

test('bad parameters are XdsErrors naming the field', () => {
  const cases: [object, string][] = [
    [{ temperature: -1 }, 'temperature'], [{ topP: 0 }, 'top_p'], [{ topK: 1.5 }, 'top_k'],
    [{ minP: 2 }, 'min_p'], [{ seed: 0.5 }, 'seed'], [{ presencePenalty: 3 }, 'presence_penalty'],
    [{ frequencyPenalty: Number.NaN }, 'frequency_penalty'], [{ repetitionPenalty: 0 }, 'repetition_penalty'],
    [{ logprobs: 21 }, 'logprobs'],
  ];
  for (const [p, field] of cases) {
    assert.throws(() => makeSamplingParams(p), (e) => isXdsError(e, 'invalid_argument') && e.param === field);
  }
  assert.equal(makeSamplingParams({ topK: -1 }).topK, 0);
});

test('sampleToken (no logprob) picks and records the same tokens as sample, greedy and seeded, with penalties', () => {
  for (const params of [{ temperature: 0 }, { temperature: 0, repetitionPenalty: 1.3, presencePenalty: 0.5 }, { seed: 7, temperature: 0.8, topP: 0.9 }, { seed: 9, temperature: 1.2, topK: 20, frequencyPenalty: 0.4 }]) {
    const a = new RequestSampler(params, [1, 2, 3]);
    const b = new RequestSampler(params, [1, 2, 3]);
    for (let step = 0; step < 40; step++) {
      const logits = randomLogits(100 + step, 500, 1);
      assert.equal(b.sampleToken(logits), a.sample(logits).tokenId, `${JSON.stringify(params)} step ${step}`);
    }
  }
});
