/**
 * Runs a GGUF file in llama.cpp through node-llama-cpp 3.21.1 (installed on demand, install.ts) as
 * the reference for our engine (CPU-FACTS.md §4): CPU only (`gpu: false`, prebuilt binaries,
 * `build: 'never'`), `threads: 1`, `flashAttention: false`. Greedy decoding step by step with
 * `controlledEvaluate`: each step returns llama.cpp's greedy token and the full next-token
 * distribution (softmax of the raw logits; the greedy sampler leaves them untouched).
 * Also measures prefill and decode speed for `bench decode`, and tokenizes text with the GGUF's
 * vocabulary (tokenizer parity, GGUF-EXPORT.md §9).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { XdsError } from '../core/errors.js';
import { ensureLlamaCpp } from './install.js';

/** The part of node-llama-cpp's API used here (its own types live in the on-demand install). */
interface GenerateNext {
  readonly token?: boolean;
  readonly probabilities?: boolean;
  readonly options?: { readonly temperature?: number };
}
type EvalItem = number | [number, { generateNext?: GenerateNext }];
interface NlcSequence {
  controlledEvaluate(input: EvalItem[]): Promise<Array<undefined | { next: { token?: number | null; probabilities?: Map<number, number> } }>>;
  clearHistory(): Promise<void>;
}
interface NlcContext { getSequence(): NlcSequence; dispose(): Promise<void> }
interface NlcModel {
  tokenize(text: string, specialTokens: boolean): number[];
  createContext(o: { contextSize: number; batchSize: number; threads: number; flashAttention: boolean; sequences: number }): Promise<NlcContext>;
  dispose(): Promise<void>;
}
interface NlcLlama { loadModel(o: { modelPath: string; gpuLayers: number; vocabOnly?: boolean }): Promise<NlcModel>; readonly systemInfo: string }
interface NlcModule {
  getLlama(o: { gpu: false; build: 'never'; logLevel: string; maxThreads: number }): Promise<NlcLlama>;
}

export interface LlamaCppOptions {
  readonly ggufPath: string;
  /** Default 1: ggml's spinning pool oversubscribes small machines (CPU-FACTS.md §4). */
  readonly threads?: number;
  /** Default 256 or what the run needs. */
  readonly contextSize?: number;
  /** Where node-llama-cpp is (installed there on first use); default .cache/llamacpp. */
  readonly installDir?: string;
}

export interface LlamaCppStep {
  /** llama.cpp's greedy token at this step. */
  readonly tokenId: number;
  /** [vocab] f32 next-token probabilities. */
  readonly probs: Float32Array;
}

let llamaPromise: Promise<NlcLlama> | null = null;

/** One llama.cpp instance per process, loaded from the on-demand install. */
export async function loadLlamaCpp(installDir?: string): Promise<NlcLlama> {
  llamaPromise ??= (async () => {
    const { dir } = ensureLlamaCpp(installDir, (l) => process.stderr.write(`${l}\n`));
    const entry = join(dir, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
    const mod = (await import(pathToFileURL(entry).href)) as NlcModule;
    return mod.getLlama({ gpu: false, build: 'never', logLevel: 'error', maxThreads: 0 });
  })();
  return llamaPromise;
}

async function withSequence<T>(o: LlamaCppOptions, needTokens: number, body: (seq: NlcSequence) => Promise<T>): Promise<T> {
  const llama = await loadLlamaCpp(o.installDir);
  const model = await llama.loadModel({ modelPath: o.ggufPath, gpuLayers: 0 });
  try {
    const contextSize = Math.max(o.contextSize ?? 256, needTokens + 1);
    const context = await model.createContext({
      contextSize, batchSize: contextSize, threads: o.threads ?? 1, flashAttention: false, sequences: 1,
    });
    try {
      return await body(context.getSequence());
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

const GREEDY: GenerateNext = { token: true, probabilities: true, options: { temperature: 0 } };

function lastItemWith(tokens: readonly number[], next: GenerateNext): EvalItem[] {
  const items: EvalItem[] = tokens.slice(0, -1);
  items.push([tokens[tokens.length - 1]!, { generateNext: next }]);
  return items;
}

function denseProbs(map: Map<number, number> | undefined, vocabSize: number | undefined): Float32Array {
  if (map === undefined) throw new XdsError('internal', 'llama.cpp returned no probabilities');
  const out = new Float32Array(vocabSize ?? map.size); // [vocab] f32
  for (const [id, p] of map) out[id] = p;
  return out;
}

/** Greedy decoding in llama.cpp: `steps` tokens after the prompt, each with its distribution. */
export async function runLlamaCpp(o: LlamaCppOptions & { promptTokenIds: readonly number[]; steps: number; vocabSize?: number }): Promise<LlamaCppStep[]> {
  if (o.promptTokenIds.length === 0) throw new XdsError('invalid_argument', 'promptTokenIds must not be empty', { param: 'promptTokenIds' });
  return withSequence(o, o.promptTokenIds.length + o.steps, async (seq) => {
    const out: LlamaCppStep[] = [];
    let input = lastItemWith(o.promptTokenIds, GREEDY);
    for (let s = 0; s < o.steps; s++) {
      const res = await seq.controlledEvaluate(input);
      const next = res[input.length - 1]?.next;
      if (next?.token === undefined || next.token === null) throw new XdsError('internal', `llama.cpp produced no token at step ${s}`);
      out.push({ tokenId: next.token, probs: denseProbs(next.probabilities, o.vocabSize) });
      input = [[next.token, { generateNext: GREEDY }]];
    }
    return out;
  });
}

export interface LlamaCppSpeed {
  readonly promptTokens: number;
  readonly decodeTokens: number;
  readonly prefillTokensPerSec: number;
  readonly decodeTokensPerSec: number;
  readonly threads: number;
}

/** Prefill of `promptTokens` tokens, then `decodeTokens` greedy steps (no probabilities), timed apart. */
export async function measureLlamaCppSpeed(o: LlamaCppOptions & { promptTokens: number; decodeTokens: number; tokenId?: number }): Promise<LlamaCppSpeed> {
  const prompt = Array.from({ length: o.promptTokens }, (_, i) => ((o.tokenId ?? 65) + (i % 7)));
  const next: GenerateNext = { token: true, options: { temperature: 0 } };
  return withSequence(o, o.promptTokens + o.decodeTokens, async (seq) => {
    const t0 = performance.now();
    let res = await seq.controlledEvaluate(lastItemWith(prompt, next));
    let token = res[prompt.length - 1]?.next.token ?? 0;
    const t1 = performance.now();
    for (let s = 0; s < o.decodeTokens; s++) {
      res = await seq.controlledEvaluate([[token, { generateNext: next }]]);
      token = res[0]?.next.token ?? 0;
    }
    const t2 = performance.now();
    return {
      promptTokens: o.promptTokens, decodeTokens: o.decodeTokens, threads: o.threads ?? 1,
      prefillTokensPerSec: o.promptTokens / ((t1 - t0) / 1000), decodeTokensPerSec: o.decodeTokens / ((t2 - t1) / 1000),
    };
  });
}

/** llama.cpp's tokenization of each text (special tokens parsed, no BOS added), vocabulary only. */
export async function tokenizeWithLlamaCpp(o: { ggufPath: string; texts: readonly string[]; installDir?: string }): Promise<number[][]> {
  const llama = await loadLlamaCpp(o.installDir);
  const model = await llama.loadModel({ modelPath: o.ggufPath, gpuLayers: 0, vocabOnly: true });
  try {
    return o.texts.map((t) => Array.from(model.tokenize(t, true)));
  } finally {
    await model.dispose();
  }
}
