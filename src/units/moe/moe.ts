/**
 * MoE FFN unit (MODELS.md §3, §4.5; paper §2.1 "moe"): route → group tokens by expert → run all
 * routed experts of the layer in one backend call (ComputeBackend.moeExperts: each expert once over
 * all its tokens, weighted sum per token; backends without it run the per-expert loop of
 * kernels/moe-experts.ts); the shared expert (one MLP of width S·Im, unweighted) rides in the same
 * call as expert E with weight 1 for every token. The grouping is exposed on its own so an
 * expert-parallel dispatch can reuse the same layout.
 */

import type { FfnSpec } from '../../config/model-spec.js';
import type { ComputeBackend, MoeExpertsArgs } from '../../kernels/backend.js';
import { moeExpertsLoop } from '../../kernels/moe-experts.js';
import type { FfnWeights, MlpWeights } from '../../model/model-weights.js';
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
  for (let e = 0; e < numExperts; e++) fill[e] = offsets[e]!; // no subarray view per layer
  const rows = scratch.i32('moe.group.rows', n);
  const weights = scratch.f32('moe.group.weights', n);
  for (let t = 0, i = 0; t < r.numTokens; t++) {
    for (let j = 0; j < r.k; j++, i++) {
      const slot = fill[r.experts[i]!]!++;
      rows[slot] = t;
      weights[slot] = r.weights[i]!;
    }
  }
  return { offsets, rows, weights };
}

/** The routed experts followed by the shared one (one array per layer, so backends can cache per array). */
const withShared = new WeakMap<MoeWeights, readonly MlpWeights[]>();

function expertsWithShared(w: MoeWeights, shared: MlpWeights): readonly MlpWeights[] {
  let all = withShared.get(w);
  if (all === undefined) withShared.set(w, (all = [...w.experts, shared]));
  return all;
}

/**
 * The shared expert as one more expert (index E) that every token uses with weight 1: it is added
 * after the token's routed experts, as out + Shared(x) was, and runs in the same backend call.
 */
function appendSharedEntries(g: ExpertGroups, numExperts: number, numTokens: number, sc: Scratch): ExpertGroups {
  const n = g.offsets[numExperts]!;
  const offsets = sc.i32('moe.all.offsets', numExperts + 2);
  offsets.set(g.offsets); // g's arrays are exactly E + 1 and n long: no views needed
  offsets[numExperts + 1] = n + numTokens;
  const rows = sc.i32('moe.all.rows', n + numTokens);
  const weights = sc.f32('moe.all.weights', n + numTokens);
  rows.set(g.rows);
  weights.set(g.weights);
  for (let t = 0; t < numTokens; t++) { rows[n + t] = t; weights[n + t] = 1; }
  return { offsets, rows, weights };
}

/**
 * The router over rows tokens: the backend's moeRoute when it has one (same result; its arrays
 * are scratch slots 'moe.route.*': two new typed arrays per layer showed as ~95 µs of a batch-32
 * step in a server profile), else router.ts.
 */
function route(backend: ComputeBackend, logits: Float32Array, rows: number, spec: MoeSpec, bias: Float32Array | null, sc: Scratch): Routing {
  const E = spec.numExperts, k = spec.numExpertsPerTok;
  if (!backend.moeRoute) return routeTokens(logits, rows, E, k, spec.router, bias);
  const experts = sc.i32('moe.route.experts', rows * k), weights = sc.f32('moe.route.weights', rows * k);
  backend.moeRoute({ logits, numTokens: rows, numExperts: E, k, spec: spec.router, bias, experts, weights });
  return { numTokens: rows, k, experts, weights };
}

/**
 * out [rows, D] = Σ_j w_j·Expert_j(x) + Shared(x); returns the routing (for expert-load counters),
 * whose arrays may be `scratch` slots: valid until the next moeFfn on the same scratch.
 */
export function moeFfn(backend: ComputeBackend, w: MoeWeights, spec: MoeSpec, x: Float32Array, out: Float32Array, rows: number, scratch: Scratch = new Scratch()): Routing {
  const E = spec.numExperts;
  const logits = scratch.f32('moe.logits', rows * E); // [rows, E] router logits, f32
  backend.matmul(x, w.router, logits, rows);
  const routing = route(backend, logits, rows, spec, w.correctionBias, scratch);
  const routed = groupByExpert(routing, E, scratch);
  const g = w.shared === null ? routed : appendSharedEntries(routed, E, rows, scratch);
  const experts = w.shared === null ? w.experts : expertsWithShared(w, w.shared);
  const args: MoeExpertsArgs = { x, out, numTokens: rows, offsets: g.offsets, rows: g.rows, weights: g.weights, experts };
  if (backend.moeExperts) backend.moeExperts(args);
  else moeExpertsLoop(backend, args, scratch);
  return routing;
}
