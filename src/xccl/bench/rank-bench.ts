/**
 * Rank programs of `xdeepserve bench xccl` (figures, not tests): p2p ping-pong latency and
 * send+ACK bandwidth (through the ring, and into pre-posted receives in the registered application
 * area, the zero-copy path of a KV hand-off on shm), dispatch/combine latency at DeepSeek-V3 shapes, and a raw-socket ping-pong
 * baseline between the same kind of processes. Each returns raw timings (µs); the CLI summarizes.
 */
import { createServer, connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Communicator } from '../communicator.js';
import { ExpertParallel } from '../ep/expert-parallel.js';
import { ZC_PIECE_BYTES } from '../p2p-zero-copy.js';

export interface P2pBenchParams {
  readonly sizes: readonly number[];
  readonly itersFor: Readonly<Record<string, number>>;
  readonly bandwidthSizes: readonly number[];
  /** Round trips per latency sample for messages up to 4 KiB (1 = per-iteration samples, as the socket baseline). */
  readonly latencyBatch?: number;
  /** send+ACK messages per bandwidth size (default: 64 MiB worth, at least 8). */
  readonly sendIters?: number;
  /** Unmeasured send+ACK messages before those (default: WARMUP_BYTES worth, at least 8). */
  readonly sendWarmup?: number;
  /** Also measure send+ACK into pre-posted receives in the application area (needs appBytes >= 2x the largest size). */
  readonly registered?: boolean;
  /** Also measure the ping-pong of sizes up to 4 KiB with the blocking calls (sendSync / recvSync; shm). */
  readonly blocking?: boolean;
}

/** What benchP2p returns (rank 0's timings; every rank returns its own). */
export interface P2pBenchValue {
  readonly latency: Record<string, number[]>;
  /** The same with the blocking calls (sizes up to 4 KiB, when asked for). */
  readonly latencyBlocking: Record<string, number[]>;
  readonly sendUs: Record<string, number[]>;
  /** Registered receives, the sender's source a plain buffer. */
  readonly registeredUs: Record<string, number[]>;
  /** The same with the source in the sender's application area (a KV block handed from one registered cache to another). */
  readonly registeredSharedUs: Record<string, number[]>;
  /** Per size: the fraction of the registered messages this rank sent zero-copy (plain source). */
  readonly zeroCopySent: Record<string, number>;
  /** Per size: of the shared-source messages' pieces, the fraction the receiver copied (its rank's value; two-sided copy). */
  readonly receiverCopied: Record<string, number>;
}

/**
 * Bytes sent before the measured send+ACK messages of one size. V8 optimizes the multi-chunk path
 * (writeChunk, pump, readChunk, ...) only after a few thousand chunks: a fresh launch runs its
 * first 200–300 messages of 1 MiB (16 chunks each) in the interpreter and baseline tiers, at
 * about half the optimized speed (docs/xccl.md, follow-up 5). 512 MiB is 8192 chunks of 64 KiB,
 * about twice what the tier-up took in single launches (50 ms at 10 GB/s).
 */
export const WARMUP_BYTES = 512 << 20;

/** Default warm-up messages for `bytes`-byte send+ACK measurements. */
export function sendWarmupFor(bytes: number): number {
  return Math.max(8, Math.ceil(WARMUP_BYTES / Math.max(1, bytes)));
}

