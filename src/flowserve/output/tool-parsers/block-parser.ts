/**
 * The mechanism shared by tool-call formats that wrap each call in a start and an end marker,
 * optionally inside a section (DeepSeek-V3: `<｜tool▁calls▁begin｜>` … `<｜tool▁calls▁end｜>`
 * around `<｜tool▁call▁begin｜>` … `<｜tool▁call▁end｜>`; Hermes/Qwen3: `<tool_call>` …
 * `</tool_call>`). The format (policy) only names its markers and parses one call's body.
 * Streaming: text before a marker is content; a tail that could start a marker, and trailing
 * whitespace, are held back (whitespace around markers is dropped); a call is emitted once its end
 * marker arrives and its body parses. A malformed call is never lost: its raw text becomes content.
 */
import { randomBytes } from 'node:crypto';
import { findFirstMarker, partialMarkerLength, trailingWhitespaceStart } from '../text-hold.js';
import type { ToolCallDelta, ToolCallIdFn } from '../types.js';
import type { ParsedCall, ToolParser, ToolParseStep, ToolParserOptions } from './types.js';

export interface BlockToolFormat {
  /** Opens the tool-call part (content ends there); optional. */
  readonly sectionStart?: string;
  /** Closes the tool-call part; optional. */
  readonly sectionEnd?: string;
  readonly callStart: string;
  readonly callEnd: string;
  /** Parses the text between callStart and callEnd. */
  parseCall(body: string): ParsedCall;
  /** Accept a call whose end marker never came (the stream ended right after the body). Default false. */
  readonly acceptsUnclosedCall?: boolean;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** OpenAI-style tool call id: `call_` + 24 random alphanumerics. */
export function randomToolCallId(): string {
  const bytes = randomBytes(24);
  let id = 'call_';
  for (const b of bytes) id += ID_ALPHABET[b % ID_ALPHABET.length];
  return id;
}

interface StepOut {
  content: string;
  toolCalls: ToolCallDelta[];
}

export class BlockToolParser implements ToolParser {
  private readonly markers: readonly string[];
  private readonly newId: ToolCallIdFn;
  private pending = '';
  private isInCall = false;
  /** Inside a call: end markers before this offset of `pending` were tried (NOTE: keeps long arguments O(n)). */
  private callScanFrom = 0;
  /** Just after a marker: leading whitespace is dropped. */
  private isAfterMarker = false;
  private numCalls = 0;

  constructor(private readonly format: BlockToolFormat, opts: ToolParserOptions = {}) {
    this.markers = [format.sectionStart, format.callStart, format.sectionEnd].filter((m): m is string => m !== undefined && m !== '');
    this.newId = opts.newToolCallId ?? randomToolCallId;
  }

  get numToolCalls(): number {
    return this.numCalls;
  }

  push(text: string): ToolParseStep {
    this.pending += text;
    return this.drain(false);
  }

  flush(): ToolParseStep {
    return this.drain(true);
  }

  private drain(isEnd: boolean): ToolParseStep {
    const out: StepOut = { content: '', toolCalls: [] };
    while (this.isInCall ? this.stepCall(isEnd, out) : this.stepText(isEnd, out));
    return out;
  }

  /** Outside a call: content up to the next marker. Returns true to go on. */
  private stepText(isEnd: boolean, out: StepOut): boolean {
    const hit = findFirstMarker(this.pending, this.markers);
    if (hit !== null) {
      this.emitText(this.pending.slice(0, hit.index).trimEnd(), out);
      this.pending = this.pending.slice(hit.index + hit.marker.length);
      this.isAfterMarker = true;
      this.isInCall = hit.marker === this.format.callStart;
      this.callScanFrom = 0;
      return true;
    }
    if (isEnd) {
      this.emitText(this.numCalls > 0 ? this.pending.trimEnd() : this.pending, out);
      this.pending = '';
      return false;
    }
    const keep = partialMarkerLength(this.pending, this.markers);
    const cut = trailingWhitespaceStart(this.pending.slice(0, this.pending.length - keep));
    this.emitText(this.pending.slice(0, cut), out);
    this.pending = this.pending.slice(cut);
    return false;
  }

  /**
   * Inside a call: the first end marker whose body parses closes it (an end marker may also sit
   * inside a JSON string). None parses yet: wait; at the end of the stream the text up to the first
   * end marker is a malformed call (kept as content) and parsing goes on after it.
   */
  private stepCall(isEnd: boolean, out: StepOut): boolean {
    const { callStart, callEnd } = this.format;
    for (let end = this.pending.indexOf(callEnd, this.callScanFrom); end >= 0; end = this.pending.indexOf(callEnd, end + 1)) {
      const parsed = this.format.parseCall(this.pending.slice(0, end));
      if (parsed !== null) return this.closeCall(parsed, end + callEnd.length, out);
    }
    this.callScanFrom = Math.max(0, this.pending.length - callEnd.length + 1);
    if (!isEnd) return false;
    const first = this.pending.indexOf(callEnd);
    if (first >= 0) {
      this.emitText(callStart + this.pending.slice(0, first + callEnd.length), out);
      return this.closeCall(null, first + callEnd.length, out);
    }
    const parsed = this.format.acceptsUnclosedCall === true ? this.format.parseCall(this.pending) : null;
    if (parsed === null) this.emitText(callStart + this.pending, out);
    this.closeCall(parsed, this.pending.length, out);
    return false;
  }

  /** Leaves the call: records it (null: malformed, already emitted as text) and drops its text. */
  private closeCall(parsed: ParsedCall, consumed: number, out: StepOut): true {
    this.pending = this.pending.slice(consumed);
    this.isInCall = false;
    this.isAfterMarker = true;
    if (parsed !== null) {
      out.toolCalls.push({ index: this.numCalls++, id: this.newId(), type: 'function', function: { name: parsed.name, arguments: parsed.arguments } });
    }
    return true;
  }

  private emitText(text: string, out: StepOut): void {
    const t = this.isAfterMarker ? text.trimStart() : text;
    if (t === '') return;
    this.isAfterMarker = false;
    out.content += t;
  }
}
