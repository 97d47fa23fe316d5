/**
 * The llama.cpp reference check for one model (issue 2, "Correct, and shown to be"): generate the
 * tiny checkpoint (fixed seed), export it to f32 GGUF, decode greedily for 32 steps from the same
 * prompt token ids in our engine and in llama.cpp (threads 1, no flash attention), and compare:
 * identical tokens, and max |p_ours − p_llama.cpp| over every step and every vocabulary entry
 * (up to the first divergence, where both still share the same context) ≤ 1e-3.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseModelConfig } from '../config/model-config.js';
import { XdsError } from '../core/errors.js';
import type { BackendKind } from '../kernels/select-backend.js';
import { openCheckpointForExport } from '../model/gguf/checkpoint-dir.js';
import { exportGguf } from '../model/gguf/export.js';
import { buildWeights } from '../model/generator/build-weights.js';
import { generateCheckpoint } from '../model/generator/write-checkpoint.js';
import { writeShardedSafetensors } from '../model/safetensors.js';
import { CHECK_MAX_PROB_DIFF, CHECK_PROMPT, CHECK_SEED, CHECK_STEPS, type CheckCase } from './check-cases.js';
import { makeEngine, type EngineName, type EngineStep } from './engines.js';
import { runLlamaCpp, type LlamaCppStep } from './run.js';

export interface CheckOptions {
  readonly workDir: string;
  readonly engine: EngineName;
  /** Kernel backend of the runner engine (default reference). */
  readonly backend?: BackendKind;
  readonly steps?: number;
  readonly threads?: number;
}

export interface CheckResult {
  readonly name: string;
  readonly ggufArch: string;
  readonly engine: string;
  readonly ours: readonly number[];
  readonly llamacpp: readonly number[];
  readonly tokensIdentical: boolean;
  /** First step whose tokens differ, or null. */
  readonly firstDivergence: number | null;
  /** max over compared steps and vocab of |p_ours − p_llama.cpp|. */
  readonly maxProbDiff: number;
  /** Max over compared steps of the top probability, to show the scale of the distributions. */
  readonly maxTopProb: number;
  readonly pass: boolean;
  readonly seconds: { readonly generate: number; readonly export: number; readonly ours: number; readonly llamacpp: number };
  readonly turnedOff: readonly string[];
  readonly notes: readonly string[];
}

/** Writes the case's tiny checkpoint into `dir`: the generator's preset, plus the config patch. */
export async function generateCaseModel(c: CheckCase, dir: string): Promise<void> {
  const gen = await generateCheckpoint({ arch: c.genArch, preset: 'tiny', seed: CHECK_SEED, tokenizer: 'byte', variant: c.variant, outDir: dir, dtype: 'f32' });
  if (c.configPatch === undefined) return;
  const config = { ...gen.config, ...c.configPatch };
  const spec = parseModelConfig(config);
  writeShardedSafetensors(dir, buildWeights(spec, { seed: CHECK_SEED, dtype: 'f32', nonNegativeBias: false }), 2 ** 40);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
}

/** Compares two greedy runs step by step. */
export function compareRuns(ours: readonly EngineStep[], theirs: readonly LlamaCppStep[]): Pick<CheckResult, 'tokensIdentical' | 'firstDivergence' | 'maxProbDiff' | 'maxTopProb'> {
  if (ours.length !== theirs.length) throw new XdsError('internal', `step counts differ: ${ours.length} vs ${theirs.length}`);
  let firstDivergence: number | null = null;
  let maxProbDiff = 0;
  let maxTopProb = 0;
  for (let s = 0; s < ours.length && (firstDivergence === null || s <= firstDivergence); s++) {
    const a = ours[s]!.probs;
    const b = theirs[s]!.probs;
    if (a.length !== b.length) throw new XdsError('internal', `vocab sizes differ at step ${s}: ${a.length} vs ${b.length}`);
    for (let i = 0; i < a.length; i++) maxProbDiff = Math.max(maxProbDiff, Math.abs(a[i]! - b[i]!));
    for (let i = 0; i < a.length; i++) maxTopProb = Math.max(maxTopProb, a[i]!);
    if (firstDivergence === null && ours[s]!.tokenId !== theirs[s]!.tokenId) firstDivergence = s;
  }
  return { tokensIdentical: firstDivergence === null, firstDivergence, maxProbDiff, maxTopProb };
}

function since(t: number): number {
  return (performance.now() - t) / 1000;
}

export async function runCheckCase(c: CheckCase, o: CheckOptions): Promise<CheckResult> {
  const steps = o.steps ?? CHECK_STEPS;
  const dir = join(o.workDir, c.name.split(' ')[0]!);
  let t = performance.now();
  await generateCaseModel(c, dir);
  const tGenerate = since(t);
  t = performance.now();
  const ckpt = openCheckpointForExport(dir);
  const ggufPath = join(o.workDir, `${c.name.split(' ')[0]!}.f32.gguf`);
  const report = exportGguf({ spec: ckpt.spec, weights: ckpt.weights, tokenizer: ckpt.tokenizer, type: 'f32' }, ggufPath);
  if (report.arch !== c.ggufArch) throw new XdsError('internal', `${c.name}: exported arch ${report.arch}, expected ${c.ggufArch}`);
  const tExport = since(t);
  t = performance.now();
  const engine = makeEngine(o.engine, ckpt.spec, ckpt.weights, o.backend);
  const ours = engine.greedy(CHECK_PROMPT, steps);
  const tOurs = since(t);
  t = performance.now();
  const theirs = await runLlamaCpp({ ggufPath, promptTokenIds: CHECK_PROMPT, steps, threads: o.threads ?? 1, vocabSize: ckpt.spec.vocabSize });
  const tLlama = since(t);
  const cmp = compareRuns(ours, theirs);
  return {
    name: c.name, ggufArch: report.arch, engine: engine.name, ours: ours.map((s) => s.tokenId), llamacpp: theirs.map((s) => s.tokenId),
    ...cmp, pass: cmp.tokensIdentical && cmp.maxProbDiff <= CHECK_MAX_PROB_DIFF,
    seconds: { generate: tGenerate, export: tExport, ours: tOurs, llamacpp: tLlama }, turnedOff: c.turnedOff, notes: report.notes,
  };
}

export function formatResult(r: CheckResult): string {
  const tokens = r.tokensIdentical ? 'yes' : `NO (first divergence at step ${r.firstDivergence})`;
  const lines = [
    `${r.pass ? 'PASS' : 'FAIL'}  ${r.name}  [gguf ${r.ggufArch}; ours: ${r.engine}]`,
    `      tokens identical over ${r.ours.length} steps: ${tokens}`,
    `      max |p_ours - p_llama.cpp| = ${r.maxProbDiff.toExponential(3)} (limit ${CHECK_MAX_PROB_DIFF.toExponential(0)}; top p up to ${r.maxTopProb.toFixed(3)})`,
    `      ours:      ${r.ours.join(' ')}`,
    `      llama.cpp: ${r.llamacpp.join(' ')}`,
    `      time: generate ${r.seconds.generate.toFixed(2)} s, export ${r.seconds.export.toFixed(2)} s, ours ${r.seconds.ours.toFixed(2)} s, llama.cpp ${r.seconds.llamacpp.toFixed(2)} s`,
  ];
  for (const off of r.turnedOff) lines.push(`      turned off: ${off}`);
  return lines.join('\n');
}
