/** `xdeepserve bench serve` (being built; see the issues). */
import { XdsError } from '../../../core/errors.js';
import type { Command } from '../../command.js';

export const command: Command = {
  name: 'bench serve',
  summary: 'bench serve',
  usage: 'usage: xdeepserve bench serve (not available yet)',
  run: async () => { throw new XdsError('invalid_argument', 'bench serve is not available yet'); },
};
