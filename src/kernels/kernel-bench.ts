/**
 * Measurements behind `xdeepserve bench kernels` (issue 3; CPU-FACTS.md §1–§2 method): each
 * kernel's median per-call time turned into GB/s (weights or KV bytes read) or GFLOP/s, next to a
 * memory-read probe and a peak-FMA probe run in the same process, reported as fractions (the
 * host is noisy: ratios measured together are what can be compared). GEMVs rotate over enough
 * matrices (≥ 128 MiB) that every call streams its weights from DRAM, as in real decode.
 */
import { performance } from 'node:perf_hooks';
import { hugePageBuffer, hugePageBytesAdvised } from '../core/huge-pages.js';
import type { ComputeBackend, ExpertWeights, LinearWeight, MoeExpertsArgs } from './backend.js';
import { moeExpertsLoop } from './moe-experts.js';
import type { KernelsAddon } from './native.js';

export interface KernelBenchOptions {
  readonly numThreads: number;
  /** Square weight side (default 4096). */
  readonly dim: number;
  /** Measuring time per kernel, s. */
  readonly seconds: number;
  /** Bytes each GEMV rotation and the read probe cover (default 128 MiB). */
  readonly coldBytes: number;
}

export interface KernelFigure {
  readonly kind: 'kernel_figure';
  readonly name: string;
  readonly unit: 'GB/s' | 'GFLOP/s';
  readonly value: number;
  /** The probe this kernel is compared with (read GB/s or FMA GFLOP/s). */
  readonly ceiling: number;
  readonly fraction: number;
  readonly medianUs: number;
}

export interface KernelBenchReport {
  readonly kind: 'kernel_bench';
  readonly backend: string;
  readonly numThreads: number;
  readonly readProbeGBs: number;
  readonly fmaProbeGFlops: number;
  /** Whether the weights and the read probe's buffer were on huge pages, as the served model's are (XDS_HUGE_PAGES=0: not). */
  readonly hugePages: boolean;
  readonly figures: KernelFigure[];
}

