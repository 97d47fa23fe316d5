/**
 * Scenario of the blocking p2p calls (`sendSync` / `recvSync`, p2p.ts), run by the conformance
 * suite on every transport with real threads or processes. Pairs 0 → 1 and 2 → 3 at once: the
 * ordering sizes (0 B to several ring slots, so credit waits too) with blocking calls on both
 * sides, then a ping-pong of blocking round trips. Over tcp both calls must refuse at once with
 * `invalid_argument` (nothing is sent, so nothing is left in flight).
 */
import { isXdsError } from '../../core/errors.js';
import type { Communicator } from '../communicator.js';
import { checkPayload, makePayload } from './scenarios.js';

export interface BlockingReport {
  /** Receiver: per message, bytes and first wrong byte (-1). */
  readonly messages: { bytes: number; firstBad: number }[];
  /** Round trips whose reply was wrong. */
  readonly badRounds: number;
  /** The error code of the first blocking call, where it refused (tcp). */
  readonly refused: string | null;
  readonly transport: string;
}

function refusal(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (isXdsError(e, 'invalid_argument')) return e.code;
    throw e;
  }
}

async function blocking(comm: Communicator, params: unknown): Promise<BlockingReport> {
  const { sizes, rounds } = params as { sizes: readonly number[]; rounds: number };
  const peer = comm.rank ^ 1;
  const isSender = comm.rank % 2 === 0;
  const messages: BlockingReport['messages'] = [];
  const refused = refusal(() => {
    if (isSender) comm.sendSync(peer, 200, makePayload(comm.rank, peer, 0, sizes[0]!));
    else {
      const m = comm.recvSync(peer, 200);
      messages.push({ bytes: m.byteLength, firstBad: checkPayload(m, peer, comm.rank, 0) });
    }
  });
  const transport = comm.transport.kind;
  if (refused !== null) return { messages, badRounds: 0, refused, transport };
  for (let i = 1; i < sizes.length; i++) {
    if (isSender) comm.sendSync(peer, 200 + i, makePayload(comm.rank, peer, i, sizes[i]!));
    else {
      const m = comm.recvSync(peer, 200 + i);
      messages.push({ bytes: m.byteLength, firstBad: checkPayload(m, peer, comm.rank, i) });
    }
  }
  let badRounds = 0;
  const dst = new Uint8Array(64);
  for (let r = 0; r < rounds; r++) {
    const mine = makePayload(comm.rank, peer, 300 + r, 64);
    if (isSender) comm.sendSync(peer, 300 + r, mine);
    const got = comm.recvSync(peer, 300 + r, dst);
    if (checkPayload(got, peer, comm.rank, 300 + r) >= 0) badRounds++;
    if (!isSender) comm.sendSync(peer, 300 + r, mine);
  }
  return { messages, badRounds, refused, transport };
}

export const BLOCKING_SCENARIOS = { blocking };
