/**
 * Scenario of zero-copy p2p into the registered application area (p2p-zero-copy.ts; issue 5),
 * run by the conformance suite on every transport with real threads or processes. Pairs 0 → 1 and
 * 2 → 3 at once: the receiver keeps the next receive queued behind the current one (double buffer
 * in its application area), so each post is made before the ACK that lets the sender go on, and
 * every message from ZC_MIN_BYTES up is zero-copy on shm (a small one takes the ring and retires
 * its post); then a message sent before its receive is posted takes the ring. tcp has no
 * zero-copy path and must deliver the same bytes through the ring.
 */
import { isXdsError } from '../../core/errors.js';
import type { Communicator } from '../communicator.js';
import { wordOf } from '../region.js';
import { IN_ZC_PROGRESS } from '../p2p-ops.js';
import { copyBytes } from '../copy.js';
import type { ShmTransport } from '../shm/shm-transport.js';
import type { ZeroCopy } from '../p2p-zero-copy.js';
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

/** The counts the reports compare (what a receiver copied of two-sided sends varies with timing). */
function counts(zc: ZeroCopy): { sent: number; received: number; unused: number } {
  const { sent, received, unused } = zc.stats;
  return { sent, received, unused };
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
  const zc = comm.p2p.zc ? counts(comm.p2p.zc) : null;
  const report: ZeroCopyReport = { role: isSender ? 'sender' : 'receiver', messages, zc };
  return report;
}

/** Byte offset in the receiver's application area of the word by which it tells the sender that its receive timed out. */
const STALE_FLAG_BYTE = 2 * HALF;

export interface StaleReport {
  readonly role: 'sender' | 'receiver';
  /** Sender: whether its first send claimed the post (the path under test was taken). */
  readonly claimed?: boolean;
  /** Receiver: how the first receive ended ('resolved' or its error code), and the zero-copy counts right after. */
  readonly firstRecv?: string;
  readonly zcAtTimeout?: { sent: number; received: number; unused: number };
  /** Receiver: first wrong byte (-1) of the timed-out receive's buffer once the next receive completed. */
  readonly timedOutBufferBad?: number;
  /** Receiver: the next receive of that event id, then a posted one (zero-copy) and a ring one. */
  readonly messages?: ReportMessages;
  readonly zc: { sent: number; received: number; unused: number } | null;
}

/** Blocks this thread until `cond` holds (a test rank with nothing else to do; 10 s at most). */
function blockUntil(cond: () => boolean, what: string): void {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; !cond(); i++) {
    if (i > 10_000) throw new Error(`stale-post scenario: gave up waiting for ${what}`);
    Atomics.wait(nap, 0, 0, 1);
  }
}

/**
 * Sender of `zeroCopyStale`: waits for the receiver's post, sends; its claim (test hook) holds the
 * copy and the marker until the receiver says its receive timed out. Then two more messages.
 */
async function staleSender(comm: Communicator, peer: number, n: number): Promise<StaleReport> {
  const zc = comm.p2p.zc;
  if (zc === undefined) throw new Error('stale-post scenario: no zero-copy path');
  const tr = comm.transport as ShmTransport;
  const seqWord = wordOf(tr.layout.p2pPostField + peer); // word 0 (seq) of my post field for `peer`
  const flagWord = (tr.layout.appOffset + STALE_FLAG_BYTE) >> 2; // in `peer`'s region
  blockUntil(() => (Atomics.load(tr.localWords, seqWord) & 1) === 1, 'the post');
  let claimed = false;
  zc.afterClaimForTest = () => {
    claimed = true;
    blockUntil(() => Atomics.load(tr.regionWords(peer), flagWord) === 1, 'the receiver\'s timeout');
  };
  await comm.send(peer, 7, makePayload(comm.rank, peer, 7, n));
  zc.afterClaimForTest = undefined;
  await comm.barrier(); // the receiver posted its receive of message 8
  await comm.send(peer, 8, makePayload(comm.rank, peer, 8, n));
  await comm.send(peer, 9, makePayload(comm.rank, peer, 9, 1000));
  return { role: 'sender', claimed, zc: counts(zc) };
}

function report(m: Uint8Array, peer: number, rank: number, msg: number, dst: Uint8Array): ReportMessages[number] {
  return { bytes: m.byteLength, firstBad: checkPayload(m, peer, rank, msg), inPlace: m.buffer === dst.buffer && m.byteOffset === dst.byteOffset };
}

/**
 * Receiver of `zeroCopyStale`: recv() of message 7 into a posted buffer times out while the
 * sender holds its claim; the next receive of event 7 (another buffer, issued before the copy)
 * must get the bytes; then a posted receive (zero-copy) and a ring one.
 */
