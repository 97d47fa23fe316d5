/**
 * Paired baseline/p2p measurements for the ratio figures of `xdeepserve bench xccl` (issue 5
 * targets: shm 1 MiB >= 0.8x of a native memcpy between cores, tcp 64 B <= 1.5x of a raw socket
 * ping-pong). On a shared host both the baseline and the p2p figure swing by up to 5x between runs
 * seconds apart, so one baseline per run against one p2p run says little. Here each pair measures
 * the baseline and a short p2p launch back to back (their order alternates from pair to pair, so
 * a drift of the host favours neither), and the ratio is the median of the per-pair ratios.
 * The baseline is unchanged: the addon's two-thread memcpy ping-pong (copy in, flag, copy out on
 * the other thread, ack) and the raw socket ping-pong between two child processes; every pair
 * launches fresh ranks, as the main run does. Both sides of a shm pair warm up the same way before
 * they measure (2000 round trips of 64 B, 512 messages of 1 MiB): a fresh launch otherwise
 * measures V8 optimizing the multi-chunk path (docs/xccl.md, follow-up 5).
 */
import { freePorts, launchRanks, type LaunchArgs, type RankResult } from '../testing/launch.js';
import { loadXcclAddon } from '../shm/process.js';
import { XdsError } from '../../core/errors.js';
import { median } from '../../core/stats.js';
import { SLOT_HEADER_BYTES } from '../region.js';
import { sendWarmupFor, type P2pBenchValue } from './rank-bench.js';

export interface PairSeries {
  readonly baseline: number[];
  readonly p2p: number[];
  /** p2p / baseline per pair: GB/s over GB/s (shm 1 MiB), µs over µs (tcp 64 B). */
  readonly ratio: number[];
}

function rankValues(results: readonly RankResult[]): unknown[] {
  for (const [i, r] of results.entries()) if (!r.ok) throw new XdsError('internal', `bench xccl pairs: rank ${i} failed: ${r.code}: ${r.message}`);
  return results.map((r) => (r as { value: unknown }).value);
}

function firstValue(results: readonly RankResult[]): unknown {
  return rankValues(results)[0];
}

/** Runs `pairs` pairs of (baseline, p2p), alternating which goes first. */
async function runPairs<B, P>(pairs: number, baseline: () => Promise<B>, p2p: () => Promise<P>): Promise<{ b: B; p: P }[]> {
  const out: { b: B; p: P }[] = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      const b = await baseline();
      out.push({ b, p: await p2p() });
    } else {
      const p = await p2p();
      out.push({ b: await baseline(), p });
    }
  }
  return out;
}

const MIB = 1 << 20;
const SEND_ITERS = 64; // 1 MiB messages per sample set (p50 of them), as in the main run
const SEND_WARMUP = sendWarmupFor(MIB); // unmeasured 1 MiB messages before them, p2p and memcpy alike
const SMALL_ITERS = 20_000; // 64 B round trips, in samples of 20 (the main run's shm latency setting)
const SMALL_WARMUP = SMALL_ITERS / 10; // unmeasured 64 B round trips first (the p2p ping-pong skips as many)

export interface ShmPairSeries {
  /**
   * 1 MiB send+ACK GB/s into pre-posted receives in the registered application area (the KV
   * hand-off path: zero-copy, one copy per message) against the memcpy ping-pong's GB/s (which
   * copies twice: in, then out on the other thread).
   */
  readonly bandwidth: PairSeries;
  /** The registered path against the one-copy ping-pong (copy into the peer's buffer, flag, ack): like for like. */
  readonly oneCopyBandwidth: PairSeries;
  /** The same through the ring (unregistered buffers: sender → ring slot → receiver's buffer, two copies). */
  readonly ringBandwidth: PairSeries;
  /** The registered path from a source in the sender's application area (two-sided copy) against the one-copy ping-pong. */
  readonly sharedOneCopyBandwidth: PairSeries;
  /** Per pair: of those shared-source messages' pieces, the fraction the receiver copied. */
  readonly receiverCopied: number[];
  /** Per pair: the fraction of the registered 1 MiB messages that went zero-copy. */
  readonly zeroCopyFraction: number[];
  /** 64 B one-way p50 µs against the memcpy ping-pong's one-way p50 µs (the host's state in that pair). */
  readonly latency: PairSeries;
  /** The same with the blocking calls (sendSync / recvSync: no promise per message). */
  readonly latencyBlocking: PairSeries;
}

function memcpyAddon(): NonNullable<ReturnType<typeof loadXcclAddon>> {
  const addon = loadXcclAddon();
  if (!addon) throw new XdsError('internal', 'bench xccl pairs: the xccl addon is not built (npm run build:native)');
  return addon;
}

/**
 * The addon's memcpy ping-pong: [64 B one-way p50 µs, 1 MiB GB/s (p50 of copy in + copy out + ack),
 * 1 MiB GB/s with one copy (into the peer's buffer + ack)]. Measured as the p2p side is: the same
 * warm-up, then the same repetitions (its buffers are pre-faulted by a memset, as p2p's are by the warm-up).
 */
