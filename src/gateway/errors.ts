/**
 * The ONE place where failures become OpenAI-style error JSON (STYLE.md §9): an XdsError keeps its
 * catalog status and type; a zod validation error names the first bad field; Fastify's own errors
 * (malformed JSON, wrong content type, body too large) keep their 4xx status; anything else is a
 * 500 'internal' whose message does not leak a stack.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { XdsError, isXdsError } from '../core/errors.js';

export interface OpenAiErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly param: string | null; readonly code: string };
}

/** Seconds a client should wait after a 429 (Retry-After). */
export const RETRY_AFTER_SEC = 1;

/** A zod path as the OpenAI param string: messages[0].content. */
export function zodPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

export function fromZodError(e: ZodError): XdsError {
  const issue = e.issues[0];
  const param = issue === undefined ? undefined : zodPath(issue.path);
  const where = param === undefined || param === '' ? 'request body' : `'${param}'`;
  return new XdsError('invalid_argument', `${where}: ${issue?.message ?? 'invalid request'}`, param === undefined || param === '' ? {} : { param });
}

function isFastifyError(e: unknown): e is FastifyError {
  return e instanceof Error && typeof (e as Partial<FastifyError>).code === 'string' && typeof (e as Partial<FastifyError>).statusCode === 'number';
}

/** Any thrown value → an XdsError (the catalog decides status and type). */
export function toXdsError(e: unknown): XdsError {
  if (isXdsError(e)) return e;
  if (e instanceof ZodError) return fromZodError(e);
  if (isFastifyError(e) && (e.statusCode ?? 500) < 500) {
    const body = e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'Content-Type must be application/json' : e.message;
    const code = e.statusCode === 404 ? 'model_not_found' : 'invalid_argument';
    return new XdsError(code, body.startsWith('Body') || e.code.startsWith('FST_ERR_CTP') ? `invalid JSON body: ${body}` : body);
  }
  return new XdsError('internal', 'internal server error', { cause: e });
}

/** Status and body for a failure. Fastify's 413 keeps its status. */
export function errorResponse(e: unknown): { status: number; body: OpenAiErrorBody; headers: Record<string, string> } {
  const x = toXdsError(e);
  const status = isFastifyError(e) && e.statusCode === 413 ? 413 : x.httpStatus;
  const headers: Record<string, string> = x.code === 'overloaded' ? { 'retry-after': String(RETRY_AFTER_SEC) } : {};
  return { status, body: x.toJSON(), headers };
}

/** Fastify error handler: every route's failure goes through here. */
export function sendError(e: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const r = errorResponse(e);
  if (r.status >= 500) request.log.error({ err: e }, 'request failed');
  else request.log.info({ code: r.body.error.code, param: r.body.error.param }, r.body.error.message);
  return reply.status(r.status).headers(r.headers).send(r.body);
}
