import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IncrementalDetokenizer } from './detokenizer.js';
import { loadTokenizer, TextTokenizer } from '../../model/tokenizer.js';
import { realTokenizerDir, REAL_TOKENIZER_KINDS } from '../../model/real-tokenizers.js';
import { isXdsError } from '../../core/errors.js';

// Loading a real tokenizer takes seconds: once per file.
const tokenizers: ReadonlyArray<[string, TextTokenizer]> = REAL_TOKENIZER_KINDS.map((k) => [k, loadTokenizer(realTokenizerDir(k))]);

const TEXTS = [
  'Hello, world! The quick brown fox jumps over the lazy dog.',
  '你好，世界！这是一个测试。東京は日本の首都です。',
  'Привет, мир! Ελληνικά κείμενα. مرحبا بالعالم. नमस्ते दुनिया। สวัสดีครับ 안녕하세요',
  'Emoji: 🌍🎉👍🏽 family 👨‍👩‍👧‍👦 flags 🇯🇵🇫🇷 keycap 1️⃣ and café naïve Å e\u0301',
  '  leading spaces\n\ttabs and\r\nnewlines   trailing  ',
  'code: `const x = a?.b ?? 0;` <think>tags</think> {"json": [1, 2.5e3]}',
];

/** NOTE: Qwen3's tokenizer NFC-normalizes its input ('e\u0301' → 'é'); DeepSeek-V3's does not. */
function roundTrip(kind: string, text: string): string {
  return kind === 'qwen3' ? text.normalize('NFC') : text;
}

/** Feeds ids one at a time; returns the deltas (flush last). */
function stream(tok: TextTokenizer, ids: readonly number[], promptIds: readonly number[] = [], skipSpecialTokens = true): string[] {
  const d = new IncrementalDetokenizer(tok, promptIds, { skipSpecialTokens });
  const out = ids.map((id) => d.push(id));
  out.push(d.flush());
  return out;
}

for (const [kind, tok] of tokenizers) {
  test(`${kind}: token-by-token text equals the full decode and never shows U+FFFD`, () => {
    for (const text of TEXTS) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      const deltas = stream(tok, ids);
      assert.equal(deltas.join(''), tok.decode(ids, { skipSpecialTokens: true }), text);
      assert.equal(deltas.join(''), roundTrip(kind, text));
      for (const d of deltas) assert.ok(!d.includes('\uFFFD'), `U+FFFD emitted for ${JSON.stringify(text)}: ${JSON.stringify(deltas)}`);
    }
  });

  test(`${kind}: emoji split over byte tokens are held until complete`, () => {
    const ids = tok.encode(' 👨‍👩‍👧', { addSpecialTokens: false });
    assert.ok(ids.length > 2, 'the emoji spans several tokens');
    const deltas = stream(tok, ids);
    assert.ok(deltas.some((d) => d === ''), 'some token adds nothing yet');
    assert.equal(deltas.join(''), ' 👨‍👩‍👧');
  });

  test(`${kind}: with prompt context and special tokens (skipped or shown)`, () => {
    const prompt = tok.encode('The answer is', { addSpecialTokens: true });
    const eos = tok.eosTokenId!;
    const ids = [...tok.encode(' 42 — «ok» 🙂', { addSpecialTokens: false }), eos];
    assert.equal(stream(tok, ids, prompt).join(''), ' 42 — «ok» 🙂');
    assert.equal(stream(tok, ids, prompt, false).join(''), tok.decode(ids));
    assert.ok(tok.decode(ids).endsWith(tok.idToToken(eos)!));
  });

  test(`${kind}: random token ids stream to the same text as one decode`, () => {
    let seed = 12345;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
    for (let trial = 0; trial < 20; trial++) {
      const ids = Array.from({ length: 40 }, () => rand(tok.vocabSize));
      assert.equal(stream(tok, ids).join(''), tok.decode(ids, { skipSpecialTokens: true }), `ids ${ids.join(',')}`);
    }
  });
}

test('bad token ids are a clear invalid_argument', () => {
  const tok = tokenizers[0]![1];
  const d = new IncrementalDetokenizer(tok);
  assert.throws(() => d.push(-1), (e) => isXdsError(e, 'invalid_argument') && e.param === 'tokenId');
  assert.throws(() => d.push(tok.vocabSize + 5), (e) => isXdsError(e, 'invalid_argument'));
});

test('long generations keep the window small and stay exact', () => {
  const tok = tokenizers[1]![1];
  const text = TEXTS.join(' ').repeat(4);
  const ids = tok.encode(text, { addSpecialTokens: false });
  assert.ok(ids.length > 200);
  assert.equal(stream(tok, ids).join(''), roundTrip('qwen3', text));
});

/** A tiny Llama-2-style SentencePiece BPE (Metaspace '▁', byte fallback, Strip decoder) in tokenizer.json form. */
function sentencePieceTokenizer(): { tok: TextTokenizer; vocab: Record<string, number> } {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  ['▁', '▁Hello', '▁world', '!', '▁the', '▁end'].forEach((t, i) => (vocab[t] = 259 + i));
  const special = (id: number, content: string): Record<string, unknown> => ({ id, content, special: true, single_word: false, lstrip: false, rstrip: false, normalized: false });
  const json = {
    version: '1.0', truncation: null, padding: null, pre_tokenizer: null, post_processor: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: [] },
  };
  return { tok: new TextTokenizer(json, { bos_token: '<s>', eos_token: '</s>', clean_up_tokenization_spaces: false }), vocab };
}

test('SentencePiece (Metaspace, byte fallback): word spaces survive token-by-token, bytes join into characters', () => {
  const { tok, vocab } = sentencePieceTokenizer();
  const v = (t: string): number => vocab[t]!;
  const ids = [v('▁Hello'), v('▁world'), v('!'), v('▁'), 3 + 0xe4, 3 + 0xbd, 3 + 0xa0, v('▁the'), v('▁end'), 2];
  assert.equal(tok.decode([v('▁world')]), 'world', 'a lone token loses its leading space');
  const deltas = stream(tok, ids, [1]);
  assert.deepEqual(deltas, ['Hello', ' world', '!', ' ', '', '', '你', ' the', ' end', '', '']);
  assert.equal(deltas.join(''), tok.decode(ids, { skipSpecialTokens: true }));
});
