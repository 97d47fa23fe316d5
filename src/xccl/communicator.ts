/**
 * The XCCL communicator of one rank (paper notes §2.4): opens the transport named by a plain,
 * serialisable spec (so the same spec crosses a thread, a process or a host), waits until every
 * peer is up, and exposes p2p send/recv and the control collectives. Dispatch/combine and
 * a2e/e2a are built on it in ep/.
 */
import { XdsError, isXdsError } from '../core/errors.js';
import { realClock, type Clock } from '../core/clock.js';
import { RANK_STATE, makeRegionLayout, type RegionConfig } from './region.js';
import type { Transport } from './transport.js';
import { P2p, type XcclHandle } from './p2p.js';
import { Collectives } from './collectives.js';
import { PullExchange } from './ep/pull.js';
import { ShmTransport } from './shm/shm-transport.js';
import { openThreadShm } from './shm/thread.js';
import { openProcessShm } from './shm/process.js';
import { connectTcp } from './tcp/tcp-transport.js';

export interface Endpoint { readonly host: string; readonly port: number }

/** Which medium connects the ranks; plain data (no class instances), postable to workers. */
export type TransportSpec =
  | { readonly kind: 'shm-thread'; readonly regions: readonly SharedArrayBuffer[] }
  | { readonly kind: 'shm-process'; readonly paths: readonly string[] }
  | { readonly kind: 'tcp'; readonly endpoints: readonly Endpoint[] };

export interface CommunicatorSpec {
  readonly transport: TransportSpec;
  readonly region: Partial<RegionConfig> & { readonly worldSize: number };
  /** Agreed by all ranks of one job; a region stamped with another nonce is stale. */
  readonly nonce?: number;
}

export interface CommunicatorOptions {
  readonly clock?: Clock;
  /** Deadline of every wait (ms). */
  readonly timeoutMs?: number;
  /** shm: spin before parking (µs). */
  readonly spinUs?: number;
  /** shm: park slice (ms), the bound on noticing a dead peer. */
  readonly parkSliceMs?: number;
  /** How long to wait for every peer to join (ms). */
  readonly joinTimeoutMs?: number;
  /** shm: declare a peer gone when its heartbeat word stalls this long (0 = off). */
  readonly heartbeatTimeoutMs?: number;
}

export class Communicator {
  readonly p2p: P2p;
  readonly collectives: Collectives;
  /** The pull engine under dispatch/combine and a2e/e2a (one per rank: it owns the EP area). */
  readonly pull: PullExchange;
  readonly timeoutUs: number;

  constructor(readonly transport: Transport, timeoutMs: number) {
    this.timeoutUs = timeoutMs * 1000;
    this.p2p = new P2p(transport, this.timeoutUs);
    this.collectives = new Collectives(transport, this.timeoutUs);
    this.pull = new PullExchange(transport, this.timeoutUs);
  }

  get rank(): number { return this.transport.rank; }
  /** The registered application area of this rank's region (KV blocks, activations). // [appBytes] u8 */
  get appArea(): Uint8Array {
    const l = this.transport.layout;
    return this.transport.local.subarray(l.appOffset, l.appOffset + l.config.appBytes);
  }
  get worldSize(): number { return this.transport.worldSize; }

  send(peer: number, eventId: number, data: ArrayBufferView): Promise<void> { return this.p2p.send(peer, eventId, data); }
  isend(peer: number, eventId: number, data: ArrayBufferView): XcclHandle<void> { return this.p2p.isend(peer, eventId, data); }
  recv(peer: number, eventId: number, dst?: Uint8Array): Promise<Uint8Array> { return this.p2p.recv(peer, eventId, dst); }
  /** Blocking forms of send / recv on shm (no promise; tcp: invalid_argument). */
  sendSync(peer: number, eventId: number, data: ArrayBufferView): void { this.p2p.sendSync(peer, eventId, data); }
  recvSync(peer: number, eventId: number, dst?: Uint8Array): Uint8Array { return this.p2p.recvSync(peer, eventId, dst); }
  irecv(peer: number, eventId: number, dst?: Uint8Array): XcclHandle<Uint8Array> { return this.p2p.irecv(peer, eventId, dst); }
  barrier(): Promise<void> { return this.collectives.barrier(); }
  allGather(data: ArrayBufferView): Promise<Uint8Array[]> { return this.collectives.allGather(data); }
  /** Waits (bounded by the timeout) until peers have pulled this rank's last EP publication, then closes. */
  async close(): Promise<void> {
    try {
      await this.pull.reclaimArea();
    } catch (e) {
      if (!isXdsError(e)) throw e; // a peer that is gone or late no longer needs our area
    } finally {
      await this.transport.close();
    }
  }
}

export async function createCommunicator(spec: CommunicatorSpec, rank: number, opts: CommunicatorOptions = {}): Promise<Communicator> {
  const layout = makeRegionLayout(spec.region);
  const W = layout.config.worldSize;
  if (!Number.isInteger(rank) || rank < 0 || rank >= W) throw new XdsError('invalid_argument', `xccl: rank must be in [0, ${W}), got ${rank}`, { param: 'rank' });
  const clock = opts.clock ?? realClock;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const joinTimeoutMs = opts.joinTimeoutMs ?? Math.max(timeoutMs, 30_000);
  const shmOpts = { clock, spinUs: opts.spinUs ?? 20, parkSliceMs: opts.parkSliceMs ?? 5, heartbeatTimeoutMs: opts.heartbeatTimeoutMs ?? 0 };
  const t = spec.transport;
  let transport: Transport;
  if (t.kind === 'tcp') {
    checkCount(t.endpoints.length, W, 'endpoints');
    transport = await connectTcp(t.endpoints, rank, layout, { clock, timeoutMs: joinTimeoutMs });
  } else {
    if (t.kind === 'shm-thread') checkCount(t.regions.length, W, 'regions');
    else checkCount(t.paths.length, W, 'paths');
    const shm = t.kind === 'shm-thread' ? openThreadShm(t.regions, rank, layout, shmOpts) : openProcessShm(t.paths, rank, layout, shmOpts);
    await awaitShmPeers(shm, spec.nonce ?? 0, clock, joinTimeoutMs);
    transport = shm;
  }
  return new Communicator(transport, timeoutMs);
}

function checkCount(n: number, W: number, name: string): void {
  if (n !== W) throw new XdsError('invalid_argument', `xccl: transport has ${n} ${name}, world size is ${W}`, { param: name });
}

async function awaitShmPeers(shm: ShmTransport, nonce: number, clock: Clock, timeoutMs: number): Promise<void> {
  shm.announce(nonce);
  const deadline = clock.nowUs() + timeoutMs * 1000;
  for (let p = 0; p < shm.worldSize; p++) {
    while (shm.peerState(p) !== RANK_STATE.ready) {
      if (shm.peerState(p) !== RANK_STATE.unstarted) shm.checkPeer(p);
      if (clock.nowUs() > deadline) throw new XdsError('xccl_timeout', `xccl rank ${shm.rank}: rank ${p} did not join within ${timeoutMs} ms`, { param: `rank ${p}` });
      await clock.sleepUs(500);
    }
  }
}
