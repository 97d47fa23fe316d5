/**
 * `xdeepserve serve`: the OpenAI-compatible gateway (src/gateway/server.ts) over one colocated DP
 * group (ARCHITECTURE.md "Deployments": `colocated`, the default of `npm start`). Without --model
 * it serves the embedded default model (src/serving/default-model.ts), generated into the cache
 * folder on first start with progress on stderr. Prints one parseable line on stdout once bound:
 * `xdeepserve serve: listening on http://HOST:PORT model=NAME`. SIGTERM / SIGINT drain the requests
 * in flight, then the process exits 0.
 */
import type { Command } from '../command.js';
import { integerFlag, parseFlags } from '../command.js';
import { XdsError } from '../../core/errors.js';
import { readEnv } from '../../config/env.js';
import { parseBackendKind } from '../../kernels/select-backend.js';
import { loadServedModel, type Quantization } from '../../serving/served-model.js';
import { KV_DTYPES, isKvDtype, type KvDtype } from '../../kvcache/kv-storage.js';
import { DEFAULT_MODEL_NAME, ensureDefaultModel, formatGenProgress } from '../../serving/default-model.js';
import { createGateway } from '../../gateway/server.js';
import type { GenProgress } from '../../model/generator/write-checkpoint.js';
import { toolParserNames } from '../../flowserve/output/tool-parsers/registry.js';
import { REASONING_PARSERS } from '../../flowserve/output/reasoning-parser.js';
import { policyNames } from '../../flowserve/scheduler/policies.js';

const USAGE = `usage: xdeepserve serve [--model DIR] [--port 8000] [--host 127.0.0.1] [flags]

  --model DIR                 checkpoint directory (default: the embedded tiny DeepSeek-V3 model,
                              generated on first start into $XDS_CACHE_DIR or ~/.cache/xdeepserve)
  --served-model-name NAME    the name clients pass as 'model' (default: the folder name)
  --port N                    TCP port, 0 = any free port (default 8000)
  --host H                    address to bind (default 127.0.0.1)
  --quantization Q            none | int8 (per-channel INT8 weights, default none)
  --backend B                 auto | native | reference (default auto)
  --threads N                 compute threads of the native backend (default: the cores available)
  --kv-blocks N               paged KV cache blocks of 16 tokens (default 1024)
  --kv-cache-dtype D          auto | float32 | bfloat16: the KV cache's element type; auto = the
                              checkpoint's torch_dtype, bfloat16 or else float32 (default auto)
  --max-num-seqs N            running requests per step (default 64)
  --max-num-batched-tokens N  token budget of one step (default 512)
  --max-waiting N             bounded waiting queue; beyond it 429 (default 256)
  --max-model-len N           context length cap (default: the model's)
  --admit-window-us N         after a step, keep letting new requests in while they arrive within
                              N µs of each other before the next step (batches a burst's prefills;
                              0 = off: lower TTFT for the first of a burst, less throughput) (default 1000)
  --tool-call-parser P        deepseek_v3 | deepseek_v31 | hermes | none (default: from the tokenizer's special tokens)
  --reasoning-parser P        qwen3 | deepseek_r1: <think> text goes to reasoning_content (default: none)
  --scheduling-policy P       fcfs | priority: requests' \`priority\` field, lower first (default fcfs)
  --allowed-origins LIST      origins browsers may call from: comma-separated or a JSON list; '' = no CORS (default *)
  --api-key KEY               clients must send Authorization: Bearer KEY on /v1/* (default $XDS_API_KEY, else open)
  --log-level L               pino level: trace | debug | info | warn | error | silent (default $XDS_LOG_LEVEL or info)`;

