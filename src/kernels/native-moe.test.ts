/**
 * Native moeExperts (native/kernels/moe.c) vs the reference (MODELS.md §3; issue 4): random expert
 * sets (E 1…16, k 1…6, 1…40 tokens, idle experts, odd D and I), 1 and 2 threads, and moe.c's
 * layouts: a 1-byte buffer cap moves every call over 16 entries to the prefill layout (down
 * projection per column chunk) with one expert per group.
 * f32 / bf16: max |Δ| ≤ 1e-5 · rms(ref). int8 (q8 activations, so the reference differs by the
 * quantization error): against the native per-expert loop (moeExpertsLoop over native matmul),
 * same bound. Every thread count and path gives bit-identical results.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ComputeBackend, MoeExpertsArgs } from './backend.js';
import { referenceBackend } from './reference.js';
import { moeExpertsLoop } from './moe-experts.js';
import { loadKernelsAddon } from './native.js';
import { isXdsError } from '../core/errors.js';
import { randomExperts, randomGroups, rms, type ExpertFormat } from './moe-test-util.js';
import { maxAbsDiff, requireNative, rng, sharedF32 } from './native-test-util.js';

/** [E, D, I, k, tokens, idle experts] */
const CASES: [number, number, number, number, number, number[]][] = [
  [1, 8, 4, 1, 1, []], [4, 33, 12, 2, 5, [1]], [8, 64, 24, 6, 40, [0, 7]], [16, 40, 17, 4, 23, [3, 4, 5, 6, 7, 8, 9]],
  [9, 130, 36, 3, 17, []], [6, 16, 8, 6, 2, []], [12, 48, 20, 1, 31, [11]],
  // I a multiple of 16, D % 4 ≠ 0 (tail columns), experts of under and over 16 rows side by side
  // (GEMV and packed GEMM per column slice in moe.c's prefill layout)
  [8, 70, 16, 3, 12, [5]], [16, 136, 32, 6, 9, [0]], [4, 202, 64, 2, 31, []],
];

function run(b: ComputeBackend | ((a: MoeExpertsArgs) => void), a: Omit<MoeExpertsArgs, 'out'>, D: number): Float32Array {
  const out = sharedF32(a.numTokens * D, () => NaN);
  if (typeof b === 'function') b({ ...a, out });
  else b.moeExperts!({ ...a, out });
  return out;
}

function checkCase([E, D, I, k, T, idle]: (typeof CASES)[number], format: ExpertFormat, seed: number, sharedWidth = 0): void {
  const experts = randomExperts(E, D, I, format, seed);
  const groups = randomGroups(T, E, k, new Set(idle), seed + 2);
  const args = { x: sharedF32(T * D, rng(seed + 1)), numTokens: T, ...(sharedWidth > 0 ? withShared(groups, T) : groups), experts };
  if (sharedWidth > 0) experts.push(...randomExperts(1, D, sharedWidth, format, seed + 3));
  const n1 = requireNative(1), n2 = requireNative(2);
  if (!n1 || !n2) return;
  const ref = format === 'int8' ? run((a) => moeExpertsLoop(n1, a), args, D) : run(referenceBackend, args, D);
  const y1 = run(n1, args, D), y2 = run(n2, args, D);
  const label = `${format} E=${E} D=${D} I=${I} k=${k} T=${T}`;
  const err = maxAbsDiff(y1, ref);
  assert.ok(err <= 1e-5 * rms(ref), `${label}: max |Δ| ${err} > 1e-5 · rms ${rms(ref)}`);
  assert.ok(rms(ref) > 0, label);
  assert.deepEqual(y2, y1, `${label}: 2 threads`);
  const addon = loadKernelsAddon({ quiet: true })!;
  addon.configure(-1, -1, 0, 0, 1);
  try {
    assert.deepEqual(run(n2, args, D), y1, `${label}: prefill layout, one expert per group`);
  } finally {
    addon.configure(-1, -1, 0, 0, 64 * 1024 * 1024);
  }
}

