/**
 * Cross-check of the generator and loader against MODELS.md: every generated §9.2 fixture holds
 * exactly the tensors (names and shapes) that the reference derives from the document, its layer
 * plan follows the §3/§4 rules, and the reference runs on it from disk (f32 and bf16).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { maxAbsDiff, rms } from './compare.js';
import { referenceForward } from './forward.js';
import { referenceLayerKinds } from './layer-plan.js';
import { referenceTensorShapes } from './tensor-list.js';
import { GENERATED_FIXTURES, generateFixture, scratchDir } from './testing/generated.js';

const scratch = scratchDir('xds-ref-ckpt-');
after(() => scratch.cleanup());

const PROMPT = [1, 17, 42, 250, 3, 99, 128, 7, 64, 200, 5, 31];

for (const f of GENERATED_FIXTURES) {
  test(`${f.label}: generated checkpoint has exactly the MODELS.md tensors and layer plan`, async () => {
    const m = await generateFixture(f, scratch.dir);
    const expected = referenceTensorShapes(m.spec, { withMtpCopies: true });
    const optional = new Set([...expected.keys()].filter((n) => /^model\.layers\.\d+\.(embed_tokens|shared_head\.head)\.weight$/.test(n)));
    const names = new Set(m.weights.names());
    const missing = [...expected.keys()].filter((n) => !names.has(n) && !optional.has(n));
    const unexpected = [...names].filter((n) => !expected.has(n));
    assert.deepEqual(missing, [], 'missing tensors');
    assert.deepEqual(unexpected, [], 'unexpected tensors');
    for (const n of names) assert.deepEqual([...m.weights.get(n).shape], expected.get(n), n);
    assert.deepEqual(m.spec.layers.map((l) => l.ffn.kind), referenceLayerKinds(m.config));
    const out = referenceForward(m.spec, m.weights, PROMPT.map((t) => t % m.spec.vocabSize));
    assert.ok(out.logits.every(Number.isFinite));
  });
}

test('dsv3-tiny in bf16 storage: reference logits stay within bf16 rounding of the f32 checkpoint', async () => {
  const f = GENERATED_FIXTURES.find((x) => x.label === 'dsv3-tiny')!;
  const a = await generateFixture(f, scratch.dir, 11, 'f32');
  const b = await generateFixture(f, scratch.dir, 11, 'bf16');
  assert.equal(b.weights.get('model.norm.weight').dtype, 'bf16');
  const ra = referenceForward(a.spec, a.weights, PROMPT);
  const rb = referenceForward(b.spec, b.weights, PROMPT);
  const rel = maxAbsDiff(ra.logits, rb.logits) / rms(ra.logits);
  console.log(`dsv3-tiny bf16 vs f32 weights: max |logit diff| / RMS = ${rel.toExponential(3)}`);
  assert.ok(rel > 0 && rel < 0.2, `bf16 storage changes logits by a rounding-sized amount (${rel})`);
});
