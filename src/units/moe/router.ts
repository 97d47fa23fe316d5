/**
 * MoE router (MODELS.md §3.1, §3.2, §4.5): router logits → k experts and k weights per token.
 * Scoring softmax or sigmoid; selection plain top-k, group_limited_greedy (group score = max) or
 * noaux_tc (biased scores only choose, group score = sum of the top-2 biased scores, other groups
 * masked with −∞); weights from the unbiased scores, then norm_topk_prob and routed_scaling_factor
 * per RouterSpec.scalingRule. Pure policy-free math over f64; ties go to the lower expert index.
 */

import type { RouterSpec } from '../../config/model-spec.js';

export interface Routing {
  readonly numTokens: number;
  readonly k: number;
  /** [numTokens, k] int32 expert ids, in descending order of selection score. */
  readonly experts: Int32Array;
  /** [numTokens, k] f32 combine weights. */
  readonly weights: Float32Array;
}

function scoresOf(logits: Float32Array, o: number, E: number, scoring: RouterSpec['scoring']): Float64Array {
  const s = new Float64Array(E);
  if (scoring === 'sigmoid') {
    for (let e = 0; e < E; e++) s[e] = 1 / (1 + Math.exp(-logits[o + e]!));
    return s;
  }
  let max = -Infinity;
  for (let e = 0; e < E; e++) max = Math.max(max, logits[o + e]!);
  let sum = 0;
  for (let e = 0; e < E; e++) { s[e] = Math.exp(logits[o + e]! - max); sum += s[e]!; }
  for (let e = 0; e < E; e++) s[e] = s[e]! / sum;
  return s;
}

/** Indices of the k largest values (stable: the lower index wins a tie). */
export function topkIndices(v: Float64Array, k: number): number[] {
  const idx = Array.from(v.keys());
  idx.sort((a, b) => (v[b]! - v[a]!) || (a - b));
  return idx.slice(0, k);
}

/** Group score: max of the group (V2) or the sum of its two largest values (V3). */
function groupScore(c: Float64Array, lo: number, n: number, method: RouterSpec['method']): number {
  let a = -Infinity;
  let b = -Infinity;
  for (let e = lo; e < lo + n; e++) {
    const x = c[e]!;
    if (x > a) { b = a; a = x; } else if (x > b) b = x;
  }
  return method === 'noaux_tc' ? a + b : a;
}

/** Keep the topkGroups best groups; set every other expert's choice score to −∞. */
function maskGroups(c: Float64Array, spec: RouterSpec): void {
  const G = spec.numGroups;
  if (spec.method === 'topk' || G <= 1 || spec.topkGroups >= G) return;
  const n = c.length / G;
  const g = new Float64Array(G);
  for (let j = 0; j < G; j++) g[j] = groupScore(c, j * n, n, spec.method);
  const keep = new Set(topkIndices(g, spec.topkGroups));
  for (let j = 0; j < G; j++) if (!keep.has(j)) c.fill(-Infinity, j * n, (j + 1) * n);
}

/** Post-selection weights: optional renormalization, then routed_scaling_factor per the rule. */
function finishWeights(w: number[], spec: RouterSpec): number[] {
  // NOTE: DeepSeek renormalizes only when k > 1; Mixtral/Qwen3-MoE (normEps 0) always do.
  const normalize = spec.normTopkProb && (w.length > 1 || spec.normEps === 0);
  let out = w;
  if (normalize) {
    const sum = w.reduce((a, b) => a + b, 0) + spec.normEps;
    out = w.map((x) => x / sum);
  }
  const scale = spec.scalingRule === 'always' || (spec.scalingRule === 'unless_normalized' && !normalize);
  return scale ? out.map((x) => x * spec.routedScalingFactor) : out;
}

/** Route one token: returns [expert ids, weights]. */
export function routeToken(logits: Float32Array, o: number, E: number, k: number, spec: RouterSpec, bias: Float32Array | null): [number[], number[]] {
  const s = scoresOf(logits, o, E, spec.scoring);
  const c = Float64Array.from(s); // choice scores
  if (spec.method === 'noaux_tc' && bias !== null) for (let e = 0; e < E; e++) c[e] = c[e]! + bias[e]!;
  maskGroups(c, spec);
  const sel = topkIndices(c, k);
  return [sel, finishWeights(sel.map((e) => s[e]!), spec)];
}

/** Route every token: logits [numTokens, E] f32, bias [E] (noaux_tc) or null. */
export function routeTokens(logits: Float32Array, numTokens: number, E: number, k: number, spec: RouterSpec, bias: Float32Array | null): Routing {
  const experts = new Int32Array(numTokens * k);
  const weights = new Float32Array(numTokens * k);
  for (let t = 0; t < numTokens; t++) {
    const [sel, w] = routeToken(logits, t * E, E, k, spec, bias);
    experts.set(sel, t * k);
    weights.set(w, t * k);
  }
  return { numTokens, k, experts, weights };
}
