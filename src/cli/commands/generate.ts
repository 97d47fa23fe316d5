/**
 * `xdeepserve generate`: one prompt through flowserve/generate.ts on a local checkpoint directory
 * (config.json, safetensors, tokenizer, chat template, generation_config.json). Streams text to
 * stdout and ends with a line of prefill/decode tokens/s; `--json` prints one JSON object instead.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from '../command.js';
import { integerFlag, numberFlag, parseFlags, requiredFlag } from '../command.js';
import { XdsError } from '../../core/errors.js';
import { parseModelConfig } from '../../config/model-config.js';
import type { ModelSpec } from '../../config/model-spec.js';
import { loadGenerationConfig, readJsonObject, type GenerationConfig } from '../../model/generation-config.js';
import { loadTokenizer, type TextTokenizer } from '../../model/tokenizer.js';
import { loadChatTemplate } from '../../model/chat-template.js';
import { openSafetensorsWeights } from '../../model/safetensors.js';
import { bindModelWeights, type ModelWeights } from '../../model/model-weights.js';
import { parseBackendKind, selectBackend } from '../../kernels/select-backend.js';
import { quantizeLinearTree, formatQuantizationReport } from '../../kernels/quantize.js';
import { LocalModelRunner } from '../../flowserve/runner/model-runner.js';
import { generate, type GenerateResult } from '../../flowserve/generate.js';
import type { SamplingParams } from '../../sampling/params.js';

const USAGE = `usage: xdeepserve generate --model DIR --prompt TEXT [flags]

  --model DIR          checkpoint directory (Hugging Face layout)
  --prompt TEXT        the prompt
  --chat               render the prompt as one user message through the chat template
  --max-tokens N       tokens to generate (default 64)
  --temperature T      0 = greedy (default: generation_config.json, else 1)
  --top-p P            nucleus sampling (default: generation_config.json, else 1)
  --top-k K            0 = off (default: generation_config.json, else 0)
  --seed S             seed of the sampler (default: random)
  --stop TEXT          stop string (repeatable)
  --backend B          auto | native | reference (default auto)
  --threads N          compute threads of the native backend (default: the cores available)
  --quantization Q     none | int8 (per-channel INT8 weights, quantized once at load; default none)
  --json               print one JSON object {text, tokenIds, promptTokenIds, decodeTokensPerSec, prefillTokensPerSec}`;

const OPTIONS = {
  model: { type: 'string' }, prompt: { type: 'string' }, chat: { type: 'boolean' }, 'max-tokens': { type: 'string' },
  temperature: { type: 'string' }, 'top-p': { type: 'string' }, 'top-k': { type: 'string' }, seed: { type: 'string' },
  stop: { type: 'string', multiple: true }, backend: { type: 'string' }, threads: { type: 'string' }, quantization: { type: 'string' }, json: { type: 'boolean' },
} as const;

type Flags = ReturnType<typeof parseFlags<typeof OPTIONS>>['values'];

interface LoadedModel {
  readonly spec: ModelSpec;
  readonly tokenizer: TextTokenizer;
  readonly generation: GenerationConfig;
}

function loadModel(dir: string): LoadedModel {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new XdsError('model_not_found', `model directory ${dir} does not exist`, { param: 'model' });
  }
  const spec = parseModelConfig(readJsonObject(join(dir, 'config.json')));
  return { spec, tokenizer: loadTokenizer(dir), generation: loadGenerationConfig(dir) };
}

function promptIds(dir: string, m: LoadedModel, prompt: string, chat: boolean): number[] {
  if (!chat) return m.tokenizer.encode(prompt);
  const template = loadChatTemplate(dir);
  if (template === null) throw new XdsError('invalid_argument', `--chat: ${dir} has no chat template`, { param: 'chat' });
  const text = template.render({ messages: [{ role: 'user', content: prompt }], addGenerationPrompt: true });
  // NOTE: the template writes BOS and the role markers itself, so no special tokens are added (as vLLM).
  return m.tokenizer.encode(text, { addSpecialTokens: false });
}

function samplingParams(v: Flags, g: GenerationConfig): Partial<SamplingParams> {
  const temperature = g.doSample === false ? 0 : g.temperature ?? 1;
  const seed = v.seed === undefined ? null : numberFlag(v.seed, 'seed', 0, 0, Number.MAX_SAFE_INTEGER);
  if (seed !== null && !Number.isInteger(seed)) throw new XdsError('invalid_argument', `--seed must be an integer, got '${v.seed}'`, { param: 'seed' });
  const topK = integerFlag(v['top-k'], 'top-k', g.topK ?? 0, 0);
  return {
    temperature: numberFlag(v.temperature, 'temperature', temperature, 0),
    topP: numberFlag(v['top-p'], 'top-p', g.topP ?? 1, Number.MIN_VALUE, 1),
    topK, seed,
  };
}

function stopTokenIds(m: LoadedModel): number[] {
  const ids = new Set<number>([...m.spec.eosTokenIds, ...m.generation.eosTokenIds]);
  if (m.tokenizer.eosTokenId !== undefined) ids.add(m.tokenizer.eosTokenId);
  return [...ids];
}

function quantize(weights: ModelWeights, q: string | undefined): ModelWeights {
  if (q === undefined || q === 'none') return weights;
  if (q !== 'int8') throw new XdsError('invalid_argument', `--quantization must be none or int8, got '${q}'`, { param: 'quantization' });
  const r = quantizeLinearTree(weights, 'channel');
  process.stderr.write(formatQuantizationReport(r.report) + '\n');
  return r.weights;
}


function printSummary(r: GenerateResult): void {
  const f = (x: number): string => x.toFixed(1);
  process.stdout.write(`\n[prefill: ${r.promptTokenIds.length} tokens, ${f(r.prefillTokensPerSec)} tok/s | ` +
    `decode: ${r.tokenIds.length} tokens, ${f(r.decodeTokensPerSec)} tok/s | finish: ${r.finishReason}]\n`);
}

export const command: Command = {
  name: 'generate',
  summary: 'generate text from a checkpoint directory',
  usage: USAGE,
  async run(argv) {
    const { values: v } = parseFlags(argv, OPTIONS);
    const dir = requiredFlag(v.model, 'model', 'generate');
    const prompt = requiredFlag(v.prompt, 'prompt', 'generate');
    const maxTokens = integerFlag(v['max-tokens'], 'max-tokens', 64, 1);
    const backendKind = parseBackendKind(v.backend);
    const m = loadModel(dir);
    const params = samplingParams(v, m.generation);
    const ids = promptIds(dir, m, prompt, v.chat ?? false);
    const int8 = v.quantization !== undefined && v.quantization !== 'none';
    // int8: tensors in buffers of their own, so the bf16 ones can be collected after quantizing
    const weights = quantize(bindModelWeights(m.spec, openSafetensorsWeights(dir, { arena: !int8 }), { dtype: 'keep', includeMtp: false }), v.quantization);
    const capacity = Math.min(ids.length + maxTokens, m.spec.maxPositionEmbeddings);
    const runner = new LocalModelRunner(m.spec, weights, selectBackend({ kind: backendKind, ...(v.threads === undefined ? {} : { numThreads: integerFlag(v.threads, 'threads', 1, 1, 1024) }) }), { numBlocks: Math.max(1, Math.ceil(capacity / 16)), blockSizeTokens: 16 });
    const r = await generate({
      runner, tokenizer: m.tokenizer, promptIds: ids, params, maxTokens, stopTokenIds: stopTokenIds(m),
      stopStrings: v.stop ?? [], maxPositionEmbeddings: m.spec.maxPositionEmbeddings,
      onToken: v.json ? undefined : (ev) => { if (ev.text !== '') process.stdout.write(ev.text); },
    });
    if (!v.json) printSummary(r);
    else process.stdout.write(JSON.stringify({
      text: r.text, tokenIds: r.tokenIds, promptTokenIds: r.promptTokenIds, finishReason: r.finishReason,
      decodeTokensPerSec: r.decodeTokensPerSec, prefillTokensPerSec: r.prefillTokensPerSec,
    }) + '\n');
    return 0;
  },
};
