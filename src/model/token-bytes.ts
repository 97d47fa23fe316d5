/**
 * The raw bytes of single tokens: what a byte-level constraint (response_format json_object) and
 * OpenAI's logprob `bytes` need, since a byte-level BPE token may hold part of a UTF-8 character
 * whose text alone is U+FFFD.
 */
import { byteToUnicodeTable, type TextTokenizer } from './tokenizer.js';

let charToByte: ReadonlyMap<string, number> | undefined;

/** The token's bytes from its byte-level spelling (GPT-2 byte table); null when it is not spelled that way. */
export function byteLevelBytes(tokenizer: { idToToken?(id: number): string | undefined }, id: number): number[] | null {
  const spelled = tokenizer.idToToken?.(id);
  if (spelled === undefined) return null;
  charToByte ??= new Map(byteToUnicodeTable().map((ch, b) => [ch, b]));
  const out: number[] = [];
  for (const ch of spelled) {
    const b = charToByte.get(ch);
    if (b === undefined) return null;
    out.push(b);
  }
  return out;
}

/** [vocabSize] each token's bytes as generated text; null for special tokens (and ids the tokenizer lacks). */
export function tokenBytesTable(tokenizer: TextTokenizer, vocabSize: number): readonly (Uint8Array | null)[] {
  const out: (Uint8Array | null)[] = new Array(vocabSize).fill(null);
  const n = Math.min(vocabSize, tokenizer.vocabSize);
  for (let id = 0; id < n; id++) {
    if (tokenizer.specialTokenIds.has(id)) continue;
    const b = byteLevelBytes(tokenizer, id) ?? [...Buffer.from(tokenizer.decode([id]), 'utf8')];
    if (b.length > 0) out[id] = Uint8Array.from(b);
  }
  return out;
}
