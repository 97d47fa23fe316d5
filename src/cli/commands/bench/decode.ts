/**
 * `xdeepserve bench decode --model DIR [--quantization int8] [--json]` (issue 3): prefill tok/s
 * and batch-1 decode tok/s for our engine (native backend) and for llama.cpp on the same model
 * (exported to GGUF: q8_0 against our int8, f32 against f32), interleaved rounds, medians, and
 * the ratio us/llama.cpp. llama.cpp runs with `flashAttention: false` and the same thread count
 * as ours (default 1: CPU-FACTS.md §4). Targets on the `small` presets: decode ≥ 1.2, prefill ≥ 1.0.
 */
import { XdsError } from '../../../core/errors.js';
import { numberFlag, parseFlags, type Command } from '../../command.js';
import { nativeBackend } from '../../../kernels/native.js';
import { fmt, runDecodeBench, type DecodeBenchOptions } from './decode-measure.js';

const USAGE = `usage: xdeepserve bench decode --model DIR [--quantization int8] [--json] [flags]
  --model DIR          checkpoint directory (e.g. from 'xdeepserve gen-model --preset small')
  --quantization Q     none (f32 vs llama.cpp f32) | int8 (ours int8 vs llama.cpp q8_0); default none
  --int8-group G       channel (per-channel weights, per-token activations; default) | 32
  --int8-prefill P     q8 (activations quantized in prefill too; default) | dequant (f32 GEMM)
  --threads N          threads for us and for llama.cpp (default 1)
  --prompt-tokens N    prefill length (default 128)
  --decode-tokens N    decode steps per round (default 32)
  --rounds N           interleaved rounds; medians are reported (default 3)
  --llamacpp-dir DIR   where node-llama-cpp@3.21.1 is (installed there on first use)
  --json               print one JSON object`;

function parseOptions(argv: string[], log: (l: string) => void): DecodeBenchOptions & { json: boolean; int8Prefill: 'q8' | 'dequant' } {
  const { values } = parseFlags(argv, {
    model: { type: 'string' }, quantization: { type: 'string' }, json: { type: 'boolean' }, threads: { type: 'string' },
    'prompt-tokens': { type: 'string' }, 'decode-tokens': { type: 'string' }, rounds: { type: 'string' }, 'llamacpp-dir': { type: 'string' }, 'int8-group': { type: 'string' }, 'int8-prefill': { type: 'string' },
  });
  if (!values.model) throw new XdsError('invalid_argument', '--model is required (see xdeepserve bench decode --help)', { param: 'model' });
  const q = values.quantization ?? 'none';
  if (q !== 'none' && q !== 'int8') throw new XdsError('invalid_argument', `--quantization must be none or int8, got '${q}'`, { param: 'quantization' });
  const g = values['int8-group'] ?? 'channel';
  if (g !== 'channel' && g !== '32') throw new XdsError('invalid_argument', `--int8-group must be channel or 32, got '${g}'`, { param: 'int8-group' });
  const p = values['int8-prefill'] ?? 'q8';
  if (p !== 'q8' && p !== 'dequant') throw new XdsError('invalid_argument', `--int8-prefill must be q8 or dequant, got '${p}'`, { param: 'int8-prefill' });
  return {
    int8Prefill: p, modelDir: values.model, quantization: q, int8Group: g === 'channel' ? 'channel' : 32, json: values.json === true, log,
    numThreads: Math.floor(numberFlag(values.threads, 'threads', 1, 1, 256)),
    promptTokens: Math.floor(numberFlag(values['prompt-tokens'], 'prompt-tokens', 128, 1, 8192)),
    decodeTokens: Math.floor(numberFlag(values['decode-tokens'], 'decode-tokens', 32, 1, 8192)),
    rounds: Math.floor(numberFlag(values.rounds, 'rounds', 3, 1, 100)),
    ...(values['llamacpp-dir'] ? { llamaCppDir: values['llamacpp-dir'] } : {}),
  };
}

export const command: Command = {
  name: 'bench decode',
  summary: 'prefill and batch-1 decode tok/s, ours vs llama.cpp on the same model',
  usage: USAGE,
  async run(argv) {
    const o = parseOptions(argv, (l) => process.stderr.write(`${l}\n`));
    const backend = nativeBackend({ numThreads: o.numThreads, int8Prefill: o.int8Prefill });
    if (!backend) throw new XdsError('invalid_config', "bench decode needs the native addon (build/kernels.node); run 'npm run build:native'", { param: 'backend' });
    const r = await runDecodeBench(o, backend);
    const ratio = { prefill: r.ours.prefillTokPerSec / r.llamacpp.prefillTokPerSec, decode: r.ours.decodeTokPerSec / r.llamacpp.decodeTokPerSec };
    const out = {
      kind: 'bench_decode', model: o.modelDir, quantization: o.quantization, int8Group: o.int8Group, int8Prefill: o.int8Prefill, threads: o.numThreads, backend: backend.name,
      promptTokens: o.promptTokens, decodeTokens: o.decodeTokens, rounds: o.rounds,
      ours: r.ours, llamacpp: r.llamacpp, ratio, oursRounds: r.oursRounds, llamacppRounds: r.llamacppRounds,
    };
    if (o.json) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    else process.stdout.write(`ours      ${fmt(r.ours)}\nllama.cpp ${fmt(r.llamacpp)}\nratio     prefill ${ratio.prefill.toFixed(2)}, decode ${ratio.decode.toFixed(2)} (medians of ${o.rounds} interleaved rounds, ${o.numThreads} thread(s))\n`);
    return 0;
  },
};
