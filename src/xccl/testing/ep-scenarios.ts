/**
 * EP scenarios for the conformance suite: dispatch → toy experts → combine over the world, and
 * a2e → toy experts → e2a through trampolines. Inputs come from reference.ts so the test can
 * compute the naive all-to-all in one place.
 */
import { isXdsError } from '../../core/errors.js';
import type { Communicator } from '../communicator.js';
import { ExpertParallel } from '../ep/expert-parallel.js';
import { AttentionExpert } from '../ep/a2e.js';
import { applyExpert, makeEpInputs, type EpCase } from './reference.js';

interface EpParams { readonly cases: readonly EpCase[]; readonly isInt8: boolean; readonly numAttention?: number }

/** Applies the toy experts to recvX grouped by local expert (first global id `firstExpert`). */
function runExperts(recvX: Float32Array, counts: Int32Array, hidden: number, firstExpert: number): Float32Array {
  const y = recvX.slice();
  let row = 0;
  counts.forEach((n, e) => {
    applyExpert(y.subarray(row * hidden, (row + n) * hidden), firstExpert + e);
    row += n;
  });
  return y;
}

async function epRoundTrip(comm: Communicator, params: unknown): Promise<unknown> {
  const { cases, isInt8 } = params as EpParams;
  const rounds = [];
  for (const c of cases) {
    const ep = new ExpertParallel(comm, { hidden: c.hidden, topk: c.topk, numExperts: c.numExperts, isInt8 });
    const { x, topkIdx, topkWeights } = makeEpInputs(c, comm.rank);
    try {
      const pending = await ep.issueDispatch(x, topkIdx, topkWeights);
      const r = await pending.wait();
      const perRank = c.numExperts / comm.worldSize;
      const y = runExperts(r.recvX, r.numRecvPerExpert, c.hidden, comm.rank * perRank);
      const out = await ep.combine(y, r.handle);
      rounds.push({ out: Array.from(out), counts: Array.from(r.numRecvPerExpert), polledAfter: pending.poll() });
    } catch (e) {
      if (!isXdsError(e)) throw e;
      rounds.push({ code: e.code, message: e.message });
    }
  }
  return rounds;
}

async function a2eRoundTrip(comm: Communicator, params: unknown): Promise<unknown> {
  const { cases, isInt8, numAttention } = params as EpParams;
  const A = numAttention ?? 1;
  const rounds = [];
  for (const c of cases) {
    const ae = new AttentionExpert(comm, { hidden: c.hidden, topk: c.topk, numExperts: c.numExperts, isInt8, numAttention: A });
    if (ae.role === 'attention') {
      const { x, topkIdx, topkWeights } = makeEpInputs(c, comm.rank);
      const h = await ae.a2e(x, topkIdx, topkWeights);
      rounds.push({ out: Array.from(await ae.e2aRecv(h)) });
      continue;
    }
    const b = await ae.a2eRecv();
    const perRank = c.numExperts / (comm.worldSize - A);
    await ae.e2a(runExperts(b.recvX, b.numRecvPerExpert, c.hidden, (comm.rank - A) * perRank), b.handle);
    rounds.push({ counts: Array.from(b.numRecvPerExpert), forwarded: b.handle.numForwarded });
  }
  return rounds;
}

export const EP_SCENARIOS: Record<string, (comm: Communicator, params: unknown) => Promise<unknown>> = { epRoundTrip, a2eRoundTrip };
