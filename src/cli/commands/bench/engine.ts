/**
 * `xdeepserve bench engine` (issue 4 "Engine"): scheduler time per step as a fraction of step time
 * with N requests running (target ≤ 5% at 64), measured by flowserve/bench-engine.ts. Without
 * --model the runner is the fake paged-KV runner (compute modeled by --forward-us), so the figure
 * is the scheduler and RTC bookkeeping alone; with --model DIR it is a LocalModelRunner on that
 * checkpoint (e.g. from `xdeepserve gen-model --arch llama --preset small`).
 */
import { XdsError } from '../../../core/errors.js';
import { integerFlag, numberFlag, parseFlags, type Command } from '../../command.js';
import { benchEngine, benchNumKvBlocks, formatBench } from '../../../flowserve/bench-engine.js';
import type { ModelRunner } from '../../../flowserve/runner/types.js';
import { FakeRunner } from '../../../flowserve/testing/fake-runner.js';
import { parseBackendKind, type BackendKind } from '../../../kernels/select-backend.js';

const USAGE = `usage: xdeepserve bench engine [--model DIR] [--backend auto|native|reference] [--requests 64] [--prompt N] [--steps N] [--json]
  --model DIR          checkpoint directory (default: the fake paged-KV runner, no model compute)
  --backend B          auto | native | reference, with --model (default auto)
  --requests N         requests running at once (default 64)
  --prompt N           prompt tokens per request (default 32)
  --steps N            decode steps measured at full concurrency (default 50)
  --forward-us N       fake runner only: busy-wait per forward, µs (default 0)
  --json               print one JSON object`;

const BLOCK_SIZE_TOKENS = 16;

export interface EngineBenchFlags {
  readonly modelDir: string | null;
  readonly backend: BackendKind;
  readonly numRequests: number;
  readonly promptTokens: number;
  readonly numSteps: number;
  readonly forwardUs: number;
  readonly json: boolean;
}

export function parseEngineBenchFlags(argv: string[]): EngineBenchFlags {
  const { values } = parseFlags(argv, {
    model: { type: 'string' }, backend: { type: 'string' }, requests: { type: 'string' }, prompt: { type: 'string' },
    steps: { type: 'string' }, 'forward-us': { type: 'string' }, json: { type: 'boolean' },
  });
  if (values.backend !== undefined && values.model === undefined) {
    throw new XdsError('invalid_argument', '--backend applies to --model only (the fake runner has no kernels)', { param: 'backend' });
  }
  return {
    modelDir: values.model ?? null,
    backend: parseBackendKind(values.backend ?? 'auto'),
    numRequests: integerFlag(values.requests, 'requests', 64, 1, 4096),
    promptTokens: integerFlag(values.prompt, 'prompt', 32, 1, 8192),
    numSteps: integerFlag(values.steps, 'steps', 50, 1, 100_000),
    forwardUs: numberFlag(values['forward-us'], 'forward-us', 0, 0, 1e6),
    json: values.json === true,
  };
}

/** A LocalModelRunner over a checkpoint directory (imports kept lazy: the fake path needs none). */
async function modelRunner(dir: string, backend: BackendKind, numBlocks: number): Promise<ModelRunner> {
  const { openCheckpoint } = await import('../../../model/checkpoint.js');
  const { parseModelConfig } = await import('../../../config/model-config.js');
  const { bindModelWeights } = await import('../../../model/model-weights.js');
  const { selectBackend } = await import('../../../kernels/select-backend.js');
  const { LocalModelRunner } = await import('../../../flowserve/runner/model-runner.js');
  const ckpt = openCheckpoint(dir);
  const spec = parseModelConfig({ ...ckpt.configJson });
  const weights = bindModelWeights(spec, ckpt.weights, { dtype: 'keep', includeMtp: false });
  return new LocalModelRunner(spec, weights, selectBackend({ kind: backend }), { numBlocks, blockSizeTokens: BLOCK_SIZE_TOKENS });
}

/** Runs the benchmark and writes its figure (one line, or one JSON object with --json). */
export async function runEngineBench(argv: string[], write: (text: string) => void): Promise<void> {
  const f = parseEngineBenchFlags(argv);
  const numBlocks = benchNumKvBlocks(f.numRequests, f.promptTokens, f.numSteps, BLOCK_SIZE_TOKENS);
  const runner = f.modelDir === null
    ? new FakeRunner({ numBlocks, blockSizeTokens: BLOCK_SIZE_TOKENS, vocabSize: 1024, forwardCostUs: f.forwardUs })
    : await modelRunner(f.modelDir, f.backend, numBlocks);
  const r = benchEngine({ runner, numRequests: f.numRequests, promptTokens: f.promptTokens, numSteps: f.numSteps });
  const label = f.modelDir === null ? `fake runner (forward ${f.forwardUs} µs)` : `${f.modelDir} (${f.backend})`;
  if (!f.json) { write(formatBench(r, label) + '\n'); return; }
  const runnerInfo = f.modelDir === null ? { runner: 'fake', forwardUs: f.forwardUs } : { runner: 'model', model: f.modelDir, backend: f.backend };
  write(JSON.stringify({ kind: 'bench_engine', ...runnerInfo, promptTokens: f.promptTokens, numSteps: f.numSteps, ...r }, null, 2) + '\n');
}

export const command: Command = {
  name: 'bench engine',
  summary: 'scheduler time per step as a fraction of step time, N requests running',
  usage: USAGE,
  async run(argv) {
    await runEngineBench(argv, (text) => process.stdout.write(text));
    return 0;
  },
};
