/** `xdeepserve generate` (being built; see the issues). */
import { XdsError } from '../../core/errors.js';
import type { Command } from '../command.js';

export const command: Command = {
  name: 'generate',
  summary: 'generate',
  usage: 'usage: xdeepserve generate (not available yet)',
  run: async () => { throw new XdsError('invalid_argument', 'generate is not available yet'); },
};
