/**
 * End to end through a real server on a real port with the official `openai` client (issue 4,
 * "Shown by tests"): chat, completions, streaming with usage, n=2, stop strings, logprobs,
 * logit_bias, echo with prompt logprobs, min_tokens, json_object and json_schema, forced tool calls, concurrent = sequential greedy tokens, and the metrics endpoint. Tiny generated model, byte
 * tokenizer, a few tokens per request.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { serveTinyModel, type TestServer } from './testing.js';

describe('gateway with the openai client', () => {
  const served = serveTinyModel({ numKvBlocks: 128 });
  let server: TestServer;
  let client: OpenAI;
  before(() => ({ server, client } = served));

  const greedy = { temperature: 0, max_tokens: 8 } as const;

  /** logit_bias for '{' (strongest), then '}', and EOS: under the JSON constraint the output is `{}`. */
  const steerToEmptyObject = (): Record<string, number> => {
    const model = server.gateway.ctx.model;
    const id = (ch: string): number => {
      const ids = model.tokenizer.encode(ch, { addSpecialTokens: false });
      assert.equal(ids.length, 1, ch);
      return ids[0]!;
    };
    return { [id('{')]: 100, [id('}')]: 50, [model.stopTokenIds[0]!]: 100 };
  };

  it('lists the model', async () => {
    const list = await client.models.list();
    assert.deepEqual(list.data.map((m) => m.id), [server.modelName]);
  });

  it('chat: a message, finish reason and usage', async () => {
    const r = await client.chat.completions.create({ model: server.modelName, messages: [{ role: 'user', content: 'hello' }], ...greedy });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0]!.message.role, 'assistant');
    assert.equal(typeof r.choices[0]!.message.content, 'string');
    assert.ok(['stop', 'length'].includes(r.choices[0]!.finish_reason));
    assert.ok(r.usage!.prompt_tokens > 5);
    assert.ok(r.usage!.completion_tokens >= 1 && r.usage!.completion_tokens <= 8);
    assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + r.usage!.completion_tokens);
  });

  it('completions: streamed text with usage equals the non-streamed text', async () => {
    const body = { model: server.modelName, prompt: 'The cat sat on', ...greedy };
    const whole = await client.completions.create(body);
    const stream = await client.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      for (const c of chunk.choices) { text += c.text; finish = c.finish_reason ?? finish; }
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, whole.choices[0]!.text);
    assert.equal(finish, whole.choices[0]!.finish_reason);
    assert.deepEqual(usage, whole.usage);
    assert.equal(whole.usage!.prompt_tokens, server.gateway.ctx.model.tokenizer.encode('The cat sat on').length);
  });

  it('chat streaming: role chunk first, content chunks, usage chunk last', async () => {
    const stream = await client.chat.completions.create({
      model: server.modelName, messages: [{ role: 'user', content: 'hi' }], ...greedy, stream: true, stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage!.completion_tokens >= 1);
    const finishes = chunks.flatMap((c) => c.choices.map((x) => x.finish_reason)).filter((f) => f !== null);
    assert.equal(finishes.length, 1);
  });

  it('n=2 gives two choices, usage counts both', async () => {
    const r = await client.completions.create({ model: server.modelName, prompt: 'abc', n: 2, max_tokens: 4, temperature: 1, seed: 7 });
    assert.deepEqual(r.choices.map((c) => c.index).sort(), [0, 1]);
    assert.equal(r.usage!.prompt_tokens, server.gateway.ctx.model.tokenizer.encode('abc').length, 'the prompt counts once');
    const sum = r.choices.length * 4;
    assert.ok(r.usage!.completion_tokens <= sum && r.usage!.completion_tokens >= 2);
  });

  it('stop strings cut the text before the stop and end with reason stop', async () => {
    const body = { model: server.modelName, prompt: 'Once upon a time', temperature: 0, max_tokens: 12 };
    const full = (await client.completions.create(body)).choices[0]!.text;
    assert.ok(full.length >= 4, `need some text, got ${JSON.stringify(full)}`);
    const stop = full.slice(2, 4);
    const r = await client.completions.create({ ...body, stop: [stop] });
    assert.equal(r.choices[0]!.text, full.slice(0, full.indexOf(stop)));
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    // vLLM's include_stop_str_in_output keeps the stop string (the openai client passes extra fields through)
    const kept = await client.completions.create({ ...body, stop: [stop], include_stop_str_in_output: true } as OpenAI.CompletionCreateParamsNonStreaming);
    assert.equal(kept.choices[0]!.text, full.slice(0, full.indexOf(stop) + stop.length));
    assert.equal(kept.choices[0]!.finish_reason, 'stop');
  });

  it('logprobs: one entry per token, top_logprobs sorted, sampled token in the top for greedy', async () => {
    const r = await client.chat.completions.create({ model: server.modelName, messages: [{ role: 'user', content: 'x' }], ...greedy, logprobs: true, top_logprobs: 3 });
    const content = r.choices[0]!.logprobs!.content!;
    assert.equal(content.length, r.usage!.completion_tokens);
    for (const e of content) {
      assert.equal(e.top_logprobs.length, 3);
      assert.ok(e.logprob <= 1e-6);
      for (let i = 1; i < 3; i++) assert.ok(e.top_logprobs[i - 1]!.logprob >= e.top_logprobs[i]!.logprob);
      assert.ok(Math.abs(e.top_logprobs[0]!.logprob - e.logprob) < 1e-5, 'greedy picks the top token');
    }
    const c = await client.completions.create({ model: server.modelName, prompt: 'x', ...greedy, logprobs: 2 });
    const lp = c.choices[0]!.logprobs!;
    assert.equal(lp.tokens!.length, c.usage!.completion_tokens);
    assert.equal(lp.top_logprobs![0] && Object.keys(lp.top_logprobs![0]).length <= 2, true);
  });

  it('logit_bias: +100 forces a token at every step, -100 bans the greedy first token', async () => {
    const tok = server.gateway.ctx.model.tokenizer;
    const z = tok.encode('z', { addSpecialTokens: false });
    assert.equal(z.length, 1, 'the byte tokenizer gives z one id');
    for (const temperature of [0, 1]) {
      const forced = await client.completions.create({ model: server.modelName, prompt: 'The cat', temperature, seed: 5, max_tokens: 4, logit_bias: { [z[0]!]: 100 } });
      assert.equal(forced.choices[0]!.text, 'zzzz', `temperature ${temperature}`);
    }
    // A prompt whose greedy first token is whole text (the byte model also emits partial UTF-8 bytes).
    let banTried = 0;
    for (const prompt of ['Once upon a time', 'The cat', 'abc', 'hello', 'x', 'zebra', 'A', '1 2 3']) {
      const body = { model: server.modelName, prompt, temperature: 0, max_tokens: 1 };
      const first = (await client.completions.create(body)).choices[0]!.text;
      const ids = tok.encode(first, { addSpecialTokens: false });
      if (ids.length !== 1 || first.includes('\uFFFD')) continue;
      const banned = (await client.completions.create({ ...body, logit_bias: { [ids[0]!]: -100 } })).choices[0]!.text;
      assert.notEqual(banned, first, `prompt ${JSON.stringify(prompt)}`);
      banTried++;
    }
    assert.ok(banTried >= 1, 'at least one prompt whose first token is whole text');
    const chat = await client.chat.completions.create({ model: server.modelName, messages: [{ role: 'user', content: 'hi' }], temperature: 0, max_tokens: 3, logit_bias: { [z[0]!]: 100 } });
    assert.equal(chat.choices[0]!.message.content, 'zzz');
  });

  it('echo: the prompt before the text; with logprobs the prompt logprobs agree with generating the same tokens', async () => {
    // A prompt whose greedy continuation is whole text, so prompt + text tokenizes as prompt tokens + output tokens.
    let checked = 0;
    for (const prompt of ['Once upon a time', 'The cat', 'abc', 'hello']) {
      const plain = await client.completions.create({ model: server.modelName, prompt, temperature: 0, max_tokens: 3, logprobs: 2 });
      const text = plain.choices[0]!.text;
      if (text.includes('\uFFFD') || plain.choices[0]!.logprobs!.tokens!.length !== 3) continue;
      const echoed = await client.completions.create({ model: server.modelName, prompt, temperature: 0, max_tokens: 3, echo: true });
      assert.equal(echoed.choices[0]!.text, prompt + text);
      const scored = await client.completions.create({ model: server.modelName, prompt: prompt + text, temperature: 0, max_tokens: 1, logprobs: 2, echo: true });
      const lp = scored.choices[0]!.logprobs!;
      const numPrompt = scored.usage!.prompt_tokens;
      assert.equal(lp.tokens!.length, numPrompt + 1);
      assert.equal(lp.token_logprobs![0], null);
      assert.equal(lp.top_logprobs![0], null);
      assert.equal(scored.choices[0]!.text.startsWith(prompt + text), true);
      // the last 3 prompt positions are the tokens the plain request generated: same logprobs (tol 1e-4)
      const want = plain.choices[0]!.logprobs!.token_logprobs!;
      const got = lp.token_logprobs!.slice(numPrompt - 3, numPrompt) as number[];
      got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) <= 1e-4, `token ${i}: ${g} vs ${want[i]}`));
      assert.deepEqual(lp.tokens!.slice(numPrompt - 3, numPrompt), plain.choices[0]!.logprobs!.tokens);
      for (const top of lp.top_logprobs!.slice(1, numPrompt)) assert.equal(Object.keys(top as object).length, 2);
      const stream = await client.completions.create({ model: server.modelName, prompt, temperature: 0, max_tokens: 3, echo: true, stream: true });
      let streamed = '';
      for await (const c of stream) streamed += c.choices[0]?.text ?? '';
      assert.equal(streamed, prompt + text);
      checked++;
    }
    assert.ok(checked >= 1, 'at least one prompt with a whole-text continuation');
  });

  it('min_tokens: neither the stop token nor a stop string ends the output early (vLLM)', async () => {
    const tok = server.gateway.ctx.model.tokenizer;
    let checked = 0;
    for (const prompt of ['Once upon a time', 'The cat', 'abc', 'hello', 'x', 'zebra']) {
      const body = { model: server.modelName, prompt, temperature: 0, max_tokens: 8 };
      const full = (await client.completions.create(body)).choices[0]!.text;
      if (!/^[\x20-\x7e]{8}$/.test(full)) continue; // one byte token per character
      const first = tok.encode(full[0]!, { addSpecialTokens: false });
      const stopped = await client.completions.create({ ...body, stop_token_ids: [first[0]!] } as OpenAI.CompletionCreateParamsNonStreaming);
      assert.deepEqual([stopped.choices[0]!.text, stopped.choices[0]!.finish_reason], ['', 'stop']);
      const held = await client.completions.create({ ...body, stop_token_ids: [first[0]!], min_tokens: 3 } as OpenAI.CompletionCreateParamsNonStreaming);
      assert.ok(held.usage!.completion_tokens >= 3 && held.choices[0]!.text.length >= 3, JSON.stringify(held.choices[0]));
      const stop = full[0]!;
      const late = await client.completions.create({ ...body, stop: [stop], min_tokens: 4 } as OpenAI.CompletionCreateParamsNonStreaming);
      const at = full.indexOf(stop, 4);
      assert.equal(late.choices[0]!.text, at < 0 ? full : full.slice(0, at), `prompt ${JSON.stringify(prompt)}`);
      checked++;
    }
    assert.ok(checked >= 1, 'at least one prompt with an ASCII continuation');
  });

  it('response_format json_object: the message is a JSON object', async () => {
    const body = { model: server.modelName, messages: [{ role: 'user' as const, content: 'Answer in JSON.' }], response_format: { type: 'json_object' as const } };
    // steered to '{', '}', EOS: without the constraint '{' would come first and forever
    const steered = await client.chat.completions.create({ ...body, temperature: 0, max_tokens: 16, logit_bias: steerToEmptyObject() });
    assert.deepEqual([JSON.parse(steered.choices[0]!.message.content!), steered.choices[0]!.finish_reason], [{}, 'stop']);
    for (const seed of [1, 2, 3]) {
      const r = await client.chat.completions.create({ ...body, temperature: 1, seed, max_tokens: 24 });
      const text = r.choices[0]!.message.content!;
      assert.match(text, /^\s*\{/, `seed ${seed}: ${JSON.stringify(text)}`);
      if (r.choices[0]!.finish_reason === 'stop') assert.equal(typeof JSON.parse(text), 'object');
    }
  });

  it('tool_choice naming a function (or required with one tool) forces that call, its arguments a JSON object', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
      { type: 'function', function: { name: 'convert', parameters: { type: 'object' } } },
    ];
    const body = { model: server.modelName, messages: [{ role: 'user' as const, content: 'Weather in Bern?' }], tools, temperature: 0, max_tokens: 16 };
    const steer = { logit_bias: steerToEmptyObject() };
    const r = await client.chat.completions.create({ ...body, ...steer, tool_choice: { type: 'function', function: { name: 'get_weather' } } });
    const c = r.choices[0]!;
    assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c));
    assert.equal(c.message.content, null);
    const fn = (t: OpenAI.ChatCompletionMessageToolCall | undefined): { name: string; arguments: string } | undefined => (t?.type === 'function' ? t.function : undefined);
    assert.deepEqual(c.message.tool_calls!.map((t) => [t.type, fn(t)!.name, JSON.parse(fn(t)!.arguments)]), [['function', 'get_weather', {}]]);
    const stream = await client.chat.completions.create({ ...body, ...steer, tool_choice: { type: 'function', function: { name: 'convert' } }, stream: true });
    const calls: { name?: string; arguments?: string }[] = [];
    for await (const chunk of stream) for (const t of chunk.choices[0]?.delta.tool_calls ?? []) calls.push(t.function ?? {});
    assert.deepEqual(calls.map((f) => [f.name, f.arguments]), [['convert', '{}']]);
    const free = await client.chat.completions.create({ ...body, tools: tools.slice(0, 1), tool_choice: 'required' });
    assert.equal(fn(free.choices[0]!.message.tool_calls?.[0])?.name ?? 'get_weather', 'get_weather');
    const args = fn(free.choices[0]!.message.tool_calls?.[0])?.arguments ?? '';
    assert.match(args, /^\{/, `arguments ${JSON.stringify(args)} (finish ${free.choices[0]!.finish_reason})`);
  });

  it('response_format json_schema, and a forced tool with a parameters schema: the output matches the schema', async () => {
    const messages = [{ role: 'user' as const, content: 'How many?' }];
    const schema = { type: 'object', properties: { answer: { type: 'integer' }, note: { type: 'string' } }, required: ['answer'], additionalProperties: false };
    for (const seed of [1, 2]) {
      const r = await client.chat.completions.create({
        model: server.modelName, messages, temperature: 1, seed, max_tokens: 40, logit_bias: steerToEmptyObject(),
        response_format: { type: 'json_schema', json_schema: { name: 'count', schema } },
      });
      const v = JSON.parse(r.choices[0]!.message.content!) as Record<string, unknown>;
      assert.ok(Number.isInteger(v.answer) && Object.keys(v).every((k) => k === 'answer' || k === 'note'), JSON.stringify(v));
    }
    const tools: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'go', parameters: { type: 'object', properties: { city: { enum: ['Bern', 'Paris'] } }, required: ['city'], additionalProperties: false } } }];
    const forced = await client.chat.completions.create({ model: server.modelName, messages, tools, tool_choice: 'required', temperature: 0, max_tokens: 40, logit_bias: steerToEmptyObject() });
    const call = forced.choices[0]!.message.tool_calls![0]!;
    assert.ok(call.type === 'function' && ['{"city":"Bern"}', '{"city":"Paris"}'].includes(JSON.stringify(JSON.parse(call.function.arguments))), JSON.stringify(call));
    // 'required' among several tools: one call to one of them, its arguments matching that one's parameters
    const two: OpenAI.ChatCompletionTool[] = [...tools, { type: 'function', function: { name: 'stop', parameters: { type: 'object', properties: {}, additionalProperties: false } } }];
    for (const seed of [1, 2, 3]) {
      const any = await client.chat.completions.create({ model: server.modelName, messages, tools: two, tool_choice: 'required', temperature: 1, seed, max_tokens: 120, logit_bias: steerToEmptyObject() });
      const c = any.choices[0]!;
      assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c));
      const t = c.message.tool_calls![0]!;
      assert.ok(t.type === 'function');
      const args = JSON.stringify(JSON.parse(t.function.arguments));
      assert.ok(t.function.name === 'stop' ? args === '{}' : ['{"city":"Bern"}', '{"city":"Paris"}'].includes(args), `${t.function.name} ${args}`);
    }
  });

  it('concurrent requests give the same greedy tokens as one at a time', async () => {
    const prompts = ['alpha', 'bravo charlie', 'delta', 'echo foxtrot golf', 'hotel'];
    const one = async (p: string): Promise<string> => (await client.completions.create({ model: server.modelName, prompt: p, temperature: 0, max_tokens: 6 })).choices[0]!.text;
    const sequential: string[] = [];
    for (const p of prompts) sequential.push(await one(p));
    const concurrent = await Promise.all(prompts.map(one));
    assert.deepEqual(concurrent, sequential);
  });

  it('GET /metrics reports TTFT, token counters and engine gauges', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const value = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    assert.ok(value('xds_time_to_first_token_seconds_count') > 0);
    assert.ok(value('xds_generation_tokens_total') > 0);
    assert.ok(value('xds_prompt_tokens_total') > 0);
    assert.equal(value('xds_num_requests_running'), 0);
    assert.ok(text.includes('xds_kv_cache_usage_ratio'));
    assert.ok(text.includes('xds_prefix_cache_hit_rate'));
    assert.ok(text.includes('xds_inter_token_latency_seconds_bucket'));
  });
});
