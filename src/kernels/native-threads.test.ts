/**
 * The addon's pool under concurrent callers (ARCHITECTURE.md: ranks are worker threads in one
 * process): two worker_threads run 2-thread int8 and f32 GEMVs at the same time; one wins the pool,
 * the other runs its tasks itself. Both must get exactly the single-threaded result (output rows
 * are split between threads, never partial sums), and per-thread scratch must not be shared.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { requireNative } from './native-test-util.js';

/** Worker body (CommonJS eval): builds the same weights from a seed, runs `calls` matmuls, returns y. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  if (workerData.useTsx) (await import('tsx/esm/api')).register();
  const { nativeBackend } = await import(workerData.nativeUrl);
  const { quantizeLinearInt8 } = await import(workerData.quantizeUrl);
  const nb = nativeBackend({ numThreads: 2, quiet: true });
  const { outDim, inDim, seed, calls, format } = workerData;
  let s = seed;
  const rand = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return (s / 4294967296) * 2 - 1; };
  const f32 = { format: 'f32', outDim, inDim, data: Float32Array.from({ length: outDim * inDim }, rand) };
  const w = format === 'int8' ? quantizeLinearInt8(f32, 32) : f32;
  const x = Float32Array.from({ length: inDim }, rand), y = new Float32Array(outDim);
  for (let i = 0; i < calls; i++) nb.matmul(x, w, y, 1);
  parentPort.postMessage(y);
})().catch((e) => { throw e; });
`;

function runWorker(data: Record<string, unknown>): Promise<Float32Array> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: data });
    w.once('message', (y: Float32Array) => { resolve(y); void w.terminate(); });
    w.once('error', reject);
  });
}

test('two worker threads share the pool and get the single-threaded results', { skip: !requireNative(1) }, async () => {
  const useTsx = import.meta.url.endsWith('.ts'); // source under tsx, or dist/
  const ext = useTsx ? '.ts' : '.js';
  const urls = { useTsx, nativeUrl: new URL(`./native${ext}`, import.meta.url).href, quantizeUrl: new URL(`./quantize${ext}`, import.meta.url).href };
  // 1280 KiB and more of weights: above matmul.c's WAKE_MIN_BYTES, so the pool is used.
  const jobs = [{ format: 'int8', seed: 1 }, { format: 'f32', seed: 2 }].map((j) => ({ ...urls, ...j, outDim: 1024, inDim: 1280 }));
  const concurrent = await Promise.all(jobs.map((j) => runWorker({ ...j, calls: 150 })));
  const alone = [];
  for (const j of jobs) alone.push(await runWorker({ ...j, calls: 1 }));
  assert.deepEqual(concurrent[0], alone[0]);
  assert.deepEqual(concurrent[1], alone[1]);
  assert.ok(concurrent[0]!.some((v) => v !== 0));
});
