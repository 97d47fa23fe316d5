/**
 * Scenarios of shm streaming waits (paper notes §2.4.1, credits of the 8-step protocol;
 * docs/xccl.md follow-up 6), run by shm/stream.test.ts with real threads and processes:
 * - `wakeThreshold`: rank 0 parks on a word with `wakeAt`; rank 1 signals values below it (they
 *   must not wake rank 0: its heartbeat, bumped once per park, stays put), then the threshold.
 * - `streamOneCore`: both ranks pin themselves to one CPU and stream messages larger than the ring,
 *   the case where a spinning credit or data wait holds the core its peer needs; reports the bytes
 *   checked, the transports' counts (stalls, parks) and each rank's CPU time while streaming.
 */
import { readFileSync } from 'node:fs';
import type { Communicator } from '../communicator.js';
import { HDR, ringSlotOffset } from '../region.js';
import { ShmTransport } from '../shm/shm-transport.js';
import { pinThreadToCpu } from '../shm/process.js';
import { checkPayload, makePayload } from './scenarios.js';

function shmOf(comm: Communicator): ShmTransport {
  if (!(comm.transport instanceof ShmTransport)) throw new Error('stream scenarios need an shm transport');
  return comm.transport;
}

/** Sleeps the calling thread `ms` (Atomics.wait on a private word: no event loop needed). */
function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Spins (sleeping 1 ms per round) until `pred()`, at most `ms`; false on timeout. */
function pollUntil(pred: () => boolean, ms: number): boolean {
  for (let i = 0; i < ms; i++) {
    if (pred()) return true;
    sleepMs(1);
  }
  return pred();
}

interface ThresholdParams { readonly wakeAt: number; readonly pauseMs: number }

async function wakeThreshold(comm: Communicator, params: unknown): Promise<unknown> {
  const { wakeAt, pauseMs } = params as ThresholdParams;
  const tr = shmOf(comm);
  const idx = ringSlotOffset(tr.layout, 1, 0) >> 2; // a slot word of rank 1's ring in rank 0's region
  await comm.barrier();
  if (comm.rank === 0) {
    const parks0 = tr.stats.parks;
    const value = tr.waitLocal({ wordIdx: idx, pred: (v) => v >= wakeAt, peer: 1, deadlineUs: tr.nowUs() + 20_000_000, what: 'the threshold', wakeAt });
    const parks = tr.stats.parks - parks0;
    await comm.barrier();
    return { value, parks };
  }
  const peer = tr.regionWords(0);
  // Parked on this word (not still in the barrier): parkWord is published, and the heartbeat bumped, before sleepers.
  const isParked = pollUntil(() => Atomics.load(peer, HDR.sleepers) > 0 && Atomics.load(peer, HDR.parkWord) === idx, 10_000);
  const beat = Atomics.load(peer, HDR.heartbeat);
  const beatsBelow: number[] = [];
  for (let v = 1; v < wakeAt; v++) {
    tr.signal(0, idx, v);
    sleepMs(pauseMs);
    beatsBelow.push(Atomics.load(peer, HDR.heartbeat) - beat); // a woken rank 0 would park again, beating first
  }
  const skippedWakes = tr.stats.skippedWakes;
  tr.signal(0, idx, wakeAt);
  await comm.barrier();
  return { isParked, beatsBelow, skippedWakes };
}

/** CPU time of the calling thread so far (ms; /proc/thread-self/schedstat, Linux), or undefined elsewhere. */
function threadCpuMs(): number | undefined {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return undefined;
  }
}

/** registered: rank 1 receives into its application area, the next receive queued behind the current one (zero-copy). */
interface StreamParams { readonly bytes: number; readonly messages: number; readonly registered?: boolean }

/** Rank 1's receives of messages [from, from + n) into two buffers of its application area, each posted before the ACK ahead of it. */
async function recvRegistered(comm: Communicator, from: number, n: number, bytes: number, out: Uint8Array[]): Promise<void> {
  const bufs = [comm.appArea.subarray(0, bytes), comm.appArea.subarray(bytes, 2 * bytes)];
  let h = comm.irecv(0, from, bufs[0]);
  await comm.barrier(); // posted before rank 0 sends
  for (let m = from; m < from + n; m++) {
    const next = m + 1 < from + n ? comm.irecv(0, m + 1, bufs[(m + 1 - from) % 2]) : undefined;
    out[m] = (await h.wait()).slice();
    if (next) h = next;
  }
}

async function streamOneCore(comm: Communicator, params: unknown): Promise<unknown> {
  const { bytes, messages, registered } = params as StreamParams;
  const tr = shmOf(comm);
  const cpu = pinThreadToCpu(0);
  const all = await comm.allGather(new Int32Array([cpu ?? -1]));
  const cpus = all.map((b) => new Int32Array(b.buffer, b.byteOffset, 1)[0]!);
  if (cpus.some((c) => c < 0 || c !== cpus[0])) return { isPinned: false };
  const payloads = Array.from({ length: 2 * messages }, (_, m) => (comm.rank === 0 ? makePayload(0, 1, m, bytes) : new Uint8Array(bytes)));
  const stream = async (from: number): Promise<void> => {
    if (registered && comm.rank === 1) return recvRegistered(comm, from, messages, bytes, payloads);
    if (registered) await comm.barrier();
    for (let m = from; m < from + messages; m++) {
      if (comm.rank === 0) await comm.send(1, m, payloads[m]!);
      else await comm.recv(0, m, payloads[m]);
    }
  };
  await stream(0); // warm-up: the first messages run the p2p code before V8 optimizes it
  await comm.barrier();
  const s0 = { ...tr.stats };
  const cpu0 = threadCpuMs();
  await stream(messages);
  const cpuMs = cpu0 === undefined ? -1 : threadCpuMs()! - cpu0;
  const bad = comm.rank === 0 ? 0 : payloads.filter((b, m) => checkPayload(b, 0, 1, m) >= 0).length;
  await comm.barrier();
  return { isPinned: true, bad, cpuMs, stalls: tr.stats.stalls - s0.stalls, parks: tr.stats.parks - s0.parks, zc: comm.p2p.zc?.stats };
}

export const STREAM_SCENARIOS = { wakeThreshold, streamOneCore };
