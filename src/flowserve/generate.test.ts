import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, type GenerateOptions } from './generate.js';
import { IncrementalDetokenizer } from './output/detokenizer.js';
import { LocalModelRunner } from './runner/model-runner.js';
import type { ModelRunner } from './runner/types.js';
import { generateCheckpoint } from '../model/generator/write-checkpoint.js';
import { openSafetensorsWeights } from '../model/safetensors.js';
import { bindModelWeights } from '../model/model-weights.js';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer.js';
import { referenceBackend } from '../kernels/reference.js';
import { referenceForward } from '../model/reference/forward.js';
import type { ModelSpec } from '../config/model-spec.js';
import type { WeightSource } from '../model/tensor.js';
import { ManualClock } from '../core/clock.js';
import { isXdsError } from '../core/errors.js';

const root = mkdtempSync(join(tmpdir(), 'xds-generate-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

interface Model { spec: ModelSpec; source: WeightSource; tokenizer: TextTokenizer; runner: (numBlocks?: number, blockSize?: number) => LocalModelRunner }

async function model(arch: string): Promise<Model> {
  const { dir, spec } = await generateCheckpoint({ arch, preset: 'tiny', seed: 11, outDir: join(root, arch) });
  const source = openSafetensorsWeights(dir);
  const weights = bindModelWeights(spec, source, { includeMtp: false });
  const runner = (numBlocks = 16, blockSize = 4): LocalModelRunner => new LocalModelRunner(spec, weights, referenceBackend, { numBlocks, blockSizeTokens: blockSize });
  return { spec, source, tokenizer: loadTokenizer(dir), runner };
}

const models = new Map<string, Promise<Model>>();
const get = (arch: string): Promise<Model> => {
  if (!models.has(arch)) models.set(arch, model(arch));
  return models.get(arch)!;
};

function run(m: Model, o: Partial<GenerateOptions>): ReturnType<typeof generate> {
  return generate({ runner: m.runner(), tokenizer: m.tokenizer, promptIds: m.tokenizer.encode('The cat sat'), maxTokens: 8, ...o });
}

/** Greedy decoding by full recomputation with the independent f64 reference forward. */
function referenceGreedy(m: Model, prompt: number[], n: number): number[] {
  const ids = [...prompt];
  const V = m.spec.vocabSize;
  for (let i = 0; i < n; i++) {
    const { logits } = referenceForward(m.spec, m.source, ids);
    const last = logits.subarray(logits.length - V);
    let best = 0;
    for (let v = 1; v < V; v++) if (last[v]! > last[best]!) best = v;
    ids.push(best);
  }
  return ids.slice(prompt.length);
}

for (const arch of ['llama', 'deepseek-v3']) {
  test(`${arch}: greedy generate (prefill + paged decode) equals full recomputation with the f64 reference`, async () => {
    const m = await get(arch);
    const prompt = m.tokenizer.encode('The cat sat');
    const r = await run(m, { promptIds: prompt, params: { temperature: 0 }, maxTokens: 6 });
    assert.deepEqual(r.tokenIds, referenceGreedy(m, prompt, 6));
    assert.equal(r.finishReason, 'length');
    assert.deepEqual(r.promptTokenIds, prompt);
  });
}

test('same seed ⇒ same tokens; another seed ⇒ other tokens', async () => {
  const m = await get('llama');
  const a = await run(m, { params: { temperature: 1, seed: 7 }, maxTokens: 12 });
  const b = await run(m, { params: { temperature: 1, seed: 7 }, maxTokens: 12 });
  const c = await run(m, { params: { temperature: 1, seed: 8 }, maxTokens: 12 });
  assert.deepEqual(a.tokenIds, b.tokenIds);
  assert.notDeepEqual(a.tokenIds, c.tokenIds);
});

test('a stop token ends generation, is kept in tokenIds, and adds no text', async () => {
  const m = await get('llama');
  const g = (await run(m, { params: { temperature: 0 }, maxTokens: 10 })).tokenIds;
  const k = g.findIndex((t, i) => i > 0 && !g.slice(0, i).includes(t));
  assert.ok(k > 0, 'greedy output repeats one token only');
  const r = await run(m, { params: { temperature: 0 }, maxTokens: 10, stopTokenIds: [g[k]!] });
  assert.deepEqual(r.tokenIds, g.slice(0, k + 1));
  assert.equal(r.finishReason, 'stop');
  assert.equal(r.text, m.tokenizer.decode(g.slice(0, k), { skipSpecialTokens: true }));
});

test('a stop string cuts the text before it; onToken pieces add up to the text', async () => {
  const m = await get('llama');
  const full = await run(m, { params: { temperature: 0 }, maxTokens: 16 });
  const stop = full.text.slice(6, 8);
  const pieces: string[] = [];
  const r = await run(m, { params: { temperature: 0 }, maxTokens: 16, stopStrings: [stop], onToken: (ev) => pieces.push(ev.text) });
  assert.equal(r.text, full.text.slice(0, full.text.indexOf(stop)));
  assert.equal(r.finishReason, 'stop');
  assert.equal(pieces.join(''), r.text);
});

test('incremental detokenization never emits half a UTF-8 character', async () => {
  const { tokenizer } = await get('llama');
  const text = 'añb 世界🙂 ok';
  const d = new IncrementalDetokenizer(tokenizer, tokenizer.encode('x'));
  const pieces = tokenizer.encode(text, { addSpecialTokens: false }).map((id) => d.push(id));
  pieces.push(d.flush());
  assert.ok(pieces.every((p) => !p.includes('\uFFFD')));
  assert.equal(pieces.join(''), text);
  // Byte tokens (id = byte value): the 4 bytes of 🙂 come out as one piece, after the 4th.
  const d2 = new IncrementalDetokenizer(tokenizer, []);
  assert.deepEqual([...Buffer.from('🙂')].map((b) => d2.push(b)), ['', '', '', '🙂']);
});

test('a prompt longer than the context is context_length_exceeded; a full context ends with length', async () => {
  const m = await get('llama');
  const prompt = m.tokenizer.encode('abcdefghij', { addSpecialTokens: false }).slice(0, 6);
  assert.equal(prompt.length, 6);
  const tooLong = (e: unknown): boolean => isXdsError(e, 'context_length_exceeded');
  await assert.rejects(run(m, { promptIds: prompt, maxPositionEmbeddings: 5 }), tooLong);
  await assert.rejects(generate({ runner: m.runner(1, 4), tokenizer: m.tokenizer, promptIds: prompt, maxTokens: 2 }), tooLong);
  const r = await run(m, { promptIds: prompt, maxPositionEmbeddings: 9, maxTokens: 10, params: { temperature: 0 } });
  assert.equal(r.tokenIds.length, 3);
  assert.equal(r.finishReason, 'length');
  await assert.rejects(run(m, { promptIds: [] }), (e) => isXdsError(e, 'invalid_argument'));
});

test('prefill and decode tokens/s come from the injected clock', async () => {
  const m = await get('llama');
  const clock = new ManualClock();
  const inner = m.runner();
  const runner: ModelRunner = {
    vocabSize: inner.vocabSize, hiddenSize: inner.hiddenSize, blockSizeTokens: inner.blockSizeTokens, numBlocks: inner.numBlocks,
    forward: (b) => { clock.advanceUs(b.seqs[0]!.tokenIds.length > 1 ? 4000 : 2000); return inner.forward(b); },
  };
  const prompt = m.tokenizer.encode('The cat sat');
  const r = await generate({ runner, tokenizer: m.tokenizer, promptIds: prompt, maxTokens: 5, params: { temperature: 0 }, clock });
  assert.equal(r.prefillUs, 4000);
  assert.equal(r.decodeUs, 4 * 2000);
  assert.equal(r.prefillTokensPerSec, prompt.length / 0.004);
  assert.equal(r.decodeTokensPerSec, 500);
});

test('an aborted signal stops generation with request_aborted', async () => {
  const m = await get('llama');
  const ac = new AbortController();
  const p = run(m, { maxTokens: 50, params: { temperature: 0 }, signal: ac.signal, onToken: () => ac.abort() });
  await assert.rejects(p, (e) => isXdsError(e, 'request_aborted'));
});

// NOTE: the stop-string matcher itself is tested in output/stop-strings.test.ts (split stops,
// held-back prefixes, first to complete wins, pass-through); here only what generate adds.
test('an empty stop string is refused, naming it', async () => {
  const m = await get('llama');
  await assert.rejects(run(m, { stopStrings: ['ok', ''] }), (e) => isXdsError(e, 'invalid_argument') && e.param === 'stop[1]');
});
