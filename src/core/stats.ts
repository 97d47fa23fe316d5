/**
 * Summary statistics of benchmark samples (the bench commands: medians, not means, because on a
 * shared machine a run now and then includes time descheduled).
 */

/** The median (mean of the two middle values for an even count); NaN for no values. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
