/**
 * Entry of the output worker thread (paper notes §2.5.1, output shortcut): loads the tokenizer once,
 * keeps one OutputProcessor per open request, turns engine events into OutputMessages. Started by
 * output-worker.ts; protocol in output-worker-protocol.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isXdsError, type ErrorCode } from '../../core/errors.js';
import { loadTokenizer, type TextTokenizer } from '../../model/tokenizer.js';
import { OutputProcessor } from './output-processor.js';
import { RequestOutput } from './request-output.js';
import type { FromOutputWorker, OutputWorkerData, ToOutputWorker } from './output-worker-protocol.js';

const port = parentPort!;
const post = (m: FromOutputWorker): void => port.postMessage(m);
const requests = new Map<string, RequestOutput>();
const codeOf = (e: unknown): ErrorCode => (isXdsError(e) ? e.code : 'internal');

function open(tokenizer: TextTokenizer, m: Extract<ToOutputWorker, { kind: 'open' }>): void {
  const processor = new OutputProcessor({ ...m.options, tokenizer });
  requests.set(m.requestId, new RequestOutput(m.requestId, processor, post));
}

function onEvent(m: Extract<ToOutputWorker, { kind: 'event' }>): void {
  const out = requests.get(m.event.requestId);
  if (out === undefined) return post({ kind: 'failed', requestId: m.event.requestId, code: 'internal', message: `no open request ${m.event.requestId}` });
  out.sink(m.event);
  if (m.event.kind === 'finished') requests.delete(m.event.requestId);
}

function handle(tokenizer: TextTokenizer, m: ToOutputWorker): void {
  try {
    if (m.kind === 'open') open(tokenizer, m);
    else if (m.kind === 'event') onEvent(m);
    else port.close();
  } catch (e) {
    const requestId = m.kind === 'open' ? m.requestId : m.kind === 'event' ? m.event.requestId : null;
    post({ kind: 'failed', requestId, code: codeOf(e), message: (e as Error)?.message ?? String(e) });
  }
}

const data = workerData as OutputWorkerData;
try {
  const tokenizer = loadTokenizer(data.tokenizerDir);
  port.on('message', (m: ToOutputWorker) => handle(tokenizer, m));
  post({ kind: 'ready' });
} catch (e) {
  post({ kind: 'failed', requestId: null, code: codeOf(e), message: (e as Error)?.message ?? String(e) });
  port.close();
}
