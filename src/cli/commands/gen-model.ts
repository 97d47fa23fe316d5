/** `xdeepserve gen-model` (being built; see the issues). */
import { XdsError } from '../../core/errors.js';
import type { Command } from '../command.js';

export const command: Command = {
  name: 'gen-model',
  summary: 'gen-model',
  usage: 'usage: xdeepserve gen-model (not available yet)',
  run: async () => { throw new XdsError('invalid_argument', 'gen-model is not available yet'); },
};
