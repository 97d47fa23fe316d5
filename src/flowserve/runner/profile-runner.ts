/**
 * Per-unit time breakdown of LocalModelRunner decode steps (a figure, not a test; issues 3 and 4).
 * The runner's backend is wrapped by a timing ComputeBackend that charges each kernel call to a
 * unit by the identity of its weight (embedding, attention projections, attention core, router,
 * experts, shared expert, dense FFN, norms, LM head); TypeScript time between kernel calls
 * ("glue": embedding lookups, routing, gathers, copies, allocation) is charged to the unit of the
 * previous call (before the first call: embedding). Batch B = B sequences decoding one token each
 * after a prompt of --context tokens. Medians over --steps steps, per unit and for the whole step.
 *
 *   node dist/flowserve/runner/profile-runner.js --model DIR [--batch 1,32] [--context 32] [--steps 5]
 *        [--backend native|reference|auto] [--int8 none|channel|32] [--threads N] [--kv-dtype float32|bfloat16]
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parseModelConfig } from '../../config/model-config.js';
import type { ComputeBackend, LinearWeight, MoeExpertsArgs, MoeRouteArgs, PagedAttentionArgs, PagedMlaArgs, RopeTable } from '../../kernels/backend.js';
import { quantizeLinearTree } from '../../kernels/quantize.js';
import { parseBackendKind, selectBackend } from '../../kernels/select-backend.js';
import { bindModelWeights, type LayerWeights, type ModelWeights } from '../../model/model-weights.js';
import { openSafetensorsWeights } from '../../model/safetensors.js';
import { LocalModelRunner } from './model-runner.js';
import { KV_DTYPES, isKvDtype, type KvDtype } from '../../kvcache/kv-storage.js';
import type { SequenceSlice } from './types.js';

export const UNITS = ['embedding', 'norms', 'attn proj', 'attn core', 'router', 'experts', 'shared expert', 'dense ffn', 'lm head'] as const;
export type Unit = (typeof UNITS)[number];

/** Kernel and glue time per unit, µs, accumulated until reset. */
export class UnitTimes {
  readonly kernelUs = new Map<Unit, number>();
  readonly glueUs = new Map<Unit, number>();
  reset(): void { this.kernelUs.clear(); this.glueUs.clear(); }
  add(m: Map<Unit, number>, u: Unit, us: number): void { m.set(u, (m.get(u) ?? 0) + us); }
}

const nowUs = (): number => performance.now() * 1000;

/** Weight (or norm vector) → unit, from the model's bound weights. */
export function unitMap(w: ModelWeights): Map<object, Unit> {
  const m = new Map<object, Unit>();
  const put = (u: Unit, ...xs: readonly (object | null)[]): void => { for (const x of xs) if (x !== null) m.set(x, u); };
  put('embedding', w.embed);
  put('lm head', w.lmHead, w.finalNorm);
  for (const l of w.layers) mapLayer(l, put);
  return m;
}

function mapLayer(l: LayerWeights, put: (u: Unit, ...xs: readonly (object | null)[]) => void): void {
  put('norms', l.inputNorm, l.postAttnNorm);
  const a = l.attention;
  if (a.kind === 'gqa') put('attn proj', a.q, a.k, a.v, a.o, a.qNorm, a.kNorm);
  else put('attn proj', a.qA, a.qANorm, a.qB, a.q, a.kvA, a.kvANorm, a.o);
  const f = l.ffn;
  if (f.kind === 'dense') { put('dense ffn', f.mlp.gate, f.mlp.up, f.mlp.down); return; }
  put('router', f.router);
  for (const e of f.experts) put('experts', e.gate, e.up, e.down);
  if (f.shared !== null) put('shared expert', f.shared.gate, f.shared.up, f.shared.down);
}

/** A ComputeBackend that times every call of `inner` and charges it to a unit. */
export class TimingBackend implements ComputeBackend {
  readonly name: string;
  private current: Unit = 'embedding';
  private lastEndUs = -1;
  constructor(private readonly inner: ComputeBackend, private readonly units: Map<object, Unit>, readonly times: UnitTimes) {
    this.name = `timed ${inner.name}`;
    const fused = inner.moeExperts?.bind(inner);
    if (fused !== undefined) this.moeExperts = (a) => this.time('experts', () => fused(a));
    const add = inner.add?.bind(inner);
    if (add !== undefined) this.add = (h, y, n) => this.time(undefined, () => add(h, y, n));
    const route = inner.moeRoute?.bind(inner);
    if (route !== undefined) this.moeRoute = (a) => this.time('router', () => route(a));
  }

