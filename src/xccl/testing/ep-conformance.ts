/**
 * EP part of the conformance suite: random routings checked against the naive all-to-all of
 * reference.ts (f32 wire: 1e-4 relative; INT8 wire: the per-token bound), trampoline equivalence
 * of a2e/e2a, and an EP area too small for the batch.
 */
import assert from 'node:assert/strict';
import { launchRanks, type LaunchKind, type RankResult } from './launch.js';
import { int8ErrorBound, naiveExpertCounts, naiveMoe, type EpCase } from './reference.js';

interface Round { out?: number[]; counts?: number[]; code?: string; message?: string }

function rounds(results: readonly RankResult[]): Round[][] {
  return results.map((r, i) => {
    assert.ok(r.ok, `rank ${i} failed: ${r.ok ? '' : `${r.code}: ${r.message}`}`);
    return r.value as Round[];
  });
}

function cases(worldSources: number, numExperts: number): EpCase[] {
  const t = [[3, 0, 5, 2], [1, 4, 4, 1], [6, 2, 0, 3]];
  return t.map((tokens, i) => ({ seed: 11 + i, hidden: 24, topk: 3, numExperts, tokensPerRank: tokens.slice(0, worldSources) }));
}

/** Max |got - ref| over a rank's output, checked against a per-token tolerance. */
function checkOut(got: readonly number[], c: EpCase, r: number, tol: (t: number, ref: number) => number): void {
  const ref = naiveMoe(c, r);
  assert.equal(got.length, ref.length, `rank ${r}: output length`);
  let maxDiff = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i]! - ref[i]!);
    maxDiff = Math.max(maxDiff, d);
    assert.ok(d <= tol(Math.floor(i / c.hidden), ref[i]!), `rank ${r} seed ${c.seed} elem ${i}: got ${got[i]}, reference ${ref[i]}`);
  }
}

const f32Tol = (_t: number, ref: number): number => 1e-4 * Math.max(1, Math.abs(ref));

async function dispatchCombine(kind: LaunchKind, isInt8: boolean): Promise<void> {
  const W = 4;
  const cs = cases(W, 8);
  const res = rounds(await launchRanks(kind, { region: { worldSize: W, slotBytes: 256, numSlots: 4, epAreaBytes: 1 << 16 }, scenario: 'epRoundTrip', params: { cases: cs, isInt8 } }));
  cs.forEach((c, i) => {
    const counts = naiveExpertCounts(c);
    for (let r = 0; r < W; r++) {
      const round = res[r]![i]!;
      assert.deepEqual(round.counts, counts.slice(r * 2, r * 2 + 2), `rank ${r} round ${i}: tokens per local expert`);
      const bound = int8ErrorBound(c, r);
      checkOut(round.out!, c, r, isInt8 ? (t, ref) => bound[t]! + 1e-4 * Math.max(1, Math.abs(ref)) : f32Tol);
    }
  });
}

async function trampolines(kind: LaunchKind, numAttention: number): Promise<void> {
  const W = 4;
  const cs = cases(numAttention, 6).slice(0, 2);
  const res = rounds(await launchRanks(kind, { region: { worldSize: W, slotBytes: 256, numSlots: 4, epAreaBytes: 1 << 16 }, scenario: 'a2eRoundTrip', params: { cases: cs, isInt8: false, numAttention } }));
  const E = W - numAttention;
  cs.forEach((c, i) => {
    for (let a = 0; a < numAttention; a++) checkOut(res[a]![i]!.out!, c, a, f32Tol);
    const counts = naiveExpertCounts(c);
    const per = c.numExperts / E;
    for (let e = 0; e < E; e++) assert.deepEqual(res[numAttention + e]![i]!.counts, counts.slice(e * per, (e + 1) * per));
  });
}

async function areaTooSmall(kind: LaunchKind): Promise<void> {
  const c: EpCase = { seed: 5, hidden: 64, topk: 2, numExperts: 4, tokensPerRank: [40, 40] };
  const res = rounds(await launchRanks(kind, { region: { worldSize: 2, slotBytes: 256, numSlots: 4, epAreaBytes: 4096 }, scenario: 'epRoundTrip', params: { cases: [c], isInt8: false } }));
  for (const r of res) {
    assert.equal(r[0]!.code, 'xccl_buffer_too_small');
    assert.match(r[0]!.message!, /epAreaBytes/);
  }
}

export const EP_CONFORMANCE: Record<string, (kind: LaunchKind) => Promise<void>> = {
  'dispatch/combine on random routings equal the naive all-to-all (4 ranks, 3 rounds, 0-token ranks)': (k) => dispatchCombine(k, false),
  'INT8 dispatch stays within the per-token quantization bound': (k) => dispatchCombine(k, true),
  'a2e/e2a through trampolines equal the naive all-to-all (1 attention + 3 experts)': (k) => trampolines(k, 1),
  'a2e/e2a with 2 attention + 2 expert ranks': (k) => trampolines(k, 2),
  'an EP batch larger than the EP area is a typed error naming epAreaBytes': (k) => areaTooSmall(k),
};
