/**
 * Safetensors reader (MODELS.md §7 step 2, CPU-FACTS.md §5); the writer is safetensors-writer.ts,
 * re-exported here so importers need one module.
 *
 * File layout: u64 LE header length N, N bytes of JSON `{name: {dtype, shape, data_offsets}}` plus
 * an optional `__metadata__`, then raw little-endian data; `data_offsets` count from the first byte
 * after the header. Sharded checkpoints add `model.safetensors.index.json` ({metadata, weight_map}).
 * Reading is lazy: a tensor is `fs.readSync`'d straight into SharedArrayBuffer memory on its first
 * `get`, and later `get`s return the same memory.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { XdsError } from '../core/errors.js';
import { SharedArena, sharedSlice, type ArenaSlice } from '../core/huge-pages.js';
import { numElements, type StorageDType, type Tensor, type WeightSource } from './tensor.js';
import { INDEX_FILE, SINGLE_FILE } from './safetensors-writer.js';

export { INDEX_FILE, SINGLE_FILE, writeSafetensors, writeShardedSafetensors } from './safetensors-writer.js';

const STORAGE_DTYPES: Readonly<Record<string, StorageDType>> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };
/** fs.readSync moves at most 2 GiB - 1 per call; stay well under. */
const MAX_READ_BYTES = 1 << 30;

/** A checkpoint's tensors across one or more safetensors files. */
export class SafetensorsWeights implements WeightSource {
  private readonly cache = new Map<string, Tensor>();
  private readonly alloc: (bytes: number) => ArenaSlice;

  constructor(readonly entries: ReadonlyMap<string, SafetensorsEntry>, opts: SafetensorsOptions = {}) {
    const arena = (opts.arena ?? true) ? new SharedArena(8 << 20) : null;
    this.alloc = (bytes) => sharedSlice(bytes, arena);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Header facts (file, dtype string as stored, shape) without reading data. */
  info(name: string): SafetensorsEntry {
    const e = this.entries.get(name);
    if (!e) throw new XdsError('checkpoint_missing', `tensor '${name}' is not in the checkpoint`, { param: name });
    return e;
  }

  get(name: string): Tensor {
    const hit = this.cache.get(name);
    if (hit) return hit;
    const e = this.info(name);
    const dtype = STORAGE_DTYPES[e.dtype];
    if (!dtype) {
      throw new XdsError('unsupported_dtype', `tensor '${name}' in ${e.file} has dtype ${e.dtype}; only F32, F16 and BF16 are supported`, { param: name });
    }
    const bytes = readBytes(e, this.alloc);
    const t: Tensor = Object.freeze({
      name,
      dtype,
      shape: Object.freeze([...e.shape]),
      data: dtype === 'f32' ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2),
    });
    this.cache.set(name, t);
    return t;
  }

  /**
   * Drops the cached tensor (e.g. after converting it), so its memory can be collected (opened with
   * `arena: false`; in an arena only once every tensor of its chunk is gone); a later `get` reads it again.
   */
  release(name: string): void {
    this.cache.delete(name);
  }

  /** The raw bytes of any tensor, whatever its dtype (e.g. F8_E4M3 weights, I64 buffers). */
  getRaw(name: string): { entry: SafetensorsEntry; bytes: Uint8Array } {
    const e = this.info(name);
    return { entry: e, bytes: readBytes(e, (bytes) => sharedSlice(bytes)) }; // not cached: a buffer per call
  }
}

/** Reads one tensor's bytes into fresh shared memory. */
function readBytes(e: SafetensorsEntry, alloc: (bytes: number) => ArenaSlice): Uint8Array {
  const length = e.end - e.begin;
  const slice = alloc(length);
  const bytes = new Uint8Array(slice.buffer, slice.byteOffset, length); // [length] u8
  const fd = openSync(e.file, 'r');
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, bytes, done, Math.min(MAX_READ_BYTES, length - done), e.dataStart + e.begin + done);
      if (n === 0) throw new XdsError('checkpoint_corrupt', `${e.file} is truncated while reading tensor '${e.name}'`, { param: e.name });
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}

export interface SafetensorsOptions {
  /**
   * Read tensors into shared huge-page chunks (core/huge-pages.ts; default true), for tensors
   * that are used as read. false: a buffer per tensor, so that tensors converted after loading
   * (quantized) can be collected one by one; a chunk lives while any tensor in it does.
   */
  readonly arena?: boolean;
}

/**
 * Opens `dir`'s safetensors: `model.safetensors.index.json` with its shards, else `model.safetensors`,
 * else every `*.safetensors` in the folder. `dir` may also name one .safetensors file.
 */
export function openSafetensorsWeights(dir: string, opts: SafetensorsOptions = {}): SafetensorsWeights {
  const files = findSafetensorsFiles(dir);
  if (files.kind === 'index') return openIndexed(files.indexPath, opts);
  const entries = new Map<string, SafetensorsEntry>();
  for (const f of files.paths) addEntries(entries, readSafetensorsHeader(f).entries);
  return new SafetensorsWeights(entries, opts);
}

type FoundFiles = { kind: 'index'; indexPath: string } | { kind: 'files'; paths: string[] };

function findSafetensorsFiles(dir: string): FoundFiles {
  if (!existsSync(dir)) throw new XdsError('checkpoint_missing', `checkpoint directory ${dir} does not exist`, { param: dir });
  if (statSync(dir).isFile()) return { kind: 'files', paths: [dir] };
  const indexPath = join(dir, INDEX_FILE);
  if (existsSync(indexPath)) return { kind: 'index', indexPath };
  if (existsSync(join(dir, SINGLE_FILE))) return { kind: 'files', paths: [join(dir, SINGLE_FILE)] };
  const any = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
  if (any.length === 0) throw new XdsError('checkpoint_missing', `no ${SINGLE_FILE}, ${INDEX_FILE} or other .safetensors file in ${dir}`, { param: dir });
  return { kind: 'files', paths: any.map((f) => join(dir, f)) };
}

