/**
 * A small, deterministic byte-level BPE tokenizer in exact Hugging Face `tokenizer.json` format,
 * for the tiny test checkpoints (MODELS.md §9): GPT-2 ByteLevel pre-tokenizer and decoder (any
 * UTF-8 round-trips: every byte is a token), merges learned by plain BPE from a short embedded
 * English text, and ChatML special tokens with a Hermes-style chat template (tools as JSON in the
 * system turn, calls inside <tool_call> tags). Same options ⇒ byte-identical files.
 *
 * Ids: 0..255 are the bytes (id = byte value), then the merges in rank order, then the added tokens.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XdsError } from '../core/errors.js';
import { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, byteToUnicodeTable } from './tokenizer.js';

export { byteToUnicodeTable };

/** Added tokens, in id order after the merges; `special: false` ones survive skipSpecialTokens (as in Qwen3). */
export const BYTE_ADDED_TOKENS: ReadonlyArray<{ readonly content: string; readonly special: boolean }> = [
  { content: '<|begin_of_text|>', special: true },
  { content: '<|end_of_text|>', special: true },
  { content: '<|im_start|>', special: true },
  { content: '<|im_end|>', special: true },
  { content: '<think>', special: false },
  { content: '</think>', special: false },
  { content: '<tool_call>', special: false },
  { content: '</tool_call>', special: false },
];

export const DEFAULT_NUM_MERGES = 200;
const MAX_NUM_MERGES = 1000;

/** GPT-2's pre-tokenizer split, the one HF ByteLevel uses when `use_regex` is true. */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const CORPUS = `
The model reads a prompt, turns it into tokens, and then writes an answer one token at a time.
A user asks a question and the assistant gives a short, helpful answer. When the assistant needs
more information, it may call a tool with a name and some arguments, then read the result and
continue. The weather in the city is sunny today, with a high of 21 degrees and a light wind from
the west. Please tell me what time it is, and how long the trip will take by train or by car.
In the beginning there was only the text; then there were the words, the sentences and the
paragraphs, and people who wanted to read them faster than they could be written.
Serving a large mixture of experts means moving tokens to the experts that own them and back
again. Each expert is a small network; the router picks the best few experts for every token, and
the results are added together with their weights. The attention layers keep a cache of keys and
values for every sequence, so that the next token does not have to look at the whole prompt again.
Prefill handles the prompt in one pass; decode then generates the answer, one step for each token.
def add(a, b):
    return a + b

for i in range(10):
    print("hello, world", i)

{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
It is not what you think it is. They said that this is the one thing we should have done first.
We will see whether the answer is right; if it is not, we will try again with another example.
`;

/** Words of the corpus (after the GPT-2 split), each as its byte-level symbols, with counts. */
function corpusWords(text: string, table: readonly string[]): Array<{ symbols: string[]; count: number }> {
  const counts = new Map<string, number>();
  for (const m of text.matchAll(GPT2_SPLIT)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  const encoder = new TextEncoder();
  return [...counts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([word, count]) => ({ symbols: [...encoder.encode(word)].map((b) => table[b]!), count }));
}

/** The most frequent adjacent pair (ties: the smaller "left right" string), or undefined when none is left. */
function bestPair(words: ReadonlyArray<{ symbols: string[]; count: number }>): [string, string] | undefined {
  const counts = new Map<string, number>();
  for (const w of words) {
    for (let i = 0; i + 1 < w.symbols.length; i++) {
      const key = `${w.symbols[i]} ${w.symbols[i + 1]}`;
      counts.set(key, (counts.get(key) ?? 0) + w.count);
    }
  }
  let best: string | undefined;
  let bestCount = 0;
  for (const [key, n] of counts) {
    if (n > bestCount || (n === bestCount && best !== undefined && key < best)) {
      best = key;
      bestCount = n;
    }
  }
  return best === undefined ? undefined : (best.split(' ') as [string, string]);
}

function applyMerge(symbols: string[], left: string, right: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (symbols[i] === left && symbols[i + 1] === right) {
      out.push(left + right);
      i++;
    } else out.push(symbols[i]!);
  }
  return out;
}

/** Plain BPE training: merges in rank order as "left right" strings (no space occurs inside a symbol). */
export function learnMerges(text: string, numMerges: number): string[] {
  const table = byteToUnicodeTable();
  const words = corpusWords(text, table);
  const merges: string[] = [];
  while (merges.length < numMerges) {
    const pair = bestPair(words);
    if (!pair) break;
    for (const w of words) w.symbols = applyMerge(w.symbols, pair[0], pair[1]);
    merges.push(`${pair[0]} ${pair[1]}`);
  }
  return merges;
}

export interface ByteLevelTokenizerFiles {
  readonly tokenizerJson: Record<string, unknown>;
  readonly tokenizerConfigJson: Record<string, unknown>;
  readonly vocabSize: number;
}

