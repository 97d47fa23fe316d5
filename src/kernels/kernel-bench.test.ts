/**
 * `bench kernels` plumbing, not timing (benchmarks are commands that print figures): on tiny
 * shapes every kernel is reported with a positive value, a positive ceiling and fraction =
 * value / ceiling.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKernelBench, medianSeconds } from './kernel-bench.js';
import { loadKernelsAddon, nativeBackend } from './native.js';

test('runKernelBench reports every kernel against its probe', { skip: !loadKernelsAddon({ quiet: true }) }, () => {
  const r = runKernelBench(nativeBackend({ numThreads: 1, quiet: true })!, loadKernelsAddon()!, { numThreads: 1, dim: 64, seconds: 0.001, coldBytes: 1 << 20 });
  assert.equal(r.kind, 'kernel_bench');
  assert.ok(r.readProbeGBs > 0 && r.fmaProbeGFlops > 0);
  assert.equal(r.figures.length, 17);
  for (const f of r.figures) {
    assert.ok(f.value > 0 && f.ceiling > 0 && Number.isFinite(f.medianUs), f.name);
    assert.ok(Math.abs(f.fraction - f.value / f.ceiling) < 1e-12, f.name);
  }
  assert.ok(r.figures.some((f) => f.name.startsWith('GEMV int8×q8 per-channel') && f.unit === 'GB/s'));
});

test('medianSeconds runs at least 5 timed calls after 2 warm-ups', () => {
  const calls: number[] = [];
  medianSeconds((i) => calls.push(i), 0);
  assert.deepEqual(calls, [0, 1, 2, 3, 4, 5, 6]);
});
