/**
 * Independent reference, feed-forward blocks: the dense SiLU-GLU MLP (MODELS.md §1.2) and the MoE
 * FFNs with their routers: Mixtral (softmax over the top-k logits, §3.1), Qwen3-MoE (softmax,
 * optional renormalization without eps, §3.2) and DeepSeekMoE (§4.5: greedy, group_limited_greedy
 * with group max, noaux_tc with the bias used only to select and a top-2-sum group score, −∞
 * masking, V3 "always scale" vs V2 "scale unless normalized", shared expert added unweighted).
 * The normalization/scaling rules are decided here from the architecture, not from the engine's spec.
 */
import { AssertionError } from '../../core/assert.js';
import type { FfnSpec, ModelSpec, RouterSpec } from '../../config/model-spec.js';
import type { WeightSource } from '../tensor.js';
import { linear, row, sigmoid, siluGlu, softmax, type GluWeights } from './math.js';
import { readTensor } from './tensors.js';

export interface Routing {
  readonly experts: number[];
  readonly weights: number[];
}

type MoeFfn = Extract<FfnSpec, { kind: 'moe' }>;

/** Indices of the k largest values, largest first. */
export function topK(v: Float64Array | readonly number[], k: number): number[] {
  return [...v.keys()].sort((a, b) => v[b]! - v[a]!).slice(0, k);
}

/** Keeps the topkGroups groups with the best group score; every other expert's score → −∞. */
function maskGroups(sel: Float64Array, r: RouterSpec, groupScore: (g: number[]) => number): Float64Array {
  const perGroup = sel.length / r.numGroups;
  const scores: number[] = [];
  for (let g = 0; g < r.numGroups; g++) scores.push(groupScore([...sel.subarray(g * perGroup, (g + 1) * perGroup)]));
  const keep = new Set(topK(scores, r.topkGroups));
  return sel.map((s, e) => (keep.has(Math.floor(e / perGroup)) ? s : -Infinity));
}

/** DeepSeek router for one token's logits z [E] (MODELS.md §4.5). */
export function routeDeepseek(arch: 'deepseek_v2' | 'deepseek_v3', r: RouterSpec, k: number, z: Float64Array, bias: Float64Array | null): Routing {
  const s = r.scoring === 'softmax' ? softmax(z) : z.map(sigmoid);
  let sel = bias ? s.map((v, e) => v + bias[e]!) : s;
  if (r.method === 'noaux_tc') sel = maskGroups(sel, r, (g) => { const t = g.sort((a, b) => b - a); return t[0]! + t[1]!; });
  if (r.method === 'group_limited_greedy') sel = maskGroups(sel, r, (g) => Math.max(...g));
  const experts = topK(sel, k);
  let weights = experts.map((e) => s[e]!);
  const normalize = r.normTopkProb && k > 1;
  if (normalize) {
    const sum = weights.reduce((a, b) => a + b, 0) + 1e-20;
    weights = weights.map((w) => w / sum);
  }
  if (arch === 'deepseek_v3' || !normalize) weights = weights.map((w) => w * r.routedScalingFactor);
  return { experts, weights };
}

/** Mixtral (always renormalize) and Qwen3-MoE (renormalize iff norm_topk_prob): softmax top-k. */
export function routeSoftmaxTopk(renormalize: boolean, k: number, z: Float64Array): Routing {
  const p = softmax(z);
  const experts = topK(p, k);
  let weights = experts.map((e) => p[e]!);
  if (renormalize) {
    const sum = weights.reduce((a, b) => a + b, 0);
    weights = weights.map((w) => w / sum);
  }
  return { experts, weights };
}

/** Per-architecture HF names of the MoE block (MODELS.md §3.1, §3.2, §4.2). */
function moeNames(spec: ModelSpec, p: string) {
  if (spec.arch === 'mixtral') {
    const b = `${p}block_sparse_moe.`;
    return { router: `${b}gate.weight`, expert: (e: number) => ({ gate: `${b}experts.${e}.w1.weight`, up: `${b}experts.${e}.w3.weight`, down: `${b}experts.${e}.w2.weight` }) };
  }
  const b = `${p}mlp.`;
  return { router: `${b}gate.weight`, expert: (e: number) => ({ gate: `${b}experts.${e}.gate_proj.weight`, up: `${b}experts.${e}.up_proj.weight`, down: `${b}experts.${e}.down_proj.weight` }) };
}

