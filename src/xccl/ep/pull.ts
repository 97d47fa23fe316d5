/**
 * The pull-based exchange under dispatch, combine, a2e and e2a (paper notes §2.4.2 steps 3–7):
 * each rank writes its rows into its OWN EP area, partitioned by destination; publishes to every
 * destination a metadata field (event id = per-channel sequence, row count, byte offset, row
 * size); waits until the field of every source has arrived; pulls each source's section; and
 * acknowledges the pull in the source's metadata. Event ids count rounds per (channel, peer pair). A rank waits for the acks of its previous
 * publication before it writes its area again, so no section is overwritten while being pulled.
 */
import { XdsError } from '../../core/errors.js';
import { FIELD_WORDS, NUM_EP_CHANNELS, epAckFieldOf, epInFieldOf, wordOf } from '../region.js';
import type { Transport } from '../transport.js';

/** One destination's section of the own EP area. */
export interface Section {
  readonly dest: number; // global rank
  readonly offsetBytes: number; // from the start of the EP area
  readonly numRows: number;
  readonly rowBytes: number;
}

/** Rows pulled from one source. // [numRows, rowBytes] u8 */
export interface Pulled { readonly source: number; readonly numRows: number; readonly rowBytes: number; readonly bytes: Uint8Array }

interface Publication { readonly channel: number; readonly seq: number; readonly dest: number }

export class PullExchange {
  // Event ids run per (channel, peer pair), so a rank can pair with different peers on one channel.
  private readonly sendSeq: number[][]; // [channel][dest]
  private readonly recvSeq: number[][]; // [channel][source]
  private pending: Publication[] = [];

  constructor(private readonly tr: Transport, private readonly timeoutUs: number) {
    this.sendSeq = Array.from({ length: NUM_EP_CHANNELS }, () => new Array<number>(tr.worldSize).fill(0));
    this.recvSeq = Array.from({ length: NUM_EP_CHANNELS }, () => new Array<number>(tr.worldSize).fill(0));
  }

  /** The own EP area, to write sections into. // [epAreaBytes] u8 */
  get area(): Uint8Array {
    const l = this.tr.layout;
    return this.tr.local.subarray(l.epOffset, l.epOffset + l.config.epAreaBytes);
  }

  /** Waits until every destination pulled what this rank last published (call before writing the area). */
  async reclaimArea(): Promise<void> {
    const deadlineUs = this.tr.nowUs() + this.timeoutUs;
    for (const { channel, seq, dest } of this.pending) {
      const wordIdx = wordOf(epAckFieldOf(this.tr.layout, channel, dest));
      await this.tr.waitLocal({ wordIdx, pred: (v) => v >= seq, peer: dest, deadlineUs, what: `rank ${dest} to pull EP channel ${channel} event ${seq}` });
    }
    this.pending = [];
  }

  /** Throws `xccl_buffer_too_small` when the sections do not fit the EP area. */
  checkFits(totalBytes: number): void {
    const cap = this.tr.layout.config.epAreaBytes;
    if (totalBytes > cap) throw new XdsError('xccl_buffer_too_small', `xccl EP: ${totalBytes} bytes to publish exceed the EP area of ${cap} bytes (region epAreaBytes)`, { param: 'epAreaBytes' });
  }

  /** Publishes `sections` (already written into the area) to their destinations. */
  publish(channel: number, sections: readonly Section[]): void {
    const field = epInFieldOf(this.tr.layout, channel, this.tr.rank);
    for (const sec of sections) {
      const seq = ++this.sendSeq[channel]![sec.dest]!;
      const words = new Int32Array([sec.numRows, sec.offsetBytes, sec.rowBytes]);
      this.tr.put(sec.dest, field * FIELD_WORDS * 4 + 4, new Uint8Array(words.buffer));
      this.tr.signal(sec.dest, wordOf(field), seq);
      this.pending.push({ channel, seq, dest: sec.dest });
    }
  }

  /** Claims the event ids of the next publication of each source (call once per round). */
  reserveRecv(channel: number, sources: readonly number[]): number[] {
    return sources.map((s) => ++this.recvSeq[channel]![s]!);
  }

  /** True when every source's metadata for its reserved event has arrived (a pull would not wait). */
  isReady(channel: number, sources: readonly number[], seqs: readonly number[]): boolean {
    return sources.every((s, i) => Atomics.load(this.tr.localWords, wordOf(epInFieldOf(this.tr.layout, channel, s))) >= seqs[i]!);
  }

  /** Waits for every source's metadata of its reserved event, then pulls each source's section. */
  async pullAll(channel: number, sources: readonly number[], seqs: readonly number[]): Promise<Pulled[]> {
    const deadlineUs = this.tr.nowUs() + this.timeoutUs;
    const out: Pulled[] = [];
    for (let i = 0; i < sources.length; i++) out.push(await this.pullFrom(channel, seqs[i]!, sources[i]!, deadlineUs));
    return out;
  }

  private async pullFrom(channel: number, seq: number, source: number, deadlineUs: number): Promise<Pulled> {
    const l = this.tr.layout;
    const field = epInFieldOf(l, channel, source);
    const got = await this.tr.waitLocal({ wordIdx: wordOf(field), pred: (v) => v >= seq, peer: source, deadlineUs, what: `EP channel ${channel} metadata of event ${seq}` });
    if (got !== seq) throw new XdsError('xccl_event_mismatch', `xccl rank ${this.tr.rank}: EP channel ${channel} expected event ${seq} from rank ${source}, got ${got} (ranks called EP ops in different orders?)`, { param: 'eventId' });
    const w = this.tr.localWords;
    const numRows = w[wordOf(field, 1)]!;
    const offsetBytes = w[wordOf(field, 2)]!;
    const rowBytes = w[wordOf(field, 3)]!;
    const bytes = new Uint8Array(numRows * rowBytes);
    if (bytes.byteLength > 0) await this.tr.get(source, l.epOffset + offsetBytes, bytes, deadlineUs);
    this.tr.signal(source, wordOf(epAckFieldOf(l, channel, this.tr.rank)), seq);
    return { source, numRows, rowBytes, bytes };
  }
}
