/**
 * The `tcp` transport (paper notes §2.4 semantics, CPU-FACTS.md §3 sockets): for ranks on different
 * hosts, or processes without shared memory. Each rank keeps its region in local memory; a put or
 * a signal travels as a frame that the peer's read callback applies to its region in order, and
 * a get is a request answered from the peer's region by its event loop (so a pull needs no action
 * by the peer's application). Everything queued in one synchronous run, and in the promise
 * continuations it sets off, leaves in one write per peer at the end of that run. Back-pressure
 * is end to end: p2p ring credits and EP acks bound what is in flight. A closed connection makes
 * every wait on that peer end in `xccl_peer_gone`. Connections (one per pair of ranks, frames both
 * ways): links.ts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { XdsError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { RegionLayout } from '../region.js';
import type { Transport, WaitSpec } from '../transport.js';
import { FRAME, FrameParser, type FrameHandler } from './frames.js';
import { Outbox } from './outbox.js';
import { WaitList } from './waits.js';
import { acceptHello, dialPeer, joinOrFail, listen, type Endpoint } from './links.js';

/** Microtask hops the flush of a run waits for a park to flush first (see flushLater). */
const FLUSH_HOPS = 4;
/** Batches up to this size are copied into one buffer; bigger ones are corked writes. */
const COALESCE_BYTES = 64 * 1024;

export interface TcpOptions { readonly clock: Clock; readonly timeoutMs: number }

interface PendingGet { readonly peer: number; readonly dst: Uint8Array; readonly resolve: () => void; readonly reject: (e: unknown) => void; readonly timer: NodeJS.Timeout }

export class TcpTransport implements Transport {
  readonly kind = 'tcp' as const;
  readonly local: Uint8Array;
  readonly localWords: Int32Array;
  /** Per peer: the one connection to it (dialed toward a lower rank, accepted from a higher one). */
  private readonly conns: (Socket | undefined)[];
  private readonly boxes: Outbox[];
  private readonly parsers: FrameParser[];
  private readonly handlers: FrameHandler[];
  private readonly dirty: number[] = []; // peers whose outbox holds frames, in order of their first frame
  private isFlushQueued = false; // a flushLater chain (or its tick) is pending
  private flushHops = 0; // microtask hops of that chain so far
  private readonly gone: string[];
  private readonly waits: WaitList;
  private readonly gets = new Map<number, PendingGet>();
  private nextReqId = 1;
  private isClosed = false;
  server: Server | undefined;

  constructor(readonly rank: number, readonly worldSize: number, readonly layout: RegionLayout, private readonly clock: Clock) {
    this.local = new Uint8Array(layout.totalBytes);
    this.localWords = new Int32Array(this.local.buffer, 0, layout.metaBytes / 4);
    this.conns = new Array<Socket | undefined>(worldSize).fill(undefined);
    this.boxes = Array.from({ length: worldSize }, () => new Outbox());
    this.parsers = Array.from({ length: worldSize }, () => new FrameParser());
    this.handlers = Array.from({ length: worldSize }, (_, peer) => (type: number, buf: Buffer, start: number, end: number) => this.onFrame(peer, type, buf, start, end));
    this.gone = new Array<string>(worldSize).fill('');
    this.waits = new WaitList(this, (spec) => this.timeoutError(spec.what, spec.peer));
  }

  nowUs(): number { return this.clock.nowUs(); }

  /** True once close() began (connection attempts stop). */
  get isClosing(): boolean { return this.isClosed; }

  /** Applies the frames in `buf[0, n)` read from `peer` (the read callback of the connection this rank dialed). */
  onRead(peer: number, buf: Buffer, n: number): void {
    this.parsers[peer]!.drain(buf, n, this.handlers[peer]!);
  }

  /** The handler of the frames `peer` sends (on a connection this rank accepted; links.ts parses them). */
  frameHandler(peer: number): FrameHandler {
    return this.handlers[peer]!;
  }

  /** True when `peer` may dial this rank now: a higher rank, not connected yet. */
  mayAccept(peer: number): boolean {
    return Number.isInteger(peer) && peer > this.rank && peer < this.worldSize && this.conns[peer] === undefined;
  }

  /**
   * Adopts the connection to `peer` (frames both ways). Its close marks the peer gone: both read
   * paths deliver every byte before 'close', so the peer's last frames are applied first.
   */
  attach(peer: number, socket: Socket): void {
    this.conns[peer] = socket;
    socket.on('close', () => this.markGone(peer, 'closed its connection'));
  }

  put(peer: number, offset: number, src: Uint8Array): void {
    if (peer === this.rank) this.local.set(src, offset);
    // NOTE: small puts are copied (callers reuse scratch headers); large ones are referenced until
    // written, which the protocols allow (a p2p send completes on the ACK, EP areas on the acks).
    else this.box(peer, false)?.frame(FRAME.put, 2, offset, src.byteLength, 0, src);
  }

