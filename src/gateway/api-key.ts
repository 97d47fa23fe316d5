/**
 * Bearer-key authentication of the OpenAI routes (vLLM's `--api-key`): with a key set, every
 * /v1/* request must send `Authorization: Bearer <key>`, else 401 `invalid_api_key`; /health,
 * /metrics, /tokenize and /detokenize stay open, as in vLLM (probes and scrapers carry no key).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { XdsError } from '../core/errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export function requireApiKey(app: FastifyInstance, key: string): void {
  // NOTE: equal-length digests compared in constant time, so the check does not leak the key's length or prefix
  const want = digest(`Bearer ${key}`);
  app.addHook('onRequest', async (request) => {
    if (request.method === 'OPTIONS' || (!request.url.startsWith('/v1/') && request.url !== '/v1')) return; // a CORS preflight carries no key
    const got = request.headers.authorization;
    if (typeof got !== 'string' || !timingSafeEqual(digest(got), want)) {
      throw new XdsError('invalid_api_key', 'Incorrect API key provided: send it as Authorization: Bearer <key>');
    }
  });
}
