/**
 * EP part of the conformance suite: random routings checked against the naive all-to-all of
 * reference.ts (f32 wire: 1e-4 relative; INT8 wire: the per-token bound), trampoline equivalence
 * of a2e/e2a (same reference), and an EP batch too large for the EP area. Each case is a step of
 * the batched 4-rank launch in conformance.ts.
 */
import assert from 'node:assert/strict';
import { int8ErrorBound, naiveExpertCounts, naiveMoe, type EpCase } from './reference.js';

export const EP_WORLD = 4;

interface Round { out?: number[]; counts?: number[]; code?: string; message?: string }

/** One step of the batched launch: what every rank runs, and how its results are checked. */
export interface ConformanceStep {
  readonly name: string;
  readonly scenario: string;
  readonly params: unknown;
  /** Receives each rank's result of this step. */
  check(perRank: readonly unknown[]): void;
}

function cases(numSources: number, numExperts: number): EpCase[] {
  const t = [[3, 0, 5, 2], [1, 4, 4, 1], [6, 2, 0, 3]];
  return t.map((tokens, i) => ({ seed: 11 + i, hidden: 24, topk: 3, numExperts, tokensPerRank: tokens.slice(0, numSources) }));
}

/** Checks every element of a rank's output against the reference with a per-token tolerance. */
function checkOut(got: readonly number[], c: EpCase, r: number, tol: (t: number, ref: number) => number): void {
  const ref = naiveMoe(c, r);
  assert.equal(got.length, ref.length, `rank ${r}: output length`);
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i]! - ref[i]!);
    assert.ok(d <= tol(Math.floor(i / c.hidden), ref[i]!), `rank ${r} seed ${c.seed} elem ${i}: got ${got[i]}, reference ${ref[i]}`);
  }
}

const f32Tol = (_t: number, ref: number): number => 1e-4 * Math.max(1, Math.abs(ref));

function dispatchCombine(isInt8: boolean): ConformanceStep {
  const cs = cases(EP_WORLD, 8);
  return {
    name: isInt8 ? 'INT8 dispatch stays within the per-token quantization bound' : 'dispatch/combine on random routings equal the naive all-to-all (4 ranks, 3 rounds, 0-token ranks)',
    scenario: 'epRoundTrip',
    params: { cases: cs, isInt8 },
    check(perRank) {
      cs.forEach((c, i) => {
        const counts = naiveExpertCounts(c);
        for (let r = 0; r < EP_WORLD; r++) {
          const round = (perRank[r] as Round[])[i]!;
          assert.deepEqual(round.counts, counts.slice(r * 2, r * 2 + 2), `rank ${r} round ${i}: tokens per local expert`);
          const bound = int8ErrorBound(c, r);
          checkOut(round.out!, c, r, isInt8 ? (t, ref) => bound[t]! + 1e-4 * Math.max(1, Math.abs(ref)) : f32Tol);
        }
      });
    },
  };
}

function trampolines(numAttention: number): ConformanceStep {
  const cs = cases(numAttention, 6).slice(0, 2);
  const E = EP_WORLD - numAttention;
  return {
    name: `a2e/e2a through trampolines equal the naive all-to-all (${numAttention} attention + ${E} expert ranks)`,
    scenario: 'a2eRoundTrip',
    params: { cases: cs, isInt8: false, numAttention },
    check(perRank) {
      cs.forEach((c, i) => {
        for (let a = 0; a < numAttention; a++) checkOut((perRank[a] as Round[])[i]!.out!, c, a, f32Tol);
        const counts = naiveExpertCounts(c);
        const per = c.numExperts / E;
        for (let e = 0; e < E; e++) assert.deepEqual((perRank[numAttention + e] as Round[])[i]!.counts, counts.slice(e * per, (e + 1) * per));
      });
    },
  };
}

const areaTooSmall: ConformanceStep = {
  name: 'an EP batch larger than the EP area is a typed error naming epAreaBytes',
  scenario: 'epRoundTrip',
  params: { cases: [{ seed: 5, hidden: 256, topk: 2, numExperts: 4, tokensPerRank: [80, 80, 80, 80] }], isInt8: false },
  check(perRank) {
    for (const r of perRank as Round[][]) {
      assert.equal(r[0]!.code, 'xccl_buffer_too_small');
      assert.match(r[0]!.message!, /epAreaBytes/);
    }
  },
};

export const EP_STEPS: readonly ConformanceStep[] = [dispatchCombine(false), dispatchCombine(true), trampolines(1), trampolines(2), areaTooSmall];