function checkNumMerges(numMerges: number): void {
  if (!Number.isInteger(numMerges) || numMerges < 0 || numMerges > MAX_NUM_MERGES) {
    throw new XdsError('invalid_argument', `numMerges must be an integer in [0, ${MAX_NUM_MERGES}], got ${numMerges}`, { param: 'numMerges' });
  }
}

/** Builds both JSON objects; default 200 merges ⇒ vocab of about 256 + 200 + 8 = 464. */
export function makeByteLevelTokenizer(opts: { numMerges?: number } = {}): ByteLevelTokenizerFiles {
  const numMerges = opts.numMerges ?? DEFAULT_NUM_MERGES;
  checkNumMerges(numMerges);
  const merges = learnMerges(CORPUS, numMerges);
  const vocab: Record<string, number> = {};
  byteToUnicodeTable().forEach((ch, id) => (vocab[ch] = id));
  let numTokens = 256;
  for (const m of merges) {
    const token = m.replace(' ', '');
    // NOTE: two merges may yield the same string ("a bc", "ab c"); it gets one id, as in HF's trainer.
    if (!(token in vocab)) vocab[token] = numTokens++;
  }
  const firstAdded = numTokens;
  const added = BYTE_ADDED_TOKENS.map((t, i) => ({ id: firstAdded + i, content: t.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: t.special }));
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
  return { tokenizerJson, tokenizerConfigJson: tokenizerConfig(added), vocabSize: firstAdded + added.length };
}

function tokenizerConfig(added: ReadonlyArray<{ id: number; content: string; special: boolean }>): Record<string, unknown> {
  const decoder: Record<string, unknown> = {};
  for (const a of added) decoder[String(a.id)] = { content: a.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: a.special };
  return {
    add_bos_token: false,
    add_eos_token: false,
    added_tokens_decoder: decoder,
    bos_token: '<|begin_of_text|>',
    eos_token: '<|im_end|>',
    pad_token: '<|end_of_text|>',
    unk_token: null,
    clean_up_tokenization_spaces: false,
    model_max_length: 131072,
    tokenizer_class: 'PreTrainedTokenizerFast',
    chat_template: BYTE_CHAT_TEMPLATE,
  };
}

/** Writes tokenizer.json and tokenizer_config.json into `dir` (created if needed). */
export function writeByteLevelTokenizer(dir: string, opts: { numMerges?: number } = {}): ByteLevelTokenizerFiles {
  const files = makeByteLevelTokenizer(opts);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, TOKENIZER_FILE), JSON.stringify(files.tokenizerJson, null, 2) + '\n');
  writeFileSync(join(dir, TOKENIZER_CONFIG_FILE), JSON.stringify(files.tokenizerConfigJson, null, 2) + '\n');
  return files;
}

/**
 * ChatML turns (`<|im_start|>role\n…<|im_end|>\n`), Hermes-style tools: the tool list as JSON lines
 * inside <tools></tools> in the system turn, assistant calls as `<tool_call>\n{"name": …,
 * "arguments": …}\n</tool_call>`, tool results as a `tool` turn. `content` is a string (ChatTemplate
 * flattens text parts) or null for an assistant turn that only calls tools.
 */
export const BYTE_CHAT_TEMPLATE = [
  "{%- if messages and messages[0].role == 'system' %}{%- set system = messages[0].content %}{%- set rest = messages[1:] %}",
  '{%- else %}{%- set system = none %}{%- set rest = messages %}{%- endif %}',
  '{%- if tools %}',
  "{{- '<|im_start|>system\\n' }}{%- if system %}{{- system + '\\n\\n' }}{%- endif %}",
  "{{- '# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}",
  "{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}",
  "{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\\n</tool_call><|im_end|>\\n' }}",
  "{%- elif system is not none %}{{- '<|im_start|>system\\n' + system + '<|im_end|>\\n' }}",
  '{%- endif %}',
  '{%- for message in rest %}',
  "{%- if message.role == 'user' or message.role == 'tool' %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}",
  "{%- elif message.role == 'assistant' %}{{- '<|im_start|>assistant\\n' }}{%- if message.content %}{{- message.content }}{%- endif %}",
  '{%- if message.tool_calls %}{%- for call in message.tool_calls %}',
  "{%- if message.content or not loop.first %}{{- '\\n' }}{%- endif %}",
  "{{- '<tool_call>\\n{\"name\": \"' + call.function.name + '\", \"arguments\": ' }}",
  '{%- if call.function.arguments is string %}{{- call.function.arguments }}{%- else %}{{- call.function.arguments | tojson }}{%- endif %}',
  "{{- '}\\n</tool_call>' }}",
  '{%- endfor %}{%- endif %}',
  "{{- '<|im_end|>\\n' }}",
  "{%- else %}{{- raise_exception('unexpected role ' + message.role + '; system must come first') }}",
  '{%- endif %}',
  '{%- endfor %}',
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
].join('\n');
