/**
 * Argument checks for the native backend (src/kernels/native.ts). The addon trusts its pointers,
 * so every length the C code will touch is checked here first: bad input becomes an XdsError
 * naming the field instead of a segfault. All checks are O(1) per call; a weight is checked once
 * (including the scan of int8 data for -128) and remembered.
 */
import { XdsError } from '../core/errors.js';
import type { ExpertWeights, LinearWeight, MlaAbsorb, MoeExpertsArgs, MoeRouteArgs, PagedAttentionArgs, PagedMlaArgs, PagedSeqs } from './backend.js';

function fail(param: string, message: string): never {
  throw new XdsError('invalid_argument', `${param}: ${message}`, { param });
}

export function checkInt(value: number, param: string, min = 0): void {
  if (!Number.isInteger(value) || value < min) fail(param, `must be an integer ≥ ${min}, got ${value}`);
}

export function checkLength(arr: ArrayLike<number>, needed: number, param: string): void {
  if (arr.length < needed) fail(param, `has ${arr.length} elements, needs at least ${needed}`);
}

/** Number of scale groups per output row of an int8 weight. */
export function int8Groups(w: { inDim: number; groupSize: number }): number {
  return Math.ceil(w.inDim / w.groupSize);
}

const checkedInt8 = new WeakMap<Int8Array, boolean>();

const checkedWeights = new WeakSet<LinearWeight>();

/**
 * Validates a weight once (weights are immutable; the result is cached per weight object), incl.
 * that an int8 weight holds no -128 (see gemv_int8.c).
 */
export function checkLinear(w: LinearWeight, int8Min: (d: Int8Array) => number): void {
  if (checkedWeights.has(w)) return;
  checkLinearOnce(w, int8Min);
  checkedWeights.add(w);
}

function checkLinearOnce(w: LinearWeight, int8Min: (d: Int8Array) => number): void {
  checkInt(w.outDim, 'weight.outDim');
  checkInt(w.inDim, 'weight.inDim');
  checkLength(w.data, w.outDim * w.inDim, 'weight.data');
  if (w.bias) checkLength(w.bias, w.outDim, 'weight.bias');
  if (w.format !== 'int8') return;
  checkInt(w.groupSize, 'weight.groupSize', 1);
  if (w.groupSize % 32 !== 0 && w.groupSize < w.inDim) fail('weight.groupSize', `must be a multiple of 32 or ≥ inDim (${w.inDim}), got ${w.groupSize}`);
  checkLength(w.scales, w.outDim * int8Groups(w), 'weight.scales');
  if (!checkedInt8.has(w.data)) {
    if (int8Min(w.data) < -127) fail('weight.data', 'int8 weights must lie in [-127, 127] (use quantizeLinearInt8)');
    checkedInt8.set(w.data, true);
  }
}

export function checkMatmul(x: Float32Array, w: LinearWeight, y: Float32Array, rows: number): void {
  checkInt(rows, 'rows');
  checkLength(x, rows * w.inDim, 'x');
  checkLength(y, rows * w.outDim, 'y');
}

export function checkRope(x: Float32Array, rows: number, rowStride: number, numHeads: number, headStride: number, offset: number, positions: Int32Array, dim: number, invFreqLength: number): void {
  for (const [v, p] of [[rows, 'rows'], [rowStride, 'rowStride'], [numHeads, 'numHeads'], [headStride, 'headStride'], [offset, 'offset']] as const) checkInt(v, p);
  if (dim % 2 !== 0 || dim > 2 * invFreqLength) fail('table.dim', `must be even and ≤ 2·invFreq.length, got ${dim}`);
  checkLength(positions, rows, 'positions');
  if (rows > 0 && numHeads > 0) checkLength(x, (rows - 1) * rowStride + (numHeads - 1) * headStride + offset + dim, 'x');
}

