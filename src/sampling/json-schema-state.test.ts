/**
 * The schema recognizer against an independent validator written from JSON Schema's definition
 * for the supported keywords (JSON.parse, then a recursive check): on documents generated from the
 * schema and mutated, a whole text is accepted and complete exactly when it parses and validates,
 * and every prefix of a valid document is accepted. Unsupported schemas are refused by name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../core/rng.js';
import { XdsError } from '../core/errors.js';
import { compileSchema } from './json-schema.js';
import { JsonSchemaState } from './json-schema-state.js';
import { JsonObjectConstraint, tokenBytesIndex } from './json-constraint.js';
import { RequestSampler } from './sampler.js';
import { loadTokenizer } from '../model/tokenizer.js';
import { realTokenizerDir } from '../model/real-tokenizers.js';
import { tokenBytesTable } from '../model/token-bytes.js';

type Json = Record<string, unknown>;

const SCHEMA: Json = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer' },
    score: { type: 'number' },
    ok: { type: 'boolean' },
    tags: { type: 'array', items: { type: 'string' } },
    kind: { enum: ['cat', 'dog', 1, 12, null] },
    addr: { $ref: '#/$defs/Addr' },
    opt: { anyOf: [{ type: 'number' }, { type: 'null' }] },
  },
  required: ['name', 'age'],
  additionalProperties: false,
  $defs: {
    Addr: { type: 'object', properties: { city: { type: 'string' }, next: { $ref: '#/$defs/Addr' } }, required: ['city'], additionalProperties: false },
  },
};

/** The reference: JSON Schema semantics of the supported keywords, on a parsed value. */
function validate(v: unknown, s: Json, root: Json): boolean {
  if (typeof s.$ref === 'string') return validate(v, (root.$defs as Json)[s.$ref.split('/').pop()!] as Json, root);
  if (Array.isArray(s.anyOf)) return (s.anyOf as Json[]).some((b) => validate(v, b, root));
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).some((e) => JSON.stringify(e) === JSON.stringify(v));
  const type = s.type as string | undefined;
  const kind = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  if (type === 'integer') return typeof v === 'number' && Number.isInteger(v);
  if (type === 'number') return typeof v === 'number';
  if (type !== undefined && type !== kind) return false;
  if (kind === 'array' && s.items) return (v as unknown[]).every((x) => validate(x, s.items as Json, root));
  if (kind === 'object' && s.properties) {
    const o = v as Json, props = s.properties as Json;
    if (!((s.required as string[] | undefined) ?? []).every((r) => r in o)) return false;
    return Object.entries(o).every(([k, x]) => (k in props ? validate(x, props[k] as Json, root) : s.additionalProperties !== false));
  }
  return true;
}

function run(text: string): boolean {
  const s = new JsonSchemaState(compileSchema(SCHEMA, 'schema'));
  return s.feedAll(Uint8Array.from(Buffer.from(text, 'utf8'))) && s.done;
}

function parsesValid(text: string): boolean {
  let v: unknown;
  try { v = JSON.parse(text); } catch { return false; }
  return typeof v === 'object' && v !== null && !Array.isArray(v) && validate(v, SCHEMA, SCHEMA);
}

/** A document from the schema (valid), as text with random whitespace and key order. */
function generate(rng: Rng, depth = 0): string {
  const pick = <T>(xs: readonly T[]): T => xs[rng.nextU32() % xs.length]!;
  const ws = (): string => pick([' ', '', '', '\n  ']);
  const str = (): string => JSON.stringify(pick(['', 'Ada', 'naïve "q"', 'a\\b', 'x\ny']));
  const addr = (d: number): string => `{${ws()}"city":${ws()}${str()}${d < 2 && rng.nextU32() % 2 ? `,${ws()}"next":${ws()}${addr(d + 1)}` : ''}${ws()}}`;
  const fields: Record<string, () => string> = {
    name: str, age: () => pick(['0', '-7', '42']), score: () => pick(['1.5', '-0.25e3', '3', '0']), ok: () => pick(['true', 'false']),
    tags: () => `[${Array.from({ length: rng.nextU32() % 3 }, str).join(`,${ws()}`)}]`, kind: () => pick(['"cat"', '"dog"', '1', '12', 'null']),
    addr: () => addr(depth), opt: () => pick(['null', '2.5', '-1']),
  };
  const keys = ['name', 'age', ...Object.keys(fields).filter((k) => k !== 'name' && k !== 'age' && rng.nextU32() % 2)];
  for (let i = keys.length - 1; i > 0; i--) { const j = rng.nextU32() % (i + 1); [keys[i], keys[j]] = [keys[j]!, keys[i]!]; }
  return `${ws()}{${keys.map((k) => `${ws()}"${k}"${ws()}:${ws()}${fields[k]!()}`).join(',')}${ws()}}${ws()}`;
}

