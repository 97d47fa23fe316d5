/**
 * `xdeepserve export-gguf --model DIR --out FILE [--type f32|f16|bf16|q8_0]`: a Hugging Face checkpoint
 * directory → one GGUF v3 file that stock llama.cpp loads (GGUF-EXPORT.md; archs llama, qwen3,
 * qwen3moe, deepseek2). Prints what was written and what was changed on the way (e.g. MTP dropped).
 */
import { XdsError } from '../../core/errors.js';
import { openCheckpointForExport } from '../../model/gguf/checkpoint-dir.js';
import { EXPORT_TYPES, exportGguf } from '../../model/gguf/export.js';
import type { ExportType } from '../../model/gguf/tensors.js';
import { parseFlags, type Command } from '../command.js';

const USAGE = `usage: xdeepserve export-gguf --model DIR --out FILE [--type f32|f16|bf16|q8_0]

Exports a checkpoint (config.json, *.safetensors, tokenizer.json) to GGUF for llama.cpp.
  --model DIR   checkpoint directory in Hugging Face layout
  --out FILE    GGUF file to write
  --type T      f32 (default, the reference), f16, bf16 (lossless for a bf16 checkpoint),
                or q8_0 (2-D weights whose rows are a multiple of 32; f16 otherwise);
                norms, biases and routers always stay f32
Architectures: LlamaForCausalLM, MixtralForCausalLM (→ llama), Qwen3ForCausalLM (→ qwen3),
Qwen3MoeForCausalLM (→ qwen3moe), DeepseekV2/V3ForCausalLM (→ deepseek2).`;

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new XdsError('invalid_argument', `--${flag} is required\n\n${USAGE}`, { param: flag });
  return value;
}

async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { model: { type: 'string' }, out: { type: 'string' }, type: { type: 'string' } });
  const modelDir = required(values.model, 'model');
  const out = required(values.out, 'out');
  const type = (values.type ?? 'f32') as ExportType;
  if (!EXPORT_TYPES.includes(type)) throw new XdsError('invalid_argument', `--type must be one of ${EXPORT_TYPES.join(', ')}, got '${type}'`, { param: 'type' });
  const ckpt = openCheckpointForExport(modelDir);
  if (ckpt.tokenizer === null) throw new XdsError('checkpoint_missing', `${modelDir}/tokenizer.json is missing (llama.cpp needs a vocabulary)`, { param: 'tokenizer.json' });
  const t0 = performance.now();
  const report = exportGguf({ spec: ckpt.spec, weights: ckpt.weights, tokenizer: ckpt.tokenizer, type }, out);
  const types = Object.entries(report.tensorTypes).map(([k, v]) => `${v} ${k}`).join(', ');
  process.stdout.write(`wrote ${report.path}: arch ${report.arch}, ${report.numTensors} tensors (${types}), ${(report.bytes / 2 ** 20).toFixed(2)} MiB in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);
  for (const note of report.notes) process.stdout.write(`note: ${note}\n`);
  return 0;
}

export const command: Command = {
  name: 'export-gguf',
  summary: 'export a checkpoint to GGUF for llama.cpp',
  usage: USAGE,
  run,
};
