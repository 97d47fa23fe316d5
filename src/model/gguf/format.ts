/**
 * GGUF v3 format constants and the typed records the writer and reader share
 * (GGUF-EXPORT.md §1–§2). Everything little-endian; dims in ggml order (ne[0] fastest).
 */
import { XdsError } from '../../core/errors.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** llama.cpp refuses tensor names of 64 bytes or more. */
export const GGUF_MAX_NAME_BYTES = 63;

/** GGUF metadata value type codes. */
export const VALUE_TYPE = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12,
} as const;

export type ScalarType = Exclude<keyof typeof VALUE_TYPE, 'array'>;

/** A metadata value: a scalar or a homogeneous array of scalars (no arrays of arrays). */
export type GgufValue =
  | { readonly type: Exclude<ScalarType, 'string' | 'bool' | 'u64' | 'i64'>; readonly value: number }
  | { readonly type: 'u64' | 'i64'; readonly value: bigint }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'array'; readonly itemType: Exclude<ScalarType, 'u64' | 'i64'>; readonly values: readonly (number | string | boolean)[] };

export interface GgufKv {
  readonly key: string;
  readonly value: GgufValue;
}

/** The ggml tensor types this project writes. */
export type GgmlType = 'f32' | 'f16' | 'bf16' | 'q8_0';

export const GGML_TYPE_CODE: Record<GgmlType, number> = { f32: 0, f16: 1, bf16: 30, q8_0: 8 };

/** Elements per block and bytes per block of each ggml type (Q8_0: f16 scale + 32 × int8). */
export const GGML_BLOCK: Record<GgmlType, { readonly elems: number; readonly bytes: number }> = {
  f32: { elems: 1, bytes: 4 },
  f16: { elems: 1, bytes: 2 },
  bf16: { elems: 1, bytes: 2 },
  q8_0: { elems: 32, bytes: 34 },
};

export function ggmlTypeFromCode(code: number): GgmlType | undefined {
  return (Object.keys(GGML_TYPE_CODE) as GgmlType[]).find((t) => GGML_TYPE_CODE[t] === code);
}

/** Bytes of a tensor with ggml dims `dims` stored as `type`. */
export function tensorByteLength(dims: readonly number[], type: GgmlType): number {
  const n = dims.reduce((a, b) => a * b, 1);
  const block = GGML_BLOCK[type];
  if ((dims[0] ?? 0) % block.elems !== 0) {
    throw new XdsError('invalid_argument', `ggml type ${type} needs ne[0] to be a multiple of ${block.elems}, got ${dims[0]}`);
  }
  return (n / block.elems) * block.bytes;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Helpers that build typed metadata values (the GGUF type of every key matters to llama.cpp). */
export const kv = {
  u32: (key: string, value: number): GgufKv => ({ key, value: { type: 'u32', value } }),
  i32: (key: string, value: number): GgufKv => ({ key, value: { type: 'i32', value } }),
  f32: (key: string, value: number): GgufKv => ({ key, value: { type: 'f32', value } }),
  bool: (key: string, value: boolean): GgufKv => ({ key, value: { type: 'bool', value } }),
  str: (key: string, value: string): GgufKv => ({ key, value: { type: 'string', value } }),
  strArray: (key: string, values: readonly string[]): GgufKv => ({ key, value: { type: 'array', itemType: 'string', values } }),
  i32Array: (key: string, values: readonly number[]): GgufKv => ({ key, value: { type: 'array', itemType: 'i32', values } }),
  f32Array: (key: string, values: readonly number[]): GgufKv => ({ key, value: { type: 'array', itemType: 'f32', values } }),
};
