/**
 * Chat templates: renders OpenAI-style messages into the prompt text a model was trained on, with
 * the checkpoint's Jinja `chat_template` through `@huggingface/jinja` (CPU-FACTS.md §5). The
 * gateway's chat endpoint (paper §1.3, §2.11) calls it before tokenizing.
 *
 * What the template sees follows transformers' `apply_chat_template`: `messages` (role, content,
 * tool_calls, tool_call_id, name, reasoning_content as given), `tools` (JSON-schema function
 * entries), `add_generation_prompt`, the special-token strings (`bos_token`, `eos_token`, ...), and
 * any extra variables (e.g. `enable_thinking`). NOTE: two differences, as vLLM does for text-only
 * templates: content given as a list of text parts is joined with '\n' into one string, because
 * most templates (Qwen3, DeepSeek) concatenate `content` as a string; and a null content (an
 * assistant turn that only calls tools) stays null only for templates that test it against `none`
 * (DeepSeek-V3 does), others get '' (Qwen3's `'</think>' in message.content` fails on null).
 * Encode the rendered prompt with `{addSpecialTokens: false}`, as transformers and vLLM do: the
 * template already wrote BOS where the model wants it (DeepSeek-V3), so adding it again doubles it.
 */
import { Template } from '@huggingface/jinja';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XdsError } from '../core/errors.js';
import { readJsonObject } from './generation-config.js';
import { TOKENIZER_CONFIG_FILE, specialTokenStrings, type SpecialTokenStrings } from './tokenizer.js';

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';
export interface ChatTextPart {
  readonly type: 'text';
  readonly text: string;
}
export type ChatContent = string | null | readonly ChatTextPart[];

export interface ChatToolCall {
  readonly id: string;
  readonly type: 'function';
  /** `arguments` as OpenAI sends it (a JSON string) or already parsed; passed to the template as given. */
  readonly function: { readonly name: string; readonly arguments: string | Record<string, unknown> };
}

export interface ChatMessage {
  readonly role: ChatRole;
  /** null (or absent) only for an assistant turn that just calls tools. */
  readonly content?: ChatContent;
  readonly name?: string;
  readonly tool_calls?: readonly ChatToolCall[];
  readonly tool_call_id?: string;
  readonly reasoning_content?: string;
}

/** A tool as in the OpenAI `tools` request field. */
export interface ChatTool {
  readonly type: 'function';
  readonly function: { readonly name: string; readonly description?: string; readonly parameters?: Record<string, unknown> };
}

