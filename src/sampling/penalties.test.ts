import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPenalties, TokenHistory } from './penalties.js';
import { RequestSampler } from './sampler.js';

/** Naive reference over the full vocabulary, from plain token lists. */
function naivePenalize(logits: number[], prompt: number[], output: number[], rep: number, freq: number, pres: number): number[] {
  return logits.map((x, t) => {
    let y = x;
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