const OPTIONS = {
  model: { type: 'string' }, 'served-model-name': { type: 'string' }, port: { type: 'string' }, host: { type: 'string' },
  quantization: { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' }, 'kv-blocks': { type: 'string' }, 'kv-cache-dtype': { type: 'string' }, 'max-num-seqs': { type: 'string' },
  'max-num-batched-tokens': { type: 'string' }, 'max-waiting': { type: 'string' }, 'max-model-len': { type: 'string' }, 'admit-window-us': { type: 'string' }, 'log-level': { type: 'string' },
  'tool-call-parser': { type: 'string' }, 'reasoning-parser': { type: 'string' }, 'api-key': { type: 'string' }, 'scheduling-policy': { type: 'string' }, 'allowed-origins': { type: 'string' },
} as const;

function intFlag(v: string | undefined, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  return integerFlag(v, name, 0, min, max);
}

function quantizationFlag(v: string | undefined): Quantization {
  if (v === undefined || v === 'none') return 'none';
  if (v === 'int8') return 'int8';
  throw new XdsError('invalid_argument', `--quantization must be none or int8, got '${v}'`, { param: 'quantization' });
}

function kvDtypeFlag(v: string | undefined): 'auto' | KvDtype {
  if (v === undefined || v === 'auto') return 'auto';
  if (isKvDtype(v)) return v;
  throw new XdsError('invalid_argument', `--kv-cache-dtype must be auto, ${KV_DTYPES.join(' or ')}, got '${v}'`, { param: 'kv-cache-dtype' });
}

function parserFlags(v: { 'tool-call-parser'?: string; 'reasoning-parser'?: string }): { toolParser?: string | null; reasoningParser?: string } {
  const out: { toolParser?: string | null; reasoningParser?: string } = {};
  const tool = v['tool-call-parser'];
  if (tool !== undefined) {
    if (tool !== 'none' && !toolParserNames().includes(tool)) {
      throw new XdsError('invalid_argument', `--tool-call-parser must be one of ${[...toolParserNames(), 'none'].join(', ')}, got '${tool}'`, { param: 'tool-call-parser' });
    }
    out.toolParser = tool === 'none' ? null : tool;
  }
  const reasoning = v['reasoning-parser'];
  if (reasoning !== undefined) {
    if (!(reasoning in REASONING_PARSERS)) {
      throw new XdsError('invalid_argument', `--reasoning-parser must be one of ${Object.keys(REASONING_PARSERS).join(', ')}, got '${reasoning}'`, { param: 'reasoning-parser' });
    }
    out.reasoningParser = reasoning;
  }
  return out;
}

function originsFlag(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  if (!v.trim().startsWith('[')) return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  let list: unknown;
  try { list = JSON.parse(v); } catch { list = null; }
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw new XdsError('invalid_argument', `--allowed-origins must be comma-separated origins or a JSON list of strings, got '${v}'`, { param: 'allowed-origins' });
  return list;
}

function policyFlag(v: string | undefined): { schedulingPolicy?: string } {
  if (v === undefined) return {};
  if (!policyNames().includes(v)) throw new XdsError('invalid_argument', `--scheduling-policy must be one of ${policyNames().join(', ')}, got '${v}'`, { param: 'scheduling-policy' });
  return { schedulingPolicy: v };
}

/** Progress on stderr: rewritten in place on a terminal, every few tensors otherwise. */
function progressPrinter(): (p: GenProgress) => void {
  const tty = process.stderr.isTTY === true;
  let lastTenth = -1;
  return (p) => {
    const tenth = Math.floor((10 * p.tensorsDone) / Math.max(1, p.tensorsTotal));
    if (p.phase === 'build' && !tty && tenth === lastTenth) return;
    lastTenth = tenth;
    process.stderr.write(tty && p.phase === 'build' ? `\r${formatGenProgress(p)}` : `${tty ? '\n' : ''}${formatGenProgress(p)}\n`);
  };
}

async function modelDir(v: { model?: string }, cacheDir: string): Promise<{ dir: string; name?: string }> {
  if (v.model !== undefined) return { dir: v.model };
  process.stderr.write(`xdeepserve serve: no --model, serving the embedded default model (cache: ${cacheDir})\n`);
  return { dir: await ensureDefaultModel({ cacheDir, onProgress: progressPrinter() }), name: DEFAULT_MODEL_NAME };
}

/** Resolves when a SIGTERM/SIGINT-triggered drain has finished. */
function untilSignalled(shutdown: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const onSignal = (sig: string): void => {
      process.stderr.write(`xdeepserve serve: ${sig}, draining requests in flight\n`);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      shutdown().then(resolve, reject);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

export const command: Command = {
  name: 'serve',
  summary: 'serve an OpenAI-compatible API',
  usage: USAGE,
  async run(argv) {
    const { values: v } = parseFlags(argv, OPTIONS);
    const env = readEnv();
    const port = intFlag(v.port, 'port', 0, 65535) ?? 8000;
    const host = v.host ?? '127.0.0.1';
    const quantization = quantizationFlag(v.quantization);
    const kvCacheDtype = kvDtypeFlag(v['kv-cache-dtype']);
    const backend = parseBackendKind(v.backend);
    const { dir, name } = await modelDir(v, env.cacheDir);
    const servedName = v['served-model-name'] ?? name;
    const model = loadServedModel({
      dir, quantization, backend, ...(v.threads === undefined ? {} : { numThreads: intFlag(v.threads, 'threads', 1) }), ...(servedName === undefined ? {} : { name: servedName }),
      numKvBlocks: intFlag(v['kv-blocks'], 'kv-blocks', 1), kvCacheDtype, maxNumSeqs: intFlag(v['max-num-seqs'], 'max-num-seqs', 1),
      maxNumBatchedTokens: intFlag(v['max-num-batched-tokens'], 'max-num-batched-tokens', 1), maxWaiting: intFlag(v['max-waiting'], 'max-waiting', 1),
      maxModelLen: intFlag(v['max-model-len'], 'max-model-len', 2), ...parserFlags(v), ...policyFlag(v['scheduling-policy']),
      ...(v['admit-window-us'] === undefined ? {} : { admitQuietUs: intFlag(v['admit-window-us'], 'admit-window-us', 0) }), onLog: (line) => process.stderr.write(`xdeepserve serve: ${line}\n`),
    });
    const apiKey = v['api-key'] ?? env.apiKey;
    if (apiKey === '') throw new XdsError('invalid_argument', '--api-key must not be empty', { param: 'api-key' });
    const origins = originsFlag(v['allowed-origins']);
    const gw = createGateway({ model, logger: v['log-level'] ?? env.logLevel, ...(apiKey === undefined ? {} : { apiKey }), ...(origins === undefined ? {} : { allowedOrigins: origins }) });
    const { url } = await gw.listen({ port, host });
    process.stdout.write(`xdeepserve serve: listening on ${url} model=${model.name}\n`);
    await untilSignalled(() => gw.shutdown());
    process.stderr.write('xdeepserve serve: drained, bye\n');
    return 0;
  },
};
