/**
 * The `tcp` transport (paper notes §2.4 semantics, CPU-FACTS.md §3 sockets): for ranks on different
 * hosts, or processes without shared memory. Each rank keeps its region in local memory; a put or
 * a signal travels as a frame that the peer's socket handler applies to its region in order, and
 * a get is a request answered from the peer's region by its event loop (so a pull needs no action
 * by the peer's application). Frames queued in one turn of the event loop leave in one write. Back-pressure
 * is end to end: p2p ring credits and EP acks bound what is in flight. A closed socket makes every
 * wait on that peer end in `xccl_peer_gone`.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { XdsError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { RegionLayout } from '../region.js';
import type { Transport, WaitSpec } from '../transport.js';
import { FRAME, FrameParser, frameHeader, type Frame } from './frames.js';
import { Outbox } from './outbox.js';

/** Batches up to this size are copied into one buffer; bigger ones are corked writes. */
const COALESCE_BYTES = 64 * 1024;

export interface TcpOptions { readonly clock: Clock; readonly timeoutMs: number }

/** A parked wait; `dueMs` is its deadline on performance.now(), checked by the sweeper (no timer per wait). */
interface Waiter { readonly spec: WaitSpec; readonly resolve: (v: number) => void; readonly reject: (e: unknown) => void; readonly dueMs: number }

/** Period of the deadline sweep while waits are parked (ms): the bound on how late a timeout fires. */
const SWEEP_MS = 5;
interface PendingGet { readonly peer: number; readonly dst: Uint8Array; readonly resolve: () => void; readonly reject: (e: unknown) => void; readonly timer: NodeJS.Timeout }

export class TcpTransport implements Transport {
  readonly kind = 'tcp' as const;
  readonly local: Uint8Array;
  readonly localWords: Int32Array;
  readonly sockets: (Socket | undefined)[];
  private readonly gone: string[];
  private readonly waiters = new Map<number, Set<Waiter>>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly gets = new Map<number, PendingGet>();
  private readonly outbox = new Map<Socket, Outbox>();
  private readonly flushing = new Set<Socket>();
  private nextReqId = 1;
  server: Server | undefined;

  constructor(readonly rank: number, readonly worldSize: number, readonly layout: RegionLayout, private readonly clock: Clock) {
    this.local = new Uint8Array(layout.totalBytes);
    this.localWords = new Int32Array(this.local.buffer, 0, layout.metaBytes / 4);
    this.sockets = new Array<Socket | undefined>(worldSize).fill(undefined);
    this.gone = new Array<string>(worldSize).fill('');
  }

  nowUs(): number { return this.clock.nowUs(); }

  /** Adopts the socket of `peer` once its hello has been exchanged. */
  attach(peer: number, socket: Socket, parser: FrameParser, early: readonly Frame[] = []): void {
    this.sockets[peer] = socket;
    const onFrame = (type: number, buf: Buffer, start: number, end: number): void => this.onFrame(peer, type, buf, start, end);
    socket.on('data', (d: Buffer) => parser.drain(d, onFrame));
    for (const f of early) this.onFrame(peer, f.type, f.body, 0, f.body.length);
    socket.on('close', () => this.markGone(peer, 'closed its connection'));
    socket.on('error', () => {});
  }

  /** The outbox toward `peer`, with a flush scheduled; undefined toward a gone peer (throws unless `isReply`). */
  private box(peer: number, isReply: boolean): Outbox | undefined {
    const s = this.sockets[peer];
    if (!s || this.gone[peer]) {
      if (!isReply) this.checkPeer(peer);
      return undefined;
    }
    let box = this.outbox.get(s);
    if (!box) this.outbox.set(s, (box = new Outbox()));
    if (!this.flushing.has(s)) {
      this.flushing.add(s);
      setImmediate(() => this.flush(s));
    }
    return box;
  }

  /**
   * Sends everything queued in this turn of the event loop in one write: an ACK and the reply it
   * precedes travel together. Large batches are corked instead of copied.
   */
  private flush(s: Socket): void {
    this.flushing.delete(s);
    const q = this.outbox.get(s)?.take() ?? [];
    if (s.destroyed || q.length === 0) return;
    if (q.length === 1) { s.write(q[0]!); return; }
    const total = q.reduce((n, b) => n + b.byteLength, 0);
    if (total <= COALESCE_BYTES) { s.write(Buffer.concat(q, total)); return; }
    s.cork();
    for (const b of q) s.write(b);
    s.uncork();
  }

