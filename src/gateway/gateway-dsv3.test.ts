/**
 * The embedded default model (tiny DeepSeek-V3 architecture, real DeepSeek-V3 tokenizer and chat
 * template) generated into a fresh cache folder, then served: chat prompts are the real template's
 * rendering, `tools` reach the template, and DeepSeek-V3 tool-call output comes back as OpenAI
 * `tool_calls` (streamed and not). A random model never writes a tool call, so for requests with
 * seed SCRIPT_SEED the engine's injected SampleFn (its documented extension point) emits the
 * tokens of one; the model still runs every step.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { DEFAULT_MODEL_NAME, defaultModelDir, ensureDefaultModel } from '../serving/default-model.js';
import { requestSamplerFn } from '../flowserve/sample-fn.js';
import type { SampleFn } from '../flowserve/engine-types.js';
import type { GenProgress } from '../model/generator/write-checkpoint.js';
import { startTestServer, type TestServer } from './testing.js';

const SCRIPT_SEED = 4242;
const TOOL_TEXT = '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Paris"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>';
const tools: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_weather', description: 'weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

describe('default model with the DeepSeek-V3 tokenizer and template', () => {
  let cacheDir: string;
  let server: TestServer;
  let client: OpenAI;
  const progress: GenProgress[] = [];

  before(async () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'xds-cache-'));
    const dir = await ensureDefaultModel({ cacheDir, onProgress: (p) => progress.push(p) });
    assert.equal(dir, defaultModelDir(cacheDir));
    let script: number[] = [];
    const base = requestSamplerFn();
    const sample: SampleFn = (logits, req) => (req.sampling.seed === SCRIPT_SEED ? { tokenId: script[req.numOutputTokens]! } : base(logits, req));
    server = await startTestServer({ dir, name: DEFAULT_MODEL_NAME, numKvBlocks: 64, sample });
    const tok = server.gateway.ctx.model.tokenizer;
    script = [...tok.encode(TOOL_TEXT, { addSpecialTokens: false }), tok.eosTokenId!];
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    await server?.close();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('was generated with progress, and a second start reuses the cache', async () => {
    assert.ok(progress.some((p) => p.phase === 'build') && progress.at(-1)!.phase === 'done');
    const again: GenProgress[] = [];
    assert.equal(await ensureDefaultModel({ cacheDir, onProgress: (p) => again.push(p) }), defaultModelDir(cacheDir));
    assert.equal(again.length, 0);
    assert.equal(server.gateway.ctx.model.toolParser, 'deepseek_v3');
  });

  it('chat prompts are the real template rendering, tool calls and tool results included', async () => {
    const model = server.gateway.ctx.model;
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'What is the weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '18 C, sunny' },
    ];
    const r = await client.chat.completions.create({ model: DEFAULT_MODEL_NAME, messages, tools, max_tokens: 2, temperature: 0 });
    // NOTE: DeepSeek-V3's template writes past tool calls and outputs but not the `tools` schema.
    const text = model.chatTemplate!.render({ messages: messages as never, tools: tools as never, addGenerationPrompt: true });
    assert.ok(text.startsWith('<｜begin▁of▁sentence｜>') && text.includes('<｜tool▁outputs▁begin｜>') && text.includes('get_weather'));
    assert.equal(r.usage!.prompt_tokens, model.tokenizer.encode(text, { addSpecialTokens: false }).length);
  });

  it('a DeepSeek-V3 tool call comes back as tool_calls with finish_reason tool_calls', async () => {
    const r = await client.chat.completions.create({ model: DEFAULT_MODEL_NAME, messages: [{ role: 'user', content: 'weather?' }], tools, seed: SCRIPT_SEED, max_tokens: 64 });
    const m = r.choices[0]!.message;
    assert.equal(r.choices[0]!.finish_reason, 'tool_calls');
    assert.equal(m.tool_calls?.length, 1);
    const call = m.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    assert.match(call.id, /^call_/);
    assert.ok(m.content === null || m.content === '');
  });

  it('streamed: the tool call arrives as a delta with its index', async () => {
    const stream = await client.chat.completions.create({ model: DEFAULT_MODEL_NAME, messages: [{ role: 'user', content: 'weather?' }], tools, seed: SCRIPT_SEED, max_tokens: 64, stream: true });
    const calls: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish: string | null = null;
    let content = '';
    for await (const c of stream) {
      for (const ch of c.choices) { calls.push(...(ch.delta.tool_calls ?? [])); content += ch.delta.content ?? ''; finish = ch.finish_reason ?? finish; }
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.index, 0);
    assert.equal(calls[0]!.function!.name, 'get_weather');
    assert.deepEqual(JSON.parse(calls[0]!.function!.arguments!), { city: 'Paris' });
    assert.equal(content, '');
  });
});
