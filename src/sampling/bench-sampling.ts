/**
 * Benchmark of the sampler step (src/README.md step 4) at real vocabulary sizes: ms per token of
 * the first sampler (reference.ts, "before") and of RequestSampler ("after") for each mode, on
 * seeded random logits rows. Single thread; prints a table.
 *   node dist/sampling/bench-sampling.js [--vocab 32000,129280,151936] [--ms 300] [--scale 3]
 *                                        [--no-reference]
 * --scale is the standard deviation of the logits (3: a peaked row, 1: a flat one).
 */
import { Rng } from '../core/rng.js';
import { referencePeek } from './reference.js';
import { RequestSampler } from './sampler.js';
import { makeSamplingParams, type SamplingParams } from './params.js';
import { TokenHistory } from './penalties.js';

interface Mode {
  readonly name: string;
  readonly params: Partial<SamplingParams>;
}

const MODES: readonly Mode[] = [
  { name: 'greedy', params: { temperature: 0 } },
  { name: 'greedy+penalties', params: { temperature: 0, repetitionPenalty: 1.1, frequencyPenalty: 0.5 } },
  { name: 'temperature 0.8', params: { temperature: 0.8 } },
  { name: 'top-k 50', params: { temperature: 0.8, topK: 50 } },
  { name: 'top-p 0.9', params: { temperature: 0.8, topP: 0.9 } },
  { name: 'min-p 0.05', params: { temperature: 0.8, minP: 0.05 } },
  { name: 'k50+p0.95+pen+lp5', params: { temperature: 0.7, topK: 50, topP: 0.95, presencePenalty: 0.5, logprobs: 5 } },
];

const NUM_ROWS = 4;
const NUM_HISTORY_TOKENS = 1000;

interface Options {
  readonly vocabs: number[];
  readonly budgetMs: number;
  readonly scale: number;
  readonly hasReference: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const vocabs = (value('--vocab') ?? '32000,129280,151936').split(',').map(Number);
  const budgetMs = Number(value('--ms') ?? 300);
  const scale = Number(value('--scale') ?? 3);
  if (vocabs.some((v) => !Number.isInteger(v) || v < 2) || !(budgetMs > 0) || !(scale > 0)) {
    throw new Error('usage: bench-sampling [--vocab V1,V2] [--ms MS] [--scale S] [--no-reference]');
  }
  return { vocabs, budgetMs, scale, hasReference: !argv.includes('--no-reference') };
}

function makeRows(vocab: number, scale: number): Float32Array[] {
  const rng = new Rng(vocab, 'bench-sampling');
  return Array.from({ length: NUM_ROWS }, () => rng.fillNormal(new Float32Array(vocab), scale)); // [vocab] f32
}

function makeHistoryTokens(vocab: number): number[] {
  const rng = new Rng(1, 'bench-history');
  return Array.from({ length: NUM_HISTORY_TOKENS }, () => rng.nextU32() % vocab);
}

interface Timing {
  /** Mean CPU time (user + system) per call, ms. */
  readonly cpuMs: number;
  /** Fastest single call, wall clock, ms. */
  readonly minMs: number;
}

/**
 * Times `step(row)` over rows cycled for about budgetMs of CPU (at least 3 calls).
 * NOTE: CPU time, not wall time, so other processes on a shared machine count less; the fastest
 * call is the closest to a quiet machine.
 */
function timePerCall(rows: Float32Array[], budgetMs: number, step: (row: Float32Array) => void): Timing {
  for (const row of rows) step(row); // warm-up
  const start = process.cpuUsage();
  let calls = 0;
  let minMs = Infinity;
  let cpuMs = 0;
  while (calls < 3 || cpuMs < budgetMs) {
    const t = performance.now();
    step(rows[calls++ % rows.length]!);
    minMs = Math.min(minMs, performance.now() - t);
    const d = process.cpuUsage(start);
    cpuMs = (d.user + d.system) / 1000;
  }
  return { cpuMs: cpuMs / calls, minMs };
}

function benchMode(mode: Mode, rows: Float32Array[], history: number[], o: Options): [Timing, Timing] {
  const sampler = new RequestSampler({ ...mode.params, seed: 1 }, history);
  for (const t of history.slice(0, 100)) sampler.history.recordOutput(t);
  const after = timePerCall(rows, o.budgetMs, (row) => sampler.peek(row));
  if (!o.hasReference) return [{ cpuMs: Number.NaN, minMs: Number.NaN }, after];
  const params = makeSamplingParams({ ...mode.params, seed: 1 });
  const refHistory = new TokenHistory(history);
  for (const t of history.slice(0, 100)) refHistory.recordOutput(t);
  const rng = new Rng(1, 'sampling');
  const before = timePerCall(rows, o.budgetMs, (row) => referencePeek(row, params, refHistory, rng));
  return [before, after];
}

/** ns per entry of a plain max loop over a row: the machine's speed on simple loops right now. */
function calibrationNs(rows: Float32Array[], budgetMs: number): number {
  let sink = 0;
  const t = timePerCall(rows, budgetMs, (row) => {
    let max = -Infinity;
    for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
    sink += max;
  });
  return sink === Infinity ? Number.NaN : (t.minMs * 1e6) / rows[0]!.length;
}

function main(): void {
  const o = parseOptions(process.argv.slice(2));
  console.log(`sampling ms/token, logits ~ N(0, ${o.scale}²), ${NUM_ROWS} rows cycled, single thread`);
  console.log('cpu: mean CPU ms per call; min: fastest call, wall ms; before: reference.ts, after: RequestSampler');
  const columns = ['before cpu', 'before min', 'after cpu', 'after min'].map((c) => c.padStart(10));
  console.log(['vocab'.padStart(7), 'mode'.padEnd(20), ...columns, 'speedup'.padStart(8)].join(' '));
  for (const vocab of o.vocabs) {
    const rows = makeRows(vocab, o.scale);
    const history = makeHistoryTokens(vocab);
    console.log(`calibration: a plain max loop takes ${calibrationNs(rows, o.budgetMs).toFixed(2)} ns per entry (fastest call)`);
    for (const mode of MODES) {
      const [before, after] = benchMode(mode, rows, history, o);
      const figures = [before.cpuMs, before.minMs, after.cpuMs, after.minMs].map((x) => (Number.isNaN(x) ? '-' : x.toFixed(3)).padStart(10));
      const speedup = (o.hasReference ? `${(before.cpuMs / after.cpuMs).toFixed(1)}x` : '-').padStart(8);
      console.log([String(vocab).padStart(7), mode.name.padEnd(20), ...figures, speedup].join(' '));
    }
  }
}

main();
