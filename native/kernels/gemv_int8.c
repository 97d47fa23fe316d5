/*
 * Decode GEMV for int8 weights with int8-quantized activations (paper §2.8 INT8; CPU-FACTS.md
 * §2c/§2d: "a decode kernel needs a cheap inner loop"). Activations are quantized per row in
 * 32-blocks (like llama.cpp's Q8_0 dot products); each 32-byte block is one integer dot product:
 * AVX2 `maddubs`+`madd` with the sign trick (|x| as u8, w·sign(x) as s8), or one VNNI `dpbusd`
 * where AVX-512 VNNI is present. Per block: int32 → f32, times x scale × w scale, FMA into f32.
 * NOTE: weights must lie in [-127, 127] (w·sign(x) of -128 overflows); quantize.ts guarantees it.
 * While the first activation row runs, the next 4 weight rows are prefetched (one line per two
 * blocks): small expert matrices are too short for the hardware prefetcher to ramp up.
 */
#include "kernels.h"
#include <immintrin.h>
#include "simd.h"
#include <math.h>

/* max |x[i]| over n floats. */
static float abs_max(const float *x, int n) {
  const __m256 mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), mask));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  float amax = _mm_cvtss_f32(h);
  for (; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
  return amax;
}

/* xq[i] = round(x[i] · id) for i < n (|x·id| <= 127 by construction); rounds half to even. */
static void quantize_scaled(const float *x, int n, float id, int8_t *xq) {
  const __m256 vid = _mm256_set1_ps(id);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7); /* undo the per-lane packs */
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), vid));
    __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), vid));
    __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 16), vid));
    __m256i d = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 24), vid));
    __m256i q = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    _mm256_storeu_si256((__m256i *)(xq + i), _mm256_permutevar8x32_epi32(q, order));
  }
  for (; i < n; i++) xq[i] = (int8_t)nearbyintf(x[i] * id);
}

/* Quantizes n values with one scale (*xs) and zero-pads xq to `padded`. */
static void quantize_block(const float *x, int n, int padded, int8_t *xq, float *xs) {
  float amax = abs_max(x, n);
  *xs = amax / 127.0f;
  if (amax > 0.0f) quantize_scaled(x, n, 127.0f / amax, xq);
  else for (int i = 0; i < n; i++) xq[i] = 0;
  for (int i = n; i < padded; i++) xq[i] = 0;
}

void xds_quantize_row_q8(const float *x, int k, int8_t *xq, float *xs) {
  for (int b = 0; b * 32 < k; b++) quantize_block(x + 32 * b, k - 32 * b < 32 ? k - 32 * b : 32, 32, xq + 32 * b, xs + b);
}

void xds_quantize_row_q8_rowscale(const float *x, int k, int8_t *xq, float *xs) {
  quantize_block(x, k, (k + 31) / 32 * 32, xq, xs);
}

/* Prefetches byte `off` of each of the four weight rows w[0..3] (callers pass the next row block's offset). */
#define PREFETCH_4ROWS(w, off)                                                                  \
  do {                                                                                          \
    for (int pr_ = 0; pr_ < 4; pr_++) _mm_prefetch((const char *)((w)[pr_] + (off)), _MM_HINT_T0); \
  } while (0)

/*
 * The row loop, written once and instantiated for AVX2 and for VNNI (DOT32 maps a u8 vector and
 * an s8 vector to 8 int32 partial sums). ROWS_W weight rows share each activation block.
 */
#define XDS_GEMV_INT8_BODY(DOT32)                                                               \
  const int k = lw->in_dim, n = lw->out_dim, nb_full = k / 32, tail = k % 32;                   \
  const int kp = (k + 31) / 32 * 32, nbx = kp / 32;                                             \
  const int groups = (k + lw->group_size - 1) / lw->group_size;                                 \
  const int blocks_per_group = lw->group_size / 32 > 0 ? lw->group_size / 32 : 1;               \
  const int8_t *wbase = (const int8_t *)lw->w;                                                  \
  int o = o0;                                                                                   \
  for (; o < o1; o += 4) {                                                                      \
    const int nw = o1 - o < 4 ? o1 - o : 4;                                                     \
    const int8_t *w[4];                                                                         \
    const float *sc[4];                                                                         \
    for (int j = 0; j < 4; j++) {                                                               \
      int oj = o + (j < nw ? j : 0);                                                            \
      w[j] = wbase + (size_t)oj * k;                                                            \
      sc[j] = lw->scales + (size_t)oj * groups;                                                 \
    }                                                                                           \
    for (int r = 0; r < rows; r++) {                                                            \
      const int8_t *xr = xq + (size_t)r * kp;                                                   \
      const float *xsr = xs + (size_t)r * nbx;                                                  \
      __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;                 \
      int g = 0, left = blocks_per_group;                                                       \
      for (int b = 0; b < nb_full; b++) {                                                       \
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(xr + 32 * b));                  \
        const __m256i ax = _mm256_sign_epi8(xv, xv);                                            \
        const float d = xsr[b];                                                                 \
        if ((b & 1) == 0 && r == 0) PREFETCH_4ROWS(w, 4 * (size_t)k + 32 * b);                  \
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(w[0] + 32 * b));                      \
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(w[1] + 32 * b));                      \
        __m256i w2 = _mm256_loadu_si256((const __m256i *)(w[2] + 32 * b));                      \
        __m256i w3 = _mm256_loadu_si256((const __m256i *)(w[3] + 32 * b));                      \
        __m256 p0 = _mm256_cvtepi32_ps(DOT32(ax, _mm256_sign_epi8(w0, xv)));                    \
        __m256 p1 = _mm256_cvtepi32_ps(DOT32(ax, _mm256_sign_epi8(w1, xv)));                    \
        __m256 p2 = _mm256_cvtepi32_ps(DOT32(ax, _mm256_sign_epi8(w2, xv)));                    \
        __m256 p3 = _mm256_cvtepi32_ps(DOT32(ax, _mm256_sign_epi8(w3, xv)));                    \
        acc0 = _mm256_fmadd_ps(p0, _mm256_set1_ps(d * sc[0][g]), acc0);                         \
        acc1 = _mm256_fmadd_ps(p1, _mm256_set1_ps(d * sc[1][g]), acc1);                         \
        acc2 = _mm256_fmadd_ps(p2, _mm256_set1_ps(d * sc[2][g]), acc2);                         \
        acc3 = _mm256_fmadd_ps(p3, _mm256_set1_ps(d * sc[3][g]), acc3);                         \
        if (--left == 0) { g++; left = blocks_per_group; }                                      \
      }                                                                                         \
      float out[4] = {hsum8(acc0), hsum8(acc1), hsum8(acc2), hsum8(acc3)};                      \
      if (tail) {                                                                               \
        int gt = (nb_full * 32) / lw->group_size;                                               \
        for (int j = 0; j < 4; j++)                                                             \
          out[j] += (float)dot_tail(xr + 32 * nb_full, w[j] + 32 * nb_full, tail) *             \
                    (xsr[nb_full] * sc[j][gt]);                                                 \
      }                                                                                         \
      float *yr = y + (size_t)r * n + o;                                                        \
      for (int j = 0; j < nw; j++) yr[j] = out[j];                                              \
    }                                                                                           \
  }

