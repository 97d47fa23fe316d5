/*
 * Prefill GEMM, packed and cache-blocked (CPU-FACTS.md §2c "packed BLIS-style"), AVX2 version:
 * for each K block of KC, each 16-column strip of Wᵀ is packed (and converted: bf16 → f32, int8 →
 * dequantized f32) into a [KC][16] panel that stays in L1; a 6×16 micro-kernel (12 ymm
 * accumulators, broadcasts of x) sweeps all activation rows over it. C accumulates in y.
 */
#include "kernels.h"
#include <immintrin.h>
#include <string.h>

#define MR 6
#define NR 16
#define KC 256

static inline float load_weight(const xds_linear *lw, size_t row, int col) {
  size_t idx = row * (size_t)lw->in_dim + (size_t)col;
  switch (lw->format) {
    case XDS_F32: return ((const float *)lw->w)[idx];
    case XDS_BF16: {
      union { uint32_t u; float f; } c = { .u = (uint32_t)((const uint16_t *)lw->w)[idx] << 16 };
      return c.f;
    }
    default: {
      int groups = (lw->in_dim + lw->group_size - 1) / lw->group_size;
      return (float)((const int8_t *)lw->w)[idx] * lw->scales[row * (size_t)groups + (size_t)(col / lw->group_size)];
    }
  }
}

/* panel[k][j] = W[n0 + j][k0 + k] for j < nvalid, 0 beyond (zero padding of the last strip). */
static void pack_panel(const xds_linear *lw, int n0, int nvalid, int k0, int kc, float *panel) {
  if (lw->format == XDS_F32) {
    for (int j = 0; j < nvalid; j++) {
      const float *row = (const float *)lw->w + (size_t)(n0 + j) * lw->in_dim + k0;
      for (int k = 0; k < kc; k++) panel[k * NR + j] = row[k];
    }
  } else {
    for (int j = 0; j < nvalid; j++)
      for (int k = 0; k < kc; k++) panel[k * NR + j] = load_weight(lw, (size_t)(n0 + j), k0 + k);
  }
  for (int j = nvalid; j < NR; j++)
    for (int k = 0; k < kc; k++) panel[k * NR + j] = 0.0f;
}

/* c[6][16] (+)= a[6][kc] · panel[kc][16]; a rows are lda apart, c rows ldc apart. */
static void ukernel_6x16(int kc, const float *a, size_t lda, const float *panel, float *c, size_t ldc, int accumulate) {
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  if (accumulate) {
    c00 = _mm256_loadu_ps(c); c01 = _mm256_loadu_ps(c + 8);
    c10 = _mm256_loadu_ps(c + ldc); c11 = _mm256_loadu_ps(c + ldc + 8);
    c20 = _mm256_loadu_ps(c + 2 * ldc); c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
    c30 = _mm256_loadu_ps(c + 3 * ldc); c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
    c40 = _mm256_loadu_ps(c + 4 * ldc); c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
    c50 = _mm256_loadu_ps(c + 5 * ldc); c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
  }
  const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda, *a4 = a + 4 * lda, *a5 = a + 5 * lda;
  for (int k = 0; k < kc; k++) {
    __m256 b0 = _mm256_load_ps(panel + k * NR), b1 = _mm256_load_ps(panel + k * NR + 8), av;
    av = _mm256_broadcast_ss(a0 + k); c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a1 + k); c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a2 + k); c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a3 + k); c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a4 + k); c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a5 + k); c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51);
  }
  _mm256_storeu_ps(c, c00); _mm256_storeu_ps(c + 8, c01);
  _mm256_storeu_ps(c + ldc, c10); _mm256_storeu_ps(c + ldc + 8, c11);
  _mm256_storeu_ps(c + 2 * ldc, c20); _mm256_storeu_ps(c + 2 * ldc + 8, c21);
  _mm256_storeu_ps(c + 3 * ldc, c30); _mm256_storeu_ps(c + 3 * ldc + 8, c31);
  _mm256_storeu_ps(c + 4 * ldc, c40); _mm256_storeu_ps(c + 4 * ldc + 8, c41);
  _mm256_storeu_ps(c + 5 * ldc, c50); _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

/* An edge tile (fewer than 6 rows or 16 columns) goes through padded local copies. */
static void edge_tile(int kc, const float *a, size_t lda, int mr, const float *panel, float *c, size_t ldc, int nr, int accumulate) {
  float abuf[MR * KC] __attribute__((aligned(32)));
  float tile[MR * NR] __attribute__((aligned(32)));
  memset(abuf, 0, sizeof abuf);
  memset(tile, 0, sizeof tile);
  for (int i = 0; i < mr; i++) memcpy(abuf + i * KC, a + i * lda, (size_t)kc * sizeof(float));
  if (accumulate)
    for (int i = 0; i < mr; i++) memcpy(tile + i * NR, c + i * ldc, (size_t)nr * sizeof(float));
  ukernel_6x16(kc, abuf, KC, panel, tile, NR, 1);
  for (int i = 0; i < mr; i++) memcpy(c + i * ldc, tile + i * NR, (size_t)nr * sizeof(float));
}

void xds_gemm_packed(const xds_linear *lw, const float *x, int rows, float *y, int o0, int o1) {
  const int k = lw->in_dim, n = lw->out_dim;
  float *panel = xds_scratch(0, (size_t)KC * NR * sizeof(float));
  for (int k0 = 0; k0 < k; k0 += KC) {
    int kc = k - k0 < KC ? k - k0 : KC;
    for (int n0 = o0; n0 < o1; n0 += NR) {
      int nr = o1 - n0 < NR ? o1 - n0 : NR;
      pack_panel(lw, n0, nr, k0, kc, panel);
      for (int m0 = 0; m0 < rows; m0 += MR) {
        int mr = rows - m0 < MR ? rows - m0 : MR;
        const float *a = x + (size_t)m0 * k + k0;
        float *c = y + (size_t)m0 * n + n0;
        if (mr == MR && nr == NR) ukernel_6x16(kc, a, (size_t)k, panel, c, (size_t)n, k0 > 0);
        else edge_tile(kc, a, (size_t)k, mr, panel, c, (size_t)n, nr, k0 > 0);
      }
    }
  }
}
