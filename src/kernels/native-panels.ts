/**
 * bf16 weights prepared once for the native packed GEMM (docs/kernels.md "GEMM weights packed
 * once"; CPU-FACTS.md §2c "packed BLIS-style"): the first GEMM-sized matmul of a bf16 weight
 * copies it into the panel layout of native/kernels/gemm_packed.c, [⌈outDim/8⌉][inDim][8] bf16
 * (8 output channels interleaved per k, zero padded), so later calls widen their panels without
 * transposing. Same bytes as the weight (plus ≤ 7 zero rows): bf16, never f32.
 * NOTE: mechanism with one policy knob, a byte budget per JS thread (panelBudgetBytes); past it
 * weights run the transposing path. Weights are immutable (as in native-checks.ts): a weight's
 * values must not change after its first GEMM call. GEMV calls (decode, < 16 rows) keep reading
 * the original [outDim, inDim] layout, so the copy is extra memory for the GEMM'd weights only
 * (attention, dense FFN, shared experts, LM head: ~2.4 % of DeepSeek-V3's bytes, ~20 % of the
 * `small` preset's; routed experts run through moeExperts and are never copied).
 */
import { totalmem } from 'node:os';
import type { LinearWeight } from './backend.js';
import { XdsError } from '../core/errors.js';
import { SharedArena } from '../core/huge-pages.js';

/** The addon entry that makes the panels (addon.c packBf16Panels). */
export interface PanelPacker {
  packBf16Panels(w: Uint16Array, outDim: number, inDim: number, dst: Uint16Array): void;
}

/** Rows from which matmul.c runs the packed GEMM on float weights (its default gemm_min_rows_float). */
export const PANEL_MIN_ROWS = 16;

/** [⌈outDim/8⌉, inDim, 8] bf16 elements of a weight's panels. */
export function panelElems(outDim: number, inDim: number): number {
  return Math.ceil(outDim / 8) * inDim * 8;
}

/** Panels per weight region: buffer → `${byteOffset}:${outDim}x${inDim}` (weightRows views share a buffer). */
const cache = new WeakMap<ArrayBufferLike, Map<string, Uint16Array>>();
/** Per weight object (the fast path of repeated calls). */
const byWeight = new WeakMap<LinearWeight, Uint16Array>();
let bytesUsed = 0;
/** NOTE: panels of weights that are gone free their memory only with their whole chunk. */
const arena = new SharedArena(8 << 20);
let budgetBytes = Math.floor(totalmem() / 8);
const freed = new FinalizationRegistry<number>((bytes) => { bytesUsed -= bytes; });

/** Sets this thread's panel budget in bytes (0: never prepare; default: 1/8 of the host's memory). */
export function setPanelBudget(bytes: number): void {
  if (!Number.isFinite(bytes) || bytes < 0) throw new XdsError('invalid_argument', `panelBudgetBytes: must be a number ≥ 0, got ${bytes}`, { param: 'panelBudgetBytes' });
  budgetBytes = bytes;
}

/** Bytes of panels this thread holds (live weights only, once the collector has run). */
export function panelBytesUsed(): number {
  return bytesUsed;
}

function keyOf(w: LinearWeight): string {
  return `${w.data.byteOffset}:${w.outDim}x${w.inDim}`;
}

/**
 * The weight's panels, made now if it is bf16, the call is GEMM-sized and the budget allows;
 * null otherwise (the addon then reads w.data only). Shapes were checked (checkLinear) before.
 */
export function bf16Panels(packer: PanelPacker, w: LinearWeight, rows: number): Uint16Array | null {
  if (rows < PANEL_MIN_ROWS || w.format !== 'bf16') return null; // the GEMV reads w.data
  const mine = byWeight.get(w);
  if (mine) return mine;
  const known = cache.get(w.data.buffer)?.get(keyOf(w)) ?? makePanels(packer, w);
  if (known) byWeight.set(w, known);
  return known;
}

function makePanels(packer: PanelPacker, w: LinearWeight & { format: 'bf16' }): Uint16Array | null {
  if (typeof packer.packBf16Panels !== 'function') return null; // an addon built before panels
  const elems = panelElems(w.outDim, w.inDim);
  if (elems === 0 || bytesUsed + elems * 2 > budgetBytes) return null;
  const at = arena.alloc(elems * 2);
  const panels = new Uint16Array(at.buffer, at.byteOffset, elems); // [⌈outDim/8⌉, inDim, 8] bf16
  packer.packBf16Panels(w.data, w.outDim, w.inDim, panels);
  let perBuffer = cache.get(w.data.buffer);
  if (!perBuffer) cache.set(w.data.buffer, (perBuffer = new Map()));
  perBuffer.set(keyOf(w), panels);
  bytesUsed += elems * 2;
  freed.register(panels, elems * 2);
  return panels;
}
