/**
 * JSON Schema → the structure a byte-level recognizer can enforce (json-schema-state.ts), for
 * response_format `json_schema` and forced tool calls. Enforced: `type` (one or a list), `enum` /
 * `const`, `properties` with `required` and `additionalProperties`, `items`, local `$ref`s
 * (`#/$defs/…`, `#/definitions/…`, recursion included), and `anyOf` / `oneOf` whose branches start
 * with different bytes (pydantic's `Optional[X]`: X or null) or are objects told apart by a required
 * property with a distinct `const` in each (a tagged union; generated with that property first). Not enforced (accepted, as OpenAI's
 * non-strict mode): string formats and patterns, lengths, numeric bounds, item counts. A schema
 * outside this (branches that could start alike, more than 32 properties) is an XdsError naming
 * the field, so the request gets a 400 instead of unconstrained output.
 */
import { XdsError } from '../core/errors.js';

export const STRING = 1, NUMBER = 2, INTEGER = 4, BOOLEAN = 8, NULL = 16, OBJECT = 32, ARRAY = 64;
const ALL = STRING | NUMBER | INTEGER | BOOLEAN | NULL | OBJECT | ARRAY;
const TYPE_BITS: Readonly<Record<string, number>> = { string: STRING, number: NUMBER, integer: INTEGER, boolean: BOOLEAN, null: NULL, object: OBJECT, array: ARRAY };
/** A seen-keys bitmask per open object. */
export const MAX_PROPERTIES = 32;
/** What the recognizer keeps of an enum value while matching it (json-schema-state.ts). */
export const MAX_ENUM_BYTES = 512;

export interface SchemaNode {
  /** Allowed kinds of value (bits above); with `enumTexts`, the value is one of those texts instead. */
  types: number;
  /** JSON texts (UTF-8) the value must be one of; null when any value of `types` goes. */
  enumTexts: Uint8Array[] | null;
  /** Objects: declared property names (UTF-8, no escapes needed) and their schemas. */
  names: Uint8Array[];
  props: SchemaNode[];
  /** Bitmask over `names` of the required ones. */
  required: number;
  /** Schema of undeclared properties; null: none allowed. */
  additional: SchemaNode | null;
  /** Arrays: the items' schema. */
  items: SchemaNode | null;
  /**
   * A tagged union of objects: this node declares only the tag (props[0], an enum) and the object
   * continues as variants[k] once the tag's value is enumTexts[k] (each variant has the tag first).
   */
  variants?: SchemaNode[];
}

const utf8 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'utf8'));

/** Any JSON value. */
export function anyNode(): SchemaNode {
  const n = bareNode(ALL);
  n.additional = n;
  n.items = n;
  return n;
}

/** Any JSON object (response_format json_object): the top level is an object, anything inside. */
export function anyObjectNode(): SchemaNode {
  return { ...anyNode(), types: OBJECT, additional: anyNode(), items: null };
}

type Json = Record<string, unknown>;

/** A node of these types with nothing else declared (filled in by the compiler). */
function bareNode(types: number): SchemaNode {
  return { types, enumTexts: null, names: [], props: [], required: 0, additional: null, items: null };
}

export function compileSchema(schema: unknown, param: string): SchemaNode {
  const root = asObject(schema, param);
  return new SchemaCompiler(root, param).compile(root, 'schema');
}

/** One schema's compilation: its local $refs resolved once (recursion included), errors naming `param`. */
class SchemaCompiler {
  private readonly refs = new Map<string, SchemaNode>();
  private readonly any = anyNode();

  constructor(private readonly root: Json, private readonly param: string) {}

  compile(s: unknown, where: string): SchemaNode {
    if (s === true || (typeof s === 'object' && s !== null && Object.keys(s).length === 0)) return this.any;
    const o = asObject(s, this.param);
    if (typeof o.$ref === 'string') return this.resolve(o.$ref, where);
    const branches = (o.anyOf ?? o.oneOf) as unknown;
    if (Array.isArray(branches)) return this.union(branches.map((b, i) => this.compile(b, `${where}.anyOf[${i}]`)), where);
    if ('const' in o || Array.isArray(o.enum)) return this.enumNode('const' in o ? [o.const] : (o.enum as unknown[]), where);
    const node = bareNode(this.typeBits(o, where));
    if (node.types & OBJECT) this.objectPart(o, node, where);
    if (node.types & ARRAY) node.items = o.items === undefined ? this.any : this.compile(o.items, `${where}.items`);
    return node;
  }

  private fail(where: string, why: string): never {
    throw new XdsError('invalid_argument', `${where}: ${why}`, { param: this.param });
  }