export interface ChatRenderOptions {
  readonly messages: readonly ChatMessage[];
  readonly tools?: readonly ChatTool[];
  /** Append the assistant turn's opening (default false). */
  readonly addGenerationPrompt?: boolean;
  /** More template variables, e.g. `{enable_thinking: false}`. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** tokenizer_config.json's `chat_template`: one template, or named ones ('default', 'tool_use', ...). */
export type ChatTemplateSource = string | ReadonlyArray<{ readonly name: string; readonly template: string }>;

/** Does a template compare `content` with none (`message['content'] is none`, `.content is not none`)? */
const TESTS_CONTENT_FOR_NONE = /(\.content|\[['"]content['"]\])\s+is\s+(not\s+)?none\b/;

const ROLES: ReadonlySet<string> = new Set<ChatRole>(['system', 'user', 'assistant', 'tool']);

export class ChatTemplate {
  /** Names of the templates held ('default' for a single one). */
  readonly names: readonly string[];
  private readonly templates: ReadonlyMap<string, { template: Template; nullContent: null | '' }>;

  constructor(source: ChatTemplateSource, readonly specialTokens: SpecialTokenStrings = {}, sourceName = 'chat_template') {
    if (typeof source !== 'string' && !Array.isArray(source)) {
      throw new XdsError('checkpoint_corrupt', `${sourceName}: chat_template must be a string or a list of {name, template}`, { param: 'chat_template' });
    }
    const named = typeof source === 'string' ? [{ name: 'default', template: source }] : source;
    const templates = new Map<string, { template: Template; nullContent: null | '' }>();
    for (const entry of named) {
      const template = parseTemplate(entry?.template, `${sourceName} '${String(entry?.name)}'`);
      templates.set(String(entry?.name), { template, nullContent: TESTS_CONTENT_FOR_NONE.test(String(entry.template)) ? null : '' });
    }
    if (!templates.has('default')) {
      throw new XdsError('checkpoint_corrupt', `${sourceName} has no 'default' template (found: ${[...templates.keys()].join(', ') || 'none'})`, { param: 'chat_template' });
    }
    this.templates = templates;
    this.names = Object.freeze([...templates.keys()]);
  }

  /** Renders the conversation; bad messages or a template `raise_exception` give 'invalid_argument'. */
  render(opts: ChatRenderOptions): string {
    const hasTools = opts.tools !== undefined && opts.tools.length > 0;
    const { template, nullContent } = (hasTools ? this.templates.get('tool_use') : undefined) ?? this.templates.get('default')!;
    const messages = opts.messages.map((m, i) => normalizeMessage(m, i, nullContent));
    const vars: Record<string, unknown> = {
      ...this.specialTokens,
      ...opts.extra,
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
    };
    if (hasTools) vars.tools = opts.tools;
    try {
      return template.render(vars);
    } catch (cause) {
      throw new XdsError('invalid_argument', `chat template failed: ${(cause as Error).message}`, { param: 'messages', cause });
    }
  }
}

function parseTemplate(text: unknown, what: string): Template {
  if (typeof text !== 'string') throw new XdsError('checkpoint_corrupt', `${what} is not a string`, { param: 'chat_template' });
  try {
    return new Template(text);
  } catch (cause) {
    throw new XdsError('checkpoint_corrupt', `${what} is not a valid Jinja template: ${(cause as Error).message}`, { param: 'chat_template', cause });
  }
}

/** Checks one message and returns the plain object the template sees. */
function normalizeMessage(m: ChatMessage, i: number, nullContent: null | ''): Record<string, unknown> {
  if (typeof m !== 'object' || m === null || !ROLES.has(m.role)) {
    throw new XdsError('invalid_argument', `messages[${i}].role must be one of system, user, assistant, tool; got ${JSON.stringify((m as { role?: unknown } | null)?.role)}`, { param: `messages[${i}].role` });
  }
  const content = flattenContent(m.content, i);
  if (content === null && m.role !== 'assistant') {
    throw new XdsError('invalid_argument', `messages[${i}].content is required for role ${m.role}`, { param: `messages[${i}].content` });
  }
  return { ...m, content: content ?? nullContent };
}

function flattenContent(content: ChatContent | undefined, i: number): string | null {
  if (content === undefined || content === null) return null;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) {
    throw new XdsError('invalid_argument', `messages[${i}].content must be a string or a list of text parts`, { param: `messages[${i}].content` });
  }
  return content
    .map((part: ChatTextPart, j: number) => {
      if (part?.type !== 'text' || typeof part.text !== 'string') {
        throw new XdsError('invalid_argument', `messages[${i}].content[${j}].type must be 'text' with a string text (only text parts are supported); got ${JSON.stringify(part?.type)}`, { param: `messages[${i}].content[${j}].type` });
      }
      return part.text;
    })
    .join('\n');
}

export const CHAT_TEMPLATE_JINJA_FILE = 'chat_template.jinja';
export const CHAT_TEMPLATE_JSON_FILE = 'chat_template.json';

/**
 * The checkpoint's chat template: tokenizer_config.json's `chat_template`, else a
 * `chat_template.jinja` file, else `chat_template.json` (both newer transformers layouts); null when
 * there is none. Special tokens come from tokenizer_config.json.
 */
export function loadChatTemplate(dir: string): ChatTemplate | null {
  const configPath = join(dir, TOKENIZER_CONFIG_FILE);
  const config = readJsonObject(configPath, { optional: true }) ?? {};
  const special = specialTokenStrings(config);
  if (config.chat_template !== undefined && config.chat_template !== null) {
    return new ChatTemplate(config.chat_template as ChatTemplateSource, special, configPath);
  }
  const jinjaPath = join(dir, CHAT_TEMPLATE_JINJA_FILE);
  if (existsSync(jinjaPath)) return new ChatTemplate(readFileSync(jinjaPath, 'utf8'), special, jinjaPath);
  const jsonPath = join(dir, CHAT_TEMPLATE_JSON_FILE);
  const json = readJsonObject(jsonPath, { optional: true });
  if (json?.chat_template !== undefined) return new ChatTemplate(json.chat_template as ChatTemplateSource, special, jsonPath);
  return null;
}
