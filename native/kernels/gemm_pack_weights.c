/*
 * The packed GEMM's weight panels made per call (CPU-FACTS.md §2c "packed BLIS-style";
 * docs/kernels.md "Packed GEMM at 32 and 512 rows"): rows of W [out, in] transposed into
 * [k][ps] f32 panels, bf16 widened and int8 dequantized on the way, or, for bf16 weights
 * prepared once (gemm_panels.c), widened from the panels. gemm_packed.c calls these.
 */
#include "kernels.h"
#include <immintrin.h>

/* Row n's weights [k0, k0 + kc) as f32 into dst (stride ps): bf16 widened, int8 dequantized. */
static void pack_row(const xds_linear *lw, size_t n, int k0, int kc, float *dst, int ps) {
  const size_t base = n * (size_t)lw->in_dim + (size_t)k0;
  if (lw->format == XDS_F32) {
    const float *row = (const float *)lw->w + base;
    for (int k = 0; k < kc; k++) dst[k * ps] = row[k];
  } else if (lw->format == XDS_BF16) {
    const uint16_t *row = (const uint16_t *)lw->w + base;
    for (int k = 0; k < kc; k++) {
      union { uint32_t u; float f; } c = { .u = (uint32_t)row[k] << 16 };
      dst[k * ps] = c.f;
    }
  } else {
    const int8_t *row = (const int8_t *)lw->w + base;
    const int gs = lw->group_size, groups = (lw->in_dim + gs - 1) / gs;
    const float *scales = lw->scales + n * (size_t)groups;
    for (int k = 0; k < kc;) {
      int g = (k0 + k) / gs, end = (g + 1) * gs - k0;
      if (end > kc) end = kc;
      const float s = scales[g];
      for (; k < end; k++) dst[k * ps] = (float)row[k] * s;
    }
  }
}

/* 8 consecutive weights of row n from column k as f32 (k + 8 <= in_dim; int8 groups are 32-aligned). */
static inline __m256 load8_weights(const xds_linear *lw, size_t n, int k) {
  const size_t idx = n * (size_t)lw->in_dim + (size_t)k;
  if (lw->format == XDS_F32) return _mm256_loadu_ps((const float *)lw->w + idx);
  if (lw->format == XDS_BF16) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)lw->w + idx)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  const int gs = lw->group_size, groups = (lw->in_dim + gs - 1) / gs;
  __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)((const int8_t *)lw->w + idx))));
  return _mm256_mul_ps(v, _mm256_set1_ps(lw->scales[n * (size_t)groups + (size_t)(k / gs)]));
}

/* Transposes r[0..7] (8 rows × 8 columns) in place so that r[i] holds column i. */
static inline void transpose8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20); r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20); r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31); r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31); r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/*
 * bf16 rows n0..n0+7, columns k..k+7 into panel rows k..k+7 (8 f32 each, stride ps): the
 * transpose runs on 16-bit values, and its last step interleaves them with zeros, which is the
 * bf16 → f32 widening (f32 bits = bf16 << 16). Row j sits in lane 0 (j < 4) or lane 1 (j + 4).
 */
static inline void pack8x8_bf16(const uint16_t *w, size_t ld, float *dst, int ps) {
  __m256i q[4], t[4], u[4];
  for (int j = 0; j < 4; j++)
    q[j] = _mm256_loadu2_m128i((const __m128i *)(w + (size_t)(j + 4) * ld), (const __m128i *)(w + (size_t)j * ld));
  t[0] = _mm256_unpacklo_epi16(q[0], q[1]); t[1] = _mm256_unpackhi_epi16(q[0], q[1]);
  t[2] = _mm256_unpacklo_epi16(q[2], q[3]); t[3] = _mm256_unpackhi_epi16(q[2], q[3]);
  u[0] = _mm256_unpacklo_epi32(t[0], t[2]); u[1] = _mm256_unpackhi_epi32(t[0], t[2]);
  u[2] = _mm256_unpacklo_epi32(t[1], t[3]); u[3] = _mm256_unpackhi_epi32(t[1], t[3]);
  const __m256i z = _mm256_setzero_si256();
  for (int i = 0; i < 4; i++) {
    _mm256_storeu_si256((__m256i *)(dst + (size_t)(2 * i) * ps), _mm256_unpacklo_epi16(z, u[i]));
    _mm256_storeu_si256((__m256i *)(dst + (size_t)(2 * i + 1) * ps), _mm256_unpackhi_epi16(z, u[i]));
  }
}

