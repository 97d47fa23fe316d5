/*
 * Prefill and batch GEMM (16+ rows), packed and cache-blocked (CPU-FACTS.md §2c "packed
 * BLIS-style"; docs/kernels.md "Packed GEMM: 4×24 micro-kernel"), AVX2 version: each strip of
 * Wᵀ (24 columns up to 96 rows, 16 beyond: xds_gemm_strip) is packed (and converted: bf16 → f32,
 * int8 → dequantized f32) into [k][ws] panels: f32/bf16 one [KC][ws] block at a time (L1), int8
 * the whole [K][ws] strip (L2). With 24-column strips the activation rows are packed once per
 * thread and call into 4-row tiles [k][4] (xds_gemm_pack_rows, BLIS's packed A) and a 4×24
 * micro-kernel (12 ymm accumulators, 3 panel loads and 4 broadcasts per 12 FMA) sweeps every tile
 * over the [KC][24] slice; with 16-column strips a 6×16 one reads the rows in place. C
 * accumulates in y. The weights' packing per call is in gemm_pack_weights.c; bf16 weights prepared
 * once as panels (gemm_panels.c; docs/kernels.md "GEMM weights packed once") are widened per K
 * block instead of transposed, by the first row tile of full 24-column strips as it computes.
 */
#include "kernels.h"
#include <immintrin.h>
#include <string.h>

#define MR 4
#define NR XDS_GEMM_NR
#define KC 256

static inline __m256 widen8(const uint16_t *p) { /* 8 bf16 → f32 (bits << 16) */
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

/* Row i of the kernel: named accumulators, guarded by the compile-time M and NV (dead ones vanish). */
#define ROW_FMA(i, ci0, ci1, ci2) if (M > i) { __m256 av = _mm256_broadcast_ss(ar[i] + k * KS); ci0 = _mm256_fmadd_ps(av, b0, ci0); \
  if (NV > 1) { ci1 = _mm256_fmadd_ps(av, b1, ci1); } if (NV > 2) { ci2 = _mm256_fmadd_ps(av, b2, ci2); } }
#define ROW_LOAD(i, ci0, ci1, ci2) if (M > i) { ci0 = _mm256_loadu_ps(c + i * ldc); if (NV > 1) { ci1 = _mm256_loadu_ps(c + i * ldc + 8); } \
  if (NV > 2) { ci2 = _mm256_loadu_ps(c + i * ldc + 16); } }
#define ROW_STORE(i, ci0, ci1, ci2) if (M > i) { _mm256_storeu_ps(c + i * ldc, ci0); if (NV > 1) { _mm256_storeu_ps(c + i * ldc + 8, ci1); } \
  if (NV > 2) { _mm256_storeu_ps(c + i * ldc + 16, ci2); } }
#define ROWS(OP) OP(0, c00, c01, c02) OP(1, c10, c11, c12) OP(2, c20, c21, c22) OP(3, c30, c31, c32) OP(4, c40, c41, c42) OP(5, c50, c51, c52)

/*
 * c[M][8·NV] (+)= rows · panel[kc][24] (its first 8·NV columns) for compile-time M ≤ 6 rows and
 * NV ≤ 3 ymm per row, M·NV ≤ 12 (always inlined with constants, so the accumulators stay in
 * registers). Row i's activations are ar[i][k·KS]: KS 4, a lane of a packed 4-row tile; KS 1, the
 * row in place. c rows ldc apart. Per element: one FMA chain in increasing k, whatever M and NV.
 */
static inline __attribute__((always_inline)) void ukernel(const int M, const int NV, const int KS, const int PS, int kc, const float *const ar[6], const float *panel, float *c, size_t ldc, int accumulate) {
  __m256 z = _mm256_setzero_ps(), c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z, c20 = z, c21 = z, c22 = z;
  __m256 c30 = z, c31 = z, c32 = z, c40 = z, c41 = z, c42 = z, c50 = z, c51 = z, c52 = z;
  if (accumulate) { ROWS(ROW_LOAD) }
#pragma GCC unroll 2 /* 2-3 % at 32 rows (in-process A/B, 1 thread) */
  for (int k = 0; k < kc; k++) {
    const float *p = panel + (size_t)k * PS;
    __m256 b0 = _mm256_load_ps(p), b1 = NV > 1 ? _mm256_load_ps(p + 8) : z, b2 = NV > 2 ? _mm256_load_ps(p + 16) : z;
    ROWS(ROW_FMA)
  }
  ROWS(ROW_STORE)
}

