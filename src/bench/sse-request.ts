/**
 * One streamed completion request for the serving benchmark (serve-client.ts), on node:http with
 * a keep-alive agent instead of fetch: the client shares the cores with the server it measures
 * (issue 4 serving-scaling figure), so its per-chunk cost must stay small. Still honest: every
 * SSE event is parsed (JSON.parse) and the time of each chunk that carries text is recorded.
 */
import http from 'node:http';
import https from 'node:https';

/** What one streamed response gave. */
export interface SseOutcome {
  /** HTTP status (0 when no response came). */
  readonly status: number;
  /** [chunks with text] ms since t0 at which each arrived. */
  readonly times: readonly number[];
  readonly usage?: { readonly prompt_tokens: number; readonly completion_tokens: number };
  /** An `error` chunk's message, a transport error, or a non-200 body (first 200 chars). */
  readonly error?: string;
}

interface StreamChunk {
  choices?: { text?: string; delta?: { content?: string } }[];
  usage?: SseOutcome['usage'];
  error?: { message: string };
}

/** A keep-alive connection pool for one benchmark run; `destroy()` it at the end (else idle sockets keep the process up). */
export function keepAliveAgent(url: string): http.Agent {
  return new URL(url).protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
}

/** Accumulates one response's SSE events (`data: <json>\n\n`). */
class SseParser {
  readonly times: number[] = [];
  usage: SseOutcome['usage'];
  error: string | undefined;
  private buf = '';

  constructor(private readonly t0: number) {}

  push(text: string): void {
    const buf = this.buf + text;
    let from = 0;
    let at: number;
    while ((at = buf.indexOf('\n\n', from)) >= 0) {
      this.event(buf.startsWith('data: ', from) ? buf.slice(from + 6, at) : buf.slice(from, at));
      from = at + 2;
    }
    this.buf = from === 0 ? buf : buf.slice(from);
  }

  private event(data: string): void {
    if (data === '[DONE]') return;
    const chunk = JSON.parse(data) as StreamChunk;
    if (chunk.error) this.error = chunk.error.message;
    if (chunk.usage) this.usage = chunk.usage;
    const c = chunk.choices?.[0];
    if ((c?.text ?? c?.delta?.content ?? '') !== '') this.times.push(performance.now() - this.t0);
  }
}

/** POSTs `body` as JSON and reads the SSE stream to its end; never rejects. No agent: a connection of its own. */
export function postSse(url: string, body: unknown, t0: number, agent?: http.Agent): Promise<SseOutcome> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const mod = target.protocol === 'https:' ? https : http;
    const payload = JSON.stringify(body);
    const req = mod.request(target, {
      method: 'POST', agent: agent ?? false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    }, (res) => {
      res.setEncoding('utf8');
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        let text = '';
        res.on('data', (s: string) => { text += s; });
        res.on('end', () => resolve({ status, times: [], error: `HTTP ${status}: ${text.slice(0, 200)}` }));
        return;
      }
      const p = new SseParser(t0);
      res.on('data', (s: string) => {
        try { p.push(s); } catch (e) { req.destroy(e as Error); }
      });
      res.on('end', () => resolve({ status, times: p.times, ...(p.usage ? { usage: p.usage } : {}), ...(p.error !== undefined ? { error: p.error } : {}) }));
      res.on('error', (e) => resolve({ status, times: p.times, error: e.message }));
    });
    req.on('error', (e) => resolve({ status: 0, times: [], error: e.message }));
    req.end(payload);
  });
}
