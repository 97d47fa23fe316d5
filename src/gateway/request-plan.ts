/**
 * From a validated API body to what the engine needs (src/README.md lifecycle step 1): the model
 * check, the chat template rendered and tokenized, sampling parameters with the checkpoint's
 * generation_config.json defaults, max_tokens checked against the context window, and one
 * ChoiceSpec per choice.
 */
import { randomBytes } from 'node:crypto';
import { XdsError } from '../core/errors.js';
import { makeSamplingParams, type SamplingParams } from '../sampling/params.js';
import { compileSchema, OBJECT } from '../sampling/json-schema.js';
import type { ChatMessage, ChatTool } from '../model/chat-template.js';
import type { ServedModel } from '../serving/served-model.js';
import type { ChatRequest, CompletionRequest } from './schemas.js';
import type { ChoiceSpec } from './choice-run.js';
import type { ForcedToolCall, OutputProcessorOptions } from '../flowserve/output/output-processor.js';
import { ProcessorChoiceOutput } from './output.js';
import { promptOpensReasoning } from '../flowserve/output/reasoning-parser.js';

/** Generated tokens when a request names no max_tokens (bounded so a random model cannot run away). */
export const DEFAULT_MAX_TOKENS = 256;

export function newRequestId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

export function checkModel(model: ServedModel, name: string): void {
  if (name !== model.name) {
    throw new XdsError('model_not_found', `The model '${name}' does not exist; this server serves '${model.name}'`, { param: 'model' });
  }
}

type Common = Pick<ChatRequest, 'temperature' | 'top_p' | 'top_k' | 'min_p' | 'seed' | 'presence_penalty' | 'frequency_penalty' | 'repetition_penalty' | 'logit_bias' | 'min_tokens'>;

/** `logit_bias` {"id": bias} → [id, bias] pairs; keys must be token ids of this model's vocabulary. */
function logitBiasOf(model: ServedModel, bias: Record<string, number> | null | undefined): [number, number][] | undefined {
  if (bias === null || bias === undefined) return undefined;
  const vocab = model.spec.vocabSize;
  return Object.entries(bias).map(([key, value]) => {
    const id = /^\d+$/.test(key) ? Number(key) : NaN;
    if (!(id < vocab)) {
      throw new XdsError('invalid_argument', `logit_bias keys must be token ids in [0, ${vocab}), got '${key}'`, { param: 'logit_bias' });
    }
    return [id, value];
  });
}

/** Request fields over generation_config.json defaults; validated (errors name the field). */
export function samplingOf(model: ServedModel, b: Common, logprobs: number | null, structured: StructuredOutput = TEXT): SamplingParams {
  const g = model.generation;
  const def = g.doSample === false ? 0 : g.temperature;
  const pick = <T>(v: T | null | undefined, fallback: T | undefined): T | undefined => (v === null || v === undefined ? fallback : v);
  const p: Record<string, unknown> = {
    temperature: pick(b.temperature, def), topP: pick(b.top_p, g.topP), topK: pick(b.top_k, g.topK), minP: pick(b.min_p, undefined),
    seed: pick(b.seed, undefined), presencePenalty: pick(b.presence_penalty, undefined), frequencyPenalty: pick(b.frequency_penalty, undefined),
    repetitionPenalty: pick(b.repetition_penalty, g.repetitionPenalty), logprobs, logitBias: logitBiasOf(model, b.logit_bias),
    minTokens: pick(b.min_tokens, undefined), ...structured,
  };
  return makeSamplingParams(p as Partial<SamplingParams>);
}

/** A request's `priority`: only the 'priority' scheduling policy reads it, so elsewhere only 0 is accepted (vLLM). */
export function priorityOf(model: ServedModel, priority: number | null | undefined): number {
  const p = priority ?? 0;
  if (p !== 0 && model.schedulingPolicy !== 'priority') {
    throw new XdsError('invalid_argument', `priority is read only under --scheduling-policy priority (this server: ${model.schedulingPolicy})`, { param: 'priority' });
  }
  return p;
}

/** max_tokens, checked so that prompt + output fits the context (OpenAI/vLLM: 400 otherwise). */
export function maxTokensOf(model: ServedModel, numPromptTokens: number, requested: number | null | undefined, param: string, promptParam: string): number {
  const room = model.contextLen - numPromptTokens;
  if (room < 1) {
    throw new XdsError('context_length_exceeded',
      `This model's maximum context length is ${model.contextLen} tokens. However, your prompt has ${numPromptTokens} tokens, leaving no room for output.`, { param: promptParam });
  }
  if (requested === null || requested === undefined) return Math.min(room, DEFAULT_MAX_TOKENS);
  if (requested > room) {
    throw new XdsError('context_length_exceeded',
      `This model's maximum context length is ${model.contextLen} tokens. However, you requested ${numPromptTokens + requested} tokens (${numPromptTokens} in the prompt, ${requested} for the completion).`, { param });
  }
  return requested;
}

