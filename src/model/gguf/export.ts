/**
 * Checkpoint → GGUF for llama.cpp (GGUF-EXPORT.md §11 checklist): picks the GGUF architecture
 * from the ModelSpec, collects the arch keys and tensors, the general and tokenizer keys, chooses
 * each tensor's ggml type (f32 reference, f16, or q8_0 for 2-D weights) and writes the file.
 */
import type { ModelSpec } from '../../config/model-spec.js';
import { XdsError } from '../../core/errors.js';
import type { WeightSource } from '../tensor.js';
import type { ArchPlan } from './arch-common.js';
import { planDeepseek2 } from './arch-deepseek2.js';
import { planLlamaLike } from './arch-llama.js';
import { planQwen3Moe } from './arch-qwen3moe.js';
import { kv, type GgufKv } from './format.js';
import { ggmlTypeFor, toWritable, type ExportType, type PlannedTensor } from './tensors.js';
import { tokenizerKeys, type TokenizerFiles } from './tokenizer-keys.js';
import { writeGguf, type GgufFile } from './writer.js';

export const EXPORT_TYPES: readonly ExportType[] = ['f32', 'f16', 'bf16', 'q8_0'];

/** general.file_type: 0 all F32, 1 mostly F16, 32 mostly BF16, 7 mostly Q8_0. */
const FILE_TYPE: Record<ExportType, number> = { f32: 0, f16: 1, bf16: 32, q8_0: 7 };

export interface ExportInput {
  readonly spec: ModelSpec;
  readonly weights: WeightSource;
  /** null: no tokenizer keys (llama.cpp then refuses the file; for tests of the tensor part only). */
  readonly tokenizer: TokenizerFiles | null;
  readonly type: ExportType;
  readonly name?: string;
}

export interface GgufPlan {
  readonly arch: string;
  readonly kv: readonly GgufKv[];
  readonly tensors: readonly PlannedTensor[];
  readonly notes: readonly string[];
}

export interface ExportReport {
  readonly arch: string;
  readonly path: string;
  readonly bytes: number;
  readonly numTensors: number;
  /** Count of tensors per ggml type actually written. */
  readonly tensorTypes: Readonly<Record<string, number>>;
  readonly notes: readonly string[];
}

/** Which GGUF architecture a spec exports to. */
export function ggufArchFor(spec: ModelSpec): (spec: ModelSpec, source: WeightSource) => ArchPlan {
  switch (spec.arch) {
    case 'llama':
    case 'mixtral':
    case 'qwen3':
      return planLlamaLike;
    case 'qwen3_moe':
      return planQwen3Moe;
    case 'deepseek_v2':
    case 'deepseek_v3':
      return planDeepseek2;
  }
}

/** Everything that goes into the file, without reading tensor data yet. */
export function planGguf(input: ExportInput): GgufPlan {
  if (!EXPORT_TYPES.includes(input.type)) {
    throw new XdsError('invalid_argument', `--type must be one of ${EXPORT_TYPES.join(', ')}, got '${String(input.type)}'`, { param: 'type' });
  }
  const arch = ggufArchFor(input.spec)(input.spec, input.weights);
  const general: GgufKv[] = [
    kv.str('general.architecture', arch.arch),
    kv.str('general.name', input.name ?? input.spec.architecture),
    kv.u32('general.file_type', FILE_TYPE[input.type]),
    kv.u32('general.quantization_version', 2),
  ];
  const tokenizer = input.tokenizer ? tokenizerKeys(input.tokenizer, input.spec.vocabSize) : [];
  return { arch: arch.arch, kv: [...general, ...arch.kv, ...tokenizer], tensors: arch.tensors, notes: arch.notes };
}

export function ggufFileOf(plan: GgufPlan, type: ExportType): GgufFile {
  return { kv: plan.kv, tensors: plan.tensors.map((t) => toWritable(t, type)) };
}

/** Plans and writes the GGUF file at `outPath`. */
export function exportGguf(input: ExportInput, outPath: string): ExportReport {
  const plan = planGguf(input);
  const bytes = writeGguf(outPath, ggufFileOf(plan, input.type));
  const tensorTypes: Record<string, number> = {};
  for (const t of plan.tensors) {
    const g = ggmlTypeFor(t, input.type);
    tensorTypes[g] = (tensorTypes[g] ?? 0) + 1;
  }
  return { arch: plan.arch, path: outPath, bytes, numTensors: plan.tensors.length, tensorTypes, notes: plan.notes };
}
