/*
 * Paged causal attention over block tables (MODELS.md §1.4 GQA, §4.4 absorbed MLA; paper §1.2
 * RTC paged KV). Scores for a query are computed into per-thread scratch, softmaxed in f32 (max
 * subtracted), then the value rows are accumulated. GQA works per (token, KV-head range) with
 * positions outer, so each cached K/V row is read once, contiguously, for all the query heads
 * that share it; MLA works per (token, head range), several heads per cached row (mla_latent.c). One call may hold many sequences (xds_seqs): the work is the
 * list of (row, head range) pieces of all of them, claimed in chunks by the pool's threads.
 */
#include "kernels.h"
#include <stdatomic.h>
#include <string.h>

#define MIN_FLOPS_PER_TASK (256 * 1024)
/* NOTE: waking parked pool workers costs 15-70 us here (see matmul.c WAKE_MIN_BYTES); below this
 * much work a call runs on the caller alone unless the workers are still spinning. */
#define WAKE_MIN_FLOPS (2.0 * 1024 * 1024)
/* Chunks of (row, head range) pieces per thread, claimed dynamically. */
#define CHUNKS_PER_TASK 4

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

int xds_check_paged_seqs(const xds_seqs *s, const int32_t *block_table, int table_len, const int32_t *positions, int block_size, long num_blocks) {
  (void)table_len; /* table ranges are checked on the TypeScript side */
  for (int i = 0; i < s->num_seqs; i++) {
    int st = xds_check_paged(block_table + s->table[i], s->table[i + 1] - s->table[i], positions + s->first[i], s->count[i], block_size, num_blocks);
    if (st != 0) return st;
  }
  return 0;
}

xds_attn_item *xds_attn_items(const xds_seqs *s, const int32_t *block_table, int q_by_item, int *n) {
  int total = 0, k = 0;
  for (int i = 0; i < s->num_seqs; i++) total += s->count[i];
  xds_attn_item *it = xds_scratch(6, (size_t)(total > 0 ? total : 1) * sizeof *it);
  for (int i = 0; i < s->num_seqs; i++)
    for (int j = 0; j < s->count[i]; j++, k++) {
      it[k].row = s->first[i] + j;
      it[k].q_row = q_by_item ? k : it[k].row;
      it[k].table = block_table + s->table[i];
    }
  *n = total;
  return it;
}

int xds_attn_tasks(double flops, int units, int num_threads) {
  int n = num_threads;
  if (n > units) n = units;
  if (flops < (double)MIN_FLOPS_PER_TASK * n) n = (int)(flops / MIN_FLOPS_PER_TASK);
  if (n > 1 && flops < WAKE_MIN_FLOPS && xds_pool_all_parked()) n = 1;
  return n < 1 ? 1 : n;
}

static inline size_t cache_row(const int32_t *block_table, int block_size, int pos) {
  return (size_t)block_table[pos / block_size] * (size_t)block_size + (size_t)(pos % block_size);
}

/* A region over items × head groups: piece p is (item p / groups, heads of group p % groups). */
typedef struct attn_job attn_job;
typedef void (*attn_piece_fn)(const attn_job *j, const xds_attn_item *it, int h0, int h1);
struct attn_job {
  _Atomic int next_chunk;
  int num_chunks, groups;
  const void *args;
  const xds_attn_item *items;
  int n;
  const float *q;
  float *out;
  const xds_mla_layout *layout; /* MLA pieces only */
  attn_piece_fn piece;
};

static void attn_task(void *arg, int task, int num_tasks) {
  attn_job *j = arg;
  (void)task; (void)num_tasks;
  for (;;) {
    int c = atomic_fetch_add_explicit(&j->next_chunk, 1, memory_order_relaxed), p0, p1;
    if (c >= j->num_chunks) return;
    xds_split(j->n * j->groups, 1, c, j->num_chunks, &p0, &p1);
    while (p0 < p1) {
      int i = p0 / j->groups, g0 = p0 % j->groups;
      int g1 = j->groups < g0 + (p1 - p0) ? j->groups : g0 + (p1 - p0);
      j->piece(j, &j->items[i], g0, g1);
      p0 += g1 - g0;
    }
  }
}

static void attn_run(attn_job *j, int tasks) {
  int units = j->n * j->groups;
  j->num_chunks = tasks <= 1 ? 1 : (units < tasks * CHUNKS_PER_TASK ? units : tasks * CHUNKS_PER_TASK);
  atomic_init(&j->next_chunk, 0);
  xds_pool_run_claimed(attn_task, j, tasks);
}

/*
 * KV heads [h0, h1) of one row. NOTE: positions are the outer loop so each cached K/V row (all
 * KV heads of one position, contiguous) streams once, instead of one 4 KB-strided walk per head.
 */
