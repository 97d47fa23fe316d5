/**
 * The byte-level JSON recognizer of json-state.ts with a schema (json-schema.ts) on top: besides
 * the JSON grammar it refuses the first byte after which the value could no longer match the
 * schema: a kind of value the schema does not allow, a key that is not (the start of) an unseen
 * declared property when no others are allowed, '}' before every required property, ',' when no
 * key can follow, a value outside an enum, a '.' or exponent in an integer. Same interface as
 * JsonState, so JsonObjectConstraint masks with either.
 */
import { MAX_JSON_DEPTH } from './json-state.js';
import { ARRAY, BOOLEAN, INTEGER, NULL, NUMBER, OBJECT, STRING, type SchemaNode } from './json-schema.js';

const enum Mode {
  Value, KeyOrEnd, Key, Colon, ValueOrEnd, AfterValue,
  /** A value string (free text). */
  InString, Escape, Unicode,
  /** A key string, matched against the declared names (or free when others are allowed). */
  InKey, KeyEscape, KeyUnicode,
  /** A value that must be one of the node's enum texts, matched byte by byte. */
  InEnum,
  Minus, Zero, IntDigits, Dot, FracDigits, Exp, ExpSign, ExpDigits,
  Literal, Done,
}

const MAX_MATCH = 512;
const LITERALS = ['true', 'false', 'null'].map((w) => Uint8Array.from(Buffer.from(w)));
const isWs = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;
const isHex = (b: number): boolean => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);

export class SchemaJsonState {
  private mode = Mode.Value;
  private count = 0;
  private literal = 0;
  /** The number being read allows only an integer. */
  private intOnly = false;
  private depth = 0;
  private readonly frameNode: SchemaNode[] = new Array<SchemaNode>(MAX_JSON_DEPTH);
  private readonly frameKind = new Uint8Array(MAX_JSON_DEPTH);
  private readonly frameSeen = new Int32Array(MAX_JSON_DEPTH);
  /** Schema of the value about to start (or being read). */
  private valueNode: SchemaNode;
  /** Bytes of the key or enum value read so far (capped; a longer key matches no declared name). */
  private readonly buf = new Uint8Array(MAX_MATCH);
  private bufLen = 0;

  /** root: the top-level schema (an object schema). */
  constructor(root: SchemaNode) {
    this.valueNode = root;
  }

  get done(): boolean {
    return this.mode === Mode.Done;
  }

  /** In a free value string, where plain bytes keep it a string. */
  get inString(): boolean {
    return this.mode === Mode.InString;
  }

  copyFrom(o: SchemaJsonState): void {
    this.mode = o.mode;
    this.count = o.count;
    this.literal = o.literal;
    this.intOnly = o.intOnly;
    this.depth = o.depth;
    for (let i = 0; i < o.depth; i++) {
      this.frameNode[i] = o.frameNode[i]!;
      this.frameKind[i] = o.frameKind[i]!;
      this.frameSeen[i] = o.frameSeen[i]!;
    }
    this.valueNode = o.valueNode;
    this.bufLen = o.bufLen;
    for (let i = 0; i < o.bufLen && i < MAX_MATCH; i++) this.buf[i] = o.buf[i]!;
  }

  feedAll(bytes: Uint8Array, from = 0, to = bytes.length): boolean {
    for (let i = from; i < to; i++) if (!this.feed(bytes[i]!)) return false;
    return true;
  }

