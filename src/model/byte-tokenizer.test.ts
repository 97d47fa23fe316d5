/**
 * Tests for the byte-level BPE tokenizer: determinism, vocab layout, arbitrary UTF-8 round trips,
 * ids equal to a naive BPE reference encoder written here, special tokens, and its chat template.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isXdsError } from '../core/errors.js';
import { mulberry32 as rng } from '../core/testing/random.js';
import { BYTE_ADDED_TOKENS, byteToUnicodeTable, makeByteLevelTokenizer, writeByteLevelTokenizer } from './byte-tokenizer.js';
import { loadChatTemplate } from './chat-template.js';
import { TOKENIZER_FILE, TextTokenizer, loadTokenizer } from './tokenizer.js';

const files = makeByteLevelTokenizer();
const tok = new TextTokenizer(files.tokenizerJson, files.tokenizerConfigJson);
const model = files.tokenizerJson.model as { vocab: Record<string, number>; merges: string[] };

/** Random valid UTF-16 text: ASCII, controls, Latin-1, Greek, CJK, astral emoji, ZWJ, combining marks. */
function randomText(next: () => number, length: number): string {
  const ranges: Array<[number, number]> = [[0x20, 0x7e], [0x20, 0x7e], [0x00, 0x1f], [0xa0, 0xff], [0x370, 0x3ff], [0x4e00, 0x9fff], [0x1f300, 0x1faff], [0x200d, 0x200d], [0x300, 0x36f], [0xe000, 0xf8ff]];
  let s = '';
  for (let i = 0; i < length; i++) {
    const [lo, hi] = ranges[Math.floor(next() * ranges.length)]!;
    s += String.fromCodePoint(lo + Math.floor(next() * (hi - lo + 1)));
  }
  return s;
}

/** Naive BPE: GPT-2 split, bytes → symbols, repeatedly merge the lowest-ranked adjacent pair. */
function naiveEncode(text: string): number[] {
  const table = byteToUnicodeTable();
  const rank = new Map(model.merges.map((m, i) => [m, i]));
  const ids: number[] = [];
  const split = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
  for (const [word] of text.matchAll(split)) {
    let sym = [...new TextEncoder().encode(word)].map((b) => table[b]!);
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < sym.length; i++) {
        const r = rank.get(`${sym[i]} ${sym[i + 1]}`);
        if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
      }
      if (best < 0) break;
      sym = [...sym.slice(0, best), sym[best]! + sym[best + 1]!, ...sym.slice(best + 2)];
    }
    for (const s of sym) ids.push(model.vocab[s]!);
  }
  return ids;
}

test('deterministic, vocab of 300–600 with bytes at ids 0..255 and added tokens last', () => {
  assert.equal(JSON.stringify(makeByteLevelTokenizer()), JSON.stringify(files));
  assert.ok(files.vocabSize >= 300 && files.vocabSize <= 600, `vocab ${files.vocabSize}`);
  assert.equal(tok.vocabSize, files.vocabSize);
  assert.equal(model.merges.length, 200);
  const table = byteToUnicodeTable();
  assert.equal(new Set(table).size, 256);
  assert.equal(table[0x20], 'Ġ');
  assert.equal(table[0x0a], 'Ċ');
  for (let b = 0; b < 256; b++) assert.equal(tok.tokenToId(table[b]!), b);
  const firstAdded = files.vocabSize - BYTE_ADDED_TOKENS.length;
  BYTE_ADDED_TOKENS.forEach((t, i) => assert.equal(tok.tokenToId(t.content), firstAdded + i));
  assert.equal(makeByteLevelTokenizer({ numMerges: 50 }).vocabSize, 256 + 50 + BYTE_ADDED_TOKENS.length);
});

