/*
 * The latent attention of one query row of absorbed MLA (MODELS.md §4.4), several heads at once:
 * scores s[h][u] = (q_h · [c_u ‖ k_pe_u]) · scale over the row's L cached positions, softmax, then
 * ctx_h = Σ_u s[h][u] · c_u. Every cached row is loaded once for 4 heads (8 independent FMA chains
 * for the scores instead of one latency-bound dot per head and position), and the value sums keep
 * 4 heads × 16 columns in registers across the positions of a 64-position tile (sums carried
 * through ctx_h between tiles, so long contexts sweep L2-resident rows) instead of one
 * read-modify-write of ctx_h per position. Per head and element the arithmetic is the one of
 * xds_dot_f32 (scores) and of repeated xds_axpy_f32 in increasing u from zero (values), except
 * that the score of a head sums its latent part (R channels) and its rope part (dr channels) in
 * the same accumulators: the query's two parts may live in different buffers (absorbed q̃
 * head-major, q_pe in the caller's q) and the output heads may be strided, so the absorbed call
 * needs no gathers or scatters. The softmax is ops.c's (8-wide exp since d9fb783; scalar expf was
 * ~18 % of this kernel at decode).
 * The cached rows are f32, or bf16 bits (--kv-cache-dtype bfloat16) widened on load: every kernel
 * below takes a compile-time BF, so each form is its own specialized loop and a bf16 row gives the
 * result of the f32 path over the same row widened.
 * NOTE: a 4 heads × 2 positions score block (0.75 loads per FMA on paper) measured no faster.
 */
#include "kernels.h"
#include <immintrin.h>
#include "simd.h"

typedef struct { __m256 a0, a1, a2, a3, b0, b1, b2, b3; } acc4;

#define INLINE static inline __attribute__((always_inline))


/* Adds q_j[0..n8) · k[k0 + 0..n8) for 4 heads into the accumulators, n8 = n rounded down to 8; returns n8. */
INLINE int dot4_seg(const float *q, size_t qstride, const void *k, int k0, int n, acc4 *c, const int BF) {
  const float *q0 = q, *q1 = q + qstride, *q2 = q + 2 * qstride, *q3 = q + 3 * qstride;
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 k0v = f32_or_bf16x8(k, k0 + i, BF), k1v = f32_or_bf16x8(k, k0 + i + 8, BF);
    c->a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + i), k0v, c->a0); c->b0 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + i + 8), k1v, c->b0);
    c->a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q1 + i), k0v, c->a1); c->b1 = _mm256_fmadd_ps(_mm256_loadu_ps(q1 + i + 8), k1v, c->b1);
    c->a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q2 + i), k0v, c->a2); c->b2 = _mm256_fmadd_ps(_mm256_loadu_ps(q2 + i + 8), k1v, c->b2);
    c->a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q3 + i), k0v, c->a3); c->b3 = _mm256_fmadd_ps(_mm256_loadu_ps(q3 + i + 8), k1v, c->b3);
  }
  if (i + 8 <= n) {
    __m256 k0v = f32_or_bf16x8(k, k0 + i, BF);
    c->a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + i), k0v, c->a0); c->a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q1 + i), k0v, c->a1);
    c->a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q2 + i), k0v, c->a2); c->a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q3 + i), k0v, c->a3);
    i += 8;
  }
  return i;
}

INLINE void dot4_tail(const float *q, size_t qstride, const void *k, int k0, int i, int n, float out[4], const int BF) {
  for (; i < n; i++)
    for (int j = 0; j < 4; j++) out[j] += q[j * qstride + i] * f32_or_bf16(k, k0 + i, BF);
}