/** Median seconds per call of fn(i) over ≥ 5 calls and about `seconds` in total (2 warm-ups). */
export function medianSeconds(fn: (i: number) => void, seconds: number): number {
  fn(0);
  fn(1);
  const times: number[] = [];
  const end = performance.now() + seconds * 1000;
  for (let i = 2; times.length < 5 || performance.now() < end; i++) {
    const t0 = performance.now();
    fn(i);
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
}

/** A shared buffer of `bytes` (huge pages, as the product's weights) filled cheaply with non-trivial data (a 64 KiB pattern repeated). */
function sharedBytes(bytes: number, seed: number): Uint8Array {
  const u8 = new Uint8Array(hugePageBuffer(bytes));
  const pattern = new Uint8Array(65536);
  let s = seed;
  for (let i = 0; i < pattern.length; i++) { s = (s * 1103515245 + 12345) >>> 0; pattern[i] = (((s >>> 16) % 255) - 127) & 255; } // as int8: [-127, 127]
  for (let off = 0; off < bytes; off += pattern.length) u8.set(pattern.subarray(0, Math.min(pattern.length, bytes - off)), off);
  return u8;
}

type Format = LinearWeight['format'];

/** `count` weights of one format over one shared buffer; f32 values are small, int8 in [-127, 127]. */
function makeWeights(format: Format, dim: number, count: number, groupSize: number): LinearWeight[] {
  const elem = format === 'f32' ? 4 : format === 'bf16' ? 2 : 1;
  const raw = sharedBytes(dim * dim * elem * count, 7);
  if (format === 'f32') for (let i = 3; i < raw.length; i += 4) raw[i] = 0x3c; // exponent byte: |w| ≈ 0.01
  if (format === 'bf16') for (let i = 1; i < raw.length; i += 2) raw[i] = 0x3c;
  const out: LinearWeight[] = [];
  for (let c = 0; c < count; c++) {
    const off = c * dim * dim * elem;
    if (format === 'f32') out.push({ format, outDim: dim, inDim: dim, data: new Float32Array(raw.buffer, off, dim * dim) });
    else if (format === 'bf16') out.push({ format, outDim: dim, inDim: dim, data: new Uint16Array(raw.buffer, off, dim * dim) });
    else out.push({ format, outDim: dim, inDim: dim, data: new Int8Array(raw.buffer, off, dim * dim), scales: new Float32Array(dim * Math.ceil(dim / groupSize)).fill(0.01), groupSize });
  }
  return out;
}

function figure(name: string, unit: KernelFigure['unit'], work: number, sec: number, ceiling: number): KernelFigure {
  const value = work / sec / 1e9;
  return { kind: 'kernel_figure', name, unit, value, ceiling, fraction: value / ceiling, medianUs: sec * 1e6 };
}

export function readProbeGBs(addon: KernelsAddon, o: KernelBenchOptions): number {
  const buf = sharedBytes(o.coldBytes, 3);
  let bytes = 0;
  const sec = medianSeconds(() => { bytes = addon.readProbe(buf, o.numThreads); }, o.seconds);
  return bytes / sec / 1e9;
}

export function fmaProbeGFlops(addon: KernelsAddon, o: KernelBenchOptions): number {
  let flops = 0;
  const sec = medianSeconds(() => { flops = addon.fmaProbe(2_000_000, o.numThreads); }, o.seconds);
  return flops / sec / 1e9;
}

function gemvFigure(backend: ComputeBackend, name: string, format: Format, groupSize: number, o: KernelBenchOptions, readGBs: number): KernelFigure {
  const elem = format === 'f32' ? 4 : format === 'bf16' ? 2 : 1;
  const count = Math.max(2, Math.ceil(o.coldBytes / (o.dim * o.dim * elem)));
  const ws = makeWeights(format, o.dim, count, groupSize);
  const x = new Float32Array(o.dim).fill(0.5), y = new Float32Array(o.dim);
  const sec = medianSeconds((i) => backend.matmul(x, ws[i % count]!, y, 1), o.seconds);
  return figure(name, 'GB/s', o.dim * o.dim * elem, sec, readGBs);
}

function gemmFigure(backend: ComputeBackend, name: string, format: Format, rows: number, o: KernelBenchOptions, fmaGFlops: number): KernelFigure {
  const w = makeWeights(format, o.dim, 1, 32)[0]!;
  const x = new Float32Array(rows * o.dim).fill(0.25), y = new Float32Array(rows * o.dim);
  const sec = medianSeconds(() => backend.matmul(x, w, y, rows), o.seconds);
  return figure(name, 'GFLOP/s', 2 * rows * o.dim * o.dim, sec, fmaGFlops);
}

/** Decode attention over `ctx` cached tokens (GQA 32/8 heads × 128, and MLA 16 heads, R 512 + 64). */
function attentionFigures(backend: ComputeBackend, o: KernelBenchOptions, readGBs: number): KernelFigure[] {
  const ctx = 2048, bs = 16, blockTable = Int32Array.from({ length: ctx / bs }, (_, i) => i), positions = Int32Array.of(ctx - 1);
  const H = 32, Hkv = 8, D = 128;
  const kv = new Float32Array(ctx * Hkv * D).map((_, i) => ((i * 7919) % 1000) * 1e-5); // [ctx, Hkv, D] f32
  const gqa = { q: new Float32Array(H * D).fill(0.01), out: new Float32Array(H * D), kCache: kv, vCache: kv, blockTable, positions, numHeads: H, numKvHeads: Hkv, headDim: D, headDimV: D, blockSizeTokens: bs, scale: 0.088, slidingWindow: 0 };
  const g = medianSeconds(() => backend.pagedAttention(gqa), o.seconds);
  const Hm = 16, W = 576;
  const latentCache = new Float32Array(ctx * W).fill(0.01);
  const mla = { q: new Float32Array(Hm * W).fill(0.01), out: new Float32Array(Hm * 512), latentCache, blockTable, positions, numHeads: Hm, kvLoraRank: 512, ropeDim: 64, blockSizeTokens: bs, scale: 0.135 };
  const m = medianSeconds(() => backend.pagedMlaAttention(mla), o.seconds);
  return [figure(`attention GQA decode 32/8×128, ctx ${ctx}`, 'GB/s', 2 * ctx * Hkv * D * 4, g, readGBs), figure(`attention MLA decode 16 heads, ctx ${ctx}`, 'GB/s', ctx * W * 4, m, readGBs)];
}

/**
 * One layer's absorbed MLA decode for 32 sequences in one call (the `small` preset's shape: 8 heads,
 * R 256, dn = dv = 64, dr 32; contexts 16–47, one block table each), in GFLOP/s of W_UK, attention
 * and W_UV work together.
 */
function mlaBatchFigure(backend: ComputeBackend, o: KernelBenchOptions, fmaGFlops: number): KernelFigure {
  const S = 32, H = 8, R = 256, dn = 64, dv = 64, dr = 32, bs = 16, per = 3;
  const positions = Int32Array.from({ length: S }, (_, s) => 16 + s);
  const seqs = { firstRow: Int32Array.from({ length: S }, (_, s) => s), numRows: new Int32Array(S).fill(1), tableStart: Int32Array.from({ length: S + 1 }, (_, s) => s * per) };
  const blockTable = Int32Array.from({ length: S * per }, (_, i) => i);
  const kvB: LinearWeight = { format: 'bf16', outDim: H * (dn + dv), inDim: R, data: new Uint16Array(H * (dn + dv) * R).fill(0x3c23) }; // |w| ≈ 0.01
  const args = {
    q: new Float32Array(S * H * (dn + dr)).fill(0.01), out: new Float32Array(S * H * dv), latentCache: new Float32Array(S * per * bs * (R + dr)).fill(0.01),
    blockTable, positions, seqs, numHeads: H, kvLoraRank: R, ropeDim: dr, blockSizeTokens: bs, scale: 0.1,
    absorb: { ukT: new Float32Array(H * R * dn).fill(0.01), kvB, qkNopeHeadDim: dn, vHeadDim: dv },
  };
  const sec = medianSeconds(() => backend.pagedMlaAttention(args), o.seconds);
  let flops = 2 * S * H * R * (dn + dv);
  for (const p of positions) flops += 2 * (p + 1) * H * (2 * R + dr);
  return figure(`MLA absorbed decode, 32 sequences in one call (small preset shape)`, 'GFLOP/s', flops, sec, fmaGFlops);
}

/** `numLayers` expert sets of E experts (gate/up [I, D], down [D, I], bf16) over one shared buffer. */
function makeExpertLayers(E: number, D: number, I: number, numLayers: number): ExpertWeights[][] {
  const per = I * D, raw = sharedBytes(numLayers * E * 3 * per * 2, 11);
  for (let i = 1; i < raw.length; i += 2) raw[i] = 0x3c; // bf16 exponent byte: |w| ≈ 0.01
  const w = (l: number, e: number, j: number, outDim: number, inDim: number): LinearWeight =>
    ({ format: 'bf16', outDim, inDim, data: new Uint16Array(raw.buffer, ((l * E + e) * 3 + j) * per * 2, per) });
  return Array.from({ length: numLayers }, (_, l) => Array.from({ length: E }, (_, e) => ({ gate: w(l, e, 0, I, D), up: w(l, e, 1, I, D), down: w(l, e, 2, D, I) })));
}

/** Top-k of E experts per token (distinct, pseudo-random), grouped by expert; also the number of active experts. */
function expertGroups(T: number, E: number, k: number): { offsets: Int32Array; rows: Int32Array; weights: Float32Array; numActive: number } {
  const picks: [number, number][] = [];
  let s = 12345;
  for (let t = 0; t < T; t++) {
    const chosen = new Set<number>();
    while (chosen.size < k) { s = (s * 1103515245 + 12345) >>> 0; chosen.add((s >>> 8) % E); }
    for (const e of chosen) picks.push([e, t]);
  }
  picks.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const offsets = new Int32Array(E + 1);
  for (const [e] of picks) offsets[e + 1]!++;
  for (let e = 0; e < E; e++) offsets[e + 1]! += offsets[e]!;
  const numActive = new Set(picks.map(([e]) => e)).size;
  return { offsets, rows: Int32Array.from(picks, ([, t]) => t), weights: new Float32Array(picks.length).fill(1 / k), numActive };
}

/**
 * The routed experts of a MoE layer as at decode (the `small` DeepSeek-V3 preset at dim 4096:
 * 64 experts [64×1024] bf16, top-6), layers rotated over ≥ coldBytes: one moeExperts call, and
 * (32 tokens) the per-expert matmul loop it replaces. GB/s of the active experts' weights.
 */
function moeFigures(backend: ComputeBackend, o: KernelBenchOptions, readGBs: number): KernelFigure[] {
  const E = 64, k = 6, D = Math.min(1024, o.dim), I = Math.max(1, D >> 4);
  const layers = makeExpertLayers(E, D, I, Math.max(2, Math.ceil(o.coldBytes / (E * 3 * I * D * 2))));
  const one = (T: number, name: string, run: (a: MoeExpertsArgs) => void): KernelFigure => {
    const g = expertGroups(T, E, k), x = new Float32Array(T * D).fill(0.5), out = new Float32Array(T * D);
    const sec = medianSeconds((i) => run({ x, out, numTokens: T, ...g, experts: layers[i % layers.length]! }), o.seconds);
    return figure(`MoE ${E}×[${I}×${D}] bf16 top-${k}, ${T} tok, ${name}`, 'GB/s', g.numActive * 3 * I * D * 2, sec, readGBs);
  };
  const fused = (a: MoeExpertsArgs): void => (backend.moeExperts ? backend.moeExperts(a) : moeExpertsLoop(backend, a));
  return [one(1, 'one call', fused), one(32, 'one call', fused), one(32, 'matmul per expert', (a) => moeExpertsLoop(backend, a))];
}

function elementwiseFigures(backend: ComputeBackend, o: KernelBenchOptions, readGBs: number): KernelFigure[] {
  const rows = 64, x = new Float32Array(rows * o.dim).fill(0.3), w = new Float32Array(o.dim).fill(1), y = new Float32Array(rows * o.dim);
  const r = medianSeconds(() => backend.rmsNorm(x, w, 1e-6, y, rows, o.dim), o.seconds);
  const u = new Float32Array(rows * o.dim).fill(0.7);
  const s = medianSeconds(() => backend.siluMul(x, u, y, rows * o.dim), o.seconds);
  return [figure(`rmsNorm ${rows}×${o.dim}`, 'GB/s', 2 * rows * o.dim * 4, r, readGBs), figure(`siluMul ${rows}×${o.dim}`, 'GB/s', 3 * rows * o.dim * 4, s, readGBs)];
}

/**
 * NOTE: the host's load changes within seconds, so each kernel's ceiling is the mean of the probe
 * measured right before and right after it; the report's probe figures are the medians of those.
 */
export function runKernelBench(backend: ComputeBackend, addon: KernelsAddon, o: KernelBenchOptions): KernelBenchReport {
  const reads: number[] = [], fmas: number[] = [];
  const probe = (which: 'read' | 'fma'): number => {
    const v = which === 'read' ? readProbeGBs(addon, o) : fmaProbeGFlops(addon, o);
    (which === 'read' ? reads : fmas).push(v);
    return v;
  };
  const near = (which: 'read' | 'fma', run: (ceiling: number) => KernelFigure): KernelFigure => {
    const before = probe(which), f = run(1), after = probe(which), ceiling = (before + after) / 2;
    return { ...f, ceiling, fraction: f.value / ceiling };
  };
  const figures = [
    near('read', (c) => gemvFigure(backend, `GEMV int8×q8 per-32 ${o.dim}²`, 'int8', 32, o, c)),
    near('read', (c) => gemvFigure(backend, `GEMV int8×q8 per-channel ${o.dim}²`, 'int8', o.dim, o, c)),
    near('read', (c) => gemvFigure(backend, `GEMV bf16 ${o.dim}²`, 'bf16', 0, o, c)),
    near('read', (c) => gemvFigure(backend, `GEMV f32 ${o.dim}²`, 'f32', 0, o, c)),
    near('fma', (c) => gemmFigure(backend, `GEMM f32 64×${o.dim}×${o.dim} (packed)`, 'f32', 64, o, c)),
    near('fma', (c) => gemmFigure(backend, `GEMM bf16 64×${o.dim}×${o.dim} (packed)`, 'bf16', 64, o, c)),
    near('fma', (c) => gemmFigure(backend, `GEMM bf16 32×${o.dim}×${o.dim} (packed, decode batch 32)`, 'bf16', 32, o, c)),
    near('fma', (c) => gemmFigure(backend, `int8 64×${o.dim}×${o.dim} (q8 GEMV rows, prefill)`, 'int8', 64, o, c)),
    near('fma', (c) => gemmFigure(backend, `GEMV f32 4×${o.dim}×${o.dim} (small batch)`, 'f32', 4, o, c)),
    ...attentionFigures(backend, o, probe('read')),
    near('fma', (c) => mlaBatchFigure(backend, o, c)),
    ...moeFigures(backend, o, probe('read')),
    ...elementwiseFigures(backend, o, probe('read')),
  ];
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  return { kind: 'kernel_bench', backend: backend.name, numThreads: o.numThreads, readProbeGBs: med(reads), fmaProbeGFlops: med(fmas), hugePages: hugePageBytesAdvised() > 0, figures };
}
