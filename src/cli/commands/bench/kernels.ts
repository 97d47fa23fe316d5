/** `xdeepserve bench kernels` (being built; see the issues). */
import { XdsError } from '../../../core/errors.js';
import type { Command } from '../../command.js';

export const command: Command = {
  name: 'bench kernels',
  summary: 'bench kernels',
  usage: 'usage: xdeepserve bench kernels (not available yet)',
  run: async () => { throw new XdsError('invalid_argument', 'bench kernels is not available yet'); },
};
