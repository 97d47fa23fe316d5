/**
 * The sender's per-peer queues of p2p messages waiting for ring slots (paper notes §2.4.1:
 * chunks stream through the ring as credits come back). Oldest message first per peer; a
 * message's chunks are written as slots free up (a zero-copy message has one: its marker).
 */
import type { SendOp } from './p2p-ops.js';
import { ZC_CHUNK } from './p2p-zero-copy.js';
import type { SlotWriter } from './p2p-write.js';

export class SendQueues {
  private readonly queues: SendOp[][];
  private numQueued = 0; // ops in queues, over all peers

  constructor(worldSize: number, private readonly writer: SlotWriter, private readonly hasFreeSlot: (peer: number) => boolean) {
    this.queues = Array.from({ length: worldSize }, () => []);
  }

  /** Whether any message waits for a slot. */
  get isEmpty(): boolean {
    return this.numQueued === 0;
  }

  /** Writes what fits of `op` when nothing is queued ahead of it toward its peer; queues the rest. */
  issue(op: SendOp): void {
    const q = this.queues[op.peer]!;
    if (q.length === 0) {
      this.writeChunks(op);
      if (op.nextChunk === op.numChunks) return;
    }
    q.push(op);
    this.numQueued++;
  }

  /** Writes every chunk toward `peer` that has a free slot, oldest send first; returns the sends still unissued. */
  pump(peer: number): number {
    const q = this.queues[peer]!;
    while (q.length > 0) {
      const op = q[0]!;
      this.writeChunks(op);
      if (op.nextChunk < op.numChunks) break;
      q.shift();
      this.numQueued--;
    }
    return q.length;
  }

  /** Pumps every peer's queue; true while some send still waits for a slot. */
  pumpAll(): boolean {
    let pending = false;
    for (let p = 0; p < this.queues.length; p++) if (this.queues[p]!.length > 0 && this.pump(p) > 0) pending = true;
    return pending;
  }

  /** Writes the chunks of `op` that have free slots (a zero-copy message: its marker). */
  private writeChunks(op: SendOp): void {
    while (op.nextChunk < op.numChunks && this.hasFreeSlot(op.peer)) {
      this.writer.write(op.peer, op.eventId, op.isZeroCopy ? ZC_CHUNK : op.nextChunk, op.bytes);
      op.nextChunk++;
    }
  }
}
