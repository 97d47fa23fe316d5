/**
 * Scenario of zero-copy p2p into the registered application area (p2p-zero-copy.ts; issue 5),
 * run by the conformance suite on every transport with real threads or processes. Pairs 0 → 1 and
 * 2 → 3 at once: the receiver keeps the next receive queued behind the current one (double buffer
 * in its application area), so each post is made before the ACK that lets the sender go on, and
 * every message from ZC_MIN_BYTES up is zero-copy on shm (a small one takes the ring and retires
 * its post); then a message sent before its receive is posted takes the ring. tcp has no
 * zero-copy path and must deliver the same bytes through the ring.
 */
import type { Communicator } from '../communicator.js';
import { checkPayload, makePayload } from './scenarios.js';

/** Bytes of one of the receiver's two buffers in its application area. */
const HALF = 1 << 17;

export interface ZeroCopyReport {
  readonly role: 'sender' | 'receiver';
  /** Per message: bytes received, first wrong byte (-1), whether it resolved to the posted buffer itself. */
  readonly messages: { bytes: number; firstBad: number; inPlace: boolean }[];
  /** The zero-copy counts (null: the transport has no zero-copy path). */
  readonly zc: { sent: number; received: number; unused: number } | null;
}

async function sender(comm: Communicator, peer: number, sizes: readonly number[]): Promise<void> {
  await comm.barrier(); // the receiver posted its first receive
  for (const [i, n] of sizes.entries()) await comm.send(peer, i, makePayload(comm.rank, peer, i, n));
  const late = comm.isend(peer, 50, makePayload(comm.rank, peer, 50, 30_000));
  await comm.barrier();
  await late.wait();
}

async function receiver(comm: Communicator, peer: number, sizes: readonly number[]): Promise<ReportMessages> {
  const bufs = [comm.appArea.subarray(0, HALF), comm.appArea.subarray(HALF, 2 * HALF)];
  const out: ReportMessages = [];
  let h = comm.irecv(peer, 0, bufs[0]);
  await comm.barrier();
  for (let i = 0; i < sizes.length; i++) {
    const next = i + 1 < sizes.length ? comm.irecv(peer, i + 1, bufs[(i + 1) % 2]) : undefined;
    const m = await h.wait();
    out.push({ bytes: m.byteLength, firstBad: checkPayload(m, peer, comm.rank, i), inPlace: m.byteOffset === bufs[i % 2]!.byteOffset && m.buffer === bufs[0]!.buffer });
    if (next) h = next;
  }
  await comm.barrier(); // the sender's late message is in the ring before this receive posts
  const m = await comm.recv(peer, 50, bufs[0]);
  out.push({ bytes: m.byteLength, firstBad: checkPayload(m, peer, comm.rank, 50), inPlace: m.byteOffset === bufs[0]!.byteOffset });
  return out;
}

type ReportMessages = ZeroCopyReport['messages'];

/** params.sizes: message sizes of the posted phase, each at most 128 KiB (one half of an application area of 256 KiB). */
async function zeroCopy(comm: Communicator, params: unknown): Promise<unknown> {
  const { sizes } = params as { sizes: readonly number[] };
  const peer = comm.rank ^ 1;
  const isSender = comm.rank % 2 === 0;
  let messages: ReportMessages = [];
  if (isSender) await sender(comm, peer, sizes);
  else messages = await receiver(comm, peer, sizes);
  const zc = comm.p2p.zc ? { ...comm.p2p.zc.stats } : null;
  const report: ZeroCopyReport = { role: isSender ? 'sender' : 'receiver', messages, zc };
  return report;
}

export const ZERO_COPY_SCENARIOS = { zeroCopy };
