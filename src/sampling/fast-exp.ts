/**
 * exp(d) for d ≤ 0 without a call to Math.exp, for the softmax of a 150k-entry logits row (the
 * sampler step, src/README.md step 4). V8 does not inline Math.exp (10–20 ns a call); this is two
 * table loads and a polynomial: with j = round(−64·d) = 64·q + m and r = d + j/64 ∈ [−1/128, 1/128],
 * exp(d) = e^(−q) · e^(−m/64) · P(r), P the degree-6 Taylor polynomial (truncation error < 4e-19)
 * in Estrin's form (shorter dependency chains than Horner's). Against Math.exp: within 3 ulps
 * (relative error < 7e-16) and monotone; exactly 0 below −746, so −∞ (a masked logit) gives 0.
 * NOTE: no branch: d is clamped to −760 with Math.max (a branch in this loop cost V8 ~50 %).
 * sumExpShiftedLoose trades accuracy (1.3e-9) for speed where only a reported logprob depends on it.
 */

/** Table steps per unit of d. */
const STEPS = 64;
const STEP_SIZE = 1 / STEPS;
/** Lowest d computed; e^(−760) is 0 in f64. */
const D_MIN = -760;
/** e^(−q), q = 0..760 (0 from q = 746 on). [761] f64 */
const EXP_INT = Float64Array.from({ length: -D_MIN + 1 }, (_, q) => Math.exp(-q));
/** e^(−m/64), m = 0..63. [64] f64 */
const EXP_FRAC = Float64Array.from({ length: STEPS }, (_, m) => Math.exp(-m / STEPS));
/** Finer grid of the loose variant. */
const FINE_STEPS = 256;
/** e^(−m/256), m = 0..255. [256] f64 */
const EXP_FRAC_FINE = Float64Array.from({ length: FINE_STEPS }, (_, m) => Math.exp(-m / FINE_STEPS));
/** 1.5 · 2^52: adding and subtracting it rounds an f64 of magnitude < 2^51 to the nearest integer. */
const ROUND_MAGIC = 6755399441055744;

/** exp(d) for d ≤ 0 (NaN gives NaN; d > 0 is outside the contract and gives NaN). */
export function expNeg(d: number): number {
  const c = Math.max(d, D_MIN);
  const t = c * STEPS + ROUND_MAGIC - ROUND_MAGIC; // round(64·c), exact
  const r = c - t * STEP_SIZE; // exact, in [−1/128, 1/128]
  const j = -t | 0;
  const r2 = r * r;
  const r4 = r2 * r2;
  const p = 1 + r + r2 * (0.5 + r * (1 / 6)) + r4 * (1 / 24 + r * (1 / 120) + r2 * (1 / 720));
  return EXP_INT[j >> 6]! * EXP_FRAC[j & 63]! * p;
}

/**
 * out[i] = exp(f32(row[i] · inv) − max) for i < row.length; returns their sum in index order.
 * `row` [vocab] f32, `out` [≥ vocab] f64; `max` = max f32(row · inv) (inv > 0).
 */
export function expScaledInto(row: Float32Array, inv: number, max: number, out: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += out[i] = expNeg(Math.fround(row[i]! * inv) - max);
  return sum;
}

/**
 * Σ exp(row[i] − max) with each term within 1.3e-9 (relative) of exp: the same tables on a 1/256
 * grid and a degree-2 polynomial (|r| ≤ 1/512, error ≤ r³/6), about 30 % cheaper than
 * expNeg. For log Σ exp where nothing but a reported logprob depends on it (greedy).
 */
export function sumExpShiftedLoose(row: Float32Array, max: number): number {
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    const c = Math.max(row[i]! - max, D_MIN);
    const t = c * FINE_STEPS + ROUND_MAGIC - ROUND_MAGIC; // round(256·c), exact
    const r = c - t * (1 / FINE_STEPS);
    const j = -t | 0;
    sum += EXP_INT[j >> 8]! * EXP_FRAC_FINE[j & (FINE_STEPS - 1)]! * (1 + r + r * r * 0.5);
  }
  return sum;
}