test('generated documents: every prefix accepted and the whole complete', () => {
  const rng = new Rng(21, 'schema-gen');
  const node = compileSchema(SCHEMA, 'schema');
  for (let i = 0; i < 300; i++) {
    const doc = generate(rng);
    assert.ok(parsesValid(doc), doc);
    const s = new JsonSchemaState(node);
    Buffer.from(doc, 'utf8').forEach((b, k) => assert.ok(s.feed(b), `refused byte ${k} of ${doc}`));
    assert.ok(s.done, doc);
  }
});

test('mutated documents: complete ⇔ JSON.parse and the reference validator accept', () => {
  const rng = new Rng(22, 'schema-mut');
  const pieces = ['"name"', '"age"', '"zzz"', '1.5', '7', '"cat"', '"cow"', 'null', 'true', '{', '}', '[', ']', ',', ':', '"', ' ', '12', '"city"', '-'];
  let valid = 0, invalid = 0;
  for (let i = 0; i < 6000; i++) {
    const doc = generate(rng);
    const at = rng.nextU32() % doc.length;
    const len = rng.nextU32() % 6;
    const edit = rng.nextU32() % 3;
    const piece = pieces[rng.nextU32() % pieces.length]!;
    const text = edit === 0 ? doc.slice(0, at) + piece + doc.slice(at + len) : edit === 1 ? doc.slice(0, at) + doc.slice(at + len) : doc.slice(0, at) + piece + doc.slice(at);
    const want = parsesValid(text);
    assert.equal(run(text), want, JSON.stringify(text));
    if (want) valid++; else invalid++;
  }
  assert.ok(valid > 300 && invalid > 300, `both sides exercised: ${valid} valid, ${invalid} invalid`);
});

test('schemas outside the supported subset are refused, naming the field', () => {
  for (const bad of [
    { anyOf: [{ type: 'string' }, { type: 'string', enum: ['a'] }] },
    { anyOf: [{ type: 'object' }, { type: 'object' }] },
    { type: 'object', properties: { a: { $ref: 'https://example.com/x' } } },
    { type: 'object', required: ['missing'], properties: {} },
    { type: 'strange' },
    { type: 'object', properties: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`p${i}`, {}])) },
    { type: 'object', properties: { a: { enum: ['x'.repeat(600)] } } },
  ]) {
    assert.throws(() => compileSchema(bad, 'response_format.json_schema.schema'), (e: XdsError) => e.code === 'invalid_argument' && e.param === 'response_format.json_schema.schema', JSON.stringify(bad));
  }
});

/** Whether every byte of `text` is accepted (a prefix the output may still grow from). */
function prefixAccepted(text: string): boolean {
  return new JsonSchemaState(compileSchema(SCHEMA, 'schema')).feedAll(Uint8Array.from(Buffer.from(text, 'utf8')));
}

