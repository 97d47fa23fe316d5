/**
 * response_format `json_object` / `json_schema` as a logits constraint (OpenAI: the message is one
 * JSON object, matching the schema if one is given; vLLM gets it from a grammar backend): before
 * each draw, every token after whose bytes the output could no longer be the beginning of such an
 * object is set to −∞; once the object is closed only whitespace and the request's stop tokens
 * (EOS) remain, so the output ends there. Special tokens are never allowed otherwise.
 * A candidate is checked by running a copy of the recognizer (json-schema-state.ts) over its
 * bytes, but outside a free string only for tokens whose first two bytes the current state
 * accepts (tokens are grouped by them; most groups fail there), and inside one only for the tokens
 * that are not plain string text (every plain one is allowed). `node dist/sampling/bench-json.js`
 * measures it against the plain sampler step.
 */
import { JsonSchemaState } from './json-schema-state.js';
import { anyObjectNode, type SchemaNode } from './json-schema.js';

/** The tokenizer's vocabulary as bytes, grouped by their first two bytes (built once per model). */
export interface TokenBytesIndex {
  readonly vocabSize: number;
  /** Every token's bytes in id order: token id is flat[start[id], start[id + 1]); none for special tokens. */
  readonly flat: Uint8Array;
  /** [vocab + 1] offsets into flat. */
  readonly start: Int32Array;
  /** [vocab] 1 when the token is plain string text: whole UTF-8 characters, none of them '"', '\' or a control. */
  readonly plain: Uint8Array;
  /** The tokens with bytes that are not all plain (what a string state must run). */
  readonly nonPlain: Int32Array;
  /** The tokens of JSON whitespace only. */
  readonly whitespace: Int32Array;
  /** [256] the one-byte token of that byte, or −1. */
  readonly single: Int32Array;
  /** [256] for tokens of ≥ 2 bytes starting with that byte: the second bytes that occur, and each one's ids. */
  readonly pairs: readonly { readonly second: Uint8Array; readonly ids: readonly Int32Array[] }[];
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Whole characters only: a token a string may take between characters without running it. */
function isWholeUtf8(b: Uint8Array): boolean {
  try { strictUtf8.decode(b); return true; } catch { return false; }
}

/** NOTE: flat arrays, not one Uint8Array per token: touching 129k small objects per mask cost ~20 ms. */
export function tokenBytesIndex(bytes: readonly (Uint8Array | null)[]): TokenBytesIndex {
  const vocabSize = bytes.length;
  const start = new Int32Array(vocabSize + 1);
  bytes.forEach((b, id) => { start[id + 1] = start[id]! + (b?.length ?? 0); });
  const flat = new Uint8Array(start[vocabSize]!);
  const plain = new Uint8Array(vocabSize);
  const single = new Int32Array(256).fill(-1);
  const groups = new Map<number, number[]>();
  bytes.forEach((b, id) => {
    if (b === null || b.length === 0) return;
    flat.set(b, start[id]!);
    plain[id] = b.every((x) => x >= 0x20 && x !== 0x22 && x !== 0x5c) && isWholeUtf8(b) ? 1 : 0;
    if (b.length === 1) { single[b[0]!] = id; return; }
    const key = b[0]! * 256 + b[1]!;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, [id]); else g.push(id);
  });
  const pairs = Array.from({ length: 256 }, (_, b0) => {
    const second = Uint8Array.from([...Array(256).keys()].filter((b1) => groups.has(b0 * 256 + b1)));
    return { second, ids: [...second].map((b1) => Int32Array.from(groups.get(b0 * 256 + b1)!)) };
  });
  const nonPlain = Int32Array.from(bytes.flatMap((b, id) => (b !== null && b.length > 0 && plain[id] === 0 ? [id] : [])));
  const isWs = (x: number): boolean => x === 0x20 || x === 0x0a || x === 0x0d || x === 0x09;
  const whitespace = Int32Array.from(bytes.flatMap((b, id) => (b !== null && b.length > 0 && b.every(isWs) ? [id] : [])));
  return { vocabSize, flat, start, plain, nonPlain, whitespace, single, pairs };
}

