import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '../../model/tokenizer.js';
import { loadChatTemplate } from '../../model/chat-template.js';

// End to end through the real binary (bin/xdeepserve.js → dist/): run `npm run build` first.
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const bin = join(repoRoot, 'bin', 'xdeepserve.js');
const root = mkdtempSync(join(tmpdir(), 'xds-cli-generate-'));
const modelDir = join(root, 'model');
test.after(() => rmSync(root, { recursive: true, force: true }));

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, XDS_NO_NATIVE: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function cleanError(r: { code: number | null; stdout: string; stderr: string }, mention: string): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0]!.includes(mention), lines[0]);
  assert.ok(!/\n\s+at /.test(r.stderr));
}

const JSON_ARGS = ['--prompt', 'The cat sat on', '--max-tokens', '8', '--temperature', '0', '--json', '--backend', 'reference'];

test('gen-model writes a tiny checkpoint with progress on stderr', () => {
  const r = cli('gen-model', '--arch', 'qwen3-moe', '--preset', 'tiny', '--seed', '4', '--out', modelDir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /100%/);
  assert.match(r.stderr, /tensors/);
  assert.equal(r.stdout, '');
});

test('generate --json prints one parseable object; greedy output is deterministic', () => {
  const a = cli('generate', '--model', modelDir, ...JSON_ARGS);
  assert.equal(a.code, 0, a.stderr);
  const out = JSON.parse(a.stdout) as Record<string, unknown>;
  for (const key of ['text', 'tokenIds', 'promptTokenIds', 'decodeTokensPerSec', 'prefillTokensPerSec']) assert.ok(key in out, key);
  const tok = loadTokenizer(modelDir);
  assert.deepEqual(out['promptTokenIds'], tok.encode('The cat sat on'));
  const ids = out['tokenIds'] as number[];
  assert.ok(ids.length >= 1 && ids.length <= 8);
  assert.equal(typeof out['text'], 'string');
  assert.ok((out['prefillTokensPerSec'] as number) > 0);
  const b = cli('generate', '--model', modelDir, ...JSON_ARGS);
  assert.deepEqual((JSON.parse(b.stdout) as Record<string, unknown>)['tokenIds'], ids);
});

test('generate --chat renders one user turn with the generation prompt', () => {
  const r = cli('generate', '--model', modelDir, ...JSON_ARGS, '--chat');
  assert.equal(r.code, 0, r.stderr);
  const tok = loadTokenizer(modelDir);
  const rendered = loadChatTemplate(modelDir)!.render({ messages: [{ role: 'user', content: 'The cat sat on' }], addGenerationPrompt: true });
  const out = JSON.parse(r.stdout) as { promptTokenIds: number[] };
  assert.deepEqual(out.promptTokenIds, tok.encode(rendered, { addSpecialTokens: false }));
  assert.ok(out.promptTokenIds.includes(tok.tokenToId('<|im_start|>')!));
});

test('generate streams text and ends with a tokens/s line', () => {
  const r = cli('generate', '--model', modelDir, '--prompt', 'Hello', '--max-tokens', '4', '--seed', '1', '--backend', 'reference');
  assert.equal(r.code, 0, r.stderr);
  const last = r.stdout.trimEnd().split('\n').pop()!;
  assert.match(last, /^\[prefill: \d+ tokens, [\d.]+ tok\/s \| decode: \d+ tokens, [\d.]+ tok\/s \| finish: (stop|length)\]$/);
});

test('bad model directories and bad flags give one clean line and exit code 2', () => {
  cleanError(cli('generate', '--model', join(root, 'nope'), '--prompt', 'x'), 'does not exist');
  const corrupt = join(root, 'corrupt');
  mkdirSync(corrupt);
  writeFileSync(join(corrupt, 'config.json'), '{ not json');
  cleanError(cli('generate', '--model', corrupt, '--prompt', 'x'), 'config.json');
  cleanError(cli('generate', '--model', modelDir, '--prompt', 'x', '--temperature', 'hot'), '--temperature');
  cleanError(cli('generate', '--prompt', 'x'), '--model');
  cleanError(cli('generate', '--model', modelDir, '--prompt', 'a b '.repeat(3000)), 'context holds 4096');
  cleanError(cli('gen-model', '--arch', 'gpt2', '--preset', 'tiny', '--seed', '1', '--out', join(root, 'x')), '--arch');
});

test('generate --quantization int8 quantizes once at load, reports the size, and still generates', () => {
  const r = cli('generate', '--model', modelDir, ...JSON_ARGS, '--quantization', 'int8');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /int8/i);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  const ids = out['tokenIds'] as number[];
  assert.ok(ids.length >= 1 && ids.length <= 8);
  cleanError(cli('generate', '--model', modelDir, '--prompt', 'x', '--quantization', 'int4'), '--quantization');
});

test('generate --threads takes a positive integer and names the flag otherwise', () => {
  const r = cli('generate', '--model', modelDir, ...JSON_ARGS, '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  assert.ok((JSON.parse(r.stdout) as { tokenIds: number[] }).tokenIds.length >= 1);
  cleanError(cli('generate', '--model', modelDir, '--prompt', 'x', '--threads', '0'), '--threads');
  cleanError(cli('generate', '--model', modelDir, '--prompt', 'x', '--threads', '1.5'), '--threads');
});