test('bos/eos/pad and special ids; <think> and <tool_call> survive skipSpecialTokens', () => {
  assert.equal(tok.bosTokenId, tok.tokenToId('<|begin_of_text|>'));
  assert.equal(tok.eosTokenId, tok.tokenToId('<|im_end|>'));
  assert.equal(tok.padTokenId, tok.tokenToId('<|end_of_text|>'));
  const text = '<|im_start|>assistant\n<think>hmm</think><tool_call>{}</tool_call><|im_end|>';
  const ids = tok.encode(text);
  for (const t of BYTE_ADDED_TOKENS.filter((a) => text.includes(a.content))) assert.ok(ids.includes(tok.tokenToId(t.content)!), `${t.content} is one id`);
  assert.equal(tok.decode(ids), text);
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), 'assistant\n<think>hmm</think><tool_call>{}</tool_call>');
});

test('arbitrary UTF-8 round-trips and ids equal the naive BPE reference', () => {
  const next = rng(1234);
  const fixed = ['The weather in the city is sunny.', 'def add(a, b):\n    return a + b\n', '  spaces   and\ttabs\n\n', "it's 42 — isn't it?", '👨‍👩‍👧‍👦🇫🇷 混合 مرحبا'];
  for (const text of [...fixed, ...Array.from({ length: 40 }, () => randomText(next, 1 + Math.floor(next() * 60)))]) {
    const ids = tok.encode(text);
    assert.equal(tok.decode(ids), text, `round trip of ${JSON.stringify(text)}`);
    assert.deepEqual(ids, naiveEncode(text), `BPE ids of ${JSON.stringify(text)}`);
    const cut = Math.floor(ids.length / 2);
    assert.equal(tok.decode(ids.slice(0, cut)), tok.decodeReference(ids.slice(0, cut)), 'fast decode equals the library on a prefix');
  }
  assert.ok(tok.encode(fixed[0]!).length < fixed[0]!.length / 2, 'merges compress English text');
});

test('its chat template renders system/user/assistant, tools, tool calls, tool results and the generation prompt', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xds-bt-'));
  try {
    writeByteLevelTokenizer(dir);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, TOKENIZER_FILE), 'utf8')), files.tokenizerJson);
    assert.equal(loadTokenizer(dir).vocabSize, files.vocabSize);
    const chat = loadChatTemplate(dir)!;
    assert.equal(chat.specialTokens.eos_token, '<|im_end|>');
    const plain = chat.render({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }] });
    assert.equal(plain, '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n');
    const prompt = chat.render({ messages: [{ role: 'user', content: 'Hi' }], addGenerationPrompt: true });
    assert.equal(prompt, '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    const tool = { type: 'function' as const, function: { name: 'get_weather', description: 'Get the weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };
    const withTools = chat.render({
      messages: [
        { role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] },
        { role: 'tool', content: 'sunny', tool_call_id: 'c1' },
      ],
      tools: [tool],
      addGenerationPrompt: true,
    });
    assert.ok(withTools.startsWith('<|im_start|>system\nBe brief.\n\n# Tools\n'));
    assert.ok(withTools.includes(`<tools>\n${JSON.stringify(tool).replaceAll('":', '": ').replaceAll(',"', ', "')}\n</tools>`), withTools);
    assert.ok(withTools.includes('<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n'));
    assert.ok(withTools.endsWith('<|im_start|>tool\nsunny<|im_end|>\n<|im_start|>assistant\n'));
    assert.equal(tok.decode(tok.encode(withTools)), withTools);
    assert.throws(() => chat.render({ messages: [{ role: 'user', content: 'a' }, { role: 'system', content: 'late' }] }), (e: unknown) => isXdsError(e, 'invalid_argument') && /system must come first/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('numMerges out of range gives invalid_argument', () => {
  assert.throws(() => makeByteLevelTokenizer({ numMerges: -1 }), (e: unknown) => isXdsError(e, 'invalid_argument') && e.param === 'numMerges');
  assert.throws(() => makeByteLevelTokenizer({ numMerges: 2.5 }), (e: unknown) => isXdsError(e, 'invalid_argument'));
});