static void gqa_piece(const attn_job *j, const xds_attn_item *it, int h0, int h1) {
  const xds_gqa_args *a = j->args;
  const int H = a->num_heads, Hkv = a->num_kv_heads, D = a->head_dim, Dv = a->head_dim_v, g = H / Hkv;
  const int P = a->positions[it->row];
  const int start = a->sliding_window > 0 && P - a->sliding_window + 1 > 0 ? P - a->sliding_window + 1 : 0;
  const int L = P - start + 1, nq = (h1 - h0) * g;
  float *s = xds_scratch(3, (size_t)nq * L * sizeof(float)); /* [nq, L] scores → probabilities */
  const float *q0 = j->q + ((size_t)it->q_row * H + (size_t)h0 * g) * D;
  for (int u = 0; u < L; u++) {
    const size_t k = cache_row(it->table, a->block_size, start + u) * Hkv * D;
    for (int i = 0; i < nq; i++) {
      const size_t o = k + (size_t)(h0 + i / g) * D;
      const float d = a->kv_bf16 ? xds_dot_f32_bf16(q0 + (size_t)i * D, (const uint16_t *)a->k_cache + o, D) : xds_dot_f32(q0 + (size_t)i * D, (const float *)a->k_cache + o, D);
      s[(size_t)i * L + u] = d * a->scale;
    }
  }
  xds_softmax_rows(s, nq, L);
  float *o0 = j->out + ((size_t)it->q_row * H + (size_t)h0 * g) * Dv;
  memset(o0, 0, (size_t)nq * Dv * sizeof(float));
  for (int u = 0; u < L; u++) {
    const size_t v = cache_row(it->table, a->block_size, start + u) * Hkv * Dv;
    for (int i = 0; i < nq; i++) {
      const size_t o = v + (size_t)(h0 + i / g) * Dv;
      if (a->kv_bf16) xds_axpy_f32_bf16(o0 + (size_t)i * Dv, s[(size_t)i * L + u], (const uint16_t *)a->v_cache + o, Dv);
      else xds_axpy_f32(o0 + (size_t)i * Dv, s[(size_t)i * L + u], (const float *)a->v_cache + o, Dv);
    }
  }
}

void xds_paged_attention(const xds_gqa_args *a, int num_threads) {
  int n;
  const xds_attn_item *items = xds_attn_items(&a->seqs, a->block_table, 0, &n);
  double flops = 0;
  for (int i = 0; i < n; i++) flops += 2.0 * (a->positions[items[i].row] + 1) * a->num_heads * (a->head_dim + a->head_dim_v);
  attn_job j = { .groups = a->num_kv_heads, .args = a, .items = items, .n = n, .q = a->q, .out = a->out, .piece = gqa_piece };
  attn_run(&j, xds_attn_tasks(flops, n * a->num_kv_heads, num_threads));
}

/* MLA pieces are groups of MLA_HEADS heads (the latent kernel's register block): a piece with
 * fewer heads would re-read the row's whole context for them (a 1-row call over 16 heads at ctx
 * 2048 split into 2-head chunks read its 4.7 MB of latents 8 times). */
#define MLA_HEADS 4

/* Head groups [g0, g1) of one row (mla_latent.c). */
static void mla_piece(const attn_job *j, const xds_attn_item *it, int g0, int g1) {
  const xds_mla_args *a = j->args;
  const int h0 = g0 * MLA_HEADS, h1 = g1 * MLA_HEADS < a->num_heads ? g1 * MLA_HEADS : a->num_heads;
  const xds_mla_layout *l = j->layout;
  const xds_mla_q q = {
    .lat = l->lat + (size_t)it->q_row * l->lat_row + (size_t)h0 * l->lat_head, .lat_stride = l->lat_head,
    .pe = l->pe + (size_t)it->row * l->pe_row + (size_t)h0 * l->pe_head, .pe_stride = l->pe_head,
    .out = l->out + (size_t)it->q_row * l->out_row + (size_t)h0 * l->out_head, .out_stride = l->out_head,
  };
  xds_mla_row(&q, h1 - h0, a->latent, a->latent_bf16, it->table, a->block_size, a->positions[it->row] + 1, a->kv_lora_rank, a->rope_dim, a->scale);
}

void xds_mla_items(const xds_mla_args *a, const xds_attn_item *items, int n, const xds_mla_layout *lay, int tasks) {
  attn_job j = { .groups = (a->num_heads + MLA_HEADS - 1) / MLA_HEADS, .args = a, .items = items, .n = n, .layout = lay, .piece = mla_piece };
  attn_run(&j, tasks);
}

void xds_paged_mla(const xds_mla_args *a, int num_threads) {
  if (a->uk_t != NULL) { xds_paged_mla_absorbed(a, num_threads); return; }
  int n;
  const xds_attn_item *items = xds_attn_items(&a->seqs, a->block_table, 0, &n);
  const int H = a->num_heads, R = a->kv_lora_rank, W = R + a->rope_dim;
  double flops = 0;
  for (int i = 0; i < n; i++) flops += 2.0 * (a->positions[items[i].row] + 1) * H * (2 * R + a->rope_dim);
  const xds_mla_layout lay = { .lat = a->q, .lat_row = (size_t)H * W, .lat_head = W, .pe = a->q + R, .pe_row = (size_t)H * W, .pe_head = W,
                               .out = a->out, .out_row = (size_t)H * R, .out_head = R };
  xds_mla_items(a, items, n, &lay, xds_attn_tasks(flops, n * ((H + MLA_HEADS - 1) / MLA_HEADS), num_threads));
}
