/**
 * The recognizer with no schema (anyObjectNode: response_format json_object) against JSON.parse
 * (the reference): every prefix of a valid document is accepted; a whole string is accepted and
 * complete exactly when JSON.parse reads it as an object (the documents here have short
 * whitespace runs: longer than MAX_WS_RUN bytes is refused on purpose); a string JSON.parse refuses
 * is either refused at some byte or left incomplete (a prefix).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../core/rng.js';
import { JsonSchemaState } from './json-schema-state.js';
import { anyObjectNode } from './json-schema.js';

const ANY_OBJECT = anyObjectNode();

function run(text: string): { accepted: boolean; done: boolean } {
  const s = new JsonSchemaState(ANY_OBJECT);
  const ok = s.feedAll(Uint8Array.from(Buffer.from(text, 'utf8')));
  return { accepted: ok, done: ok && s.done };
}

function parsesAsObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** A random JSON value of bounded depth, as text with random (valid) whitespace. */
function randomValue(rng: Rng, depth: number, top = false): string {
  const ws = (): string => [' ', '', '', '\n', '\t ', '\r\n'][rng.nextU32() % 6]!;
  const kind = top ? 0 : rng.nextU32() % (depth > 3 ? 5 : 7);
  const str = (): string => JSON.stringify(['', 'a', 'héllo "q"', 'tab\there', 'ü€😀', '\\back', 'line\nbreak', 'x'.repeat(rng.nextU32() % 9)][rng.nextU32() % 8]).replace('\\u', '\\u');
  switch (kind) {
    case 0: case 5: {
      const n = rng.nextU32() % 4;
      const members = Array.from({ length: n }, () => `${ws()}${str()}${ws()}:${ws()}${randomValue(rng, depth + 1)}${ws()}`);
      return `{${members.join(',') || ws()}}`;
    }
    case 6: {
      const n = rng.nextU32() % 4;
      return `[${Array.from({ length: n }, () => `${ws()}${randomValue(rng, depth + 1)}${ws()}`).join(',') || ws()}]`;
    }
    case 1: return str();
    case 2: return ['0', '-0', '12', '-3.25', '1e9', '2.5E-3', '7e+2', '0.0', '100'][rng.nextU32() % 9]!;
    case 3: return ['true', 'false', 'null'][rng.nextU32() % 3]!;
    default: return '"\\u00e9\\n\\/"';
  }
}

test('valid objects: every prefix accepted, the whole complete; trailing whitespace only after', () => {
  const rng = new Rng(11, 'json-state');
  for (let i = 0; i < 400; i++) {
    const doc = ` ${randomValue(rng, 0, true)}\n`;
    assert.ok(parsesAsObject(doc), doc);
    const bytes = Buffer.from(doc, 'utf8');
    const s = new JsonSchemaState(ANY_OBJECT);
    bytes.forEach((b, k) => assert.ok(s.feed(b), `refused byte ${k} of ${JSON.stringify(doc)}`));
    assert.ok(s.done, doc);
    assert.equal(run(`${doc}x`).accepted, false);
    assert.equal(run(`${doc},`).accepted, false);
  }
});

test('random strings over a JSON alphabet: complete ⇔ JSON.parse gives an object; refused ⇒ JSON.parse fails', () => {
  const rng = new Rng(12, 'json-fuzz');
  const alphabet = ['{', '}', '[', ']', '"', ':', ',', ' ', 'a', '0', '1', '-', '.', 'e', 'E', '+', '\\', 'n', 'u', 't', 'r', 'f', 'l', 's', '"k"', 'true', 'null', '\u0001', 'é'];
  let complete = 0;
  for (let i = 0; i < 20000; i++) {
    const len = 1 + (rng.nextU32() % 12);
    const text = Array.from({ length: len }, () => alphabet[rng.nextU32() % alphabet.length]!).join('');
    const r = run(text);
    const ok = parsesAsObject(text);
    assert.equal(r.done, ok, `${JSON.stringify(text)}: done ${r.done}, JSON.parse object ${ok}`);
    if (r.done) complete++;
  }
  // mutations of valid documents: one byte changed, dropped or doubled
  for (let i = 0; i < 3000; i++) {
    const doc = randomValue(rng, 0, true);
    const at = rng.nextU32() % doc.length;
    const edit = rng.nextU32() % 3;
    const text = edit === 0 ? doc.slice(0, at) + alphabet[rng.nextU32() % alphabet.length]! + doc.slice(at + 1)
      : edit === 1 ? doc.slice(0, at) + doc.slice(at + 1) : doc.slice(0, at + 1) + doc.slice(at);
    const r = run(text);
    assert.equal(r.done, parsesAsObject(text), JSON.stringify(text));
    if (r.done) complete++;
  }
  assert.ok(complete > 100, `both sides of the equivalence are exercised (${complete} objects)`);
});

test('nesting beyond the depth bound is refused; numbers end at the right bytes', () => {
  assert.equal(run(`{"a":${'['.repeat(70)}`).accepted, false);
  assert.equal(run(`{"a":${'['.repeat(60)}${']'.repeat(60)}}`).done, true);
  for (const bad of ['{"a":01}', '{"a":1.}', '{"a":-}', '{"a":1e}', '{"a":.5}', '{"a":1.5.2}', '{"a":tru}', '{"a":"\\x"}', '{"a":"\\u12G4"}', '[1]', '"s"', '{"a" 1}', '{,}', '{"a":1,}']) {
    assert.equal(run(bad).done, false, bad);
    assert.equal(parsesAsObject(bad), false, bad);
  }
});

test('strings take well-formed UTF-8 only: whole characters, no stray, overlong or surrogate bytes', () => {
  const accepts = (bytes: number[]): boolean => new JsonSchemaState(ANY_OBJECT).feedAll(Uint8Array.from([...Buffer.from('{"a":"'), ...bytes, 0x22, 0x7d]));
  for (const ok of ['é', '€', '😀', 'a\u00a0b', '\u{10ffff}']) assert.equal(accepts([...Buffer.from(ok, 'utf8')]), true, ok);
  for (const bad of [[0x80], [0xc3], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf0, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xff], [0xe2, 0x82], [0xc3, 0x22]]) {
    assert.equal(accepts(bad), false, JSON.stringify(bad));
  }
});

test('at most 16 whitespace bytes in a row between tokens; inside strings any number', () => {
  const accepts = (text: string): boolean => new JsonSchemaState(ANY_OBJECT).feedAll(Uint8Array.from(Buffer.from(text)));
  assert.equal(accepts(`{${' '.repeat(16)}"a":${'\n'.repeat(16)}1${'\t'.repeat(16)}}`), true);
  assert.equal(accepts(`{${' '.repeat(17)}`), false);
  assert.equal(accepts(`{"a":${' \n'.repeat(9)}`), false);
  assert.equal(accepts(`{"a":"${' '.repeat(100)}"}`), true);
});
