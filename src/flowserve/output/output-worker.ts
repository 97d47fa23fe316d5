/**
 * The output worker of a DP group (paper notes §2.5.1: the DP master's forked output child that
 * detokenizes, parses reasoning and tool calls, and streams straight to the frontend), here a
 * worker thread, so detokenization never delays the engine's steps. The engine thread only
 * forwards its events; a matched stop string comes back as a delta with `stopMatched`, and the
 * owner then aborts the request (vLLM v1 does the same): a few tokens may be generated past the
 * stop string, but none is shown, and the finish reason stays 'stop'.
 *
 * Usage:
 *   const worker = await OutputWorker.start({ tokenizerDir });
 *   const sink = worker.open(id, { promptIds, stop, toolParser: 'hermes' }, send, () => engine.abort(id));
 *   engine.addRequest({ id, promptTokenIds, maxTokens, stopTokenIds }, sink);
 *   await worker.close();
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { XdsError } from '../../core/errors.js';
import type { EngineEvent, EventSink } from '../engine-types.js';
import type { OutputSend } from './request-output.js';
import type { FromOutputWorker, OutputWorkerData, PortableOutputOptions, ToOutputWorker } from './output-worker-protocol.js';

interface OpenRequest {
  readonly send: OutputSend;
  readonly onStopMatched: () => void;
}

/** The worker entry next to this file; under tsx (a .ts file) the worker registers tsx first. */
function startThread(data: OutputWorkerData): Worker {
  const here = fileURLToPath(import.meta.url);
  const isTs = here.endsWith('.ts');
  const entry = here.replace(/output-worker\.(ts|js)$/, `output-worker-main.${isTs ? 'ts' : 'js'}`);
  if (!isTs) return new Worker(entry, { workerData: data });
  const code = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(entry).href)}); })`;
  return new Worker(code, { eval: true, workerData: data });
}

export class OutputWorker {
  private readonly open_ = new Map<string, OpenRequest>();
  private exitError: Error | null = null;
  private readonly ready: Promise<void>;
  private onReady: { resolve: () => void; reject: (e: Error) => void } | null = null;

  private constructor(private readonly worker: Worker) {
    this.ready = new Promise<void>((resolve, reject) => { this.onReady = { resolve, reject }; });
    worker.on('message', (m: FromOutputWorker) => this.onMessage(m));
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new Error(`output worker exited with code ${code}`)));
  }

  /** Starts the thread and waits until it has loaded the tokenizer. */
  static async start(opts: { readonly tokenizerDir: string }): Promise<OutputWorker> {
    const w = new OutputWorker(startThread({ kind: 'output-worker', tokenizerDir: opts.tokenizerDir }));
    await w.ready;
    return w;
  }

  /** Opens a request; returns the engine sink that forwards its events to the worker. */
  open(requestId: string, options: PortableOutputOptions, send: OutputSend, onStopMatched: () => void = () => {}): EventSink {
    if (this.exitError !== null) throw new XdsError('internal', `output worker is gone: ${this.exitError.message}`);
    if (this.open_.has(requestId)) throw new XdsError('invalid_argument', `request ${requestId} is already open`, { param: 'requestId' });
    this.open_.set(requestId, { send, onStopMatched });
    this.post({ kind: 'open', requestId, options });
    return (event: EngineEvent) => this.post({ kind: 'event', event });
  }

  get numOpen(): number {
    return this.open_.size;
  }

  /** Ends the thread once it has handled everything posted so far. */
  async close(): Promise<void> {
    if (this.exitError !== null) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.post({ kind: 'close' });
    await exited;
  }

  private post(m: ToOutputWorker): void {
    this.worker.postMessage(m);
  }

  /** The thread died or ended: every open request gets an 'error' (no 'final' will come). */
  private fail(e: Error): void {
    this.exitError ??= e;
    this.onReady?.reject(new XdsError('internal', e.message));
    this.onReady = null;
    for (const [requestId, req] of this.open_) req.send({ kind: 'error', requestId, code: 'internal', message: `output worker failed: ${e.message}` });
    this.open_.clear();
  }

  private onMessage(m: FromOutputWorker): void {
    if (m.kind === 'ready' || (m.kind === 'failed' && m.requestId === null)) return this.settleReady(m);
    const req = m.requestId === null ? undefined : this.open_.get(m.requestId);
    if (req === undefined) return;
    if (m.kind === 'failed') return req.send({ kind: 'error', requestId: m.requestId ?? '', code: m.code, message: `output worker: ${m.message}` });
    if (m.kind === 'delta' && m.delta.stopMatched !== null) req.onStopMatched();
    if (m.kind === 'final') this.open_.delete(m.requestId);
    req.send(m);
  }

  private settleReady(m: Extract<FromOutputWorker, { kind: 'ready' | 'failed' }>): void {
    if (m.kind === 'ready') this.onReady?.resolve();
    else this.onReady?.reject(new XdsError(m.code, `output worker: ${m.message}`, { param: 'tokenizerDir' }));
    this.onReady = null;
  }
}
