/**
 * Connections of the `tcp` transport (paper notes §2.4 semantics over sockets; CPU-FACTS.md §3):
 * one connection per pair of ranks, carrying frames both ways. The higher rank dials the lower one
 * and sends hello(rank) first; it reads through `onread` into one fixed buffer (no Buffer and no
 * stream 'data' event per read). The lower rank reads the connection it accepted through 'data'
 * events (a server socket has no `onread`). One connection, not one per direction: a reply then
 * carries the TCP ACK of the message it answers, where a connection that only receives sends a
 * pure ACK segment per message (4 segments per round trip instead of 2; docs/xccl.md follow-up 8).
 * Nagle is off on both ends. Also the listen and the join deadline.
 */
import { connect, Socket, type Server } from 'node:net';
import { XdsError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import { FRAME, FrameParser, frameHeader, type FrameHandler } from './frames.js';

export interface Endpoint { readonly host: string; readonly port: number }

/** What joinOrFail needs of the transport being joined. */
export interface Joining { readonly rank: number; readonly worldSize: number; close(): Promise<void> }

/** Bytes of the read buffer of one dialed connection (what one read can deliver). */
const READ_BUFFER_BYTES = 64 * 1024;
/** Pause between dial attempts while a peer is not listening yet (µs). */
const DIAL_RETRY_US = 50_000;

/**
 * Dials `peer` until it answers or the deadline passes, then sends hello(rank). Every read on the
 * connection calls `onRead(buf, n)` with the bytes in `buf[0, n)`, valid only during the call.
 */
export interface DialLimits {
  readonly deadlineUs: number;
  readonly clock: Clock;
  /** True once the transport gave up joining (another connection failed): attempts stop. */
  readonly isCancelled: () => boolean;
}

export async function dialPeer(ep: Endpoint, peer: number, rank: number, limits: DialLimits, onRead: (buf: Buffer, n: number) => void): Promise<Socket> {
  const { deadlineUs, clock } = limits;
  const readBuf = Buffer.allocUnsafe(READ_BUFFER_BYTES); // [READ_BUFFER_BYTES] u8, reused by every read
  const onread = { buffer: readBuf, callback: (n: number): boolean => { onRead(readBuf, n); return true; } };
  for (;;) {
    try {
      const s = await new Promise<Socket>((resolve, reject) => {
        const c = connect({ port: ep.port, host: ep.host, onread }, () => { c.off('error', reject); resolve(c); });
        c.once('error', reject);
      });
      s.on('error', () => {}); // a reset is seen as 'close' (the transport marks the peer gone)
      if (limits.isCancelled()) { s.destroy(); throw new XdsError('xccl_timeout', `xccl rank ${rank}: joining was abandoned`); }
      // NOTE: a dial to a local port nobody listens on yet can pick that very port as its source
      // and connect to itself (TCP simultaneous open); that is no peer, so retry.
      if (s.localPort === s.remotePort && s.localAddress === s.remoteAddress) { s.destroy(); throw new Error('connected to itself'); }
      s.setNoDelay(true);
      s.write(frameHeader(FRAME.hello, [rank]));
      return s;
    } catch (e) {
      if (limits.isCancelled()) throw e;
      if (clock.nowUs() > deadlineUs) throw new XdsError('xccl_timeout', `xccl rank ${rank}: could not reach rank ${peer} at ${ep.host}:${ep.port}: ${(e as Error).message}`, { param: `rank ${peer}` });
      await clock.sleepUs(DIAL_RETRY_US);
    }
  }
}

/**
 * Reads the hello on an accepted connection (from a server made with `pauseOnConnect`), then hands
 * the connection over with the rank it names: `onHello(peer, socket)` returns the handler of the
 * frames that follow (in the same read or later ones), or undefined to refuse it (destroyed).
 * `socket` reads through `onread` as a dialed one does (see readThroughBuffer).
 */
export function acceptHello(accepted: Socket, onHello: (peer: number, socket: Socket) => FrameHandler | undefined): void {
  const parser = new FrameParser();
  let handler: FrameHandler | undefined;
  const first: FrameHandler = (type, buf, start, end) => {
    if (handler !== undefined) return handler(type, buf, start, end);
    if (type !== FRAME.hello || end - start < 4) { socket.destroy(); return; }
    handler = onHello(buf.readInt32LE(start), socket);
    if (handler === undefined) socket.destroy();
  };
  const socket = readThroughBuffer(accepted, (buf, n) => { if (!socket.destroyed) parser.drain(buf, n, first); });
  socket.setNoDelay(true);
  socket.on('error', () => {});
}

/**
 * The accepted connection, reading into one fixed buffer through `onread` (a server socket has no
 * such option): its handle is moved, before any read, into a new Socket made with `onread`. Each
 * read through 'data' events cost about 10 µs of CPU more here (a Buffer per read, the stream
 * machinery), which ate what one connection per pair saved (docs/xccl.md follow-up 8).
 * NOTE: `_handle` and the `handle` option of Socket are Node internals (net.js; Node 20); without
 * them this falls back to 'data' events. The old Socket object stays counted by its server, so
 * the server's close callback never fires: close the server without waiting for it.
 */
export function readThroughBuffer(accepted: Socket, onRead: (buf: Buffer, n: number) => void): Socket {
  const holder = accepted as unknown as { _handle: unknown };
  const handle = holder._handle;
  if (handle === null || typeof handle !== 'object') {
    accepted.on('data', (d: Buffer) => onRead(d, d.length));
    accepted.resume();
    return accepted;
  }
  holder._handle = null;
  const readBuf = Buffer.allocUnsafe(READ_BUFFER_BYTES); // [READ_BUFFER_BYTES] u8, reused by every read
  const options = { handle, readable: true, writable: true, onread: { buffer: readBuf, callback: (n: number): boolean => { onRead(readBuf, n); return true; } } };
  return new Socket(options as ConstructorParameters<typeof Socket>[0]);
}

export function listen(server: Server, me: Endpoint, rank: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new XdsError('invalid_config', `xccl rank ${rank}: cannot listen on ${me.host}:${me.port}: ${e.message}`, { param: `endpoints[${rank}]` })));
    server.listen(me.port, me.host, () => resolve());
  });
}

/** Waits for `joined` until the join deadline; on failure closes the transport and throws. */
export async function joinOrFail(tr: Joining, joined: Promise<unknown>, deadlineUs: number, clock: Clock, numLinks: () => number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    const ms = Math.max(1, (deadlineUs - clock.nowUs()) / 1000);
    timer = setTimeout(() => reject(new XdsError('xccl_timeout', `xccl rank ${tr.rank}: only ${numLinks()} of ${tr.worldSize - 1} tcp connections up by the join deadline`)), ms);
  });
  try {
    await Promise.race([joined, timeout]);
  } catch (e) {
    await tr.close();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