/* f32 rows n0..n0+7, columns k..k+7 into panel rows k..k+7 (stride ps). */
static inline void pack8x8_f32(const float *w, size_t ld, float *dst, int ps) {
  __m256 r[8];
  for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(w + (size_t)i * ld);
  transpose8(r);
  for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + (size_t)i * ps, r[i]);
}

/* Columns nvalid .. the next multiple of 8 of a [kc][ps] panel set to 0: the kernel reads whole ymm (8-column groups). */
static void zero_pad_columns(float *panel, int nvalid, int kc, int ps) {
  for (int j = nvalid; j < (nvalid + 7) / 8 * 8; j++)
    for (int k = 0; k < kc; k++) panel[k * ps + j] = 0.0f;
}

/* pack_panel for f32 (bf16 = 0) or bf16 (bf16 = 1, a constant: inlined per format) weights,
 * columns [k0, k0 + kc) (k0 a multiple of 8). */
static inline __attribute__((always_inline)) void pack_block(const xds_linear *lw, int n0, int nvalid, int k0, int kc, float *panel, int ps, const int bf16) {
  const size_t in = (size_t)lw->in_dim, base = (size_t)n0 * in + (size_t)k0;
  const int k8 = kc / 8 * 8;
  int j0 = 0;
  for (; j0 + 8 <= nvalid; j0 += 8) {
    for (int k = 0; k < k8; k += 8) {
      const size_t at = base + (size_t)j0 * in + (size_t)k;
      if (bf16) pack8x8_bf16((const uint16_t *)lw->w + at, in, panel + (size_t)k * ps + j0, ps);
      else pack8x8_f32((const float *)lw->w + at, in, panel + (size_t)k * ps + j0, ps);
    }
    for (int i = 0; i < 8 && k8 < kc; i++) pack_row(lw, (size_t)(n0 + j0 + i), k0 + k8, kc - k8, panel + (size_t)k8 * ps + j0 + i, ps);
  }
  for (int j = j0; j < nvalid; j++) pack_row(lw, (size_t)(n0 + j), k0, kc, panel + j, ps);
  zero_pad_columns(panel, nvalid, kc, ps);
}

void xds_gemm_pack_block(const xds_linear *lw, const uint16_t *panels, int n0, int nvalid, int k0, int kc, float *panel, int ps) {
  if (panels) xds_gemm_widen_panels(panels, lw->in_dim, n0, nvalid, k0, kc, panel, ps);
  else if (lw->format == XDS_BF16) pack_block(lw, n0, nvalid, k0, kc, panel, ps, 1);
  else pack_block(lw, n0, nvalid, k0, kc, panel, ps, 0);
}

/* panel[k][j] = W[n0 + j][k0 + k] for j < nvalid, 0 beyond (zero padding of the last strip). */
void xds_gemm_pack_panel(const xds_linear *lw, int n0, int nvalid, int k0, int kc, float *panel, int ps) {
  int j0 = 0, k8 = 0;
  if (k0 == 0 && (lw->format != XDS_INT8 || lw->group_size % 8 == 0)) {
    k8 = kc / 8 * 8;
    for (; j0 + 8 <= nvalid; j0 += 8) {
      for (int k = 0; k < k8; k += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; i++) r[i] = load8_weights(lw, (size_t)(n0 + j0 + i), k);
        transpose8(r);
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(panel + (size_t)(k + i) * ps + j0, r[i]);
      }
      for (int i = 0; i < 8 && k8 < kc; i++) pack_row(lw, (size_t)(n0 + j0 + i), k8, kc - k8, panel + (size_t)k8 * ps + j0 + i, ps);
    }
  }
  for (int j = j0; j < nvalid; j++) pack_row(lw, (size_t)(n0 + j), k0, kc, panel + j, ps);
  zero_pad_columns(panel, nvalid, kc, ps);
}
