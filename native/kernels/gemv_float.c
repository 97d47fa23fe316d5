/*
 * Decode GEMV for f32 and bf16 weights (CPU-FACTS.md §2c "GEMV f32"): 4 weight rows at a time,
 * 2 FMA accumulators each, so the weights stream once while x stays in L1. Several activation
 * rows (small decode batches) reuse each 4-row weight block from L1/L2. The weights are
 * software-prefetched ≥ 4 KiB ahead when bf16 (issue 4: the MoE layer at 32 tokens stalled on DRAM).
 */
#include "kernels.h"
#include <immintrin.h>
#include "simd.h"

/* One body for the f32 and the bf16 form (a bf16 KV cache row), so a bf16 b gives exactly the
 * result of the f32 form over b widened. */
static inline __attribute__((always_inline)) float dot_t(const float *a, const void *b, int n, const int BF) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), f32_or_bf16x8(b, i, BF), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), f32_or_bf16x8(b, i + 8, BF), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), f32_or_bf16x8(b, i, BF), s0);
  float s = hsum8(_mm256_add_ps(s0, s1));
  for (; i < n; i++) s = __builtin_fmaf(a[i], f32_or_bf16(b, i, BF), s);
  return s;
}

static inline __attribute__((always_inline)) void axpy_t(float *y, float alpha, const void *x, int n, const int BF) {
  __m256 va = _mm256_set1_ps(alpha);
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, f32_or_bf16x8(x, i, BF), _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] = __builtin_fmaf(alpha, f32_or_bf16(x, i, BF), y[i]);
}

float xds_dot_f32(const float *a, const float *b, int n) { return dot_t(a, b, n, 0); }
float xds_dot_f32_bf16(const float *a, const uint16_t *b, int n) { return dot_t(a, b, n, 1); }
void xds_axpy_f32(float *y, float alpha, const float *x, int n) { axpy_t(y, alpha, x, n, 0); }
void xds_axpy_f32_bf16(float *y, float alpha, const uint16_t *x, int n) { axpy_t(y, alpha, x, n, 1); }

/*
 * Software prefetch of the weights some blocks ahead (issue 4: the MoE layer at 32 tokens ran at
 * 48 % of the read probe). A 4-row block is contiguous in W, but its 4 rows are read as 4 parallel
 * streams that restart every row (every 2 KiB at in_dim 1024 bf16), which the hardware prefetcher
 * follows badly; short rows (in_dim 64) give 512-byte blocks consumed in ~50 ns. A block takes
 * k/8 iterations and is 4·k·elem bytes, so iteration i prefetches the next 32·elem bytes (64 B
 * bf16) of the region PF bytes ahead, PF = one block or enough blocks for
 * PREFETCH_MIN_BYTES: the whole matrix is prefetched once, in order. Prefetches past the end of W
 * are hints that never fault. Measured in docs/kernels.md ("MoE experts at 32 tokens").
 */
#define PREFETCH_MIN_BYTES 4096
static inline size_t prefetch_ahead(int k, int bf16) {
  size_t block = (size_t)4 * k * (bf16 ? 2 : 4);
  return block >= PREFETCH_MIN_BYTES ? block : (PREFETCH_MIN_BYTES / block + 1) * block;
}

/*
 * The 64 bytes of iteration i (columns i..i+7 of 4 bf16 rows) shifted by the block offset.
 * NOTE: f32 weights are not prefetched: the f32 1-row GEMV already ran at 82–106 % of the read
 * probe, and 2 prefetches per iteration made the cache-hot 4-row f32 GEMV ~10 % slower.
 */
static inline __attribute__((always_inline)) void prefetch_step(const char *pf, int i, int bf16) {
  if (bf16) _mm_prefetch(pf + (size_t)8 * i, _MM_HINT_T0);
}