/*
 * The 4×24 kernel on a K block's first row tile, widening the prepared bf16 panels (three
 * 8-channel groups gs elements apart, src at k0) as it goes and storing the f32 panel block
 * [kc][24] that the strip's other tiles read: the widening's loads and stores overlap the FMAs
 * instead of running as a pass of their own. Same arithmetic as ukernel(4, 3, MR, NR).
 */
static void ukernel_4x24_widen(int kc, const float *const ar[6], const uint16_t *src, size_t gs, float *panel, float *c, size_t ldc, int accumulate) {
  const int M = 4, NV = 3, KS = MR;
  __m256 z = _mm256_setzero_ps(), c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z, c20 = z, c21 = z, c22 = z;
  __m256 c30 = z, c31 = z, c32 = z, c40 = z, c41 = z, c42 = z, c50 = z, c51 = z, c52 = z;
  if (accumulate) { ROWS(ROW_LOAD) }
#pragma GCC unroll 2
  for (int k = 0; k < kc; k++) {
    const uint16_t *s = src + (size_t)k * 8;
    float *p = panel + (size_t)k * NR;
    __m256 b0 = widen8(s), b1 = widen8(s + gs), b2 = widen8(s + 2 * gs);
    _mm256_store_ps(p, b0); _mm256_store_ps(p + 8, b1); _mm256_store_ps(p + 16, b2);
    ROWS(ROW_FMA)
  }
  ROWS(ROW_STORE)
}

#define UK(M, NV, KS, PS) ukernel(M, NV, KS, PS, kc, ar, panel, c, ldc, accumulate); break;
#define UK_ALL(KS, PS) \
  if (nv == 3) switch (mr) { case 4: UK(4, 3, KS, PS) case 3: UK(3, 3, KS, PS) case 2: UK(2, 3, KS, PS) default: UK(1, 3, KS, PS) } \
  else if (nv == 2) switch (mr) { case 6: UK(6, 2, KS, PS) case 5: UK(5, 2, KS, PS) case 4: UK(4, 2, KS, PS) case 3: UK(3, 2, KS, PS) case 2: UK(2, 2, KS, PS) default: UK(1, 2, KS, PS) } \
  else switch (mr) { case 6: UK(6, 1, KS, PS) case 5: UK(5, 1, KS, PS) case 4: UK(4, 1, KS, PS) case 3: UK(3, 1, KS, PS) case 2: UK(2, 1, KS, PS) default: UK(1, 1, KS, PS) }

/* One tile of mr rows (1..4 for nv 3, 1..6 otherwise) × nv (1..3) ymm of columns, in place;
 * packed: rows in 4-row tiles (KS 4), else in place (KS 1); panel rows ps (16 or 24) apart. */
static void ukernel_rows(int mr, int nv, int packed, int ps, int kc, const float *const ar[6], const float *panel, float *c, size_t ldc, int accumulate) {
  if (packed) { UK_ALL(MR, NR) }
  else if (ps == NR) { UK_ALL(1, NR) }
  else if (nv == 2) switch (mr) { case 6: UK(6, 2, 1, 16) case 5: UK(5, 2, 1, 16) case 4: UK(4, 2, 1, 16) case 3: UK(3, 2, 1, 16) case 2: UK(2, 2, 1, 16) default: UK(1, 2, 1, 16) }
  else switch (mr) { case 6: UK(6, 1, 1, 16) case 5: UK(5, 1, 1, 16) case 4: UK(4, 1, 1, 16) case 3: UK(3, 1, 1, 16) case 2: UK(2, 1, 1, 16) default: UK(1, 1, 1, 16) }
}

/* A tile of nr columns, not a multiple of 8 (the last strip), goes through a local [mr][NR] copy of c. */
static void edge_tile(int mr, int packed, int ps, int kc, const float *const ar[6], const float *panel, float *c, size_t ldc, int nr, int accumulate) {
  float tile[6 * NR] __attribute__((aligned(32)));
  memset(tile, 0, sizeof tile);
  if (accumulate)
    for (int i = 0; i < mr; i++) memcpy(tile + i * NR, c + i * ldc, (size_t)nr * sizeof(float));
  ukernel_rows(mr, (nr + 7) / 8, packed, ps, kc, ar, panel, tile, NR, 1);
  for (int i = 0; i < mr; i++) memcpy(c + i * ldc, tile + i * NR, (size_t)nr * sizeof(float));
}

