/**
 * response_format json_object with the real DeepSeek-V3 tokenizer (129k tokens, byte-level BPE):
 * the mask equals the naive rule (a token is allowed iff the text so far plus its bytes is still
 * accepted by a fresh recognizer; stop tokens iff the object is closed) over the whole vocabulary,
 * and sampling with random logits through RequestSampler always ends in text JSON.parse reads as
 * an object.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../core/rng.js';
import { loadTokenizer } from '../model/tokenizer.js';
import { realTokenizerDir } from '../model/real-tokenizers.js';
import { tokenBytesTable } from '../model/token-bytes.js';
import { JsonObjectConstraint, tokenBytesIndex } from './json-constraint.js';
import { JsonSchemaState } from './json-schema-state.js';
import { anyObjectNode } from './json-schema.js';
import { RequestSampler } from './sampler.js';

const tok = loadTokenizer(realTokenizerDir('deepseek-v3'));
const table = tokenBytesTable(tok, tok.vocabSize);
const index = tokenBytesIndex(table);
const EOS = tok.eosTokenId!;
const V = tok.vocabSize;

/** Logits that favour closing tokens a little, so random walks end within a few hundred steps. */
const BIAS = Float32Array.from(table, (b, id) => (id === EOS ? 4 : b !== null && (b.includes(0x7d) || b.includes(0x22) || b.includes(0x5d)) ? 3 : 0));
function randomLogits(rng: Rng): Float32Array {
  const row = rng.fillNormal(new Float32Array(V), 1);
  for (let id = 0; id < V; id++) row[id] = row[id]! + BIAS[id]!;
  return row;
}

/** The rule itself, token by token: the text so far (read once by a fresh recognizer) then the token's bytes. */
function naiveAllowedIds(text: Uint8Array): Set<number> {
  const base = new JsonSchemaState(anyObjectNode());
  assert.ok(base.feedAll(text), 'the text so far is accepted');
  const out = new Set<number>(base.done ? [EOS] : []);
  const probe = new JsonSchemaState(anyObjectNode());
  for (let id = 0; id < table.length; id++) {
    const b = table[id]!;
    probe.copyFrom(base);
    if (b !== null && probe.feedAll(b)) out.add(id);
  }
  return out;
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => { const out = new Uint8Array(a.length + b.length); out.set(a); out.set(b, a.length); return out; };

test('the mask equals the naive per-token rule over the whole vocabulary, at states along random walks', () => {
  const rng = new Rng(5, 'json-mask');
  let checkedStates = 0;
  for (let walk = 0; checkedStates < 6; walk++) {
    assert.ok(walk < 20, 'walks long enough to check 6 states');
    const c = new JsonObjectConstraint(index, [EOS]);
    let text: Uint8Array = new Uint8Array(0);
    for (let step = 0; step < 80; step++) {
      const row = randomLogits(rng);
      c.mask(row);
      if (step % 5 === 2) {
        const want = naiveAllowedIds(text);
        for (let id = 0; id < V; id++) {
          if ((row[id] !== -Infinity) !== want.has(id)) assert.fail(`token ${id} ${JSON.stringify(tok.decode([id]))} after ${JSON.stringify(Buffer.from(text).toString())}: mask ${row[id] !== -Infinity}`);
        }
        checkedStates++;
      }
      // a draw from softmax(row): Gumbel-max
      let best = -1, bestScore = -Infinity;
      for (let id = 0; id < V; id++) {
        if (row[id] === -Infinity) continue;
        const score = row[id]! - Math.log(-Math.log(rng.uniform() || Number.MIN_VALUE));
        if (score > bestScore) { bestScore = score; best = id; }
      }
      assert.ok(best >= 0, 'some token is always allowed');
      if (best === EOS) break;
      c.advance(best);
      text = concat(text, table[best]!);
    }
  }
});

test('random sampling through RequestSampler under the constraint ends in a JSON object (a 4,000-token vocabulary, 20 seeds)', () => {
  // the real vocabulary's first 4,000 tokens (the 256 bytes and common merges) and an EOS after them
  const small = [...table.slice(0, 4000), null];
  const eos = 4000;
  const smallIndex = tokenBytesIndex(small);
  const bias = Float32Array.from(small, (b, id) => (id === eos ? 4 : b !== null && (b.includes(0x7d) || b.includes(0x22) || b.includes(0x5d)) ? 3 : 0));
  let ended = 0;
  for (let seed = 0; seed < 20; seed++) {
    const rng = new Rng(seed, 'json-walk');
    const s = new RequestSampler({ temperature: 1, seed, responseFormat: 'json_object' }, [], [eos], new JsonObjectConstraint(smallIndex, [eos]));
    const bytes: number[] = [];
    let steps = 0;
    for (; steps < 300; steps++) {
      const row = rng.fillNormal(new Float32Array(small.length), 1);
      for (let i = 0; i < row.length; i++) row[i] = row[i]! + bias[i]!;
      const id = s.sampleToken(row);
      if (id === eos) break;
      bytes.push(...small[id]!);
    }
    if (steps === 300) continue; // ran out of steps: a prefix (the mask test checks those)
    ended++;
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes)); // well-formed UTF-8, or this throws
    const v: unknown = JSON.parse(text);
    assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v), `seed ${seed}: ${text}`);
  }
  assert.ok(ended >= 15, `${ended} of 20 walks ended`);
});

test('min_tokens under json_object: whitespace fills in after the object, then EOS (no dead end)', () => {
  const small = tokenBytesIndex([Uint8Array.of(0x7b), Uint8Array.of(0x7d), Uint8Array.of(0x20), null]); // '{' '}' ' ' EOS
  const run = (minTokens: number): number[] => {
    const s = new RequestSampler({ temperature: 0, minTokens, responseFormat: 'json_object' }, [], [3], new JsonObjectConstraint(small, [3]));
    const out: number[] = [];
    for (let i = 0; i < 40 && out.at(-1) !== 3; i++) out.push(s.sampleToken(Float32Array.of(3, 2, 1, 5)));
    return out;
  };
  assert.deepEqual(run(0), [0, 1, 3]);
  assert.deepEqual(run(5), [0, 1, 2, 2, 2, 3]);
  assert.deepEqual(run(30), [0, 1, ...Array<number>(16).fill(2), 3], 'at most 16 spaces, then EOS though min_tokens is not reached');
});

test('with no stop token (ignore_eos), a closed object goes on with whitespace only, so the text stays JSON', () => {
  const small = tokenBytesIndex([Uint8Array.of(0x7b), Uint8Array.of(0x7d), Uint8Array.of(0x20), null]);
  const s = new RequestSampler({ temperature: 0, responseFormat: 'json_object' }, [], [], new JsonObjectConstraint(small, []));
  const out = Array.from({ length: 30 }, () => s.sampleToken(Float32Array.of(3, 2, 1, 5)));
  assert.deepEqual(out, [0, 1, ...Array<number>(28).fill(2)]);
});
