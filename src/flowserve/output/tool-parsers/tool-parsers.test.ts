import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createToolParser, parseToolCalls, registerToolParser, toolParserNames } from './registry.js';
import { createForcedToolParser } from './forced.js';
import { isXdsError } from '../../../core/errors.js';
import type { ToolCallDelta } from '../types.js';

interface Call {
  readonly name: string;
  readonly arguments: string;
}

/** Independent renderers of each format, written from the chat templates (not from the parsers). */
const RENDER: Readonly<Record<string, (content: string, calls: readonly Call[]) => string>> = {
  deepseek_v3: (content, calls) => content + '<｜tool▁calls▁begin｜>' +
    calls.map((c) => `<｜tool▁call▁begin｜>function<｜tool▁sep｜>${c.name}\n\`\`\`json\n${c.arguments}\n\`\`\`<｜tool▁call▁end｜>`).join('\n') + '<｜tool▁calls▁end｜>',
  deepseek_v31: (content, calls) => content + '<｜tool▁calls▁begin｜>' +
    calls.map((c) => `<｜tool▁call▁begin｜>${c.name}<｜tool▁sep｜>${c.arguments}<｜tool▁call▁end｜>`).join('') + '<｜tool▁calls▁end｜>',
  hermes: (content, calls) => content + (content ? '\n' : '') +
    calls.map((c) => `<tool_call>\n{"name": "${c.name}", "arguments": ${c.arguments}}\n</tool_call>`).join('\n'),
};

const CALLS: readonly Call[] = [
  { name: 'get_weather', arguments: '{"city": "Paris", "unit": "celsius"}' },
  { name: 'search', arguments: '{"query": "naïve 東京 🎉 \\"quoted\\" </tool_call>? no: <tool_call>", "k": [1, 2.5, null, true]}' },
];

/** Streams `chunks` through the parser; returns content, calls and the text seen before the last chunk. */
function run(name: string, chunks: readonly string[]): { content: string; calls: ToolCallDelta[] } {
  let n = 0;
  const p = createToolParser(name, { newToolCallId: () => `call_${n++}` });
  const out = { content: '', calls: [] as ToolCallDelta[] };
  for (const step of [...chunks.map((c) => p.push(c)), p.flush()]) {
    out.content += step.content;
    out.calls.push(...step.toolCalls);
  }
  assert.equal(p.numToolCalls, out.calls.length);
  return out;
}

function splits(text: string): string[][] {
  const out: string[][] = [[text], [...text]];
  let seed = 99;
  for (let i = 0; i < 20; i++) {
    const cuts = Array.from({ length: 4 }, () => (seed = (seed * 48271) % 2147483647) % (text.length + 1)).sort((a, b) => a - b);
    out.push([0, ...cuts].map((c, j, all) => text.slice(c, all[j + 1] ?? text.length)));
  }
  return out;
}

const sameJson = (a: string, b: string): void => assert.deepEqual(JSON.parse(a), JSON.parse(b));

for (const name of Object.keys(RENDER)) {
  test(`${name}: content and tool calls come back, however the text is chunked`, () => {
    for (const [content, calls] of [['Let me check.', CALLS], ['', CALLS.slice(0, 1)], ['多言語 🙂', CALLS.slice(1)]] as const) {
      const text = RENDER[name]!(content, calls);
      for (const chunks of splits(text)) {
        const r = run(name, chunks);
        assert.equal(r.content, content, JSON.stringify(chunks));
        assert.deepEqual(r.calls.map((c) => [c.index, c.id, c.type, c.function.name]), calls.map((c, i) => [i, `call_${i}`, 'function', c.name]));
        r.calls.forEach((c, i) => sameJson(c.function.arguments, calls[i]!.arguments));
      }
    }
  });

  test(`${name}: plain text passes through unchanged`, () => {
    for (const text of ['Hello!\n\n', '  a < b and `code` ```json\n{}\n``` <tool <｜tool end\n', '', '<tool_cal', '<｜tool▁call']) {
      for (const chunks of splits(text)) assert.deepEqual(run(name, chunks), { content: text, calls: [] }, JSON.stringify(chunks));
    }
  });

  test(`${name}: content streams before the call; each call comes out when its end marker arrives`, () => {
    const text = RENDER[name]!('Checking now.', CALLS);
    const p = createToolParser(name, {});
    const upToFirstEnd = text.indexOf(name === 'hermes' ? '</tool_call>' : '<｜tool▁call▁end｜>');
    const a = p.push(text.slice(0, upToFirstEnd));
    assert.equal(a.content, 'Checking now.');
    assert.equal(a.toolCalls.length, 0);
    const b = p.push(text.slice(upToFirstEnd));
    assert.equal(b.toolCalls.length, 2);
    assert.match(b.toolCalls[0]!.id, /^call_[A-Za-z0-9]{24}$/);
    assert.notEqual(b.toolCalls[0]!.id, b.toolCalls[1]!.id);
  });

  test(`${name}: a call cut short or malformed is returned as content, never lost`, () => {
    const text = RENDER[name]!('Sure.', [{ name: 'f', arguments: '{"a": ' }]);
    const r = run(name, [text]);
    assert.equal(r.calls.length, 0);
    assert.ok(r.content.startsWith('Sure.') && r.content.includes('{"a": '), r.content);
    const cut = RENDER[name]!('Sure.', CALLS).slice(0, -30);
    const rc = run(name, [cut]);
    assert.ok(rc.content.includes('Sure.'), rc.content);
  });
}

