/**
 * `shm` between ranks that are separate processes on one host (CPU-FACTS.md §3): each rank's
 * region is a /dev/shm file mapped by every rank through the native addon (build/xccl.node), with
 * futex wait/wake across processes. A peer killed outright is noticed by probing its pid.
 */
import { XdsError } from '../../core/errors.js';
import { loadNativeAddon } from '../../core/native.js';
import type { RegionLayout } from '../region.js';
import { ShmTransport, type Parker, type ShmOptions } from './shm-transport.js';

export interface XcclAddon {
  open(path: string, sizeBytes: number): ArrayBuffer;
  unlink(path: string): boolean;
  /** 0 woken, 1 value differed, 2 timed out. */
  futexWait(words: Int32Array, idx: number, expected: number, timeoutMs: number): number;
  futexWake(words: Int32Array, idx: number, count: number): number;
  /** Per-iteration ns of a two-thread memcpy-in, flag, memcpy-out ping-pong (bench baseline); copies 1: the peer only acks (the zero-copy floor). */
  memcpyPingPong(bytes: number, iters: number, copies?: 1 | 2): Float64Array;
  /** dst[dstOff + i] += w * src[srcOff + i] for i < n (f32). */
  axpy(dst: Float32Array, dstOff: number, src: Float32Array, srcOff: number, n: number, w: number): void;
  /** memmove of n bytes between Uint8Arrays (shared or not); range-checked. Used through copy.ts. */
  copy(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void;
  /** copy in pieces claimed from claim[claimIdx], each followed by a seq-cst add of 1 to progress[progressIdx]; the pieces this call copied. Used through copy.ts. */
  copyClaimed(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number, pieceBytes: number, claim: Int32Array, claimIdx: number, progress: Int32Array, progressIdx: number): number;
  /** sched_yield(): a long spin lets other runnable threads have the core (absent from addons built before it). */
  yieldCpu?(): void;
  /** Binds the calling thread to the index-th allowed CPU (mod their count); the CPU, or -1 (absent from older addons). */
  pinThread?(index: number): number;
}

/**
 * Pins the calling thread (a worker thread or a process's main thread) to the index-th allowed CPU,
 * modulo their count: how latency benchmarks bind their ranks. Returns the CPU, or undefined where
 * it cannot (no addon, not Linux, affinity refused).
 */
export function pinThreadToCpu(index: number): number | undefined {
  const cpu = loadXcclAddon(true)?.pinThread?.(index);
  return cpu === undefined || cpu < 0 ? undefined : cpu;
}

export function loadXcclAddon(quiet = false): XcclAddon | null {
  return loadNativeAddon<XcclAddon>('xccl', { quiet });
}

function requireAddon(): XcclAddon {
  const addon = loadXcclAddon();
  if (!addon) throw new XdsError('invalid_config', "xccl transport 'shm-process' needs the native addon build/xccl.node (run 'npm run build:native'), or use transport 'tcp'", { param: 'transport' });
  return addon;
}

function pidAlive(pid: number): boolean {
  if (pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Region file paths for a job: /dev/shm/xds-JOB-RANK. */
export function processRegionPaths(job: string, worldSize: number, dir = '/dev/shm'): string[] {
  return Array.from({ length: worldSize }, (_, r) => `${dir}/xds-${job}-${r}`);
}

export function openProcessShm(paths: readonly string[], rank: number, layout: RegionLayout, opts: ShmOptions): ShmTransport {
  const addon = requireAddon();
  const views = paths.map((p) => new Uint8Array(addon.open(p, layout.totalBytes)));
  const parker: Parker = {
    park: (words, idx, expected, ms) => { addon.futexWait(words, idx, expected, ms); },
    wake: (words, idx) => { addon.futexWake(words, idx, 2147483647); },
    isAlive: pidAlive,
    yieldCpu: () => addon.yieldCpu?.(),
  };
  return new ShmTransport('shm-process', rank, layout, views, parker, opts);
}

/** Removes the region files of a job (the launcher calls it after the ranks are done). */
export function unlinkProcessRegions(paths: readonly string[]): void {
  const addon = loadXcclAddon(true);
  for (const p of paths) addon?.unlink(p);
}