/** Rows the call touches: all of positions, or up to the end of the last sequence (checked). */
function checkPagedRows(positions: Int32Array, blockTable: Int32Array, seqs: PagedSeqs | undefined): number {
  if (seqs === undefined) return positions.length;
  const S = seqs.firstRow.length;
  checkLength(seqs.numRows, S, 'seqs.numRows');
  checkLength(seqs.tableStart, S + 1, 'seqs.tableStart');
  let end = 0;
  for (let s = 0; s < S; s++) {
    const first = seqs.firstRow[s]!, n = seqs.numRows[s]!, t0 = seqs.tableStart[s]!, t1 = seqs.tableStart[s + 1]!;
    if (first < end) fail('seqs.firstRow', `sequence ${s} starts at row ${first}, before the end (${end}) of the previous one`);
    if (n < 0) fail('seqs.numRows', `numRows[${s}] = ${n} is negative`);
    if (t0 < 0 || t1 < t0 || t1 > blockTable.length) fail('seqs.tableStart', `sequence ${s}'s table [${t0}, ${t1}) is not inside blockTable (${blockTable.length})`);
    end = first + n;
  }
  return end;
}

function checkCommonPaged(q: Float32Array, out: Float32Array, positions: Int32Array, numTokens: number, qWidth: number, outWidth: number, blockSizeTokens: number): void {
  checkInt(blockSizeTokens, 'blockSizeTokens', 1);
  checkLength(q, numTokens * qWidth, 'q');
  checkLength(out, numTokens * outWidth, 'out');
  checkLength(positions, numTokens, 'positions');
}

/** Number of query rows the call spans (positions, or to the end of the last of `seqs`); checks everything the GQA kernel reads. */
export function checkPagedAttention(a: PagedAttentionArgs): number {
  for (const p of ['numHeads', 'numKvHeads', 'headDim', 'headDimV'] as const) checkInt(a[p], p, 1);
  checkInt(a.slidingWindow, 'slidingWindow');
  if (a.numHeads % a.numKvHeads !== 0) fail('numKvHeads', `must divide numHeads (${a.numHeads}), got ${a.numKvHeads}`);
  const numTokens = checkPagedRows(a.positions, a.blockTable, a.seqs);
  checkCommonPaged(a.q, a.out, a.positions, numTokens, a.numHeads * a.headDim, a.numHeads * a.headDimV, a.blockSizeTokens);
  if (a.kCache.constructor !== a.vCache.constructor) fail('vCache', `must have kCache's element type (${a.kCache.constructor.name}), got ${a.vCache.constructor.name}`);
  const numBlocks = Math.floor(a.kCache.length / (a.blockSizeTokens * a.numKvHeads * a.headDim));
  checkLength(a.vCache, numBlocks * a.blockSizeTokens * a.numKvHeads * a.headDimV, 'vCache');
  return numTokens;
}

/** The absorption weights: ukT [H, R, dn] f32, kv_b_proj [H·(dn+dv), R] (validated once). */
function checkAbsorb(ab: MlaAbsorb, H: number, R: number, int8Min: (d: Int8Array) => number): void {
  checkInt(ab.qkNopeHeadDim, 'absorb.qkNopeHeadDim', 1);
  checkInt(ab.vHeadDim, 'absorb.vHeadDim', 1);
  checkLength(ab.ukT, H * R * ab.qkNopeHeadDim, 'absorb.ukT');
  try { checkLinear(ab.kvB, int8Min); } catch (err) { throw renamed(err, 'absorb.kvB'); }
  const rows = H * (ab.qkNopeHeadDim + ab.vHeadDim);
  if (ab.kvB.inDim !== R || ab.kvB.outDim < rows) fail('absorb.kvB', `must be [${rows}, ${R}], got [${ab.kvB.outDim}, ${ab.kvB.inDim}]`);
}

/** Number of query rows the call spans; checks everything the MLA kernel reads (int8Min: for an int8 kv_b_proj). */
export function checkPagedMla(a: PagedMlaArgs, int8Min: (d: Int8Array) => number): number {
  for (const p of ['numHeads', 'kvLoraRank'] as const) checkInt(a[p], p, 1);
  checkInt(a.ropeDim, 'ropeDim');
  const numTokens = checkPagedRows(a.positions, a.blockTable, a.seqs);
  const H = a.numHeads, R = a.kvLoraRank, ab = a.absorb;
  if (ab !== undefined) checkAbsorb(ab, H, R, int8Min);
  const qWidth = H * ((ab === undefined ? R : ab.qkNopeHeadDim) + a.ropeDim);
  checkCommonPaged(a.q, a.out, a.positions, numTokens, qWidth, H * (ab === undefined ? R : ab.vHeadDim), a.blockSizeTokens);
  return numTokens;
}

