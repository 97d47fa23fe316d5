// LocalModelRunner serving-path options (issue 4). warmUp (load-time preparation): later forwards give
// the same logits as a runner that never warmed up, its dummy routing is not reported, and the KV
// pages it allocated are already written (touching them again takes far fewer page faults than on a
// fresh runner). ForwardBatch.mayReuseOutputs: the same logits, in buffers reused step after step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../../config/model-config.js';
import { setHugePages } from '../../core/huge-pages.js';
import { referenceBackend } from '../../kernels/reference.js';
import { bindModelWeights } from '../../model/model-weights.js';
import { KvStorage } from '../../kvcache/kv-storage.js';
import { randomWeightSource, TINY_CONFIGS } from '../../units/testing/random-model.js';
import type { Routing } from '../../units/moe/router.js';
import { LocalModelRunner, type LocalModelRunnerOptions } from './model-runner.js';

const PROMPT = Int32Array.from([3, 17, 42, 5, 88, 1, 64, 23, 9]);

function makeRunner(arch: string, o: Partial<LocalModelRunnerOptions> = {}): LocalModelRunner {
  const spec = parseModelConfig(TINY_CONFIGS[arch]);
  return new LocalModelRunner(spec, bindModelWeights(spec, randomWeightSource(spec, 7)), referenceBackend, { numBlocks: 12, blockSizeTokens: 4, ...o });
}

/** Prefill of PROMPT then two decode steps, on blocks the warm-up also wrote; all logits rows. */
function prefillAndDecode(r: LocalModelRunner): Float32Array[] {
  const table = Int32Array.from([2, 0, 1, 3]);
  const out = [r.forward({ kind: 'forward', seqs: [{ seqId: 'a', tokenIds: PROMPT, startPos: 0, blockTable: table, wantAllLogits: true }] }).logits];
  for (const [pos, t] of [[9, 11], [10, 60]] as const) {
    out.push(r.forward({ kind: 'forward', seqs: [{ seqId: 'a', tokenIds: Int32Array.of(t), startPos: pos, blockTable: table, wantAllLogits: false }] }).logits);
  }
  return out;
}

for (const arch of ['deepseek_v3', 'qwen3_moe', 'llama']) {
  test(`${arch}: forwards after warmUp == forwards of a runner that never warmed up (bit for bit)`, () => {
    const warm = makeRunner(arch);
    warm.warmUp({ maxRows: 40, maxSeqs: 8 });
    const got = prefillAndDecode(warm);
    const want = prefillAndDecode(makeRunner(arch));
    got.forEach((g, i) => assert.deepEqual(g, want[i], `step ${i}`));
  });
}

test('warmUp reports no routing; later forwards do', () => {
  const seen: number[] = [];
  const r = makeRunner('deepseek_v3', { onRouting: (layer: number, _r: Routing) => seen.push(layer) });
  r.warmUp({ maxRows: 16, maxSeqs: 4 });
  assert.deepEqual(seen, []);
  prefillAndDecode(r);
  assert.ok(seen.length > 0);
});

test('warmUp writes the KV pages it allocated (few faults on touching them again); shared storage is left alone', () => {
  const faultsToTouch = (r: LocalModelRunner): { faults: number; pages: number } => {
    let pages = 0;
    const f0 = process.resourceUsage().minorPageFault;
    for (const kv of r.kv.layerStorage) {
      for (const a of kv.kind === 'gqa' ? [kv.k, kv.v] : [kv.latent]) {
        for (let i = 0; i < a.length; i += 1024) a[i] = 1; // one store per 4 KiB page
        pages += Math.ceil(a.length / 1024);
      }
    }
    return { faults: process.resourceUsage().minorPageFault - f0, pages };
  };
  const opts = { numBlocks: 4096, blockSizeTokens: 16 };
  const hugePages = setHugePages(false); // one fault per 4 KiB page makes the first touch countable (a huge page is one fault per 2 MiB)
  let fresh: { faults: number; pages: number }, warm: LocalModelRunner;
  try {
    fresh = faultsToTouch(makeRunner('deepseek_v3', opts));
    warm = makeRunner('deepseek_v3', opts);
  } finally {
    setHugePages(hugePages);
  }
  warm.warmUp({ maxRows: 8, maxSeqs: 2 });
  const warmed = faultsToTouch(warm);
  assert.ok(fresh.faults > fresh.pages / 2, `fresh storage: ${fresh.faults} faults for ${fresh.pages} pages`);
  assert.ok(warmed.faults < fresh.faults / 4, `after warmUp: ${warmed.faults} faults vs ${fresh.faults} fresh`);

  const shared = new KvStorage(warm.spec, { numBlocks: 12, blockSizeTokens: 4, includeMtp: warm.weights.mtp.length > 0 });
  const layer0 = shared.layer(0);
  if (layer0.kind !== 'mla') throw new Error('MLA expected');
  layer0.latent[layer0.latent.length - 1] = 7; // a block no warm-up forward writes (blocks 0… only)
  makeRunner('deepseek_v3', { kv: shared }).warmUp({ maxRows: 4, maxSeqs: 1 });
  assert.equal(layer0.latent[layer0.latent.length - 1], 7);
});

test('mayReuseOutputs: the same logits and hidden rows, in buffers reused by the next step; without it, fresh arrays', () => {
  const table = Int32Array.from([2, 0, 1, 3]);
  const step = (r: LocalModelRunner, reuse: boolean, tokens: Int32Array, startPos: number): { logits: Float32Array; hidden: Float32Array } =>
    r.forward({ kind: 'forward', seqs: [{ seqId: 'a', tokenIds: tokens, startPos, blockTable: table, wantAllLogits: startPos === 0 }], mayReuseOutputs: reuse });
  const fresh = makeRunner('deepseek_v3'), reusing = makeRunner('deepseek_v3');
  const f1 = step(fresh, false, PROMPT, 0), r1 = step(reusing, true, PROMPT, 0);
  assert.deepEqual(r1.logits, f1.logits);
  assert.deepEqual(r1.hidden, f1.hidden);
  const f1Logits = Float32Array.from(f1.logits);
  const f2 = step(fresh, false, Int32Array.of(11), 9), r2 = step(reusing, true, Int32Array.of(11), 9);
  assert.deepEqual(r2.logits, f2.logits);
  assert.deepEqual(r2.hidden, f2.hidden);
  assert.equal(r2.logits.buffer, r1.logits.buffer, 'logits reuse one buffer');
  assert.equal(r2.hidden.buffer, r1.hidden.buffer, 'hidden reuses one buffer');
  assert.notEqual(f2.logits.buffer, f1.logits.buffer);
  assert.deepEqual(f1.logits, f1Logits, 'a result without the flag stays valid after the next forward');
});
