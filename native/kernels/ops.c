/*
 * Fused elementwise kernels (MODELS.md §1.1 RMSNorm, §1.2 SiLU-GLU, §1.3 RoPE with YaRN tables
 * from §5, §1.4/§8.2 softmax). All arithmetic in f32 except the cos/sin of the f32 angle.
 */
#include "kernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "simd.h"

/*
 * e^x for 8 floats (Cephes expf: x = n·ln2 + r with |r| ≤ ln2/2, degree-6 polynomial in r, then
 * 2^n through the exponent bits): within 2 ulp of e^x over [-87.3, 88.7] (measured); below it 0,
 * as expf(-inf); above it clamped to e^88.7. NOTE: scalar expf cost ~4 ns per element, which made
 * siluMul over a prefill's [512, 2048] gate ~4 ms per dense layer.
 */
static inline __m256 exp8(__m256 x) {
  const __m256 live = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_GE_OQ); /* below: exactly 0, as expf(-inf) */
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  /* 2^n: n in [-126, 128]; n = 128 (x near 88.7) is split as 2^127 · 2 so the bits stay finite. */
  __m256i ni = _mm256_cvtps_epi32(n);
  __m256i hi = _mm256_srai_epi32(ni, 1), lo = _mm256_sub_epi32(ni, hi);
  __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(hi, _mm256_set1_epi32(127)), 23));
  __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(lo, _mm256_set1_epi32(127)), 23));
  return _mm256_and_ps(_mm256_mul_ps(_mm256_mul_ps(p, s1), s2), live);
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
  size_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    __m256 g = _mm256_loadu_ps(gate + i);
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; i++) {
    float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

void xds_softmax_rows(float *x, int rows, int n) {
  for (int r = 0; r < rows; r++) {
    float *xr = x + (size_t)r * n;
    float m = -INFINITY, s = 0.0f;
    int i = 0;
    __m256 vm = _mm256_set1_ps(-INFINITY), vs = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(xr + i));
    for (int j = 0; j < 8; j++) m = vm[j] > m ? vm[j] : m;
    for (; i < n; i++) m = xr[i] > m ? xr[i] : m;
    const __m256 bm = _mm256_set1_ps(m);
    for (i = 0; i + 8 <= n; i += 8) {
      __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(xr + i), bm));
      _mm256_storeu_ps(xr + i, e);
      vs = _mm256_add_ps(vs, e);
    }
    s = hsum8(vs);
    for (; i < n; i++) { xr[i] = expf(xr[i] - m); s += xr[i]; }
    float inv = 1.0f / s;
    const __m256 vi = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(xr + i, _mm256_mul_ps(_mm256_loadu_ps(xr + i), vi));
    for (; i < n; i++) xr[i] *= inv;
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

/* dst[i] = src[i] as bf16 bits, rounded to nearest even; a NaN stays a (quiet) NaN (core/dtype.ts
 * f32ToBf16): the stores of a bf16 KV cache. */
void xds_f32_to_bf16(const float *src, uint16_t *dst, int n) {
  const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff), exp = _mm256_set1_epi32(0x7f800000),
                mant = _mm256_set1_epi32(0x007fffff), quiet = _mm256_set1_epi32(0x40);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i b = _mm256_castps_si256(_mm256_loadu_ps(src + i));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(b, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(b, 16), one))), 16);
    __m256i nan = _mm256_andnot_si256(_mm256_cmpeq_epi32(_mm256_and_si256(b, mant), _mm256_setzero_si256()), _mm256_cmpeq_epi32(_mm256_and_si256(b, exp), exp));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(_mm256_srli_epi32(b, 16), quiet), nan);
    __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128((__m128i *)(dst + i), packed);
  }
  for (; i < n; i++) {
    uint32_t b;
    memcpy(&b, src + i, 4);
    dst[i] = (b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) ? (uint16_t)((b >> 16) | 0x40) : (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
  }
}