export function stopStrings(stop: string | readonly string[] | null | undefined): string[] {
  if (stop === null || stop === undefined) return [];
  return (typeof stop === 'string' ? [stop] : [...stop]).filter((s) => s.length > 0);
}

/** What rendering a conversation reads of a request (chat completions, /tokenize). */
export type Conversation = Pick<ChatRequest, 'messages' | 'tools' | 'chat_template_kwargs'> & { readonly tool_choice?: ChatRequest['tool_choice'] };

/** Renders and tokenizes the conversation (the template writes BOS itself). */
export function chatPrompt(model: ServedModel, b: Conversation, addGenerationPrompt = true): { text: string; ids: number[] } {
  const template = model.chatTemplate;
  if (template === null) throw new XdsError('invalid_argument', `model '${model.name}' has no chat template; use /v1/completions`, { param: 'messages' });
  const messages = b.messages.map((m) => (m.role === 'developer' ? { ...m, role: 'system' } : m)) as ChatMessage[];
  const tools = b.tool_choice === 'none' ? undefined : (b.tools ?? undefined) as ChatTool[] | undefined;
  const text = template.render({ messages, addGenerationPrompt, ...(tools === undefined ? {} : { tools }), ...(b.chat_template_kwargs ? { extra: b.chat_template_kwargs } : {}) });
  return { text, ids: model.tokenizer.encode(text, { addSpecialTokens: false }) };
}

/**
 * The call a request forces (OpenAI `tool_choice`), or undefined: naming a function (or 'required'
 * with one tool), the output is its arguments; 'required' with several, the output is
 * `{"name": …, "arguments": …}` for one of them (name: null). Either way a JSON object.
 */
export function forcedToolOf(b: ChatRequest): ForcedToolCall | undefined {
  const choice = b.tool_choice;
  if (choice === null || choice === undefined || choice === 'none' || choice === 'auto') return undefined;
  const names = (b.tools ?? []).map((t) => t.function.name);
  if (choice === 'required') {
    if (names.length === 0) throw new XdsError('invalid_argument', "tool_choice 'required' needs tools", { param: 'tool_choice' });
    return { name: names.length === 1 ? names[0]! : null };
  }
  if (!names.includes(choice.function.name)) {
    throw new XdsError('invalid_argument', `tool_choice names '${choice.function.name}', which is not among the request's tools`, { param: 'tool_choice' });
  }
  return { name: choice.function.name };
}

export type StructuredOutput = Pick<SamplingParams, 'responseFormat' | 'jsonSchema'>;
const TEXT: StructuredOutput = { responseFormat: 'text', jsonSchema: null };

/**
 * What constrains a chat's output: the forced tool's parameters schema, response_format
 * json_schema (its schema) or json_object (any object), else nothing. Schemas are compiled here
 * once, so one the constraint cannot enforce is a 400 naming its field, before any work starts.
 */
export function structuredOutputOf(b: ChatRequest, forcedTool: ForcedToolCall | undefined): StructuredOutput {
  const schemaOf = (schema: Readonly<Record<string, unknown>>, param: string): StructuredOutput => {
    if ((compileSchema(schema, param).types & OBJECT) === 0) throw new XdsError('invalid_argument', 'the schema must allow an object at the top level', { param });
    return { responseFormat: 'json_object', jsonSchema: schema };
  };
  const tools = b.tools ?? [];
  if (forcedTool?.name === null) {
    tools.forEach((t, i) => { if (t.function.parameters !== undefined) compileSchema(t.function.parameters, `tools[${i}].function.parameters`); });
    return schemaOf({ oneOf: tools.map((t) => ({
      type: 'object', required: ['name', 'arguments'], additionalProperties: false,
      properties: { name: { const: t.function.name }, arguments: t.function.parameters ?? { type: 'object' } },
    })) }, 'tools');
  }
  if (forcedTool !== undefined) {
    const i = tools.findIndex((t) => t.function.name === forcedTool.name);
    const params = tools[i]!.function.parameters;
    return params === undefined ? { responseFormat: 'json_object', jsonSchema: null } : schemaOf(params, `tools[${i}].function.parameters`);
  }
  const rf = b.response_format;
  if (rf?.type === 'json_object') return { responseFormat: 'json_object', jsonSchema: null };
  if (rf?.type !== 'json_schema') return TEXT;
  const schema = rf.json_schema?.schema;
  if (schema === null || schema === undefined) throw new XdsError('invalid_argument', "response_format 'json_schema' needs json_schema.schema", { param: 'response_format.json_schema.schema' });
  return schemaOf(schema, 'response_format.json_schema.schema');
}

