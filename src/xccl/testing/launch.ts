/**
 * Launchers for XCCL ranks as real worker threads or real child processes (tests and the bench).
 * Each rank runs rank-entry.ts: it opens the communicator from a plain spec, runs one named
 * scenario and reports a plain result. A launcher that sees a thread rank exit marks it dead in
 * its region, the way a TE-shell would report a lost die.
 */
import { Worker } from 'node:worker_threads';
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { makeRegionLayout, type RegionConfig } from '../region.js';
import { allocateThreadRegions, markThreadRankDead } from '../shm/thread.js';
import { processRegionPaths, unlinkProcessRegions } from '../shm/process.js';
import type { CommunicatorOptions, CommunicatorSpec, TransportSpec } from '../communicator.js';

export type LaunchKind = 'shm-thread' | 'shm-process' | 'tcp';

/** What one rank reports: its scenario's value, or the XdsError code and message it ended with. */
/** `cpu`: the CPU the rank was pinned to, when the launch asked for pinning and it worked. */
export type RankResult = { readonly ok: true; readonly value: unknown; readonly cpu?: number } | { readonly ok: false; readonly code: string; readonly message: string };

export interface RankJob {
  readonly kind: 'rank-job';
  readonly spec: CommunicatorSpec;
  readonly rank: number;
  readonly scenario: string;
  readonly params: unknown;
  readonly options: Omit<CommunicatorOptions, 'clock'>;
  /** Pin the rank's thread to this index of the allowed CPUs (mod their count) before it opens; absent: unpinned. */
  readonly cpu?: number;
}

export interface LaunchArgs {
  readonly region: Partial<RegionConfig> & { worldSize: number };
  readonly scenario: string;
  readonly params?: unknown;
  readonly options?: Omit<CommunicatorOptions, 'clock'>;
  /** Watchdog: ranks still running after this long are killed (a hung test must not hang the suite). */
  readonly killAfterMs?: number;
  /** Pin rank i to CPU i mod ncpu (as latency benchmarks bind their ranks); default unpinned. */
  readonly pinCpus?: boolean;
}

const DEFAULT_KILL_AFTER_MS = 120_000;

/** The entry file beside this one: compiled .js under dist/, or .ts run through tsx. */
function entry(): { path: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const isTs = here.endsWith('.ts');
  return { path: here.replace(/launch\.(ts|js)$/, `rank-entry.${isTs ? 'ts' : 'js'}`), execArgv: isTs ? ['--import', 'tsx'] : [] };
}

/** Free TCP ports on localhost (bound then released; a small race is acceptable in tests). */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    ports.push(await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => resolve(typeof a === 'object' && a ? a.port : 0)); });
    }));
  }
  return ports;
}

export async function launchRanks(kind: LaunchKind, args: LaunchArgs): Promise<RankResult[]> {
  const W = args.region.worldSize;
  const nonce = randomBytes(4).readInt32LE(0);
  if (kind === 'shm-thread') {
    const regions = allocateThreadRegions(makeRegionLayout(args.region));
    return runThreads({ kind, regions }, regions, nonce, args);
  }
  if (kind === 'tcp') {
    const ports = await freePorts(W);
    return runProcesses({ kind, endpoints: ports.map((port) => ({ host: '127.0.0.1', port })) }, nonce, args);
  }
  const paths = processRegionPaths(`${process.pid}-${nonce >>> 0}`, W);
  try {
    return await runProcesses({ kind, paths }, nonce, args);
  } finally {
    unlinkProcessRegions(paths);
  }
}

function job(transport: TransportSpec, nonce: number, rank: number, args: LaunchArgs): RankJob {
  const base = { kind: 'rank-job', spec: { transport, region: args.region, nonce }, rank, scenario: args.scenario, params: args.params ?? null, options: args.options ?? {} } as const;
  return args.pinCpus === true ? { ...base, cpu: rank } : base;
}

function runThreads(transport: TransportSpec, regions: SharedArrayBuffer[], nonce: number, args: LaunchArgs): Promise<RankResult[]> {
  const { path, execArgv } = entry();
  return Promise.all(regions.map((region, rank) => new Promise<RankResult>((resolve) => {
    const workerData = job(transport, nonce, rank, args);
    // Under tsx (path ends in .ts) the worker registers tsx itself, then imports the entry.
    const w = execArgv.length === 0 ? new Worker(path, { workerData })
      : new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(path).href)}); })`, { eval: true, workerData });
    let result: RankResult | undefined;
    const watchdog = setTimeout(() => { result ??= { ok: false, code: 'killed', message: `rank ${rank} killed by the launcher watchdog` }; void w.terminate(); }, args.killAfterMs ?? DEFAULT_KILL_AFTER_MS);
    w.on('message', (m: RankResult) => { result = m; });
    w.on('error', (e) => { result ??= { ok: false, code: 'crash', message: e.message }; });
    w.on('exit', (code) => {
      clearTimeout(watchdog);
      markThreadRankDead(region);
      resolve(result ?? { ok: false, code: 'exit', message: `rank ${rank} exited with code ${code}` });
    });
  })));
}

function runProcesses(transport: TransportSpec, nonce: number, args: LaunchArgs): Promise<RankResult[]> {
  const { path, execArgv } = entry();
  const W = args.region.worldSize;
  return Promise.all(Array.from({ length: W }, (_, rank) => new Promise<RankResult>((resolve) => {
    const child: ChildProcess = fork(path, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: RankResult | undefined;
    const watchdog = setTimeout(() => { result ??= { ok: false, code: 'killed', message: `rank ${rank} killed by the launcher watchdog` }; child.kill('SIGKILL'); }, args.killAfterMs ?? DEFAULT_KILL_AFTER_MS);
    child.on('message', (m) => { result = m as RankResult; });
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      resolve(result ?? { ok: false, code: 'exit', message: `rank ${rank} exited with ${signal ?? code}` });
    });
    child.send(job(transport, nonce, rank, args));
  })));
}
