/**
 * MoE FFN unit (MODELS.md §3, §4.5; paper §2.1 "moe"): route → group tokens by expert → run all
 * routed experts of the layer in one backend call (ComputeBackend.moeExperts: each expert once over
 * all its tokens, weighted sum per token; backends without it run the per-expert loop of
 * kernels/moe-experts.ts) → add the shared expert (one MLP of width S·Im, unweighted). The grouping
 * is exposed on its own so an expert-parallel dispatch can reuse the same layout.
 */

import type { FfnSpec } from '../../config/model-spec.js';
import type { ComputeBackend, MoeExpertsArgs } from '../../kernels/backend.js';
import { moeExpertsLoop } from '../../kernels/moe-experts.js';
import type { FfnWeights } from '../../model/model-weights.js';
import { denseMlp } from '../ffn.js';
import { Scratch } from '../scratch.js';
import { routeTokens, type Routing } from './router.js';

export type MoeSpec = Extract<FfnSpec, { kind: 'moe' }>;
export type MoeWeights = Extract<FfnWeights, { kind: 'moe' }>;

/** Token-to-expert layout: expert e owns entries offsets[e] … offsets[e+1]−1. */
export interface ExpertGroups {
  /** [E + 1] */ readonly offsets: Int32Array;
  /** [numTokens·k] token row of each entry, grouped by expert. */ readonly rows: Int32Array;
  /** [numTokens·k] combine weight of each entry. */ readonly weights: Float32Array;
}

/** Counting sort of the (token, expert) pairs by expert (arrays from `scratch`, slots 'moe.group.*'). */
export function groupByExpert(r: Routing, numExperts: number, scratch: Scratch = new Scratch()): ExpertGroups {
  const n = r.numTokens * r.k;
  const offsets = scratch.i32('moe.group.offsets', numExperts + 1);
  offsets.fill(0);
  for (let i = 0; i < n; i++) offsets[r.experts[i]! + 1]!++;
  for (let e = 0; e < numExperts; e++) offsets[e + 1]! += offsets[e]!;
  const fill = scratch.i32('moe.group.fill', numExperts);
  fill.set(offsets.subarray(0, numExperts));
  const rows = scratch.i32('moe.group.rows', n);
  const weights = scratch.f32('moe.group.weights', n);
  for (let i = 0; i < n; i++) {
    const slot = fill[r.experts[i]!]!++;
    rows[slot] = Math.floor(i / r.k);
    weights[slot] = r.weights[i]!;
  }
  return { offsets, rows, weights };
}

/** out [rows, D] = Σ_j w_j·Expert_j(x) + Shared(x); returns the routing (for expert-load counters). */
export function moeFfn(backend: ComputeBackend, w: MoeWeights, spec: MoeSpec, x: Float32Array, out: Float32Array, rows: number, scratch: Scratch = new Scratch()): Routing {
  const D = w.router.inDim;
  const E = spec.numExperts;
  const logits = scratch.f32('moe.logits', rows * E); // [rows, E] router logits, f32
  backend.matmul(x, w.router, logits, rows);
  const routing = routeTokens(logits, rows, E, spec.numExpertsPerTok, spec.router, w.correctionBias);
  const g = groupByExpert(routing, E, scratch);
  const args: MoeExpertsArgs = { x, out, numTokens: rows, offsets: g.offsets, rows: g.rows, weights: g.weights, experts: w.experts };
  if (backend.moeExperts) backend.moeExperts(args);
  else moeExpertsLoop(backend, args, scratch);
  if (w.shared !== null) {
    const s = scratch.f32('moe.shared', rows * D); // [rows, D] shared expert output
    denseMlp(backend, w.shared, x, s, rows, scratch);
    for (let i = 0; i < rows * D; i++) out[i] = out[i]! + s[i]!;
  }
  return routing;
}
