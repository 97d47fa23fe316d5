/** `xdeepserve bench` (being built; see the issues). */
import { XdsError } from '../../core/errors.js';
import type { Command } from '../command.js';

export const command: Command = {
  name: 'bench',
  summary: 'bench',
  usage: 'usage: xdeepserve bench (not available yet)',
  run: async () => { throw new XdsError('invalid_argument', 'bench is not available yet'); },
};
