/**
 * `xdeepserve bench scaling`: output tokens/s at a high concurrency as a multiple of a low one,
 * from paired `bench serve` runs against one running server (src/bench/scaling.ts). The defaults
 * are issue 4's figure: c1 (6 prompts) against c32 (64 prompts), 16 prompt and 64 output tokens,
 * 8 pairs. Prints each pair and the median ratio; `--json` prints one JSON object.
 */
import type { Command } from '../../command.js';
import { integerFlag, parseFlags, requiredFlag } from '../../command.js';
import { runScalingBench, type ScalingResult, type ScalingSummary } from '../../../bench/scaling.js';

const USAGE = `usage: xdeepserve bench scaling --url URL [--low C --high C] [--pairs N] [--json]

  --url URL            server base URL, e.g. http://127.0.0.1:8000
  --model NAME         model name (default: the first of /v1/models)
  --low C              the low concurrency (default 1)
  --high C             the high concurrency (default 32)
  --low-prompts N      requests per low run (default 6)
  --high-prompts N     requests per high run (default 2 x high)
  --pairs N            (low, high) pairs, their order alternating (default 8)
  --warm-up-runs N     discarded runs of each side before the pairs (default 1: a fresh server's
                       first run pays JIT and page faults)
  --input-len I        prompt tokens per request (default 16)
  --output-len O       output tokens per request, EOS ignored (default 64)
  --seed S             prompt seed (default 0)
  --json               print one JSON object (keys: ratio.median, ratio.min, ratio.max, lowOutputTokPerSec, highOutputTokPerSec, pairs, failed)`;

const OPTIONS = {
  url: { type: 'string' }, model: { type: 'string' }, low: { type: 'string' }, high: { type: 'string' },
  'low-prompts': { type: 'string' }, 'high-prompts': { type: 'string' }, pairs: { type: 'string' }, 'warm-up-runs': { type: 'string' },
  'input-len': { type: 'string' }, 'output-len': { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' },
} as const;

function range(s: ScalingSummary, digits: number): string {
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

export function formatScaling(r: ScalingResult): string {
  const lines = r.pairs.map((p, i) => `pair ${i + 1} (${p.first} first): c${r.low.concurrency} ${p.low.outputTokPerSec.toFixed(1)} tok/s, `
    + `TPOT p50 ${p.low.tpotMsP50.toFixed(2)} ms | c${r.high.concurrency} ${p.high.outputTokPerSec.toFixed(1)} tok/s, TPOT p50 ${p.high.tpotMsP50.toFixed(2)} ms, `
    + `TTFT p50 ${p.high.ttftMsP50.toFixed(1)} ms | ratio ${p.ratio.toFixed(2)}`);
  lines.push(`c${r.low.concurrency} ${range(r.lowOutputTokPerSec, 1)} tok/s, c${r.high.concurrency} ${range(r.highOutputTokPerSec, 1)} tok/s (medians, min–max)`);
  lines.push(`c${r.high.concurrency}/c${r.low.concurrency} output tok/s: median ${range(r.ratio, 2)} over ${r.pairs.length} pairs, ${r.failed} requests failed`);
  if (r.firstError !== null) lines.push(`first error: ${r.firstError}`);
  return lines.join('\n');
}

export const command: Command = {
  name: 'bench scaling',
  summary: 'high-concurrency output tok/s as a multiple of low-concurrency, in alternating pairs',
  usage: USAGE,
  async run(argv) {
    const { values: v } = parseFlags(argv, OPTIONS);
    const url = requiredFlag(v.url, 'url', 'bench scaling');
    const low = integerFlag(v.low, 'low', 1, 1);
    const high = integerFlag(v.high, 'high', 32, 1);
    const pairs = integerFlag(v.pairs, 'pairs', 8, 1);
    const r = await runScalingBench({
      url: url.replace(/\/+$/, ''), ...(v.model === undefined ? {} : { model: v.model }),
      low: { concurrency: low, numPrompts: integerFlag(v['low-prompts'], 'low-prompts', 6, 1) },
      high: { concurrency: high, numPrompts: integerFlag(v['high-prompts'], 'high-prompts', 2 * high, 1) },
      pairs, warmUpRuns: integerFlag(v['warm-up-runs'], 'warm-up-runs', 1, 0), inputLen: integerFlag(v['input-len'], 'input-len', 16, 1), outputLen: integerFlag(v['output-len'], 'output-len', 64, 1),
      seed: integerFlag(v.seed, 'seed', 0, 0),
      onRun: (pair, side, res) => process.stderr.write(`${pair < 0 ? 'warm-up' : `pair ${pair + 1}/${pairs}`} c${side === 'low' ? low : high}: ${res.outputTokPerSec.toFixed(1)} tok/s\n`),
    });
    process.stdout.write((v.json ? JSON.stringify(r) : formatScaling(r)) + '\n');
    return r.failed > 0 ? 1 : 0;
  },
};
