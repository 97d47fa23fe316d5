/*
 * Paged causal attention over block tables (MODELS.md §1.4 GQA, §4.4 absorbed MLA; paper §1.2
 * RTC paged KV). Scores for a query are computed into per-thread scratch, softmaxed in f32 (max
 * subtracted), then the value rows are accumulated. GQA works per (token, KV-head range) with
 * positions outer, so each cached K/V row is read once, contiguously, for all the query heads
 * that share it; MLA works per (token, head range) over chunks of positions so a chunk of latent
 * rows stays in L1/L2 across heads.
 */
#include "kernels.h"
#include <string.h>

#define MIN_FLOPS_PER_TASK (256 * 1024)
#define MLA_CHUNK 8

/* 0 ok; 1 negative position; 2 position beyond the block table; 3 block id out of range. */
int xds_check_paged(const int32_t *block_table, int table_len, const int32_t *positions, int num_tokens, int block_size, long num_blocks) {
  int32_t max_pos = -1;
  for (int t = 0; t < num_tokens; t++) {
    if (positions[t] < 0) return 1;
    if (positions[t] > max_pos) max_pos = positions[t];
  }
  if (max_pos < 0) return 0;
  int needed = max_pos / block_size + 1;
  if (needed > table_len) return 2;
  for (int b = 0; b < needed; b++)
    if (block_table[b] < 0 || block_table[b] >= num_blocks) return 3;
  return 0;
}

static inline size_t cache_row(const int32_t *block_table, int block_size, int pos) {
  return (size_t)block_table[pos / block_size] * (size_t)block_size + (size_t)(pos % block_size);
}

/*
 * KV heads [h0, h1) of token t. NOTE: positions are the outer loop so each cached K/V row (all
 * KV heads of one position, contiguous) streams once, instead of one 4 KB-strided walk per head.
 */
static void gqa_heads(const xds_gqa_args *a, int t, int h0, int h1) {
  const int H = a->num_heads, Hkv = a->num_kv_heads, D = a->head_dim, Dv = a->head_dim_v, g = H / Hkv;
  const int P = a->positions[t];
  const int start = a->sliding_window > 0 && P - a->sliding_window + 1 > 0 ? P - a->sliding_window + 1 : 0;
  const int L = P - start + 1, nq = (h1 - h0) * g;
  float *s = xds_scratch(3, (size_t)nq * L * sizeof(float)); /* [nq, L] scores → probabilities */
  const float *q0 = a->q + ((size_t)t * H + (size_t)h0 * g) * D;
  for (int u = 0; u < L; u++) {
    const float *k = a->k_cache + cache_row(a->block_table, a->block_size, start + u) * Hkv * D;
    for (int i = 0; i < nq; i++) s[(size_t)i * L + u] = xds_dot_f32(q0 + (size_t)i * D, k + (size_t)(h0 + i / g) * D, D) * a->scale;
  }
  xds_softmax_rows(s, nq, L);
  float *o0 = a->out + ((size_t)t * H + (size_t)h0 * g) * Dv;
  memset(o0, 0, (size_t)nq * Dv * sizeof(float));
  for (int u = 0; u < L; u++) {
    const float *v = a->v_cache + cache_row(a->block_table, a->block_size, start + u) * Hkv * Dv;
    for (int i = 0; i < nq; i++) xds_axpy_f32(o0 + (size_t)i * Dv, s[(size_t)i * L + u], v + (size_t)(h0 + i / g) * Dv, Dv);
  }
}

static void gqa_task(void *arg, int task, int num_tasks) {
  const xds_gqa_args *a = arg;
  int p0, p1;
  xds_split(a->num_tokens * a->num_kv_heads, 1, task, num_tasks, &p0, &p1);
  while (p0 < p1) {
    int t = p0 / a->num_kv_heads, h0 = p0 % a->num_kv_heads;
    int h1 = a->num_kv_heads < h0 + (p1 - p0) ? a->num_kv_heads : h0 + (p1 - p0);
    gqa_heads(a, t, h0, h1);
    p0 += h1 - h0;
  }
}

static int attention_tasks(double flops, int units, int num_threads) {
  int n = num_threads;
  if (n > units) n = units;
  if (flops < (double)MIN_FLOPS_PER_TASK * n) n = (int)(flops / MIN_FLOPS_PER_TASK);
  return n < 1 ? 1 : n;
}

void xds_paged_attention(const xds_gqa_args *a, int num_threads) {
  double flops = 0;
  for (int t = 0; t < a->num_tokens; t++) flops += 2.0 * (a->positions[t] + 1) * a->num_heads * (a->head_dim + a->head_dim_v);
  xds_pool_run(gqa_task, (void *)a, attention_tasks(flops, a->num_tokens * a->num_kv_heads, num_threads));
}

/* Heads [h0, h1) of token t: scores over chunks of latent rows, softmax, then Σ p·c. */
static void mla_heads(const xds_mla_args *a, int t, int h0, int h1) {
  const int R = a->kv_lora_rank, W = a->kv_lora_rank + a->rope_dim, nh = h1 - h0, L = a->positions[t] + 1;
  float *s = xds_scratch(3, (size_t)nh * L * sizeof(float)); /* [nh, L] */
  for (int u0 = 0; u0 < L; u0 += MLA_CHUNK) {
    int u1 = u0 + MLA_CHUNK < L ? u0 + MLA_CHUNK : L;
    for (int h = 0; h < nh; h++) {
      const float *q = a->q + ((size_t)t * a->num_heads + h0 + h) * W;
      for (int u = u0; u < u1; u++)
        s[(size_t)h * L + u] = xds_dot_f32(q, a->latent + cache_row(a->block_table, a->block_size, u) * W, W) * a->scale;
    }
  }
  xds_softmax_rows(s, nh, L);
  float *out = a->out + ((size_t)t * a->num_heads + h0) * R;
  memset(out, 0, (size_t)nh * R * sizeof(float));
  for (int u0 = 0; u0 < L; u0 += MLA_CHUNK) {
    int u1 = u0 + MLA_CHUNK < L ? u0 + MLA_CHUNK : L;
    for (int h = 0; h < nh; h++)
      for (int u = u0; u < u1; u++)
        xds_axpy_f32(out + (size_t)h * R, s[(size_t)h * L + u], a->latent + cache_row(a->block_table, a->block_size, u) * W, R);
  }
}

static void mla_task(void *arg, int task, int num_tasks) {
  const xds_mla_args *a = arg;
  int p0, p1;
  xds_split(a->num_tokens * a->num_heads, 1, task, num_tasks, &p0, &p1);
  while (p0 < p1) {
    int t = p0 / a->num_heads, h0 = p0 % a->num_heads;
    int h1 = a->num_heads < h0 + (p1 - p0) ? a->num_heads : h0 + (p1 - p0);
    mla_heads(a, t, h0, h1);
    p0 += h1 - h0;
  }
}

void xds_paged_mla(const xds_mla_args *a, int num_threads) {
  double flops = 0;
  for (int t = 0; t < a->num_tokens; t++) flops += 2.0 * (a->positions[t] + 1) * a->num_heads * (2 * a->kv_lora_rank + a->rope_dim);
  xds_pool_run(mla_task, (void *)a, attention_tasks(flops, a->num_tokens * a->num_heads, num_threads));
}
