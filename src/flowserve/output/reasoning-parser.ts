/**
 * Reasoning parser of the output process (paper notes §2.5.1; MODELS.md reasoning models): the
 * text between `<think>` and `</think>` goes to `reasoning_content`, the rest to `content`, as
 * vLLM's `--reasoning-parser` does for DeepSeek-R1 and Qwen3. Streaming: a tail that could still
 * become a tag is held back. Whitespace at the edges of the reasoning and at the start of the
 * answer after `</think>` is dropped (the chat templates strip it when the turn is rendered back).
 * NOTE: DeepSeek-R1 (0528) and similar templates put `<think>\n` in the prompt, so the output
 * starts inside the reasoning without an opening tag: `startsInReasoning` (see
 * `promptOpensReasoning`). Output that does not start with the tag otherwise is all content,
 * unchanged.
 */
import { XdsError } from '../../core/errors.js';
import { partialMarkerLength, trailingWhitespaceStart } from './text-hold.js';

export interface ReasoningParserOptions {
  readonly startTag?: string;
  readonly endTag?: string;
  /** The prompt already opened the reasoning (the output starts inside it). Default false. */
  readonly startsInReasoning?: boolean;
}

export interface ReasoningStep {
  readonly reasoning: string;
  readonly content: string;
}

/** Named presets, as vLLM's reasoning parser names. */
export const REASONING_PARSERS: Readonly<Record<string, ReasoningParserOptions>> = Object.freeze({
  qwen3: { startTag: '<think>', endTag: '</think>', startsInReasoning: false },
  deepseek_r1: { startTag: '<think>', endTag: '</think>', startsInReasoning: true },
});

/** True when the prompt's last `startTag` is not closed: the model will continue inside the reasoning. */
export function promptOpensReasoning(promptText: string, startTag = '<think>', endTag = '</think>'): boolean {
  const open = promptText.lastIndexOf(startTag);
  return open >= 0 && promptText.indexOf(endTag, open) < 0;
}

type Phase = 'start' | 'reasoning' | 'content';

export class ReasoningParser {
  private readonly startTag: string;
  private readonly endTag: string;
  private phase: Phase;
  /** At the first text of a phase (leading whitespace, a repeated start tag are dropped there). */
  private isAtPhaseStart = true;
  private hadReasoning: boolean;
  private pending = '';

  constructor(opts: ReasoningParserOptions = {}) {
    this.startTag = checkTag(opts.startTag ?? '<think>', 'startTag');
    this.endTag = checkTag(opts.endTag ?? '</think>', 'endTag');
    this.phase = opts.startsInReasoning === true ? 'reasoning' : 'start';
    this.hadReasoning = opts.startsInReasoning === true;
  }

  /** True once the answer part has begun (after `</think>`, or when there is no reasoning). */
  get isInContent(): boolean {
    return this.phase === 'content';
  }

  push(text: string): ReasoningStep {
    this.pending += text;
    return this.drain(false);
  }

  /** End of stream: releases what was held (an unclosed reasoning stays reasoning). */
  flush(): ReasoningStep {
    return this.drain(true);
  }

  private drain(isEnd: boolean): ReasoningStep {
    const out = { reasoning: '', content: '' };
    for (let progressed = true; progressed;) {
      if (this.phase === 'start') progressed = this.stepStart(isEnd, out);
      else if (this.phase === 'reasoning') progressed = this.stepReasoning(isEnd, out);
      else progressed = this.stepContent(isEnd, out);
    }
    return out;
  }

  /** Before any text: is this a `<think>` opening? */
  private stepStart(isEnd: boolean, out: { content: string }): boolean {
    const s = this.pending.trimStart();
    if (s.startsWith(this.startTag)) {
      this.enter('reasoning', s.slice(this.startTag.length));
      this.hadReasoning = true;
      return true;
    }
    if (!isEnd && this.startTag.startsWith(s)) return false;
    this.phase = 'content';
    this.isAtPhaseStart = false;
    return true;
  }

  private stepReasoning(isEnd: boolean, out: { reasoning: string }): boolean {
    if (this.isAtPhaseStart && !this.dropReasoningOpening(isEnd)) return false;
    const end = this.pending.indexOf(this.endTag);
    if (end >= 0) {
      out.reasoning += this.pending.slice(0, end).trimEnd();
      this.enter('content', this.pending.slice(end + this.endTag.length));
      return true;
    }
    if (isEnd) {
      out.reasoning += this.pending.trimEnd();
      this.pending = '';
      return false;
    }
    const keep = partialMarkerLength(this.pending, [this.endTag]);
    const cut = trailingWhitespaceStart(this.pending.slice(0, this.pending.length - keep));
    out.reasoning += this.pending.slice(0, cut);
    this.pending = this.pending.slice(cut);
    return false;
  }

  /** Leading whitespace and a start tag the model repeats are not reasoning; false = wait for more. */
  private dropReasoningOpening(isEnd: boolean): boolean {
    let s = this.pending.trimStart();
    if (s.startsWith(this.startTag)) s = s.slice(this.startTag.length).trimStart();
    else if (!isEnd && s !== '' && this.startTag.startsWith(s)) {
      this.pending = s;
      return false;
    }
    this.pending = s;
    if (s === '' && !isEnd) return false;
    this.isAtPhaseStart = false;
    return true;
  }

  private stepContent(isEnd: boolean, out: { content: string }): boolean {
    if (this.isAtPhaseStart && this.hadReasoning) {
      this.pending = this.pending.trimStart();
      if (this.pending === '') return false;
    }
    this.isAtPhaseStart = false;
    out.content += this.pending;
    this.pending = '';
    return false;
  }

  private enter(phase: Phase, rest: string): void {
    this.phase = phase;
    this.pending = rest;
    this.isAtPhaseStart = true;
  }
}

function checkTag(tag: string, param: string): string {
  if (typeof tag !== 'string' || tag.length === 0) throw new XdsError('invalid_argument', `${param} must be a non-empty string`, { param });
  return tag;
}