function now(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

/** `n` ping-pong round trips of rank 0 ↔ rank 1 with event ids from `first` (one async frame for all). */
async function roundTrips(comm: Communicator, first: number, n: number, buf: Uint8Array, dst: Uint8Array): Promise<void> {
  const peer = 1 - comm.rank;
  for (let i = first; i < first + n; i++) {
    if (comm.rank === 0) {
      const h = comm.isend(peer, i, buf);
      await comm.recv(peer, i, dst);
      await h.wait();
    } else {
      await comm.recv(peer, i, dst);
      await comm.send(peer, i, buf);
    }
  }
}

/** `roundTrips` with the blocking calls: no promise, no microtask turn per message. */
function roundTripsSync(comm: Communicator, first: number, n: number, buf: Uint8Array, dst: Uint8Array): void {
  const peer = 1 - comm.rank;
  for (let i = first; i < first + n; i++) {
    if (comm.rank === 0) {
      comm.sendSync(peer, i, buf);
      comm.recvSync(peer, i, dst);
    } else {
      comm.recvSync(peer, i, dst);
      comm.sendSync(peer, i, buf);
    }
  }
}

/**
 * Rank 0 ↔ rank 1 ping-pong: one sample = the mean one-way µs (RTT / 2) over `batch` round trips,
 * so that the clock reads (hrtime allocates a BigInt) do not dominate sub-µs figures. `isBlocking`:
 * with sendSync / recvSync.
 */
async function pingPong(comm: Communicator, bytes: number, iters: number, warmup: number, smallBatch: number, isBlocking = false): Promise<number[]> {
  const batch = bytes <= 4096 ? smallBatch : 1;
  const buf = new Uint8Array(bytes).fill(7);
  const dst = new Uint8Array(bytes);
  const out: number[] = [];
  for (let i = 0; i < warmup + iters; i += batch) {
    const t0 = now();
    if (isBlocking) roundTripsSync(comm, i, batch, buf, dst);
    else await roundTrips(comm, i, batch, buf, dst);
    if (i >= warmup) out.push((now() - t0) / (2 * batch));
  }
  return out;
}

/**
 * Rank 0 sends `warmup` then `iters` messages with the synchronous protocol (each waits for its
 * ACK): per-message µs on rank 0 of the last `iters`. The warm-up is standard practice (osu_bw,
 * nccl-tests): it measures the steady state, not JIT tier-up and first touches of the buffers.
 */
async function sendAckTimes(comm: Communicator, bytes: number, iters: number, warmup: number): Promise<number[]> {
  const buf = new Uint8Array(bytes).fill(3);
  const dst = new Uint8Array(bytes);
  await comm.barrier();
  const out: number[] = [];
  for (let i = 0; i < warmup + iters; i++) {
    const t0 = now();
    if (comm.rank === 0) await comm.send(1, i, buf);
    else await comm.recv(0, i, dst);
    if (i >= warmup) out.push(now() - t0);
  }
  return out;
}

/**
 * As sendAckTimes, but rank 1 receives into two buffers of its registered application area in
 * turn and keeps the next receive issued behind the current one, as a decode rank receiving KV
 * blocks would: each receive is posted before the ACK of the one ahead, so on shm every message
 * is copied once, straight into the posted buffer (p2p-zero-copy.ts). With `isSourceShared`, rank 0
 * sends from its own application area, and the receiver, waiting, may copy pieces of it too.
 */
async function sendAckRegistered(comm: Communicator, bytes: number, iters: number, warmup: number, isSourceShared: boolean): Promise<number[]> {
  const buf = isSourceShared && comm.rank === 0 ? comm.appArea.subarray(0, bytes).fill(5) : new Uint8Array(bytes).fill(5); // rank 1's own area holds its receive buffers
  const dsts = [comm.appArea.subarray(0, bytes), comm.appArea.subarray(bytes, 2 * bytes)];
  const total = warmup + iters;
  let h = comm.rank === 1 ? comm.irecv(0, 0, dsts[0]) : undefined;
  await comm.barrier();
  const out: number[] = [];
  for (let i = 0; i < total; i++) {
    const t0 = now();
    if (comm.rank === 0) await comm.send(1, i, buf);
    else {
      const next = i + 1 < total ? comm.irecv(0, i + 1, dsts[(i + 1) % 2]) : undefined;
      await h!.wait();
      h = next;
    }
    if (i >= warmup) out.push(now() - t0);
  }
  return out;
}

async function benchP2p(comm: Communicator, params: unknown): Promise<unknown> {
  const p = params as P2pBenchParams;
  const latency: Record<string, number[]> = {};
  for (const n of p.sizes) {
    const iters = p.itersFor[String(n)] ?? 100;
    latency[String(n)] = await pingPong(comm, n, iters, Math.max(2, Math.floor(iters / 10)), p.latencyBatch ?? 1);
  }
  const latencyBlocking: Record<string, number[]> = {};
  for (const n of p.blocking === true ? p.sizes.filter((x) => x <= 4096) : []) {
    const iters = p.itersFor[String(n)] ?? 100;
    await comm.barrier(); // event ids start again from 0: the other rank is done with the async ping-pong
    latencyBlocking[String(n)] = await pingPong(comm, n, iters, Math.max(2, Math.floor(iters / 10)), p.latencyBatch ?? 1, true);
  }
  const sendUs: Record<string, number[]> = {};
  for (const n of p.bandwidthSizes) {
    const iters = p.sendIters ?? Math.max(8, Math.floor((64 << 20) / n));
    sendUs[String(n)] = await sendAckTimes(comm, n, iters, p.sendWarmup ?? sendWarmupFor(n));
  }
  // Registered: send+ACK µs per size, and how many of those messages rank 0 sent zero-copy; then from a shared source.
  const registeredUs: Record<string, number[]> = {};
  const registeredSharedUs: Record<string, number[]> = {};
  const zeroCopySent: Record<string, number> = {};
  const receiverCopied: Record<string, number> = {};
  for (const n of p.registered ? p.bandwidthSizes : []) {
    const iters = p.sendIters ?? Math.max(8, Math.floor((64 << 20) / n));
    const warmup = p.sendWarmup ?? sendWarmupFor(n);
    const before = comm.p2p.zc?.stats.sent ?? 0;
    registeredUs[String(n)] = await sendAckRegistered(comm, n, iters, warmup, false);
    zeroCopySent[String(n)] = ((comm.p2p.zc?.stats.sent ?? 0) - before) / (iters + warmup);
    const helped = comm.p2p.zc?.stats.helped ?? 0;
    registeredSharedUs[String(n)] = await sendAckRegistered(comm, n, iters, warmup, true);
    receiverCopied[String(n)] = ((comm.p2p.zc?.stats.helped ?? 0) - helped) / ((iters + warmup) * Math.ceil(n / ZC_PIECE_BYTES));
  }
  const out: P2pBenchValue = { latency, latencyBlocking, sendUs, registeredUs, registeredSharedUs, zeroCopySent, receiverCopied };
  return out;
}

export interface EpBenchParams { readonly hidden: number; readonly topk: number; readonly numExperts: number; readonly tokens: readonly number[]; readonly iters: number; readonly isInt8: boolean }

function randomRouting(T: number, topk: number, numExperts: number): Int32Array {
  const idx = new Int32Array(T * topk);
  for (let t = 0; t < T; t++) {
    const picked = new Set<number>();
    while (picked.size < topk) picked.add(Math.floor(Math.random() * numExperts));
    idx.set([...picked], t * topk);
  }
  return idx;
}

/**
 * Untimed 1-token dispatch+combine rounds before the measured ones. As for the p2p sizes
 * (WARMUP_BYTES), V8 optimizes the EP path (layout, row encoding, pulls, grouping) only after a few
 * hundred calls: with the one warm-up round there was before, 2 ranks x 16 tokens measured 6-7 ms
 * per dispatch against ~1.5 ms after 1,000 rounds (docs/xccl.md, follow-up 10).
 */
export const EP_WARMUP_ROUNDS = 300;

/** Per tokens-per-rank: per-iteration dispatch and combine µs of this rank (after EP_WARMUP_ROUNDS). */
async function benchEp(comm: Communicator, params: unknown): Promise<unknown> {
  const p = params as EpBenchParams;
  const ep = new ExpertParallel(comm, { hidden: p.hidden, topk: p.topk, numExperts: p.numExperts, isInt8: p.isInt8 });
  const out: Record<string, { dispatchUs: number[]; combineUs: number[] }> = {};
  const wx = new Float32Array(p.hidden).fill(0.25);
  const ww = new Float32Array(p.topk).fill(1 / p.topk);
  for (let i = 0; i < EP_WARMUP_ROUNDS; i++) {
    const r = await ep.dispatch(wx, randomRouting(1, p.topk, p.numExperts), ww);
    await ep.combine(r.recvX, r.handle);
  }
  for (const T of p.tokens) {
    const x = new Float32Array(T * p.hidden).map(() => Math.random() - 0.5);
    const w = new Float32Array(T * p.topk).fill(1 / p.topk);
    const idx = randomRouting(T, p.topk, p.numExperts);
    const rec = { dispatchUs: [] as number[], combineUs: [] as number[] };
    const big = T >= 64; // big batches are slow on 2 cores
    const iters = big ? Math.min(p.iters, 3) : p.iters;
    const warmup = big ? 2 : 20; // a new size runs its first rounds 2-3x slower even after EP_WARMUP_ROUNDS
    for (let i = 0; i < warmup + iters; i++) {
      await comm.barrier();
      const t0 = now();
      const r = await ep.dispatch(x, idx, w);
      const t1 = now();
      await ep.combine(r.recvX, r.handle);
      const t2 = now();
      if (i >= warmup) { rec.dispatchUs.push(t1 - t0); rec.combineUs.push(t2 - t1); }
    }
    out[String(T)] = rec;
  }
  return out;
}

/** Raw TCP ping-pong of length-prefixed messages between rank 0 and rank 1 (the baseline). */
async function rawSocketPingPong(comm: Communicator, params: unknown): Promise<unknown> {
  const { port, bytes, iters } = params as { port: number; bytes: number; iters: number };
  const payload = Buffer.alloc(4 + bytes, 1);
  payload.writeUInt32LE(bytes, 0);
  if (comm.rank === 1) {
    const server = createServer((s) => { s.setNoDelay(true); echo(s, bytes + 4, (m) => s.write(m)); });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    await comm.barrier();
    await comm.barrier();
    server.close();
    return null;
  }
  await comm.barrier();
  const s = await new Promise<Socket>((r) => { const c = connect(port, '127.0.0.1', () => r(c)); });
  s.setNoDelay(true);
  const times: number[] = [];
  await new Promise<void>((resolve) => {
    let t0 = now();
    echo(s, bytes + 4, () => {
      times.push((now() - t0) / 2);
      if (times.length >= iters) return resolve();
      t0 = now();
      s.write(payload);
    });
    s.write(payload);
  });
  s.destroy();
  await comm.barrier();
  return times.slice(Math.floor(iters / 10));
}

/** Calls `onMessage` for every complete `frameBytes` message read from `s`. */
function echo(s: Socket, frameBytes: number, onMessage: (m: Buffer) => void): void {
  let pending: Buffer[] = [];
  let have = 0;
  s.on('data', (d: Buffer) => {
    pending.push(d);
    have += d.length;
    while (have >= frameBytes) {
      const all = Buffer.concat(pending);
      onMessage(all.subarray(0, frameBytes));
      pending = [all.subarray(frameBytes)];
      have -= frameBytes;
    }
  });
}

/** The CPUs this rank's thread may run on, as the kernel reports them (checks `--pin`); '' off Linux. */
async function affinity(comm: Communicator): Promise<unknown> {
  let cpus = '';
  try {
    cpus = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/thread-self/status', 'utf8'))?.[1] ?? '';
  } catch { /* not Linux */ }
  await comm.barrier(); // no rank closes before every peer has joined
  return cpus;
}

export const BENCH_SCENARIOS: Record<string, (comm: Communicator, params: unknown) => Promise<unknown>> = { benchP2p, benchEp, rawSocketPingPong, affinity };