/** The tool-call parser for this request: the model's, when the request offers tools. */
export function toolParserFor(model: ServedModel, b: ChatRequest): string | undefined {
  if (b.tools === null || b.tools === undefined || b.tools.length === 0 || b.tool_choice === 'none') return undefined;
  return model.toolParser ?? undefined;
}

/** The prompts of a completions request, as token ids (strings encoded with BOS as the model wants). */
export function completionPrompts(model: ServedModel, b: CompletionRequest): number[][] {
  const p = b.prompt;
  if (typeof p === 'string') return [model.tokenizer.encode(p)];
  if (p.every((x): x is number => typeof x === 'number')) return [checkIds(model, p as number[], 'prompt')];
  return (p as (string | number[])[]).map((x, i) => (typeof x === 'string' ? model.tokenizer.encode(x) : checkIds(model, x, `prompt[${i}]`)));
}

function checkIds(model: ServedModel, ids: number[], param: string): number[] {
  const vocab = model.spec.vocabSize;
  const bad = ids.findIndex((t) => t >= vocab);
  if (bad >= 0) throw new XdsError('invalid_argument', `${param}[${bad}] = ${ids[bad]} is outside the vocabulary [0, ${vocab})`, { param });
  if (ids.length === 0) throw new XdsError('invalid_argument', `${param} is empty`, { param });
  return ids;
}

export interface ChoicePlanInput {
  readonly requestId: string;
  readonly promptIds: readonly number[];
  readonly firstIndex: number;
  readonly n: number;
  readonly maxTokens: number;
  readonly sampling: SamplingParams;
  readonly stop: readonly string[];
  /** Parse tool calls with this parser (the request has tools), or none. */
  readonly toolParser?: string;
  /** The request forces a call (forcedToolOf). */
  readonly forcedTool?: ForcedToolCall;
  /** The rendered prompt text (chat): tells the reasoning parser whether the output starts inside `<think>`. */
  readonly promptText?: string;
  readonly extraStopTokenIds: readonly number[];
  /** Do not end at the model's EOS ids (vLLM `ignore_eos`). */
  readonly ignoreEos?: boolean;
  /** Keep a matched stop string in the text (vLLM `include_stop_str_in_output`). */
  readonly includeStopStr?: boolean;
  readonly wantLogprobs: boolean;
  /** Prompt logprobs with this many alternatives, or none. */
  readonly promptLogprobs?: number | null;
  /** vLLM `priority` (checked by priorityOf). */
  readonly priority?: number;
  readonly signal: AbortSignal;
}

function outputOptions(model: ServedModel, p: ChoicePlanInput): OutputProcessorOptions {
  const o: { -readonly [K in keyof OutputProcessorOptions]: OutputProcessorOptions[K] } = { tokenizer: model.tokenizer, promptIds: p.promptIds, stop: p.stop };
  if (p.includeStopStr === true) o.includeStopStringInOutput = true;
  if (p.sampling.minTokens > 0) o.minTokens = p.sampling.minTokens;
  if (p.toolParser !== undefined) o.toolParser = p.toolParser;
  if (p.forcedTool !== undefined) o.forcedToolCall = p.forcedTool;
  if (model.reasoningParser !== null) {
    o.reasoning = model.reasoningParser;
    if (p.promptText !== undefined) o.startsInReasoning = promptOpensReasoning(p.promptText);
  }
  return o;
}

/** n choices of one prompt; with a seed, choice i uses seed + i (so n > 1 choices differ). */
export function choiceSpecs(model: ServedModel, p: ChoicePlanInput): ChoiceSpec[] {
  if (p.sampling.minTokens > p.maxTokens) {
    throw new XdsError('invalid_argument', `min_tokens (${p.sampling.minTokens}) must be ≤ max_tokens (${p.maxTokens})`, { param: 'min_tokens' });
  }
  return Array.from({ length: p.n }, (_, i) => {
    const index = p.firstIndex + i;
    const seed = p.sampling.seed === null ? null : p.sampling.seed + i;
    return {
      requestId: `${p.requestId}-${index}`, index, promptIds: p.promptIds, maxTokens: p.maxTokens,
      sampling: { ...p.sampling, seed }, stopTokenIds: [...(p.ignoreEos === true ? [] : model.stopTokenIds), ...p.extraStopTokenIds], wantLogprobs: p.wantLogprobs, promptLogprobs: p.promptLogprobs ?? null, priority: p.priority ?? 0,
      output: new ProcessorChoiceOutput(outputOptions(model, p)), tokenizer: model.tokenizer, signal: p.signal,
    };
  });
}
