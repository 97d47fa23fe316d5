/**
 * zod schemas of the OpenAI request bodies the gateway accepts (paper §1.3 step 1: the Job
 * Executor's API). Known fields are type-checked (a wrong type is a 400 naming the field); unknown
 * fields are ignored, as OpenAI-compatible servers do. Ranges the sampler owns (top_k, penalties)
 * are checked again by sampling/params.ts; context-length checks need the model and live in
 * request-plan.ts.
 */
import { z } from 'zod';
import { MAX_LOGPROBS } from '../sampling/params.js';

const textPart = z.object({ type: z.literal('text'), text: z.string() });

const toolCall = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.union([z.string(), z.record(z.unknown())]) }),
});

const message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: z.union([z.string(), z.array(textPart), z.null()]).optional(),
  name: z.string().optional(),
  tool_calls: z.array(toolCall).optional(),
  tool_call_id: z.string().optional(),
  reasoning_content: z.string().optional(),
});

const tool = z.object({
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1), description: z.string().optional(), parameters: z.record(z.unknown()).optional() }),
});

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
]);

const stop = z.union([z.string(), z.array(z.string()).max(16)]).nullish();
const posInt = z.number().int().min(1);

/** Sampling and stopping fields shared by both endpoints. */
const common = {
  model: z.string().min(1),
  max_tokens: posInt.nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(-1).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  n: z.number().int().min(1).max(16).nullish(),
  stop,
  stop_token_ids: z.array(z.number().int().min(0)).nullish(),
  /** vLLM extension: do not stop at EOS (benchmarks need exact output lengths). */
  ignore_eos: z.boolean().nullish(),
  /** vLLM extension: lower is served first under `--scheduling-policy priority` (0 otherwise). */
  priority: z.number().int().nullish(),
  /** vLLM extension: no stop token or stop string ends the output before this many tokens. */
  min_tokens: z.number().int().min(0).nullish(),
  /** vLLM extension: keep the matched stop string at the end of the text. */
  include_stop_str_in_output: z.boolean().nullish(),
  seed: z.number().int().nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  repetition_penalty: z.number().gt(0).nullish(),
  /** token id (as a string key) → bias in [-100, 100], added to that token's logit. */
  logit_bias: z.record(z.number()).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  user: z.string().nullish(),
};

export const chatRequestSchema = z.object({
  ...common,
  messages: z.array(message).min(1, 'must hold at least one message'),
  max_completion_tokens: posInt.nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(MAX_LOGPROBS).nullish(),
  tools: z.array(tool).nullish(),
  tool_choice: toolChoice.nullish(),
  response_format: z.object({
    type: z.enum(['text', 'json_object', 'json_schema']),
    json_schema: z.object({ name: z.string().min(1), description: z.string().nullish(), schema: z.record(z.unknown()).nullish(), strict: z.boolean().nullish() }).nullish(),
  }).nullish(),
  chat_template_kwargs: z.record(z.unknown()).nullish(),
});

export const completionRequestSchema = z.object({
  ...common,
  // NOTE: token ids before lists of strings: a union tries its branches in order and a failed
  // array branch builds one issue per element (a 16-id prompt: ~0.2 ms in the string-list branch,
  // serial on the engine's thread while a burst of requests is admitted). Values match one branch
  // only, so the order changes neither results nor error messages.
  prompt: z.union([
    z.string(),
    z.array(z.number().int().min(0)).min(1),
    z.array(z.string()).min(1),
    z.array(z.array(z.number().int().min(0)).min(1)).min(1),
  ]),
  logprobs: z.number().int().min(0).max(MAX_LOGPROBS).nullish(),
  echo: z.boolean().nullish(),
  suffix: z.string().nullish(),
});

/** vLLM's POST /tokenize: a `prompt`, or chat `messages` rendered by the chat template. */
export const tokenizeRequestSchema = z.object({
  model: z.string().min(1).nullish(),
  prompt: z.string().nullish(),
  messages: z.array(message).min(1, 'must hold at least one message').nullish(),
  add_generation_prompt: z.boolean().nullish(),
  add_special_tokens: z.boolean().nullish(),
  tools: z.array(tool).nullish(),
  chat_template_kwargs: z.record(z.unknown()).nullish(),
  return_token_strs: z.boolean().nullish(),
});

/** vLLM's POST /detokenize. */
export const detokenizeRequestSchema = z.object({
  model: z.string().min(1).nullish(),
  tokens: z.array(z.number().int().min(0)),
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type CompletionRequest = z.infer<typeof completionRequestSchema>;
export type ChatRequestMessage = z.infer<typeof message>;