  /** Start a step: glue before the first call is embedding. */
  begin(): void { this.current = 'embedding'; this.lastEndUs = nowUs(); }
  /** End a step: trailing glue goes to the last unit. */
  end(): void { this.times.add(this.times.glueUs, this.current, nowUs() - this.lastEndUs); this.lastEndUs = -1; }

  private time(unit: Unit | undefined, f: () => void): void {
    const t0 = nowUs();
    if (this.lastEndUs >= 0) this.times.add(this.times.glueUs, this.current, t0 - this.lastEndUs);
    if (unit !== undefined) this.current = unit;
    f();
    this.lastEndUs = nowUs();
    this.times.add(this.times.kernelUs, this.current, this.lastEndUs - t0);
  }

  matmul(x: Float32Array, w: LinearWeight, y: Float32Array, rows: number): void {
    // NOTE: weights the map does not know are the absorbed MLA per-head views (attention core).
    this.time(this.units.get(w) ?? 'attn core', () => this.inner.matmul(x, w, y, rows));
  }
  rmsNorm(x: Float32Array, weight: Float32Array, eps: number, y: Float32Array, rows: number, dim: number): void {
    this.time(this.units.get(weight), () => this.inner.rmsNorm(x, weight, eps, y, rows, dim));
  }
  siluMul(gate: Float32Array, up: Float32Array, out: Float32Array, n: number): void {
    this.time(undefined, () => this.inner.siluMul(gate, up, out, n));
  }
  rope(x: Float32Array, rows: number, rowStride: number, numHeads: number, headStride: number, offset: number, positions: Int32Array, table: RopeTable): void {
    this.time('attn proj', () => this.inner.rope(x, rows, rowStride, numHeads, headStride, offset, positions, table));
  }
  softmax(x: Float32Array, rows: number, n: number): void { this.time(undefined, () => this.inner.softmax(x, rows, n)); }
  pagedAttention(a: PagedAttentionArgs): void { this.time('attn core', () => this.inner.pagedAttention(a)); }
  pagedMlaAttention(a: PagedMlaArgs): void { this.time('attn core', () => this.inner.pagedMlaAttention(a)); }
  // Present only when the inner backend has it, so the runner takes the same path as untimed.
  readonly moeExperts?: (a: MoeExpertsArgs) => void;
  readonly add?: (h: Float32Array, y: Float32Array, n: number) => void;
  readonly moeRoute?: (a: MoeRouteArgs) => void;
}

export interface ProfileOptions {
  readonly batch: number;
  readonly contextTokens: number;
  readonly numSteps: number;
}

export interface ProfileResult {
  readonly batch: number;
  /** Median step wall time, µs. */
  readonly stepUs: number;
  /** Median process CPU time (user + system, all threads, pool spinning included) per step, µs: less sensitive to descheduling. */
  readonly cpuUs: number;
  /** Per unit: medians over the steps of [kernel µs, glue µs] (so they need not add up to stepUs). */
  readonly units: ReadonlyMap<Unit, readonly [number, number]>;
}

