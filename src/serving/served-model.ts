/**
 * A model ready to serve: a checkpoint directory opened (config → ModelSpec, tokenizer, chat
 * template, generation config), its weights bound (optionally INT8, paper notes §2.8), one
 * LocalModelRunner and one DpEngine (one colocated DP group, ARCHITECTURE.md "Deployments":
 * `colocated`). The gateway (paper §1.2 Job Executor) holds one of these per served model.
 */
import { basename } from 'node:path';
import { XdsError } from '../core/errors.js';
import type { ModelSpec } from '../config/model-spec.js';
import { parseModelConfig } from '../config/model-config.js';
import { openCheckpoint } from '../model/checkpoint.js';
import type { TextTokenizer } from '../model/tokenizer.js';
import type { ChatTemplate } from '../model/chat-template.js';
import type { GenerationConfig } from '../model/generation-config.js';
import { bindModelWeights } from '../model/model-weights.js';
import { quantizeLinearTree, formatQuantizationReport } from '../kernels/quantize.js';
import { selectBackend, type BackendKind } from '../kernels/select-backend.js';
import { KV_DTYPES, isKvDtype, type KvDtype } from '../kvcache/kv-storage.js';
import { LocalModelRunner } from '../flowserve/runner/model-runner.js';
import { DpEngine } from '../flowserve/engine.js';
import type { SampleFn } from '../flowserve/engine-types.js';
import { requestSamplerFn } from '../flowserve/sample-fn.js';
import { tokenBytesIndex } from '../sampling/json-constraint.js';
import { tokenBytesTable } from '../model/token-bytes.js';

export type Quantization = 'none' | 'int8';

export interface ServedModelOptions {
  readonly dir: string;
  /** Name in /v1/models and the `model` field; default the directory's base name. */
  readonly name?: string;
  readonly quantization?: Quantization;
  readonly backend?: BackendKind;
  /** Compute threads of the native backend (default: the cores available). */
  readonly numThreads?: number;
  /** KV blocks of the paged cache (default 1024) of `blockSizeTokens` tokens (default 16). */
  readonly numKvBlocks?: number;
  readonly blockSizeTokens?: number;
  /** KV cache element type; 'auto' (default, as vLLM): the checkpoint's torch_dtype, bfloat16 or else float32. */
  readonly kvCacheDtype?: 'auto' | KvDtype;
  /** Scheduler: running set (default 64), token budget per step (default 512), waiting queue (default 256). */
  readonly maxNumSeqs?: number;
  readonly maxNumBatchedTokens?: number;
  readonly maxWaiting?: number;
  /** Scheduling policy by name (flowserve/scheduler/policies.ts: 'fcfs', 'priority'); default 'fcfs'. */
  readonly schedulingPolicy?: string;
  /** Context length cap; default the model's max_position_embeddings (and the KV capacity). */
  readonly maxModelLen?: number;
  /** Admission window quiet time (µs) of the serving loop (flowserve/engine-loop.ts); 0 = off; default 1000. */
  readonly admitQuietUs?: number;
  /** Tool-call parser name (flowserve/output registry); default: detected from the tokenizer's special tokens. */
  readonly toolParser?: string | null;
  /** Reasoning parser name ('qwen3', 'deepseek_r1'); default none (all text is content). */
  readonly reasoningParser?: string | null;
  /** Engine sampling function (tests: greedy); default the per-request sampler. */
  readonly sample?: SampleFn;
  /** One line per loading phase. */
  readonly onLog?: (line: string) => void;
}

export interface ServedModel {
  readonly name: string;
  readonly dir: string;
  readonly spec: ModelSpec;
  readonly tokenizer: TextTokenizer;
  readonly chatTemplate: ChatTemplate | null;
  readonly generation: GenerationConfig;
  readonly engine: DpEngine;
  /** Prompt + generated tokens one request may hold. */
  readonly contextLen: number;
  /** EOS ids (config, generation config, tokenizer): generation ends after any of them. */
  readonly stopTokenIds: readonly number[];
  /** The scheduler's policy: requests may set `priority` only under 'priority' (as vLLM). */
  readonly schedulingPolicy: string;
  /** Tool-call parser used when a request offers tools; null: tool calls are not parsed. */
  readonly toolParser: string | null;
  readonly reasoningParser: string | null;
  /** Unix seconds when loaded (the `created` of /v1/models). */
  readonly createdSec: number;
}

function positive(v: number | undefined, fallback: number, param: string): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new XdsError('invalid_config', `${param} must be an integer ≥ 1, got ${String(n)}`, { param });
  return n;
}