  signal(peer: number, wordIdx: number, value: number): void {
    if (peer === this.rank) this.applySignal(wordIdx, value);
    else this.box(peer, false)?.signal(wordIdx, value);
  }

  get(peer: number, offset: number, dst: Uint8Array, deadlineUs: number): void | Promise<void> {
    if (peer === this.rank) { dst.set(this.local.subarray(offset, offset + dst.byteLength)); return; }
    this.checkPeer(peer);
    const reqId = this.nextReqId++;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { this.gets.delete(reqId); reject(this.timeoutError(`a pull of ${dst.byteLength} bytes`, peer)); }, this.msUntil(deadlineUs));
      this.gets.set(reqId, { peer, dst, resolve, reject, timer });
      this.box(peer, false)?.frame(FRAME.getReq, 3, reqId, offset, dst.byteLength);
      this.flushAll(); // the request leaves now (this rank waits for the answer)
    });
  }

  waitLocal(spec: WaitSpec): number | Promise<number> {
    const v = this.beforeWait(spec);
    return v !== undefined ? v : this.waits.park(spec);
  }

  parkLocal(spec: WaitSpec, onValue: (value: number) => void, onError: (e: unknown) => void): number | undefined {
    const v = this.beforeWait(spec);
    if (v === undefined) this.waits.parkWith(spec, onValue, onError);
    return v;
  }

  /** Flushes, then the word's value if `spec.pred` holds now; undefined when the wait must park. */
  private beforeWait(spec: WaitSpec): number | undefined {
    // NOTE: a rank that waits has queued what its peers need (a reply, an ACK, a barrier epoch),
    // so it leaves now, not at the end of the run: the peer starts on it while this rank unwinds
    // its promise chain, and it is out even if this rank then runs on without yielding (a long
    // compute, a hang, an exit).
    if (this.dirty.length > 0) this.flushAll();
    const v = Atomics.load(this.localWords, spec.wordIdx);
    if (spec.pred(v)) return v;
    this.checkPeer(spec.peer);
    return undefined;
  }

  checkPeer(peer: number): void {
    const why = this.gone[peer];
    if (why) throw this.goneError(peer, why);
  }

  private goneError(peer: number, why: string): XdsError {
    return new XdsError('xccl_peer_gone', `xccl rank ${this.rank}: peer rank ${peer} ${why}`, { param: `rank ${peer}` });
  }

  msUntil(deadlineUs: number): number {
    return Math.max(0, (deadlineUs - this.nowUs()) / 1000);
  }

  /** The outbox toward `peer`, with a flush queued; undefined toward a gone peer (throws unless `isReply`). */
  private box(peer: number, isReply: boolean): Outbox | undefined {
    const s = this.conns[peer];
    if (this.gone[peer] || s === undefined || s.destroyed) {
      if (isReply) return undefined;
      this.checkPeer(peer);
      if (s !== undefined) throw this.goneError(peer, 'closed its connection');
      return undefined;
    }
    const box = this.boxes[peer]!;
    if (box.isEmpty) {
      this.dirty.push(peer);
      if (!this.isFlushQueued) {
        this.isFlushQueued = true;
        this.flushHops = 0;
        queueMicrotask(this.flushLater);
      }
    }
    return box;
  }

  /**
   * The flush of a run that does not park. NOTE: this microtask requeues itself for a few hops
   * (a park flushes in the meantime, see waitLocal: then it stops), then queues a tick. Node runs
   * the tick queue only once the microtask queue is empty, so the flush comes after every promise
   * continuation set off by this run (the receiver's credit and ACK signals, then the reply its
   * application sends): they leave in one write, before the event loop polls again.
   */
  private readonly flushLater = (): void => {
    if (this.dirty.length === 0) this.isFlushQueued = false;
    else if (++this.flushHops < FLUSH_HOPS) queueMicrotask(this.flushLater);
    else process.nextTick(this.flushQueued);
  };

  private readonly flushQueued = (): void => {
    this.isFlushQueued = false;
    this.flushAll();
  };

  private flushAll(): void {
    for (const peer of this.dirty) this.flush(peer);
    this.dirty.length = 0;
  }

  /** Writes the batch toward `peer`: one write; large batches are corked instead of copied. */
  private flush(peer: number): void {
    const s = this.conns[peer];
    const q = this.boxes[peer]!.take();
    if (s === undefined || s.destroyed || q.length === 0) return;
    if (q.length === 1) { s.write(q[0]!); return; }
    const total = q.reduce((n, b) => n + b.byteLength, 0);
    if (total <= COALESCE_BYTES) { s.write(Buffer.concat(q, total)); return; }
    s.cork();
    for (const b of q) s.write(b);
    s.uncork();
  }

  private timeoutError(what: string, peer: number): XdsError {
    return new XdsError('xccl_timeout', `xccl rank ${this.rank}: timed out waiting for ${what} (rank ${peer})`);
  }

  /** Applies one frame whose body is `buf[start, end)`. */
  private onFrame(peer: number, type: number, buf: Buffer, start: number, end: number): void {
    switch (type) {
      case FRAME.put: this.applyPut(buf, start, end); break;
      case FRAME.signals: this.applySignals(buf, start, end); break;
      case FRAME.getReq: this.serveGet(peer, buf.readInt32LE(start), buf.readUInt32LE(start + 4), buf.readUInt32LE(start + 8)); break;
      case FRAME.getResp: this.finishGet(buf.readInt32LE(start), buf, start + 4, end); break;
      default: this.markGone(peer, `sent an unknown frame type ${type}`);
    }
  }

  /** A put body: [offset, payloadBytes][payload][wordIdx, value]*. */
  private applyPut(buf: Buffer, start: number, end: number): void {
    const n = buf.readUInt32LE(start + 4);
    if (n > 0) this.local.set(new Uint8Array(buf.buffer, buf.byteOffset + start + 8, n), buf.readUInt32LE(start));
    this.applySignals(buf, start + 8 + n, end);
  }

  private applySignals(buf: Buffer, p: number, end: number): void {
    for (; p < end; p += 8) this.applySignal(buf.readUInt32LE(p), buf.readInt32LE(p + 4));
  }

  private applySignal(wordIdx: number, value: number): void {
    Atomics.store(this.localWords, wordIdx, value);
    this.waits.wake(wordIdx, value);
  }

  private serveGet(peer: number, reqId: number, offset: number, len: number): void {
    this.box(peer, true)?.frame(FRAME.getResp, 1, reqId, 0, 0, this.local.subarray(offset, offset + len));
  }

  private finishGet(reqId: number, buf: Buffer, start: number, end: number): void {
    const g = this.gets.get(reqId);
    if (!g) return;
    this.gets.delete(reqId);
    clearTimeout(g.timer);
    g.dst.set(new Uint8Array(buf.buffer, buf.byteOffset + start, Math.min(end - start, g.dst.byteLength)));
    g.resolve();
  }

  /** Marks `peer` gone: every wait and pull on it fails now, later ones at once. */
  markGone(peer: number, why: string): void {
    if (this.gone[peer]) return;
    this.gone[peer] = why;
    const err = this.goneError(peer, why);
    this.waits.failPeer(peer, err);
    for (const [id, g] of this.gets) if (g.peer === peer) { this.gets.delete(id); clearTimeout(g.timer); g.reject(err); }
  }

  /** Sends what is queued, closes every connection (peers see this rank gone) and the listener. */
  async close(): Promise<void> {
    this.isClosed = true;
    for (let p = 0; p < this.worldSize; p++) if (!this.gone[p]) this.gone[p] = 'closed (local side)';
    this.flushAll(); // frames of this run still leave
    this.waits.unref();
    const sockets = this.conns.filter((s): s is Socket => s !== undefined);
    this.server?.close(); // stops listening now; its close callback never fires (links.ts readThroughBuffer)
    // NOTE: each connection ends once what was written on it has left and the peer ended it too
    // (as the server's close callback waited for before), then it is destroyed.
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => { if (s.closed) resolve(); else { s.once('close', () => resolve()); s.end(); } })));
    for (const s of sockets) s.destroy();
  }
}