export class JsonObjectConstraint {
  private readonly state: JsonSchemaState;
  /** Scratch states: after a first byte, after two, after a whole token. */
  private readonly first: JsonSchemaState;
  private readonly probe: JsonSchemaState;
  private readonly rest: JsonSchemaState;
  private readonly allowed: Uint8Array;

  /**
   * stopTokenIds: allowed once the object is closed (EOS and the request's stop ids); schema: what
   * the object must match (default: any object, response_format json_object).
   */
  constructor(private readonly index: TokenBytesIndex, private readonly stopTokenIds: readonly number[], schema: SchemaNode = anyObjectNode()) {
    this.state = new JsonSchemaState(schema);
    this.first = new JsonSchemaState(schema);
    this.probe = new JsonSchemaState(schema);
    this.rest = new JsonSchemaState(schema);
    this.allowed = new Uint8Array(index.vocabSize);
  }

  /** The object is closed. */
  get done(): boolean {
    return this.state.done;
  }

  /** Sets the logit of every token the JSON cannot take next to −∞ (row: [vocab] f32, the caller's copy). */
  mask(row: Float32Array): void {
    const allowed = this.allowed;
    if (this.state.inString) this.maskInString();
    else this.maskByPairs();
    if (this.state.done) {
      for (const id of this.stopTokenIds) if (id < allowed.length) allowed[id] = 1;
      // NOTE: with no stop token (ignore_eos) trailing whitespace is the one way on, past the recognizer's cap
      if (this.stopTokenIds.length === 0) for (const id of this.index.whitespace) allowed[id] = 1;
    }
    const n = Math.min(row.length, allowed.length);
    for (let id = 0; id < n; id++) if (allowed[id] === 0) row[id] = -Infinity;
    for (let id = n; id < row.length; id++) row[id] = -Infinity;
  }

  /** In a free string every plain token goes (a copy of `plain`); only the others are run. */
  private maskInString(): void {
    const { flat, start, plain, nonPlain } = this.index;
    this.allowed.set(plain);
    for (let i = 0; i < nonPlain.length; i++) {
      const id = nonPlain[i]!;
      this.rest.copyFrom(this.state);
      if (this.rest.feedAll(flat, start[id]!, start[id + 1]!)) this.allowed[id] = 1;
    }
  }

  private maskByPairs(): void {
    const allowed = this.allowed;
    allowed.fill(0);
    const { single, pairs } = this.index;
    for (let b0 = 0; b0 < 256; b0++) {
      this.first.copyFrom(this.state);
      if (!this.first.feed(b0)) continue;
      if (single[b0]! >= 0) allowed[single[b0]!] = 1;
      const { second, ids } = pairs[b0]!;
      for (let j = 0; j < second.length; j++) {
        this.probe.copyFrom(this.first);
        if (this.probe.feed(second[j]!)) this.allowGroup(ids[j]!);
      }
    }
  }

  /** Tokens whose first two bytes the state (now `probe`) took: the rest of each is fed to a copy. */
  private allowGroup(ids: Int32Array): void {
    const { flat, start, plain } = this.index;
    const inString = this.probe.inString; // plain bytes keep a string a string
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const from = start[id]! + 2, to = start[id + 1]!;
      if (from === to || (inString && plain[id] === 1)) { this.allowed[id] = 1; continue; }
      this.rest.copyFrom(this.probe);
      if (this.rest.feedAll(flat, from, to)) this.allowed[id] = 1;
    }
  }

  /** Moves past a sampled token (one that mask allowed). */
  advance(tokenId: number): void {
    const { flat, start } = this.index;
    if (tokenId >= 0 && tokenId < this.index.vocabSize) this.state.feedAll(flat, start[tokenId]!, start[tokenId + 1]!); // a stop token has no bytes
  }
}