/** Prefill `batch` prompts, then time `numSteps` decode steps of all of them (one token each). */
export function profileDecode(runner: LocalModelRunner, tb: TimingBackend, o: ProfileOptions): ProfileResult {
  const bs = runner.blockSizeTokens;
  const blocksPerSeq = Math.ceil((o.contextTokens + o.numSteps + 1) / bs);
  if (blocksPerSeq * o.batch > runner.numBlocks) throw new RangeError(`profile needs ${blocksPerSeq * o.batch} KV blocks, runner has ${runner.numBlocks}`);
  const tables = Array.from({ length: o.batch }, (_, i) => Int32Array.from({ length: blocksPerSeq }, (_, b) => i * blocksPerSeq + b));
  const slice = (i: number, ids: number[], startPos: number): SequenceSlice =>
    ({ seqId: `p${i}`, tokenIds: Int32Array.from(ids), startPos, blockTable: tables[i]!, wantAllLogits: false });
  const V = runner.vocabSize;
  for (let i = 0; i < o.batch; i++) runner.forward({ kind: 'forward', seqs: [slice(i, Array.from({ length: o.contextTokens }, (_, j) => (i * 131 + j * 7 + 1) % V), 0)] });
  const steps: { us: number; cpuUs: number; units: Map<Unit, [number, number]> }[] = [];
  for (let s = 0; s < o.numSteps; s++) {
    tb.times.reset();
    const seqs = tables.map((_, i) => slice(i, [(i * 17 + s * 5 + 3) % V], o.contextTokens + s));
    const t0 = nowUs();
    const c0 = process.cpuUsage();
    tb.begin();
    runner.forward({ kind: 'forward', seqs, mayReuseOutputs: true }); // as the engine's steps
    tb.end();
    const c = process.cpuUsage(c0);
    const units = new Map<Unit, [number, number]>(UNITS.map((u) => [u, [tb.times.kernelUs.get(u) ?? 0, tb.times.glueUs.get(u) ?? 0]]));
    steps.push({ us: nowUs() - t0, cpuUs: c.user + c.system, units });
  }
  const units = new Map<Unit, [number, number]>(UNITS.map((u) => [u, [median(steps.map((s) => s.units.get(u)![0])), median(steps.map((s) => s.units.get(u)![1]))]]));
  return { batch: o.batch, stepUs: median(steps.map((s) => s.us)), cpuUs: median(steps.map((s) => s.cpuUs)), units };
}

/** NOTE: medians, not means: on a shared machine a step now and then includes time descheduled. */
function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

export function formatProfile(r: ProfileResult): string {
  const ms = (us: number): string => (us / 1000).toFixed(2).padStart(8);
  const lines = [`batch ${r.batch}: step ${ms(r.stepUs)} ms (median), ${(r.stepUs / 1000 / r.batch).toFixed(2)} ms/token, CPU ${ms(r.cpuUs)} ms, load ${loadavg()[0]!.toFixed(2)}`,
    `  ${'unit'.padEnd(14)} ${'kernel ms'.padStart(9)} ${'glue ms'.padStart(8)} ${'share'.padStart(6)}`];
  for (const [u, [k, g]] of r.units) {
    if (k + g < 1) continue;
    lines.push(`  ${u.padEnd(14)} ${ms(k)}  ${ms(g)} ${(100 * (k + g) / r.stepUs).toFixed(1).padStart(5)}%`);
  }
  return lines.join('\n');
}

function loadRunner(dir: string, backend: ComputeBackend, int8: string, numBlocks: number, kvDtype: KvDtype): { runner: LocalModelRunner; tb: TimingBackend } {
  const spec = parseModelConfig(JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')) as Record<string, unknown>);
  let weights = bindModelWeights(spec, openSafetensorsWeights(dir, { arena: int8 === 'none' }), { dtype: 'keep', includeMtp: false });
  if (int8 !== 'none') weights = quantizeLinearTree(weights, int8 === 'channel' ? 'channel' : Number(int8)).weights;
  const tb = new TimingBackend(backend, unitMap(weights), new UnitTimes());
  return { runner: new LocalModelRunner(spec, weights, tb, { numBlocks, kvDtype }), tb };
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string' }, batch: { type: 'string', default: '1,32' }, context: { type: 'string', default: '32' },
    steps: { type: 'string', default: '5' }, backend: { type: 'string', default: 'native' }, int8: { type: 'string', default: 'none' },
    threads: { type: 'string' }, 'kv-dtype': { type: 'string', default: 'float32' },
  } });
  if (values.model === undefined) throw new Error('--model DIR is required');
  const batches = values.batch.split(',').map(Number);
  const o = { contextTokens: Number(values.context), numSteps: Number(values.steps) };
  const numBlocks = Math.max(...batches) * Math.ceil((o.contextTokens + o.numSteps + 1) / 16) + 4;
  const backend = selectBackend({ kind: parseBackendKind(values.backend), ...(values.threads === undefined ? {} : { numThreads: Number(values.threads) }) });
  const kvDtype = values['kv-dtype'];
  if (!isKvDtype(kvDtype)) throw new Error(`--kv-dtype must be ${KV_DTYPES.join(' or ')}`);
  const { runner, tb } = loadRunner(values.model, backend, values.int8, numBlocks, kvDtype);
  process.stdout.write(`${values.model} backend ${backend.name}, int8 ${values.int8}, context ${o.contextTokens}\n`);
  for (const batch of batches) process.stdout.write(formatProfile(profileDecode(runner, tb, { ...o, batch })) + '\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
