/*
 * Fused elementwise kernels (MODELS.md §1.1 RMSNorm, §1.2 SiLU-GLU, §1.3 RoPE with YaRN tables
 * from §5, §1.4/§8.2 softmax). All arithmetic in f32 except the cos/sin of the f32 angle.
 */
#include "kernels.h"
#include <immintrin.h>
#include <math.h>

static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void xds_rms_norm(const float *x, const float *w, float eps, float *y, int rows, int dim) {
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * dim;
    float *yr = y + (size_t)r * dim;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 16 <= dim; i += 16) {
      __m256 a = _mm256_loadu_ps(xr + i), b = _mm256_loadu_ps(xr + i + 8);
      s0 = _mm256_fmadd_ps(a, a, s0);
      s1 = _mm256_fmadd_ps(b, b, s1);
    }
    float ss = hsum8(_mm256_add_ps(s0, s1));
    for (; i < dim; i++) ss += xr[i] * xr[i];
    float inv = 1.0f / sqrtf(ss / (float)dim + eps);
    __m256 vi = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= dim; i += 8)
      _mm256_storeu_ps(yr + i, _mm256_mul_ps(_mm256_loadu_ps(w + i), _mm256_mul_ps(_mm256_loadu_ps(xr + i), vi)));
    for (; i < dim; i++) yr[i] = w[i] * (xr[i] * inv);
  }
}

void xds_silu_mul(const float *gate, const float *up, float *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

void xds_softmax_rows(float *x, int rows, int n) {
  for (int r = 0; r < rows; r++) {
    float *xr = x + (size_t)r * n;
    float m = -INFINITY, s = 0.0f;
    for (int i = 0; i < n; i++) m = xr[i] > m ? xr[i] : m;
    for (int i = 0; i < n; i++) { xr[i] = expf(xr[i] - m); s += xr[i]; }
    float inv = 1.0f / s;
    for (int i = 0; i < n; i++) xr[i] *= inv;
  }
}

/* cs[i] = (cos, sin) of f32(pos · inv_freq[i]) × attn_factor, for i < half. */
static void rope_table_row(int32_t pos, const float *inv_freq, float attn_factor, int half, float *cs) {
  for (int i = 0; i < half; i++) {
    float a = (float)pos * inv_freq[i];
    cs[2 * i] = (float)cos((double)a) * attn_factor;
    cs[2 * i + 1] = (float)sin((double)a) * attn_factor;
  }
}

static void rotate_head(float *v, const float *cs, int half, int interleaved) {
  if (interleaved) {
    for (int i = 0; i < half; i++) {
      float c = cs[2 * i], s = cs[2 * i + 1], a = v[2 * i], b = v[2 * i + 1];
      v[2 * i] = a * c - b * s;
      v[2 * i + 1] = b * c + a * s;
    }
  } else {
    for (int i = 0; i < half; i++) {
      float c = cs[2 * i], s = cs[2 * i + 1], a = v[i], b = v[i + half];
      v[i] = a * c - b * s;
      v[i + half] = b * c + a * s;
    }
  }
}

void xds_rope(float *x, int rows, int row_stride, int num_heads, int head_stride, int offset,
              const int32_t *positions, const float *inv_freq, float attn_factor, int interleaved, int dim) {
  int half = dim / 2;
  float *cs = xds_scratch(3, (size_t)dim * sizeof(float));
  for (int r = 0; r < rows; r++) {
    rope_table_row(positions[r], inv_freq, attn_factor, half, cs);
    for (int h = 0; h < num_heads; h++)
      rotate_head(x + (size_t)r * row_stride + (size_t)h * head_stride + offset, cs, half, interleaved);
  }
}
