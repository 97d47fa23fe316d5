/** `xdeepserve export-gguf` end to end on a generated tiny checkpoint, and its errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isXdsError } from '../../core/errors.js';
import { generateCheckpoint } from '../../model/generator/write-checkpoint.js';
import { ggufValueOf, readGguf } from '../../model/gguf/reader.js';
import { main } from '../main.js';
import { command } from './export-gguf.js';

test('export-gguf writes a deepseek2 GGUF from a generated checkpoint (f32 and q8_0)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xds-export-'));
  try {
    const model = join(dir, 'model');
    await generateCheckpoint({ arch: 'deepseek-v3', preset: 'tiny', seed: 1, tokenizer: 'byte', outDir: model });
    for (const type of ['f32', 'q8_0']) {
      const out = join(dir, `m.${type}.gguf`);
      assert.equal(await command.run(['--model', model, '--out', out, '--type', type]), 0);
      const file = readGguf(out);
      assert.equal(ggufValueOf(file, 'general.architecture'), 'deepseek2');
      assert.equal(ggufValueOf(file, 'deepseek2.block_count'), 3);
      assert.equal(ggufValueOf(file, 'tokenizer.ggml.model'), 'gpt2');
      assert.equal((ggufValueOf(file, 'tokenizer.ggml.tokens') as string[]).length, file.tensors.find((t) => t.name === 'token_embd.weight')?.dims[1]);
      assert.equal(file.tensors.some((t) => t.type === 'q8_0'), type === 'q8_0');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('export-gguf: a bad model dir, a missing flag, a bad --type are clear errors naming the cause', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xds-export-bad-'));
  try {
    const out = join(dir, 'x.gguf');
    await assert.rejects(command.run(['--model', join(dir, 'nope'), '--out', out]), (e) => isXdsError(e, 'checkpoint_missing') && e.message.includes('nope'));
    await assert.rejects(command.run(['--model', dir, '--out', out]), (e) => isXdsError(e, 'checkpoint_missing') && e.message.includes('config.json'));
    writeFileSync(join(dir, 'config.json'), '{ not json');
    await assert.rejects(command.run(['--model', dir, '--out', out]), (e) => isXdsError(e, 'checkpoint_corrupt') && e.message.includes('config.json'));
    await assert.rejects(command.run(['--out', out]), (e) => isXdsError(e, 'invalid_argument') && e.param === 'model');
    await assert.rejects(command.run(['--model', dir, '--out', out, '--type', 'q4_k']), (e) => isXdsError(e, 'invalid_argument') && e.param === 'type');
    // Through the CLI table: exit code 2, message only.
    const write = process.stderr.write.bind(process.stderr);
    let stderr = '';
    process.stderr.write = ((s: string) => { stderr += s; return true; }) as typeof process.stderr.write;
    let code: number;
    try {
      code = await main(['export-gguf', '--model', join(dir, 'nope'), '--out', out]);
    } finally {
      process.stderr.write = write;
    }
    assert.equal(code, 2);
    assert.match(stderr, /^xdeepserve export-gguf: model directory .*nope does not exist\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
