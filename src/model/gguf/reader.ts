/**
 * A minimal GGUF v3 reader (GGUF-EXPORT.md §1) used by the tests and by the export report: it
 * parses the header, the typed metadata and the tensor infos, checks what ggml/src/gguf.cpp
 * checks (magic, version, sequential aligned offsets), and decodes F32/F16/BF16/Q8_0 data to f32.
 */
import { readFileSync } from 'node:fs';
import { bf16ToF32, f16ToF32 } from '../../core/dtype.js';
import { XdsError } from '../../core/errors.js';
import {
  GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, VALUE_TYPE, alignUp, ggmlTypeFromCode, tensorByteLength,
  type GgmlType, type GgufValue, type ScalarType,
} from './format.js';
import { dequantizeQ8_0 } from './q8_0.js';

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml order (ne[0] first). */
  readonly dims: readonly number[];
  readonly type: GgmlType;
  /** Relative to the data section. */
  readonly offset: number;
  readonly byteLength: number;
}

export interface GgufContents {
  readonly version: number;
  readonly kv: ReadonlyMap<string, GgufValue>;
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** File offset of the data section. */
  readonly dataStart: number;
  readonly bytes: Uint8Array;
}

const TYPE_BY_CODE = new Map<number, keyof typeof VALUE_TYPE>(
  (Object.entries(VALUE_TYPE) as [keyof typeof VALUE_TYPE, number][]).map(([k, v]) => [v, k]),
);

class Cursor {
  pos = 0;
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array, private readonly path: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number): number {
    if (this.pos + n > this.bytes.length) throw corrupt(this.path, `truncated at byte ${this.pos}`);
    const at = this.pos; this.pos += n; return at;
  }
  u8(): number { return this.view.getUint8(this.need(1)); }
  i8(): number { return this.view.getInt8(this.need(1)); }
  u16(): number { return this.view.getUint16(this.need(2), true); }
  i16(): number { return this.view.getInt16(this.need(2), true); }
  u32(): number { return this.view.getUint32(this.need(4), true); }
  i32(): number { return this.view.getInt32(this.need(4), true); }
  f32(): number { return this.view.getFloat32(this.need(4), true); }
  f64(): number { return this.view.getFloat64(this.need(8), true); }
  u64(): bigint { return this.view.getBigUint64(this.need(8), true); }
  i64(): bigint { return this.view.getBigInt64(this.need(8), true); }
  size(): number { return Number(this.u64()); }
  str(): string { const n = this.size(); const at = this.need(n); return Buffer.from(this.bytes.subarray(at, at + n)).toString('utf8'); }
}

function corrupt(path: string, what: string): XdsError {
  return new XdsError('checkpoint_corrupt', `GGUF file ${path}: ${what}`);
}

function readScalar(c: Cursor, type: ScalarType): number | bigint | string | boolean {
  switch (type) {
    case 'u8': return c.u8();
    case 'i8': return c.i8();
    case 'u16': return c.u16();
    case 'i16': return c.i16();
    case 'u32': return c.u32();
    case 'i32': return c.i32();
    case 'f32': return c.f32();
    case 'f64': return c.f64();
    case 'u64': return c.u64();
    case 'i64': return c.i64();
    case 'bool': return c.u8() !== 0;
    case 'string': return c.str();
  }
}

function readValue(c: Cursor, path: string): GgufValue {
  const type = TYPE_BY_CODE.get(c.u32());
  if (type === undefined) throw corrupt(path, `unknown value type at byte ${c.pos - 4}`);
  if (type !== 'array') return { type, value: readScalar(c, type) } as GgufValue;
  const itemType = TYPE_BY_CODE.get(c.u32());
  if (itemType === undefined || itemType === 'array' || itemType === 'u64' || itemType === 'i64') {
    throw corrupt(path, `unsupported array element type at byte ${c.pos - 4}`);
  }
  const n = c.size();
  const values: (number | string | boolean)[] = [];
  for (let i = 0; i < n; i++) values.push(readScalar(c, itemType) as number | string | boolean);
  return { type: 'array', itemType, values };
}

function readTensorInfo(c: Cursor, path: string): GgufTensorInfo {
  const name = c.str();
  const nDims = c.u32();
  if (nDims < 1 || nDims > 4) throw corrupt(path, `tensor ${name} has ${nDims} dims`);
  const dims: number[] = [];
  for (let i = 0; i < nDims; i++) dims.push(c.size());
  const code = c.u32();
  const type = ggmlTypeFromCode(code);
  if (type === undefined) throw corrupt(path, `tensor ${name} has unsupported ggml type ${code}`);
  const offset = c.size();
  return { name, dims, type, offset, byteLength: tensorByteLength(dims, type) };
}

export function readGguf(path: string): GgufContents {
  const bytes = new Uint8Array(readFileSync(path));
  const c = new Cursor(bytes, path);
  if (c.u32() !== GGUF_MAGIC) throw corrupt(path, 'bad magic (not a GGUF file)');
  const version = c.u32();
  if (version < 2 || version > 3) throw corrupt(path, `unsupported version ${version}`);
  const numTensors = c.size();
  const numKv = c.size();
  const kv = new Map<string, GgufValue>();
  for (let i = 0; i < numKv; i++) {
    const key = c.str();
    if (kv.has(key)) throw corrupt(path, `duplicate key ${key}`);
    kv.set(key, readValue(c, path));
  }
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < numTensors; i++) tensors.push(readTensorInfo(c, path));
  const a = kv.get('general.alignment');
  const alignment = a?.type === 'u32' ? a.value : GGUF_DEFAULT_ALIGNMENT;
  const dataStart = alignUp(c.pos, alignment);
  checkOffsets(tensors, alignment, dataStart, bytes.length, path);
  return { version, kv, tensors, alignment, dataStart, bytes };
}

function checkOffsets(tensors: readonly GgufTensorInfo[], alignment: number, dataStart: number, fileSize: number, path: string): void {
  let expected = 0;
  for (const t of tensors) {
    if (t.offset !== expected) throw corrupt(path, `tensor ${t.name} at offset ${t.offset}, expected ${expected}`);
    if (dataStart + t.offset + t.byteLength > fileSize) throw corrupt(path, `tensor ${t.name} runs past the end of the file`);
    expected += alignUp(t.byteLength, alignment);
  }
}

/** A metadata value's payload (number, bigint, string, boolean or array of values). */
export function ggufValueOf(file: GgufContents, key: string): unknown {
  const v = file.kv.get(key);
  if (v === undefined) return undefined;
  return v.type === 'array' ? v.values : v.value;
}

/** Decodes one tensor to f32, in storage order ([dims reversed] row-major). */
export function readGgufTensor(file: GgufContents, name: string): Float32Array {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) throw new XdsError('checkpoint_missing', `GGUF tensor ${name} not found`);
  const start = file.dataStart + t.offset;
  const raw = file.bytes.slice(start, start + t.byteLength);
  if (t.type === 'q8_0') return dequantizeQ8_0(raw);
  if (t.type === 'f32') return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const h = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
  return Float32Array.from(h, (b) => (t.type === 'bf16' ? bf16ToF32(b) : f16ToF32(b)));
}
