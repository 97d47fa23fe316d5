/**
 * Tests for ChatTemplate with the REAL DeepSeek-V3 and Qwen3 chat templates (from their
 * tokenizer_config.json; no tokenizer.json needed) and with small hand-written templates.
 * Expected strings were derived by reading each template.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isXdsError } from '../core/errors.js';
import { CHAT_TEMPLATE_JINJA_FILE, ChatTemplate, loadChatTemplate, type ChatMessage, type ChatTool } from './chat-template.js';
import { realTokenizerDir } from './real-tokenizers.js';
import { TOKENIZER_CONFIG_FILE } from './tokenizer.js';

const deepseek = loadChatTemplate(realTokenizerDir('deepseek-v3'))!;
const qwen = loadChatTemplate(realTokenizerDir('qwen3'))!;

const basic: ChatMessage[] = [{ role: 'system', content: 'You are helpful.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }];
const weatherTool: ChatTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Get the weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};
const toolTurns: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Weather in Paris?' },
  { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] },
  { role: 'tool', content: '{"sky": "sunny"}', tool_call_id: 'c1' },
];

test('real templates load with their special tokens', () => {
  assert.deepEqual(deepseek.names, ['default']);
  assert.equal(deepseek.specialTokens.bos_token, '<｜begin▁of▁sentence｜>');
  assert.equal(qwen.specialTokens.eos_token, '<|im_end|>');
  assert.equal(qwen.specialTokens.bos_token, undefined);
});

test('deepseek-v3: system + user + assistant, and the generation prompt', () => {
  assert.equal(deepseek.render({ messages: basic }), '<｜begin▁of▁sentence｜>You are helpful.<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜>');
  assert.equal(deepseek.render({ messages: basic.slice(0, 2), addGenerationPrompt: true }), '<｜begin▁of▁sentence｜>You are helpful.<｜User｜>Hi<｜Assistant｜>');
  assert.equal(deepseek.render({ messages: basic.slice(0, 2) }), '<｜begin▁of▁sentence｜>You are helpful.<｜User｜>Hi');
});

test('deepseek-v3: tool calls and tool outputs (this template does not render the tools list)', () => {
  const out = deepseek.render({ messages: toolTurns, tools: [weatherTool], addGenerationPrompt: true });
  // A tool-call-only turn needs content none; one call opens <｜tool▁calls▁begin｜> and, as the
  // template is written, only a second call closes the list. After tool output no generation prompt.
  assert.equal(out, '<｜begin▁of▁sentence｜>Be brief.<｜User｜>Weather in Paris?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Paris"}\n```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>{"sky": "sunny"}<｜tool▁output▁end｜><｜tool▁outputs▁end｜>');
  assert.ok(!out.includes('Get the weather for a city'));
  const answered = deepseek.render({ messages: [...toolTurns, { role: 'assistant', content: 'Sunny.' }] });
  assert.ok(answered.endsWith('<｜tool▁outputs▁end｜>Sunny.<｜end▁of▁sentence｜>'), answered);
});

test('qwen3: system + user + assistant, generation prompt, enable_thinking=false', () => {
  assert.equal(qwen.render({ messages: basic }), '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n');
  const prompt = '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n';
  assert.equal(qwen.render({ messages: basic.slice(0, 2), addGenerationPrompt: true }), prompt);
  assert.equal(qwen.render({ messages: basic.slice(0, 2), addGenerationPrompt: true, extra: { enable_thinking: false } }), prompt + '<think>\n\n</think>\n\n');
  const withThought = qwen.render({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: '<think>\nsay hi\n</think>\n\nHello!' }] });
  assert.ok(withThought.endsWith('<|im_start|>assistant\n<think>\nsay hi\n</think>\n\nHello!<|im_end|>\n'), withThought);
});

test('qwen3: tools go into the system turn as JSON, calls in <tool_call>, results in <tool_response>', () => {
  const out = qwen.render({ messages: toolTurns, tools: [weatherTool], addGenerationPrompt: true });
  const toolJson = '{"type": "function", "function": {"name": "get_weather", "description": "Get the weather for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}';
  assert.ok(out.startsWith('<|im_start|>system\nBe brief.\n\n# Tools\n\n'), out);
  assert.ok(out.includes(`<tools>\n${toolJson}\n</tools>`), out);
  assert.ok(out.includes('<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n'), out);
  assert.ok(out.endsWith('<|im_start|>user\n<tool_response>\n{"sky": "sunny"}\n</tool_response><|im_end|>\n<|im_start|>assistant\n'), out);
  assert.equal(out.match(/<\|im_start\|>system/g)?.length, 1, 'one system turn');
  const parsedArgs = qwen.render({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: { a: 1 } } }] }] });
  assert.ok(parsedArgs.includes('{"name": "f", "arguments": {"a": 1}}'), parsedArgs);
});

test('content given as text parts renders like the joined string', () => {
  const parts: ChatMessage[] = [{ role: 'user', content: [{ type: 'text', text: 'Hello' }, { type: 'text', text: 'there' }] }];
  for (const t of [deepseek, qwen]) assert.equal(t.render({ messages: parts }), t.render({ messages: [{ role: 'user', content: 'Hello\nthere' }] }));
});

test('bad messages give invalid_argument naming the field', () => {
  const expect = (messages: unknown, param: string): void => {
    assert.throws(() => qwen.render({ messages: messages as ChatMessage[] }), (e: unknown) => isXdsError(e, 'invalid_argument') && e.param === param && e.message.includes(param));
  };
  expect([{ role: 'wizard', content: 'x' }], 'messages[0].role');
  expect([{ role: 'user', content: 'a' }, { role: 'user', content: [{ type: 'image_url', image_url: {} }] }], 'messages[1].content[0].type');
  expect([{ role: 'user', content: null }], 'messages[0].content');
  expect([{ role: 'user', content: 42 }], 'messages[0].content');
});

test('named templates: tool_use is picked when tools are given; template errors map to XdsError', () => {
  const t = new ChatTemplate([{ name: 'default', template: 'D:{{ messages[0].content }}' }, { name: 'tool_use', template: 'T:{{ tools[0].function.name }}:{{ eos_token }}' }], { eos_token: '</s>' });
  assert.deepEqual(t.names, ['default', 'tool_use']);
  assert.equal(t.render({ messages: [{ role: 'user', content: 'hi' }] }), 'D:hi');
  assert.equal(t.render({ messages: [{ role: 'user', content: 'hi' }], tools: [weatherTool] }), 'T:get_weather:</s>');
  assert.equal(t.render({ messages: [{ role: 'user', content: 'hi' }], tools: [] }), 'D:hi');
  const raising = new ChatTemplate("{{ raise_exception('roles must alternate') }}");
  assert.throws(() => raising.render({ messages: [] }), (e: unknown) => isXdsError(e, 'invalid_argument') && e.message.includes('roles must alternate'));
  assert.throws(() => new ChatTemplate('{% if %}'), (e: unknown) => isXdsError(e, 'checkpoint_corrupt'));
  assert.throws(() => new ChatTemplate([{ name: 'rag', template: 'x' }]), (e: unknown) => isXdsError(e, 'checkpoint_corrupt') && e.message.includes("'default'"));
});

test('loadChatTemplate: tokenizer_config.json, then chat_template.jinja, else null', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xds-ct-'));
  try {
    assert.equal(loadChatTemplate(dir), null);
    writeFileSync(join(dir, TOKENIZER_CONFIG_FILE), JSON.stringify({ bos_token: { content: '<s>' }, eos_token: '</s>' }));
    assert.equal(loadChatTemplate(dir), null);
    writeFileSync(join(dir, CHAT_TEMPLATE_JINJA_FILE), '{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{{ eos_token }}');
    assert.equal(loadChatTemplate(dir)!.render({ messages: [{ role: 'user', content: 'q' }] }), '<s>[user]q</s>');
    writeFileSync(join(dir, TOKENIZER_CONFIG_FILE), JSON.stringify({ chat_template: 'cfg:{{ messages | length }}' }));
    assert.equal(loadChatTemplate(dir)!.render({ messages: basic }), 'cfg:3');
    writeFileSync(join(dir, TOKENIZER_CONFIG_FILE), '{ broken');
    assert.throws(() => loadChatTemplate(dir), (e: unknown) => isXdsError(e, 'checkpoint_corrupt') && e.message.includes(TOKENIZER_CONFIG_FILE));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
