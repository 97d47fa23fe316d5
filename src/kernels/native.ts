/**
 * The fast ComputeBackend: a thin typed layer over build/kernels.node (native/kernels/*.c), the
 * AVX2 / AVX-512 VNNI addon of ARCHITECTURE.md "Compute and memory". Every buffer is passed as a
 * view, so the addon reads weights and writes activations and KV blocks in place (no copies).
 * Arguments are validated here (native-checks.ts) because the C side trusts its pointers.
 */
import { availableParallelism } from 'node:os';
import { routerWeightRules, type RouterSpec } from '../config/model-spec.js';
import { loadNativeAddon } from '../core/native.js';
import type { ComputeBackend, ExpertWeights, KvArray, LinearWeight, MoeExpertsArgs, MoeRouteArgs, PagedAttentionArgs, PagedMlaArgs, RopeTable } from './backend.js';
import { bf16Panels, setPanelBudget } from './native-panels.js';
import { checkExpertShapes, checkInt, checkLength, checkLinear, checkMatmul, checkMoeExperts, checkMoeRoute, checkPagedAttention, checkPagedMla, checkPagedStatus, checkRope } from './native-checks.js';

type F32 = Float32Array;
type Nullable<T> = T | null;

/** The addon's exports (native/kernels/addon.c). */
export interface KernelsAddon {
  /** panels: the weight's prepared bf16 GEMM panels (native-panels.ts), or null/absent. */
  matmul(x: F32, format: number, w: Float32Array | Uint16Array | Int8Array, scales: Nullable<F32>, groupSize: number, outDim: number, inDim: number, bias: Nullable<F32>, y: F32, rows: number, numThreads: number, panels?: Nullable<Uint16Array>): void;
  /** dst [⌈outDim/8⌉, inDim, 8] bf16 ← w [outDim, inDim] bf16 (gemm_packed.c xds_pack_bf16_panels). */
  packBf16Panels(w: Uint16Array, outDim: number, inDim: number, dst: Uint16Array): void;
  rmsNorm(x: F32, weight: F32, eps: number, y: F32, rows: number, dim: number): void;
  siluMul(gate: F32, up: F32, out: F32, n: number): void;
  add(h: F32, y: F32, n: number): void;
  toBf16(src: F32, dst: Uint16Array, dstOffset: number, n: number): void;
  /** spec: [sigmoid, method, G, topkG, normalize, scale, normEps, scaling]. */
  moeRoute(logits: F32, numTokens: number, numExperts: number, k: number, spec: Float64Array, bias: F32 | null, experts: Int32Array, weights: F32): void;
  softmax(x: F32, rows: number, n: number): void;
  rope(x: F32, rows: number, rowStride: number, numHeads: number, headStride: number, offset: number, positions: Int32Array, invFreq: F32, attentionFactor: number, interleaved: number, dim: number): void;
  /** seqFirst/seqCount/seqTable: PagedSeqs (firstRow, numRows, tableStart), or nulls for one sequence. */
  pagedAttention(q: F32, out: F32, kCache: KvArray, vCache: KvArray, blockTable: Int32Array, positions: Int32Array, numTokens: number, numHeads: number, numKvHeads: number, headDim: number, headDimV: number, blockSizeTokens: number, scale: number, slidingWindow: number, numThreads: number,
    seqFirst?: Nullable<Int32Array>, seqCount?: Nullable<Int32Array>, seqTable?: Nullable<Int32Array>): number;
  /** As pagedAttention; ukT…absorbDims ([format, groupSize, outDim, inDim, dn, dv] of kv_b_proj): MlaAbsorb, or nulls. */
  pagedMla(q: F32, out: F32, latentCache: KvArray, blockTable: Int32Array, positions: Int32Array, numTokens: number, numHeads: number, kvLoraRank: number, ropeDim: number, blockSizeTokens: number, scale: number, numThreads: number,
    seqFirst?: Nullable<Int32Array>, seqCount?: Nullable<Int32Array>, seqTable?: Nullable<Int32Array>,
    ukT?: Nullable<F32>, kvB?: Nullable<F32 | Uint16Array | Int8Array>, kvBScales?: Nullable<F32>, kvBBias?: Nullable<F32>, absorbDims?: Nullable<Int32Array>): number;
  /** Pointers to every expert weight of a layer (meta: [3E·4] format, groupSize, outDim, inDim of gate, up, down per expert). */
  moePrepare(meta: Int32Array, data: readonly (F32 | Uint16Array | Int8Array)[], scales: readonly Nullable<F32>[], bias: readonly Nullable<F32>[]): MoeHandle;
  moeExperts(handle: MoeHandle, x: F32, out: F32, numTokens: number, dim: number, offsets: Int32Array, rows: Int32Array, weights: F32, numThreads: number): void;
  int8Min(data: Int8Array): number;
  /** Reads every byte of `bytes` once; returns the bytes read. */
  readProbe(bytes: Uint8Array, numThreads: number): number;
  /** Runs `iters` rounds of 12 independent 8-wide FMA chains per thread; returns FLOPs done. */
  fmaProbe(iters: number, numThreads: number): number;
  /** Process-wide settings; negative values leave a setting as is (0 too for the row thresholds). */
  configure(avx2Only: number, spinUs: number, gemmMinRowsFloat?: number, gemmMinRowsInt8?: number, moeMaxBufferBytes?: number): { vnni: boolean; hasVnni: boolean; workers: number };
}

