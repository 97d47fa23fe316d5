/**
 * `xdeepserve gen-model`: writes a deterministic random checkpoint in Hugging Face layout
 * (MODELS.md §9) through model/generator/write-checkpoint.ts; progress goes to stderr.
 */
import type { Command } from '../command.js';
import { integerFlag, numberFlag, parseFlags, requiredFlag } from '../command.js';
import { generateCheckpoint, GEN_TOKENIZERS, type GenProgress } from '../../model/generator/write-checkpoint.js';
import { GEN_ARCHS, GEN_VARIANTS } from '../../model/generator/presets.js';

const USAGE = `usage: xdeepserve gen-model --arch ARCH --preset tiny|small --seed N --out DIR [flags]

  --arch ARCH        ${GEN_ARCHS.join(' | ')}
  --preset P         tiny (MODELS.md §9.2 fixtures, seconds) | small (110–130M params: ~450 MiB f32, for benchmarks)
  --seed N           PRNG seed; same flags give byte-identical files
  --out DIR          output directory (created; earlier safetensors in it are replaced)
  --tokenizer T      ${GEN_TOKENIZERS.join(' | ')} (default byte)
  --variant NAME     ${Object.entries(GEN_VARIANTS).filter(([, v]) => v.length > 0).map(([a, v]) => `${a}: ${v.join(', ')}`).join('; ')}
  --dtype D          f32 | bf16 (default f32 for tiny, bf16 for small)
  --max-shard-mb N   shard the safetensors above N MiB (default 200)`;

const OPTIONS = {
  arch: { type: 'string' }, preset: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' },
  tokenizer: { type: 'string' }, variant: { type: 'string' }, dtype: { type: 'string' }, 'max-shard-mb': { type: 'string' },
} as const;


/** A bar redrawn in place on a terminal; a line per 25 % when stderr is a file or a pipe. */
function progressPrinter(): (p: GenProgress) => void {
  const isTty = process.stderr.isTTY === true;
  const step = isTty ? 1 : 25;
  let lastPct = -1;
  return (p) => {
    const mb = (p.bytesDone / 2 ** 20).toFixed(1);
    if (p.phase === 'write') process.stderr.write(`${isTty ? '\n' : ''}gen-model: writing ${mb} MiB of safetensors\n`);
    if (p.phase !== 'build') return;
    const pct = Math.floor((100 * p.tensorsDone) / p.tensorsTotal / step) * step;
    if (pct === lastPct) return;
    lastPct = pct;
    const bar = '#'.repeat(Math.floor(pct / 5)).padEnd(20, '.');
    const line = `gen-model [${bar}] ${String(pct).padStart(3)}%  ${p.tensorsDone}/${p.tensorsTotal} tensors  ${mb} MiB`;
    process.stderr.write(isTty ? `\r${line}` : `${line}\n`);
  };
}

export const command: Command = {
  name: 'gen-model',
  summary: 'write a deterministic random checkpoint in Hugging Face layout',
  usage: USAGE,
  async run(argv) {
    const { values } = parseFlags(argv, OPTIONS);
    const seed = integerFlag(requiredFlag(values.seed, 'seed', 'gen-model'), 'seed', 0, 0, Number.MAX_SAFE_INTEGER);
    const shardMb = numberFlag(values['max-shard-mb'], 'max-shard-mb', 200, 1);
    const t0 = Date.now();
    const r = await generateCheckpoint({
      arch: requiredFlag(values.arch, 'arch', 'gen-model'), preset: requiredFlag(values.preset, 'preset', 'gen-model'), seed, outDir: requiredFlag(values.out, 'out', 'gen-model'),
      tokenizer: values.tokenizer, variant: values.variant, dtype: values.dtype, maxShardBytes: shardMb * 2 ** 20,
      onProgress: progressPrinter(),
    });
    const mb = (r.totalBytes / 2 ** 20).toFixed(1);
    process.stderr.write(`gen-model: ${r.numTensors} tensors, ${mb} MiB, vocab ${r.spec.vocabSize} → ${r.dir} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    return 0;
  },
};
