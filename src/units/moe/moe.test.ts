/**
 * The MoE unit (MODELS.md §3, §4.5): moeFfn hands the routed experts and the shared expert (as
 * expert E, weight 1) to the backend in one moeExperts call. Checked against the formulation it
 * replaced, routed experts then `out + Shared(x)` with a separate dense MLP: bit-identical on the
 * reference backend and through a backend without the fused method (moeExpertsLoop; the same f32
 * operations in the same order), and within 1e-5 · rms on the native backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouterSpec } from '../../config/model-spec.js';
import type { ComputeBackend } from '../../kernels/backend.js';
import { referenceBackend } from '../../kernels/reference.js';
import { moeExpertsLoop } from '../../kernels/moe-experts.js';
import { randomExperts, rms } from '../../kernels/moe-test-util.js';
import { maxAbsDiff, requireNative, rng, sharedF32 } from '../../kernels/native-test-util.js';
import { denseMlp } from '../ffn.js';
import { groupByExpert, moeFfn, type MoeSpec, type MoeWeights } from './moe.js';
import { routeTokens } from './router.js';

const router: RouterSpec = { scoring: 'sigmoid', method: 'noaux_tc', numGroups: 4, topkGroups: 2, normTopkProb: true, routedScalingFactor: 2.5, scalingRule: 'always', hasCorrectionBias: true, normEps: 1e-20 };
const [E, D, I, S, k, T] = [16, 40, 12, 24, 4, 9];
const spec: MoeSpec = { kind: 'moe', numExperts: E, numExpertsPerTok: k, expertIntermediateSize: I, sharedIntermediateSize: S, router };

function weights(format: 'f32' | 'bf16', shared: boolean): MoeWeights {
  const r = rng(5);
  return {
    kind: 'moe',
    router: { format: 'f32', outDim: E, inDim: D, data: sharedF32(E * D, r, 0.3) },
    correctionBias: sharedF32(E, r, 0.1),
    experts: randomExperts(E, D, I, format, 6),
    shared: shared ? randomExperts(1, D, S, format, 7)[0]! : null,
  } as MoeWeights;
}

/** The unit as it was: routed experts through the per-expert loop, then + Shared(x). */
function separateShared(b: ComputeBackend, w: MoeWeights, x: Float32Array): Float32Array {
  const logits = new Float32Array(T * E);
  b.matmul(x, w.router, logits, T);
  const g = groupByExpert(routeTokens(logits, T, E, k, router, w.correctionBias), E);
  const out = new Float32Array(T * D);
  moeExpertsLoop(b, { x, out, numTokens: T, ...g, experts: w.experts });
  if (w.shared !== null) {
    const s = new Float32Array(T * D);
    denseMlp(b, w.shared, x, s, T);
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + s[i]!;
  }
  return out;
}

for (const shared of [true, false]) {
  test(`moeFfn ${shared ? 'with' : 'without'} a shared expert equals routed experts + separate shared MLP`, () => {
    for (const format of ['f32', 'bf16'] as const) {
      const w = weights(format, shared);
      const x = sharedF32(T * D, rng(8));
      const want = separateShared(referenceBackend, w, x);
      const out = new Float32Array(T * D).fill(NaN);
      const routing = moeFfn(referenceBackend, w, spec, x, out, T);
      assert.equal(routing.experts.length, T * k);
      assert.deepEqual(out, want, `${format}: reference backend, bit for bit`);
      const { moeExperts: _fused, ...plain } = referenceBackend; // a backend without the fused method
      const viaLoop = new Float32Array(T * D);
      moeFfn(plain, w, spec, x, viaLoop, T);
      assert.deepEqual(viaLoop, want, `${format}: moe.ts's moeExpertsLoop path`);
      assert.ok(rms(want) > 0);
      const nb = requireNative(2);
      if (!nb) continue;
      const got = new Float32Array(T * D);
      moeFfn(nb, w, spec, x, got, T);
      assert.ok(maxAbsDiff(got, want) <= 1e-5 * rms(want), `${format}: native ${maxAbsDiff(got, want)}`);
    }
  });
}
