/**
 * MLA weight-absorbed form for one sequence (MODELS.md §4.4), used for decode: per head,
 * q̃_h = W_UK[h]ᵀ q_nope_h ([R]), latent multi-query attention over the cached [c ‖ k_pe] with the
 * unchanged (dn+dr)^-½·m² scale (pagedMlaAttention), then o_h = W_UV[h] · ctx_h ([dv]).
 * W_UK[h]ᵀ ([R, dn] f32) is built once per weight set and cached; W_UV[h] is a row view of kv_b_proj.
 * All decode sequences of a step go together: the per-head products run once over all their rows.
 */

import type { MlaAttentionSpec } from '../../config/model-spec.js';
import type { LinearWeight } from '../../kernels/backend.js';
import { weightRow } from '../../kernels/reference.js';
import type { MlaAttentionWeights } from '../../model/model-weights.js';
import type { SeqRows } from '../step-layout.js';
import { scratchOf, type AttentionState } from './gqa.js';
import type { Scratch } from '../scratch.js';
import { pagedSeqsLayout } from './paged-seqs-layout.js';

interface Absorbed {
  /** Per head: W_UK[h]ᵀ as a LinearWeight [R, dn] f32, so matmul(q_nope, ukT[h]) gives q̃[c] = Σ_d W_UK[h][d,c]·q_nope[d]. */
  readonly ukT: readonly LinearWeight[];
  /** Per head: W_UV[h] [dv, R], a view of kv_b_proj rows. */
  readonly uv: readonly LinearWeight[];
}

const cache = new WeakMap<MlaAttentionWeights, Absorbed>();

/** Rows [first, first+count) of a linear weight, as a view. */
export function weightRows(w: LinearWeight, first: number, count: number): LinearWeight {
  const n = w.inDim;
  const base = { outDim: count, inDim: n };
  if (w.format === 'int8') {
    const g = Math.ceil(n / w.groupSize);
    return { format: 'int8', ...base, data: w.data.subarray(first * n, (first + count) * n), scales: w.scales.subarray(first * g, (first + count) * g), groupSize: w.groupSize };
  }
  if (w.format === 'bf16') return { format: 'bf16', ...base, data: w.data.subarray(first * n, (first + count) * n) };
  return { format: 'f32', ...base, data: w.data.subarray(first * n, (first + count) * n) };
}

function absorb(w: MlaAttentionWeights, spec: MlaAttentionSpec): Absorbed {
  const hit = cache.get(w);
  if (hit) return hit;
  const { numHeads: H, kvLoraRank: R, qkNopeHeadDim: dn, vHeadDim: dv } = spec;
  const row = new Float32Array(R);
  const ukT: LinearWeight[] = [];
  const uv: LinearWeight[] = [];
  for (let h = 0; h < H; h++) {
    const t = new Float32Array(R * dn); // [R, dn] = W_UK[h]ᵀ
    for (let d = 0; d < dn; d++) {
      weightRow(w.kvB, h * (dn + dv) + d, row);
      for (let c = 0; c < R; c++) t[c * dn + d] = row[c]!;
    }
    ukT.push({ format: 'f32', outDim: R, inDim: dn, data: t });
    uv.push(weightRows(w.kvB, h * (dn + dv) + dn, dv));
  }
  const a = { ukT, uv };
  cache.set(w, a);
  return a;
}

/** Per-head view of the absorbed rows: gather q_nope_h [n, dn] from q rows [*, H, dn+dr]. */
function gatherHead(q: Float32Array, rows: Int32Array, h: number, H: number, from: number, width: number, to: Float32Array): void {
  for (let t = 0; t < rows.length; t++) {
    const o = (rows[t]! * H + h) * from;
    to.set(q.subarray(o, o + width), t * width);
  }
}

/**
 * Absorbed MLA over several sequences at once (decode): q [T, H, dn+dr] (RoPE applied) and out
 * [T, H, dv] are the whole step's rows; only the rows of `seqs` are read and written. The W_UK and
 * W_UV products run once per head over all those rows (one matmul with rows = Σ counts), the
 * latent attention in one call over all the sequences, each with its own block table.
 */
