// LocalModelRunner batching (issue 4): several decodes and a prefill in one step give the same
// logits as each sequence alone (MLA: the absorbed rows of all decodes run together, rows not
// contiguous), and steady decode steps allocate no new scratch buffers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../../config/model-config.js';
import { referenceBackend } from '../../kernels/reference.js';
import { bindModelWeights } from '../../model/model-weights.js';
import { randomWeightSource, TINY_CONFIGS } from '../../units/testing/random-model.js';
import { LocalModelRunner } from './model-runner.js';
import type { SequenceSlice } from './types.js';

const BS = 4;
const A = { tokens: Int32Array.from([3, 17, 42, 5, 88, 1, 64, 23, 9, 71, 30, 50, 8, 19, 27]), table: Int32Array.from([5, 2, 9, 6]) };
const B = { tokens: Int32Array.from([90, 2, 33, 7, 61, 12, 44]), table: Int32Array.from([0, 11]) };
const C = { tokens: Int32Array.from([14, 60, 2, 39, 77, 4, 21, 52, 10, 6]), table: Int32Array.from([1, 3, 4]) };

function makeRunner(arch: string): LocalModelRunner {
  const spec = parseModelConfig(TINY_CONFIGS[arch]);
  return new LocalModelRunner(spec, bindModelWeights(spec, randomWeightSource(spec, 7)), referenceBackend, { numBlocks: 12, blockSizeTokens: BS });
}

function slice(s: { tokens: Int32Array; table: Int32Array }, from: number, to: number, all: boolean): SequenceSlice {
  return { seqId: 's', tokenIds: s.tokens.subarray(from, to), startPos: from, blockTable: s.table, wantAllLogits: all };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Prefill A[0, 11) and C[0, 6). */
function prime(r: LocalModelRunner): void {
  r.forward({ kind: 'forward', seqs: [slice(A, 0, 11, false)] });
  r.forward({ kind: 'forward', seqs: [slice(C, 0, 6, false)] });
}

for (const arch of Object.keys(TINY_CONFIGS)) {
  test(`${arch}: decode A + prefill B + decode C in one step == each alone (≤ 1e-5)`, () => {
    const batched = makeRunner(arch);
    const alone = makeRunner(arch);
    prime(batched);
    prime(alone);
    const got = batched.forward({ kind: 'forward', seqs: [slice(A, 11, 12, false), slice(B, 0, 7, true), slice(C, 6, 7, false)] });
    const want = [slice(A, 11, 12, false), slice(B, 0, 7, true), slice(C, 6, 7, false)].map((s) => alone.forward({ kind: 'forward', seqs: [s] }).logits);
    assert.deepEqual(got.rows, [{ first: 0, count: 1 }, { first: 1, count: 7 }, { first: 8, count: 1 }]);
    const V = batched.vocabSize;
    const d = Math.max(maxAbsDiff(got.logits.subarray(0, V), want[0]!), maxAbsDiff(got.logits.subarray(V, 8 * V), want[1]!), maxAbsDiff(got.logits.subarray(8 * V), want[2]!));
    assert.ok(d <= 1e-5, `${arch}: max |Δlogit| ${d}`);
  });
}

test('steady decode steps reuse the scratch arena (no new buffers), outputs stay fresh arrays', () => {
  const r = makeRunner('deepseek_v3');
  prime(r);
  const step = (i: number): Float32Array => r.forward({ kind: 'forward', seqs: [slice(A, 11 + i, 12 + i, false), slice(C, 6 + i, 7 + i, false)] }).logits;
  const first = step(0);
  const kept = first.slice();
  step(1);
  const growths = r.scratch.growths;
  assert.ok(growths > 0 && r.scratch.bytes > 0);
  step(2);
  step(3);
  assert.equal(r.scratch.growths, growths, 'no slot grew during steady decode');
  assert.deepEqual(first, kept, 'a returned logits array is not overwritten by later steps');
});
