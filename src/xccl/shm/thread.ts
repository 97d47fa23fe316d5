/**
 * `shm` between ranks that are worker threads of one process (ARCHITECTURE.md: a rank is a worker
 * thread; paper notes §2.4.1): each rank's region is one SharedArrayBuffer, all of them handed to
 * every rank, so puts are plain stores into the peer's memory.
 */
import { HDR, RANK_STATE, type RegionLayout } from '../region.js';
import { ShmTransport, threadParker, type ShmOptions } from './shm-transport.js';

/** Allocates one zeroed region per rank (the launcher does this and passes them to the ranks). */
export function allocateThreadRegions(layout: RegionLayout): SharedArrayBuffer[] {
  return Array.from({ length: layout.config.worldSize }, () => new SharedArrayBuffer(layout.totalBytes));
}

export function openThreadShm(regions: readonly SharedArrayBuffer[], rank: number, layout: RegionLayout, opts: ShmOptions): ShmTransport {
  const views = regions.map((sab) => new Uint8Array(sab, 0, layout.totalBytes));
  return new ShmTransport('shm-thread', rank, layout, views, threadParker, opts);
}

/** Called by a launcher that saw a rank's worker exit: its peers then fail with `xccl_peer_gone`. */
export function markThreadRankDead(region: SharedArrayBuffer): void {
  const w = new Int32Array(region, 0, 8);
  if (Atomics.load(w, HDR.state) !== RANK_STATE.closed) Atomics.store(w, HDR.state, RANK_STATE.dead);
  Atomics.notify(w, HDR.state);
}