/* out[j] = W[j]·x for the 4 f32 rows starting at w (row stride k). */
static void dot4_f32(const float *w, int k, const float *x, float out[4]) {
  const float *w0 = w, *w1 = w + k, *w2 = w + 2 * (size_t)k, *w3 = w + 3 * (size_t)k;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  const char *pf = (const char *)w + prefetch_ahead(k, 0);
  int i = 0;
  for (; i + 16 <= k; i += 16) {
    __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
    prefetch_step(pf, i, 0);
    prefetch_step(pf, i + 8, 0);
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i), x0, a0); b0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i + 8), x1, b0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + i), x0, a1); b1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + i + 8), x1, b1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + i), x0, a2); b2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + i + 8), x1, b2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + i), x0, a3); b3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + i + 8), x1, b3);
  }
  out[0] = hsum8(_mm256_add_ps(a0, b0)); out[1] = hsum8(_mm256_add_ps(a1, b1));
  out[2] = hsum8(_mm256_add_ps(a2, b2)); out[3] = hsum8(_mm256_add_ps(a3, b3));
  for (; i < k; i++) { out[0] += w0[i] * x[i]; out[1] += w1[i] * x[i]; out[2] += w2[i] * x[i]; out[3] += w3[i] * x[i]; }
}

static void dot4_bf16(const uint16_t *w, int k, const float *x, float out[4]) {
  const uint16_t *w0 = w, *w1 = w + k, *w2 = w + 2 * (size_t)k, *w3 = w + 3 * (size_t)k;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  const char *pf = (const char *)w + prefetch_ahead(k, 1);
  int i = 0;
  for (; i + 16 <= k; i += 16) {
    __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
    prefetch_step(pf, i, 1);
    prefetch_step(pf, i + 8, 1);
    a0 = _mm256_fmadd_ps(bf16x8_to_f32(w0 + i), x0, a0); b0 = _mm256_fmadd_ps(bf16x8_to_f32(w0 + i + 8), x1, b0);
    a1 = _mm256_fmadd_ps(bf16x8_to_f32(w1 + i), x0, a1); b1 = _mm256_fmadd_ps(bf16x8_to_f32(w1 + i + 8), x1, b1);
    a2 = _mm256_fmadd_ps(bf16x8_to_f32(w2 + i), x0, a2); b2 = _mm256_fmadd_ps(bf16x8_to_f32(w2 + i + 8), x1, b2);
    a3 = _mm256_fmadd_ps(bf16x8_to_f32(w3 + i), x0, a3); b3 = _mm256_fmadd_ps(bf16x8_to_f32(w3 + i + 8), x1, b3);
  }
  out[0] = hsum8(_mm256_add_ps(a0, b0)); out[1] = hsum8(_mm256_add_ps(a1, b1));
  out[2] = hsum8(_mm256_add_ps(a2, b2)); out[3] = hsum8(_mm256_add_ps(a3, b3));
  for (; i < k; i++) {
    float xi = x[i];
    out[0] += bf16_to_f32(w0[i]) * xi; out[1] += bf16_to_f32(w1[i]) * xi;
    out[2] += bf16_to_f32(w2[i]) * xi; out[3] += bf16_to_f32(w3[i]) * xi;
  }
}

static float dot1_bf16(const uint16_t *w, const float *x, int k) {
  __m256 a = _mm256_setzero_ps(), b = a;
  int i = 0;
  for (; i + 16 <= k; i += 16) {
    a = _mm256_fmadd_ps(bf16x8_to_f32(w + i), _mm256_loadu_ps(x + i), a);
    b = _mm256_fmadd_ps(bf16x8_to_f32(w + i + 8), _mm256_loadu_ps(x + i + 8), b);
  }
  float s = hsum8(_mm256_add_ps(a, b));
  for (; i < k; i++) s += bf16_to_f32(w[i]) * x[i];
  return s;
}