  put(peer: number, offset: number, src: Uint8Array): void {
    if (peer === this.rank) this.local.set(src, offset);
    // NOTE: small puts are copied (callers reuse scratch headers); large ones are referenced until
    // written, which the protocols allow (a p2p send completes on the ACK, EP areas on the acks).
    else this.box(peer, false)?.frame(FRAME.put, [offset], src);
  }

  signal(peer: number, wordIdx: number, value: number): void {
    if (peer === this.rank) this.applySignal(wordIdx, value);
    else this.box(peer, false)?.frame(FRAME.signal, [wordIdx, value]);
  }

  get(peer: number, offset: number, dst: Uint8Array, deadlineUs: number): void | Promise<void> {
    if (peer === this.rank) { dst.set(this.local.subarray(offset, offset + dst.byteLength)); return; }
    this.checkPeer(peer);
    const reqId = this.nextReqId++;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { this.gets.delete(reqId); reject(this.timeoutError(`a pull of ${dst.byteLength} bytes`, peer)); }, this.msUntil(deadlineUs));
      this.gets.set(reqId, { peer, dst, resolve, reject, timer });
      this.box(peer, false)?.frame(FRAME.getReq, [reqId, offset, dst.byteLength]);
    });
  }

  waitLocal(spec: WaitSpec): number | Promise<number> {
    const v = Atomics.load(this.localWords, spec.wordIdx);
    if (spec.pred(v)) return v;
    this.checkPeer(spec.peer);
    return new Promise<number>((resolve, reject) => {
      let set = this.waiters.get(spec.wordIdx);
      if (!set) this.waiters.set(spec.wordIdx, (set = new Set()));
      set.add({ spec, resolve, reject, dueMs: performance.now() + this.msUntil(spec.deadlineUs) });
      this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS);
    });
  }

  /** Fails the waits past their deadline; stops itself when no wait is left. */
  private sweep(): void {
    const now = performance.now();
    let left = 0;
    for (const set of this.waiters.values()) {
      for (const w of set) {
        if (now < w.dueMs) left++;
        else { set.delete(w); w.reject(this.timeoutError(w.spec.what, w.spec.peer)); }
      }
    }
    if (left === 0) this.stopSweeper();
  }

  private stopSweeper(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  checkPeer(peer: number): void {
    const why = this.gone[peer];
    if (why) throw new XdsError('xccl_peer_gone', `xccl rank ${this.rank}: peer rank ${peer} ${why}`, { param: `rank ${peer}` });
  }

  private msUntil(deadlineUs: number): number {
    return Math.max(0, (deadlineUs - this.nowUs()) / 1000);
  }

  private timeoutError(what: string, peer: number): XdsError {
    return new XdsError('xccl_timeout', `xccl rank ${this.rank}: timed out waiting for ${what} (rank ${peer})`);
  }

  /** Applies one frame whose body is `buf[start, end)`. */
  private onFrame(peer: number, type: number, buf: Buffer, start: number, end: number): void {
    switch (type) {
      case FRAME.put: this.local.set(buf.subarray(start + 4, end), buf.readUInt32LE(start)); break;
      case FRAME.signal: this.applySignal(buf.readUInt32LE(start), buf.readInt32LE(start + 4)); break;
      case FRAME.getReq: this.serveGet(peer, buf.readInt32LE(start), buf.readUInt32LE(start + 4), buf.readUInt32LE(start + 8)); break;
      case FRAME.getResp: this.finishGet(buf.readInt32LE(start), buf.subarray(start + 4, end)); break;
      default: this.markGone(peer, `sent an unknown frame type ${type}`);
    }
  }

  private applySignal(wordIdx: number, value: number): void {
    Atomics.store(this.localWords, wordIdx, value);
    const set = this.waiters.get(wordIdx);
    if (!set) return;
    for (const w of set) {
      if (!w.spec.pred(value)) continue;
      set.delete(w);
      w.resolve(value);
    }
  }

  private serveGet(peer: number, reqId: number, offset: number, len: number): void {
    this.box(peer, true)?.frame(FRAME.getResp, [reqId], this.local.subarray(offset, offset + len));
  }

  private finishGet(reqId: number, bytes: Buffer): void {
    const g = this.gets.get(reqId);
    if (!g) return;
    this.gets.delete(reqId);
    clearTimeout(g.timer);
    g.dst.set(bytes.subarray(0, g.dst.byteLength));
    g.resolve();
  }

  private markGone(peer: number, why: string): void {
    if (this.gone[peer]) return;
    this.gone[peer] = why;
    const err = new XdsError('xccl_peer_gone', `xccl rank ${this.rank}: peer rank ${peer} ${why}`, { param: `rank ${peer}` });
    for (const set of this.waiters.values()) {
      for (const w of set) if (w.spec.peer === peer) { set.delete(w); w.reject(err); }
    }
    for (const [id, g] of this.gets) if (g.peer === peer) { this.gets.delete(id); clearTimeout(g.timer); g.reject(err); }
  }

  async close(): Promise<void> {
    for (let p = 0; p < this.worldSize; p++) if (!this.gone[p]) this.gone[p] = 'closed (local side)';
    for (const s of [...this.outbox.keys()]) this.flush(s); // frames of this turn still leave
    this.sweeper?.unref(); // waits still parked time out, but do not keep the process alive
    for (const s of this.sockets) s?.end();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    for (const s of this.sockets) s?.destroy();
  }
}