/** An opaque addon handle (an N-API external) over one layer's expert weights. */
export interface MoeHandle { readonly __moeHandle: unique symbol }

/** A prepared expert set; `experts` keeps the weight arrays the handle points into alive. */
interface PreparedExperts { readonly handle: MoeHandle; readonly D: number; readonly experts: readonly ExpertWeights[] }

/** Per expert array (one per MoE layer, immutable): validated once, pointers taken once. */
const preparedExperts = new WeakMap<readonly ExpertWeights[], PreparedExperts>();

function prepareExperts(addon: KernelsAddon, experts: readonly ExpertWeights[]): PreparedExperts {
  const known = preparedExperts.get(experts);
  if (known) return known;
  const D = checkExpertShapes(experts, (d) => addon.int8Min(d));
  const ws = experts.flatMap((e) => [e.gate, e.up, e.down]);
  const meta = Int32Array.from(ws.flatMap((w) => [FORMAT_CODE[w.format], w.format === 'int8' ? w.groupSize : 0, w.outDim, w.inDim]));
  const handle = addon.moePrepare(meta, ws.map((w) => w.data), ws.map((w) => (w.format === 'int8' ? w.scales : null)), ws.map((w) => w.bias ?? null));
  const p: PreparedExperts = { handle, D, experts };
  preparedExperts.set(experts, p);
  return p;
}

export interface NativeBackendOptions {
  /** Threads per kernel call (the caller plus pool workers); default: the cores available. */
  readonly numThreads?: number;
  /** Never use the AVX-512 VNNI variants (process-wide; for tests and benchmarks). */
  readonly avx2Only?: boolean;
  /** How long idle pool workers spin before parking, µs (process-wide; default 50). */
  readonly spinUs?: number;
  /**
   * int8 weights with several rows (prefill): 'q8' (default) quantizes activations as in decode
   * (fastest; per-32 weights still switch to the dequantizing GEMM from 48 rows, where it wins);
   * 'dequant' dequantizes weights into the f32 packed GEMM from 2 rows on (f32 activations, more
   * accurate). Process-wide.
   */
  readonly int8Prefill?: 'q8' | 'dequant';
  /**
   * Bytes of bf16 weights this JS thread may copy into the packed GEMM's panel layout at their
   * first GEMM-sized call (native-panels.ts); 0 turns the copies off. Default: 1/8 of the host's
   * memory. Thread-wide (the last backend created with the option sets it).
   */
  readonly panelBudgetBytes?: number;
}

const INT8_GEMM_ROWS = { q8: 1 << 30, dequant: 2 } as const;

const FORMAT_CODE = { f32: 0, bf16: 1, int8: 2 } as const;

const ROUTE_METHOD = { topk: 0, group_limited_greedy: 1, noaux_tc: 2 } as const;

