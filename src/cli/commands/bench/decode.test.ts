/** `bench decode` flag checking: every bad flag is an XdsError naming it (no model is loaded). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isXdsError } from '../../../core/errors.js';
import { command } from './decode.js';

test('bench decode names bad flags', async () => {
  await assert.rejects(command.run([]), (e) => isXdsError(e, 'invalid_argument') && e.param === 'model');
  await assert.rejects(command.run(['--model', '/x', '--quantization', 'int4']), (e) => isXdsError(e) && e.param === 'quantization');
  await assert.rejects(command.run(['--model', '/x', '--int8-group', '64']), (e) => isXdsError(e) && e.param === 'int8-group');
  await assert.rejects(command.run(['--model', '/x', '--int8-prefill', 'fast']), (e) => isXdsError(e) && e.param === 'int8-prefill');
  await assert.rejects(command.run(['--model', '/x', '--threads', '0']), (e) => isXdsError(e) && e.param === 'threads');
  await assert.rejects(command.run(['--model', '/nonexistent-xds-model']), (e) => isXdsError(e, 'checkpoint_missing'));
});
