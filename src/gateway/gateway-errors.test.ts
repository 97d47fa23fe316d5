/**
 * Bad input, overload and disconnects through a real server on a real port (issue 4): each bad
 * request is a 4xx with an OpenAI-style error body naming the field, and the server is unharmed;
 * a burst beyond the bounded waiting queue gets 429 + Retry-After while every accepted request
 * completes; a client that disconnects mid-stream frees its KV blocks at once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { postRaw, startTestServer, tinyCheckpoint, type TestServer } from './testing.js';

let dir: string;
let remove: () => void;
before(async () => { ({ dir, remove } = await tinyCheckpoint('byte')); });
after(() => remove());

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return cond();
}

describe('bad input', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ dir, numKvBlocks: 16, blockSizeTokens: 16 }); });
  after(() => server.close());

  const chat = (extra: Record<string, unknown>): Record<string, unknown> => ({ model: server.modelName, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, ...extra });
  const cases: { name: string; path: string; body: () => unknown; status: number; param: string | null; code: string }[] = [
    { name: 'malformed JSON', path: 'chat/completions', body: () => '{"model": "x", "messages": [', status: 400, param: null, code: 'invalid_argument' },
    { name: 'a known field of the wrong type', path: 'chat/completions', body: () => chat({ temperature: 'hot' }), status: 400, param: 'temperature', code: 'invalid_argument' },
    { name: 'a nested field of the wrong type', path: 'chat/completions', body: () => chat({ messages: [{ role: 'user', content: 5 }] }), status: 400, param: 'messages[0].content', code: 'invalid_argument' },
    { name: 'an unknown model', path: 'chat/completions', body: () => chat({ model: 'gpt-nope' }), status: 404, param: 'model', code: 'model_not_found' },
    { name: 'empty messages', path: 'chat/completions', body: () => chat({ messages: [] }), status: 400, param: 'messages', code: 'invalid_argument' },
    { name: 'max_tokens 0', path: 'chat/completions', body: () => chat({ max_tokens: 0 }), status: 400, param: 'max_tokens', code: 'invalid_argument' },
    { name: 'max_tokens beyond the context', path: 'chat/completions', body: () => chat({ max_tokens: 100_000 }), status: 400, param: 'max_tokens', code: 'context_length_exceeded' },
    { name: 'a prompt over the context window', path: 'completions', body: () => ({ model: server.modelName, prompt: Array.from({ length: 300 }, (_, i) => 3 + (i % 200)), max_tokens: 1 }), status: 400, param: 'prompt', code: 'context_length_exceeded' },
    { name: 'a token id outside the vocabulary', path: 'completions', body: () => ({ model: server.modelName, prompt: [1, 10_000_000], max_tokens: 1 }), status: 400, param: 'prompt', code: 'invalid_argument' },
    { name: 'a logit_bias key that is no token id', path: 'chat/completions', body: () => chat({ logit_bias: { abc: 1 } }), status: 400, param: 'logit_bias', code: 'invalid_argument' },
    { name: 'a logit_bias key outside the vocabulary', path: 'completions', body: () => ({ model: server.modelName, prompt: 'a', logit_bias: { 10000000: 1 } }), status: 400, param: 'logit_bias', code: 'invalid_argument' },
    { name: 'a logit_bias value beyond ±100', path: 'completions', body: () => ({ model: server.modelName, prompt: 'a', logit_bias: { 65: 150 } }), status: 400, param: 'logit_bias', code: 'invalid_argument' },
    { name: 'a logit_bias value of the wrong type', path: 'chat/completions', body: () => chat({ logit_bias: { 65: 'up' } }), status: 400, param: 'logit_bias.65', code: 'invalid_argument' },
    { name: 'min_tokens above max_tokens', path: 'completions', body: () => ({ model: server.modelName, prompt: 'a', max_tokens: 2, min_tokens: 3 }), status: 400, param: 'min_tokens', code: 'invalid_argument' },
    { name: 'tool_choice naming a function that is not offered', path: 'chat/completions', body: () => chat({ tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'function', function: { name: 'g' } } }), status: 400, param: 'tool_choice', code: 'invalid_argument' },
    { name: "tool_choice 'required' without tools", path: 'chat/completions', body: () => chat({ tool_choice: 'required' }), status: 400, param: 'tool_choice', code: 'invalid_argument' },
    { name: 'json_schema without a schema', path: 'chat/completions', body: () => chat({ response_format: { type: 'json_schema', json_schema: { name: 'x' } } }), status: 400, param: 'response_format.json_schema.schema', code: 'invalid_argument' },
    { name: 'a json_schema the constraint cannot enforce', path: 'chat/completions', body: () => chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { anyOf: [{ type: 'object' }, { type: 'object', properties: { a: {} } }] } } } }), status: 400, param: 'response_format.json_schema.schema', code: 'invalid_argument' },
    { name: 'a json_schema whose top level is no object', path: 'chat/completions', body: () => chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string' } } } }), status: 400, param: 'response_format.json_schema.schema', code: 'invalid_argument' },
    { name: 'a forced tool whose parameters cannot be enforced', path: 'chat/completions', body: () => chat({ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { $ref: 'http://x/y' } } } } }], tool_choice: 'required' }), status: 400, param: 'tools[0].function.parameters', code: 'invalid_argument' },
    { name: 'a path that is no route', path: 'chat/complete', body: () => chat({}), status: 404, param: null, code: 'not_found' },
    { name: 'top_k out of range (sampler check)', path: 'completions', body: () => ({ model: server.modelName, prompt: 'a', top_k: -5 }), status: 400, param: 'top_k', code: 'invalid_argument' },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.code}`, async () => {
      const r = await postRaw(`${server.url}/v1/${c.path}`, c.body());
      assert.equal(r.status, c.status, JSON.stringify(r.json));
      const err = r.json.error as { message: string; type: string; param: string | null; code: string };
      assert.equal(err.code, c.code);
      assert.equal(err.param, c.param);
      assert.equal(err.type, 'invalid_request_error');
      assert.ok(err.message.length > 0);
    });
  }

  it('the server is unharmed afterwards', async () => {
    const h = await fetch(`${server.url}/health`);
    assert.equal(h.status, 200);
    const r = await postRaw(`${server.url}/v1/chat/completions`, chat({}));
    assert.equal(r.status, 200);
    assert.ok((r.json.usage as { completion_tokens: number }).completion_tokens >= 1);
  });
});

describe('overload and disconnects', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ dir, numKvBlocks: 64, maxNumSeqs: 2, maxWaiting: 2 }); });
  after(() => server.close());

  it('a burst beyond the waiting queue gets 429 with Retry-After; every accepted request completes', async () => {
    const body = { model: server.modelName, prompt: 'burst', max_tokens: 12, temperature: 0 };
    const rs = await Promise.all(Array.from({ length: 10 }, () => postRaw(`${server.url}/v1/completions`, body)));
    const refused = rs.filter((r) => r.status === 429);
    const ok = rs.filter((r) => r.status === 200);
    assert.equal(refused.length + ok.length, 10, JSON.stringify(rs.map((r) => r.status)));
    assert.ok(refused.length >= 1, 'some requests are refused');
    assert.ok(ok.length >= 2, 'some requests are accepted');
    for (const r of refused) {
      assert.equal(r.headers.get('retry-after'), '1');
      assert.equal((r.json.error as { type: string }).type, 'rate_limit_error');
    }
    const texts = new Set(ok.map((r) => (r.json.choices as { text: string }[])[0]!.text));
    for (const r of ok) assert.ok(['stop', 'length'].includes((r.json.choices as { finish_reason: string }[])[0]!.finish_reason));
    assert.equal(texts.size, 1, 'same greedy text for every accepted copy');
  });

  it('a client that disconnects mid-stream frees its KV blocks at once', async () => {
    const engine = server.gateway.ctx.model.engine;
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.completions.create({ model: server.modelName, prompt: 'a long story', max_tokens: 500, temperature: 0, stream: true, stop_token_ids: [] } as OpenAI.CompletionCreateParamsStreaming);
    let chunks = 0;
    for await (const c of stream) {
      if (c.choices[0]?.text !== undefined) chunks++;
      if (chunks >= 2) break; // leaving the loop aborts the HTTP request
    }
    assert.ok(engine.kv.usage > 0 || engine.numRunning === 0);
    assert.ok(await waitFor(() => engine.numRunning === 0 && engine.numWaiting === 0, 2000), 'the request is gone');
    assert.equal(engine.kv.usage, 0, 'its blocks are free');
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /xds_request_success_total\{[^}]*finished_reason="abort"[^}]*\} 1/);
  });
});

describe('graceful shutdown', () => {
  it('in-flight requests complete; new ones get 503 while draining', async () => {
    const server = await startTestServer({ dir, numKvBlocks: 64 });
    const body = { model: server.modelName, prompt: 'keep going', max_tokens: 30, temperature: 0, ignore_eos: true };
    const inFlight = postRaw(`${server.url}/v1/completions`, body);
    const engine = server.gateway.ctx.model.engine;
    assert.ok(await waitFor(() => engine.numRunning === 1, 2000));
    const done = server.gateway.shutdown();
    const late = await postRaw(`${server.url}/v1/completions`, body); // the socket stays open until the drain ends
    assert.equal(late.status, 503);
    assert.equal((late.json.error as { code: string }).code, 'shutting_down');
    const r = await inFlight;
    assert.equal(r.status, 200);
    assert.equal((r.json.usage as { completion_tokens: number }).completion_tokens, 30);
    await done;
  });
});