/** router.c's xds_router_spec as numbers (the weight rules applied: normalize / scale flags). */
function routerSpecWords(spec: RouterSpec, k: number): Float64Array {
  const { normalize, scale } = routerWeightRules(spec, k);
  return Float64Array.of(spec.scoring === 'sigmoid' ? 1 : 0, ROUTE_METHOD[spec.method], spec.numGroups, spec.topkGroups, Number(normalize), Number(scale), spec.normEps, spec.routedScalingFactor);
}

/** The addon, or null (one warning from loadNativeAddon) when it is not built or fails to load. */
export function loadKernelsAddon(opts: { quiet?: boolean } = {}): KernelsAddon | null {
  return loadNativeAddon<KernelsAddon>('kernels', opts);
}

export function defaultNumThreads(): number {
  return Math.max(1, availableParallelism());
}

/** A ComputeBackend over the native addon, or null when the addon is unavailable. */
export function nativeBackend(opts: NativeBackendOptions & { quiet?: boolean } = {}): ComputeBackend | null {
  const addon = loadKernelsAddon({ quiet: opts.quiet });
  if (!addon) return null;
  const numThreads = opts.numThreads ?? defaultNumThreads();
  checkInt(numThreads, 'numThreads', 1);
  if (opts.panelBudgetBytes !== undefined) setPanelBudget(opts.panelBudgetBytes);
  addon.configure(opts.avx2Only === undefined ? -1 : Number(opts.avx2Only), opts.spinUs ?? -1, 0, opts.int8Prefill ? INT8_GEMM_ROWS[opts.int8Prefill] : 0);
  checkVnniOnce(addon);
  return new NativeBackend(addon, numThreads);
}

let vnniState: 'unchecked' | 'ok' | 'bad' = 'unchecked';

/**
 * NOTE: the VNNI int8 kernels could not be run where they were written (AVX2-only machine), so the
 * first backend on a VNNI CPU compares them once with the AVX2 kernels (integer dot products:
 * results must be bit-identical) and disables them, with a warning, if they differ.
 */
function checkVnniOnce(addon: KernelsAddon): void {
  if (vnniState === 'bad') addon.configure(1, -1);
  if (vnniState !== 'unchecked' || !addon.configure(-1, -1).vnni) return;
  const outDim = 8, inDim = 100;
  const data = Int8Array.from({ length: outDim * inDim }, (_, i) => ((i * 37) % 255) - 127);
  const x = Float32Array.from({ length: 3 * inDim }, (_, i) => Math.sin(i * 0.7));
  const results = [0, 1].map((avx2Only) => {
    addon.configure(avx2Only, -1);
    // 3 rows: the multi-row GEMVs; 1 row: the batch-1 streaming GEMVs (gemv_int8_stream.c).
    return [32, inDim].flatMap((gs) => [3, 1].map((rows) => {
      const y = new Float32Array(3 * outDim);
      addon.matmul(x, FORMAT_CODE.int8, data, new Float32Array(outDim * Math.ceil(inDim / gs)).fill(0.01), gs, outDim, inDim, null, y, rows, 1);
      return y;
    }));
  });
  const same = results[0]!.every((y, k) => y.every((v, i) => v === results[1]![k]![i]));
  addon.configure(same ? 0 : 1, -1);
  vnniState = same ? 'ok' : 'bad';
  if (!same) process.emitWarning('native kernels: the AVX-512 VNNI int8 kernels disagree with the AVX2 ones on this CPU; using AVX2');
}

class NativeBackend implements ComputeBackend {
  readonly name: string;
  constructor(private readonly addon: KernelsAddon, readonly numThreads: number) {
    this.name = `native(${addon.configure(-1, -1).vnni ? 'avx512-vnni' : 'avx2'}, ${numThreads} threads)`;
  }

  matmul(x: F32, w: LinearWeight, y: F32, rows: number): void {
    checkLinear(w, (d) => this.addon.int8Min(d));
    checkMatmul(x, w, y, rows);
    const scales = w.format === 'int8' ? w.scales : null;
    const groupSize = w.format === 'int8' ? w.groupSize : 0;
    this.addon.matmul(x, FORMAT_CODE[w.format], w.data, scales, groupSize, w.outDim, w.inDim, w.bias ?? null, y, rows, this.numThreads, bf16Panels(this.addon, w, rows));
  }

