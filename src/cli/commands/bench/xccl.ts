/**
 * `xdeepserve bench xccl [--transport shm|tcp] [--json]` (paper notes §2.4; CPU-FACTS.md §3):
 * p2p one-way latency p50/p99 from 64 B to 8 MiB and send+ACK bandwidth (shm: into pre-posted
 * receives in the registered application area, zero-copy, as a KV hand-off would; `_ring` keys:
 * through the ring with unregistered buffers); dispatch/combine latency
 * for 2–8 ranks and 1–128 tokens per rank at DeepSeek-V3 shapes (hidden 7168, top-8 of 256);
 * and, in the same run, a native two-thread memcpy ping-pong and a raw socket ping-pong as
 * baselines, with ratios. Ranks are real worker threads (shm) or child processes (tcp).
 */
import { XdsError } from '../../../core/errors.js';
import { numberFlag, parseFlags, type Command } from '../../command.js';
import { freePorts, launchRanks, type LaunchKind, type RankResult } from '../../../xccl/testing/launch.js';
import { loadXcclAddon } from '../../../xccl/shm/process.js';
import { SLOT_HEADER_BYTES } from '../../../xccl/region.js';
import { median } from '../../../core/stats.js';
import { SHM_PAIRS_RING, shmPairs, socketPairs, type PairSeries } from '../../../xccl/bench/pairs.js';
import type { P2pBenchValue } from '../../../xccl/bench/rank-bench.js';

const USAGE = `usage: xdeepserve bench xccl [--transport shm|tcp] [--json] [--max-ranks N] [--tokens 1,16,128] [--iters N (EP, at most 3 from 64 tokens; after 300 untimed 1-token rounds and 20 per size)] [--int8] [--spin-us N] [--only baseline,p2p,park,ep] [--pin] [--pairs N]
  shm = worker-thread ranks on SharedArrayBuffers (spinning waits); tcp = child-process ranks over loopback.
  --pin binds rank i of the p2p, park and EP runs to CPU i mod ncpu (as osu_latency and nccl-tests do; the
  baselines stay unpinned); the figures say so (config.pinned). With both baseline and p2p, the ratios come from
  --pairs N (default 5) pairs of a baseline and a short p2p launch measured back to back (median of per-pair ratios),
  and shm 64 B p50 and 1 MiB GB/s, and the baselines, are medians over those pairs (min, max and pairs at target listed). Without --transport both run; --only runs just the listed parts (default all). Figures only; targets: shm 64 B p50 <= 1 us, shm 1 MiB >= 80% of memcpy, tcp <= 1.5x raw socket.
  shm GB/s keys: p2p.shm.gbPerSec_* = send+ACK into pre-posted receives in the registered application area (zero-copy:
  one copy, sender -> receiver's buffer; zeroCopyFraction_* says how many went so); p2p.shm.gbPerSec_*_ring = through the
  ring with plain buffers (two copies). The memcpy baseline copies twice (in, then out on the other thread); the
  one-copy baseline (memcpyOneCopy: into the peer's buffer, flag, ack) is the like-for-like bar of the registered path
  (ratio.shmToOneCopy_1MiB), the two-copy one that of the ring path (ratio.shmRingToMemcpy_1MiB). *_shared keys: the
  registered path with the source in the sender's application area too (a KV block between registered caches), where
  the waiting receiver copies pieces of the message alongside the sender (receiverCopiedFraction_*_shared: its share).
  *_blocking keys (shm): the ping-pong with sendSync / recvSync, which return without a promise (the async figures
  include a microtask turn per message).`;

const SIZES = [64, 1024, 65536, 1 << 20, 8 << 20];
const ITERS: Record<string, number> = { 64: 20000, 1024: 10000, 65536: 2000, [1 << 20]: 200, [8 << 20]: 20 };

type Figures = Record<string, number>;

/** How the run was made, printed with the figures: `config.pinned` is true only if every pinned launch pinned every rank. */
interface RunConfig { isPinRequested: boolean; isPinned: boolean }

