import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestOutput, type OutputMessage } from './request-output.js';
import { OutputProcessor, type OutputProcessorOptions } from './output-processor.js';
import { DpEngine } from '../engine.js';
import type { SampledToken } from '../engine-types.js';
import type { Request } from '../request.js';
import { FakeRunner } from '../testing/fake-runner.js';
import { makeByteLevelTokenizer } from '../../model/byte-tokenizer.js';
import { TextTokenizer } from '../../model/tokenizer.js';
import { ChatTemplate, type ChatMessage } from '../../model/chat-template.js';

const files = makeByteLevelTokenizer();
const tok = new TextTokenizer(files.tokenizerJson, files.tokenizerConfigJson);
const template = new ChatTemplate(files.tokenizerConfigJson.chat_template as string);
const eos = tok.eosTokenId!;

/** The model's "output": scripted token ids per request (the runner's logits are ignored). */
function scriptedSample(scripts: ReadonlyMap<string, readonly number[]>): (logits: Float32Array, req: Request) => SampledToken {
  return (_logits, req) => {
    const script = scripts.get(req.id)!;
    const tokenId = script[Math.min(req.numOutputTokens, script.length - 1)]!;
    const alt = (tokenId + 1) % tok.vocabSize;
    return { tokenId, logprob: -0.25, topLogprobs: [{ tokenId, logprob: -0.25 }, { tokenId: alt, logprob: -1.5 }] };
  };
}

interface Run {
  readonly messages: OutputMessage[];
}

async function serve(requests: ReadonlyArray<{ id: string; prompt: number[]; script: number[]; opts: Partial<OutputProcessorOptions> }>): Promise<Map<string, Run>> {
  const engine = new DpEngine({
    runner: new FakeRunner({ numBlocks: 64, blockSizeTokens: 8, vocabSize: tok.vocabSize }),
    sample: scriptedSample(new Map(requests.map((r) => [r.id, r.script]))),
    scheduler: { maxNumBatchedTokens: 64, maxNumSeqs: 4, maxWaiting: 8 },
  });
  const runs = new Map<string, Run>();
  for (const r of requests) {
    const run: Run = { messages: [] };
    runs.set(r.id, run);
    const out = new RequestOutput(r.id, new OutputProcessor({ tokenizer: tok, promptIds: r.prompt, stopTokenIds: [eos], ...r.opts }), (m) => run.messages.push(m));
    engine.addRequest({ id: r.id, promptTokenIds: r.prompt, maxTokens: 200, stopTokenIds: [eos], shouldStop: out.shouldStop }, out.sink);
  }
  await engine.run();
  return runs;
}

function final(run: Run): Extract<OutputMessage, { kind: 'final' }> {
  const last = run.messages.at(-1)!;
  assert.equal(last.kind, 'final');
  return last as Extract<OutputMessage, { kind: 'final' }>;
}

const history: ChatMessage[] = [{ role: 'user', content: 'What is the weather?' }];
const prompt = tok.encode(template.render({ messages: history, addGenerationPrompt: true }), { addSpecialTokens: false });

function turnIds(assistant: ChatMessage): number[] {
  const p = template.render({ messages: history, addGenerationPrompt: true });
  const full = template.render({ messages: [...history, assistant] });
  return tok.encode(full.slice(p.length), { addSpecialTokens: false });
}

test('engine → output process → messages: tool calls, stop strings and logprobs, requests side by side', async () => {
  const toolTurn = turnIds({ role: 'assistant', content: 'Checking 🌦️.', tool_calls: [{ id: 'x', type: 'function', function: { name: 'weather', arguments: '{"city": "Oslo"}' } }] });
  const stopTurn = tok.encode('It is sunny. STOP and then more text that must never be generated.', { addSpecialTokens: false });
  const runs = await serve([
    { id: 'tools', prompt, script: toolTurn, opts: { toolParser: 'hermes' } },
    { id: 'stop', prompt, script: [...stopTurn, eos], opts: { stop: ['STOP'] } },
  ]);

  const tools = final(runs.get('tools')!);
  assert.deepEqual(tools.final.toolCalls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]), [['weather', { city: 'Oslo' }]]);
  assert.deepEqual([tools.final.content, tools.final.finishReason], ['Checking 🌦️.', 'tool_calls']);
  assert.equal(tools.usage.completionTokens, toolTurn.indexOf(eos) + 1, 'ends at EOS');
  const deltas = runs.get('tools')!.messages.flatMap((m) => (m.kind === 'delta' ? [m.delta] : []));
  assert.equal(deltas.map((d) => d.contentDelta).join('') + tools.final.tail.contentDelta, tools.final.content);
  const bytes = deltas.flatMap((d) => d.logprobs?.bytes ?? []);
  assert.equal(Buffer.from(bytes).toString('utf8'), tok.decode(toolTurn.slice(0, tools.usage.completionTokens)), 'logprob bytes spell the output');
  assert.ok(deltas.every((d) => d.logprobs !== undefined && d.logprobs.topLogprobs.length === 2 && d.logprobs.logprob === -0.25));

  const stop = final(runs.get('stop')!);
  assert.deepEqual([stop.final.content, stop.final.finishReason, stop.final.stopMatched], ['It is sunny. ', 'stop', 'STOP']);
  const generated = tok.decode(stopTurn.slice(0, stop.usage.completionTokens));
  assert.ok(generated.includes('STOP') && !generated.slice(0, -1).includes('STOP'), `the engine stopped at the token completing the stop string: ${JSON.stringify(generated)}`);
});

test('a request aborted mid-stream ends with finish reason abort and the text so far', async () => {
  const engine = new DpEngine({
    runner: new FakeRunner({ numBlocks: 16, blockSizeTokens: 8, vocabSize: tok.vocabSize }),
    sample: scriptedSample(new Map([['a', tok.encode('one two three four five six', { addSpecialTokens: false })]])),
    scheduler: { maxNumBatchedTokens: 64, maxNumSeqs: 4, maxWaiting: 8 },
  });
  const messages: OutputMessage[] = [];
  let text = '';
  const out = new RequestOutput('a', new OutputProcessor({ tokenizer: tok, promptIds: prompt }), (m) => {
    messages.push(m);
    text += m.kind === 'delta' ? m.delta.contentDelta : '';
    if (text.includes('two')) engine.abort('a');
  });
  engine.addRequest({ id: 'a', promptTokenIds: prompt, maxTokens: 100, shouldStop: out.shouldStop }, out.sink);
  await engine.run();
  const f = messages.at(-1)!;
  assert.ok(f.kind === 'final' && f.final.finishReason === 'abort' && f.final.content.startsWith('one two') && !f.final.content.includes('six'));
});
