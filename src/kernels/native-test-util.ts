/**
 * Helpers for the native-backend tests (native-*.test.ts): seeded random buffers in shared
 * memory, the backend under test (AVX2 and, where the CPU has it, VNNI), and error measures.
 */
import type { ComputeBackend } from './backend.js';
import { loadKernelsAddon, nativeBackend } from './native.js';
import { mulberry32 } from '../core/testing/random.js';

/** Deterministic uniform values in [-1, 1) (mulberry32). */
export function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() * 2 - 1;
}

/** A Float32Array view at a non-zero offset into a SharedArrayBuffer, filled from rand. */
export function sharedF32(n: number, rand: () => number, scale = 1): Float32Array {
  const a = new Float32Array(new SharedArrayBuffer((n + 3) * 4), 12, n);
  for (let i = 0; i < n; i++) a[i] = rand() * scale;
  return a;
}

/** The native backend; throws (test failure) when the addon is not built, unless XDS_NO_NATIVE=1. */
export function requireNative(numThreads: number, avx2Only = false): ComputeBackend | null {
  const b = nativeBackend({ numThreads, avx2Only, quiet: true });
  if (!b && process.env.XDS_NO_NATIVE !== '1') throw new Error('build/kernels.node is missing: run npm run build:native');
  return b;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** The instruction-set variants this CPU can run: AVX2 always, plus the VNNI default where present. */
export function isaVariants(): boolean[] {
  const addon = loadKernelsAddon({ quiet: true });
  return addon?.configure(-1, -1).hasVnni ? [true, false] : [true];
}
