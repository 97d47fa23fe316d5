/**
 * The routed experts of one MoE layer driven expert by expert through a backend's matmul and
 * siluMul (MODELS.md §1.2, §3; paper §2.1 "moe"): for each expert with entries, gather its token
 * rows, run the SiLU-GLU MLP once over them (a grouped matmul), and add weight·output into the
 * token rows, experts in index order. This defines ComputeBackend.moeExperts: the reference backend
 * is this loop over its own kernels, and backends without a fused method are run through it.
 */
import type { ComputeBackend, ExpertWeights, MoeExpertsArgs } from './backend.js';

/** Temporaries by slot name (units/scratch.ts Scratch fits); contents undefined on entry. */
export interface F32Scratch {
  f32(name: string, n: number): Float32Array;
}

/** A grow-only scratch for callers that bring none (one per module instance, i.e. per JS thread). */
class GrowScratch implements F32Scratch {
  private readonly slots = new Map<string, Float32Array>();
  f32(name: string, n: number): Float32Array {
    const buf = this.slots.get(name);
    if (buf !== undefined && buf.length >= n) return buf.subarray(0, n);
    const fresh = new Float32Array(n);
    this.slots.set(name, fresh);
    return fresh;
  }
}

const defaultScratch = new GrowScratch();

/**
 * y [n, D] = down(silu(gate(xs)) ⊙ up(xs)) for xs [n, D] (MODELS.md §1.2): every expert, and the
 * dense FFN unit. Temporaries in scratch slots `gateSlot` / `upSlot`; y may not alias xs.
 */
export function siluGluMlp(backend: ComputeBackend, w: ExpertWeights, xs: Float32Array, y: Float32Array, n: number, sc: F32Scratch,
  gateSlot = 'moeExperts.gate', upSlot = 'moeExperts.up'): void {
  const width = w.gate.outDim;
  const gate = sc.f32(gateSlot, n * width); // [n, I] f32
  const up = sc.f32(upSlot, n * width); // [n, I] f32
  backend.matmul(xs, w.gate, gate, n);
  backend.matmul(xs, w.up, up, n);
  backend.siluMul(gate, up, gate, n * width);
  backend.matmul(gate, w.down, y, n);
}

/** Expert `e` over its entries [lo, hi): gather rows, MLP, out[row] += weight · y (f32). */
function runExpert(backend: ComputeBackend, a: MoeExpertsArgs, e: number, lo: number, hi: number, D: number, sc: F32Scratch): void {
  const n = hi - lo;
  const xs = sc.f32('moeExperts.xs', n * D); // [n, D] gathered token rows
  for (let j = 0; j < n; j++) {
    const r = a.rows[lo + j]!;
    xs.set(a.x.subarray(r * D, (r + 1) * D), j * D);
  }
  const ys = sc.f32('moeExperts.ys', n * D); // [n, D] expert outputs
  siluGluMlp(backend, a.experts[e]!, xs, ys, n, sc);
  for (let j = 0; j < n; j++) {
    const o = a.rows[lo + j]! * D;
    const wt = a.weights[lo + j]!;
    for (let d = 0; d < D; d++) a.out[o + d] = a.out[o + d]! + wt * ys[j * D + d]!;
  }
}

/** ComputeBackend.moeExperts through `backend`'s matmul and siluMul (no argument checks beyond theirs). */
export function moeExpertsLoop(backend: ComputeBackend, a: MoeExpertsArgs, scratch: F32Scratch = defaultScratch): void {
  const first = a.experts[0];
  if (first === undefined) return; // no experts: D is unknown, nothing to write
  const D = first.gate.inDim;
  a.out.fill(0, 0, a.numTokens * D);
  for (let e = 0; e < a.experts.length; e++) {
    const lo = a.offsets[e]!, hi = a.offsets[e + 1]!;
    if (hi > lo) runExpert(backend, a, e, lo, hi, D, scratch);
  }
}