/** Maps the addon's block-table status (attention.c xds_check_paged) to an XdsError. */
export function checkPagedStatus(status: number): void {
  if (status === 1) fail('positions', 'every position must be ≥ 0');
  if (status === 2) fail('blockTable', 'does not cover the largest position');
  if (status === 3) fail('blockTable', 'names a block outside the cache');
}

/** Expert shapes: gate/up [I_e, D], down [D, I_e], one D for all (widths may differ, e.g. a shared expert); returns D. */
export function checkExpertShapes(experts: readonly ExpertWeights[], int8Min: (d: Int8Array) => number): number {
  const first = experts[0];
  if (first === undefined) fail('experts', 'needs at least one expert');
  const D = first.gate.inDim;
  experts.forEach((ex, e) => {
    const I = ex.gate.outDim;
    for (const [name, w, outDim, inDim] of [['gate', ex.gate, I, D], ['up', ex.up, I, D], ['down', ex.down, D, I]] as const) {
      try { checkLinear(w, int8Min); } catch (err) { throw renamed(err, `experts[${e}].${name}`); }
      if (w.outDim !== outDim || w.inDim !== inDim) fail(`experts[${e}].${name}`, `must be [${outDim}, ${inDim}], got [${w.outDim}, ${w.inDim}]`);
    }
  });
  return D;
}

/** Prefixes the param of a weight error ('weight.data' → 'experts[3].up.data'). */
function renamed(err: unknown, prefix: string): unknown {
  if (!(err instanceof XdsError) || err.param === undefined) return err;
  const param = err.param.replace(/^weight/, prefix);
  return new XdsError('invalid_argument', err.message.replace(/^weight/, prefix), { param });
}

/** Router limits of router.c (XDS_ROUTER_MAX_EXPERTS / _GROUPS) and the buffers it writes. */
export function checkMoeRoute(a: MoeRouteArgs): void {
  const { numTokens: T, numExperts: E, k, spec } = a;
  checkInt(T, 'numTokens');
  checkInt(E, 'numExperts', 1);
  if (E > 4096) fail('numExperts', `at most 4096, got ${E}`);
  checkInt(k, 'k', 1);
  if (k > E) fail('k', `must be ≤ numExperts (${E}), got ${k}`);
  checkLength(a.logits, T * E, 'logits');
  checkLength(a.experts, T * k, 'experts');
  checkLength(a.weights, T * k, 'weights');
  if (a.bias !== null) checkLength(a.bias, E, 'bias');
  if (spec.method === 'topk') return;
  checkInt(spec.numGroups, 'spec.numGroups', 1);
  if (spec.numGroups > 256 || E % spec.numGroups !== 0) fail('spec.numGroups', `must divide numExperts (${E}) and be ≤ 256, got ${spec.numGroups}`);
  checkInt(spec.topkGroups, 'spec.topkGroups', 1);
}

/** Everything moe.c reads besides the weights: buffer lengths, offsets, entry rows; D from the experts. */
export function checkMoeExperts(a: MoeExpertsArgs, D: number): void {
  checkInt(a.numTokens, 'numTokens');
  checkLength(a.x, a.numTokens * D, 'x');
  checkLength(a.out, a.numTokens * D, 'out');
  if (overlaps(a.x, a.out, a.numTokens * D)) fail('out', 'must not alias x');
  const E = a.experts.length;
  checkLength(a.offsets, E + 1, 'offsets');
  if (a.offsets[0] !== 0) fail('offsets', `offsets[0] must be 0, got ${a.offsets[0]}`);
  for (let e = 0; e < E; e++) if (a.offsets[e + 1]! < a.offsets[e]!) fail('offsets', `must be non-decreasing (offsets[${e + 1}] < offsets[${e}])`);
  const n = a.offsets[E]!;
  checkLength(a.rows, n, 'rows');
  checkLength(a.weights, n, 'weights');
  for (let j = 0; j < n; j++) {
    const r = a.rows[j]!;
    if (r < 0 || r >= a.numTokens) fail('rows', `rows[${j}] = ${r} is outside [0, ${a.numTokens})`);
  }
}

function overlaps(a: Float32Array, b: Float32Array, n: number): boolean {
  if (a.buffer !== b.buffer || n === 0) return false;
  return a.byteOffset < b.byteOffset + n * 4 && b.byteOffset < a.byteOffset + n * 4;
}