function label(n: number): string {
  return n >= 1 << 20 ? `${n >> 20}MiB` : n >= 1024 ? `${n >> 10}KiB` : `${n}B`;
}

function pct(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

function values(results: readonly RankResult[], cfg?: RunConfig): unknown[] {
  if (cfg?.isPinRequested && results.some((r) => !r.ok || r.cpu === undefined)) cfg.isPinned = false;
  return results.map((r, i) => {
    if (!r.ok) throw new XdsError('internal', `bench xccl: rank ${i} failed: ${r.code}: ${r.message}`);
    return r.value;
  });
}

function baselineMemcpy(f: Figures): void {
  const addon = loadXcclAddon();
  if (!addon) return;
  f['baseline.memcpyLatencyUsP50_64B'] = pct(Array.from(addon.memcpyPingPong(64, 20000)), 0.5) / 2000;
  f['baseline.memcpyGbPerSec_1MiB'] = (1 << 20) / pct(Array.from(addon.memcpyPingPong(1 << 20, 200)), 0.5);
  f['baseline.memcpyOneCopyGbPerSec_1MiB'] = (1 << 20) / pct(Array.from(addon.memcpyPingPong(1 << 20, 200, 1)), 0.5);
}

async function baselineSocket(f: Figures): Promise<void> {
  const [port] = await freePorts(1);
  const v = values(await launchRanks('tcp', { region: { worldSize: 2, slotBytes: 4096, numSlots: 2, epAreaBytes: 0 }, scenario: 'rawSocketPingPong', params: { port, bytes: 64, iters: 5000 } }));
  const times = v[0] as number[];
  f['baseline.socketLatencyUsP50_64B'] = pct(times, 0.5);
  f['baseline.socketLatencyUsP99_64B'] = pct(times, 0.99);
}

async function benchP2p(f: Figures, name: string, kind: LaunchKind, spinUs: number, cfg: RunConfig): Promise<void> {
  // The ring of the paired runs (SHM_PAIRS_RING), so that the main run and the pairs measure the same thing.
  // The ring of the paired runs; an application area for two of the largest registered receives (shm; tcp has no zero-copy path).
  const registered = kind !== 'tcp';
  const region = { worldSize: 2, slotBytes: SHM_PAIRS_RING.slotPayloadBytes + SLOT_HEADER_BYTES, numSlots: SHM_PAIRS_RING.numSlots, epAreaBytes: 0, appBytes: registered ? 2 * (8 << 20) : 0 };
  const options = { spinUs: kind === 'tcp' ? 0 : spinUs, timeoutMs: 120_000 };
  // shm samples average 20 round trips (sub-µs figures; a clock read costs ~0.1 µs); tcp samples one, as the socket baseline.
  const params = { sizes: SIZES, itersFor: ITERS, bandwidthSizes: [1 << 20, 8 << 20], latencyBatch: kind === 'tcp' ? 1 : 20, registered, blocking: registered };
  const [v, r] = values(await launchRanks(kind, { region, scenario: 'benchP2p', params, options, killAfterMs: 900_000, pinCpus: cfg.isPinRequested }), cfg) as [P2pBenchValue, P2pBenchValue];
  for (const n of SIZES) {
    const xs = v.latency[String(n)] ?? [];
    f[`p2p.${name}.latencyUsP50_${label(n)}`] = pct(xs, 0.5);
    f[`p2p.${name}.latencyUsP99_${label(n)}`] = pct(xs, 0.99);
  }
  for (const [n, xs] of Object.entries(v.latencyBlocking)) {
    f[`p2p.${name}.latencyUsP50_${label(Number(n))}_blocking`] = pct(xs, 0.5);
    f[`p2p.${name}.latencyUsP99_${label(Number(n))}_blocking`] = pct(xs, 0.99);
  }
  // GB/s from the p50 send+ACK time, as the memcpy baseline (p50 of copy in + copy out + ack); the mean shows the stalls.
  const ring = registered ? '_ring' : '';
  for (const [n, us] of Object.entries(v.sendUs)) sendFigures(f, `p2p.${name}`, label(Number(n)) + ring, Number(n), us);
  for (const [n, us] of Object.entries(v.registeredUs)) {
    sendFigures(f, `p2p.${name}`, label(Number(n)), Number(n), us);
    f[`p2p.${name}.zeroCopyFraction_${label(Number(n))}`] = v.zeroCopySent[n] ?? 0;
  }
  for (const [n, us] of Object.entries(v.registeredSharedUs)) {
    sendFigures(f, `p2p.${name}`, `${label(Number(n))}_shared`, Number(n), us);
    f[`p2p.${name}.receiverCopiedFraction_${label(Number(n))}_shared`] = r.receiverCopied[n] ?? 0;
  }
}

/** GB/s from the p50 send+ACK time, and from the mean (which shows the stalls). */
function sendFigures(f: Figures, prefix: string, suffix: string, n: number, us: readonly number[]): void {
  f[`${prefix}.gbPerSec_${suffix}`] = n / (pct(us, 0.5) * 1000);
  f[`${prefix}.gbPerSecMean_${suffix}`] = (n * us.length) / (us.reduce((a, b) => a + b, 0) * 1000);
}

/** 64 B ping-pong with waiters that park at once (futex/Atomics.wait wake-up cost). */
async function benchPark(f: Figures, cfg: RunConfig): Promise<void> {
  const region = { worldSize: 2, slotBytes: 4096, numSlots: 8, epAreaBytes: 0 };
  const params = { sizes: [64], itersFor: { 64: 3000 }, bandwidthSizes: [] };
  const v = values(await launchRanks('shm-thread', { region, scenario: 'benchP2p', params, options: { spinUs: 0 }, pinCpus: cfg.isPinRequested }), cfg)[0] as { latency: Record<string, number[]> };
  f['p2p.shm.parkedLatencyUsP50_64B'] = pct(v.latency['64'] ?? [], 0.5);
}

interface EpOpts { readonly maxRanks: number; readonly tokens: readonly number[]; readonly iters: number; readonly isInt8: boolean }

async function benchEp(f: Figures, name: string, kind: LaunchKind, o: EpOpts, cfg: RunConfig): Promise<void> {
  const hidden = 7168;
  const topk = 8;
  const numExperts = 256;
  for (const W of [2, 4, 8].filter((w) => w <= o.maxRanks)) {
    const maxT = Math.max(...o.tokens);
    const epAreaBytes = W * maxT * (4 * hidden + 8 * topk);
    const region = { worldSize: W, slotBytes: 4096, numSlots: 2, epAreaBytes };
    const params = { hidden, topk, numExperts, tokens: o.tokens, iters: o.iters, isInt8: o.isInt8 };
    const v = values(await launchRanks(kind, { region, scenario: 'benchEp', params, options: { timeoutMs: 120_000 }, killAfterMs: 900_000, pinCpus: cfg.isPinRequested }), cfg) as Record<string, { dispatchUs: number[]; combineUs: number[] }>[];
    for (const T of o.tokens) {
      const perIter = (k: 'dispatchUs' | 'combineUs'): number[] => v[0]![String(T)]![k].map((_, i) => Math.max(...v.map((r) => r[String(T)]![k][i]!)));
      f[`ep.${name}.ranks${W}.tokens${T}.dispatchUsP50`] = pct(perIter('dispatchUs'), 0.5);
      f[`ep.${name}.ranks${W}.tokens${T}.combineUsP50`] = pct(perIter('combineUs'), 0.5);
    }
  }
}

/** Overwrites the baseline, p2p and ratio keys with the medians of paired runs (see xccl/bench/pairs.ts). */
function pairFigures(f: Figures, s: PairSeries, keys: { baseline: string; p2p: string; ratio: string }, isAtTarget?: (r: number) => boolean): void {
  f[keys.baseline] = median(s.baseline);
  f[keys.p2p] = median(s.p2p);
  f[keys.ratio] = median(s.ratio);
  f[`${keys.ratio}.min`] = Math.min(...s.ratio);
  f[`${keys.ratio}.max`] = Math.max(...s.ratio);
  f[`${keys.ratio}.pairs`] = s.ratio.length;
  if (isAtTarget) f[`${keys.ratio}.pairsAtTarget`] = s.ratio.filter(isAtTarget).length;
}

async function benchPairs(f: Figures, name: string, pairs: number, spinUs: number, cfg: RunConfig): Promise<void> {
  if (name === 'shm') {
    const s = await shmPairs(pairs, spinUs, cfg.isPinRequested);
    pairFigures(f, s.bandwidth, { baseline: 'baseline.memcpyGbPerSec_1MiB', p2p: 'p2p.shm.gbPerSec_1MiB', ratio: 'ratio.shmToMemcpy_1MiB' }, (r) => r >= 0.8);
    pairFigures(f, s.oneCopyBandwidth, { baseline: 'baseline.memcpyOneCopyGbPerSec_1MiB', p2p: 'p2p.shm.gbPerSec_1MiB', ratio: 'ratio.shmToOneCopy_1MiB' }, (r) => r >= 0.8);
    pairFigures(f, s.ringBandwidth, { baseline: 'baseline.memcpyGbPerSec_1MiB', p2p: 'p2p.shm.gbPerSec_1MiB_ring', ratio: 'ratio.shmRingToMemcpy_1MiB' }, (r) => r >= 0.8);
    f['p2p.shm.zeroCopyFraction_1MiB'] = median(s.zeroCopyFraction);
    pairFigures(f, s.sharedOneCopyBandwidth, { baseline: 'baseline.memcpyOneCopyGbPerSec_1MiB', p2p: 'p2p.shm.gbPerSec_1MiB_shared', ratio: 'ratio.shmSharedToOneCopy_1MiB' }, (r) => r >= 0.8);
    f['p2p.shm.receiverCopiedFraction_1MiB_shared'] = median(s.receiverCopied);
    pairFigures(f, s.latency, { baseline: 'baseline.memcpyLatencyUsP50_64B', p2p: 'p2p.shm.latencyUsP50_64B', ratio: 'ratio.shmToMemcpyLatency_64B' });
    f['p2p.shm.latencyUsP50_64B.min'] = Math.min(...s.latency.p2p);
    f['p2p.shm.latencyUsP50_64B.max'] = Math.max(...s.latency.p2p);
    f['p2p.shm.latencyUsP50_64B.pairsAtTarget'] = s.latency.p2p.filter((us) => us <= 1).length;
    pairFigures(f, s.latencyBlocking, { baseline: 'baseline.memcpyLatencyUsP50_64B', p2p: 'p2p.shm.latencyUsP50_64B_blocking', ratio: 'ratio.shmBlockingToMemcpyLatency_64B' });
    f['p2p.shm.latencyUsP50_64B_blocking.min'] = Math.min(...s.latencyBlocking.p2p);
    f['p2p.shm.latencyUsP50_64B_blocking.max'] = Math.max(...s.latencyBlocking.p2p);
    f['p2p.shm.latencyUsP50_64B_blocking.pairsAtTarget'] = s.latencyBlocking.p2p.filter((us) => us <= 1).length;
  } else {
    const keys = { baseline: 'baseline.socketLatencyUsP50_64B', p2p: 'p2p.tcp.latencyUsP50_64B', ratio: 'ratio.tcpToSocketLatency_64B' };
    pairFigures(f, await socketPairs(pairs, cfg.isPinRequested), keys, (r) => r <= 1.5);
  }
}

function ratios(f: Figures): void {
  const mem = f['baseline.memcpyGbPerSec_1MiB'];
  const shm = f['p2p.shm.gbPerSec_1MiB'];
  if (mem !== undefined && shm !== undefined) f['ratio.shmToMemcpy_1MiB'] ??= shm / mem;
  const one = f['baseline.memcpyOneCopyGbPerSec_1MiB'];
  if (one !== undefined && shm !== undefined) f['ratio.shmToOneCopy_1MiB'] ??= shm / one;
  const shared = f['p2p.shm.gbPerSec_1MiB_shared'];
  if (one !== undefined && shared !== undefined) f['ratio.shmSharedToOneCopy_1MiB'] ??= shared / one;
  const sock = f['baseline.socketLatencyUsP50_64B'];
  const tcp = f['p2p.tcp.latencyUsP50_64B'];
  if (sock !== undefined && tcp !== undefined) f['ratio.tcpToSocketLatency_64B'] ??= tcp / sock;
}

const PARTS = ['baseline', 'p2p', 'park', 'ep'];

function parseParts(only: string | undefined): Set<string> {
  const parts = (only ?? PARTS.join(',')).split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const p of parts) if (!PARTS.includes(p)) throw new XdsError('invalid_argument', `--only takes a comma list of ${PARTS.join(', ')}; got '${p}'`, { param: 'only' });
  return new Set(parts);
}

