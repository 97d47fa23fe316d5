/** `xdeepserve serve` (being built; see the issues). */
import { XdsError } from '../../core/errors.js';
import type { Command } from '../command.js';

export const command: Command = {
  name: 'serve',
  summary: 'serve',
  usage: 'usage: xdeepserve serve (not available yet)',
  run: async () => { throw new XdsError('invalid_argument', 'serve is not available yet'); },
};
