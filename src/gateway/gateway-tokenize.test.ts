/**
 * POST /tokenize and /detokenize (vLLM's endpoints) through a real server on a real port: the ids
 * are those the engine counts (usage.prompt_tokens of the same prompt or conversation), decoding
 * round-trips, and bad input is a 4xx naming the field.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { postRaw, serveTinyModel } from './testing.js';

describe('tokenize and detokenize', () => {
  const t = serveTinyModel({ numKvBlocks: 64 });

  const post = (path: string, body: unknown) => postRaw(`${t.server.url}/${path}`, body);

  it('a prompt: the ids the completions endpoint counts, and they decode back to the text', async () => {
    const prompt = 'The cat sat on the mat, naïvely.';
    const r = await post('tokenize', { model: t.server.modelName, prompt });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const tokens = r.json.tokens as number[];
    assert.equal(r.json.count, tokens.length);
    assert.equal(r.json.max_model_len, t.server.gateway.ctx.model.contextLen);
    assert.equal(r.json.token_strs, null);
    const usage = (await t.client.completions.create({ model: t.server.modelName, prompt, max_tokens: 1, temperature: 0 })).usage!;
    assert.equal(tokens.length, usage.prompt_tokens);
    const back = await post('detokenize', { model: t.server.modelName, tokens });
    assert.equal(back.status, 200);
    assert.ok((back.json.prompt as string).endsWith(prompt), JSON.stringify(back.json.prompt));
    const plain = await post('tokenize', { prompt, add_special_tokens: false, return_token_strs: true });
    assert.deepEqual(plain.json.tokens, t.server.gateway.ctx.model.tokenizer.encode(prompt, { addSpecialTokens: false }));
    assert.equal((plain.json.token_strs as unknown[]).length, plain.json.count);
    assert.equal((await post('detokenize', { tokens: plain.json.tokens })).json.prompt, prompt);
  });

  it('messages: the chat template with the generation prompt, as chat completions counts them', async () => {
    const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello there' }];
    const r = await post('tokenize', { model: t.server.modelName, messages });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const usage = (await t.client.chat.completions.create({ model: t.server.modelName, messages: messages as OpenAI.ChatCompletionMessageParam[], max_tokens: 1, temperature: 0 })).usage!;
    assert.equal(r.json.count, usage.prompt_tokens);
    const bare = await post('tokenize', { messages, add_generation_prompt: false });
    assert.ok((bare.json.count as number) < (r.json.count as number), 'the generation prompt adds tokens');
    assert.deepEqual((r.json.tokens as number[]).slice(0, bare.json.count as number), bare.json.tokens);
  });

  const bad: { name: string; path: string; body: unknown; status: number; param: string }[] = [
    { name: 'neither prompt nor messages', path: 'tokenize', body: {}, status: 400, param: 'prompt' },
    { name: 'both prompt and messages', path: 'tokenize', body: { prompt: 'a', messages: [{ role: 'user', content: 'b' }] }, status: 400, param: 'prompt' },
    { name: 'a prompt of the wrong type', path: 'tokenize', body: { prompt: 5 }, status: 400, param: 'prompt' },
    { name: 'an unknown model', path: 'tokenize', body: { model: 'gpt-nope', prompt: 'a' }, status: 404, param: 'model' },
    { name: 'a token id outside the vocabulary', path: 'detokenize', body: { tokens: [65, 10_000_000] }, status: 400, param: 'tokens[1]' },
    { name: 'a negative token id', path: 'detokenize', body: { tokens: [-1] }, status: 400, param: 'tokens[0]' },
  ];
  for (const c of bad) {
    it(`${c.name} → ${c.status} naming ${c.param}`, async () => {
      const r = await post(c.path, c.body);
      assert.equal(r.status, c.status, JSON.stringify(r.json));
      assert.equal((r.json.error as { param: string }).param, c.param);
    });
  }
});
