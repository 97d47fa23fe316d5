/**
 * Named programs that every rank of a conformance run executes (testing/conformance.ts). Each
 * returns plain data that the test compares with a reference computed in one place. Registry:
 * p2p and collective scenarios here, EP scenarios in ep-scenarios.ts.
 */
import { isXdsError } from '../../core/errors.js';
import type { Communicator } from '../communicator.js';
import { EP_SCENARIOS } from './ep-scenarios.js';
import { BENCH_SCENARIOS } from '../bench/rank-bench.js';
import { STREAM_SCENARIOS } from './stream-scenarios.js';
import { ZERO_COPY_SCENARIOS } from './zero-copy-scenarios.js';
import { BLOCKING_SCENARIOS } from './blocking-scenarios.js';

export type Scenario = (comm: Communicator, params: unknown) => Promise<unknown>;

/** Deterministic payload byte of message `msg` from `src` to `dst`. */
export function patternByte(src: number, dst: number, msg: number, i: number): number {
  return (src * 31 + dst * 17 + msg * 7 + i * 13 + (i >> 8)) & 255;
}

export function makePayload(src: number, dst: number, msg: number, bytes: number): Uint8Array {
  const b = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) b[i] = patternByte(src, dst, msg, i);
  return b;
}

/** Index of the first wrong byte, or -1. */
export function checkPayload(b: Uint8Array, src: number, dst: number, msg: number): number {
  for (let i = 0; i < b.length; i++) if (b[i] !== patternByte(src, dst, msg, i)) return i;
  return -1;
}

interface OrderingParams { readonly sizes: readonly number[] }

/** Rank 0 sends messages of the given sizes (some async) to rank 1, which checks order and bytes. */
async function ordering(comm: Communicator, params: unknown): Promise<unknown> {
  const { sizes } = params as OrderingParams;
  if (comm.rank === 0) {
    const handles = [];
    for (let i = 0; i < sizes.length; i++) {
      const payload = makePayload(0, 1, i, sizes[i]!);
      if (i % 2 === 0) handles.push(comm.isend(1, 100 + i, payload));
      else await comm.send(1, 100 + i, payload);
    }
    for (const h of handles) await h.wait();
    return 'sent';
  }
  if (comm.rank !== 1) return 'idle';
  const out: { bytes: number; firstBad: number }[] = [];
  for (let i = 0; i < sizes.length; i++) {
    const m = await comm.recv(0, 100 + i);
    out.push({ bytes: m.byteLength, firstBad: checkPayload(m, 0, 1, i) });
  }
  return out;
}

/** Every rank sends `numMsgs` messages to every rank (itself included) at once, then receives all. */
async function allPairs(comm: Communicator, params: unknown): Promise<unknown> {
  const { numMsgs, bytes } = params as { numMsgs: number; bytes: number };
  const W = comm.worldSize;
  const sends = [];
  const recvs = [];
  for (let m = 0; m < numMsgs; m++) {
    for (let d = 0; d < W; d++) recvs.push({ src: d, m, h: comm.irecv(d, m) });
    for (let d = 0; d < W; d++) sends.push(comm.isend(d, m, makePayload(comm.rank, d, m, bytes + d)));
  }
  let bad = 0;
  for (const r of recvs) {
    const b = await r.h.wait();
    if (b.byteLength !== bytes + comm.rank || checkPayload(b, r.src, comm.rank, r.m) >= 0) bad++;
  }
  for (const s of sends) await s.wait();
  return { received: recvs.length, bad };
}

async function expectError(fn: () => Promise<unknown>): Promise<{ code: string; message: string; elapsedMs: number }> {
  const t0 = performance.now();
  try {
    await fn();
    return { code: 'none', message: '', elapsedMs: performance.now() - t0 };
  } catch (e) {
    if (!isXdsError(e)) throw e;
    return { code: e.code, message: e.message, elapsedMs: performance.now() - t0 };
  }
}

/** Wrong event id, too small a buffer, then the right receive; and a receive that times out. */
async function badInput(comm: Communicator): Promise<unknown> {
  if (comm.rank === 0) {
    await comm.send(1, 7, makePayload(0, 1, 7, 1000));
    await comm.barrier();
    await new Promise((r) => setTimeout(r, 450)); // stay alive while rank 1 times out (300 ms)
    await comm.barrier();
    return 'sent';
  }
  const mismatch = await expectError(() => comm.recv(0, 8));
  const tooSmall = await expectError(() => comm.recv(0, 7, new Uint8Array(10)));
  const ok = await comm.recv(0, 7, new Uint8Array(2000));
  await comm.barrier();
  const timeout = await expectError(() => comm.recv(0, 9));
  await comm.barrier();
  return { mismatch, tooSmall, okBytes: ok.byteLength, okBad: checkPayload(ok, 0, 1, 7), timeout };
}

/** Rank 1 dies after a barrier; rank 0 then waits on it and must get `xccl_peer_gone`. */
async function peerDies(comm: Communicator, params: unknown): Promise<unknown> {
  const { how } = params as { how: 'exit' | 'kill' };
  await comm.barrier();
  if (comm.rank === 1) {
    if (how === 'kill') process.kill(process.pid, 'SIGKILL');
    process.exit(3);
  }
  if (comm.rank !== 0) return 'idle';
  return expectError(() => comm.recv(1, 1));
}

/** Rank 1 hangs (busy, its event loop blocked, no heartbeat) for `hangMs`; rank 0 waits on it. */
async function peerHangs(comm: Communicator, params: unknown): Promise<unknown> {
  const { hangMs } = params as { hangMs: number };
  await comm.barrier();
  if (comm.rank === 1) {
    const end = performance.now() + hangMs;
    while (performance.now() < end) { /* hung: no heartbeat, no progress */ }
    return 'hung';
  }
  if (comm.rank !== 0) return 'idle';
  return expectError(() => comm.recv(1, 1));
}

async function collectives(comm: Communicator, params: unknown): Promise<unknown> {
  const { rounds } = params as { rounds: number };
  const seen: number[][] = [];
  for (let r = 0; r < rounds; r++) {
    await comm.barrier();
    const all = await comm.allGather(new Int32Array([comm.rank * 100 + r, r]));
    seen.push(all.map((b) => new Int32Array(b.buffer, b.byteOffset, 2)[0]!));
  }
  return seen;
}

/** Runs several scenarios in one communicator lifetime (one launch, fewer process starts). */
async function sequence(comm: Communicator, params: unknown): Promise<unknown> {
  const { steps } = params as { steps: readonly { scenario: string; params: unknown }[] };
  const out: unknown[] = [];
  for (const step of steps) {
    const fn = SCENARIOS[step.scenario];
    if (!fn) throw new Error(`unknown scenario '${step.scenario}'`);
    out.push(await fn(comm, step.params));
    await comm.barrier();
  }
  return out;
}

export const SCENARIOS: Record<string, Scenario> = {
  sequence,
  ordering,
  allPairs,
  badInput: (comm) => badInput(comm),
  peerDies,
  peerHangs,
  collectives,
  ...EP_SCENARIOS,
  ...BENCH_SCENARIOS,
  ...STREAM_SCENARIOS,
  ...ZERO_COPY_SCENARIOS,
  ...BLOCKING_SCENARIOS,
};
