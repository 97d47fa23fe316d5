/**
 * GGUF v3 writer (GGUF-EXPORT.md §1): header, typed metadata, tensor infos, then the tensor data,
 * each tensor zero-padded to the alignment so that offsets are exactly sequential, as
 * ggml/src/gguf.cpp requires. Tensor bytes are produced one tensor at a time (`encode`), so a
 * large model never needs two copies in memory.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { XdsError } from '../../core/errors.js';
import {
  GGML_TYPE_CODE, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_MAX_NAME_BYTES, GGUF_VERSION, VALUE_TYPE,
  alignUp, tensorByteLength, type GgmlType, type GgufKv, type GgufValue, type ScalarType,
} from './format.js';

export interface GgufTensorToWrite {
  readonly name: string;
  /** ggml order: dims[0] is the contiguous one (PyTorch shape reversed). At most 4. */
  readonly dims: readonly number[];
  readonly type: GgmlType;
  /** The tensor's bytes in `type` encoding; called once, while writing. */
  encode(): Uint8Array;
}

export interface GgufFile {
  readonly kv: readonly GgufKv[];
  readonly tensors: readonly GgufTensorToWrite[];
}

/** Growable little-endian byte buffer for the header part. */
class ByteSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void { this.reserve(1); this.view.setUint8(this.length, v); this.length += 1; }
  i8(v: number): void { this.reserve(1); this.view.setInt8(this.length, v); this.length += 1; }
  u16(v: number): void { this.reserve(2); this.view.setUint16(this.length, v, true); this.length += 2; }
  i16(v: number): void { this.reserve(2); this.view.setInt16(this.length, v, true); this.length += 2; }
  u32(v: number): void { this.reserve(4); this.view.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number): void { this.reserve(4); this.view.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number): void { this.reserve(4); this.view.setFloat32(this.length, v, true); this.length += 4; }
  f64(v: number): void { this.reserve(8); this.view.setFloat64(this.length, v, true); this.length += 8; }
  u64(v: bigint | number): void { this.reserve(8); this.view.setBigUint64(this.length, BigInt(v), true); this.length += 8; }
  i64(v: bigint): void { this.reserve(8); this.view.setBigInt64(this.length, v, true); this.length += 8; }
  bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.length); this.length += b.length; }
  str(s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.bytes(b); }
  zeros(n: number): void { this.reserve(n); this.buf.fill(0, this.length, this.length + n); this.length += n; }
  result(): Uint8Array { return this.buf.subarray(0, this.length); }
}

function writeScalar(sink: ByteSink, type: ScalarType, v: number | bigint | string | boolean, key: string): void {
  switch (type) {
    case 'u8': return sink.u8(v as number);
    case 'i8': return sink.i8(v as number);
    case 'u16': return sink.u16(v as number);
    case 'i16': return sink.i16(v as number);
    case 'u32': return sink.u32(v as number);
    case 'i32': return sink.i32(v as number);
    case 'f32': return sink.f32(v as number);
    case 'f64': return sink.f64(v as number);
    case 'u64': return sink.u64(v as bigint);
    case 'i64': return sink.i64(v as bigint);
    case 'bool': return sink.u8(v ? 1 : 0);
    case 'string':
      if (typeof v !== 'string') throw new XdsError('invalid_argument', `GGUF key ${key}: string expected`, { param: key });
      return sink.str(v);
  }
}

function writeValue(sink: ByteSink, value: GgufValue, key: string): void {
  sink.u32(VALUE_TYPE[value.type]);
  if (value.type !== 'array') return writeScalar(sink, value.type, value.value, key);
  sink.u32(VALUE_TYPE[value.itemType]);
  sink.u64(value.values.length);
  for (const v of value.values) writeScalar(sink, value.itemType, v, key);
}

function alignmentOf(kvs: readonly GgufKv[]): number {
  const entry = kvs.find((e) => e.key === 'general.alignment');
  if (!entry) return GGUF_DEFAULT_ALIGNMENT;
  const v = entry.value;
  if (v.type !== 'u32' || v.value <= 0 || (v.value & (v.value - 1)) !== 0) {
    throw new XdsError('invalid_argument', 'general.alignment must be a u32 power of two', { param: 'general.alignment' });
  }
  return v.value;
}

function validate(file: GgufFile): void {
  const keys = new Set<string>();
  for (const { key } of file.kv) {
    if (key === '' || keys.has(key)) throw new XdsError('invalid_argument', `GGUF key '${key}' is empty or duplicated`, { param: key });
    keys.add(key);
  }
  const names = new Set<string>();
  for (const t of file.tensors) {
    if (Buffer.byteLength(t.name) > GGUF_MAX_NAME_BYTES || names.has(t.name)) {
      throw new XdsError('invalid_argument', `GGUF tensor name '${t.name}' is too long or duplicated`, { param: t.name });
    }
    if (t.dims.length < 1 || t.dims.length > 4 || t.dims.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw new XdsError('invalid_argument', `GGUF tensor '${t.name}' has bad dims [${t.dims.join(', ')}]`, { param: t.name });
    }
    names.add(t.name);
  }
}

/** Header, metadata and tensor infos, padded to the alignment; plus each tensor's data size. */
export function encodeGgufHeader(file: GgufFile): { header: Uint8Array; sizes: number[]; alignment: number } {
  validate(file);
  const alignment = alignmentOf(file.kv);
  const sink = new ByteSink();
  sink.u32(GGUF_MAGIC); sink.u32(GGUF_VERSION); sink.u64(file.tensors.length); sink.u64(file.kv.length);
  for (const { key, value } of file.kv) { sink.str(key); writeValue(sink, value, key); }
  const sizes: number[] = [];
  let offset = 0;
  for (const t of file.tensors) {
    const size = tensorByteLength(t.dims, t.type);
    sink.str(t.name); sink.u32(t.dims.length);
    for (const d of t.dims) sink.u64(d);
    sink.u32(GGML_TYPE_CODE[t.type]); sink.u64(offset);
    sizes.push(size);
    offset += alignUp(size, alignment);
  }
  sink.zeros(alignUp(sink.length, alignment) - sink.length);
  return { header: sink.result(), sizes, alignment };
}

/** Writes a GGUF v3 file; returns its size in bytes. */
export function writeGguf(path: string, file: GgufFile): number {
  const { header, sizes, alignment } = encodeGgufHeader(file);
  const fd = openSync(path, 'w');
  try {
    let pos = writeAll(fd, header);
    file.tensors.forEach((t, i) => {
      const data = t.encode();
      if (data.length !== sizes[i]) {
        throw new XdsError('internal', `GGUF tensor '${t.name}' encoded ${data.length} bytes, expected ${sizes[i]}`);
      }
      pos += writeAll(fd, data);
      pos += writeAll(fd, new Uint8Array(alignUp(data.length, alignment) - data.length));
    });
    return pos;
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, data: Uint8Array): number {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done);
  return data.length;
}
