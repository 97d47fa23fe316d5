/**
 * Server-sent events as OpenAI streams them: `data: <json>\n\n` per chunk, `data: [DONE]\n\n` at
 * the end. Written straight to the socket from the engine's sink (the output shortcut, paper §1.3
 * step 9); a closed socket makes every write a no-op.
 */
import type { ServerResponse } from 'node:http';
import { RawJson } from './chunk-json.js';

export class SseWriter {
  private isOpen = false;

  constructor(private readonly res: ServerResponse) {}

  /** Sends the status line and headers (once). */
  open(): void {
    if (this.isOpen) return;
    this.isOpen = true;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
  }

  get isClosed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  /** One event; a RawJson chunk is written as is, anything else through JSON.stringify. */
  send(chunk: unknown): void {
    this.open();
    if (!this.isClosed) this.res.write(`data: ${chunk instanceof RawJson ? chunk.json : JSON.stringify(chunk)}\n\n`);
  }

  /** `data: [DONE]` and end of the response. */
  done(): void {
    this.open();
    if (!this.isClosed) this.res.end('data: [DONE]\n\n');
  }
}
