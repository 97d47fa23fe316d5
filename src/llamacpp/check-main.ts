/**
 * Entry of `npm run check:llamacpp` (scripts/check-llamacpp.mjs): installs node-llama-cpp@3.21.1
 * on demand, runs every check case (check-cases.ts) and prints per architecture tokens identical
 * yes/no, the max probability difference and PASS/FAIL, then the total time. Exit code 1 on any
 * failure. Then tokenizer parity: the byte-level, Qwen3 and DeepSeek-V3 tokenizers exported as GGUF
 * keys must tokenize varied text in llama.cpp exactly as ours do. Flags: --engine runner|reference, --backend reference|native|auto, --only NAME (a model name prefix, or 'tokenizer'), --steps N, --keep (keep the temp dir).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { XdsError } from '../core/errors.js';
import { parseBackendKind, type BackendKind } from '../kernels/select-backend.js';
import { CHECK_CASES } from './check-cases.js';
import { formatResult, runCheckCase, type CheckResult } from './check.js';
import type { EngineName } from './engines.js';
import { formatParity, runTokenizerParity, TOKENIZER_KINDS } from './tokenizer-check.js';
import { ensureLlamaCpp, NODE_LLAMA_CPP_VERSION } from './install.js';

interface MainOptions { engine: EngineName; backend: BackendKind; only: string | undefined; steps: number | undefined; keep: boolean }

function options(argv: string[]): MainOptions {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: { engine: { type: 'string' }, backend: { type: 'string' }, only: { type: 'string' }, steps: { type: 'string' }, keep: { type: 'boolean' } },
  });
  const engine = values.engine ?? 'runner';
  if (engine !== 'runner' && engine !== 'reference') throw new XdsError('invalid_argument', `--engine must be runner or reference, got '${engine}'`, { param: 'engine' });
  const steps = values.steps === undefined ? undefined : Number(values.steps);
  if (steps !== undefined && !(Number.isInteger(steps) && steps > 0)) throw new XdsError('invalid_argument', `--steps must be a positive integer`, { param: 'steps' });
  return { engine, backend: parseBackendKind(values.backend ?? 'reference'), only: values.only, steps, keep: values.keep ?? false };
}

export async function checkLlamaCppMain(argv: string[]): Promise<number> {
  const o = options(argv);
  const t0 = performance.now();
  const install = ensureLlamaCpp(undefined, (l) => process.stdout.write(`${l}\n`));
  process.stdout.write(`node-llama-cpp ${NODE_LLAMA_CPP_VERSION} in ${install.dir} (${install.installed ? `installed in ${install.seconds.toFixed(1)} s` : 'already installed'}); threads 1, flashAttention false\n\n`);
  const workDir = mkdtempSync(join(tmpdir(), 'xds-llamacpp-check-'));
  const results: CheckResult[] = [];
  let numTokenizerFailures = 0;
  let numTokenizers = 0;
  try {
    for (const c of CHECK_CASES.filter((x) => o.only === undefined || x.name.startsWith(o.only))) {
      const r = await runCheckCase(c, { workDir, engine: o.engine, backend: o.backend, steps: o.steps });
      results.push(r);
      process.stdout.write(formatResult(r) + '\n\n');
    }
    if (o.only === undefined || o.only === 'tokenizer') {
      for (const kind of TOKENIZER_KINDS) {
        const r = await runTokenizerParity(kind, workDir);
        numTokenizers++;
        if (r.numIdentical !== r.numTexts) numTokenizerFailures++;
        process.stdout.write(formatParity(r) + '\n');
      }
    }
  } finally {
    if (!o.keep) rmSync(workDir, { recursive: true, force: true });
    else process.stdout.write(`kept ${workDir}\n`);
  }
  const failed = results.filter((r) => !r.pass).length + numTokenizerFailures;
  const total = (performance.now() - t0) / 1000;
  process.stdout.write(`${failed === 0 ? 'ALL PASS' : `${failed} FAILED`}: ${results.length} models, ${numTokenizers} tokenizers, total ${total.toFixed(1)} s (install included)\n`);
  return failed === 0 && results.length + numTokenizers > 0 ? 0 : 1;
}
