/** `xdeepserve bench <kind>`: dispatches to cli/commands/bench/KIND.ts. */
import { XdsError } from '../../core/errors.js';
import type { Command } from '../command.js';

const KINDS: Record<string, () => Promise<Command>> = {
  kernels: async () => (await import('./bench/kernels.js')).command,
  decode: async () => (await import('./bench/decode.js')).command,
  serve: async () => (await import('./bench/serve.js')).command,
  scaling: async () => (await import('./bench/scaling.js')).command,
  xccl: async () => (await import('./bench/xccl.js')).command,
  engine: async () => (await import('./bench/engine.js')).command,
};

export const command: Command = {
  name: 'bench',
  summary: `benchmarks: ${Object.keys(KINDS).join(' | ')}`,
  usage: `usage: xdeepserve bench <${Object.keys(KINDS).join('|')}> [flags]   (xdeepserve bench KIND --help)`,
  async run(argv) {
    const [kind, ...rest] = argv;
    const load = kind === undefined ? undefined : KINDS[kind];
    if (!load) throw new XdsError('invalid_argument', `bench needs one of ${Object.keys(KINDS).join(', ')}; got '${kind ?? ''}'`, { param: 'kind' });
    const sub = await load();
    if (rest.includes('--help')) { process.stdout.write(sub.usage + '\n'); return 0; }
    return sub.run(rest);
  },
};
