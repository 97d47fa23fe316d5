/**
 * Reasoning output through the gateway (output process, paper §1.3 step 9): with a reasoning parser
 * configured, text between `<think>` and `</think>` comes back as `reasoning_content` (message and
 * stream deltas), the rest as `content`. The random model never writes tags, so for requests with
 * seed SCRIPT_SEED the engine's injected SampleFn emits the tokens of a scripted answer; the model
 * still runs every step. Byte tokenizer: fast, and the tags are plain text.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { requestSamplerFn } from '../flowserve/sample-fn.js';
import type { SampleFn } from '../flowserve/engine-types.js';
import { startTestServer, tinyCheckpoint, type TestServer } from './testing.js';

const SCRIPT_SEED = 777;
const ANSWER = '<think>two plus two</think>It is 4.';

type WithReasoning = { reasoning_content?: string };

describe('reasoning_content', () => {
  let server: TestServer;
  let client: OpenAI;
  let remove: () => void;

  before(async () => {
    const c = await tinyCheckpoint('byte');
    remove = c.remove;
    let script: number[] = [];
    const base = requestSamplerFn();
    const sample: SampleFn = (logits, req) => (req.sampling.seed === SCRIPT_SEED ? { tokenId: script[req.numOutputTokens]! } : base(logits, req));
    server = await startTestServer({ dir: c.dir, numKvBlocks: 64, sample, reasoningParser: 'qwen3' });
    const tok = server.gateway.ctx.model.tokenizer;
    script = [...tok.encode(ANSWER, { addSpecialTokens: false }), tok.eosTokenId!];
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => { await server.close(); remove(); });

  it('splits the message into reasoning_content and content', async () => {
    const r = await client.chat.completions.create({ model: server.modelName, messages: [{ role: 'user', content: '2+2?' }], seed: SCRIPT_SEED, max_tokens: 64 });
    const m = r.choices[0]!.message as OpenAI.ChatCompletionMessage & WithReasoning;
    assert.equal(m.reasoning_content, 'two plus two');
    assert.equal(m.content, 'It is 4.');
    assert.equal(r.choices[0]!.finish_reason, 'stop');
  });

  it('streams reasoning deltas before content deltas', async () => {
    const stream = await client.chat.completions.create({ model: server.modelName, messages: [{ role: 'user', content: '2+2?' }], seed: SCRIPT_SEED, max_tokens: 64, stream: true });
    let reasoning = '';
    let content = '';
    let contentAfterReasoning = true;
    for await (const c of stream) {
      const d = c.choices[0]?.delta as (OpenAI.ChatCompletionChunk.Choice.Delta & WithReasoning) | undefined;
      if (d?.reasoning_content) { reasoning += d.reasoning_content; if (content !== '') contentAfterReasoning = false; }
      content += d?.content ?? '';
    }
    assert.equal(reasoning, 'two plus two');
    assert.equal(content, 'It is 4.');
    assert.ok(contentAfterReasoning);
  });
});
