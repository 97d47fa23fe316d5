/**
 * Entry of one XCCL rank started by launch.ts, as a worker thread (job in workerData) or as a
 * child process (job by IPC). Pins its thread to a CPU when the job says so, opens the
 * communicator, runs the named scenario, reports the result (and the CPU it was pinned to).
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { isXdsError } from '../../core/errors.js';
import { createCommunicator } from '../communicator.js';
import type { RankJob, RankResult } from './launch.js';
import { SCENARIOS } from './scenarios.js';
import { pinThreadToCpu } from '../shm/process.js';

async function run(job: RankJob): Promise<RankResult> {
  try {
    const scenario = SCENARIOS[job.scenario];
    if (!scenario) throw new Error(`unknown scenario '${job.scenario}'`);
    const cpu = job.cpu === undefined ? undefined : pinThreadToCpu(job.cpu);
    const comm = await createCommunicator(job.spec, job.rank, job.options);
    try {
      const value = await scenario(comm, job.params);
      return cpu === undefined ? { ok: true, value } : { ok: true, value, cpu };
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
