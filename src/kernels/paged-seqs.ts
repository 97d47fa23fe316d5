/**
 * Multi-sequence paged attention and in-call MLA absorption, defined through the single-sequence
 * kernels (ComputeBackend.pagedAttention / pagedMlaAttention with `seqs` and `absorb`; MODELS.md
 * §1.4, §4.4). The reference backend runs these loops; the native backend does the same work in
 * one addon call (native/kernels/attention.c, mla_absorbed.c) and is tested against them.
 */
import type { ComputeBackend, LinearWeight, MlaAbsorb, PagedMlaArgs, PagedSeqs } from './backend.js';

/** The one-sequence layout of a call without `seqs`: all rows, the whole table. */
export function oneSeq(numRows: number, tableLength: number): PagedSeqs {
  return { firstRow: Int32Array.of(0), numRows: Int32Array.of(numRows), tableStart: Int32Array.of(0, tableLength) };
}

interface PagedBuffers { readonly q: Float32Array; readonly out: Float32Array; readonly blockTable: Int32Array; readonly positions: Int32Array }

/** Calls run once per sequence of `a.seqs` with that sequence's rows (q/out widths per row) and table. */
export function forEachSeq<A extends PagedBuffers>(a: A & { readonly seqs?: PagedSeqs }, qWidth: number, outWidth: number, run: (one: A) => void): void {
  const s = a.seqs;
  if (s === undefined) { run(a); return; }
  for (let i = 0; i < s.firstRow.length; i++) {
    const r0 = s.firstRow[i]!, r1 = r0 + s.numRows[i]!;
    run({
      ...a, seqs: undefined, q: a.q.subarray(r0 * qWidth, r1 * qWidth), out: a.out.subarray(r0 * outWidth, r1 * outWidth),
      positions: a.positions.subarray(r0, r1), blockTable: a.blockTable.subarray(s.tableStart[i]!, s.tableStart[i + 1]!),
    });
  }
}

/** Rows [first, first+count) of a linear weight, as a view. */
export function weightRows(w: LinearWeight, first: number, count: number): LinearWeight {
  const n = w.inDim;
  const base = { outDim: count, inDim: n };
  const bias = w.bias === undefined ? {} : { bias: w.bias.subarray(first, first + count) };
  if (w.format === 'int8') {
    const g = Math.ceil(n / w.groupSize);
    return { format: 'int8', ...base, ...bias, data: w.data.subarray(first * n, (first + count) * n), scales: w.scales.subarray(first * g, (first + count) * g), groupSize: w.groupSize };
  }
  if (w.format === 'bf16') return { format: 'bf16', ...base, ...bias, data: w.data.subarray(first * n, (first + count) * n) };
  return { format: 'f32', ...base, ...bias, data: w.data.subarray(first * n, (first + count) * n) };
}

/** Step rows of every sequence, in order: [n] row indices. */
function seqRowList(s: PagedSeqs): Int32Array {
  const n = s.numRows.reduce((a, c) => a + c, 0);
  const rows = new Int32Array(n);
  let j = 0;
  for (let i = 0; i < s.firstRow.length; i++) for (let k = 0; k < s.numRows[i]!; k++) rows[j++] = s.firstRow[i]! + k;
  return rows;
}

/**
 * pagedMlaAttention with `absorb`, as the per-head products through `b.matmul` around one latent
 * attention call over compacted rows: q̃_h = W_UK[h]ᵀ q_nope_h (matmul with ukT[h] [R, dn]),
 * o_h = W_UV[h] ctx_h (matmul with the rows of kv_b_proj).
 */
export function mlaAbsorbLoop(b: ComputeBackend, a: PagedMlaArgs, ab: MlaAbsorb): void {
  const { numHeads: H, kvLoraRank: R, ropeDim: dr } = a;
  const { qkNopeHeadDim: dn, vHeadDim: dv } = ab;
  const seqs = a.seqs ?? oneSeq(a.positions.length, a.blockTable.length);
  const rows = seqRowList(seqs), n = rows.length;
  const qa = new Float32Array(n * H * (R + dr)); // [n, H, R + dr] [q̃_h ‖ q_pe_h]
  const ctx = new Float32Array(n * H * R); // [n, H, R]
  const qn = new Float32Array(n * dn), qt = new Float32Array(n * R), oh = new Float32Array(n * dv);
  for (let h = 0; h < H; h++) {
    for (let t = 0; t < n; t++) qn.set(a.q.subarray((rows[t]! * H + h) * (dn + dr), (rows[t]! * H + h) * (dn + dr) + dn), t * dn);
    b.matmul(qn, { format: 'f32', outDim: R, inDim: dn, data: ab.ukT.subarray(h * R * dn, (h + 1) * R * dn) }, qt, n);
    for (let t = 0; t < n; t++) {
      const src = (rows[t]! * H + h) * (dn + dr) + dn;
      qa.set(qt.subarray(t * R, (t + 1) * R), (t * H + h) * (R + dr));
      qa.set(a.q.subarray(src, src + dr), (t * H + h) * (R + dr) + R);
    }
  }
  const firstRow = new Int32Array(seqs.firstRow.length);
  for (let i = 1; i < firstRow.length; i++) firstRow[i] = firstRow[i - 1]! + seqs.numRows[i - 1]!;
  const positions = Int32Array.from(rows, (r) => a.positions[r]!);
  b.pagedMlaAttention({ ...a, q: qa, out: ctx, positions, seqs: { firstRow, numRows: seqs.numRows, tableStart: seqs.tableStart }, absorb: undefined });
  const ch = new Float32Array(n * R);
  for (let h = 0; h < H; h++) {
    for (let t = 0; t < n; t++) ch.set(ctx.subarray((t * H + h) * R, (t * H + h + 1) * R), t * R);
    b.matmul(ch, weightRows(ab.kvB, h * (dn + dv) + dn, dv), oh, n);
    for (let t = 0; t < n; t++) a.out.set(oh.subarray(t * dv, (t + 1) * dv), (rows[t]! * H + h) * dv);
  }
}