function glu(ws: WeightSource, n: { gate: string; up: string; down: string }, width: number, D: number): GluWeights {
  return { gate: readTensor(ws, n.gate, [width, D]), up: readTensor(ws, n.up, [width, D]), down: readTensor(ws, n.down, [D, width]), width };
}

/** Dense MLP of width `width` at `${p}mlp.*` (x: [T, D] → [T, D]). */
export function denseMlp(spec: ModelSpec, ws: WeightSource, p: string, x: Float64Array, width: number): Float64Array {
  return denseMlpAt(ws, `${p}mlp.`, x, width, spec.hiddenSize);
}

function routeToken(spec: ModelSpec, f: MoeFfn, z: Float64Array, bias: Float64Array | null): Routing {
  const k = f.numExpertsPerTok;
  if (spec.arch === 'mixtral') return routeSoftmaxTopk(true, k, z);
  if (spec.arch === 'qwen3_moe') return routeSoftmaxTopk(f.router.normTopkProb, k, z);
  if (spec.arch === 'deepseek_v2' || spec.arch === 'deepseek_v3') return routeDeepseek(spec.arch, f.router, k, z, bias);
  throw new AssertionError(`reference: ${spec.arch} has no MoE`);
}

/** The routing of each token (exposed for tests and expert-load checks). x: [T, D]. */
export function routeAll(spec: ModelSpec, ws: WeightSource, p: string, f: MoeFfn, x: Float64Array): Routing[] {
  const D = spec.hiddenSize;
  const E = f.numExperts;
  const isDeepseek = spec.arch === 'deepseek_v2' || spec.arch === 'deepseek_v3';
  const bias = isDeepseek && f.router.method === 'noaux_tc' ? readTensor(ws, `${p}mlp.gate.e_score_correction_bias`, [E]) : null;
  const z = linear(x, readTensor(ws, moeNames(spec, p).router, [E, D]), E, D); // [T, E]
  const out: Routing[] = [];
  for (let t = 0; t < x.length / D; t++) out.push(routeToken(spec, f, row(z, t, E), bias));
  return out;
}

/** MoE FFN of one layer: Σ_j w_j·Expert_j(x) (+ the shared expert, DeepSeek). x: [T, D] → [T, D]. */
export function moeFfn(spec: ModelSpec, ws: WeightSource, p: string, f: MoeFfn, x: Float64Array): Float64Array {
  const D = spec.hiddenSize;
  const names = moeNames(spec, p);
  const routes = routeAll(spec, ws, p, f, x);
  const y = f.sharedIntermediateSize > 0
    ? denseMlpAt(ws, `${p}mlp.shared_experts.`, x, f.sharedIntermediateSize, D)
    : new Float64Array(x.length); // [T, D]
  routes.forEach((r, t) => {
    const xt = row(x, t, D);
    r.experts.forEach((e, j) => {
      const ye = siluGlu(xt, glu(ws, names.expert(e), f.expertIntermediateSize, D), D);
      for (let d = 0; d < D; d++) y[t * D + d] = y[t * D + d]! + r.weights[j]! * ye[d]!;
    });
  });
  return y;
}

function denseMlpAt(ws: WeightSource, b: string, x: Float64Array, width: number, D: number): Float64Array {
  return siluGlu(x, glu(ws, { gate: `${b}gate_proj.weight`, up: `${b}up_proj.weight`, down: `${b}down_proj.weight` }, width, D), D);
}

/** The FFN of a layer, dense or MoE per its spec. */
export function ffn(spec: ModelSpec, ws: WeightSource, p: string, f: FfnSpec, x: Float64Array): Float64Array {
  return f.kind === 'dense' ? denseMlp(spec, ws, p, x, f.intermediateSize) : moeFfn(spec, ws, p, f, x);
}
