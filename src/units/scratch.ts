/**
 * Per-runner scratch arena for the units (issue 4: no allocation in the hot path; paper §2.1 units
 * are pure step functions, so their temporaries can live in one arena owned by the executor).
 * Each call site names its own slot; a slot is one buffer that grows on demand (to at least 1.5×
 * the previous size) and is reused by every later call, so a steady decode loop allocates no
 * buffers. A slot's contents are undefined on entry (not zeroed) and only valid until the next
 * request of the same slot: a unit must not hand a slot view to anything that keeps it.
 * Nested units use distinct slot names (prefix them with the unit's name).
 * NOTE: a request above `maxSlotElements` (e.g. the naive-MLA K/V expansion of a long prefill) gets
 * a fresh array that is not kept, so one long prompt does not pin hundreds of MB for the runner's life.
 */

/** Default cap per retained slot: 16 Mi elements (64 MiB). */
export const DEFAULT_MAX_SLOT_ELEMENTS = 1 << 24;

/** One slot: its buffer and the view of it returned last (a request of the same length gets it again). */
interface Slot<T extends Float32Array | Int32Array> { buf: T; view: T }

export class Scratch {
  private readonly f32Slots = new Map<string, Slot<Float32Array>>();
  private readonly i32Slots = new Map<string, Slot<Int32Array>>();
  private numGrowths = 0;

  constructor(readonly maxSlotElements: number = DEFAULT_MAX_SLOT_ELEMENTS) {}

  /** A view of `n` f32 values in slot `name` (contents undefined). */
  f32(name: string, n: number): Float32Array {
    if (n > this.maxSlotElements) return new Float32Array(n);
    let s = this.f32Slots.get(name);
    if (s === undefined || s.buf.length < n) {
      const buf = new Float32Array(grownSize(s?.buf.length ?? 0, n, this.maxSlotElements));
      this.f32Slots.set(name, (s = { buf, view: buf }));
      this.numGrowths++;
    }
    // NOTE: a view is kept per slot: a decode step makes hundreds of requests, and a subarray()
    // per request (with the template-literal slot names since made constant) put Scratch at
    // ~250 µs of a batch-32 step in a server profile, ~60 µs after, while the compute threads wait.
    if (s.view.length !== n) s.view = s.buf.length === n ? s.buf : s.buf.subarray(0, n);
    return s.view;
  }

  /** A view of `n` int32 values in slot `name` (contents undefined). */
  i32(name: string, n: number): Int32Array {
    if (n > this.maxSlotElements) return new Int32Array(n);
    let s = this.i32Slots.get(name);
    if (s === undefined || s.buf.length < n) {
      const buf = new Int32Array(grownSize(s?.buf.length ?? 0, n, this.maxSlotElements));
      this.i32Slots.set(name, (s = { buf, view: buf }));
      this.numGrowths++;
    }
    if (s.view.length !== n) s.view = s.buf.length === n ? s.buf : s.buf.subarray(0, n);
    return s.view;
  }

  /** How many times a slot buffer was (re)allocated: flat across steady steps. */
  get growths(): number {
    return this.numGrowths;
  }

  /** Bytes held by all slots. */
  get bytes(): number {
    let b = 0;
    for (const x of this.f32Slots.values()) b += x.buf.byteLength;
    for (const x of this.i32Slots.values()) b += x.buf.byteLength;
    return b;
  }
}

function grownSize(have: number, need: number, max: number): number {
  return Math.min(Math.max(need, Math.ceil(have * 1.5)), Math.max(need, max));
}
