/**
 * Weight quantization at load (paper §2.8 INT8; issue 3 "--quantization int8"): f32 or bf16
 * linear weights become int8 with one f32 scale per output channel or per 32-block, symmetric,
 * values in [-127, 127] (the native int8 kernels rely on that range), stored in shared memory.
 * Plus the size report the CLI prints after quantizing a checkpoint once.
 */
import { XdsError } from '../core/errors.js';
import type { LinearWeight } from './backend.js';
import { SharedArena, sharedSlice } from '../core/huge-pages.js';
import { weightRow } from './reference.js';

/** Quantizes one [outDim, inDim] weight; groupSize 'channel' = one scale per output row. `arena`: where data and scales go (default: buffers of their own). */
export function quantizeLinearInt8(w: LinearWeight, groupSize: number | 'channel', arena?: SharedArena): LinearWeight {
  const gs = groupSize === 'channel' ? w.inDim : groupSize;
  if (!Number.isInteger(gs) || gs <= 0 || (gs % 32 !== 0 && gs < w.inDim)) {
    throw new XdsError('invalid_argument', `groupSize must be 'channel' or a positive multiple of 32, got ${String(groupSize)}`, { param: 'groupSize' });
  }
  const groups = Math.ceil(w.inDim / gs);
  const d = sharedSlice(w.outDim * w.inDim, arena), s = sharedSlice(w.outDim * groups * 4, arena);
  const data = new Int8Array(d.buffer, d.byteOffset, w.outDim * w.inDim); // [outDim, inDim] int8
  const scales = new Float32Array(s.buffer, s.byteOffset, w.outDim * groups); // [outDim, groups] f32
  const row = new Float32Array(w.inDim); // one dequantized source row
  for (let o = 0; o < w.outDim; o++) {
    weightRow(w, o, row);
    for (let g = 0; g < groups; g++) quantizeGroup(row, g * gs, Math.min(w.inDim, (g + 1) * gs), data, o * w.inDim, scales, o * groups + g);
  }
  const q: LinearWeight = { format: 'int8', outDim: w.outDim, inDim: w.inDim, data, scales, groupSize: gs, ...(w.bias ? { bias: w.bias } : {}) };
  return q;
}

function quantizeGroup(row: Float32Array, i0: number, i1: number, data: Int8Array, base: number, scales: Float32Array, s: number): void {
  let amax = 0;
  for (let i = i0; i < i1; i++) amax = Math.max(amax, Math.abs(row[i]!));
  const scale = Math.fround(amax / 127);
  scales[s] = scale;
  if (scale === 0) return;
  for (let i = i0; i < i1; i++) data[base + i] = Math.max(-127, Math.min(127, Math.round(row[i]! / scale)));
}

/** Bytes a weight occupies in memory (data, scales, bias). */
export function linearWeightBytes(w: LinearWeight): number {
  const bias = w.bias ? w.bias.byteLength : 0;
  return w.data.byteLength + (w.format === 'int8' ? w.scales.byteLength : 0) + bias;
}

export interface QuantizationReport {
  readonly kind: 'quantization_report';
  readonly numWeights: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

/** Sums the sizes of the same weights before and after quantization. */
export function quantizationReport(before: readonly LinearWeight[], after: readonly LinearWeight[]): QuantizationReport {
  const sum = (ws: readonly LinearWeight[]): number => ws.reduce((a, w) => a + linearWeightBytes(w), 0);
  return { kind: 'quantization_report', numWeights: before.length, bytesBefore: sum(before), bytesAfter: sum(after) };
}

/** One line for the CLI, e.g. "int8: 14 linear weights, 12.6 MiB → 3.3 MiB (3.8× smaller)". */
export function formatQuantizationReport(r: QuantizationReport): string {
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const ratio = r.bytesAfter > 0 ? (r.bytesBefore / r.bytesAfter).toFixed(1) : '∞';
  return `int8: ${r.numWeights} linear weights, ${mib(r.bytesBefore)} → ${mib(r.bytesAfter)} (${ratio}× smaller)`;
}

function isFloatLinear(v: unknown): v is LinearWeight {
  if (typeof v !== 'object' || v === null) return false;
  const w = v as Partial<LinearWeight>;
  return (w.format === 'f32' || w.format === 'bf16') && typeof w.outDim === 'number' && typeof w.inDim === 'number' && ArrayBuffer.isView(w.data);
}

export interface QuantizeTreeOptions {
  /** Object keys whose weights stay as they are (default: the MoE router and the embedding table). */
  readonly skipKeys?: readonly string[];
}

/**
 * Quantizes every f32/bf16 LinearWeight reachable from `root` (plain objects and arrays, e.g. a
 * model's bound weights), returning a new tree and the size report. A weight reached twice (tied
 * embeddings used as the LM head) is quantized once. Typed arrays and other leaves are shared.
 */
export function quantizeLinearTree<T>(root: T, groupSize: number | 'channel', opts: QuantizeTreeOptions = {}): { readonly weights: T; readonly report: QuantizationReport } {
  const skip = new Set(opts.skipKeys ?? ['router', 'embed']);
  const done = new Map<LinearWeight, LinearWeight>();
  const arena = new SharedArena(8 << 20); // the tree's weights live and die together
  const walk = (v: unknown, key: string): unknown => {
    if (isFloatLinear(v)) {
      if (skip.has(key)) return v;
      const q = done.get(v) ?? quantizeLinearInt8(v, groupSize, arena);
      done.set(v, q);
      return q;
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, key));
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
  };
  const weights = walk(root, '') as T;
  return { weights, report: quantizationReport([...done.keys()], [...done.values()]) };
}