function memcpyFigures(): [number, number, number] {
  const addon = memcpyAddon();
  const smallUs = median(Array.from(addon.memcpyPingPong(64, SMALL_WARMUP + SMALL_ITERS)).slice(SMALL_WARMUP)) / 2000;
  const mibGbPerSec = (copies: 1 | 2): number => MIB / median(Array.from(addon.memcpyPingPong(MIB, SEND_WARMUP + SEND_ITERS, copies)).slice(SEND_WARMUP));
  return [smallUs, mibGbPerSec(2), mibGbPerSec(1)];
}

/** A p2p ring of the bench: slots of `slotPayloadBytes` payload (plus the slot header), `numSlots` of them. */
export interface BenchRing { readonly slotPayloadBytes: number; readonly numSlots: number }

/** The bench's p2p ring: 32 slots of 64 KiB (2 MiB), for the shm pairs and the main run (`bench xccl` benchP2p) alike. */
export const SHM_PAIRS_RING: BenchRing = { slotPayloadBytes: 64 << 10, numSlots: 32 };

/**
 * shm through the public API (worker-thread ranks, the main run's ring and spin): 64 B ping-pong
 * one-way p50 and 1 MiB send+ACK (GB/s from the p50 message time of rank 0), against the memcpy
 * baseline at both sizes, `pairs` times. The 64 B figure per launch is bimodal on a shared VM
 * (every size and the C baseline are slow together in about one launch in three), so the median
 * over launches is the steadier figure.
 */
export async function shmPairs(pairs: number, spinUs: number, pinCpus: boolean, ring: BenchRing = SHM_PAIRS_RING): Promise<ShmPairSeries> {
  const args: LaunchArgs = {
    region: { worldSize: 2, slotBytes: ring.slotPayloadBytes + SLOT_HEADER_BYTES, numSlots: ring.numSlots, epAreaBytes: 0, appBytes: 2 * MIB },
    scenario: 'benchP2p',
    params: { sizes: [64], itersFor: { 64: SMALL_ITERS }, latencyBatch: 20, bandwidthSizes: [MIB], sendIters: SEND_ITERS, sendWarmup: SEND_WARMUP, registered: true, blocking: true },
    options: { spinUs, timeoutMs: 60_000 },
    killAfterMs: 120_000,
    pinCpus,
  };
  const gbPerSec = (us: number[] | undefined): number => MIB / (median(us ?? []) * 1000);
  const p2p = async (): Promise<[number, number, number, number, number, number, number]> => {
    const [v, r] = rankValues(await launchRanks('shm-thread', args)) as [P2pBenchValue, P2pBenchValue];
    const key = String(MIB);
    return [
      median(v.latency['64'] ?? []), gbPerSec(v.registeredUs[key]), gbPerSec(v.sendUs[key]), v.zeroCopySent[key] ?? 0,
      gbPerSec(v.registeredSharedUs[key]), r.receiverCopied[key] ?? 0, median(v.latencyBlocking['64'] ?? []),
    ];
  };
  const both = await runPairs(pairs, async () => memcpyFigures(), p2p);
  const series = (b: 0 | 1 | 2, p: 0 | 1 | 2 | 4 | 6): PairSeries => ({ baseline: both.map((x) => x.b[b]), p2p: both.map((x) => x.p[p]), ratio: both.map((x) => x.p[p] / x.b[b]) });
  return {
    latency: series(0, 0), bandwidth: series(1, 1), oneCopyBandwidth: series(2, 1), ringBandwidth: series(1, 2), zeroCopyFraction: both.map((x) => x.p[3]),
    sharedOneCopyBandwidth: series(2, 4), receiverCopied: both.map((x) => x.p[5]), latencyBlocking: series(0, 6),
  };
}

const PING_ITERS = 3000;

/** tcp 64 B one-way p50 (public API, child-process ranks) against the raw socket ping-pong, `pairs` times (µs). */
export async function socketPairs(pairs: number, pinCpus: boolean): Promise<PairSeries> {
  const socket = async (): Promise<number> => {
    const [port] = await freePorts(1);
    const args: LaunchArgs = { region: { worldSize: 2, slotBytes: 4096, numSlots: 2, epAreaBytes: 0 }, scenario: 'rawSocketPingPong', params: { port, bytes: 64, iters: PING_ITERS } };
    return median(firstValue(await launchRanks('tcp', args)) as number[]);
  };
  const p2p = async (): Promise<number> => {
    const args: LaunchArgs = {
      region: { worldSize: 2, slotBytes: (64 << 10) + SLOT_HEADER_BYTES, numSlots: 32, epAreaBytes: 0 },
      scenario: 'benchP2p',
      params: { sizes: [64], itersFor: { 64: PING_ITERS }, bandwidthSizes: [], latencyBatch: 1 },
      options: { spinUs: 0, timeoutMs: 60_000 },
      killAfterMs: 120_000,
      pinCpus,
    };
    const v = firstValue(await launchRanks('tcp', args)) as { latency: Record<string, number[]> };
    return median(v.latency['64'] ?? []);
  };
  const both = await runPairs(pairs, socket, p2p);
  return { baseline: both.map((x) => x.b), p2p: both.map((x) => x.p), ratio: both.map((x) => x.p / x.b) };
}
