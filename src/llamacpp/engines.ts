/**
 * Our side of the llama.cpp reference check: greedy decoding that returns, per step, the chosen
 * token and the full next-token distribution. Two engines:
 * - `runner`: the serving engine (LocalModelRunner over bindModelWeights + a ComputeBackend — the
 *   reference kernels by default, the native addon with `--backend native` —, the
 *   ModelRunner contract of flowserve/runner/types.ts): one prefill, then one decode token per step
 *   through the paged KV cache, exactly as serving runs it;
 * - `reference`: the independent naive float64 forward (model/reference/forward.ts), recomputed
 *   over the whole sequence each step — a cross-check of the export that needs no engine.
 */
import type { ModelSpec } from '../config/model-spec.js';
import { LocalModelRunner } from '../flowserve/runner/model-runner.js';
import type { ForwardResult } from '../flowserve/runner/types.js';
import type { ComputeBackend } from '../kernels/backend.js';
import { selectBackend, type BackendKind } from '../kernels/select-backend.js';
import { bindModelWeights } from '../model/model-weights.js';
import { referenceForward } from '../model/reference/forward.js';
import type { WeightSource } from '../model/tensor.js';

export interface EngineStep {
  readonly tokenId: number;
  /** [vocab] f64 softmax of the logits. */
  readonly probs: Float64Array;
}

export interface GreedyEngine {
  readonly name: string;
  greedy(promptIds: readonly number[], steps: number): EngineStep[];
}

export type EngineName = 'runner' | 'reference';

/** Softmax in f64 of one logits row, and its argmax (lowest id on ties). */
export function softmaxStep(logits: ArrayLike<number>): EngineStep {
  let max = -Infinity;
  let arg = 0;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) { max = logits[i]!; arg = i; }
  const probs = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += probs[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < probs.length; i++) probs[i]! /= sum;
  return { tokenId: arg, probs };
}

export function referenceEngine(spec: ModelSpec, weights: WeightSource): GreedyEngine {
  return {
    name: 'reference (naive f64 forward)',
    greedy(promptIds, steps) {
      const ids = [...promptIds];
      const out: EngineStep[] = [];
      for (let s = 0; s < steps; s++) {
        const { logits } = referenceForward(spec, weights, ids); // [T, V] f64
        const V = spec.vocabSize;
        const step = softmaxStep(logits.subarray((ids.length - 1) * V, ids.length * V));
        out.push(step);
        ids.push(step.tokenId);
      }
      return out;
    },
  };
}

const BLOCK_SIZE_TOKENS = 16;

function lastRow(res: ForwardResult, vocabSize: number): Float32Array {
  const row = res.rows[0]!;
  const r = row.first + row.count - 1;
  return res.logits.subarray(r * vocabSize, (r + 1) * vocabSize);
}

export function runnerEngine(spec: ModelSpec, weights: WeightSource, backend: ComputeBackend): GreedyEngine {
  return {
    name: `runner (LocalModelRunner, ${backend.name} backend)`,
    greedy(promptIds, steps) {
      const numBlocks = Math.ceil((promptIds.length + steps) / BLOCK_SIZE_TOKENS) + 1;
      const runner = new LocalModelRunner(spec, bindModelWeights(spec, weights), backend, { numBlocks, blockSizeTokens: BLOCK_SIZE_TOKENS });
      const blockTable = Int32Array.from({ length: numBlocks }, (_, i) => i);
      const forward = (tokenIds: readonly number[], startPos: number): EngineStep => {
        const res = runner.forward({ kind: 'forward', seqs: [{ seqId: 'check', tokenIds: Int32Array.from(tokenIds), startPos, blockTable, wantAllLogits: false }] });
        return softmaxStep(lastRow(res, spec.vocabSize));
      };
      const out: EngineStep[] = [forward(promptIds, 0)];
      for (let s = 1; s < steps; s++) out.push(forward([out[s - 1]!.tokenId], promptIds.length + s - 1));
      return out;
    },
  };
}

/** `runner` on the chosen kernel backend (default: the plain TypeScript reference kernels). */
export function makeEngine(name: EngineName, spec: ModelSpec, weights: WeightSource, backend: BackendKind = 'reference'): GreedyEngine {
  return name === 'runner' ? runnerEngine(spec, weights, selectBackend({ kind: backend, numThreads: 1 })) : referenceEngine(spec, weights);
}
