/**
 * MoE router (MODELS.md §3.1, §3.2, §4.5): router logits → k experts and k weights per token.
 * Scoring softmax or sigmoid; selection plain top-k, group_limited_greedy (group score = max) or
 * noaux_tc (biased scores only choose, group score = sum of the top-2 biased scores, other groups
 * masked with −∞); weights from the unbiased scores, then norm_topk_prob and routed_scaling_factor
 * per RouterSpec.scalingRule. Pure policy-free math over f64; ties go to the lower expert index.
 */

import { routerWeightRules, type RouterSpec } from '../../config/model-spec.js';

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
  scoresInto(logits, o, E, scoring, s);
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
function maskGroups(c: Float64Array, spec: RouterSpec, g: Float64Array = new Float64Array(spec.numGroups), keep: Int32Array = new Int32Array(Math.max(spec.topkGroups, 1))): void {
  const G = spec.numGroups;
  if (spec.method === 'topk' || G <= 1 || spec.topkGroups >= G) return;
  const n = c.length / G;
  for (let j = 0; j < G; j++) g[j] = groupScore(c, j * n, n, spec.method);
  selectTopk(g, keep, spec.topkGroups);
  for (let j = 0; j < G; j++) if (!keep.includes(j)) c.fill(-Infinity, j * n, (j + 1) * n);
}

/** Post-selection weights: optional renormalization, then routed_scaling_factor per the rule. */
function finishWeights(w: number[], spec: RouterSpec): number[] {
  const { normalize, scale } = routerWeightRules(spec, w.length);
  let out = w;
  if (normalize) {
    const sum = w.reduce((a, b) => a + b, 0) + spec.normEps;
    out = w.map((x) => x / sum);
  }
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

/** Per-call buffers of routeTokens, reused across its tokens. */
interface RouteBuffers {
  /** [E] f64 unbiased scores */ readonly s: Float64Array;
  /** [E] f64 choice scores */ readonly c: Float64Array;
  /** [k] selected experts */ readonly sel: Int32Array;
  /** [k] their weights */ readonly w: Float64Array;
  /** [G] group scores */ readonly g: Float64Array;
  /** [topkGroups] kept groups */ readonly keep: Int32Array;
}

/** Sigmoid or max-subtracted softmax of one token's logits into s. */
function scoresInto(logits: Float32Array, o: number, E: number, scoring: RouterSpec['scoring'], s: Float64Array): void {
  if (scoring === 'sigmoid') {
    for (let e = 0; e < E; e++) s[e] = 1 / (1 + Math.exp(-logits[o + e]!));
    return;
  }
  let max = -Infinity;
  for (let e = 0; e < E; e++) max = Math.max(max, logits[o + e]!);
  let sum = 0;
  for (let e = 0; e < E; e++) { s[e] = Math.exp(logits[o + e]! - max); sum += s[e]!; }
  for (let e = 0; e < E; e++) s[e] = s[e]! / sum;
}

/** sel = indices of the k largest c (descending; the lower index wins a tie), as topkIndices. */
function selectTopk(c: Float64Array, sel: Int32Array, k: number): void {
  let n = 0;
  for (let e = 0; e < c.length; e++) {
    const v = c[e]!;
    if (n === k && !(v > c[sel[k - 1]!]!)) continue;
    let j = n < k ? n++ : k - 1;
    while (j > 0 && v > c[sel[j - 1]!]!) { sel[j] = sel[j - 1]!; j--; }
    sel[j] = e;
  }
}

/** Route token t into experts/weights rows t (same math as routeToken, no per-token allocation). */
function routeInto(logits: Float32Array, t: number, E: number, k: number, spec: RouterSpec, bias: Float32Array | null, b: RouteBuffers, experts: Int32Array, weights: Float32Array): void {
  scoresInto(logits, t * E, E, spec.scoring, b.s);
  b.c.set(b.s);
  if (spec.method === 'noaux_tc' && bias !== null) for (let e = 0; e < E; e++) b.c[e] = b.c[e]! + bias[e]!;
  maskGroups(b.c, spec, b.g, b.keep);
  selectTopk(b.c, b.sel, k);
  for (let j = 0; j < k; j++) b.w[j] = b.s[b.sel[j]!]!;
  finishWeightsInto(b.w, k, spec);
  for (let j = 0; j < k; j++) { experts[t * k + j] = b.sel[j]!; weights[t * k + j] = b.w[j]!; }
}

/** finishWeights in place on w[0, k). */
function finishWeightsInto(w: Float64Array, k: number, spec: RouterSpec): void {
  const { normalize, scale } = routerWeightRules(spec, k);
  if (normalize) {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += w[j]!;
    sum += spec.normEps;
    for (let j = 0; j < k; j++) w[j] = w[j]! / sum;
  }
  if (scale) for (let j = 0; j < k; j++) w[j] = w[j]! * spec.routedScalingFactor;
}

/** Route every token: logits [numTokens, E] f32, bias [E] (noaux_tc) or null. */
export function routeTokens(logits: Float32Array, numTokens: number, E: number, k: number, spec: RouterSpec, bias: Float32Array | null): Routing {
  const experts = new Int32Array(numTokens * k);
  const weights = new Float32Array(numTokens * k);
  const b: RouteBuffers = { s: new Float64Array(E), c: new Float64Array(E), sel: new Int32Array(k), w: new Float64Array(k),
    g: new Float64Array(spec.numGroups), keep: new Int32Array(Math.max(spec.topkGroups, 1)) };
  for (let t = 0; t < numTokens; t++) routeInto(logits, t, E, k, spec, bias, b, experts, weights);
  return { numTokens, k, experts, weights };
}
