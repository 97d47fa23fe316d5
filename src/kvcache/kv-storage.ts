/**
 * KV tensor storage of the RTC (ARCHITECTURE.md "RTC"; MODELS.md §1.4, §4.4): one paged region per
 * layer (main layers, then MTP layers at index numLayers + i), each in its own SharedArrayBuffer so
 * ranks on one host and KV hand-offs can address it directly. Only storage and addressing live here:
 * block allocation, reference counts and the prefix cache are block-pool.ts / kv-manager.ts.
 *   GQA: k [numBlocks, blockSizeTokens, Hkv, dh] and v [numBlocks, blockSizeTokens, Hkv, dh].
 *   MLA: latent [numBlocks, blockSizeTokens, R + dr] — the RMS-normalized c then the rotated
 *        k_pe (never full per-head K/V).
 * Values are f32, or bf16 (`dtype: 'bfloat16'`, vLLM's --kv-cache-dtype: half the bytes; written
 * rounded to nearest even, read widened by the kernels).
 */

import type { ModelSpec } from '../config/model-spec.js';
import { bf16ArrayToF32, f32ArrayToBf16 } from '../core/dtype.js';
import { XdsError } from '../core/errors.js';
import { hugePageBuffer } from '../core/huge-pages.js';
import type { ComputeBackend, KvArray } from '../kernels/backend.js';

export type LayerKv =
  | { readonly kind: 'gqa'; /** [numBlocks, bs, Hkv, dh] */ readonly k: KvArray; /** [numBlocks, bs, Hkv, dv] */ readonly v: KvArray }
  | { readonly kind: 'mla'; /** [numBlocks, bs, R + dr] */ readonly latent: KvArray };

export const KV_DTYPES = ['float32', 'bfloat16'] as const;
export type KvDtype = (typeof KV_DTYPES)[number];

export function isKvDtype(x: unknown): x is KvDtype {
  return (KV_DTYPES as readonly unknown[]).includes(x);
}

/** cache[offset …] = the f32 values of src in the cache's form (bf16: rounded by the backend's toBf16 when it has one). */
export function storeKv(cache: KvArray, src: Float32Array, offset: number, backend?: Pick<ComputeBackend, 'toBf16'>): void {
  if (cache instanceof Float32Array) cache.set(src, offset);
  else if (backend?.toBf16) backend.toBf16(src, cache, offset);
  else f32ArrayToBf16(src, cache, offset);
}

export interface KvStorageOptions {
  readonly numBlocks: number;
  /** Tokens per block (default 16). */
  readonly blockSizeTokens?: number;
  /** Allocate the MTP layers' caches too (default true). */
  readonly includeMtp?: boolean;
  /** Element type of the cached values (default 'float32'). */
  readonly dtype?: KvDtype;
}

export class KvStorage {
  readonly kind: 'gqa' | 'mla';
  readonly dtype: KvDtype;
  readonly numBlocks: number;
  readonly blockSizeTokens: number;
  /** Values per cached token per layer: GQA k (and v) width Hkv·dh; MLA R + dr. */
  readonly entryWidth: number;
  private readonly layers: LayerKv[] = [];

  /** Allocates fresh zeroed storage, or adopts `existing` (e.g. another thread's shared buffers) after checking sizes. */
  constructor(spec: ModelSpec, opts: KvStorageOptions, existing?: readonly LayerKv[]) {
    this.numBlocks = checkPositive(opts.numBlocks, 'numBlocks');
    this.blockSizeTokens = checkPositive(opts.blockSizeTokens ?? 16, 'blockSizeTokens');
    this.dtype = opts.dtype ?? 'float32';
    if (!isKvDtype(this.dtype)) throw new XdsError('invalid_argument', `dtype must be one of ${KV_DTYPES.join(', ')} (got ${String(this.dtype)})`, { param: 'dtype' });
    const a = spec.attention;
    this.kind = a.kind;
    this.entryWidth = a.kind === 'gqa' ? a.numKvHeads * a.headDim : a.kvLoraRank + a.qkRopeHeadDim;
    const numLayers = spec.numLayers + ((opts.includeMtp ?? true) ? spec.numMtpLayers : 0);
    if (existing !== undefined) this.adopt(existing, numLayers);
    else for (let l = 0; l < numLayers; l++) this.layers.push(this.allocLayer());
  }

  /** The layers' storage, for sharing with another thread (each array views a SharedArrayBuffer). */
  get layerStorage(): readonly LayerKv[] {
    return this.layers;
  }