export function mlaAbsorbedBatch(st: AttentionState, w: MlaAttentionWeights, spec: MlaAttentionSpec, q: Float32Array, out: Float32Array, seqs: readonly SeqRows[], positions: Int32Array): void {
  const { numHeads: H, kvLoraRank: R, qkRopeHeadDim: dr } = spec;
  const sc = scratchOf(st);
  const rows = absorbedRows(sc, seqs); // [n] step rows handled here
  const n = rows.length;
  const qAbs = sc.f32('mla-abs.qAbs', n * H * (R + dr)); // [n, H, R + dr] = [q̃_h ‖ q_pe_h]
  absorbQ(st, w, spec, q, rows, qAbs);
  const cache = st.kv.layer(st.kvLayer);
  if (cache.kind !== 'mla') throw new RangeError('MLA attention over a GQA cache');
  const ctx = sc.f32('mla-abs.ctx', n * H * R); // [n, H, R]
  const ps = pagedSeqsLayout(sc, seqs, 'mla-abs.seqs');
  const firstRow = sc.i32('mla-abs.firstRow', seqs.length); // [S] rows of qAbs / ctx
  const pos = sc.i32('mla-abs.pos', n); // [n]
  let j = 0;
  seqs.forEach((s, i) => { firstRow[i] = j; j += s.count; });
  for (let t = 0; t < n; t++) pos[t] = positions[rows[t]!]!;
  st.backend.pagedMlaAttention({
    q: qAbs, out: ctx, latentCache: cache.latent, blockTable: ps.blockTable, positions: pos, numHeads: H,
    seqs: { firstRow, numRows: ps.seqs.numRows, tableStart: ps.seqs.tableStart },
    kvLoraRank: R, ropeDim: dr, blockSizeTokens: st.kv.blockSizeTokens, scale: spec.softmaxScale,
  });
  expandOut(st, w, spec, ctx, rows, out);
}

function absorbedRows(sc: Scratch, seqs: readonly SeqRows[]): Int32Array {
  const rows = sc.i32('mla-abs.rows', seqs.reduce((a, s) => a + s.count, 0));
  let j = 0;
  for (const s of seqs) for (let i = 0; i < s.count; i++) rows[j++] = s.first + i;
  return rows;
}

/** qAbs [n, H, R + dr] = per head [W_UK[h]ᵀ q_nope_h ‖ q_pe_h] for the step rows `rows`. */
function absorbQ(st: AttentionState, w: MlaAttentionWeights, spec: MlaAttentionSpec, q: Float32Array, rows: Int32Array, qAbs: Float32Array): void {
  const { numHeads: H, kvLoraRank: R, qkNopeHeadDim: dn, qkRopeHeadDim: dr } = spec;
  const sc = scratchOf(st);
  const n = rows.length;
  const ab = absorb(w, spec);
  const qn = sc.f32('mla-abs.qn', n * dn); // [n, dn] one head's q_nope
  const qt = sc.f32('mla-abs.qt', n * R); // [n, R] one head's q̃
  for (let h = 0; h < H; h++) {
    gatherHead(q, rows, h, H, dn + dr, dn, qn);
    st.backend.matmul(qn, ab.ukT[h]!, qt, n);
    for (let t = 0; t < n; t++) {
      const o = (t * H + h) * (R + dr);
      const src = (rows[t]! * H + h) * (dn + dr) + dn;
      qAbs.set(qt.subarray(t * R, (t + 1) * R), o);
      qAbs.set(q.subarray(src, src + dr), o + R);
    }
  }
}

/** out rows `rows` [*, H, dv] = per head W_UV[h] · ctx_h, ctx [n, H, R]. */
function expandOut(st: AttentionState, w: MlaAttentionWeights, spec: MlaAttentionSpec, ctx: Float32Array, rows: Int32Array, out: Float32Array): void {
  const { numHeads: H, kvLoraRank: R, vHeadDim: dv } = spec;
  const sc = scratchOf(st);
  const n = rows.length;
  const ab = absorb(w, spec);
  const ch = sc.f32('mla-abs.ch', n * R); // [n, R] one head's ctx
  const oh = sc.f32('mla-abs.oh', n * dv); // [n, dv]
  for (let h = 0; h < H; h++) {
    for (let t = 0; t < n; t++) ch.set(ctx.subarray((t * H + h) * R, (t * H + h + 1) * R), t * R);
    st.backend.matmul(ch, ab.uv[h]!, oh, n);
    for (let t = 0; t < n; t++) out.set(oh.subarray(t * dv, (t + 1) * dv), (rows[t]! * H + h) * dv);
  }
}
