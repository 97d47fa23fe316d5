/** `xdeepserve export-gguf` (being built; see the issues). */
import { XdsError } from '../../core/errors.js';
import type { Command } from '../command.js';

export const command: Command = {
  name: 'export-gguf',
  summary: 'export-gguf',
  usage: 'usage: xdeepserve export-gguf (not available yet)',
  run: async () => { throw new XdsError('invalid_argument', 'export-gguf is not available yet'); },
};