function addEntries(into: Map<string, SafetensorsEntry>, from: ReadonlyMap<string, SafetensorsEntry>): void {
  for (const [name, e] of from) {
    const prev = into.get(name);
    if (prev) throw new XdsError('checkpoint_corrupt', `tensor '${name}' appears in both ${basename(prev.file)} and ${basename(e.file)}`, { param: name });
    into.set(name, e);
  }
}

function openIndexed(indexPath: string, opts: SafetensorsOptions): SafetensorsWeights {
  const weightMap = readWeightMap(indexPath);
  const shards = new Map<string, ReadonlyMap<string, SafetensorsEntry>>();
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, shard] of Object.entries(weightMap)) {
    const header = shards.get(shard) ?? loadShard(indexPath, shard);
    shards.set(shard, header);
    const e = header.get(name);
    if (!e) throw new XdsError('checkpoint_corrupt', `${INDEX_FILE} maps tensor '${name}' to ${shard}, which does not contain it`, { param: name });
    entries.set(name, e);
  }
  return new SafetensorsWeights(entries, opts);
}

function loadShard(indexPath: string, shard: string): ReadonlyMap<string, SafetensorsEntry> {
  const path = join(dirname(indexPath), shard);
  if (!existsSync(path)) throw new XdsError('checkpoint_missing', `shard ${shard} named in ${indexPath} does not exist`, { param: shard });
  return readSafetensorsHeader(path).entries;
}

function readWeightMap(indexPath: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (cause) {
    throw new XdsError('checkpoint_corrupt', `${indexPath} is not valid JSON: ${(cause as Error).message}`, { param: INDEX_FILE, cause });
  }
  const map = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map) || !Object.values(map).every((v) => typeof v === 'string')) {
    throw new XdsError('checkpoint_corrupt', `${indexPath} has no weight_map of tensor name → shard file`, { param: 'weight_map' });
  }
  return map as Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Header

/** One tensor as a safetensors header describes it. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly file: string;
  /** As stored: 'F32', 'F16', 'BF16', 'F8_E4M3', 'I64', ... */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Byte range [begin, end) counted from `dataStart`. */
  readonly begin: number;
  readonly end: number;
  /** Absolute file offset of the data section: 8 + header length. */
  readonly dataStart: number;
}

const DTYPE_BYTES: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, U16: 2, U32: 4, U64: 8, BOOL: 1,
};
/** The safetensors spec caps the header at 100 MB. */
const MAX_HEADER_BYTES = 100_000_000;

function corrupt(path: string, what: string, param?: string): XdsError {
  return new XdsError('checkpoint_corrupt', `${path}: ${what}`, param === undefined ? {} : { param });
}

/** Parses and validates one file's header; tensor data is not read. */
export function readSafetensorsHeader(path: string): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  const fileSize = statSync(path).size;
  if (fileSize < 8) throw corrupt(path, `file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const fd = openSync(path, 'r');
  let json: Buffer;
  try {
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(fileSize - 8) || n > BigInt(MAX_HEADER_BYTES)) throw corrupt(path, `header length ${n} exceeds the file size ${fileSize}`);
    json = Buffer.alloc(Number(n));
    readSync(fd, json, 0, json.length, 8);
  } finally {
    closeSync(fd);
  }
  return parseHeader(path, json, 8 + json.length, fileSize);
}

function parseHeader(path: string, json: Buffer, dataStart: number, fileSize: number): ReturnType<typeof readSafetensorsHeader> {
  let obj: unknown;
  try {
    obj = JSON.parse(json.toString('utf8'));
  } catch (cause) {
    throw corrupt(path, `header is not valid JSON (${(cause as Error).message})`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw corrupt(path, 'header is not a JSON object');
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(obj)) {
    if (name === '__metadata__') metadata = (raw ?? {}) as Record<string, string>;
    else entries.set(name, parseEntry(path, name, raw, dataStart, fileSize));
  }
  return { entries, metadata };
}

function isUint(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function parseEntry(file: string, name: string, raw: unknown, dataStart: number, fileSize: number): SafetensorsEntry {
  const r = (raw ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof r.dtype !== 'string') throw corrupt(file, `tensor '${name}' has no dtype`, name);
  if (!Array.isArray(r.shape) || !r.shape.every(isUint)) throw corrupt(file, `tensor '${name}' has a bad shape ${JSON.stringify(r.shape)}`, name);
  const off = r.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !isUint(off[0]) || !isUint(off[1]) || off[0] > off[1]) {
    throw corrupt(file, `tensor '${name}' has bad data_offsets ${JSON.stringify(off)}`, name);
  }
  const [begin, end] = off as [number, number];
  if (dataStart + end > fileSize) {
    throw corrupt(file, `tensor '${name}' data_offsets [${begin}, ${end}] run past the end of the file (${fileSize - dataStart} data bytes; truncated?)`, name);
  }
  const shape = r.shape as number[];
  const elemBytes = DTYPE_BYTES[r.dtype];
  if (elemBytes !== undefined && end - begin !== numElements(shape) * elemBytes) {
    throw corrupt(file, `tensor '${name}' spans ${end - begin} bytes but ${r.dtype}[${shape.join(', ')}] needs ${numElements(shape) * elemBytes}`, name);
  }
  return Object.freeze({ name, file, dtype: r.dtype, shape: Object.freeze(shape), begin, end, dataStart });
}