test('hermes: a final call without </tool_call> is accepted when its JSON is complete', () => {
  const r = run('hermes', ['I will call.\n<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n']);
  assert.equal(r.content, 'I will call.');
  assert.deepEqual(r.calls.map((c) => [c.function.name, c.function.arguments]), [['f', '{"x":1}']]);
});

test('deepseek_v3: arguments are kept as the model wrote them (trimmed)', () => {
  const args = '{"n": 12345678901234567890, "s": "x"}';
  const r = parseToolCalls('deepseek_v3', RENDER.deepseek_v3!('', [{ name: 'big', arguments: args }]));
  assert.equal(r.toolCalls[0]!.function.arguments, args);
});

test('registry: names, unknown name is invalid_argument naming tool_call_parser, custom parsers register', () => {
  assert.deepEqual(toolParserNames().slice(0, 3).sort(), ['deepseek_v3', 'deepseek_v31', 'hermes']);
  assert.throws(() => createToolParser('nope'), (e) => isXdsError(e, 'invalid_argument') && e.param === 'tool_call_parser' && /hermes/.test(e.message));
  registerToolParser('upper_test', () => ({
    numToolCalls: 0,
    push: (t: string) => ({ content: t.toUpperCase(), toolCalls: [] }),
    flush: () => ({ content: '', toolCalls: [] }),
  }));
  assert.deepEqual(parseToolCalls('upper_test', 'abc'), { content: 'ABC', toolCalls: [] });
});

test('a forced call: the whole streamed output is the named function\'s arguments, one call at the end', () => {
  const p = createForcedToolParser('get_weather', { newToolCallId: () => 'call_0' });
  const steps = [' {"city": ', '"Bern"', '} \n'].map((t) => p.push(t));
  assert.ok(steps.every((s) => s.content === '' && s.toolCalls.length === 0), 'nothing before the end');
  assert.equal(p.numToolCalls, 0);
  assert.deepEqual(p.flush(), { content: '', toolCalls: [{ index: 0, id: 'call_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Bern"}' } }] });
  assert.equal(p.numToolCalls, 1);
  assert.deepEqual(p.flush(), { content: '', toolCalls: [] });
  const empty = createForcedToolParser('f');
  empty.push('  ');
  assert.deepEqual(empty.flush(), { content: '', toolCalls: [] }, 'no output, no call');
});

test("a forced call among several tools: the output {name, arguments} becomes the call; cut short, it is content", () => {
  const p = createForcedToolParser(null, { newToolCallId: () => 'call_0' });
  p.push('{"name": "go", ');
  p.push('"arguments": {"city": "Bern"}}');
  assert.deepEqual(p.flush().toolCalls, [{ index: 0, id: 'call_0', type: 'function', function: { name: 'go', arguments: '{"city":"Bern"}' } }]);
  const cut = createForcedToolParser(null);
  cut.push('{"name": "go", "argu');
  assert.deepEqual(cut.flush(), { content: '{"name": "go", "argu', toolCalls: [] });
});
