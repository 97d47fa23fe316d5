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
 * ties. O(vocab) compares and O(vocab · n) worst-case shifts into a small insertion-sorted list;
 * n is at most MAX_LOGPROBS.
 */
export function topLogprobs(row: Float32Array, lse: number, n: number): TokenLogprob[] {
  if (n <= 0) return [];
  const ids: number[] = [];
  const head = Math.min(n, row.length);
  for (let i = 0; i < head; i++) insertSorted(row, ids, ids.length, i);
  let threshold = row[ids[head - 1]!]!; // the n-th largest so far
  for (let i = head; i < row.length; i++) {
    if (row[i]! <= threshold) continue;
    insertSorted(row, ids, n - 1, i);
    threshold = row[ids[n - 1]!]!;
  }
  return ids.map((tokenId) => ({ tokenId, logprob: row[tokenId]! - lse }));
}

/** Puts id i at or before position `from` of the descending list `ids`, after its equals. */
function insertSorted(row: Float32Array, ids: number[], from: number, i: number): void {
  const x = row[i]!;
  let j = from;
  while (j > 0 && row[ids[j - 1]!]! < x) {
    ids[j] = ids[j - 1]!;
    j--;
  }
  ids[j] = i;
}