/* out[j] = [lat_j ‖ pe_j] · k for 4 heads (k = [c ‖ k_pe], R + dr wide), both parts in one set of accumulators. */
INLINE void dot4(const xds_mla_q *q, int h, const void *k, int R, int dr, float out[4], const int BF) {
  const float *ql = q->lat + (size_t)h * q->lat_stride, *qp = q->pe + (size_t)h * q->pe_stride;
  __m256 z = _mm256_setzero_ps();
  acc4 c = { z, z, z, z, z, z, z, z };
  int il = dot4_seg(ql, q->lat_stride, k, 0, R, &c, BF), ip = dr > 0 ? dot4_seg(qp, q->pe_stride, k, R, dr, &c, BF) : 0;
  out[0] = hsum8(_mm256_add_ps(c.a0, c.b0)); out[1] = hsum8(_mm256_add_ps(c.a1, c.b1));
  out[2] = hsum8(_mm256_add_ps(c.a2, c.b2)); out[3] = hsum8(_mm256_add_ps(c.a3, c.b3));
  dot4_tail(ql, q->lat_stride, k, 0, il, R, out, BF);
  if (dr > 0) dot4_tail(qp, q->pe_stride, k, R, ip, dr, out, BF);
}

/* One head's score: the same arithmetic as dot4 for one head (8 + 8 wide accumulators). */
INLINE float dot1(const xds_mla_q *q, int h, const void *k, int R, int dr, const int BF) {
  const float *ql = q->lat + (size_t)h * q->lat_stride, *qp = q->pe + (size_t)h * q->pe_stride;
  float out[4] = { 0, 0, 0, 0 };
  __m256 z = _mm256_setzero_ps();
  acc4 c = { z, z, z, z, z, z, z, z };
  int il = dot4_seg(ql, 0, k, 0, R, &c, BF), ip = dr > 0 ? dot4_seg(qp, 0, k, R, dr, &c, BF) : 0;
  out[0] = hsum8(_mm256_add_ps(c.a0, c.b0));
  for (; il < R; il++) out[0] += ql[il] * f32_or_bf16(k, il, BF);
  for (; dr > 0 && ip < dr; ip++) out[0] += qp[ip] * f32_or_bf16(k, R + ip, BF);
  return out[0];
}

#define VROW(j, a0, a1) if (M > j) { __m256 pv = _mm256_broadcast_ss(p + j * ps + u); a0 = _mm256_fmadd_ps(pv, x0, a0); if (W16) a1 = _mm256_fmadd_ps(pv, x1, a1); }
#define VLOAD(j, a0, a1) if (M > j && add) { a0 = _mm256_loadu_ps(out + (size_t)j * os + c); if (W16) a1 = _mm256_loadu_ps(out + (size_t)j * os + c + 8); }
#define VSTORE(j, a0, a1) if (M > j) { _mm256_storeu_ps(out + (size_t)j * os + c, a0); if (W16) _mm256_storeu_ps(out + (size_t)j * os + c + 8, a1); }

/* Positions per value tile: the tile's cached rows (≤ 64 × (R + dr) f32) stay in L2 while every
 * head group and column block sweeps them, instead of one sweep of all L rows per block. */
#define VTILE 64

/* out[j][c .. c + 8·(1 + W16)) (+)= Σ_{u0 ≤ u < u1} p[j·ps + u] · rows[u][c ..] for M ≤ 4 heads
 * (compile-time M, W16); add: continue the sums in out (same FMA chain per element as one pass). */
INLINE void values_block(const int M, const int W16, const float *p, int ps, int u0, int u1, int add, const void *const *rows, int c, float *out, size_t os, const int BF) {
  __m256 z = _mm256_setzero_ps(), a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
  VLOAD(0, a00, a01) VLOAD(1, a10, a11) VLOAD(2, a20, a21) VLOAD(3, a30, a31)
  for (int u = u0; u < u1; u++) {
    __m256 x0 = f32_or_bf16x8(rows[u], c, BF), x1 = W16 ? f32_or_bf16x8(rows[u], c + 8, BF) : z;
    VROW(0, a00, a01) VROW(1, a10, a11) VROW(2, a20, a21) VROW(3, a30, a31)
  }
  VSTORE(0, a00, a01) VSTORE(1, a10, a11) VSTORE(2, a20, a21) VSTORE(3, a30, a31)
}