/* Rows r0..r0+3 of x (valid of them; zeros beyond) into xp[k][MR]. */
static void pack_rows_tile(const float *x, int k, int valid, float *xp) {
  int kk = 0;
  if (valid == MR) {
    const float *r0 = x, *r1 = x + k, *r2 = x + 2 * (size_t)k, *r3 = x + 3 * (size_t)k;
    for (; kk + 8 <= k; kk += 8) {
      __m256 a0 = _mm256_loadu_ps(r0 + kk), a1 = _mm256_loadu_ps(r1 + kk), a2 = _mm256_loadu_ps(r2 + kk), a3 = _mm256_loadu_ps(r3 + kk);
      __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1), t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
      __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      float *d = xp + (size_t)kk * MR;
      _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u1, 0x20));
      _mm256_storeu_ps(d + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
      _mm256_storeu_ps(d + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
      _mm256_storeu_ps(d + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
    }
  }
  for (; kk < k; kk++)
    for (int i = 0; i < MR; i++) xp[(size_t)kk * MR + i] = i < valid ? x[(size_t)i * k + kk] : 0.0f;
}

const float *xds_gemm_pack_rows(const float *x, int rows, int k) {
  const int tiles = (rows + MR - 1) / MR;
  float *xp = xds_scratch(1, (size_t)tiles * k * MR * sizeof(float)); /* [tiles][k][MR] f32 */
  for (int t = 0; t < tiles; t++) {
    const int valid = rows - t * MR < MR ? rows - t * MR : MR;
    pack_rows_tile(x + (size_t)t * MR * k, k, valid, xp + (size_t)t * k * MR);
  }
  return xp;
}

/* Prefetches the weights of the next strip into L2 a few lines per micro-tile (a linear cursor). */
typedef struct { const char *next, *end; int lines; } strip_prefetch;

static size_t elem_bytes(const xds_linear *lw) { return lw->format == XDS_F32 ? 4 : lw->format == XDS_BF16 ? 2 : 1; }

static strip_prefetch next_strip(const xds_linear *lw, const uint16_t *panels, int n1, int o1, int next_o0, int ws, int tiles) {
  strip_prefetch p = { NULL, NULL, 0 };
  if (n1 >= o1 && next_o0 >= 0) { n1 = next_o0; o1 = lw->out_dim; }
  if (n1 >= o1) return p;
  const size_t row = (size_t)lw->in_dim * (panels ? 2 : elem_bytes(lw));
  int nr = o1 - n1 < ws ? o1 - n1 : ws;
  if (panels) nr = (nr + 7) / 8 * 8; /* whole groups, [in_dim][8] bf16 each, contiguous */
  p.next = panels ? (const char *)(panels + (size_t)n1 * lw->in_dim) : (const char *)lw->w + (size_t)n1 * row;
  p.end = p.next + (size_t)nr * row;
  p.lines = (int)((p.end - p.next) / 64 / (size_t)tiles) + 1;
  return p;
}

static inline void prefetch_some(strip_prefetch *p) {
  for (int i = 0; i < p->lines && p->next < p->end; i++, p->next += 64) _mm_prefetch(p->next, _MM_HINT_T1);
}

/*
 * NOTE: while a strip's tiles compute, the next strip's weights are prefetched into L2, so its
 * packing does not wait for DRAM (at 32 rows the weights of a cold [1024×1024] bf16 matrix took
 * ~30 % of the call); after the last strip, the first strip of the range the thread runs next
 * (next_o0, -1 for none: matmul.c claims chunks one ahead). With the strip in L2, bf16 is packed
 * per K block right before its tiles (the block stays in L1; packing the whole strip first wrote
 * [K][16] f32 out to L2 and read it back: 5-7 % slower at 16-32 rows, 1 thread); f32 likewise.
 * int8 keeps the whole-strip packing (its transposing path starts at k0 = 0). Per output element the
 * arithmetic is one FMA chain in increasing k whatever the tiling, so results do not depend on
 * the thread count or the chunking (and equal the former 6×16 kernel's bit for bit).
 */
