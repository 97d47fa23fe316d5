/**
 * Selection without sorting, for the truncation thresholds of truncate.ts (top-k, top-p): the
 * k-th largest value by quickselect, also over a filtered stream, and the value at which the mass
 * of the largest values first reaches a target, by a weighted quickselect. All average O(n).
 */
import { assert } from '../core/assert.js';

/** k-th largest value (1-based) of `a`, by quickselect; reorders `a` in place. */
export function kthLargest(a: Float64Array, k: number): number {
  const target = a.length - k; // index of the k-th largest in ascending order
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) { const t = a[i]!; a[i] = a[j]!; a[j] = t; i++; j--; }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}

/**
 * The k-th largest of the values row[i] · scale that are ≥ floor, or `floor` itself when there are
 * at most k of them. One pass that only appends to `buf` ([cap] f64 scratch, cap > k) the values
 * above `top`; when buf fills, quickselect keeps its k largest and `top` becomes the smallest of
 * them, so after the first few thousand entries almost every entry costs only two compares.
 * NOTE: no call inside the scanning loop: a heap's sift calls there made V8's loop 2–3× slower.
 */
export function kthLargestAbove(row: Float64Array, scale: number, floor: number, k: number, buf: Float64Array): number {
  const cap = buf.length;
  assert(cap > k, () => `kthLargestAbove: buffer of ${cap} for k = ${k}`);
  let n = 0;
  let count = 0;
  let top = -Infinity; // every value not kept is ≤ top, and ≥ k kept values are ≥ top
  let i = 0;
  while (i < row.length) {
    for (; i < row.length && n < cap; i++) {
      const x = row[i]! * scale;
      if (x >= floor) {
        count++;
        if (x > top) buf[n++] = x;
      }
    }
    if (n === cap) {
      top = keepLargest(buf, n, k);
      n = k;
    }
  }
  return count > k ? kthLargest(buf.subarray(0, n), k) : floor;
}

/** Moves the k largest of buf[0..n) to buf[0..k); returns the smallest of them. */
function keepLargest(buf: Float64Array, n: number, k: number): number {
  const head = buf.subarray(0, n);
  const kth = kthLargest(head, k); // NOTE: leaves head[n − k..n) ≥ kth, head[0..n − k) ≤ kth
  buf.copyWithin(0, n - k, n);
  return kth;
}

export interface MassCut {
  /** The largest value v with Σ{a ≥ v} ≥ need; −∞ when Σ a < need. */
  readonly value: number;
  /** Σ{a > value} and Σ{a ≥ value}, summed in partition order (not sorted order). */
  readonly massAbove: number;
  readonly massAtOrAbove: number;
}

/**
 * Weighted quickselect over a[0..n) (non-negative, no NaN; reordered in place): three-way
 * partitions around a median-of-three pivot, descending into the side where the running mass
 * crosses `need`.
 */
export function massCut(a: Float64Array, n: number, need: number): MassCut {
  let lo = 0;
  let hi = n; // exclusive
  let acc = 0; // mass of the values known to be above a[lo..hi)
  while (lo < hi) {
    const pivot = medianOfThree(a[lo]!, a[(lo + hi) >>> 1]!, a[hi - 1]!);
    const part = partitionDescending(a, lo, hi, pivot);
    if (acc + part.sumAbove >= need) hi = part.endAbove;
    else if (acc + part.sumAbove + part.sumEqual >= need) {
      return { value: pivot, massAbove: acc + part.sumAbove, massAtOrAbove: acc + part.sumAbove + part.sumEqual };
    } else {
      acc += part.sumAbove + part.sumEqual;
      lo = part.endEqual;
    }
  }
  return { value: -Infinity, massAbove: acc, massAtOrAbove: acc };
}

function medianOfThree(x: number, y: number, z: number): number {
  return Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));
}

interface Partition {
  /** a[lo..endAbove) > pivot, a[endAbove..endEqual) = pivot, a[endEqual..hi) < pivot. */
  readonly endAbove: number;
  readonly endEqual: number;
  readonly sumAbove: number;
  readonly sumEqual: number;
}

function partitionDescending(a: Float64Array, lo: number, hi: number, pivot: number): Partition {
  let g = lo;
  let i = lo;
  let e = hi;
  let sumAbove = 0;
  let sumEqual = 0;
  while (i < e) {
    const x = a[i]!;
    if (x > pivot) {
      a[i] = a[g]!;
      a[g++] = x;
      i++;
      sumAbove += x;
    } else if (x < pivot) {
      a[i] = a[--e]!;
      a[e] = x;
    } else {
      i++;
      sumEqual += x;
    }
  }
  return { endAbove: g, endEqual: e, sumAbove, sumEqual };
}