  private adopt(existing: readonly LayerKv[], numLayers: number): void {
    const n = this.numBlocks * this.blockSizeTokens * this.entryWidth;
    const Form = this.dtype === 'bfloat16' ? Uint16Array : Float32Array;
    const fits = (a: KvArray): boolean => a instanceof Form && a.length === n;
    const ok = existing.length === numLayers && existing.every((kv) =>
      kv.kind === this.kind && (kv.kind === 'gqa' ? fits(kv.k) && fits(kv.v) : fits(kv.latent)));
    if (!ok) throw new XdsError('invalid_argument', `existing KV storage does not match ${numLayers} ${this.kind} layers of ${n} ${this.dtype} values`, { param: 'existing' });
    this.layers.push(...existing);
  }

  get numLayers(): number {
    return this.layers.length;
  }

  /** Bytes of cache per token over all layers. */
  get bytesPerToken(): number {
    return this.layers.length * this.entryWidth * (this.dtype === 'bfloat16' ? 2 : 4) * (this.kind === 'gqa' ? 2 : 1);
  }

  private allocLayer(): LayerKv {
    const n = this.numBlocks * this.blockSizeTokens * this.entryWidth;
    const alloc = (): KvArray => this.dtype === 'bfloat16' ? new Uint16Array(hugePageBuffer(n * 2)) : new Float32Array(hugePageBuffer(n * 4));
    return this.kind === 'gqa' ? { kind: 'gqa', k: alloc(), v: alloc() } : { kind: 'mla', latent: alloc() };
  }

  /** Layer l's storage (MTP module i is layer numLayers + i). */
  layer(l: number): LayerKv {
    const kv = this.layers[l];
    if (kv === undefined) throw new RangeError(`KV layer ${l} out of range [0, ${this.layers.length})`);
    return kv;
  }

  /** Physical slot (block·blockSize + offset) of absolute position `pos` through `blockTable`. */
  slot(blockTable: Int32Array, pos: number): number {
    const block = blockTable[Math.floor(pos / this.blockSizeTokens)];
    if (block === undefined || block < 0 || block >= this.numBlocks) {
      throw new XdsError('invalid_argument', `position ${pos} has no valid block in the block table (block ${String(block)}, numBlocks ${this.numBlocks})`, { param: 'blockTable' });
    }
    return block * this.blockSizeTokens + (pos % this.blockSizeTokens);
  }

  /** GQA: store one token's k and v ([Hkv·dh] f32 each) at `pos` (see storeKv for `backend`). */
  writeKv(l: number, blockTable: Int32Array, pos: number, k: Float32Array, v: Float32Array, backend?: Pick<ComputeBackend, 'toBf16'>): void {
    const kv = this.layer(l);
    if (kv.kind !== 'gqa') throw new RangeError('writeKv on an MLA cache');
    const o = this.slot(blockTable, pos) * this.entryWidth;
    storeKv(kv.k, k.subarray(0, this.entryWidth), o, backend);
    storeKv(kv.v, v.subarray(0, this.entryWidth), o, backend);
  }

  /** MLA: store one token's [c ‖ k_pe] ([R + dr] f32) at `pos`. */
  writeLatent(l: number, blockTable: Int32Array, pos: number, entry: Float32Array): void {
    const kv = this.layer(l);
    if (kv.kind !== 'mla') throw new RangeError('writeLatent on a GQA cache');
    storeKv(kv.latent, entry.subarray(0, this.entryWidth), this.slot(blockTable, pos) * this.entryWidth);
  }

  /** MLA: read the latents of positions [0, n) into out ([n, R + dr] f32, bf16 widened), e.g. for naive prefill. */
  readLatents(l: number, blockTable: Int32Array, n: number, out: Float32Array): void {
    const kv = this.layer(l);
    if (kv.kind !== 'mla') throw new RangeError('readLatents on a GQA cache');
    const w = this.entryWidth, lat = kv.latent;
    for (let u = 0; u < n; u++) {
      const o = this.slot(blockTable, u) * w;
      if (lat instanceof Float32Array) out.set(lat.subarray(o, o + w), u * w);
      else bf16ArrayToF32(lat, o, w, out, u * w);
    }
  }
}

function checkPositive(v: number, param: string): number {
  if (!Number.isInteger(v) || v <= 0) throw new XdsError('invalid_argument', `${param} must be a positive integer (got ${v})`, { param });
  return v;
}