test('refused at the first byte that cannot lead to a valid document (no dead ends for the mask)', () => {
  const cases: [string, boolean][] = [
    ['{"na', true], ['{"zz', false], ['{"name":"a","age":1,"name', false], ['{"name":"a","age":1,"sco', true],
    ['{"age":1.', false], ['{"age":1e', false], ['{"score":1.5e-', true], ['{"kind":"co', false], ['{"kind":"ca', true],
    ['{"kind":1', true], ['{"kind":13', false], ['{"kind":12,', true], ['{"kind":12}', false], ['{"kind":tr', false], ['{"opt":"', false],
    ['{"opt":nu', true], ['{"tags":[1', false], ['{"tags":["a",', true], ['{"addr":{"ci', true], ['{"addr":{"x', false],
    ['{"addr":{}', false], ['{"age":1}', false], ['{"name":"x","age":2}', true], ['{"name":"x","age":2,"zzz":1}', false],
    ['{"name":"x","age":2,"addr":{"city":"B","next":{}}}', false], ['[', false], ['"s"', false],
  ];
  for (const [text, ok] of cases) assert.equal(prefixAccepted(text), ok, text);
});

test('sampling with random logits under the schema constraint ends in valid documents (real tokens, 12 seeds)', () => {
  const tok = loadTokenizer(realTokenizerDir('deepseek-v3'));
  const small = [...tokenBytesTable(tok, 4000), null]; // the 256 bytes and common merges, then an EOS
  const eos = 4000;
  const index = tokenBytesIndex(small);
  const node = compileSchema(SCHEMA, 'schema');
  const closers = Float32Array.from(small, (b, id) => (id === eos ? 6 : b !== null && (b.includes(0x7d) || b.includes(0x22) || b.includes(0x5d) || b.includes(0x2c)) ? 3 : 0));
  let ended = 0;
  for (let seed = 0; seed < 12; seed++) {
    const rng = new Rng(seed, 'schema-walk');
    const c = new JsonObjectConstraint(index, [eos], node);
    const s = new RequestSampler({ temperature: 1, seed }, [], [eos], c);
    const bytes: number[] = [];
    let steps = 0;
    for (; steps < 400; steps++) {
      const row = rng.fillNormal(new Float32Array(small.length), 1);
      for (let i = 0; i < row.length; i++) row[i] = row[i]! + closers[i]!;
      const id = s.sampleToken(row); // a row with nothing allowed would make this a masked token: checked below
      if (id === eos) break;
      assert.ok(small[id] !== null, `seed ${seed}: a special token was drawn`);
      bytes.push(...small[id]!);
    }
    if (steps === 400) continue;
    ended++;
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes)); // well-formed UTF-8, or this throws
    assert.ok(parsesValid(text), `seed ${seed}: ${text}`);
  }
  assert.ok(ended >= 8, `${ended} of 12 walks ended`);
});

test('a tagged union (oneOf objects told apart by a const property): the tag first, then that variant', () => {
  const node = compileSchema({ oneOf: [
    { type: 'object', properties: { kind: { const: 'circle' }, r: { type: 'number' } }, required: ['kind', 'r'], additionalProperties: false },
    { type: 'object', properties: { w: { type: 'number' }, kind: { const: 'rect' }, h: { type: 'number' } }, required: ['kind', 'w', 'h'], additionalProperties: false },
  ] }, 'schema');
  const run2 = (text: string): { accepted: boolean; done: boolean } => {
    const s = new JsonSchemaState(node);
    const accepted = s.feedAll(Uint8Array.from(Buffer.from(text)));
    return { accepted, done: accepted && s.done };
  };
  for (const ok of ['{"kind":"circle","r":1.5}', '{ "kind" : "rect", "h": 2, "w": 1 }']) assert.equal(run2(ok).done, true, ok);
  for (const [bad, prefixOk] of [['{"kind":"circle","w":1}', false], ['{"r":1}', false], ['{"kind":"rect","w":1}', false], ['{"kind":"square"}', false], ['{"kind":"rect"}', false], ['{"kind":"circle","r":1,"r":2}', false], ['{"kind":"rect","w":1,', true]] as const) {
    const r = run2(bad);
    assert.equal(r.done, false, bad);
    if (prefixOk) assert.equal(r.accepted, true, bad);
  }
  assert.throws(() => compileSchema({ oneOf: [{ type: 'object', properties: { k: { const: 1 } }, required: ['k'] }, { type: 'object', properties: { k: { const: 1 } }, required: ['k'] }] }, 'p'), /same kind/);
});
