/**
 * `xdeepserve serve` as a real child process (issue 4): it prints the bound port in a parseable
 * line, and SIGTERM drains a request in flight (the client gets all its tokens and [DONE]) before
 * the process exits 0; `--api-key` guards /v1; `--kv-cache-dtype` picks the cache's element type. Runs bin/xdeepserve.js, so it needs the compiled dist/ (npm run build).
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import OpenAI from 'openai';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tinyCheckpoint } from './testing.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = `${root}bin/xdeepserve.js`;
const hasDist = existsSync(`${root}dist/cli/main.js`);

let dir: string;
let remove: () => void;
before(async () => { ({ dir, remove } = await tinyCheckpoint('byte')); });
after(() => remove());

/** Reads an SSE response to the end; returns the data payloads. */
async function readSse(res: Response, onFirst: () => void): Promise<string[]> {
  const out: string[] = [];
  let buf = '';
  const decoder = new TextDecoder();
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(part, { stream: true });
    let at: number;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      out.push(buf.slice(0, at).replace(/^data: /, ''));
      buf = buf.slice(at + 2);
      if (out.length === 1) onFirst();
    }
  }
  return out;
}

/** Starts `xdeepserve serve` on the tiny model with extra flags; resolves once it printed its URL. */
async function startServe(extra: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null>; stderr: () => string }> {
  const child = spawn(process.execPath, [bin, 'serve', '--model', dir, '--port', '0', '--backend', 'reference', '--log-level', 'silent', ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s]+) model=(\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
  });
  return { child, url, exited, stderr: () => stderr };
}

it('serve prints its port; SIGTERM drains the request in flight and exits 0', { skip: !hasDist && 'needs npm run build' }, async () => {
  const { child, url, exited, stderr: err } = await startServe([]);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const model = ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data[0]!.id;
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt: 'drain me', max_tokens: 40, temperature: 0, stream: true, stop_token_ids: [], stream_options: { include_usage: true } }),
  });
  assert.equal(res.status, 200);
  const events = await readSse(res, () => child.kill('SIGTERM'));
  assert.equal(events.at(-1), '[DONE]');
  const usage = JSON.parse(events.at(-2)!) as { usage: { completion_tokens: number } };
  const finish = events.slice(0, -1).map((e) => JSON.parse(e) as { choices: { finish_reason: string | null }[] }).flatMap((e) => e.choices.map((c) => c.finish_reason)).filter((f) => f !== null);
  assert.equal(finish.length, 1);
  assert.ok(finish[0] === 'length' ? usage.usage.completion_tokens === 40 : finish[0] === 'stop', `finish ${finish[0]} after ${usage.usage.completion_tokens} tokens`);
  assert.equal(await exited, 0, err());
  assert.match(err(), /draining/);
});

it('--api-key (or $XDS_API_KEY): /v1 needs the bearer key, 401 invalid_api_key otherwise; /health stays open', { skip: !hasDist && 'needs npm run build' }, async () => {
  for (const how of ['flag', 'env'] as const) {
    const s = how === 'flag' ? await startServe(['--api-key', 's3cret']) : await startServe([], { ...process.env, XDS_API_KEY: 's3cret' });
    try {
      const good = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 's3cret', maxRetries: 0 });
      const model = (await good.models.list()).data[0]!.id;
      const r = await good.completions.create({ model, prompt: 'hi', max_tokens: 2, temperature: 0 });
      assert.ok(r.usage!.completion_tokens >= 1, how);
      const bad = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
      await assert.rejects(bad.completions.create({ model, prompt: 'hi', max_tokens: 2 }), (e: InstanceType<typeof OpenAI.AuthenticationError>) => e.status === 401 && e.code === 'invalid_api_key');
      const bare = await fetch(`${s.url}/v1/models`);
      assert.equal(bare.status, 401);
      assert.equal(((await bare.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
      assert.equal((await fetch(`${s.url}/health`)).status, 200);
    } finally {
      s.child.kill('SIGTERM');
      assert.equal(await s.exited, 0, s.stderr());
    }
  }
});

it('--kv-cache-dtype: bfloat16 halves the KV cache and serves; auto follows the checkpoint (float32 here); a bad value names the flag', { skip: !hasDist && 'needs npm run build' }, async () => {
  const mib = (stderr: string, dtype: string): number => Number(new RegExp(`\\(${dtype}, ([0-9.]+) MiB\\)`).exec(stderr)?.[1]);
  const sizes: Record<string, number> = {};
  for (const [flag, dtype] of [['bfloat16', 'bfloat16'], ['auto', 'float32']] as const) {
    const s = await startServe(['--kv-cache-dtype', flag]);
    try {
      const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const model = (await client.models.list()).data[0]!.id;
      const r = await client.completions.create({ model, prompt: 'kv cache', max_tokens: 8, temperature: 0, stop: [] });
      assert.ok(r.usage!.completion_tokens >= 1 && r.choices[0]!.finish_reason !== null, flag);
      sizes[dtype] = mib(s.stderr(), dtype);
    } finally {
      s.child.kill('SIGTERM');
      assert.equal(await s.exited, 0, s.stderr());
    }
  }
  assert.ok(sizes['float32']! > 0 && Math.abs(sizes['bfloat16']! - sizes['float32']! / 2) <= 0.1, JSON.stringify(sizes)); // the log rounds to 0.1 MiB
  const bad = spawn(process.execPath, [bin, 'serve', '--model', dir, '--port', '0', '--kv-cache-dtype', 'fp8'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  bad.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const code = await new Promise<number | null>((resolve) => bad.on('exit', resolve));
  assert.notEqual(code, 0);
  assert.match(err, /--kv-cache-dtype must be auto, float32 or bfloat16, got 'fp8'/);
});
