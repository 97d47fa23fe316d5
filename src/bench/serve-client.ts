/**
 * The serving benchmark client (issue 4 "Commands", after vLLM's benchmark_serving): sends
 * `numPrompts` streamed /v1/completions requests of `inputLen` random token ids and exactly
 * `outputLen` output tokens (ignore_eos), either `concurrency` at a time or as Poisson arrivals at
 * `ratePerSec`, and measures per request TTFT, inter-token latencies (between streamed chunks) and
 * TPOT ((e2e − TTFT) / (tokens − 1)). Also reads the server's engine step timings from /metrics
 * before and after, for the scheduler's share of step time (paper notes §2.5.1 figure). Requests go
 * through sse-request.ts (node:http, keep-alive: a lean client on the server's cores).
 */
import { Rng } from '../model/generator/random.js';
import type { Agent } from 'node:http';
import { keepAliveAgent, postSse } from './sse-request.js';

export interface ServeBenchOptions {
  readonly url: string;
  /** Default: the first model of GET /v1/models. */
  readonly model?: string;
  /** Requests in flight at once (default: all, i.e. limited only by `ratePerSec`). */
  readonly concurrency?: number;
  /** Poisson arrivals per second (default Infinity: all at once, bounded by concurrency). */
  readonly ratePerSec?: number;
  readonly numPrompts: number;
  readonly inputLen: number;
  readonly outputLen: number;
  /** Goodput SLOs (ms); a request counts as good when it meets both given ones. */
  readonly sloTtftMs?: number;
  readonly sloTpotMs?: number;
  readonly seed?: number;
  /** Prompt token ids are drawn from [3, promptVocab) (default 250: safe for every tokenizer here). */
  readonly promptVocab?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface RequestRecord {
  readonly ok: boolean;
  readonly ttftMs: number;
  /** ms between consecutive streamed chunks after the first. */
  readonly itlMs: readonly number[];
  readonly e2eMs: number;
  readonly outputTokens: number;
  readonly promptTokens: number;
  readonly error?: string;
}

export interface LatencyStats { readonly mean: number; readonly p50: number; readonly p90: number; readonly p99: number }

export interface ServeBenchResult {
  readonly model: string;
  readonly numPrompts: number;
  readonly completed: number;
  readonly failed: number;
  readonly durationS: number;
  readonly requestsPerSec: number;
  readonly outputTokPerSec: number;
  readonly totalTokPerSec: number;
  readonly ttftMs: LatencyStats;
  readonly tpotMs: LatencyStats;
  readonly itlMs: LatencyStats;
  readonly e2eMs: LatencyStats;
  /** Requests per second that met the SLOs (null when no SLO was given). */
  readonly goodputRequestsPerSec: number | null;
  /** Server-side: (schedule + commit) / (schedule + forward + sample + commit) over the run; null when /metrics lacks it. */
  readonly schedulerFraction: number | null;
  readonly firstError: string | null;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function latencyStats(xs: readonly number[]): LatencyStats {
  const s = [...xs].sort((a, b) => a - b);
  const mean = s.length === 0 ? 0 : s.reduce((a, b) => a + b, 0) / s.length;
  return { mean, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99) };
}

export function tpotMs(r: RequestRecord): number | null {
  return r.outputTokens > 1 ? (r.e2eMs - r.ttftMs) / (r.outputTokens - 1) : null;
}

async function firstModel(url: string): Promise<string> {
  const res = await fetch(`${url}/v1/models`);
  const body = (await res.json()) as { data?: { id: string }[] };
  const id = body.data?.[0]?.id;
  if (id === undefined) throw new Error(`${url}/v1/models lists no model`);
  return id;
}

/** One streamed request; never throws (a failure is a record with ok: false). */
export async function sendOne(url: string, model: string, prompt: number[], outputLen: number, agent?: Agent): Promise<RequestRecord> {
  const t0 = performance.now();
  const body = { model, prompt, max_tokens: outputLen, temperature: 0, stream: true, ignore_eos: true, stream_options: { include_usage: true } };
  const r = await postSse(`${url}/v1/completions`, body, t0, agent);
  const e2eMs = performance.now() - t0;
  if (r.status !== 200) return { ok: false, ttftMs: 0, itlMs: [], e2eMs, outputTokens: 0, promptTokens: prompt.length, error: r.error ?? `HTTP ${r.status}` };
  const times = r.times;
  const itlMs = times.slice(1).map((t, i) => t - times[i]!);
  const ok = r.error === undefined && r.usage !== undefined;
  return {
    ok, ttftMs: times[0] ?? e2eMs, itlMs, e2eMs, outputTokens: r.usage?.completion_tokens ?? 0,
    promptTokens: r.usage?.prompt_tokens ?? prompt.length, ...(r.error !== undefined ? { error: r.error } : {}),
  };
}

/** Engine step time by phase from /metrics (s), or null when the server does not export it. */
export async function scrapeStepTimes(url: string): Promise<Record<string, number> | null> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^xds_engine_step_time_seconds\{[^}]*phase="(\w+)"[^}]*\} (\S+)$/gm)) out[m[1]!] = Number(m[2]);
    return Object.keys(out).length === 4 ? out : null;
  } catch {
    return null;
  }
}