  rmsNorm(x: F32, weight: F32, eps: number, y: F32, rows: number, dim: number): void {
    checkInt(rows, 'rows');
    checkInt(dim, 'dim');
    checkLength(x, rows * dim, 'x');
    checkLength(y, rows * dim, 'y');
    checkLength(weight, dim, 'weight');
    this.addon.rmsNorm(x, weight, eps, y, rows, dim);
  }

  siluMul(gate: F32, up: F32, out: F32, n: number): void {
    checkInt(n, 'n');
    checkLength(gate, n, 'gate');
    checkLength(up, n, 'up');
    checkLength(out, n, 'out');
    this.addon.siluMul(gate, up, out, n);
  }

  add(h: F32, y: F32, n: number): void {
    checkInt(n, 'n');
    checkLength(h, n, 'h');
    checkLength(y, n, 'y');
    this.addon.add(h, y, n);
  }

  toBf16(src: F32, dst: Uint16Array, dstOffset: number): void {
    checkInt(dstOffset, 'dstOffset');
    checkLength(dst, dstOffset + src.length, 'dst');
    this.addon.toBf16(src, dst, dstOffset, src.length);
  }

  rope(x: F32, rows: number, rowStride: number, numHeads: number, headStride: number, offset: number, positions: Int32Array, table: RopeTable): void {
    checkRope(x, rows, rowStride, numHeads, headStride, offset, positions, table.dim, table.invFreq.length);
    const interleaved = table.layout === 'interleaved' ? 1 : 0;
    this.addon.rope(x, rows, rowStride, numHeads, headStride, offset, positions, table.invFreq, table.attentionFactor, interleaved, table.dim);
  }

  softmax(x: F32, rows: number, n: number): void {
    checkInt(rows, 'rows');
    checkInt(n, 'n');
    checkLength(x, rows * n, 'x');
    this.addon.softmax(x, rows, n);
  }

  pagedAttention(a: PagedAttentionArgs): void {
    const numTokens = checkPagedAttention(a);
    const s = a.seqs;
    checkPagedStatus(this.addon.pagedAttention(a.q, a.out, a.kCache, a.vCache, a.blockTable, a.positions, numTokens, a.numHeads, a.numKvHeads, a.headDim, a.headDimV, a.blockSizeTokens, a.scale, a.slidingWindow, this.numThreads,
      s?.firstRow ?? null, s?.numRows ?? null, s?.tableStart ?? null));
  }

  pagedMlaAttention(a: PagedMlaArgs): void {
    const numTokens = checkPagedMla(a, (d) => this.addon.int8Min(d));
    const s = a.seqs, ab = a.absorb, kvB = ab?.kvB;
    const dims = ab && kvB ? Int32Array.of(FORMAT_CODE[kvB.format], kvB.format === 'int8' ? kvB.groupSize : 0, kvB.outDim, kvB.inDim, ab.qkNopeHeadDim, ab.vHeadDim) : null;
    checkPagedStatus(this.addon.pagedMla(a.q, a.out, a.latentCache, a.blockTable, a.positions, numTokens, a.numHeads, a.kvLoraRank, a.ropeDim, a.blockSizeTokens, a.scale, this.numThreads,
      s?.firstRow ?? null, s?.numRows ?? null, s?.tableStart ?? null,
      ab?.ukT ?? null, kvB?.data ?? null, kvB?.format === 'int8' ? kvB.scales : null, kvB?.bias ?? null, dims));
  }

  moeRoute(a: MoeRouteArgs): void {
    checkMoeRoute(a);
    this.addon.moeRoute(a.logits, a.numTokens, a.numExperts, a.k, routerSpecWords(a.spec, a.k), a.spec.method === 'noaux_tc' ? a.bias : null, a.experts, a.weights);
  }

  moeExperts(a: MoeExpertsArgs): void {
    const p = prepareExperts(this.addon, a.experts);
    checkMoeExperts(a, p.D);
    this.addon.moeExperts(p.handle, a.x, a.out, a.numTokens, p.D, a.offsets, a.rows, a.weights, this.numThreads);
  }
}
