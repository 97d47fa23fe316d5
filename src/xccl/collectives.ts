/**
 * Control-plane collectives over the region (paper notes §2.4; ARCHITECTURE.md XCCL): `barrier`
 * (one epoch word per source rank in every region) and a small `allGather` (one slot per source
 * rank, two parity halves so a fast rank's next round never overwrites data a peer has not read).
 */
import { XdsError } from '../core/errors.js';
import { allGatherSlotOffset, wordOf } from './region.js';
import { asBytes, type Transport } from './transport.js';

export class Collectives {
  private barrierSeq = 0;
  private gatherSeq = 0;

  constructor(private readonly tr: Transport, private readonly timeoutUs: number) {}

  /** Returns once every rank has entered this barrier. */
  async barrier(): Promise<void> {
    const seq = ++this.barrierSeq;
    const { rank, worldSize, layout } = this.tr;
    for (let p = 0; p < worldSize; p++) if (p !== rank) this.tr.signal(p, wordOf(layout.barrierField + rank), seq);
    const deadlineUs = this.tr.nowUs() + this.timeoutUs;
    for (let p = 0; p < worldSize; p++) {
      if (p === rank) continue;
      await this.tr.waitLocal({ wordIdx: wordOf(layout.barrierField + p), pred: (v) => v >= seq, peer: p, deadlineUs, what: `barrier ${seq}` });
    }
  }

  /** Every rank contributes up to `allGatherBytes - 4` bytes; returns all contributions by rank. */
  async allGather(data: ArrayBufferView): Promise<Uint8Array[]> {
    const bytes = asBytes(data);
    const { rank, worldSize, layout } = this.tr;
    const maxBytes = layout.config.allGatherBytes - 4;
    if (bytes.byteLength > maxBytes) {
      throw new XdsError('xccl_buffer_too_small', `xccl allGather: ${bytes.byteLength} bytes exceed the ${maxBytes}-byte slot (region allGatherBytes)`, { param: 'allGatherBytes' });
    }
    const seq = ++this.gatherSeq;
    const slot = allGatherSlotOffset(layout, rank, seq & 1);
    const len = new Uint8Array(new Int32Array([bytes.byteLength]).buffer);
    for (let p = 0; p < worldSize; p++) {
      this.tr.put(p, slot, len);
      this.tr.put(p, slot + 4, bytes);
      this.tr.signal(p, wordOf(layout.allGatherField + rank), seq);
    }
    const deadlineUs = this.tr.nowUs() + this.timeoutUs;
    const out: Uint8Array[] = [];
    for (let p = 0; p < worldSize; p++) {
      await this.tr.waitLocal({ wordIdx: wordOf(layout.allGatherField + p), pred: (v) => v >= seq, peer: p, deadlineUs, what: `allGather ${seq}` });
      const off = allGatherSlotOffset(layout, p, seq & 1);
      const n = new DataView(this.tr.local.buffer, this.tr.local.byteOffset + off, 4).getInt32(0, true);
      out.push(this.tr.local.slice(off + 4, off + 4 + n));
    }
    return out;
  }
}
