/** `xdeepserve bench decode` (being built; see the issues). */
import { XdsError } from '../../../core/errors.js';
import type { Command } from '../../command.js';

export const command: Command = {
  name: 'bench decode',
  summary: 'bench decode',
  usage: 'usage: xdeepserve bench decode (not available yet)',
  run: async () => { throw new XdsError('invalid_argument', 'bench decode is not available yet'); },
};
