/*
 * bf16 weights prepared once for the packed GEMM (docs/kernels.md "GEMM weights packed once";
 * CPU-FACTS.md §2c "packed BLIS-style"): the layout gemm_packed.c's panels need, made once per
 * weight (src/kernels/native-panels.ts calls xds_pack_bf16_panels at the first GEMM-sized call),
 * and the per-call widening of a panel block to f32, a copy with no transpose.
 */
#include "kernels.h"
#include <immintrin.h>

/*
 * Prepared bf16 panels (xds_pack_bf16_panels): output channels in groups of 8, each group
 * [in_dim][8] bf16 contiguous, zero padded past out_dim: [ceil(out_dim / 8)][in_dim][8]. A
 * panel block is then a widening copy of nv groups, with no transpose: panel[k][8g + j] =
 * group (n0/8 + g)[k0 + k][j] (the padding columns come out as 0 from the zero-padded groups).
 */
size_t xds_bf16_panels_elems(int out_dim, int in_dim) { return (size_t)((out_dim + 7) / 8) * (size_t)in_dim * 8; }

/* Rows w[0..7] (stride ld), columns k..k+7, into d[k..k+7][8]: an 8×8 transpose of 16-bit values. */
static inline void transpose8x8_u16(const uint16_t *w, size_t ld, uint16_t *d) {
  __m128i r[8], t[8], u[8];
  for (int j = 0; j < 8; j++) r[j] = _mm_loadu_si128((const __m128i *)(w + (size_t)j * ld));
  for (int j = 0; j < 4; j++) {
    t[2 * j] = _mm_unpacklo_epi16(r[2 * j], r[2 * j + 1]);
    t[2 * j + 1] = _mm_unpackhi_epi16(r[2 * j], r[2 * j + 1]);
  }
  for (int h = 0; h < 2; h++) { /* rows 0-3 (h 0) and 4-7 (h 1) */
    u[4 * h] = _mm_unpacklo_epi32(t[4 * h], t[4 * h + 2]); u[4 * h + 1] = _mm_unpackhi_epi32(t[4 * h], t[4 * h + 2]);
    u[4 * h + 2] = _mm_unpacklo_epi32(t[4 * h + 1], t[4 * h + 3]); u[4 * h + 3] = _mm_unpackhi_epi32(t[4 * h + 1], t[4 * h + 3]);
  }
  for (int c = 0; c < 4; c++) { /* u[c]: columns 2c, 2c+1 of rows 0-3; u[c + 4] of rows 4-7 */
    _mm_storeu_si128((__m128i *)(d + (size_t)(2 * c) * 8), _mm_unpacklo_epi64(u[c], u[c + 4]));
    _mm_storeu_si128((__m128i *)(d + (size_t)(2 * c + 1) * 8), _mm_unpackhi_epi64(u[c], u[c + 4]));
  }
}

void xds_pack_bf16_panels(const uint16_t *w, int out_dim, int in_dim, uint16_t *dst) {
  const size_t k = (size_t)in_dim, k8 = k / 8 * 8;
  for (int g = 0; g < (out_dim + 7) / 8; g++) {
    uint16_t *d = dst + (size_t)g * k * 8; /* [in_dim][8] bf16 */
    const uint16_t *rows = w + (size_t)g * 8 * k;
    size_t i0 = 0;
    if (g * 8 + 8 <= out_dim)
      for (; i0 < k8; i0 += 8) transpose8x8_u16(rows + i0, k, d + i0 * 8);
    for (int j = 0; j < 8; j++) {
      const int n = g * 8 + j;
      for (size_t i = i0; i < k; i++) d[i * 8 + (size_t)j] = n < out_dim ? w[(size_t)n * k + i] : 0;
    }
  }
}

static inline __m256 widen_bf16x8(const uint16_t *p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

/* panel[kc][ps] f32 from the prepared groups of columns [n0, n0 + nvalid) (n0 a multiple of 8), rows [k0, k0 + kc). */
void xds_gemm_widen_panels(const uint16_t *panels, int in_dim, int n0, int nvalid, int k0, int kc, float *panel, int ps) {
  const size_t gs = (size_t)in_dim * 8; /* one group, bf16 elements */
  const uint16_t *g0 = panels + (size_t)(n0 / 8) * gs + (size_t)k0 * 8;
  const int nv = (nvalid + 7) / 8;
  for (int k = 0; k < kc; k++) {
    float *d = panel + (size_t)k * ps;
    const uint16_t *s = g0 + (size_t)k * 8;
    _mm256_store_ps(d, widen_bf16x8(s));
    if (nv > 1) _mm256_store_ps(d + 8, widen_bf16x8(s + gs));
    if (nv > 2) _mm256_store_ps(d + 16, widen_bf16x8(s + 2 * gs));
  }
}
