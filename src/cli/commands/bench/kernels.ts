/**
 * `xdeepserve bench kernels [--json]` (issue 3): each native kernel's GB/s or GFLOP/s next to a
 * memory-read probe and a peak-FMA probe measured in the same process, printed as fractions.
 * Targets: int8 GEMV ≥ 90 % of the read probe. Figures, never a pass/fail test.
 */
import { XdsError } from '../../../core/errors.js';
import { numberFlag, parseFlags, type Command } from '../../command.js';
import { defaultNumThreads, loadKernelsAddon, nativeBackend } from '../../../kernels/native.js';
import { runKernelBench, type KernelBenchReport } from '../../../kernels/kernel-bench.js';

const USAGE = `usage: xdeepserve bench kernels [--json] [--threads N] [--dim N] [--seconds S] [--cold-mib M] [--avx2-only]
  --threads N     threads per kernel call (default: the cores available, here ${defaultNumThreads()})
  --dim N         side of the square weight matrices (default 4096)
  --seconds S     measuring time per kernel (default 0.5)
  --cold-mib M    MiB each GEMV rotation and the read probe cover, > L3 (default 128)
  --avx2-only     do not use the AVX-512 VNNI variants
  --json          print one JSON object instead of a table`;

function printTable(r: KernelBenchReport): void {
  const lines = [
    `backend ${r.backend}`,
    `read probe ${r.readProbeGBs.toFixed(1)} GB/s, FMA probe ${r.fmaProbeGFlops.toFixed(1)} GFLOP/s (${r.numThreads} threads); weights ${r.hugePages ? 'on huge pages' : 'on 4 KiB pages'}`,
    '',
    `${'kernel'.padEnd(52)} ${'value'.padStart(9)} ${'unit'.padEnd(8)} ${'of probe'.padStart(8)} ${'median µs'.padStart(10)}`,
    ...r.figures.map((f) => `${f.name.padEnd(52)} ${f.value.toFixed(1).padStart(9)} ${f.unit.padEnd(8)} ${(f.fraction * 100).toFixed(0).padStart(7)}% ${f.medianUs.toFixed(0).padStart(10)}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

export const command: Command = {
  name: 'bench kernels',
  summary: 'native kernel GB/s and GFLOP/s against read and FMA probes',
  usage: USAGE,
  async run(argv) {
    const { values } = parseFlags(argv, {
      json: { type: 'boolean' }, threads: { type: 'string' }, dim: { type: 'string' },
      seconds: { type: 'string' }, 'cold-mib': { type: 'string' }, 'avx2-only': { type: 'boolean' },
    });
    const numThreads = numberFlag(values.threads, 'threads', defaultNumThreads(), 1, 256);
    const opts = {
      numThreads: Math.floor(numThreads),
      dim: Math.floor(numberFlag(values.dim, 'dim', 4096, 16, 16384)),
      seconds: numberFlag(values.seconds, 'seconds', 0.5, 0.001, 60),
      coldBytes: Math.floor(numberFlag(values['cold-mib'], 'cold-mib', 128, 1, 4096) * 2 ** 20),
    };
    const addon = loadKernelsAddon();
    const backend = nativeBackend({ numThreads: opts.numThreads, avx2Only: values['avx2-only'] === true });
    if (!addon || !backend) throw new XdsError('invalid_config', "bench kernels needs the native addon (build/kernels.node); run 'npm run build:native'", { param: 'backend' });
    const report = runKernelBench(backend, addon, opts);
    if (values.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else printTable(report);
    return 0;
  },
};
