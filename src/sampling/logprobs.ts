/**
 * Log-probabilities of a (processed) logits row: log-softmax computed stably in f64, and the top-n
 * entries, as the OpenAI `logprobs` / `top_logprobs` fields report them.
 */

export interface TokenLogprob {
  readonly tokenId: number;
  readonly logprob: number;
}

/** log Σ exp(row), subtracting the max first; −∞ rows give −∞. */
export function logSumExp(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return max + Math.log(sum);
}

/**
 * The n largest entries of `row` as logprobs (row[i] − lse), highest first, lower id first on
 * ties. O(vocab · n) with a small insertion-sorted buffer; n is at most MAX_LOGPROBS.
 */
export function topLogprobs(row: Float32Array, lse: number, n: number): TokenLogprob[] {
  if (n <= 0) return [];
  const ids: number[] = [];
  for (let i = 0; i < row.length; i++) {
    const x = row[i]!;
    if (ids.length === n && x <= row[ids[n - 1]!]!) continue;
    let j = ids.length === n ? n - 1 : ids.length;
    while (j > 0 && row[ids[j - 1]!]! < x) {
      ids[j] = ids[j - 1]!;
      j--;
    }
    ids[j] = i;
  }
  return ids.map((tokenId) => ({ tokenId, logprob: row[tokenId]! - lse }));
}
