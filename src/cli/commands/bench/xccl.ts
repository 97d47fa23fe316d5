/** `xdeepserve bench xccl` (being built; see the issues). */
import { XdsError } from '../../../core/errors.js';
import type { Command } from '../../command.js';

export const command: Command = {
  name: 'bench xccl',
  summary: 'bench xccl',
  usage: 'usage: xdeepserve bench xccl (not available yet)',
  run: async () => { throw new XdsError('invalid_argument', 'bench xccl is not available yet'); },
};
