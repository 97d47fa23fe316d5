import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputWorker } from './output-worker.js';
import { OutputProcessor } from './output-processor.js';
import { RequestOutput, type OutputMessage } from './request-output.js';
import type { PortableOutputOptions } from './output-worker-protocol.js';
import { DpEngine } from '../engine.js';
import type { SampledToken } from '../engine-types.js';
import type { Request } from '../request.js';
import { FakeRunner } from '../testing/fake-runner.js';
import { writeByteLevelTokenizer } from '../../model/byte-tokenizer.js';
import { loadTokenizer } from '../../model/tokenizer.js';
import { isXdsError } from '../../core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'xds-output-worker-'));
writeByteLevelTokenizer(dir);
const tok = loadTokenizer(dir);
const eos = tok.eosTokenId!;
const prompt = tok.encode('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n', { addSpecialTokens: false });

const SCRIPTS: Record<string, { ids: number[]; options: PortableOutputOptions }> = {
  tools: {
    ids: [...tok.encode('<think>\nThe user wants weather.\n</think>\n\nOne moment 🌦️.\n<tool_call>\n{"name": "weather", "arguments": {"city": "Oslo"}}\n</tool_call>', { addSpecialTokens: false }), eos],
    options: { promptIds: prompt, stopTokenIds: [eos], toolParser: 'hermes', reasoning: 'qwen3' },
  },
  stop: {
    ids: [...tok.encode('Sunny today. STOP then text that must not show up, repeated, repeated, repeated.', { addSpecialTokens: false }), eos],
    options: { promptIds: prompt, stopTokenIds: [eos], stop: ['STOP'] },
  },
};

function engine(): DpEngine {
  const sample = (_l: Float32Array, req: Request): SampledToken => {
    const ids = SCRIPTS[req.id]!.ids;
    const tokenId = ids[Math.min(req.numOutputTokens, ids.length - 1)]!;
    return { tokenId, logprob: -0.5, topLogprobs: [{ tokenId, logprob: -0.5 }] };
  };
  return new DpEngine({ runner: new FakeRunner({ numBlocks: 64, blockSizeTokens: 8, vocabSize: tok.vocabSize }), sample, scheduler: { maxNumBatchedTokens: 64, maxNumSeqs: 4, maxWaiting: 8 } });
}

function finalOf(messages: OutputMessage[]): Extract<OutputMessage, { kind: 'final' }> {
  const f = messages.at(-1)!;
  assert.equal(f.kind, 'final');
  return f as Extract<OutputMessage, { kind: 'final' }>;
}

/** What the client would see: the final record without the random tool-call ids. */
function visible(m: Extract<OutputMessage, { kind: 'final' }>): unknown {
  const f = m.final;
  return { content: f.content, reasoning: f.reasoningContent, finish: f.finishReason, stop: f.stopMatched, calls: f.toolCalls.map((c) => c.function) };
}

test('the output worker thread gives the same messages as the in-thread output process', async (t) => {
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const inThread = new Map<string, OutputMessage[]>();
  const e1 = engine();
  for (const [id, s] of Object.entries(SCRIPTS)) {
    const msgs: OutputMessage[] = [];
    inThread.set(id, msgs);
    const out = new RequestOutput(id, new OutputProcessor({ ...s.options, tokenizer: tok }), (m) => msgs.push(m));
    e1.addRequest({ id, promptTokenIds: prompt, maxTokens: 150, stopTokenIds: [eos], shouldStop: out.shouldStop }, out.sink);
  }
  await e1.run();

  const worker = await OutputWorker.start({ tokenizerDir: dir });
  const viaWorker = new Map<string, OutputMessage[]>();
  const e2 = engine();
  const done: Promise<void>[] = [];
  for (const [id, s] of Object.entries(SCRIPTS)) {
    const msgs: OutputMessage[] = [];
    viaWorker.set(id, msgs);
    done.push(new Promise((resolve) => {
      const sink = worker.open(id, s.options, (m) => { msgs.push(m); if (m.kind === 'final') resolve(); }, () => e2.abort(id));
      e2.addRequest({ id, promptTokenIds: prompt, maxTokens: 150, stopTokenIds: [eos] }, sink);
    }));
  }
  e2.start();
  await Promise.all(done);
  await e2.drain();
  assert.equal(worker.numOpen, 0);
  await worker.close();

  for (const id of Object.keys(SCRIPTS)) assert.deepEqual(visible(finalOf(viaWorker.get(id)!)), visible(finalOf(inThread.get(id)!)), id);
  assert.deepEqual(visible(finalOf(inThread.get('tools')!)), {
    content: 'One moment 🌦️.', reasoning: 'The user wants weather.', finish: 'tool_calls', stop: null, calls: [{ name: 'weather', arguments: '{"city":"Oslo"}' }],
  });
  assert.deepEqual(visible(finalOf(inThread.get('stop')!)), { content: 'Sunny today. ', reasoning: '', finish: 'stop', stop: 'STOP', calls: [] });
  const deltas = (id: string, m: Map<string, OutputMessage[]>): string => m.get(id)!.flatMap((x) => (x.kind === 'delta' ? [x.delta.contentDelta] : [])).join('');
  assert.equal(deltas('stop', viaWorker), deltas('stop', inThread), 'no text past the stop string, even though the worker stops the engine late');
  const usage = (m: Map<string, OutputMessage[]>): number => finalOf(m.get('stop')!).usage.completionTokens;
  // NOTE: how far past the stop the engine gets depends on timing (here steps take µs), so only ≥ is checked.
  assert.ok(usage(viaWorker) >= usage(inThread), `${usage(viaWorker)} vs ${usage(inThread)} tokens`);
});

test('a worker over a missing tokenizer fails to start with a clear error', async () => {
  await assert.rejects(OutputWorker.start({ tokenizerDir: join(tmpdir(), 'xds-no-such-dir') }), (e) => isXdsError(e, 'checkpoint_missing') && e.param === 'tokenizerDir' && /does not exist/.test(e.message));
});
