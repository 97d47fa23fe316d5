/**
 * The serving benchmark client (issue 4 "Commands", after vLLM's benchmark_serving): sends
 * `numPrompts` streamed /v1/completions requests of `inputLen` random token ids and exactly
 * `outputLen` output tokens (ignore_eos), either `concurrency` at a time or as Poisson arrivals at
 * `ratePerSec`, and measures per request TTFT, inter-token latencies (between streamed chunks) and
 * TPOT ((e2e − TTFT) / (tokens − 1)). Also reads the server's engine step timings from /metrics
 * before and after, for the scheduler's share of step time (paper notes §2.5.1 figure).
 */
import { Rng } from '../model/generator/random.js';

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
export async function sendOne(url: string, model: string, prompt: number[], outputLen: number): Promise<RequestRecord> {
  const t0 = performance.now();
  const fail = (error: string): RequestRecord => ({ ok: false, ttftMs: 0, itlMs: [], e2eMs: performance.now() - t0, outputTokens: 0, promptTokens: prompt.length, error });
  try {
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt, max_tokens: outputLen, temperature: 0, stream: true, ignore_eos: true, stream_options: { include_usage: true } }),
    });
    if (res.status !== 200 || res.body === null) return fail(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
    return await readStream(res.body, t0, prompt.length);
  } catch (e) {
    return fail((e as Error).message);
  }
}

async function readStream(body: ReadableStream<Uint8Array>, t0: number, numPrompt: number): Promise<RequestRecord> {
  const decoder = new TextDecoder();
  const times: number[] = []; // ms since t0 of each chunk with text
  let buf = '';
  let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
  let error: string | undefined;
  for await (const part of body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(part, { stream: true });
    let at: number;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const data = buf.slice(0, at).replace(/^data: /, '');
      buf = buf.slice(at + 2);
      if (data === '[DONE]') continue;
      const chunk = JSON.parse(data) as { choices?: { text?: string }[]; usage?: typeof usage; error?: { message: string } };
      if (chunk.error) error = chunk.error.message;
      if (chunk.usage) usage = chunk.usage;
      if ((chunk.choices?.[0]?.text ?? '') !== '') times.push(performance.now() - t0);
    }
  }
  const e2eMs = performance.now() - t0;
  const ok = error === undefined && usage !== undefined;
  const itlMs = times.slice(1).map((t, i) => t - times[i]!);
  return { ok, ttftMs: times[0] ?? e2eMs, itlMs, e2eMs, outputTokens: usage?.completion_tokens ?? 0, promptTokens: usage?.prompt_tokens ?? numPrompt, ...(error ? { error } : {}) };
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
  const t0 = performance.now();
  await dispatch(o, rng, prompts.length, async (i) => {
    records.push(await sendOne(o.url, model, prompts[i]!, o.outputLen));
    o.onProgress?.(records.length, prompts.length);
  });
  const durationS = (performance.now() - t0) / 1000;
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
