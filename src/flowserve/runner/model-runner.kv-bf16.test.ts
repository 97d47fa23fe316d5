/**
 * LocalModelRunner with a bf16 KV cache (`kvDtype: 'bfloat16'`, serve --kv-cache-dtype) on the tiny
 * random models of every architecture, a prompt prefilled in a chunk of 5 and then decoded one
 * token at a time (MLA: the naive prefill form reading the cache back, then absorbed decode):
 * - the cache holds bf16: layer 0's entries (computed from the embeddings alone, so the same in
 *   both runs) are exactly the f32 run's entries rounded to nearest even, with the reference
 *   backend (TypeScript rounding) and the native one (its toBf16);
 * - the logits stay within BF16_REL of the f32-cache run's (relative to the largest |logit|):
 *   bf16 keeps 8 significant bits (2^-9 ≈ 2e-3 relative per value), and the measured worst case
 *   over these models is 1.0e-2 (deepseek_v2, routed scaling 16), so 2e-2; and they do differ;
 * - the native backend over the bf16 cache matches the reference backend over it (f64
 *   accumulation) within NATIVE_REL (measured ≤ 8.4e-7; the margin is for an entry that the two
 *   backends' f32 values put on different sides of a bf16 rounding boundary).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../../config/model-config.js';
import { f32ToBf16 } from '../../core/dtype.js';
import type { ComputeBackend } from '../../kernels/backend.js';
import { nativeBackend } from '../../kernels/native.js';
import { referenceBackend } from '../../kernels/reference.js';
import type { KvDtype } from '../../kvcache/kv-storage.js';
import { bindModelWeights } from '../../model/model-weights.js';
import { randomWeightSource, TINY_CONFIGS } from '../../units/testing/random-model.js';
import { LocalModelRunner } from './model-runner.js';

const PROMPT = Int32Array.from([3, 17, 42, 5, 88, 1, 64, 23, 9, 71, 30, 50]);
const CHUNKS = [5, 1, 1, 1, 1, 1, 1, 1];
const TABLE = Int32Array.from([5, 2, 9]);
const BF16_REL = 2e-2;
const NATIVE_REL = 1e-4;
const native = nativeBackend({ numThreads: 2, quiet: true });

function run(arch: string, backend: ComputeBackend, kvDtype: KvDtype): { logits: Float32Array[]; runner: LocalModelRunner } {
  const spec = parseModelConfig(TINY_CONFIGS[arch]);
  const runner = new LocalModelRunner(spec, bindModelWeights(spec, randomWeightSource(spec, 7)), backend, { numBlocks: 12, blockSizeTokens: 4, kvDtype });
  const logits: Float32Array[] = [];
  let pos = 0;
  for (const n of CHUNKS) {
    const res = runner.forward({ kind: 'forward', seqs: [{ seqId: 's', tokenIds: PROMPT.subarray(pos, pos + n), startPos: pos, blockTable: TABLE, wantAllLogits: true }] });
    logits.push(Float32Array.from(res.logits));
    pos += n;
  }
  return { logits, runner };
}

/** Largest |a − b| over every step, relative to the largest |a|. */
function maxRel(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let d = 0, m = 0;
  a.forEach((x, s) => x.forEach((v, i) => { d = Math.max(d, Math.abs(v - b[s]![i]!)); m = Math.max(m, Math.abs(v)); }));
  return d / m;
}

for (const arch of Object.keys(TINY_CONFIGS)) {
  test(`${arch}: a bf16 KV cache holds the f32 entries rounded; logits within ${BF16_REL} of the f32 cache's`, () => {
    for (const backend of native === null ? [referenceBackend] : [referenceBackend, native]) {
      const f = run(arch, backend, 'float32'), b = run(arch, backend, 'bfloat16');
      const lf = f.runner.kv.layer(0), lb = b.runner.kv.layer(0);
      const [cf, cb] = lf.kind === 'gqa' && lb.kind === 'gqa' ? [lf.v, lb.v] : lf.kind === 'mla' && lb.kind === 'mla' ? [lf.latent, lb.latent] : [null, null];
      assert.ok(cf instanceof Float32Array && cb instanceof Uint16Array, 'an f32 and a bf16 cache');
      assert.ok(cf.some((v) => v !== 0), 'the prompt was written');
      cf.forEach((v, i) => { if (cb[i] !== f32ToBf16(v)) assert.fail(`${backend.name}: layer 0 entry ${i}: ${cb[i]} is not ${v} rounded (${f32ToBf16(v)})`); });
      const rel = maxRel(f.logits, b.logits);
      assert.ok(rel > 0 && rel <= BF16_REL, `${backend.name}: relative logit difference ${rel}`);
    }
  });

  test(`${arch}: native over a bf16 KV cache == reference within ${NATIVE_REL}`, { skip: native === null }, () => {
    const rel = maxRel(run(arch, referenceBackend, 'bfloat16').logits, run(arch, native!, 'bfloat16').logits);
    assert.ok(rel <= NATIVE_REL, `relative logit difference ${rel}`);
  });
}