/* Activation row pointers at column k0 for rows m0..m0+5: lanes of 4-row tiles [k][4] in xp, or rows of x. */
static void row_ptrs(const float *x, const float *xp, int k, int m0, int k0, const float *ar[6]) {
  for (int i = 0; i < 6; i++)
    ar[i] = xp ? xp + (size_t)((m0 + i) / MR) * k * MR + (size_t)k0 * MR + (m0 + i) % MR : x + (size_t)(m0 + i) * k + k0;
}

/* Every row tile of one strip's K block [k0, k0 + kc) against its packed panel pk (stride ws). */
static void strip_tiles(const xds_linear *lw, const float *x, const float *xp, int rows, float *y, int n0, int nr, int ws, int k0, int kc, float *pk, const uint16_t *src, strip_prefetch *pf) {
  const int k = lw->in_dim, nv = (nr + 7) / 8, group = nv == 3 ? MR : 6; /* 12 accumulators */
  const size_t n = (size_t)lw->out_dim;
  for (int m0 = 0; m0 < rows; m0 += group) {
    const int mr = rows - m0 < group ? rows - m0 : group;
    const float *ar[6];
    row_ptrs(x, xp, k, m0, k0, ar);
    float *c = y + (size_t)m0 * n + n0;
    prefetch_some(pf);
    if (src && m0 == 0) ukernel_4x24_widen(kc, ar, src, (size_t)k * 8, pk, c, n, k0 > 0);
    else if (nr % 8 == 0) ukernel_rows(mr, nv, xp != NULL, ws, kc, ar, pk, c, n, k0 > 0);
    else edge_tile(mr, xp != NULL, ws, kc, ar, pk, c, n, nr, k0 > 0);
  }
}

static void gemm_row_block(const xds_linear *lw, const uint16_t *panels, const float *x, const float *xp, int rows, float *y, int o0, int o1, int next_o0, int ws) {
  const int k = lw->in_dim, per_block = lw->format != XDS_INT8 || panels;
  const int group = ws == NR ? MR : 6, tiles = ((k + KC - 1) / KC) * ((rows + group - 1) / group);
  float *panel = xds_scratch(0, (size_t)k * (size_t)ws * sizeof(float)); /* [k][ws] f32 */
  for (int n0 = o0; n0 < o1; n0 += ws) {
    const int nr = o1 - n0 < ws ? o1 - n0 : ws;
    if (!per_block) xds_gemm_pack_panel(lw, n0, nr, 0, k, panel, ws);
    strip_prefetch pf = next_strip(lw, panels, n0 + ws, o1, next_o0, ws, tiles);
    for (int k0 = 0; k0 < k; k0 += KC) {
      const int kc = k - k0 < KC ? k - k0 : KC;
      float *pk = per_block ? panel : panel + (size_t)k0 * ws; /* [kc][ws] f32 */
      /* full 24-column strips over packed rows: the first tile widens the panels (ukernel_4x24_widen) */
      const uint16_t *src = panels && xp && nr == NR && rows >= MR ? panels + ((size_t)(n0 / 8) * k + (size_t)k0) * 8 : NULL;
      if (per_block && !src) xds_gemm_pack_block(lw, panels, n0, nr, k0, kc, pk, ws);
      strip_tiles(lw, x, xp, rows, y, n0, nr, ws, k0, kc, pk, src, &pf);
    }
  }
}

/*
 * Rows per block: a block's packed activations for one K block (MC_ROWS × KC f32 = 96 KiB) stay
 * in L2 while every strip of the chunk sweeps them; the weights are packed again per block (with
 * prepared panels a widening copy; all rows in one block measured 3-10 % slower at 512 rows).
 */
#define MC_ROWS 96

int xds_gemm_strip(int rows) { return rows <= MC_ROWS ? NR : 16; }

void xds_gemm_packed(const xds_linear *lw, const uint16_t *panels, const float *x, const float *xp, int rows, float *y, int o0, int o1, int next_o0) {
  const int k = lw->in_dim, n = lw->out_dim, ws = xds_gemm_strip(rows);
  for (int m = 0; m < rows; m += MC_ROWS) {
    const int mb = rows - m < MC_ROWS ? rows - m : MC_ROWS;
    gemm_row_block(lw, panels, x + (size_t)m * k, xp ? xp + (size_t)m * k : NULL, mb, y + (size_t)m * n, o0, o1, m + MC_ROWS < rows ? o0 : next_o0, ws);
  }
}
