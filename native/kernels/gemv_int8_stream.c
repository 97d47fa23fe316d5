/*
 * Batch-1 decode GEMVs for int8 weights (paper §2.8 INT8; CPU-FACTS.md §2c/§2d; docs/kernels.md
 * "int8 decode"): one activation row, weight rows one after another, so the weights stream
 * strictly sequentially from DRAM. Measured on this Zen 3 host (4096×1024 int8 from DRAM, CPU
 * time): ~90 % of the read probe, against ~55 % for gemv_int8.c's 4 interleaved rows, whose four
 * 1 KiB streams per 4 KiB page keep the hardware prefetcher from ramping up (memory time and
 * compute time then add instead of overlapping). |x| (the u8 operand of the sign trick) is made
 * once per call; 4 independent accumulators per row.
 * NOTE: weights must lie in [-127, 127], as in gemv_int8.c (the sign trick).
 */
#include "kernels.h"
#include <immintrin.h>
#include "simd.h"

/* ax[i] = |xq[i]| for kp bytes (kp a multiple of 32), in per-thread scratch slot 3. */
static const int8_t *abs_row(const int8_t *xq, int kp) {
  int8_t *ax = xds_scratch(3, (size_t)kp); /* [kp] u8 */
  for (int i = 0; i < kp; i += 32) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(xq + i));
    _mm256_storeu_si256((__m256i *)(ax + i), _mm256_sign_epi8(v, v));
  }
  return ax;
}

/* ds[b] = x scale of block b × w scale of its group, for one weight row (the per-32 kernel). */
static void block_scales(const float *xs, const float *sc, int nb, int blocks_per_group, float *ds) {
  if (blocks_per_group == 1) { /* groups of 32: a plain (vectorized) product */
    for (int b = 0; b < nb; b++) ds[b] = xs[b] * sc[b];
    return;
  }
  for (int b = 0, g = 0, left = blocks_per_group; b < nb; b++) {
    ds[b] = xs[b] * sc[g];
    if (--left == 0) { g++; left = blocks_per_group; }
  }
}

/* |x| block, sign-adjusted weight block at byte offset `off` of the row. */
#define AX(off) _mm256_loadu_si256((const __m256i *)(ax + (off)))
#define SW(off) _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(wr + (off))), \
                                 _mm256_loadu_si256((const __m256i *)(xq + (off))))
/* Two lines per 128 bytes, 1 KiB ahead: short rows (small experts) end before the prefetcher ramps. */
#define PREFETCH_AHEAD(off) do {                                         \
    _mm_prefetch((const char *)(wr + 1024 + (off)), _MM_HINT_T0);         \
    _mm_prefetch((const char *)(wr + 1088 + (off)), _MM_HINT_T0);         \
  } while (0)

/* Per output channel: int32 over the whole row, one scale at the end (|Σ| < 2³¹ as in gemv_int8.c). */
#define XDS_ROWSCALE_STREAM_BODY(DOT_ACC)                                                       \
  const int k = lw->in_dim, nb = k / 32, tail = k % 32;                                         \
  const int8_t *ax = abs_row(xq, (k + 31) / 32 * 32);                                           \
  for (int o = o0; o < o1; o++) {                                                               \
    const int8_t *wr = (const int8_t *)lw->w + (size_t)o * k;                                   \
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;                             \
    int b = 0;                                                                                  \
    for (; b + 4 <= nb; b += 4) {                                                               \
      PREFETCH_AHEAD(32 * b);                                                                   \
      a0 = DOT_ACC(a0, AX(32 * b), SW(32 * b));                                                 \
      a1 = DOT_ACC(a1, AX(32 * b + 32), SW(32 * b + 32));                                       \
      a2 = DOT_ACC(a2, AX(32 * b + 64), SW(32 * b + 64));                                       \
      a3 = DOT_ACC(a3, AX(32 * b + 96), SW(32 * b + 96));                                       \
    }                                                                                           \
    for (; b < nb; b++) a0 = DOT_ACC(a0, AX(32 * b), SW(32 * b));                               \
    int32_t s = hsum8i(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)));   \
    if (tail) s += dot_tail(xq + 32 * nb, wr + 32 * nb, tail);                                  \
    y[o] = (float)s * (xs[0] * lw->scales[o]);                                                  \
  }

