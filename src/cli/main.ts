/**
 * `xdeepserve` CLI: a table of subcommands, each in cli/commands/NAME.ts, loaded on demand so that
 * `xdeepserve --help` starts fast. Operational errors print their message only (no stack).
 */
import { isXdsError } from '../core/errors.js';
import type { Command } from './command.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  'gen-model': { summary: 'write a deterministic random checkpoint in Hugging Face layout', load: async () => (await import('./commands/gen-model.js')).command },
  generate: { summary: 'generate text from a checkpoint directory', load: async () => (await import('./commands/generate.js')).command },
  'export-gguf': { summary: 'export a checkpoint to GGUF for llama.cpp', load: async () => (await import('./commands/export-gguf.js')).command },
  serve: { summary: 'serve an OpenAI-compatible API', load: async () => (await import('./commands/serve.js')).command },
  bench: { summary: 'benchmarks: kernels | decode | serve | xccl | engine', load: async () => (await import('./commands/bench.js')).command },
};

function topHelp(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return ['usage: xdeepserve <command> [flags]', '', 'commands:', ...lines, '', "Run 'xdeepserve <command> --help' for a command's flags."].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topHelp() + '\n');
    return name === undefined ? 1 : 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`xdeepserve: unknown command '${name}'\n\n${topHelp()}\n`);
    return 2;
  }
  const command = await entry.load();
  if (name !== 'bench' && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(command.usage + '\n');
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (isXdsError(e)) {
      process.stderr.write(`xdeepserve ${name}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
