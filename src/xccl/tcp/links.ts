/**
 * Connections of the `tcp` transport (paper notes §2.4 semantics over sockets; CPU-FACTS.md §3):
 * one connection per direction between two ranks. Each rank dials every peer and reads what that
 * peer writes on it, through `onread` into one fixed buffer per peer (no Buffer and no stream
 * 'data' event per read). The peer writes on the connection it accepted, after the hello that
 * names the dialing rank. Nagle is off on both. Also the listen and the join deadline.
 */
import { connect, type Server, type Socket } from 'node:net';
import { XdsError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import { FRAME, FrameParser, frameHeader } from './frames.js';

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
 * Reads the hello on an accepted connection and hands it over with the rank it names. Nothing
 * may follow the hello on it (the dialing rank only reads there): `onExtra` reports bytes that do.
 */
export function acceptHello(socket: Socket, onHello: (peer: number) => void, onExtra: (peer: number) => void): void {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  const parser = new FrameParser();
  let peer = -1;
  socket.on('data', (d: Buffer) => {
    parser.drain(d, d.length, (type, buf, start) => {
      if (peer >= 0) return onExtra(peer);
      if (type !== FRAME.hello) { socket.destroy(); return; }
      peer = buf.readInt32LE(start);
      onHello(peer);
    });
    if (peer >= 0 && parser.pendingBytes > 0) onExtra(peer);
  });
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
    timer = setTimeout(() => reject(new XdsError('xccl_timeout', `xccl rank ${tr.rank}: only ${numLinks()} of ${2 * (tr.worldSize - 1)} tcp connections up by the join deadline`)), ms);
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
