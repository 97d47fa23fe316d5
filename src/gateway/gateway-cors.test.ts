/**
 * CORS through a real server: by default (as vLLM) any origin may call, streams included, and a
 * preflight OPTIONS answers 204 with the methods and headers; narrowed origins get the header only
 * for themselves; with an API key, the preflight (which carries none) still passes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, tinyCheckpoint, type TestServer } from './testing.js';

let dir: string;
let remove: () => void;
before(async () => { ({ dir, remove } = await tinyCheckpoint('byte')); });
after(() => remove());

const post = (url: string, origin: string, body: unknown, extra: Record<string, string> = {}): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', origin, ...extra }, body: JSON.stringify(body) });

describe('CORS, default: any origin', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ dir, numKvBlocks: 32 }); });
  after(() => server.close());

  it('JSON and SSE responses allow the origin; the preflight answers 204', async () => {
    const body = { model: server.modelName, prompt: 'hi', max_tokens: 2 };
    const plain = await post(`${server.url}/v1/completions`, 'https://app.example', body);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get('access-control-allow-origin'), '*');
    const sse = await post(`${server.url}/v1/completions`, 'https://app.example', { ...body, stream: true });
    assert.equal(sse.headers.get('access-control-allow-origin'), '*');
    await sse.text();
    const pre = await fetch(`${server.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(pre.headers.get('access-control-allow-headers'), 'authorization, content-type');
  });
});

describe('CORS, narrowed origins and an API key', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ dir, numKvBlocks: 32 }, { allowedOrigins: ['https://a.example'], apiKey: 'k' }); });
  after(() => server.close());

  it('only the listed origin is allowed; the preflight needs no key', async () => {
    const body = { model: server.modelName, prompt: 'hi', max_tokens: 2 };
    const ok = await post(`${server.url}/v1/completions`, 'https://a.example', body, { authorization: 'Bearer k' });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://a.example');
    const other = await post(`${server.url}/v1/completions`, 'https://b.example', body, { authorization: 'Bearer k' });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const pre = await fetch(`${server.url}/v1/completions`, { method: 'OPTIONS', headers: { origin: 'https://a.example', 'access-control-request-method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://a.example');
  });
});