/* The 4 horizontal sums of a0..a3, as one 128-bit vector [Σa0, Σa1, Σa2, Σa3]. */
static inline __m128 hsum4x8(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/*
 * y[r, o..o+3] for R activation rows (R = 2 or 3) and the 4 weight rows at w (row stride k): each
 * weight vector is loaded (and widened from bf16) once and FMA'd into R accumulators, so one load
 * feeds R FMAs. Registers: 4·R accumulators + R x vectors + 1 weight vector ≤ 16 ymm.
 */
static inline __attribute__((always_inline)) void dot4xR(const void *w, int bf16, int k, const float *x,
                                                        float *y, int n, const int R) {
  __m256 acc[4][3];
  for (int j = 0; j < 4; j++) for (int r = 0; r < R; r++) acc[j][r] = _mm256_setzero_ps();
  const char *pf = (const char *)w + prefetch_ahead(k, bf16);
  int i = 0;
  for (; i + 8 <= k; i += 8) {
    __m256 xv[3];
    prefetch_step(pf, i, bf16);
    for (int r = 0; r < R; r++) xv[r] = _mm256_loadu_ps(x + (size_t)r * k + i);
    for (int j = 0; j < 4; j++) {
      __m256 wv = f32_or_bf16x8(w, (size_t)j * k + i, bf16);
      for (int r = 0; r < R; r++) acc[j][r] = _mm256_fmadd_ps(wv, xv[r], acc[j][r]);
    }
  }
  for (int r = 0; r < R; r++) {
    float out[4];
    _mm_storeu_ps(out, hsum4x8(acc[0][r], acc[1][r], acc[2][r], acc[3][r]));
    for (int t = i; t < k; t++) {
      float xi = x[(size_t)r * k + t];
      for (int j = 0; j < 4; j++) out[j] += f32_or_bf16(w, (size_t)j * k + t, bf16) * xi;
    }
    float *yr = y + (size_t)r * n;
    yr[0] = out[0]; yr[1] = out[1]; yr[2] = out[2]; yr[3] = out[3];
  }
}

static void dot4x3_f32(const void *w, int k, const float *x, float *y, int n) { dot4xR(w, 0, k, x, y, n, 3); }
static void dot4x3_bf16(const void *w, int k, const float *x, float *y, int n) { dot4xR(w, 1, k, x, y, n, 3); }
static void dot4x2_f32(const void *w, int k, const float *x, float *y, int n) { dot4xR(w, 0, k, x, y, n, 2); }
static void dot4x2_bf16(const void *w, int k, const float *x, float *y, int n) { dot4xR(w, 1, k, x, y, n, 2); }

/* One 4-weight-row block for every activation row: groups of 3 rows, then 2, then 1 (dot4). */
static void gemv_block4(const xds_linear *lw, const float *x, int rows, float *y, int o) {
  const int k = lw->in_dim, n = lw->out_dim, bf16 = lw->format != XDS_F32;
  const void *w = bf16 ? (const void *)((const uint16_t *)lw->w + (size_t)o * k)
                       : (const void *)((const float *)lw->w + (size_t)o * k);
  int r = 0;
  for (; r + 3 <= rows; r += 3) (bf16 ? dot4x3_bf16 : dot4x3_f32)(w, k, x + (size_t)r * k, y + (size_t)r * n + o, n);
  if (r + 2 <= rows) { (bf16 ? dot4x2_bf16 : dot4x2_f32)(w, k, x + (size_t)r * k, y + (size_t)r * n + o, n); r += 2; }
  if (r < rows) {
    float out[4];
    const float *xr = x + (size_t)r * k;
    if (bf16) dot4_bf16((const uint16_t *)w, k, xr, out);
    else dot4_f32((const float *)w, k, xr, out);
    float *yr = y + (size_t)r * n + o;
    yr[0] = out[0]; yr[1] = out[1]; yr[2] = out[2]; yr[3] = out[3];
  }
}

/* y[r, o] for o in [o0, o1), all rows r; bias is added by the caller. */
void xds_gemv_float(const xds_linear *lw, const float *x, int rows, float *y, int o0, int o1) {
  const int k = lw->in_dim, n = lw->out_dim;
  int o = o0;
  for (; o + 4 <= o1; o += 4) gemv_block4(lw, x, rows, y, o);
  for (; o < o1; o++) {
    for (int r = 0; r < rows; r++) {
      const float *xr = x + (size_t)r * k;
      y[(size_t)r * n + o] = lw->format == XDS_F32 ? xds_dot_f32((const float *)lw->w + (size_t)o * k, xr, k)
                                                   : dot1_bf16((const uint16_t *)lw->w + (size_t)o * k, xr, k);
    }
  }
}
