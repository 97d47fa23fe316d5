/**
 * Test helpers for the gateway: a tiny generated checkpoint (the project's generator, real files)
 * served by a real gateway on a real port (port 0), and a raw JSON POST for bad-input tests.
 */
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCheckpoint, type GenTokenizer } from '../model/generator/write-checkpoint.js';
import { loadServedModel, type ServedModelOptions } from '../serving/served-model.js';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { createGateway, type Gateway, type GatewayOptions } from './server.js';

export interface TestServer {
  readonly gateway: Gateway;
  readonly url: string;
  readonly modelName: string;
  close(): Promise<void>;
}

/** Writes a tiny checkpoint into a fresh temp folder; returns it and a cleanup. */
export async function tinyCheckpoint(tokenizer: GenTokenizer = 'byte', arch = 'deepseek-v3'): Promise<{ dir: string; remove: () => void }> {
  const root = mkdtempSync(join(tmpdir(), 'xds-gw-'));
  const dir = join(root, `tiny-${arch}-${tokenizer}`);
  await generateCheckpoint({ arch, preset: 'tiny', seed: 3, tokenizer, outDir: dir });
  return { dir, remove: () => rmSync(root, { recursive: true, force: true }) };
}

export async function startTestServer(o: ServedModelOptions, gw: Omit<GatewayOptions, 'model'> = {}): Promise<TestServer> {
  const model = loadServedModel({ backend: 'reference', ...o });
  const gateway = createGateway({ logger: 'silent', ...gw, model });
  const { url } = await gateway.listen({ port: 0, host: '127.0.0.1' });
  return { gateway, url, modelName: model.name, close: () => gateway.shutdown() };
}

/**
 * Inside a describe block: the tiny byte-tokenizer model served for the block (before/after hooks)
 * with an `openai` client on it. Read `server` and `client` from the result inside the tests.
 */
export function serveTinyModel(o: Omit<ServedModelOptions, 'dir'> = {}): { readonly server: TestServer; readonly client: OpenAI } {
  let server: TestServer | undefined;
  let client: OpenAI | undefined;
  let remove = (): void => {};
  before(async () => {
    const ckpt = await tinyCheckpoint('byte');
    remove = ckpt.remove;
    server = await startTestServer({ ...o, dir: ckpt.dir });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    await server?.close();
    remove();
  });
  return {
    get server() { return server ?? assert.fail('the server starts in before()'); },
    get client() { return client ?? assert.fail('the client exists after before()'); },
  };
}

/** POSTs `body` (a string is sent as is, so it may be malformed JSON); returns status, headers and parsed JSON. */
export async function postRaw(url: string, body: unknown): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}