export const command: Command = {
  name: 'bench xccl',
  summary: 'XCCL p2p latency/bandwidth and dispatch/combine latency, with memcpy and socket baselines',
  usage: USAGE,
  async run(argv) {
    const { values: flags } = parseFlags(argv, { transport: { type: 'string' }, json: { type: 'boolean' }, 'max-ranks': { type: 'string' }, tokens: { type: 'string' }, iters: { type: 'string' }, int8: { type: 'boolean' }, 'spin-us': { type: 'string' }, only: { type: 'string' }, pin: { type: 'boolean' }, pairs: { type: 'string' } });
    // NOTE: p2p over shm is measured with long spins (the "when spinning" target); EP ranks use the
    // default short spin, since 8 spinning ranks on 2 cores would starve each other.
    const spinUs = numberFlag(flags['spin-us'], 'spin-us', 20_000, 0, 1_000_000);
    const t = flags.transport;
    if (t !== undefined && t !== 'shm' && t !== 'tcp') throw new XdsError('invalid_argument', `--transport must be shm or tcp, got '${t}'`, { param: 'transport' });
    const tokens = (flags.tokens ?? '1,16,128').split(',').map((s) => numberFlag(s, 'tokens', 1, 1, 4096));
    const ep: EpOpts = { maxRanks: numberFlag(flags['max-ranks'], 'max-ranks', 8, 2, 8), tokens, iters: numberFlag(flags.iters, 'iters', 8, 1, 1000), isInt8: flags.int8 ?? false };
    const parts = parseParts(flags.only);
    const pairs = numberFlag(flags.pairs, 'pairs', 5, 0, 50);
    const f: Figures = {};
    const cfg: RunConfig = { isPinRequested: flags.pin ?? false, isPinned: flags.pin ?? false };
    if (parts.has('baseline')) {
      baselineMemcpy(f);
      await baselineSocket(f);
    }
    for (const name of t ? [t] : ['shm', 'tcp']) {
      const kind: LaunchKind = name === 'shm' ? 'shm-thread' : 'tcp';
      if (parts.has('p2p')) await benchP2p(f, name, kind, spinUs, cfg);
      if (parts.has('p2p') && parts.has('baseline') && pairs > 0) await benchPairs(f, name, pairs, spinUs, cfg);
      if (name === 'shm' && parts.has('park')) await benchPark(f, cfg);
      if (parts.has('ep')) await benchEp(f, name, kind, ep, cfg);
    }
    ratios(f);
    if (flags.json) process.stdout.write(JSON.stringify({ 'config.pinned': cfg.isPinned, ...f }, null, 2) + '\n');
    else process.stdout.write(`${'config.pinned'.padEnd(48)} ${cfg.isPinned}\n`);
    if (!flags.json) for (const [k, v] of Object.entries(f)) process.stdout.write(`${k.padEnd(48)} ${v.toFixed(3)}\n`);
    return 0;
  },
};
