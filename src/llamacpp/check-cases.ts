/**
 * The models of the llama.cpp reference check: each supported GGUF architecture's tiny model
 * (MODELS.md §9.2, fixed seed, byte-level tokenizer), with the features llama.cpp lacks turned
 * off in config.json (GGUF-EXPORT.md §5.1, §6.5, §10) and said here and in docs/llamacpp-check.md.
 */

export interface CheckCase {
  /** Printed name. */
  readonly name: string;
  /** gen-model --arch / --variant (model/generator/presets.ts). */
  readonly genArch: string;
  readonly variant?: string;
  /** Overrides applied to the generated config.json (weights are regenerated for it). */
  readonly configPatch?: Readonly<Record<string, unknown>>;
  /** The GGUF architecture the export must produce. */
  readonly ggufArch: string;
  /** What was turned off, and why; empty when the tiny preset runs as is. */
  readonly turnedOff: readonly string[];
}

export const CHECK_SEED = 7;
export const CHECK_STEPS = 32;
export const CHECK_MAX_PROB_DIFF = 1e-3;
/** Bytes of "The quick brown fox" as byte-level token ids (ids 0–255 are the bytes). */
export const CHECK_PROMPT: readonly number[] = Array.from(Buffer.from('The quick brown fox', 'utf8'));

const LITE_TRAP = 'q_proj without q LoRA: llama.cpp loads deepseek2 without q LoRA only at 26/27 layers (GGUF-EXPORT.md §6.5), so q_lora_rank 24 is kept';

export const CHECK_CASES: readonly CheckCase[] = [
  { name: 'llama-tiny', genArch: 'llama', ggufArch: 'llama', turnedOff: [] },
  {
    name: 'llama-tiny-linear (linear RoPE scaling f 2)', genArch: 'llama', ggufArch: 'llama', turnedOff: [],
    configPatch: { rope_scaling: { rope_type: 'linear', factor: 2 } },
  },
  { name: 'qwen3-tiny', genArch: 'qwen3', ggufArch: 'qwen3', turnedOff: [] },
  { name: 'mixtral-tiny', genArch: 'mixtral', ggufArch: 'llama', turnedOff: [] },
  {
    name: 'qwen3moe-tiny (all layers MoE)', genArch: 'qwen3-moe', ggufArch: 'qwen3moe',
    configPatch: { decoder_sparse_step: 1, mlp_only_layers: [] },
    turnedOff: ['dense layers inside a Qwen3-MoE model (decoder_sparse_step 2, mlp_only_layers [3] → 1, []): llama.cpp qwen3moe makes every layer MoE'],
  },
  {
    name: 'qwen3moe-tiny-yarn (all MoE, YaRN f 4)', genArch: 'qwen3-moe', ggufArch: 'qwen3moe',
    configPatch: { decoder_sparse_step: 1, mlp_only_layers: [], rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 1024 } },
    turnedOff: ['dense layers, as above; generic YaRN (cos/sin × (0.1·ln f + 1)) on'],
  },
  {
    name: 'dsv3-tiny', genArch: 'deepseek-v3', ggufArch: 'deepseek2',
    turnedOff: ['MTP layer: not exported (llama.cpp\'s DeepSeek conversion drops it); greedy decoding without speculation does not use it'],
  },
  {
    name: 'dsv3-tiny-noq (q LoRA kept)', genArch: 'deepseek-v3', variant: 'noq', ggufArch: 'deepseek2',
    configPatch: { q_lora_rank: 24 },
    turnedOff: [LITE_TRAP + '; the rest of the variant stays (no groups, S 2, two dense layers, no rope scaling, eps 1e-5)'],
  },
  {
    name: 'dsv3-tiny-k2yarn (q LoRA kept, β 32/1)', genArch: 'deepseek-v3', variant: 'k2yarn', ggufArch: 'deepseek2',
    configPatch: {
      q_lora_rank: 24,
      rope_scaling: { type: 'yarn', rope_type: 'yarn', factor: 32, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
    },
    turnedOff: [
      LITE_TRAP,
      'YaRN beta_fast = beta_slow = 1 (Kimi K2 first release) → 32 / 1: this llama.cpp build ignores the yarn_beta_* keys for deepseek2 and always uses 32 / 1 (with β 1/1 the check diverged at step 24, max |Δp| 1.0e-3); θ 5e4 and f 32 stay',
    ],
  },
  {
    name: 'dsv2-tiny (no group limit)', genArch: 'deepseek-v2', ggufArch: 'deepseek2',
    configPatch: { n_group: 1, topk_group: 1 },
    turnedOff: ['group_limited_greedy (V2 group score = max) with topk_group < n_group: llama.cpp only has the V3 top-2-sum group rule, so n_group = topk_group = 1'],
  },
];
