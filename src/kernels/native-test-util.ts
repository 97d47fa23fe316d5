/**
 * Helpers for the native-backend tests (native-*.test.ts): seeded random buffers in shared
 * memory, the backend under test (AVX2 and, where the CPU has it, VNNI), and error measures.
 */
import type { ComputeBackend } from './backend.js';
import { loadKernelsAddon, nativeBackend } from './native.js';
import type { PagedSeqs } from './backend.js';
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

/** A multi-sequence paged layout for the attention tests. */
export interface Layout { readonly seqs: PagedSeqs; readonly blockTable: Int32Array; readonly positions: Int32Array; readonly numRows: number; readonly numBlocks: number }

/** Sequences with `contexts[s]` cached tokens and `rows[s]` query rows each, one row gap after every third. */
export function randomLayout(contexts: readonly number[], rows: readonly number[], bs: number, seed: number): Layout {
  const rand = mulberry32(seed);
  const need = contexts.map((c, s) => Math.ceil((c + rows[s]!) / bs) + (s % 2)); // some tables longer than needed
  const numBlocks = need.reduce((a, b) => a + b, 0) + 3;
  const perm = Int32Array.from({ length: numBlocks }, (_, i) => i);
  for (let i = numBlocks - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [perm[i], perm[j]] = [perm[j]!, perm[i]!]; }
  const S = contexts.length, firstRow = new Int32Array(S), numRows = Int32Array.from(rows), tableStart = new Int32Array(S + 1);
  const pos: number[] = [];
  for (let s = 0; s < S; s++) {
    if (s % 3 === 2) pos.push(0); // a row no sequence owns
    firstRow[s] = pos.length;
    for (let k = 0; k < rows[s]!; k++) pos.push(contexts[s]! + k);
    tableStart[s + 1] = tableStart[s]! + need[s]!;
  }
  return { seqs: { firstRow, numRows, tableStart }, blockTable: perm.slice(0, tableStart[S]!), positions: Int32Array.from(pos), numRows: pos.length, numBlocks };
}
