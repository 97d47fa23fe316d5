/**
 * `xdeepserve bench serve`: the serving benchmark against a running `xdeepserve serve` (or any
 * OpenAI-compatible server), like vLLM's benchmark_serving: progress bar on stderr; TTFT, TPOT and
 * ITL mean/p50/p90/p99; request and output token throughput; goodput under TTFT/TPOT SLOs; the
 * server's scheduler share of step time when it exports it. `--json` prints one JSON object.
 */
import type { Command } from '../../command.js';
import { integerFlag, numberFlag, parseFlags, requiredFlag } from '../../command.js';
import { XdsError } from '../../../core/errors.js';
import { runServeBench, type LatencyStats, type ServeBenchResult } from '../../../bench/serve-client.js';

const USAGE = `usage: xdeepserve bench serve --url URL [--concurrency C | --rate R] [--num-prompts N] [--input-len I --output-len O] [--json]

  --url URL            server base URL, e.g. http://127.0.0.1:8000
  --model NAME         model name (default: the first of /v1/models)
  --concurrency C      requests in flight at once (default: all)
  --rate R             Poisson arrivals per second (default: all at once)
  --num-prompts N      requests to send (default 64)
  --input-len I        prompt tokens per request (default 32)
  --output-len O       output tokens per request, EOS ignored (default 32)
  --slo-ttft-ms T      goodput SLO on time to first token
  --slo-tpot-ms T      goodput SLO on time per output token
  --seed S             prompt seed (default 0)
  --json               print one JSON object (keys: outputTokPerSec, requestsPerSec, ttftMs.p50, ttftMs.p99, tpotMs.p50, tpotMs.p99, failed, ...)`;

const OPTIONS = {
  url: { type: 'string' }, model: { type: 'string' }, concurrency: { type: 'string' }, rate: { type: 'string' },
  'num-prompts': { type: 'string' }, 'input-len': { type: 'string' }, 'output-len': { type: 'string' },
  'slo-ttft-ms': { type: 'string' }, 'slo-tpot-ms': { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' },
} as const;

function optional(v: string | undefined, name: string, min: number): number | undefined {
  return v === undefined ? undefined : numberFlag(v, name, 0, min);
}

function progressBar(done: number, total: number): void {
  const width = 30;
  const filled = Math.round((width * done) / Math.max(1, total));
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${done === total ? '\n' : ''}`);
}

function statsLine(name: string, s: LatencyStats): string {
  const f = (x: number): string => x.toFixed(2).padStart(9);
  return `${name.padEnd(6)} mean ${f(s.mean)}  p50 ${f(s.p50)}  p90 ${f(s.p90)}  p99 ${f(s.p99)}`;
}

export function formatServeBench(r: ServeBenchResult): string {
  const lines = [
    `model ${r.model}: ${r.completed}/${r.numPrompts} requests completed, ${r.failed} failed in ${r.durationS.toFixed(2)} s`,
    `request throughput   ${r.requestsPerSec.toFixed(2)} req/s`,
    `output throughput    ${r.outputTokPerSec.toFixed(1)} tok/s   (total ${r.totalTokPerSec.toFixed(1)} tok/s)`,
    statsLine('TTFT', r.ttftMs) + '  ms',
    statsLine('TPOT', r.tpotMs) + '  ms',
    statsLine('ITL', r.itlMs) + '  ms',
    statsLine('E2E', r.e2eMs) + '  ms',
  ];
  if (r.goodputRequestsPerSec !== null) lines.push(`goodput              ${r.goodputRequestsPerSec.toFixed(2)} req/s within the SLOs`);
  if (r.schedulerFraction !== null) lines.push(`scheduler share      ${(100 * r.schedulerFraction).toFixed(2)}% of engine step time (server side)`);
  if (r.firstError !== null) lines.push(`first error: ${r.firstError}`);
  return lines.join('\n');
}

export const command: Command = {
  name: 'bench serve',
  summary: 'serving benchmark against a running server',
  usage: USAGE,
  async run(argv) {
    const { values: v } = parseFlags(argv, OPTIONS);
    const url = requiredFlag(v.url, 'url', 'bench serve');
    if (v.concurrency !== undefined && v.rate !== undefined) throw new XdsError('invalid_argument', 'give --concurrency or --rate, not both', { param: 'rate' });
    const concurrency = v.concurrency === undefined ? undefined : integerFlag(v.concurrency, 'concurrency', 1, 1);
    const sloTtftMs = optional(v['slo-ttft-ms'], 'slo-ttft-ms', 0);
    const sloTpotMs = optional(v['slo-tpot-ms'], 'slo-tpot-ms', 0);
    const r = await runServeBench({
      url: url.replace(/\/+$/, ''), ...(v.model === undefined ? {} : { model: v.model }),
      ...(concurrency === undefined ? {} : { concurrency }), ...(v.rate === undefined ? {} : { ratePerSec: numberFlag(v.rate, 'rate', 1, Number.MIN_VALUE) }),
      numPrompts: integerFlag(v['num-prompts'], 'num-prompts', 64, 1), inputLen: integerFlag(v['input-len'], 'input-len', 32, 1),
      outputLen: integerFlag(v['output-len'], 'output-len', 32, 1), seed: integerFlag(v.seed, 'seed', 0, 0),
      ...(sloTtftMs === undefined ? {} : { sloTtftMs }), ...(sloTpotMs === undefined ? {} : { sloTpotMs }),
      onProgress: progressBar,
    });
    process.stdout.write((v.json ? JSON.stringify(r) : formatServeBench(r)) + '\n');
    return r.failed > 0 ? 1 : 0;
  },
};