for (const format of ['f32', 'bf16', 'int8'] as const) {
  test(`${format} experts: native moeExperts matches ${format === 'int8' ? 'the native per-expert loop' : 'the reference'} (1 and 2 threads, both paths)`, { skip: !requireNative(1) }, () => {
    CASES.forEach((c, i) => checkCase(c, format, 100 * i + format.length));
  });
}

test('a prefill-sized batch (many rows per expert: packed GEMM inside an expert) matches the reference', { skip: !requireNative(1) }, () => {
  checkCase([3, 32, 16, 2, 40, []], 'bf16', 77);
  // ≥ 16 rows per active expert (moe.c's prefill layout) and D > 256: a full chunk and a 44-wide tail
  checkCase([3, 300, 16, 2, 40, []], 'bf16', 78);
  checkCase([3, 300, 16, 2, 40, [1]], 'f32', 79);
});

/** One more expert (index E) used by every token with weight 1, as units/moe/moe.ts passes the shared expert. */
function withShared(g: Pick<MoeExpertsArgs, 'offsets' | 'rows' | 'weights'>, T: number): Pick<MoeExpertsArgs, 'offsets' | 'rows' | 'weights'> {
  const n = g.rows.length;
  return {
    offsets: Int32Array.from([...g.offsets, n + T]),
    rows: Int32Array.from([...g.rows, ...Array.from({ length: T }, (_, t) => t)]),
    weights: Float32Array.from([...g.weights, ...Array<number>(T).fill(1)]),
  };
}

test('a wider shared expert as expert E (weight 1 for every token) matches the reference', { skip: !requireNative(1) }, () => {
  checkCase([8, 64, 24, 6, 20, [2]], 'bf16', 91, 48);
  checkCase([4, 33, 12, 2, 3, []], 'f32', 92, 24);
});

test('bad moeExperts input is an XdsError naming the field', { skip: !requireNative(1) }, () => {
  const nb = requireNative(2)!;
  const experts = randomExperts(3, 8, 4, 'f32', 1);
  const x = new Float32Array(2 * 8);
  const ok = { x, out: new Float32Array(16), numTokens: 2, offsets: Int32Array.of(0, 1, 1, 2), rows: Int32Array.of(0, 1), weights: Float32Array.of(1, 1), experts };
  nb.moeExperts!(ok);
  const bad = (patch: Partial<MoeExpertsArgs>, param: string): void =>
    assert.throws(() => nb.moeExperts!({ ...ok, ...patch }), (e) => isXdsError(e, 'invalid_argument') && e.param === param, param);
  bad({ x: new Float32Array(15) }, 'x');
  bad({ out: new Float32Array(8) }, 'out');
  bad({ out: x }, 'out');
  bad({ offsets: Int32Array.of(0, 1, 1) }, 'offsets');
  bad({ offsets: Int32Array.of(0, 2, 1, 2) }, 'offsets');
  bad({ offsets: Int32Array.of(1, 1, 1, 2) }, 'offsets');
  bad({ rows: Int32Array.of(0, 2) }, 'rows');
  bad({ rows: Int32Array.of(0) }, 'rows');
  bad({ weights: Float32Array.of(1) }, 'weights');
  bad({ experts: [] }, 'experts');
  const wrong = randomExperts(1, 8, 5, 'f32', 2)[0]!;
  bad({ experts: [experts[0]!, { ...experts[1]!, down: wrong.down }, experts[2]!] }, 'experts[1].down');
  const int8Bad = { format: 'int8', outDim: 4, inDim: 8, data: new Int8Array(32).fill(-128), scales: new Float32Array(4), groupSize: 8 } as const;
  bad({ experts: [experts[0]!, experts[1]!, { ...experts[2]!, up: int8Bad }] }, 'experts[2].up.data');
});
