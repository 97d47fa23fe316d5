/*
 * Decode GEMV for f32 and bf16 weights (CPU-FACTS.md §2c "GEMV f32"): 4 weight rows at a time,
 * 2 FMA accumulators each, so the weights stream once while x stays in L1. Several activation
 * rows (small decode batches) reuse each 4-row weight block from L1/L2.
 */
#include "kernels.h"
#include <immintrin.h>

static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline __m256 load_bf16x8(const uint16_t *p) {
  __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static inline float bf16_to_f32(uint16_t b) {
  union { uint32_t u; float f; } c = { .u = (uint32_t)b << 16 };
  return c.f;
}

float xds_dot_f32(const float *a, const float *b, int n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float s = hsum8(_mm256_add_ps(s0, s1));
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

void xds_axpy_f32(float *y, float alpha, const float *x, int n) {
  __m256 va = _mm256_set1_ps(alpha);
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] += alpha * x[i];
}

/* out[j] = W[j]·x for the 4 f32 rows starting at w (row stride k). */
static void dot4_f32(const float *w, int k, const float *x, float out[4]) {
  const float *w0 = w, *w1 = w + k, *w2 = w + 2 * (size_t)k, *w3 = w + 3 * (size_t)k;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  int i = 0;
  for (; i + 16 <= k; i += 16) {
    __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
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
  int i = 0;
  for (; i + 16 <= k; i += 16) {
    __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
    a0 = _mm256_fmadd_ps(load_bf16x8(w0 + i), x0, a0); b0 = _mm256_fmadd_ps(load_bf16x8(w0 + i + 8), x1, b0);
    a1 = _mm256_fmadd_ps(load_bf16x8(w1 + i), x0, a1); b1 = _mm256_fmadd_ps(load_bf16x8(w1 + i + 8), x1, b1);
    a2 = _mm256_fmadd_ps(load_bf16x8(w2 + i), x0, a2); b2 = _mm256_fmadd_ps(load_bf16x8(w2 + i + 8), x1, b2);
    a3 = _mm256_fmadd_ps(load_bf16x8(w3 + i), x0, a3); b3 = _mm256_fmadd_ps(load_bf16x8(w3 + i + 8), x1, b3);
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
    a = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(x + i), a);
    b = _mm256_fmadd_ps(load_bf16x8(w + i + 8), _mm256_loadu_ps(x + i + 8), b);
  }
  float s = hsum8(_mm256_add_ps(a, b));
  for (; i < k; i++) s += bf16_to_f32(w[i]) * x[i];
  return s;
}

/* y[r, o] for o in [o0, o1), all rows r; bias is added by the caller. */
void xds_gemv_float(const xds_linear *lw, const float *x, int rows, float *y, int o0, int o1) {
  const int k = lw->in_dim, n = lw->out_dim;
  int o = o0;
  for (; o + 4 <= o1; o += 4) {
    for (int r = 0; r < rows; r++) {
      float out[4];
      const float *xr = x + (size_t)r * k;
      if (lw->format == XDS_F32) dot4_f32((const float *)lw->w + (size_t)o * k, k, xr, out);
      else dot4_bf16((const uint16_t *)lw->w + (size_t)o * k, k, xr, out);
      float *yr = y + (size_t)r * n + o;
      yr[0] = out[0]; yr[1] = out[1]; yr[2] = out[2]; yr[3] = out[3];
    }
  }
  for (; o < o1; o++) {
    for (int r = 0; r < rows; r++) {
      const float *xr = x + (size_t)r * k;
      y[(size_t)r * n + o] = lw->format == XDS_F32 ? xds_dot_f32((const float *)lw->w + (size_t)o * k, xr, k)
                                                   : dot1_bf16((const uint16_t *)lw->w + (size_t)o * k, xr, k);
    }
  }
}
