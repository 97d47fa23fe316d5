/**
 * Entry of one XCCL rank started by launch.ts, as a worker thread (job in workerData) or as a
 * child process (job by IPC). Opens the communicator, runs the named scenario, reports the result.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { isXdsError } from '../../core/errors.js';
import { createCommunicator } from '../communicator.js';
import type { RankJob, RankResult } from './launch.js';
import { SCENARIOS } from './scenarios.js';

async function run(job: RankJob): Promise<RankResult> {
  try {
    const scenario = SCENARIOS[job.scenario];
    if (!scenario) throw new Error(`unknown scenario '${job.scenario}'`);
    const comm = await createCommunicator(job.spec, job.rank, job.options);
    try {
      return { ok: true, value: await scenario(comm, job.params) };
    } finally {
      await comm.close();
    }
  } catch (e) {
    return isXdsError(e) ? { ok: false, code: e.code, message: e.message } : { ok: false, code: 'crash', message: (e as Error).stack ?? String(e) };
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  void run(workerData as RankJob).then((r) => port.postMessage(r));
} else {
  process.once('message', (job) => {
    void run(job as RankJob).then((r) => process.send?.(r, () => process.disconnect()));
  });
}