function schedulerFraction(before: Record<string, number> | null, after: Record<string, number> | null): number | null {
  if (before === null || after === null) return null;
  const d = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
  const total = d('schedule') + d('forward') + d('sample') + d('commit');
  return total > 0 ? (d('schedule') + d('commit')) / total : null;
}

/** Runs the benchmark; see ServeBenchOptions. */
export async function runServeBench(o: ServeBenchOptions): Promise<ServeBenchResult> {
  const model = o.model ?? (await firstModel(o.url));
  const rng = new Rng(o.seed ?? 0);
  const vocab = o.promptVocab ?? 250;
  const prompts = Array.from({ length: o.numPrompts }, () => Array.from({ length: o.inputLen }, () => 3 + Math.floor(rng.uniform() * (vocab - 3))));
  const before = await scrapeStepTimes(o.url);
  const records: RequestRecord[] = [];
  const agent = keepAliveAgent(o.url);
  const t0 = performance.now();
  await dispatch(o, rng, prompts.length, async (i) => {
    records.push(await sendOne(o.url, model, prompts[i]!, o.outputLen, agent));
    o.onProgress?.(records.length, prompts.length);
  });
  const durationS = (performance.now() - t0) / 1000;
  agent.destroy();
  return summarize(o, model, records, durationS, schedulerFraction(before, await scrapeStepTimes(o.url)));
}

/** Starts job(i) for every i: at most `concurrency` at once, arrivals spaced by exponential gaps at `ratePerSec`. */
async function dispatch(o: ServeBenchOptions, rng: Rng, n: number, job: (i: number) => Promise<void>): Promise<void> {
  const limit = o.concurrency ?? n;
  const rate = o.ratePerSec ?? Infinity;
  const running = new Set<Promise<void>>();
  for (let i = 0; i < n; i++) {
    if (Number.isFinite(rate)) await new Promise((r) => setTimeout(r, (-Math.log(1 - rng.uniform()) / rate) * 1000));
    while (running.size >= limit) await Promise.race(running);
    const p: Promise<void> = job(i).finally(() => running.delete(p));
    running.add(p);
  }
  await Promise.all(running);
}

function summarize(o: ServeBenchOptions, model: string, records: readonly RequestRecord[], durationS: number, schedFraction: number | null): ServeBenchResult {
  const ok = records.filter((r) => r.ok);
  const outTokens = ok.reduce((a, r) => a + r.outputTokens, 0);
  const inTokens = ok.reduce((a, r) => a + r.promptTokens, 0);
  const tpots = ok.map(tpotMs).filter((x): x is number => x !== null);
  const hasSlo = o.sloTtftMs !== undefined || o.sloTpotMs !== undefined;
  const good = ok.filter((r) => (o.sloTtftMs === undefined || r.ttftMs <= o.sloTtftMs) && (o.sloTpotMs === undefined || (tpotMs(r) ?? 0) <= o.sloTpotMs));
  return {
    model, numPrompts: records.length, completed: ok.length, failed: records.length - ok.length, durationS,
    requestsPerSec: ok.length / durationS, outputTokPerSec: outTokens / durationS, totalTokPerSec: (outTokens + inTokens) / durationS,
    ttftMs: latencyStats(ok.map((r) => r.ttftMs)), tpotMs: latencyStats(tpots), itlMs: latencyStats(ok.flatMap((r) => r.itlMs)),
    e2eMs: latencyStats(ok.map((r) => r.e2eMs)), goodputRequestsPerSec: hasSlo ? good.length / durationS : null,
    schedulerFraction: schedFraction, firstError: records.find((r) => !r.ok)?.error ?? null,
  };
}
