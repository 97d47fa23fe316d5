/**
 * Tokenizer parity (GGUF-EXPORT.md §9, §11 item 7): the `tokenizer.ggml.*` keys we write must make
 * llama.cpp split text exactly as our tokenizer (HF tokenizer.json via @huggingface/tokenizers)
 * does. For each tokenizer kind of the generator (byte-level BPE, real Qwen3, real DeepSeek-V3),
 * a tiny checkpoint is generated and exported, and varied texts are encoded by both sides
 * (special tokens parsed, no BOS added).
 */
import { join } from 'node:path';
import { openCheckpointForExport } from '../model/gguf/checkpoint-dir.js';
import { exportGguf } from '../model/gguf/export.js';
import { generateCheckpoint } from '../model/generator/write-checkpoint.js';
import { loadTokenizer } from '../model/tokenizer.js';
import { tokenizeWithLlamaCpp } from './run.js';

export const TOKENIZER_KINDS = ['byte', 'qwen3', 'deepseek-v3'] as const;
export type TokenizerKind = (typeof TOKENIZER_KINDS)[number];

/** Varied text: scripts, digits, code, whitespace runs, emoji (ZWJ), special tokens, contractions. */
export const PARITY_TEXTS: readonly string[] = [
  '', ' ', 'Hello, world!', ' The quick brown fox jumps over 1234567 lazy dogs.', 'The year 2025: 3.14159, -42, 1e-5, 0x1F.',
  '日本語のテキストと中文混合 text', '我喜欢编程。今天天气很好！', 'カタカナとひらがな、漢字', 'Привет, мир! Как дела?', 'مرحبا بالعالم',
  'שלום עולם', 'Γειά σου Κόσμε', 'नमस्ते दुनिया', '안녕하세요 세계', 'Ça va? Über naïve façade — “quotes” ‘single’',
  'def f(x):\n    return x**2  # comment\n\n', 'for (let i = 0; i < n; i++) { sum += a[i]; }', '<html><body class="x">&amp;</body></html>',
  '{"key": [1, 2, {"n": null}], "s": "a\\"b"}', 'emoji 👩‍👩‍👧 🚀 🇫🇷 and tabs\t\tend', '   leading and trailing spaces   ', 'line1\r\nline2\n\n\nline5',
  "I'm sure it's   spaced    out, we'll see; they'd've", 'CAPS LOCK IS ON, DON\'T SHOUT', 'a\u00a0b\u2009c\u3000d', 'URL https://example.com/a?b=c&d=e#f',
  '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n', '<think>reasoning</think> answer', '<tool_call>\n{"name": "f"}\n</tool_call>',
  '<｜begin▁of▁sentence｜>text<｜end▁of▁sentence｜>', '1234567890123456789', 'x'.repeat(200),
];

export interface TokenizerParityResult {
  readonly kind: TokenizerKind;
  readonly numTexts: number;
  readonly numIdentical: number;
  readonly firstMismatch: { readonly text: string; readonly ours: readonly number[]; readonly llamacpp: readonly number[] } | null;
  readonly seconds: number;
}

export async function runTokenizerParity(kind: TokenizerKind, workDir: string, installDir?: string): Promise<TokenizerParityResult> {
  const t0 = performance.now();
  const dir = join(workDir, `tokenizer-${kind}`);
  await generateCheckpoint({ arch: 'qwen3', preset: 'tiny', seed: 1, tokenizer: kind, outDir: dir });
  const ckpt = openCheckpointForExport(dir);
  const ggufPath = `${dir}.gguf`;
  exportGguf({ spec: ckpt.spec, weights: ckpt.weights, tokenizer: ckpt.tokenizer, type: 'f32' }, ggufPath);
  const ours = loadTokenizer(dir);
  const theirs = await tokenizeWithLlamaCpp({ ggufPath, texts: PARITY_TEXTS, ...(installDir === undefined ? {} : { installDir }) });
  let numIdentical = 0;
  let firstMismatch: TokenizerParityResult['firstMismatch'] = null;
  PARITY_TEXTS.forEach((text, i) => {
    const a = ours.encode(text, { addSpecialTokens: false });
    const b = theirs[i]!;
    if (a.length === b.length && a.every((id, j) => id === b[j])) numIdentical++;
    else firstMismatch ??= { text, ours: a, llamacpp: b };
  });
  return { kind, numTexts: PARITY_TEXTS.length, numIdentical, firstMismatch, seconds: (performance.now() - t0) / 1000 };
}

export function formatParity(r: TokenizerParityResult): string {
  const ok = r.numIdentical === r.numTexts;
  const lines = [`${ok ? 'PASS' : 'FAIL'}  tokenizer ${r.kind}: ${r.numIdentical}/${r.numTexts} texts tokenized identically by llama.cpp (${r.seconds.toFixed(1)} s)`];
  if (r.firstMismatch) {
    lines.push(`      first mismatch ${JSON.stringify(r.firstMismatch.text).slice(0, 60)}`);
    lines.push(`      ours:      ${r.firstMismatch.ours.join(' ')}`, `      llama.cpp: ${r.firstMismatch.llamacpp.join(' ')}`);
  }
  return lines.join('\n');
}
