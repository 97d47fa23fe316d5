/**
 * Dispatch layout, computed before any data moves (DeepEP style; paper notes §2.4.2): for every
 * member of an EP group, which of this rank's tokens go there. Experts are owned in contiguous
 * blocks: member g owns experts [g * E/G, (g+1) * E/G). A token goes to a member once, however
 * many of its top-k experts live there; expert id -1 means "no expert" (dropped slot).
 */
import { XdsError } from '../../core/errors.js';

export interface EpConfig {
  /** Hidden size of a token (elements). */
  readonly hidden: number;
  /** Experts per token. */
  readonly topk: number;
  /** Routed experts in the whole group (divisible by the group size). */
  readonly numExperts: number;
  /** INT8 on the wire for dispatch (per-token scale). */
  readonly isInt8?: boolean;
}

export interface DispatchLayout {
  readonly numTokens: number;
  /** Token indices sent to each group member, ascending. // [groupSize][rows] i32 */
  readonly destTokens: readonly Int32Array[];
}

function bad(param: string, message: string): XdsError {
  return new XdsError('invalid_argument', `xccl EP: ${message}`, { param });
}

export function validateEpConfig(cfg: EpConfig, groupSize: number): void {
  for (const k of ['hidden', 'topk', 'numExperts'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw bad(k, `${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (cfg.numExperts % groupSize !== 0) throw bad('numExperts', `numExperts ${cfg.numExperts} is not divisible by the ${groupSize} expert ranks`);
}

/** Checks the shapes of one dispatch call; returns the number of tokens. */
export function checkDispatchInputs(cfg: EpConfig, x: Float32Array, topkIdx: Int32Array, topkWeights: Float32Array): number {
  const numTokens = x.length / cfg.hidden;
  if (!Number.isInteger(numTokens)) throw bad('x', `x has ${x.length} elements, not a multiple of hidden ${cfg.hidden}`);
  if (topkIdx.length !== numTokens * cfg.topk) throw bad('topkIdx', `topkIdx has ${topkIdx.length} elements, expected tokens ${numTokens} x topk ${cfg.topk}`);
  if (topkWeights.length !== numTokens * cfg.topk) throw bad('topkWeights', `topkWeights has ${topkWeights.length} elements, expected ${numTokens * cfg.topk}`);
  for (let i = 0; i < topkIdx.length; i++) {
    const e = topkIdx[i]!;
    if (e < -1 || e >= cfg.numExperts) throw bad('topkIdx', `topkIdx[${i}] = ${e} is outside [-1, ${cfg.numExperts})`);
  }
  return numTokens;
}

export function computeDispatchLayout(cfg: EpConfig, topkIdx: Int32Array, numTokens: number, groupSize: number): DispatchLayout {
  const perMember = cfg.numExperts / groupSize;
  const lists: number[][] = Array.from({ length: groupSize }, () => []);
  for (let t = 0; t < numTokens; t++) {
    let lastMember = -1;
    const seen = new Set<number>();
    for (let k = 0; k < cfg.topk; k++) {
      const e = topkIdx[t * cfg.topk + k]!;
      if (e < 0) continue;
      const g = Math.floor(e / perMember);
      if (g === lastMember || seen.has(g)) continue;
      seen.add(g);
      lastMember = g;
      lists[g]!.push(t);
    }
  }
  return { numTokens, destTokens: lists.map((l) => Int32Array.from(l)) };
}