/** Listens on this rank's endpoint, dials every lower rank, and returns once every higher rank has dialed in. */
export async function connectTcp(endpoints: readonly Endpoint[], rank: number, layout: RegionLayout, opts: TcpOptions): Promise<TcpTransport> {
  const W = layout.config.worldSize;
  const tr = new TcpTransport(rank, W, layout, opts.clock);
  const deadline = opts.clock.nowUs() + opts.timeoutMs * 1000;
  let numLinks = 0; // connections up, of W - 1
  let onLink: () => void = () => {};
  const allLinked = new Promise<void>((resolve) => { onLink = () => { if (++numLinks === W - 1) resolve(); }; if (W === 1) resolve(); });
  tr.server = createServer({ pauseOnConnect: true }, (accepted) => acceptHello(accepted, (peer, socket) => {
    if (!tr.mayAccept(peer)) return undefined;
    tr.attach(peer, socket);
    onLink();
    return tr.frameHandler(peer);
  }));
  await listen(tr.server, endpoints[rank]!, rank);
  const dials = Promise.all(endpoints.map(async (ep, peer) => {
    if (peer >= rank) return;
    const s = await dialPeer(ep, peer, rank, { deadlineUs: deadline, clock: opts.clock, isCancelled: () => tr.isClosing }, (buf, n) => tr.onRead(peer, buf, n));
    tr.attach(peer, s);
    onLink();
  }));
  await joinOrFail(tr, Promise.all([allLinked, dials]), deadline, opts.clock, () => numLinks);
  return tr;
}
