/**
 * Safetensors writer (MODELS.md §7 step 2, §9.1: the random checkpoint generator writes through it).
 * One file: u64 LE header length N, N bytes of JSON `{name: {dtype, shape, data_offsets}}` (padded
 * with spaces to a multiple of 8) plus `__metadata__`, then the raw little-endian data. Sharded:
 * `model-0000i-of-0000N.safetensors` plus `model.safetensors.index.json` ({metadata, weight_map}).
 * The reader is safetensors.ts, which re-exports these functions.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname, join } from 'node:path';
import { XdsError } from '../core/errors.js';
import { numElements, type StorageDType, type Tensor } from './tensor.js';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/** fs.writeSync moves at most 2 GiB - 1 per call; stay well under. */
const MAX_WRITE_BYTES = 1 << 30;

const DTYPE_NAMES: Readonly<Record<StorageDType, string>> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };

function tensorBytes(t: Tensor): Uint8Array {
  const okType = t.dtype === 'f32' ? t.data instanceof Float32Array : t.data instanceof Uint16Array;
  if (!okType || DTYPE_NAMES[t.dtype] === undefined) {
    throw new XdsError('invalid_argument', `tensor '${t.name}': dtype ${t.dtype} does not match its ${t.data.constructor.name}`, { param: t.name });
  }
  if (t.data.length !== numElements(t.shape)) {
    throw new XdsError('invalid_argument', `tensor '${t.name}' has ${t.data.length} elements but shape [${t.shape.join(', ')}]`, { param: t.name });
  }
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Writes one safetensors file with the tensors in the given order (host must be little-endian). */
export function writeSafetensors(path: string, tensors: readonly Tensor[], metadata?: Record<string, string>): void {
  if (endianness() !== 'LE') throw new XdsError('internal', 'safetensors writing needs a little-endian host');
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const datas: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    if (t.name in header) throw new XdsError('invalid_argument', `tensor '${t.name}' is given twice`, { param: t.name });
    const bytes = tensorBytes(t);
    header[t.name] = { dtype: DTYPE_NAMES[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    datas.push(bytes);
    offset += bytes.length;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length), 0);
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  try {
    for (const chunk of [prefix, json, ...datas]) writeAll(fd, chunk);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, Math.min(MAX_WRITE_BYTES, bytes.length - done));
}

/**
 * Splits the tensors, in order, into shards of at most `maxShardBytes` of data (a larger tensor gets
 * a shard of its own) named `model-0000i-of-0000N.safetensors`, plus `model.safetensors.index.json`.
 * When everything fits in one shard, writes a plain `model.safetensors` and no index.
 */
export function writeShardedSafetensors(dir: string, tensors: readonly Tensor[], maxShardBytes: number): void {
  if (!(maxShardBytes > 0)) throw new XdsError('invalid_argument', `maxShardBytes must be positive, got ${maxShardBytes}`, { param: 'maxShardBytes' });
  const shards = splitShards(tensors, maxShardBytes);
  mkdirSync(dir, { recursive: true });
  if (shards.length <= 1) {
    writeSafetensors(join(dir, SINGLE_FILE), tensors, { format: 'pt' });
    return;
  }
  const pad = (i: number): string => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  shards.forEach((shard, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    writeSafetensors(join(dir, file), shard, { format: 'pt' });
    for (const t of shard) {
      weightMap[t.name] = file;
      totalSize += t.data.byteLength;
    }
  });
  writeFileSync(join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n');
}

function splitShards(tensors: readonly Tensor[], maxShardBytes: number): Tensor[][] {
  const shards: Tensor[][] = [];
  let current: Tensor[] = [];
  let bytes = 0;
  for (const t of tensors) {
    const n = t.data.byteLength;
    if (current.length > 0 && bytes + n > maxShardBytes) {
      shards.push(current);
      current = [];
      bytes = 0;
    }
    current.push(t);
    bytes += n;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}
