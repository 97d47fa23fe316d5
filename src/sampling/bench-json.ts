/**
 * Benchmark of the structured-output mask (json-constraint.ts) at real vocabularies: ms per step of
 * the greedy sampler step alone and under `json_object` / a `json_schema`, at states outside and
 * inside strings (the mask works differently there), with the ratio to the plain step. Single thread.
 *   node dist/sampling/bench-json.js [--ms 300]
 */
import { loadTokenizer } from '../model/tokenizer.js';
import { REAL_TOKENIZER_KINDS, realTokenizerDir } from '../model/real-tokenizers.js';
import { tokenBytesTable } from '../model/token-bytes.js';
import { Rng } from '../core/rng.js';
import { JsonObjectConstraint, tokenBytesIndex, type TokenBytesIndex } from './json-constraint.js';
import { anyObjectNode, compileSchema, type SchemaNode } from './json-schema.js';
import { RequestSampler } from './sampler.js';

const SCHEMA = compileSchema({
  type: 'object', required: ['name', 'tags'], additionalProperties: false,
  properties: { name: { type: 'string' }, age: { type: 'integer' }, tags: { type: 'array', items: { enum: ['a', 'b'] } } },
}, 'schema');
/** Text already generated at each measured state, with where it stands. */
const STATES: readonly [string, string][] = [['{', 'after {'], ['{"name": "Ad', 'in a string'], ['{"name": "Ada", "age": 4', 'in a number']];

function msPerStep(budgetMs: number, step: () => void): number {
  for (let i = 0; i < 3; i++) step();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < budgetMs) { step(); n++; }
  return (performance.now() - t0) / n;
}

/** ms per greedy step with the constraint at `prefix` (each step re-masks the same state). */
function constrainedMs(index: TokenBytesIndex, eos: number, schema: SchemaNode, prefixIds: readonly number[], logits: Float32Array, budgetMs: number): number {
  const c = new JsonObjectConstraint(index, [eos], schema);
  for (const id of prefixIds) c.advance(id);
  const s = new RequestSampler({ temperature: 0 }, [], [eos], { mask: (row) => c.mask(row), advance: () => {} });
  return msPerStep(budgetMs, () => s.sampleToken(logits));
}

function main(argv: readonly string[]): void {
  const at = argv.indexOf('--ms');
  const budgetMs = at >= 0 ? Number(argv[at + 1]) : 300;
  console.log('tokenizer     vocab    state          plain ms   json_object ms (×)   json_schema ms (×)');
  for (const kind of REAL_TOKENIZER_KINDS) {
    const tok = loadTokenizer(realTokenizerDir(kind));
    const index = tokenBytesIndex(tokenBytesTable(tok, tok.vocabSize));
    const logits = new Rng(1, 'bench-json').fillNormal(new Float32Array(tok.vocabSize), 2);
    const eos = tok.eosTokenId!;
    const plain = new RequestSampler({ temperature: 0 });
    const base = msPerStep(budgetMs, () => plain.sampleToken(logits));
    for (const [text, where] of STATES) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      const anyMs = constrainedMs(index, eos, anyObjectNode(), ids, logits, budgetMs);
      const schemaMs = constrainedMs(index, eos, SCHEMA, ids, logits, budgetMs);
      const cell = (ms: number): string => `${ms.toFixed(3)} (${(ms / base).toFixed(1)}×)`.padEnd(21);
      console.log(`${kind.padEnd(13)} ${String(tok.vocabSize).padEnd(8)} ${where.padEnd(14)} ${base.toFixed(3).padEnd(10)} ${cell(anyMs)}${cell(schemaMs)}`);
    }
  }
}

main(process.argv.slice(2));