function nonNegative(n: number, param: string): number {
  if (!Number.isFinite(n) || n < 0) throw new XdsError('invalid_config', `${param} must be a number ≥ 0, got ${String(n)}`, { param });
  return n;
}

/** Opens, binds and wires a checkpoint; the engine is not started (call engine.start()). */
export function loadServedModel(o: ServedModelOptions): ServedModel {
  const log = o.onLog ?? (() => {});
  const int8 = (o.quantization ?? 'none') === 'int8';
  const ckpt = openCheckpoint(o.dir, { arena: !int8 }); // int8: the bf16 tensors are dropped after quantizing
  const spec = parseModelConfig({ ...ckpt.configJson });
  const tokenizer = ckpt.tokenizer();
  let weights = bindModelWeights(spec, ckpt.weights, { dtype: 'keep', includeMtp: false });
  if (int8) {
    const q = quantizeLinearTree(weights, 'channel');
    weights = q.weights;
    log(formatQuantizationReport(q.report));
  }
  const numBlocks = positive(o.numKvBlocks, 1024, 'numKvBlocks');
  const blockSizeTokens = positive(o.blockSizeTokens, 16, 'blockSizeTokens');
  const kvDtype = resolveKvDtype(o.kvCacheDtype ?? 'auto', spec.torchDtype);
  const runner = new LocalModelRunner(spec, weights, selectBackend({ kind: o.backend ?? 'auto', ...(o.numThreads === undefined ? {} : { numThreads: o.numThreads }) }), { numBlocks, blockSizeTokens, kvDtype });
  const contextLen = Math.min(spec.maxPositionEmbeddings, numBlocks * blockSizeTokens, o.maxModelLen ?? Infinity);
  const engine = new DpEngine({
    runner,
    sample: o.sample ?? requestSamplerFn({ tokenBytes: () => tokenBytesIndex(tokenBytesTable(tokenizer, spec.vocabSize)) }),
    scheduler: {
      maxNumSeqs: positive(o.maxNumSeqs, 64, 'maxNumSeqs'),
      maxNumBatchedTokens: positive(o.maxNumBatchedTokens, 512, 'maxNumBatchedTokens'),
      maxWaiting: positive(o.maxWaiting, 256, 'maxWaiting'),
      maxModelLen: contextLen,
      policy: o.schedulingPolicy ?? 'fcfs',
    },
    ...(o.admitQuietUs === undefined ? {} : { admit: { quietUs: nonNegative(o.admitQuietUs, 'admitQuietUs') } }),
  });
  const generation = ckpt.generationConfig;
  const stop = new Set<number>([...spec.eosTokenIds, ...generation.eosTokenIds]);
  if (tokenizer.eosTokenId !== undefined) stop.add(tokenizer.eosTokenId);
  const kvMiB = (runner.kv.bytesPerToken * numBlocks * blockSizeTokens) / 2 ** 20;
  log(`model ${ckpt.dir}: ${spec.architecture}, context ${contextLen} tokens, ${numBlocks} KV blocks × ${blockSizeTokens} (${kvDtype}, ${kvMiB.toFixed(1)} MiB)`);
  return Object.freeze({
    name: o.name ?? basename(ckpt.dir), dir: ckpt.dir, spec, tokenizer, chatTemplate: ckpt.chatTemplate(), generation,
    engine, contextLen, stopTokenIds: Object.freeze([...stop]), schedulingPolicy: o.schedulingPolicy ?? 'fcfs',
    toolParser: o.toolParser === undefined ? detectToolParser(tokenizer) : o.toolParser, reasoningParser: o.reasoningParser ?? null, createdSec: Math.floor(Date.now() / 1000),
  });
}

/** The KV cache's element type: 'auto' follows the checkpoint's torch_dtype (bfloat16, else float32). */
export function resolveKvDtype(choice: string, torchDtype: string | null): KvDtype {
  if (choice === 'auto') return torchDtype === 'bfloat16' ? 'bfloat16' : 'float32';
  if (isKvDtype(choice)) return choice;
  throw new XdsError('invalid_config', `kvCacheDtype must be auto, ${KV_DTYPES.join(' or ')}, got ${choice}`, { param: 'kvCacheDtype' });
}

/** The model's tool-call format, from the special tokens its tokenizer knows (vLLM's parser names). */
export function detectToolParser(tokenizer: TextTokenizer): string | null {
  if (tokenizer.tokenToId('<｜tool▁calls▁begin｜>') !== undefined) return 'deepseek_v3';
  if (tokenizer.tokenToId('<tool_call>') !== undefined) return 'hermes';
  return null;
}
