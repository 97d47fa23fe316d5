import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPenalties, TokenHistory } from './penalties.js';
import { RequestSampler } from './sampler.js';
import { XdsError } from '../core/errors.js';

/** Naive reference over the full vocabulary, from plain token lists (logit bias first, as vLLM v1). */
function naivePenalize(logits: number[], prompt: number[], output: number[], rep: number, freq: number, pres: number, bias: Record<number, number> = {}): number[] {
  return logits.map((x, t) => {
    let y = x + (bias[t] ?? 0);
    if (prompt.includes(t) || output.includes(t)) y = y > 0 ? y / rep : y * rep;
    const count = output.filter((o) => o === t).length;
    return y - freq * count - (count > 0 ? pres : 0);
  });
}

test('penalties change exactly the right logits, like the naive reference (tol 1e-6)', () => {
  const logits = [2, -1, 0.5, 3, -2, 1, 0, 4];
  const prompt = [0, 1];
  const output = [3, 3, 4, 1];
  const h = new TokenHistory(prompt);
  for (const t of output) h.recordOutput(t);
  const row = Float32Array.from(logits);
  applyPenalties(row, h, { repetitionPenalty: 1.3, frequencyPenalty: 0.4, presencePenalty: 0.7 });
  const ref = naivePenalize(logits, prompt, output, 1.3, 0.4, 0.7);
  row.forEach((x, i) => assert.ok(Math.abs(x - ref[i]!) < 1e-6, `token ${i}: ${x} vs ${ref[i]}`));
  for (const t of [2, 5, 6, 7]) assert.equal(row[t], logits[t]);
});

test('logit bias is added before the penalties, like the naive reference (f32: tol 1e-6 relative)', () => {
  const logits = [2, -1, 0.5, 3, -2, 1, 0, 4];
  const prompt = [0, 1];
  const output = [3, 4];
  const bias = { 0: -3, 1: 2.5, 3: 100, 5: -100, 99: 7 }; // 99 lies outside the row: ignored
  const h = new TokenHistory(prompt);
  for (const t of output) h.recordOutput(t);
  const row = Float32Array.from(logits);
  const logitBias = Object.entries(bias).map(([t, b]) => [Number(t), b] as const);
  applyPenalties(row, h, { repetitionPenalty: 1.5, frequencyPenalty: 0.3, presencePenalty: 0.2, logitBias });
  const ref = naivePenalize(logits, prompt, output, 1.5, 0.3, 0.2, bias);
  row.forEach((x, i) => assert.ok(Math.abs(x - ref[i]!) < 1e-6 * Math.max(1, Math.abs(ref[i]!)), `token ${i}: ${x} vs ${ref[i]}`));
  // token 0: (2 - 3) · 1.5 (negative after the bias, so multiplied), not 2 / 1.5 - 3
  assert.ok(Math.abs(row[0]! - -1.5) < 1e-6);
});

test('logit bias steers greedy and random sampling; out-of-range values name logit_bias', () => {
  const logits = Float32Array.from([0, 3, 2.5, 2]);
  const banned = new RequestSampler({ temperature: 0, logitBias: [[1, -100]] });
  assert.deepEqual([0, 1].map(() => banned.sample(logits).tokenId), [2, 2]);
  for (let seed = 0; seed < 20; seed++) {
    const forced = new RequestSampler({ temperature: 1, seed, logitBias: [[0, 100]] });
    assert.equal(forced.sampleToken(logits), 0, `seed ${seed}`);
  }
  for (const logitBias of [[[1, 100.5]], [[1, Number.NaN]], [[-1, 1]], [[1.5, 1]]] as [number, number][][]) {
    assert.throws(() => new RequestSampler({ logitBias }), (e: XdsError) => e.code === 'invalid_argument' && e.param === 'logit_bias', JSON.stringify(logitBias));
  }
});

test('min_tokens keeps the stop tokens from being sampled until that many tokens were generated', () => {
  const logits = Float32Array.from([5, 3, 2.5, 4]); // 0 (say EOS) and 3 lead
  const s = new RequestSampler({ temperature: 0, minTokens: 2 }, [], [0, 3]);
  assert.deepEqual([0, 1, 2].map(() => s.sample(logits).tokenId), [1, 1, 0]);
  const seeded = new RequestSampler({ temperature: 1, seed: 3, minTokens: 3 }, [], [0, 3]);
  const first = [0, 1, 2].map(() => seeded.sampleToken(logits));
  assert.ok(first.every((t) => t === 1 || t === 2), JSON.stringify(first));
  assert.deepEqual([0, 1].map(() => new RequestSampler({ temperature: 0, minTokens: 2 }).sample(logits).tokenId), [0, 0], 'no stop ids: nothing blocked');
  assert.throws(() => new RequestSampler({ minTokens: -1 }), (e: XdsError) => e.param === 'min_tokens');
});

test('repetition penalty covers the prompt; frequency/presence only the output', () => {
  const h = new TokenHistory([2]);
  const row = Float32Array.from([1, 1, 1, 1]);
  applyPenalties(row, h, { repetitionPenalty: 1, frequencyPenalty: 1, presencePenalty: 1 });
  assert.deepEqual([...row], [1, 1, 1, 1]);
  applyPenalties(row, h, { repetitionPenalty: 2, frequencyPenalty: 0, presencePenalty: 0 });
  assert.deepEqual([...row], [1, 1, 0.5, 1]);
});

test('a strong frequency penalty stops greedy decoding from repeating a token', () => {
  const logits = Float32Array.from([0, 3, 2.5, 2]);
  const s = new RequestSampler({ temperature: 0, frequencyPenalty: 2 });
  const toks = [0, 1, 2].map(() => s.sample(logits).tokenId);
  assert.deepEqual(toks, [1, 2, 3]);
  const plain = new RequestSampler({ temperature: 0 });
  assert.deepEqual([0, 1, 2].map(() => plain.sample(logits).tokenId), [1, 1, 1]);
});
