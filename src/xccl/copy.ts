/**
 * Byte copies of XCCL's data path (paper notes §2.4.1: puts and copy-outs of p2p chunks). V8's
 * TypedArray.set on SharedArrayBuffer views copies with relaxed atomics, about 2.7x slower than
 * libc memcpy on this VM (1 MiB in + out: 217 µs vs 82 µs), so copies from NATIVE_COPY_BYTES up
 * go through the addon's `copy` (build/xccl.node) when it is built; smaller ones, or without the
 * addon, use TypedArray.set.
 */
import { loadNativeAddon } from '../core/native.js';

/** From this size the addon call (~0.1 µs) is cheaper than the copy it saves. */
export const NATIVE_COPY_BYTES = 4096;

interface CopyAddon {
  copy?(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void;
  copyClaimed?(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number, pieceBytes: number, claim: Int32Array, claimIdx: number, progress: Int32Array, progressIdx: number): number;
}

let addon: CopyAddon | null | undefined;

function loaded(): CopyAddon | null {
  if (addon === undefined) addon = loadNativeAddon<CopyAddon>('xccl', { quiet: true });
  return addon;
}

function nativeCopy(): CopyAddon['copy'] {
  return loaded()?.copy;
}

/** dst[dstOff, dstOff + n) = src[srcOff, srcOff + n) // u8; the ranges must lie inside both arrays. */
export function copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  if (n >= NATIVE_COPY_BYTES) {
    const copy = nativeCopy();
    if (copy) {
      copy.call(addon, dst, dstOff, src, srcOff, n);
      return;
    }
  }
  dst.set(srcOff === 0 && n === src.byteLength ? src : src.subarray(srcOff, srcOff + n), dstOff); // whole-array puts need no view
}

/**
 * copyBytes of n bytes in pieces of `pieceBytes` that the caller claims one at a time from the
 * counter claim[claimIdx] (Atomics.add), each followed by Atomics.add(progress, progressIdx, 1) (a
 * progress word a peer watches); returns how many pieces this call copied. Callers on two threads
 * (or processes) with the same counters split the copy between them; each piece is copied once.
 * One addon call for all pieces when built (copyClaimed; a call per piece cost ~0.4 µs each and
 * broke the copy's stride), else a loop of copyBytes.
 */
export function copyBytesClaimed(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number, pieceBytes: number, claim: Int32Array, claimIdx: number, progress: Int32Array, progressIdx: number): number {
  const native = loaded()?.copyClaimed;
  if (native && n >= NATIVE_COPY_BYTES) return native.call(addon, dst, dstOff, src, srcOff, n, pieceBytes, claim, claimIdx, progress, progressIdx);
  const pieces = Math.ceil(n / pieceBytes);
  let mine = 0;
  for (let c; (c = Atomics.add(claim, claimIdx, 1)) >= 0 && c < pieces; mine++) {
    const at = c * pieceBytes;
    copyBytes(dst, dstOff + at, src, srcOff + at, Math.min(pieceBytes, n - at));
    Atomics.add(progress, progressIdx, 1);
  }
  return mine;
}
