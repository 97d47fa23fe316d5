/**
 * Shared memory on transparent huge pages for what decode streams every step: weights (as read,
 * converted or quantized), GEMM panels and the KV cache. With 4 KiB pages a batch-32 decode step
 * of the `small` preset touches ~45,000 weight pages, each a TLB miss (a two-level walk under a
 * hypervisor), and the hardware prefetcher restarts at every page boundary; docs/kernels.md
 * "Huge pages" has the measurements. Linux in THP "madvise" mode (Debian's default) backs only
 * ranges advised with MADV_HUGEPAGE, on their first touch, so a buffer is advised (the addon's
 * adviseHugePages) before anything is written into it. Without the addon, on other systems or
 * with XDS_HUGE_PAGES=0, these are plain SharedArrayBuffers.
 *
 * Small objects share chunks of a SharedArena (a bump allocator), so that many 128 KiB expert
 * matrices fill whole 2 MiB pages. NOTE: a chunk is freed only when nothing in it is reachable,
 * so an arena suits memory that lives as long as its neighbours (a checkpoint's tensors).
 */
import { readEnv } from '../config/env.js';
import { loadNativeAddon } from './native.js';

interface AdviseAddon { adviseHugePages?(bytes: Uint8Array): number }

/** 2 MiB: the x86-64 huge page; a buffer smaller than two of them rarely holds an aligned one. */
export const HUGE_PAGE_BYTES = 2 << 20;

let enabled: boolean | undefined;
let addon: AdviseAddon | null | undefined;
let advisedBytes = 0;

/** Turns huge-page advice on or off for buffers allocated from now on (default: on unless XDS_HUGE_PAGES=0); returns the previous setting. */
export function setHugePages(on: boolean): boolean {
  const was = (enabled ??= readEnv().hugePages);
  enabled = on;
  return was;
}

/** Bytes advised so far in this thread (a figure for benchmarks and tests). */
export function hugePageBytesAdvised(): number {
  return advisedBytes;
}

function advise(buffer: SharedArrayBuffer): void {
  if (buffer.byteLength < 2 * HUGE_PAGE_BYTES) return;
  enabled ??= readEnv().hugePages;
  if (!enabled) return;
  if (addon === undefined) addon = loadNativeAddon<AdviseAddon>('kernels', { quiet: true });
  if (typeof addon?.adviseHugePages !== 'function') return; // no addon, or one built before this
  advisedBytes += addon.adviseHugePages(new Uint8Array(buffer));
}

/** A fresh SharedArrayBuffer of `bytes`, advised for huge pages where it is large enough. */
export function hugePageBuffer(bytes: number): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(bytes);
  advise(buffer);
  return buffer;
}

/** A slice of an arena chunk. */
export interface ArenaSlice { readonly buffer: SharedArrayBuffer; readonly byteOffset: number }

/** `bytes` from `arena`, or without one a buffer of their own (advised where large enough). */
export function sharedSlice(bytes: number, arena?: SharedArena | null): ArenaSlice {
  return arena ? arena.alloc(bytes) : { buffer: hugePageBuffer(bytes), byteOffset: 0 };
}

/** Alignment of every slice: a cache line, so no two tensors share one and AVX loads never split. */
const SLICE_ALIGN = 64;

/**
 * Bump allocator over huge-page chunks. Chunks start at `firstChunkBytes` and double up to
 * `maxChunkBytes`; a request over a quarter of that gets a buffer of its own.
 */
export class SharedArena {
  private chunk: SharedArrayBuffer | null = null;
  private used = 0;
  private nextChunkBytes: number;

  constructor(private readonly firstChunkBytes = 4 << 20, private readonly maxChunkBytes = 64 << 20) {
    this.nextChunkBytes = firstChunkBytes;
  }

  alloc(bytes: number): ArenaSlice {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`arena: bytes must be an integer ≥ 0, got ${bytes}`);
    if (bytes > this.maxChunkBytes / 4) return { buffer: hugePageBuffer(bytes), byteOffset: 0 };
    const at = Math.ceil(this.used / SLICE_ALIGN) * SLICE_ALIGN;
    if (this.chunk === null || at + bytes > this.chunk.byteLength) return this.fresh(bytes);
    this.used = at + bytes;
    return { buffer: this.chunk, byteOffset: at };
  }

  private fresh(bytes: number): ArenaSlice {
    while (this.nextChunkBytes < bytes) this.nextChunkBytes *= 2;
    this.chunk = hugePageBuffer(this.nextChunkBytes);
    this.nextChunkBytes = Math.min(this.maxChunkBytes, this.nextChunkBytes * 2);
    this.used = bytes;
    return { buffer: this.chunk, byteOffset: 0 };
  }
}
