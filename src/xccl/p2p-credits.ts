/**
 * What a p2p sender knows of each receiver's progress through its ring (paper notes §2.4.1: the
 * credits and ACK of the 8-step protocol): the receiver's head word in my region (chunks
 * consumed, read only when the last value read is not enough) and, on shm, the ACK piggybacked
 * on the receiver's own slots toward me (its head and last completed event id when it wrote
 * them), which spares reading the head word's cache line.
 */
import { wordOf } from './region.js';
import { ACK_EVENT, ACK_HEAD } from './p2p-ops.js';
import type { Transport } from './transport.js';

export class SendCredits {
  private readonly knownHead: number[]; // per peer: the head word as last read, or piggybacked (it only grows)
  private readonly pbHead: number[]; // per peer: head piggybacked on the last slot read from it
  private readonly pbEvent: number[]; // per peer: its last completed event id then

  constructor(private readonly tr: Transport) {
    const W = tr.worldSize;
    this.knownHead = new Array<number>(W).fill(0);
    this.pbHead = new Array<number>(W).fill(0);
    this.pbEvent = new Array<number>(W).fill(0);
  }

  /** Word index of field word `w` (ACK_HEAD, ACK_EVENT) of `peer`'s ACK field in my region. */
  ackWord(peer: number, w: number): number {
    return wordOf(this.tr.layout.p2pAckField + peer, w);
  }

  /** Whether a ring written up to `tail` chunks has a free slot of `numSlots`. */
  hasFreeSlot(peer: number, tail: number, numSlots: number): boolean {
    const used = tail - numSlots;
    return used < this.knownHead[peer]! || used < this.headOf(peer);
  }

  /** Whether `peer` consumed every chunk before ring position `endTail`: from its piggybacked ACK, else its head word. */
  isAcked(peer: number, endTail: number): boolean {
    return this.pbHead[peer]! >= endTail || this.headOf(peer) >= endTail;
  }

  /** The event id `peer` acknowledged once it reached `endTail`. */
  ackedEvent(peer: number, endTail: number): number {
    return this.pbHead[peer]! >= endTail ? this.pbEvent[peer]! : Atomics.load(this.tr.localWords, this.ackWord(peer, ACK_EVENT));
  }

  /** A slot from `peer` said it had consumed `head` chunks of my ring, the last message completed being `eventId`. */
  notePiggyback(peer: number, head: number, eventId: number): void {
    if (head <= this.pbHead[peer]!) return;
    this.pbHead[peer] = head;
    this.pbEvent[peer] = eventId;
    if (head > this.knownHead[peer]!) this.knownHead[peer] = head;
  }

  /** Chunks `peer` has consumed (credits and ACKs), read from its head word. */
  private headOf(peer: number): number {
    return (this.knownHead[peer] = Atomics.load(this.tr.localWords, this.ackWord(peer, ACK_HEAD)));
  }
}