  private resolve(ref: string, where: string): SchemaNode {
    const hit = this.refs.get(ref);
    if (hit !== undefined) return hit;
    const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
    const defs = m === null ? undefined : (this.root[m[1]!] as Json | undefined);
    const target = m === null || defs === undefined ? undefined : defs[decodeURIComponent(m[2]!)];
    if (target === undefined) this.fail(where, `$ref '${ref}' is not a local #/$defs or #/definitions entry`);
    const node = bareNode(0);
    this.refs.set(ref, node); // before compiling: recursive schemas point back here
    Object.assign(node, this.compile(target, `${where} → ${ref}`));
    return node;
  }

  private enumNode(values: readonly unknown[], where: string): SchemaNode {
    if (values.length === 0) this.fail(where, 'an empty enum allows nothing');
    const enumTexts = values.map((v) => utf8(JSON.stringify(v)));
    if (enumTexts.some((t) => t.length > MAX_ENUM_BYTES)) this.fail(where, `enum values longer than ${MAX_ENUM_BYTES} bytes of JSON are not supported`);
    return { ...bareNode(0), enumTexts };
  }

  private typeBits(o: Json, where: string): number {
    const t = o.type;
    if (t === undefined) return o.properties !== undefined ? OBJECT : o.items !== undefined ? ARRAY : ALL;
    let bits = 0;
    for (const name of Array.isArray(t) ? t : [t]) {
      const b = typeof name === 'string' ? TYPE_BITS[name] : undefined;
      if (b === undefined) this.fail(where, `unknown type ${JSON.stringify(name)}`);
      bits |= b;
    }
    return bits;
  }

  private objectPart(o: Json, node: SchemaNode, where: string): void {
    const props = (o.properties ?? {}) as Json;
    const names = Object.keys(props);
    if (names.length > MAX_PROPERTIES) this.fail(where, `at most ${MAX_PROPERTIES} properties per object, got ${names.length}`);
    if (names.some((n) => JSON.stringify(n) !== `"${n}"`)) this.fail(where, 'property names that need JSON escapes are not supported');
    node.names = names.map(utf8);
    node.props = names.map((n) => this.compile(props[n], `${where}.properties.${n}`));
    for (const r of Array.isArray(o.required) ? (o.required as unknown[]) : []) {
      const i = names.indexOf(String(r));
      if (i < 0) this.fail(where, `required property '${String(r)}' is not among its properties`);
      node.required |= 1 << i;
    }
    const extra = o.additionalProperties;
    node.additional = extra === false ? null : extra === undefined || extra === true ? this.any : this.compile(extra, `${where}.additionalProperties`);
  }

  /** A tagged union, or branches merged by first byte: each kind of value may come from one branch only. */
  private union(nodes: SchemaNode[], where: string): SchemaNode {
    const t = tagged(nodes);
    if (t !== null) return t;
    const out = bareNode(0);
    for (const n of nodes) {
      if (n.enumTexts !== null) this.fail(where, 'enum branches inside anyOf are not supported');
      if (out.types & n.types) this.fail(where, 'anyOf branches that allow the same kind of value are not supported');
      out.types |= n.types;
      if (n.types & OBJECT) { out.names = n.names; out.props = n.props; out.required = n.required; out.additional = n.additional; }
      if (n.types & ARRAY) out.items = n.items;
    }
    if ((out.types & NUMBER) && (out.types & INTEGER)) out.types &= ~INTEGER;
    return out;
  }
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Objects that each fix one required property to a distinct const: a tagged union, else null. */
function tagged(nodes: readonly SchemaNode[]): SchemaNode | null {
  if (nodes.length < 2 || !nodes.every((n) => n.types === OBJECT && n.enumTexts === null && n.variants === undefined)) return null;
  for (const key of nodes[0]!.names) {
    const tags: Uint8Array[] = [];
    for (const n of nodes) {
      const j = n.names.findIndex((k) => sameBytes(k, key));
      const v = j < 0 ? undefined : n.props[j]!;
      if (v === undefined || (n.required & (1 << j)) === 0 || v.enumTexts?.length !== 1) break;
      tags.push(v.enumTexts[0]!);
    }
    if (tags.length !== nodes.length || tags.some((t, i) => tags.findIndex((u) => sameBytes(u, t)) !== i)) continue;
    return { ...bareNode(OBJECT), names: [key], props: [{ ...bareNode(0), enumTexts: tags }], required: 1, variants: nodes.map((n) => tagFirst(n, key)) };
  }
  return null;
}

/** The same object schema with property `key` moved to index 0 (the seen bit the tag node set). */
function tagFirst(n: SchemaNode, key: Uint8Array): SchemaNode {
  const j = n.names.findIndex((k) => sameBytes(k, key));
  const order = [j, ...n.names.keys()].filter((i, at) => at === 0 || i !== j);
  let required = 0;
  order.forEach((i, at) => { if (n.required & (1 << i)) required |= 1 << at; });
  return { ...n, names: order.map((i) => n.names[i]!), props: order.map((i) => n.props[i]!), required };
}

function asObject(s: unknown, param: string): Json {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new XdsError('invalid_argument', 'a JSON Schema must be an object', { param });
  return s as Json;
}