  feed(b: number): boolean {
    switch (this.mode) {
      case Mode.Value: return isWs(b) || (this.depth === 0 ? b === 0x7b && this.startValue(b) : this.startValue(b));
      case Mode.ValueOrEnd: return isWs(b) || (b === 0x5d ? this.close(ARRAY) : this.startValue(b));
      case Mode.KeyOrEnd: return isWs(b) || (b === 0x7d ? this.close(OBJECT) : this.startKey(b));
      case Mode.Key: return isWs(b) || this.startKey(b);
      case Mode.Colon: return isWs(b) || (b === 0x3a && this.afterColon());
      case Mode.AfterValue: return this.afterValue(b);
      case Mode.InString: return b === 0x22 ? this.valueEnded() : b === 0x5c ? this.to(Mode.Escape) : b >= 0x20;
      case Mode.Escape: return this.escape(b, Mode.InString, Mode.Unicode);
      case Mode.Unicode: return isHex(b) && this.to(--this.count === 0 ? Mode.InString : Mode.Unicode);
      case Mode.InKey: return this.keyByte(b);
      case Mode.KeyEscape: return this.escape(b, Mode.InKey, Mode.KeyUnicode);
      case Mode.KeyUnicode: return isHex(b) && this.to(--this.count === 0 ? Mode.InKey : Mode.KeyUnicode);
      case Mode.InEnum: return this.enumByte(b);
      case Mode.Literal: return this.literalByte(b);
      case Mode.Done: return isWs(b);
      default: return this.number(b);
    }
  }

  private to(mode: Mode): true {
    this.mode = mode;
    return true;
  }

  private top(): SchemaNode {
    return this.frameNode[this.depth - 1]!;
  }

  private startValue(b: number): boolean {
    const n = this.valueNode;
    if (n.enumTexts !== null) {
      this.bufLen = 0;
      return this.to(Mode.InEnum) && this.enumByte(b);
    }
    const t = n.types;
    if (b === 0x7b) return (t & OBJECT) !== 0 && this.open(OBJECT, n);
    if (b === 0x5b) return (t & ARRAY) !== 0 && this.open(ARRAY, n);
    if (b === 0x22) return (t & STRING) !== 0 && this.to(Mode.InString);
    if (b === 0x2d || isDigit(b)) {
      if ((t & (NUMBER | INTEGER)) === 0) return false;
      this.intOnly = (t & NUMBER) === 0;
      return this.to(b === 0x2d ? Mode.Minus : b === 0x30 ? Mode.Zero : Mode.IntDigits);
    }
    const lit = b === 0x74 || b === 0x66 ? (t & BOOLEAN ? (b === 0x74 ? 0 : 1) : -1) : b === 0x6e ? (t & NULL ? 2 : -1) : -1;
    if (lit < 0) return false;
    this.literal = lit;
    this.count = 1;
    return this.to(Mode.Literal);
  }

  private open(kind: number, node: SchemaNode): boolean {
    if (this.depth === MAX_JSON_DEPTH) return false;
    this.frameNode[this.depth] = node;
    this.frameKind[this.depth] = kind;
    this.frameSeen[this.depth] = 0;
    this.depth++;
    if (kind === ARRAY) this.valueNode = node.items!;
    return this.to(kind === OBJECT ? Mode.KeyOrEnd : Mode.ValueOrEnd);
  }

  private close(kind: number): boolean {
    if (this.depth === 0 || this.frameKind[this.depth - 1] !== kind) return false;
    if (kind === OBJECT) {
      const n = this.top();
      if ((this.frameSeen[this.depth - 1]! & n.required) !== n.required) return false;
    }
    this.depth--;
    return this.valueEnded();
  }

  private valueEnded(): true {
    return this.to(this.depth === 0 ? Mode.Done : Mode.AfterValue);
  }

  /** Whether the open object can take one more key. */
  private canTakeKey(): boolean {
    const n = this.top();
    if (n.additional !== null) return true;
    const all = n.names.length === 32 ? -1 : (1 << n.names.length) - 1;
    return (this.frameSeen[this.depth - 1]! & all) !== all;
  }

  private startKey(b: number): boolean {
    if (b !== 0x22 || !this.canTakeKey()) return false;
    this.bufLen = 0;
    return this.to(Mode.InKey);
  }

  /** Index of the unseen declared name equal to buf[0, len) (len = bufLen) or starting with it, else -1. */
  private matchName(whole: boolean): number {
    const n = this.top();
    const seen = this.frameSeen[this.depth - 1]!;
    const len = this.bufLen;
    if (len > MAX_MATCH) return -1;
    outer: for (let i = 0; i < n.names.length; i++) {
      if (seen & (1 << i)) continue;
      const name = n.names[i]!;
      if (name.length < len || (whole && name.length !== len)) continue;
      for (let k = 0; k < len; k++) if (name[k] !== this.buf[k]) continue outer;
      return i;
    }
    return -1;
  }

