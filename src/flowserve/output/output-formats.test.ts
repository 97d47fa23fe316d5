import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inferOutputFormats, inferOutputFormatsFromDir } from './output-formats.js';
import { realTokenizerDir } from '../../model/real-tokenizers.js';
import { writeByteLevelTokenizer } from '../../model/byte-tokenizer.js';

test('real checkpoints: DeepSeek-V3 → deepseek_v3 without reasoning; Qwen3 → hermes with qwen3 reasoning', () => {
  assert.deepEqual(inferOutputFormatsFromDir(realTokenizerDir('deepseek-v3')), { toolParser: 'deepseek_v3' });
  assert.deepEqual(inferOutputFormatsFromDir(realTokenizerDir('qwen3')), { toolParser: 'hermes', reasoning: 'qwen3' });
});

test('templates by their markers; a folder without a template gives nothing', () => {
  const v31 = "{{'<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['function']['name'] + '<｜tool▁sep｜>' + tool['function']['arguments'] + '<｜tool▁call▁end｜>'}}<think>";
  assert.deepEqual(inferOutputFormats(v31), { toolParser: 'deepseek_v31', reasoning: 'qwen3' });
  assert.deepEqual(inferOutputFormats('{{ messages[0].content }}'), {});
  const dir = mkdtempSync(join(tmpdir(), 'xds-formats-'));
  try {
    assert.deepEqual(inferOutputFormatsFromDir(dir), {});
    writeByteLevelTokenizer(dir);
    assert.deepEqual(inferOutputFormatsFromDir(dir), { toolParser: 'hermes' });
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: [{ name: 'default', template: 'x' }, { name: 'tool_use', template: '<tool_call>' }] }));
    assert.deepEqual(inferOutputFormatsFromDir(dir), { toolParser: 'hermes' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
