import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutputProcessor, type EngineFinish, type OutputProcessorOptions } from './output-processor.js';
import type { OutputFinal, ToolCallDelta } from './types.js';
import { loadTokenizer, type TextTokenizer } from '../../model/tokenizer.js';
import { loadChatTemplate, type ChatMessage, type ChatTemplate, type ChatTool, type ChatToolCall } from '../../model/chat-template.js';
import { realTokenizerDir, type RealTokenizerKind } from '../../model/real-tokenizers.js';
import { isXdsError } from '../../core/errors.js';

// Loading a real tokenizer takes seconds: once per file.
const MODELS = new Map<RealTokenizerKind, { tok: TextTokenizer; template: ChatTemplate; toolParser: string }>(
  (['deepseek-v3', 'qwen3'] as const).map((k) => [k, { tok: loadTokenizer(realTokenizerDir(k)), template: loadChatTemplate(realTokenizerDir(k))!, toolParser: k === 'qwen3' ? 'hermes' : 'deepseek_v3' }]),
);

const TOOLS: ChatTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
  { type: 'function', function: { name: 'convert', parameters: { type: 'object', properties: { amount: { type: 'number' } } } } },
];
const CALLS: ChatToolCall[] = [
  { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Zürich 🇨🇭", "days": [1, 2]}' } },
  { id: 'call_b', type: 'function', function: { name: 'convert', arguments: '{"amount": 12.5, "from": "€", "to": "¥", "note": "a \\"quote\\" and\\nnewline"}' } },
];

interface Streamed {
  content: string;
  reasoning: string;
  calls: ToolCallDelta[];
  final: OutputFinal;
}

/** Feeds ids one at a time (stopping where the engine would), checks deltas add up to the final record. */
function stream(ids: readonly number[], opts: OutputProcessorOptions, finishReason: EngineFinish = 'stop'): Streamed {
  const p = new OutputProcessor(opts);
  const s = { content: '', reasoning: '', calls: [] as ToolCallDelta[] };
  const stopIds = new Set(opts.stopTokenIds ?? []);
  for (const id of ids) {
    const d = p.onToken(id);
    assert.ok(!d.contentDelta.includes('\uFFFD') && !d.reasoningDelta.includes('\uFFFD'));
    s.content += d.contentDelta;
    s.reasoning += d.reasoningDelta;
    s.calls.push(...(d.toolCalls ?? []));
    if (d.stopMatched !== null || stopIds.has(id)) break;
  }
  const final = p.finish(finishReason);
  s.content += final.tail.contentDelta;
  s.reasoning += final.tail.reasoningDelta;
  s.calls.push(...(final.tail.toolCalls ?? []));
  assert.equal(final.content, s.content, 'final content = streamed deltas');
  assert.equal(final.reasoningContent, s.reasoning, 'final reasoning = streamed deltas');
  assert.deepEqual(final.toolCalls, s.calls.map(({ id, type, function: fn }) => ({ id, type, function: fn })));
  assert.deepEqual(s.calls.map((c) => c.index), s.calls.map((_, i) => i));
  return { ...s, final };
}

/**
 * Renders the conversation with and without the assistant turn through the REAL chat template;
 * the tokens after the prompt are what the model "generated".
 */
function generatedTurn(kind: RealTokenizerKind, assistant: ChatMessage, tools: ChatTool[] | undefined): { promptIds: number[]; ids: number[] } {
  const { tok, template } = MODELS.get(kind)!;
  const history: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Weather in Zürich, and 12.5 € in ¥?' }];
  const prompt = template.render({ messages: history, tools, addGenerationPrompt: true });
  const full = template.render({ messages: [...history, assistant], tools });
  assert.ok(full.startsWith(prompt), 'the assistant turn extends the generation prompt');
  const promptIds = tok.encode(prompt, { addSpecialTokens: false });
  const fullIds = tok.encode(full, { addSpecialTokens: false });
  assert.deepEqual(fullIds.slice(0, promptIds.length), promptIds);
  return { promptIds, ids: fullIds.slice(promptIds.length) };
}

function baseOptions(kind: RealTokenizerKind, promptIds: number[]): OutputProcessorOptions {
  const m = MODELS.get(kind)!;
  let n = 0;
  return { tokenizer: m.tok, promptIds, stopTokenIds: [m.tok.eosTokenId!], toolParser: m.toolParser, newToolCallId: () => `call_${n++}` };
}

function assertSameCalls(got: readonly ToolCallDelta[], want: readonly ChatToolCall[]): void {
  assert.deepEqual(got.map((c) => [c.type, c.function.name]), want.map((c) => ['function', c.function.name]));
  got.forEach((c, i) => assert.deepEqual(JSON.parse(c.function.arguments), JSON.parse(want[i]!.function.arguments as string)));
}

test('deepseek-v3: tool calls rendered by the real template come back from the generated tokens', () => {
  for (const calls of [CALLS, CALLS.slice(0, 1)]) {
    const { promptIds, ids } = generatedTurn('deepseek-v3', { role: 'assistant', content: null, tool_calls: calls }, TOOLS);
    const r = stream(ids, baseOptions('deepseek-v3', promptIds));
    assertSameCalls(r.calls, calls);
    assert.equal(r.content, '');
    assert.equal(r.final.finishReason, 'tool_calls');
    assert.deepEqual(r.calls.map((c) => c.id), calls.map((_, i) => `call_${i}`));
  }
});

test('qwen3: content, reasoning and tool calls rendered by the real template come back (hermes + qwen3 reasoning)', () => {
  const assistant: ChatMessage = { role: 'assistant', content: 'Let me check both.', reasoning_content: 'Two tools: weather, then currency.\nOK.', tool_calls: CALLS };
  const { promptIds, ids } = generatedTurn('qwen3', assistant, TOOLS);
  const r = stream(ids, { ...baseOptions('qwen3', promptIds), reasoning: 'qwen3' });
  assertSameCalls(r.calls, CALLS);
  assert.equal(r.content, 'Let me check both.');
  assert.equal(r.reasoning, 'Two tools: weather, then currency.\nOK.');
  assert.equal(r.final.finishReason, 'tool_calls');
});

test('plain answers pass through unchanged with a tool parser on (both real templates)', () => {
  const text = 'Plain answer: `a < b`, ```json\n{"x": 1}\n``` <tag> 多语言 🙂\n\nBye.';
  for (const kind of ['deepseek-v3', 'qwen3'] as const) {
    const { promptIds, ids } = generatedTurn(kind, { role: 'assistant', content: text }, TOOLS);
    const r = stream(ids, baseOptions(kind, promptIds));
    const expected = kind === 'qwen3' ? '<think>\n\n</think>\n\n' + text : text;
    assert.equal(r.content, expected, kind);
    assert.equal(r.calls.length, 0);
    assert.equal(r.final.finishReason, 'stop');
    const withReasoning = stream(ids, { ...baseOptions(kind, promptIds), reasoning: 'qwen3' });
    assert.deepEqual([withReasoning.reasoning, withReasoning.content], ['', text], kind);
  }
});

test('a stop string spanning token boundaries ends the output and is not shown', () => {
  const { tok } = MODELS.get('deepseek-v3')!;
  const ids = tok.encode('The answer is 42. Next question please.', { addSpecialTokens: false });
  const stop = 'swer is 4';
  assert.ok(ids.every((id) => !tok.decode([id]).includes(stop)), 'the stop spans several tokens');
  const p = new OutputProcessor({ tokenizer: tok, stop: [stop, 'never'] });
  let content = '';
  let stopAt = -1;
  ids.forEach((id, i) => {
    const d = p.onToken(id);
    content += d.contentDelta;
    if (d.stopMatched !== null && stopAt < 0) stopAt = i;
  });
  assert.ok(stopAt > 0 && stopAt < ids.length - 3, `matched at token ${stopAt}`);
  assert.equal(p.stopMatched, stop);
  const final = p.finish('stop');
  assert.equal(content + final.tail.contentDelta, 'The an');
  assert.deepEqual([final.content, final.finishReason, final.stopMatched], ['The an', 'stop', stop]);
});

test('min_tokens: stop strings are looked for only in text after the first minTokens tokens (vLLM)', () => {
  const { tok } = MODELS.get('deepseek-v3')!;
  const text = 'go, go, go and stop here. go home.';
  const ids = tok.encode(text, { addSpecialTokens: false });
  const run = (minTokens: number): string => stream(ids, { tokenizer: tok, stop: ['go'], minTokens }).content;
  assert.equal(run(0), '');
  // the first match is the first 'go' that lies wholly in the text of tokens past the first minTokens
  for (const minTokens of [1, 3, 5]) {
    const from = tok.decode(ids.slice(0, minTokens)).length;
    assert.equal(run(minTokens), text.slice(0, text.indexOf('go', from)), `minTokens ${minTokens}`);
  }
  assert.equal(run(ids.length), text, 'no stop string checked at all');
});

test('DeepSeek-R1 style: the prompt opened <think>, reasoning then answer, stop inside the answer', () => {
  const { tok } = MODELS.get('deepseek-v3')!;
  const ids = tok.encode('Compute 6×7 carefully.\n</think>\n\n**42** — done. ###', { addSpecialTokens: false });
  const r = stream(ids, { tokenizer: tok, reasoning: 'deepseek_r1', stop: ['###'] });
  assert.deepEqual([r.reasoning, r.content, r.final.finishReason], ['Compute 6×7 carefully.', '**42** — done. ', 'stop']);
  const q = stream(ids, { tokenizer: tok, reasoning: 'qwen3', startsInReasoning: true });
  assert.equal(q.reasoning, 'Compute 6×7 carefully.');
});

test('length cut inside a tool call: the partial call is content, finish reason length; abort stays abort', () => {
  const { promptIds, ids } = generatedTurn('qwen3', { role: 'assistant', content: 'Checking.', tool_calls: CALLS.slice(0, 1) }, TOOLS);
  const cut = ids.slice(0, ids.length - 8);
  const r = stream(cut, baseOptions('qwen3', promptIds), 'length');
  assert.equal(r.calls.length, 0);
  assert.ok(r.content.includes('Checking.') && r.content.includes('<tool_call>'), r.content);
  assert.equal(r.final.finishReason, 'length');
  assert.equal(stream(ids, baseOptions('qwen3', promptIds), 'abort').final.finishReason, 'abort');
});

test('special tokens: EOS text never shown; finish is idempotent; misuse is a clear error', () => {
  const { tok } = MODELS.get('qwen3')!;
  const ids = [...tok.encode('Hi!', { addSpecialTokens: false }), tok.eosTokenId!];
  const shown = new OutputProcessor({ tokenizer: tok, skipSpecialTokens: false, stopTokenIds: [tok.eosTokenId!] });
  for (const id of ids) shown.onToken(id);
  const f = shown.finish('stop');
  assert.equal(f.content, 'Hi!');
  assert.equal(shown.finish('length'), f);
  assert.throws(() => shown.onToken(ids[0]!), (e) => isXdsError(e, 'invalid_argument'));
  assert.throws(() => new OutputProcessor({ tokenizer: tok, toolParser: 'nope' }), (e) => isXdsError(e, 'invalid_argument') && e.param === 'tool_call_parser');
  assert.throws(() => new OutputProcessor({ tokenizer: tok, reasoning: 'nope' }), (e) => isXdsError(e, 'invalid_argument') && e.param === 'reasoning_parser');
});
