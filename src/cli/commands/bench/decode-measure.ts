/**
 * The measuring half of `bench decode` (issue 3): our engine's prefill and batch-1 decode speed on
 * a checkpoint (LocalModelRunner over the native backend, f32 or int8 weights), and llama.cpp's on
 * the same model exported to GGUF (q8_0 against our int8, f32 against f32), rounds interleaved.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ModelSpec } from '../../../config/model-spec.js';
import { median } from '../../../core/stats.js';
import type { ComputeBackend } from '../../../kernels/backend.js';
import { formatQuantizationReport, quantizeLinearTree } from '../../../kernels/quantize.js';
import { LocalModelRunner } from '../../../flowserve/runner/model-runner.js';
import { measureLlamaCppSpeed } from '../../../llamacpp/run.js';
import { openCheckpointForExport } from '../../../model/gguf/checkpoint-dir.js';
import { exportGguf } from '../../../model/gguf/export.js';
import { bindModelWeights, type ModelWeights } from '../../../model/model-weights.js';

export interface DecodeBenchOptions {
  readonly modelDir: string;
  readonly quantization: 'none' | 'int8';
  /** int8 scales: one per output channel (per-token activations) or per 32-block. */
  readonly int8Group: 'channel' | 32;
  readonly numThreads: number;
  readonly promptTokens: number;
  readonly decodeTokens: number;
  readonly rounds: number;
  /** Where node-llama-cpp lives (installed there on first use). */
  readonly llamaCppDir?: string;
  readonly log: (line: string) => void;
}

export interface Speed {
  readonly prefillTokPerSec: number;
  readonly decodeTokPerSec: number;
}

/** The same prompt llama.cpp's harness uses (measureLlamaCppSpeed). */
function promptIds(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => 65 + (i % 7));
}

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

/** One round of ours: prefill the prompt, then decode greedily, timed apart. */
export function measureOurs(runner: LocalModelRunner, promptTokens: number, decodeTokens: number): Speed {
  const blockTable = Int32Array.from({ length: runner.numBlocks }, (_, i) => i);
  const slice = (ids: Int32Array, startPos: number) => ({ kind: 'forward' as const, seqs: [{ seqId: 'bench', tokenIds: ids, startPos, blockTable, wantAllLogits: false }] });
  const t0 = performance.now();
  let token = argmax(runner.forward(slice(promptIds(promptTokens), 0)).logits);
  const t1 = performance.now();
  for (let s = 0; s < decodeTokens; s++) token = argmax(runner.forward(slice(Int32Array.of(token), promptTokens + s)).logits);
  const t2 = performance.now();
  return { prefillTokPerSec: promptTokens / ((t1 - t0) / 1000), decodeTokPerSec: decodeTokens / ((t2 - t1) / 1000) };
}

/** Binds the checkpoint for our engine (bf16 → f32), quantizing once when asked; logs the size. */
export function loadOurs(spec: ModelSpec, o: DecodeBenchOptions, source: Parameters<typeof bindModelWeights>[1]): ModelWeights {
  const weights = bindModelWeights(spec, source);
  if (o.quantization === 'none') return weights;
  const { weights: q, report } = quantizeLinearTree(weights, o.int8Group);
  o.log(`ours: ${formatQuantizationReport(report)}, scales per ${o.int8Group === 'channel' ? 'output channel' : '32-block'}`);
  return q;
}

export interface DecodeBenchResult {
  readonly ours: Speed;
  readonly llamacpp: Speed;
  readonly oursRounds: readonly Speed[];
  readonly llamacppRounds: readonly Speed[];
  readonly ggufBytes: number;
}

function medianSpeed(rounds: readonly Speed[]): Speed {
  return { prefillTokPerSec: median(rounds.map((r) => r.prefillTokPerSec)), decodeTokPerSec: median(rounds.map((r) => r.decodeTokPerSec)) };
}

export async function runDecodeBench(o: DecodeBenchOptions, backend: ComputeBackend): Promise<DecodeBenchResult> {
  const ckpt = openCheckpointForExport(o.modelDir);
  const tmp = mkdtempSync(join(tmpdir(), 'xds-bench-decode-'));
  try {
    const ggufPath = join(tmp, 'model.gguf');
    const exported = exportGguf({ spec: ckpt.spec, weights: ckpt.weights, tokenizer: ckpt.tokenizer, type: o.quantization === 'int8' ? 'q8_0' : 'f32' }, ggufPath);
    o.log(`llama.cpp: exported ${exported.path} (${(exported.bytes / 2 ** 20).toFixed(1)} MiB, ${JSON.stringify(exported.tensorTypes)})`);
    const weights = loadOurs(ckpt.spec, o, ckpt.weights);
    const blocks = Math.ceil((o.promptTokens + o.decodeTokens + 1) / 16);
    const runner = new LocalModelRunner(ckpt.spec, weights, backend, { numBlocks: blocks, blockSizeTokens: 16 });
    measureOurs(runner, Math.min(o.promptTokens, 8), 2); // warm-up: JIT, scratch buffers, pool threads
    const oursRounds: Speed[] = [], llamacppRounds: Speed[] = [];
    for (let r = 0; r < o.rounds; r++) {
      oursRounds.push(measureOurs(runner, o.promptTokens, o.decodeTokens));
      const l = await measureLlamaCppSpeed({ ggufPath, threads: o.numThreads, promptTokens: o.promptTokens, decodeTokens: o.decodeTokens, ...(o.llamaCppDir ? { installDir: o.llamaCppDir } : {}) });
      llamacppRounds.push({ prefillTokPerSec: l.prefillTokensPerSec, decodeTokPerSec: l.decodeTokensPerSec });
      o.log(`round ${r + 1}: ours ${fmt(oursRounds[r]!)} | llama.cpp ${fmt(llamacppRounds[r]!)}`);
    }
    return { ours: medianSpeed(oursRounds), llamacpp: medianSpeed(llamacppRounds), oursRounds, llamacppRounds, ggufBytes: exported.bytes };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function fmt(s: Speed): string {
  return `prefill ${s.prefillTokPerSec.toFixed(1)} tok/s, decode ${s.decodeTokPerSec.toFixed(1)} tok/s`;
}