async function staleReceiver(comm: Communicator, peer: number, n: number): Promise<StaleReport> {
  const zc = comm.p2p.zc!;
  const app = comm.appArea;
  const dst1 = app.subarray(0, n);
  const dst2 = app.subarray(HALF, HALF + n);
  let firstRecv = 'resolved';
  await comm.recv(peer, 7, dst1).catch((e: unknown) => { firstRecv = isXdsError(e) ? e.code : String(e); });
  const zcAtTimeout = counts(zc);
  const next = comm.irecv(peer, 7, dst2); // before the copy: the message is claimed, this must not post
  Atomics.store(new Int32Array(app.buffer, app.byteOffset + STALE_FLAG_BYTE, 1), 0, 1);
  const messages = [report(await next.wait(), peer, comm.rank, 7, dst2)];
  const timedOutBufferBad = checkPayload(dst1, peer, comm.rank, 7);
  const h8 = comm.irecv(peer, 8, dst1);
  await comm.barrier();
  messages.push(report(await h8.wait(), peer, comm.rank, 8, dst1));
  const ring = new Uint8Array(1000);
  messages.push(report(await comm.recv(peer, 9, ring), peer, comm.rank, 9, ring));
  return { role: 'receiver', firstRecv, zcAtTimeout, timedOutBufferBad, messages, zc: counts(zc) };
}

/**
 * Two shm ranks (0 sends, 1 receives): a receive that times out after the sender claimed its
 * post (p2p-zero-copy.ts). params.bytes: the message size (ZC_MIN_BYTES to HALF). Needs an
 * application area of at least 2 * HALF + 4 bytes and a short timeoutMs (the receive's deadline).
 */
async function zeroCopyStale(comm: Communicator, params: unknown): Promise<unknown> {
  const { bytes } = params as { bytes: number };
  return comm.rank === 0 ? staleSender(comm, 1, bytes) : staleReceiver(comm, 0, bytes);
}

export interface SharedSourceReport {
  readonly role: 'sender' | 'receiver';
  /** Receiver: per message, the first wrong byte (-1) and whether it resolved to the posted buffer. */
  readonly messages: { firstBad: number; inPlace: boolean }[];
  /** Receiver: pieces counted in its progress word for the sender over all messages, and how many of them it copied. */
  readonly pieces: number;
  readonly helped: number;
  readonly zc: { sent: number; received: number; unused: number };
}

/**
 * Two shm ranks: rank 0 sends params.count messages of params.bytes, each from its own place in
 * rank 0's application area (all written before the first send), to rank 1, which receives them
 * zero-copy, each into its own place in its application area, the next receive queued behind the
 * current one; the bytes are checked after the last. Back to back like this, the receiver is
 * usually spinning in its wait when a send claims its post, so both ranks copy pieces of a message
 * (two-sided copy, p2p-zero-copy.ts). Needs an application area of params.count * params.bytes.
 */
async function zeroCopySharedSource(comm: Communicator, params: unknown): Promise<SharedSourceReport> {
  const { bytes, count } = params as { bytes: number; count: number };
  const zc = comm.p2p.zc;
  if (zc === undefined) throw new Error('shared-source scenario: no zero-copy path');
  const bufs = Array.from({ length: count }, (_, i) => comm.appArea.subarray(i * bytes, (i + 1) * bytes));
  if (comm.rank === 0) {
    for (const [i, b] of bufs.entries()) copyBytes(b, 0, makePayload(0, 1, i, bytes), 0, bytes);
    await comm.barrier();
    for (const [i, b] of bufs.entries()) await comm.send(1, i, b);
    return { role: 'sender', messages: [], pieces: 0, helped: 0, zc: counts(zc) };
  }
  const tr = comm.transport;
  const progress = (): number => Atomics.load(tr.localWords, wordOf(tr.layout.p2pInField + 0, IN_ZC_PROGRESS));
  const p0 = progress();
  let h = comm.irecv(0, 0, bufs[0]);
  await comm.barrier();
  const got: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const next = i + 1 < count ? comm.irecv(0, i + 1, bufs[i + 1]) : undefined;
    got.push(await h.wait());
    if (next) h = next;
  }
  const messages = got.map((m, i) => ({ firstBad: checkPayload(m, 0, 1, i), inPlace: m.buffer === bufs[i]!.buffer && m.byteOffset === bufs[i]!.byteOffset }));
  return { role: 'receiver', messages, pieces: progress() - p0, helped: zc.stats.helped, zc: counts(zc) };
}

export const ZERO_COPY_SCENARIOS = { zeroCopy, zeroCopyStale, zeroCopySharedSource };
