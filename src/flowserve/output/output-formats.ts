/**
 * Which tool-call parser and reasoning parser fit a model (policy for the output process, paper
 * notes §2.5.1 and §2.11), inferred from the markers its chat template writes, as a default the
 * deployment config may override: `<｜tool▁calls▁begin｜>` → 'deepseek_v3' when the arguments are
 * fenced in ```json (V3), else 'deepseek_v31' (V3.1), `<tool_call>` → 'hermes', `<think>` →
 * reasoning 'qwen3' style. Whether a request starts inside the reasoning is per prompt:
 * reasoning-parser.ts `promptOpensReasoning(renderedPrompt)`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHAT_TEMPLATE_JINJA_FILE } from '../../model/chat-template.js';
import { readJsonObject } from '../../model/generation-config.js';
import { TOKENIZER_CONFIG_FILE } from '../../model/tokenizer.js';
import { DSV3_TOOL_CALL_BEGIN, DSV3_TOOL_CALLS_BEGIN } from './tool-parsers/deepseek-v3.js';
import { HERMES_TOOL_CALL_START } from './tool-parsers/hermes.js';

export interface OutputFormats {
  /** A tool-parsers/registry.ts name, or undefined when the template writes no tool calls. */
  readonly toolParser?: string;
  /** A REASONING_PARSERS name, or undefined when the template knows no `<think>`. */
  readonly reasoning?: string;
}

export function inferOutputFormats(chatTemplate: string): OutputFormats {
  const out: { toolParser?: string; reasoning?: string } = {};
  if (chatTemplate.includes(DSV3_TOOL_CALLS_BEGIN) || chatTemplate.includes(DSV3_TOOL_CALL_BEGIN)) {
    out.toolParser = chatTemplate.includes('```json') ? 'deepseek_v3' : 'deepseek_v31';
  } else if (chatTemplate.includes(HERMES_TOOL_CALL_START)) {
    out.toolParser = 'hermes';
  }
  if (chatTemplate.includes('<think>') || chatTemplate.includes('</think>')) out.reasoning = 'qwen3';
  return out;
}

/** inferOutputFormats over a checkpoint's chat template (tokenizer_config.json, else chat_template.jinja); {} when none. */
export function inferOutputFormatsFromDir(dir: string): OutputFormats {
  const config = readJsonObject(join(dir, TOKENIZER_CONFIG_FILE), { optional: true }) ?? {};
  const source = config.chat_template;
  if (typeof source === 'string') return inferOutputFormats(source);
  if (Array.isArray(source)) return inferOutputFormats(source.map((t: { template?: unknown }) => String(t?.template ?? '')).join('\n'));
  const jinja = join(dir, CHAT_TEMPLATE_JINJA_FILE);
  return existsSync(jinja) ? inferOutputFormats(readFileSync(jinja, 'utf8')) : {};
}