/* acc + f32(int32 dot of block b) × dsb[b]. */
#define BLOCK_FMA(DOT32, acc, b) \
  _mm256_fmadd_ps(_mm256_cvtepi32_ps(DOT32(AX(32 * (b)), SW(32 * (b)))), _mm256_set1_ps(dsb[b]), acc)

/* Per 32-block: each block's int32 dot → f32, FMA with (x scale × w scale) into 4 accumulators. */
#define XDS_BLOCKS_STREAM_BODY(DOT32)                                                           \
  const int k = lw->in_dim, nb = k / 32, tail = k % 32, nbx = (k + 31) / 32;                    \
  const int groups = (k + lw->group_size - 1) / lw->group_size;                                 \
  const int bpg = lw->group_size / 32 > 0 ? lw->group_size / 32 : 1;                            \
  const int8_t *ax = abs_row(xq, nbx * 32);                                                     \
  float *dsb = xds_scratch(0, (size_t)nbx * sizeof(float)); /* [blocks] f32, slot 0 (GEMM only) */ \
  for (int o = o0; o < o1; o++) {                                                               \
    const int8_t *wr = (const int8_t *)lw->w + (size_t)o * k;                                   \
    const float *sc = lw->scales + (size_t)o * groups;                                          \
    block_scales(xs, sc, nbx, bpg, dsb);                                                        \
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                 \
    int b = 0;                                                                                  \
    for (; b + 4 <= nb; b += 4) {                                                               \
      PREFETCH_AHEAD(32 * b);                                                                   \
      a0 = BLOCK_FMA(DOT32, a0, b);                                                             \
      a1 = BLOCK_FMA(DOT32, a1, b + 1);                                                         \
      a2 = BLOCK_FMA(DOT32, a2, b + 2);                                                         \
      a3 = BLOCK_FMA(DOT32, a3, b + 3);                                                         \
    }                                                                                           \
    for (; b < nb; b++) a0 = BLOCK_FMA(DOT32, a0, b);                                           \
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));                                                     \
    if (tail) s += (float)dot_tail(xq + 32 * nb, wr + 32 * nb, tail) * dsb[nb];                 \
    y[o] = s;                                                                                   \
  }

static inline __m256i dot_acc_avx2(__m256i acc, __m256i ax, __m256i sw) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sw), _mm256_set1_epi16(1)));
}

static inline __m256i dot32_avx2(__m256i ax, __m256i sw) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sw), _mm256_set1_epi16(1));
}

void xds_gemv_int8_rowscale_stream(const xds_linear *lw, const int8_t *xq, const float *xs, float *y, int o0, int o1) {
  XDS_ROWSCALE_STREAM_BODY(dot_acc_avx2)
}

void xds_gemv_int8_stream(const xds_linear *lw, const int8_t *xq, const float *xs, float *y, int o0, int o1) {
  XDS_BLOCKS_STREAM_BODY(dot32_avx2)
}

#define VNNI_TARGET __attribute__((target("avx2,fma,avx512f,avx512vl,avx512bw,avx512vnni")))
#define DOT_ACC_VNNI(acc, ax, sw) _mm256_dpbusd_epi32((acc), (ax), (sw))
#define DOT32_VNNI(ax, sw) _mm256_dpbusd_epi32(_mm256_setzero_si256(), (ax), (sw))

VNNI_TARGET
void xds_gemv_int8_rowscale_stream_vnni(const xds_linear *lw, const int8_t *xq, const float *xs, float *y, int o0, int o1) {
  XDS_ROWSCALE_STREAM_BODY(DOT_ACC_VNNI)
}

VNNI_TARGET
void xds_gemv_int8_stream_vnni(const xds_linear *lw, const int8_t *xq, const float *xs, float *y, int o0, int o1) {
  XDS_BLOCKS_STREAM_BODY(DOT32_VNNI)
}
