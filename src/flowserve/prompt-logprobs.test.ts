/**
 * Prompt logprobs through DpEngine with the real tiny model: entry p is log softmax(logits of
 * position p − 1)[prompt[p]] with its top alternatives, as a naive reference computes them from
 * one whole-prompt forward (f64 exp/log over the full row, a full sort): the same whether the
 * prompt runs in one step or in chunks, and whether its blocks are in the prefix cache.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend } from '../kernels/reference.js';
import { XdsError } from '../core/errors.js';
import { LocalModelRunner } from './runner/model-runner.js';
import { DpEngine } from './engine.js';
import type { EngineEvent } from './engine-types.js';
import type { PromptLogprob } from './prompt-logprobs.js';
import { assertKvIdle } from './testing/builders.js';
import { useTinyModel } from './testing/tiny-model.js';

const tiny = useTinyModel('llama', 2);

const PROMPT = [72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 10]; // 14 tokens
const TOL = 1e-4;

const newRunner = (): LocalModelRunner => new LocalModelRunner(tiny.model.spec, tiny.model.weights, referenceBackend, { numBlocks: 32, blockSizeTokens: 4 });

/** Naive reference: one forward over the whole prompt, every row's log-softmax and a full sort. */
function reference(prompt: readonly number[], numTop: number): { logprob: number; top: { tokenId: number; logprob: number }[] }[] {
  const runner = newRunner();
  const res = runner.forward({ kind: 'forward', seqs: [{ seqId: 'ref', tokenIds: Int32Array.from(prompt), startPos: 0, blockTable: Int32Array.from([0, 1, 2, 3]), wantAllLogits: true }] });
  const V = runner.vocabSize;
  return prompt.slice(1).map((tok, j) => {
    const row = Array.from(res.logits.subarray(j * V, (j + 1) * V));
    const lse = Math.log(row.reduce((s, x) => s + Math.exp(x), 0));
    const order = row.map((x, id) => ({ tokenId: id, logprob: x - lse })).sort((a, b) => b.logprob - a.logprob || a.tokenId - b.tokenId);
    return { logprob: row[tok]! - lse, top: order.slice(0, numTop) };
  });
}

/** Runs the requests in one engine, all at once or each after the previous ended; returns each one's events. */
async function run(reqs: { prompt: readonly number[]; promptLogprobs: number | null }[], budget: number, oneByOne = false): Promise<EngineEvent[][]> {
  const engine = new DpEngine({ runner: newRunner(), scheduler: { maxNumBatchedTokens: budget, maxNumSeqs: 4, maxWaiting: 8 } });
  const events = reqs.map(() => [] as EngineEvent[]);
  for (const [i, r] of reqs.entries()) {
    engine.addRequest({ id: `r${i}`, promptTokenIds: r.prompt, maxTokens: 3, sampling: { temperature: 0 }, promptLogprobs: r.promptLogprobs }, (e) => {
      if (e.kind === 'error') assert.fail(e.message);
      events[i]!.push(e);
    });
    if (oneByOne) await engine.run();
  }
  await engine.run();
  assertKvIdle(engine.kv);
  return events;
}

type TokenEvent = Extract<EngineEvent, { kind: 'token' }>;

/** The prompt logprobs of a request's events (undefined when none came); they ride on the first token only. */
function promptEntries(events: EngineEvent[]): readonly PromptLogprob[] | undefined {
  const tokens = events.filter((e): e is TokenEvent => e.kind === 'token');
  assert.equal(tokens.length, 3);
  assert.ok(tokens.slice(1).every((e) => e.promptLogprobs === undefined), 'on the first token only');
  return tokens[0]!.promptLogprobs;
}

function cachedTokens(events: EngineEvent[]): number {
  const fin = events.find((e) => e.kind === 'finished');
  return fin?.kind === 'finished' ? fin.usage.cachedTokens : assert.fail('no finished event');
}

function assertMatches(got: readonly PromptLogprob[] | undefined, prompt: readonly number[], numTop: number): void {
  const want = reference(prompt, numTop);
  assert.ok(got !== undefined, 'the first token carries the prompt logprobs');
  assert.equal(got.length, prompt.length - 1);
  got.forEach((e, j) => {
    assert.equal(e.tokenId, prompt[j + 1]);
    assert.ok(Math.abs(e.logprob - want[j]!.logprob) <= TOL, `position ${j + 1}: ${e.logprob} vs ${want[j]!.logprob}`);
    assert.deepEqual(e.topLogprobs.map((t) => t.tokenId), want[j]!.top.map((t) => t.tokenId), `position ${j + 1}`);
    e.topLogprobs.forEach((t, k) => assert.ok(Math.abs(t.logprob - want[j]!.top[k]!.logprob) <= TOL));
  });
}

test('prompt logprobs equal the naive reference, in one step or in chunks of 5', async () => {
  for (const budget of [64, 5]) {
    const [events] = await run([{ prompt: PROMPT, promptLogprobs: 3 }], budget);
    assertMatches(promptEntries(events!), PROMPT, 3);
    assert.equal(events!.filter((e) => e.kind === 'token').length, 3);
  }
});

test('a prompt whose blocks are cached still gets every entry; 0 gives the token only; others get none', async () => {
  const [plain, withLp, cached, short] = await run([
    { prompt: PROMPT, promptLogprobs: null },
    { prompt: PROMPT, promptLogprobs: 2 },
    { prompt: PROMPT, promptLogprobs: null },
    { prompt: PROMPT.slice(0, 9), promptLogprobs: 0 },
  ], 16, true);
  assert.equal(promptEntries(plain!), undefined);
  assert.ok(cachedTokens(cached!) >= 12, `the prompt's full blocks are cached (${cachedTokens(cached!)} tokens)`);
  assert.equal(cachedTokens(withLp!), 0, 'prompt logprobs skip the prefix cache');
  assertMatches(promptEntries(withLp!), PROMPT, 2);
  const zero = promptEntries(short!);
  assertMatches(zero, PROMPT.slice(0, 9), 0);
  assert.ok(zero!.every((e) => e.topLogprobs.length === 0));
});

test('a one-token prompt has no prompt logprobs; a count beyond 20 is refused', async () => {
  const [one] = await run([{ prompt: [65], promptLogprobs: 5 }], 16);
  assert.deepEqual(promptEntries(one!), []);
  const engine = new DpEngine({ runner: newRunner(), scheduler: { maxNumBatchedTokens: 16, maxNumSeqs: 2, maxWaiting: 2 } });
  assert.throws(() => engine.addRequest({ id: 'x', promptTokenIds: [1, 2], maxTokens: 1, promptLogprobs: 21 }, () => {}),
    (e: XdsError) => e.code === 'invalid_argument' && e.param === 'promptLogprobs');
});
