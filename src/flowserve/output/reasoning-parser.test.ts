import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReasoningParser, promptOpensReasoning, REASONING_PARSERS, type ReasoningParserOptions } from './reasoning-parser.js';
import { isXdsError } from '../../core/errors.js';

/** Splits `text` at every cut in `cuts` (code-unit offsets). */
function chunksAt(text: string, cuts: number[]): string[] {
  const out: string[] = [];
  let from = 0;
  for (const c of [...cuts, text.length]) {
    out.push(text.slice(from, c));
    from = c;
  }
  return out;
}

/** Reasoning and content after feeding `chunks` and flushing. */
function run(chunks: readonly string[], opts: ReasoningParserOptions = {}): { reasoning: string; content: string } {
  const p = new ReasoningParser(opts);
  const out = { reasoning: '', content: '' };
  for (const c of [...chunks.map((x) => p.push(x)), p.flush()]) {
    out.reasoning += c.reasoning;
    out.content += c.content;
  }
  return out;
}

/** The same result for the whole text, one character at a time, and 30 random splits. */
function check(text: string, expected: { reasoning: string; content: string }, opts: ReasoningParserOptions = {}): void {
  assert.deepEqual(run([text], opts), expected, `whole ${JSON.stringify(text)}`);
  assert.deepEqual(run([...text], opts), expected, `chars ${JSON.stringify(text)}`);
  let seed = text.length + 1;
  for (let i = 0; i < 30; i++) {
    const cuts = Array.from({ length: 3 }, () => (seed = (seed * 48271) % 2147483647) % (text.length + 1)).sort((a, b) => a - b);
    assert.deepEqual(run(chunksAt(text, cuts), opts), expected, `cuts ${cuts.join(',')} of ${JSON.stringify(text)}`);
  }
}

test('think block: reasoning and answer split, edge whitespace dropped (Qwen3 style)', () => {
  check('<think>\nLet me add: 2+2=4.\n</think>\n\nThe answer is 4.', { reasoning: 'Let me add: 2+2=4.', content: 'The answer is 4.' });
  check('<think>\n\n</think>\n\nHi!', { reasoning: '', content: 'Hi!' });
  check('<think>a\n\nb < c </thinker> d</think>tail\n', { reasoning: 'a\n\nb < c </thinker> d', content: 'tail\n' });
});

test('startsInReasoning: the prompt opened <think> (DeepSeek-R1 style), with or without a repeated tag', () => {
  const r1 = { startsInReasoning: true };
  check('First, 1+1.\n</think>\n\n**2**', { reasoning: 'First, 1+1.', content: '**2**' }, r1);
  check('<think>\nFirst, 1+1.\n</think>\n\n**2**', { reasoning: 'First, 1+1.', content: '**2**' }, r1);
  check('still thinking when cut off  ', { reasoning: 'still thinking when cut off', content: '' }, r1);
  check('still thinking when cut off  ', { reasoning: 'still thinking when cut off', content: '' }, REASONING_PARSERS.deepseek_r1);
});

test('text that does not open with <think> is content, unchanged', () => {
  check('  Just an answer.\n', { reasoning: '', content: '  Just an answer.\n' });
  check('<thinking> is not the tag', { reasoning: '', content: '<thinking> is not the tag' });
  check('<thi', { reasoning: '', content: '<thi' });
  check('Answer with <think>inside</think> later', { reasoning: '', content: 'Answer with <think>inside</think> later' });
  check('', { reasoning: '', content: '' });
});

test('an unclosed think block stays reasoning; a partial end tag at the end is reasoning text', () => {
  check('<think>\nhmm, maybe </thi', { reasoning: 'hmm, maybe </thi', content: '' });
});

test('streaming: reasoning and content come out before the end, holding only a possible tag', () => {
  const p = new ReasoningParser();
  assert.deepEqual(p.push('<think>\nstep one'), { reasoning: 'step one', content: '' });
  assert.deepEqual(p.push(' two\n</th'), { reasoning: ' two', content: '' });
  assert.equal(p.isInContent, false);
  assert.deepEqual(p.push('ink>\n\nDone'), { reasoning: '', content: 'Done' });
  assert.equal(p.isInContent, true);
  assert.deepEqual(p.push(' now.'), { reasoning: '', content: ' now.' });
  assert.deepEqual(p.flush(), { reasoning: '', content: '' });
});

test('custom tags; empty tags are rejected naming the field', () => {
  check('[R]why[/R]what', { reasoning: 'why', content: 'what' }, { startTag: '[R]', endTag: '[/R]' });
  assert.throws(() => new ReasoningParser({ endTag: '' }), (e) => isXdsError(e, 'invalid_argument') && e.param === 'endTag');
});

test('promptOpensReasoning: an unclosed <think> at the end of the prompt', () => {
  assert.equal(promptOpensReasoning('<｜User｜>hi<｜Assistant｜><think>\n'), true);
  assert.equal(promptOpensReasoning('<|im_start|>assistant\n<think>\n\n</think>\n\n'), false);
  assert.equal(promptOpensReasoning('<|im_start|>assistant\n'), false);
  assert.equal(promptOpensReasoning('<think>a</think> user turn <think>'), true);
});