/* All R columns of M heads (head j at out + j·os) over positions [u0, u1): 16-column blocks, one 8-column block, scalar tail. */
INLINE void values_heads(const int M, const float *p, int ps, int u0, int u1, const void *const *rows, float *out, size_t os, int R, const int BF) {
  const int add = u0 > 0;
  int c = 0;
  for (; c + 16 <= R; c += 16) values_block(M, 1, p, ps, u0, u1, add, rows, c, out, os, BF);
  if (c + 8 <= R) { values_block(M, 0, p, ps, u0, u1, add, rows, c, out, os, BF); c += 8; }
  for (int j = 0; j < M; j++)
    for (int cc = c; cc < R; cc++) {
      float acc = add ? out[(size_t)j * os + cc] : 0.0f;
      for (int u = u0; u < u1; u++) acc += p[j * ps + u] * f32_or_bf16(rows[u], cc, BF);
      out[(size_t)j * os + cc] = acc;
    }
}

INLINE void values_group(int m, const float *p, int ps, int u0, int u1, const void *const *rows, float *out, size_t os, int R, const int BF) {
  switch (m) {
    case 4: values_heads(4, p, ps, u0, u1, rows, out, os, R, BF); break;
    case 3: values_heads(3, p, ps, u0, u1, rows, out, os, R, BF); break;
    case 2: values_heads(2, p, ps, u0, u1, rows, out, os, R, BF); break;
    default: values_heads(1, p, ps, u0, u1, rows, out, os, R, BF); break;
  }
}

/*
 * Cached rows are requested this many rows ahead of the scores loop. NOTE: the loop consumes a
 * 1152 B row (small preset) in ~100 cycles, faster than the hardware prefetcher brought rows of a
 * batch-32 decode step's 24 MB of latents from DRAM: perf put ~40 % of this kernel's samples on
 * the first FMA after each row load; 8 rows ahead: the 8-layer batch-32 call at context 80,
 * 1 thread, 11.1 → 10.0 ms (3 alternating runs).
 */
#define ROW_PREFETCH 8

static inline void prefetch_row(const void *row, int lines) {
  for (int i = 0; i < lines; i++) _mm_prefetch((const char *)row + 64 * i, _MM_HINT_T0);
}

/* The scores, softmax and value sums of xds_mla_row over its row pointers, for one row form. */
INLINE void mla_row(const xds_mla_q *q, int nh, const void *const *rows, float *s, int L, int R, int dr, float scale, int lines, const int BF) {
  for (int u = 0; u < L && u < ROW_PREFETCH; u++) prefetch_row(rows[u], lines);
  for (int u = 0; u < L; u++) {
    if (u + ROW_PREFETCH < L) prefetch_row(rows[u + ROW_PREFETCH], lines);
    int h = 0;
    for (; h + 4 <= nh; h += 4) {
      float d[4];
      dot4(q, h, rows[u], R, dr, d, BF);
      for (int j = 0; j < 4; j++) s[(size_t)(h + j) * L + u] = d[j] * scale;
    }
    for (; h < nh; h++) s[(size_t)h * L + u] = dot1(q, h, rows[u], R, dr, BF) * scale;
  }
  xds_softmax_rows(s, nh, L);
  for (int u0 = 0; u0 < L; u0 += VTILE) {
    const int u1 = L - u0 < VTILE ? L : u0 + VTILE;
    for (int h = 0; h < nh; h += 4) values_group(nh - h < 4 ? nh - h : 4, s + (size_t)h * L, L, u0, u1, rows, q->out + (size_t)h * q->out_stride, (size_t)q->out_stride, R, BF);
  }
}

void xds_mla_row(const xds_mla_q *q, int nh, const void *latent, int bf16, const int32_t *table, int block_size, int L, int R, int dr, float scale) {
  const int W = R + dr;
  const size_t esize = bf16 ? sizeof(uint16_t) : sizeof(float);
  float *s = xds_scratch(3, (size_t)nh * L * sizeof(float) + (size_t)L * sizeof(void *) + 64); /* [nh, L] scores, then [L] row pointers */
  const void **rows = (const void **)(((uintptr_t)(s + (size_t)nh * L) + 63) & ~(uintptr_t)63);
  for (int u = 0; u < L; u++) rows[u] = (const char *)latent + ((size_t)table[u / block_size] * (size_t)block_size + (size_t)(u % block_size)) * W * esize;
  const int lines = (int)(((size_t)W * esize + 63) / 64);
  if (bf16) mla_row(q, nh, rows, s, L, R, dr, scale, lines, 1);
  else mla_row(q, nh, rows, s, L, R, dr, scale, lines, 0);
}
