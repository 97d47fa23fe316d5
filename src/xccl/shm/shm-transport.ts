/**
 * The `shm` transport (paper notes §2.4.1; CPU-FACTS.md §2e, §3): every rank maps every peer's
 * region, so a put is a store into the peer's memory and a signal is an atomic store plus a wake.
 * A wait spins briefly on the word, then parks in slices (Atomics.wait for SharedArrayBuffers of
 * worker threads, the addon's futex for /dev/shm mappings shared by processes), checking the
 * deadline and the peer's liveness between slices. Mechanism only: spin and slice lengths are
 * options chosen by the caller.
 */
import { XdsError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import { HDR, RANK_STATE, ringSlotOffset, type RegionLayout } from '../region.js';
import type { Transport, TransportKind, WaitSpec } from '../transport.js';
import { copyBytes } from '../copy.js';
import { loadNativeAddon } from '../../core/native.js';

/** How a parked waiter sleeps and is woken; differs between threads and processes. */
export interface Parker {
  /** Sleeps while `words[idx] === expected`, at most `ms`. */
  park(words: Int32Array, idx: number, expected: number, ms: number): void;
  wake(words: Int32Array, idx: number): void;
  /** Extra liveness probe (process ranks: is the pid alive?). */
  isAlive?(pid: number): boolean;
  /** Gives the core to another runnable thread (sched_yield), when the addon is built. */
  yieldCpu?(): void;
}

export interface ShmOptions {
  readonly clock: Clock;
  /** Spin this long before parking (µs). Spinning costs a core; 2 shared cores favour short spins. */
  readonly spinUs: number;
  /** Park slice (ms): the bound on how late a death or deadline is noticed. */
  readonly parkSliceMs: number;
  /** A peer whose heartbeat word has not moved for this long is gone (0 = only state/pid checks). */
  readonly heartbeatTimeoutMs: number;
  /**
   * A spin that lasts longer than this (µs) calls sched_yield between its clock checks (default:
   * never). When two spinning ranks share one core of a loaded host, a spin that never yields holds
   * it for a whole scheduler slice (1 MiB send+ACK: 8 ms instead of 0.3 ms at load 4 with 5 µs);
   * but on this VM yielding ranks end up sharing a core more often (64 B one way then 20–30 µs
   * instead of ~1 µs in 3 of 9 bench runs at load 3–5, 0 of 3 without), so it is opt-in.
   */
  readonly yieldAfterUs?: number;
}

/** Loads of a spinning wait before it first reads the clock (a few µs, well under the default spin). */
const FREE_SPINS = 1024;
/** Stride of the pre-faulting stores: the smallest page size. */
const PAGE_BYTES = 4096;

/**
 * Maps every page of bytes [from, to) of `words`' buffer for writing, without changing a byte: an
 * atomic add of 0 per page (a write access, so no read-only zero page is mapped first), safe
 * while a peer writes there.
 */
export function prefaultPages(words: Int32Array, from: number, to: number): void {
  if (to <= from) return;
  for (let b = from & ~3; b < to; b += PAGE_BYTES) Atomics.add(words, b >> 2, 0);
  Atomics.add(words, (to - 1) >> 2, 0);
}

export class ShmTransport implements Transport {
  readonly worldSize: number;
  readonly local: Uint8Array;
  readonly localWords: Int32Array;
  private readonly words: Int32Array[]; // [worldSize] whole regions, [totalBytes / 4] i32 each (metadata first)
  private readonly localAll: Int32Array; // [totalBytes / 4] i32: the own region, for waits on any word
  private readonly lastBeat = new Map<number, { value: number; sinceUs: number }>();
  private readonly beatTimer: NodeJS.Timeout;
  /** Counts of the slow paths (tests and diagnostics): waits that parked, spins cut short by a stall, wakes not needed. */
  readonly stats = { parks: 0, stalls: 0, skippedWakes: 0 };

  constructor(
    readonly kind: TransportKind,
    readonly rank: number,
    readonly layout: RegionLayout,
    private readonly views: Uint8Array[], // [worldSize] regions, [totalBytes] u8 each
    private readonly parker: Parker,
    private readonly opts: ShmOptions,
  ) {
    this.worldSize = views.length;
    this.words = views.map((v) => new Int32Array(v.buffer, v.byteOffset, layout.totalBytes >> 2));
    this.local = this.view(rank);
    this.localAll = this.wordsOf(rank);
    this.localWords = this.localAll.subarray(0, layout.metaBytes >> 2);
    this.beatTimer = setInterval(() => this.beat(), 50);
    this.beatTimer.unref();
    this.prefault();
  }

  /**
   * Registration maps the pages that p2p and EP traffic write, as RDMA registration pins them: the
   * managed area of the own region (every ring toward me, the EP area, the all-gather slots) and my
   * ring in every peer's region (page tables are per process for /dev/shm mappings). Otherwise the
   * first messages pay a page fault per 4 KiB of ring (about 512 for the first 2 MiB through a
   * fresh ring; docs/xccl.md, follow-up 5). The application area is left to its user.
   */
  private prefault(): void {
    const l = this.layout;
    prefaultPages(this.localAll, l.ringOffset, l.appOffset);
    const mine = ringSlotOffset(l, this.rank, 0);
    for (let p = 0; p < this.worldSize; p++) if (p !== this.rank) prefaultPages(this.wordsOf(p), mine, mine + l.config.numSlots * l.slotStride);
  }

  nowUs(): number {
    return this.opts.clock.nowUs();
  }

  private view(r: number): Uint8Array {
    const v = this.views[r];
    if (!v) throw new XdsError('invalid_argument', `xccl: rank ${r} is outside world size ${this.worldSize}`, { param: 'peer' });
    return v;
  }

  private wordsOf(r: number): Int32Array {
    const w = this.words[r];
    if (!w) throw new XdsError('invalid_argument', `xccl: rank ${r} is outside world size ${this.worldSize}`, { param: 'peer' });
    return w;
  }

  /** Marks this rank ready (pid, nonce) so peers can start. */
  announce(nonce: number): void {
    const w = this.localWords;
    Atomics.store(w, HDR.pid, process.pid);
    Atomics.store(w, HDR.nonce, nonce);
    Atomics.store(w, HDR.state, RANK_STATE.ready);
  }

  /** `rank`'s whole region as i32 words (metadata first, then ring slots): p2p writes small slots in place. */
  regionWords(rank: number): Int32Array {
    return this.wordsOf(rank);
  }

  /** `rank`'s whole region as bytes. // [totalBytes] u8 */
  regionBytes(rank: number): Uint8Array {
    return this.view(rank);
  }

  peerState(peer: number): number {
    return Atomics.load(this.wordsOf(peer), HDR.state);
  }

  put(peer: number, offset: number, src: Uint8Array): void {
    copyBytes(this.view(peer), offset, src, 0, src.byteLength);
  }

  signal(peer: number, wordIdx: number, value: number): void {
    const w = this.wordsOf(peer);
    Atomics.store(w, wordIdx, value);
    if (Atomics.load(w, HDR.sleepers) > 0 && this.needsWake(w, wordIdx, value)) this.parker.wake(w, wordIdx);
  }

  /**
   * Whether storing `value` into `wordIdx` of a region with a parked waiter must wake it: always,
   * unless that waiter said which word and value it needs (WaitSpec.wakeAt; a region has one
   * waiter, its owner's thread) and this is not it. A stream then wakes a parked rank once per
   * threshold (half a ring of credits or chunks), not once per chunk.
   */
  private needsWake(w: Int32Array, wordIdx: number, value: number): boolean {
    const pw = Atomics.load(w, HDR.parkWord);
    if (pw === -1 || (pw === wordIdx && value >= Atomics.load(w, HDR.parkWakeAt))) return true;
    this.stats.skippedWakes++;
    return false;
  }

  get(peer: number, offset: number, dst: Uint8Array): void {
    copyBytes(dst, 0, this.view(peer), offset, dst.byteLength);
  }

  /** Waits on any word of the own region (shm signals reach slot words too, see p2p.ts); meta words index alike. */
  waitLocal(spec: WaitSpec): number {
    const w = this.localAll;
    let v = Atomics.load(w, spec.wordIdx);
    if (spec.pred(v)) return v;
    if (this.opts.spinUs <= 0) return this.parkUntil(spec);
    // First spins read no clock (a clock read costs more than a one-way signal between cores).
    for (let i = 0; i < FREE_SPINS; i++) {
      v = Atomics.load(w, spec.wordIdx);
      if (spec.pred(v)) return v;
    }
    return this.spinUntil(spec, v) ?? this.parkUntil(spec);
  }

  /**
   * The clocked part of a spin: the value once `spec.pred` holds, or undefined once the spin budget
   * ends, or once a streaming wait (`spec.stallUs`) has seen no progress for that long.
   */
  private spinUntil(spec: WaitSpec, seen: number): number | undefined {
    const w = this.localAll;
    let t = this.nowUs();
    const spinEnd = Math.min(spec.deadlineUs, t + this.opts.spinUs);
    const yieldFrom = t + (this.opts.yieldAfterUs ?? Infinity);
    const stallUs = spec.stallUs ?? Infinity;
    let movedAt = t;
    for (let i = 1; ; i++) {
      const v = Atomics.load(w, spec.wordIdx);
      if (spec.pred(v)) return v;
      if ((i & 255) !== 0) continue;
      t = this.nowUs();
      if (v !== seen || spec.poll?.() === true) {
        seen = v;
        movedAt = t;
      }
      if (t - movedAt >= stallUs) {
        this.stats.stalls++;
        return undefined;
      }
      if (t >= spinEnd) return undefined;
      if (t >= yieldFrom) this.parker.yieldCpu?.();
    }
  }

  private parkUntil(spec: WaitSpec): number {
    const w = this.localAll;
    const pw = spec.wakeWord ?? spec.wordIdx; // the word this waiter sleeps on
    for (;;) {
      const pv = Atomics.load(w, pw);
      const v = Atomics.load(w, spec.wordIdx);
      if (spec.pred(v)) return v;
      if (this.isWordSetByGonePeer(spec)) continue;
      const leftUs = spec.deadlineUs - this.nowUs();
      if (leftUs <= 0) throw new XdsError('xccl_timeout', `xccl rank ${this.rank}: timed out waiting for ${spec.what} (rank ${spec.peer})`);
      this.beat();
      // What wakes this waiter, published before it counts as a sleeper (signal() reads them after `sleepers`).
      Atomics.store(w, HDR.parkWord, spec.wakeAt === undefined ? -1 : pw);
      Atomics.store(w, HDR.parkWakeAt, spec.wakeAt ?? 0);
      Atomics.add(w, HDR.sleepers, 1);
      this.stats.parks++;
      if (Atomics.load(w, pw) === pv) this.parker.park(w, pw, pv, Math.max(0.05, Math.min(this.opts.parkSliceMs, leftUs / 1000)));
      Atomics.sub(w, HDR.sleepers, 1);
    }
  }

  /**
   * checkPeer for a wait whose word was just read unsatisfied. A peer stores its last signal
   * before it marks itself closed, so a peer seen gone may have satisfied the word in between:
   * the word is read once more before the peer's absence counts. Throws `xccl_peer_gone` when
   * the peer is gone and the word unsatisfied; true when the peer is gone after satisfying it.
   */
  private isWordSetByGonePeer(spec: WaitSpec): boolean {
    try {
      this.checkPeer(spec.peer);
      return false;
    } catch (e) {
      if (!spec.pred(Atomics.load(this.localAll, spec.wordIdx))) throw e;
      return true;
    }
  }

  checkPeer(peer: number): void {
    if (peer === this.rank) return;
    const w = this.wordsOf(peer);
    const state = Atomics.load(w, HDR.state);
    const pid = Atomics.load(w, HDR.pid);
    let why = '';
    if (state === RANK_STATE.closed) why = 'closed its communicator';
    else if (state === RANK_STATE.dead) why = 'died (marked dead by its launcher)';
    else if (state === RANK_STATE.ready && this.parker.isAlive && !this.parker.isAlive(pid)) why = `died (process ${pid} is gone)`;
    else if (state === RANK_STATE.ready && this.isBeatStale(peer, Atomics.load(w, HDR.heartbeat))) why = `missed heartbeats for ${this.opts.heartbeatTimeoutMs} ms`;
    if (why) throw new XdsError('xccl_peer_gone', `xccl rank ${this.rank}: peer rank ${peer} ${why}`, { param: `rank ${peer}` });
  }

  private isBeatStale(peer: number, value: number): boolean {
    if (this.opts.heartbeatTimeoutMs <= 0) return false;
    const now = this.nowUs();
    const last = this.lastBeat.get(peer);
    if (!last || last.value !== value) {
      this.lastBeat.set(peer, { value, sinceUs: now });
      return false;
    }
    return now - last.sinceUs > this.opts.heartbeatTimeoutMs * 1000;
  }

  private beat(): void {
    Atomics.add(this.localWords, HDR.heartbeat, 1);
  }

  async close(): Promise<void> {
    clearInterval(this.beatTimer);
    Atomics.store(this.localWords, HDR.state, RANK_STATE.closed);
  }
}

interface YieldAddon { yieldCpu?(): void }
let yieldAddon: YieldAddon | null | undefined;

/** Parker for ranks that are worker threads sharing SharedArrayBuffers. */
export const threadParker: Parker = {
  park: (words, idx, expected, ms) => { Atomics.wait(words, idx, expected, ms); },
  wake: (words, idx) => { Atomics.notify(words, idx); },
  yieldCpu: () => {
    if (yieldAddon === undefined) yieldAddon = loadNativeAddon<YieldAddon>('xccl', { quiet: true });
    yieldAddon?.yieldCpu?.();
  },
};