  private keyByte(b: number): boolean {
    const free = this.top().additional !== null;
    if (b === 0x22) {
      const i = this.matchName(true);
      if (i < 0 && !free) return false;
      this.count = i; // the property whose value follows (-1: an additional one)
      return this.to(Mode.Colon);
    }
    if (b < 0x20) return false;
    if (b === 0x5c) {
      if (!free) return false; // declared names need no escapes
      this.bufLen = MAX_MATCH + 1; // an escaped key matches no declared name
      return this.to(Mode.KeyEscape);
    }
    if (this.bufLen < MAX_MATCH) this.buf[this.bufLen] = b;
    this.bufLen++;
    return free || this.matchName(false) >= 0;
  }

  private afterColon(): boolean {
    const n = this.top();
    const i = this.count;
    if (i >= 0) this.frameSeen[this.depth - 1]! |= 1 << i;
    this.valueNode = i >= 0 ? n.props[i]! : n.additional!;
    return this.to(Mode.Value);
  }

  private afterValue(b: number): boolean {
    if (isWs(b)) return true;
    const kind = this.frameKind[this.depth - 1];
    if (b === 0x2c) {
      if (kind === ARRAY) { this.valueNode = this.top().items!; return this.to(Mode.Value); }
      return this.canTakeKey() && this.to(Mode.Key);
    }
    return b === 0x7d ? this.close(OBJECT) : b === 0x5d && this.close(ARRAY);
  }

  private escape(b: number, back: Mode, unicode: Mode): boolean {
    if (b === 0x75) { this.count = 4; return this.to(unicode); }
    return (b === 0x22 || b === 0x5c || b === 0x2f || b === 0x62 || b === 0x66 || b === 0x6e || b === 0x72 || b === 0x74) && this.to(back);
  }

  /** An enum value: its bytes must begin one of the texts; a byte no text continues ends a complete one. */
  private enumByte(b: number): boolean {
    const texts = this.valueNode.enumTexts!;
    const len = this.bufLen;
    let complete = false;
    for (const t of texts) {
      if (t.length < len) continue;
      let k = 0;
      while (k < len && t[k] === this.buf[k]) k++;
      if (k < len) continue;
      if (t.length > len && t[len] === b) {
        if (len < MAX_MATCH) this.buf[len] = b;
        this.bufLen++;
        return true;
      }
      if (t.length === len) complete = true;
    }
    if (!complete || len === 0) return false;
    this.valueEnded();
    return this.afterValue(b);
  }

  private literalByte(b: number): boolean {
    const word = LITERALS[this.literal]!;
    if (b !== word[this.count]) return false;
    return ++this.count === word.length ? this.valueEnded() : true;
  }

  private number(b: number): boolean {
    switch (this.mode) {
      case Mode.Minus: return b === 0x30 ? this.to(Mode.Zero) : isDigit(b) && this.to(Mode.IntDigits);
      case Mode.Dot: return isDigit(b) && this.to(Mode.FracDigits);
      case Mode.Exp: return b === 0x2b || b === 0x2d ? this.to(Mode.ExpSign) : isDigit(b) && this.to(Mode.ExpDigits);
      case Mode.ExpSign: return isDigit(b) && this.to(Mode.ExpDigits);
      default: break;
    }
    if (isDigit(b) && this.mode !== Mode.Zero) return true;
    if (!this.intOnly) {
      if (b === 0x2e && (this.mode === Mode.Zero || this.mode === Mode.IntDigits)) return this.to(Mode.Dot);
      if ((b === 0x65 || b === 0x45) && this.mode !== Mode.ExpDigits) return this.to(Mode.Exp);
    }
    this.mode = Mode.AfterValue;
    return this.afterValue(b);
  }
}