static inline __m256i dot32_avx2(__m256i ax, __m256i sw) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sw), _mm256_set1_epi16(1));
}

void xds_gemv_int8(const xds_linear *lw, const int8_t *xq, const float *xs, int rows, float *y, int o0, int o1) {
  XDS_GEMV_INT8_BODY(dot32_avx2)
}

#define DOT32_VNNI(ax, sw) _mm256_dpbusd_epi32(_mm256_setzero_si256(), (ax), (sw))

__attribute__((target("avx2,fma,avx512f,avx512vl,avx512bw,avx512vnni")))
void xds_gemv_int8_vnni(const xds_linear *lw, const int8_t *xq, const float *xs, int rows, float *y, int o0, int o1) {
  XDS_GEMV_INT8_BODY(DOT32_VNNI)
}

/*
 * Per-output-channel weights with per-token activations (paper §2.8: one scale per weight row,
 * one per activation row): the integer dot products accumulate in int32 over the whole row and
 * are scaled once at the end, so a 32-byte block costs 1 load + sign + 1-2 integer ops.
 * NOTE: int32 cannot overflow: |Σ| ≤ 127·127·in_dim < 2³¹ for in_dim < 133 000.
 */
#define XDS_GEMV_INT8_ROW_BODY(DOT_ACC)                                                         \
  const int k = lw->in_dim, n = lw->out_dim, nb_full = k / 32, tail = k % 32;                   \
  const int kp = (k + 31) / 32 * 32;                                                            \
  const int8_t *wbase = (const int8_t *)lw->w;                                                  \
  for (int o = o0; o < o1; o += 4) {                                                            \
    const int nw = o1 - o < 4 ? o1 - o : 4;                                                     \
    const int8_t *w[4];                                                                         \
    for (int j = 0; j < 4; j++) w[j] = wbase + (size_t)(o + (j < nw ? j : 0)) * k;              \
    for (int r = 0; r < rows; r++) {                                                            \
      const int8_t *xr = xq + (size_t)r * kp;                                                   \
      __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;             \
      for (int b = 0; b < nb_full; b++) {                                                       \
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(xr + 32 * b));                  \
        const __m256i ax = _mm256_sign_epi8(xv, xv);                                            \
        if ((b & 1) == 0 && r == 0) PREFETCH_4ROWS(w, 4 * (size_t)k + 32 * b);                  \
        acc0 = DOT_ACC(acc0, ax, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(w[0] + 32 * b)), xv)); \
        acc1 = DOT_ACC(acc1, ax, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(w[1] + 32 * b)), xv)); \
        acc2 = DOT_ACC(acc2, ax, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(w[2] + 32 * b)), xv)); \
        acc3 = DOT_ACC(acc3, ax, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(w[3] + 32 * b)), xv)); \
      }                                                                                         \
      int32_t isum[4] = {hsum8i(acc0), hsum8i(acc1), hsum8i(acc2), hsum8i(acc3)};               \
      if (tail)                                                                                 \
        for (int j = 0; j < 4; j++) isum[j] += dot_tail(xr + 32 * nb_full, w[j] + 32 * nb_full, tail); \
      float *yr = y + (size_t)r * n + o;                                                        \
      for (int j = 0; j < nw; j++) yr[j] = (float)isum[j] * (xs[r] * lw->scales[o + j]);       \
    }                                                                                           \
  }

static inline __m256i dot_acc_avx2(__m256i acc, __m256i ax, __m256i sw) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sw), _mm256_set1_epi16(1)));
}

void xds_gemv_int8_rowscale(const xds_linear *lw, const int8_t *xq, const float *xs, int rows, float *y, int o0, int o1) {
  XDS_GEMV_INT8_ROW_BODY(dot_acc_avx2)
}

#define DOT_ACC_VNNI(acc, ax, sw) _mm256_dpbusd_epi32((acc), (ax), (sw))

__attribute__((target("avx2,fma,avx512f,avx512vl,avx512bw,avx512vnni")))
void xds_gemv_int8_rowscale_vnni(const xds_linear *lw, const int8_t *xq, const float *xs, int rows, float *y, int o0, int o1) {
  XDS_GEMV_INT8_ROW_BODY(DOT_ACC_VNNI)
}