/** Listens on this rank's endpoint, connects to every lower rank, accepts every higher one. */
export async function connectTcp(endpoints: readonly { host: string; port: number }[], rank: number, layout: RegionLayout, opts: TcpOptions): Promise<TcpTransport> {
  const W = layout.config.worldSize;
  const tr = new TcpTransport(rank, W, layout, opts.clock);
  const deadline = opts.clock.nowUs() + opts.timeoutMs * 1000;
  let joined = 0;
  let onJoin: () => void = () => {};
  const allJoined = new Promise<void>((resolve) => { onJoin = () => { if (++joined === W - 1) resolve(); }; if (W === 1) resolve(); });
  const adopt = (socket: Socket, peer: number, parser: FrameParser, early: readonly Frame[] = []): void => { socket.setNoDelay(true); tr.attach(peer, socket, parser, early); onJoin(); };
  tr.server = createServer((socket) => awaitHello(socket, (peer, parser, early) => adopt(socket, peer, parser, early)));
  const me = endpoints[rank]!;
  await new Promise<void>((resolve, reject) => {
    tr.server!.once('error', (e) => reject(new XdsError('invalid_config', `xccl rank ${rank}: cannot listen on ${me.host}:${me.port}: ${e.message}`, { param: `endpoints[${rank}]` })));
    tr.server!.listen(me.port, me.host, () => resolve());
  });
  for (let p = 0; p < rank; p++) {
    const socket = await dialWithRetry(endpoints[p]!, deadline, opts.clock, p);
    socket.write(frameHeader(FRAME.hello, [rank]));
    adopt(socket, p, new FrameParser());
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new XdsError('xccl_timeout', `xccl rank ${rank}: only ${joined} of ${W - 1} tcp peers joined in ${opts.timeoutMs} ms`)), Math.max(1, (deadline - opts.clock.nowUs()) / 1000));
  });
  try {
    await Promise.race([allJoined, timeout]);
  } catch (e) {
    await tr.close();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return tr;
}

function awaitHello(socket: Socket, done: (peer: number, parser: FrameParser, early: readonly Frame[]) => void): void {
  const parser = new FrameParser();
  socket.on('error', () => {});
  socket.on('data', function onData(d: Buffer) {
    const frames = parser.push(d);
    const hello = frames[0];
    if (!hello) return;
    socket.off('data', onData);
    if (hello.type !== FRAME.hello) { socket.destroy(); return; }
    done(hello.body.readInt32LE(0), parser, frames.slice(1));
  });
}

async function dialWithRetry(ep: { host: string; port: number }, deadlineUs: number, clock: Clock, peer: number): Promise<Socket> {
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(ep.port, ep.host, () => { s.off('error', reject); resolve(s); });
        s.once('error', reject);
      });
    } catch (e) {
      if (clock.nowUs() > deadlineUs) throw new XdsError('xccl_timeout', `xccl: could not reach rank ${peer} at ${ep.host}:${ep.port}: ${(e as Error).message}`, { param: `rank ${peer}` });
      await clock.sleepUs(50_000);
    }
  }
}
