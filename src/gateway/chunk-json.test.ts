/**
 * Pre-serialized stream chunks (chunk-json.ts) against the naive reference: JSON.stringify of the
 * chunk object the routes built before, for texts with quotes, control characters, non-ASCII and
 * astral characters, lone surrogates and an empty string.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkSerializer, contentDeltaChoiceJson, RawJson, textChoiceJson } from './chunk-json.js';

const TEXTS = ['', 'hello', ' "quoted" \\ back', 'tab\tnew\nline\u0001', 'héllo 世界', '🙂 astral', '\ud800 lone', '</script>'];
const head = { id: 'cmpl-abc"1', object: 'text_completion', created: 1_700_000_000, model: 'dsv3 "small"', system_fingerprint: null };

test('completion delta chunks are byte-identical to JSON.stringify of the object', () => {
  const raw = chunkSerializer(head);
  TEXTS.forEach((text, index) => {
    const ref = JSON.stringify({ ...head, choices: [{ index, text, logprobs: null, finish_reason: null }], usage: null });
    const got = raw(textChoiceJson(index, text));
    assert.ok(got instanceof RawJson);
    assert.equal(got.json, ref);
    assert.deepEqual(JSON.parse(got.json), JSON.parse(ref));
  });
});

test('chat content delta chunks are byte-identical to JSON.stringify of the object', () => {
  const chatHead = { ...head, object: 'chat.completion.chunk' };
  const raw = chunkSerializer(chatHead);
  TEXTS.forEach((content, index) => {
    const ref = JSON.stringify({ ...chatHead, choices: [{ index, delta: { content }, logprobs: null, finish_reason: null }], usage: null });
    assert.equal(raw(contentDeltaChoiceJson(index, content)).json, ref);
  });
});

test('an empty head still gives valid JSON', () => {
  assert.equal(chunkSerializer({})(textChoiceJson(0, 'x')).json, JSON.stringify({ choices: [{ index: 0, text: 'x', logprobs: null, finish_reason: null }], usage: null }));
});
