/*
 * All routed experts of one MoE layer in one call (ComputeBackend.moeExperts; MODELS.md §1.2, §3,
 * §4.5; paper §2.1 "moe"; issue 4 serving scaling). Pool threads claim *items* (an expert, or a
 * block of at most ITEM_ROWS of its rows; most rows first) from an atomic counter; an item gathers
 * its token rows into per-thread scratch, runs gate and up through xds_matmul on one thread
 * (multi-row GEMV, packed GEMM from 16 rows, int8, every format) and SiLU-GLU into h. Then:
 *  - decode sizes (fewer than PREFILL_ROWS rows per active expert; ≤ 16 entries always): the
 *    item also runs its down projection into an [N, D] entry buffer, and a second region over
 *    token chunks sums each token's entries in entry order into `out` (the code before the
 *    prefill layout, kept because it streams each expert's weights in one go);
 *  - prefill sizes: h goes to an [N, I] buffer, and a second region over chunks of output
 *    columns adds, for each expert in index order, weight · (h · W_down[chunk]ᵀ) straight into
 *    `out`: no [N, D] buffer (14.7 MB at a 512-token `small` prefill; past the 64 MiB cap the
 *    old code fell back to an expert-serial path) and no combine pass.
 * Both layouts do the same float operations per output: the same xds_matmul kernel per row group
 * (chunk boundaries are multiples of 16, so GEMM strips and 4-row GEMV blocks align), then one
 * fma per entry in entry order. Item and chunk boundaries depend only on the routing, so results
 * are bit-identical across layouts, thread counts and expert groups (the [N, I] buffer over the
 * cap runs the experts in consecutive groups).
 */
#include "kernels.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* NOTE: past this the entry buffer costs more memory than running the experts in groups saves. */
static size_t max_buffer_bytes = (size_t)64 << 20;

void xds_moe_set_max_buffer_bytes(double bytes) {
  if (bytes > 0) max_buffer_bytes = (size_t)bytes;
}

/* Rows per item: splits a big expert (the shared one at a long prefill) over threads; each item
 * packs its expert's gate/up for the GEMM again, so items stay large. */
#define ITEM_ROWS 256
/* Calls with at most this many entries always use the decode layout (batch-1 decode: 6 + 1). */
#define SMALL_ENTRIES 16
/* Rows per active expert from which the prefill layout runs. */
#define PREFILL_ROWS 16
/*
 * Columns per chunk of the prefill layout's second region: each chunk re-reads every expert's h
 * (the GEMM's A operand; 3.7 MB at 2,048 tokens), and 32-column chunks turned that into L3
 * traffic (2,048 tokens, 2 threads: 298 ms vs 210 ms for the decode layout).
 */
#define CHUNK_COLS 256

typedef struct {
  const xds_moe_args *a;
  int e0, e1;                  /* experts [e0, e1) of this group */
  const int32_t *items;        /* [num_items] expert << 16 | block index */
  int num_items;
  float *hbuf;                 /* prefill: h of the group's entries, expert e at hoff[e] [n_e, I_e] f32 */
  const size_t *hoff;          /* [E] float offsets into hbuf */
  const int32_t *active;       /* [num_active] experts of the group with entries, index order */
  int num_active;
  float *ybuf;                 /* decode: [N, D] f32 down output of every entry; NULL for prefill */
  const int32_t *tok_start;    /* decode: [T + 1] entries of token t: tok_entries[tok_start[t] ..] */
  const int32_t *tok_entries;  /* decode: [N] entry indices, increasing within each token */
  int zero_out;                /* first group: the second region zeroes its columns of out first */
  int num_chunks;
  _Atomic int next_item, next_chunk;
} moe_job;

static int expert_rows(const xds_moe_args *a, int e) { return a->offsets[e + 1] - a->offsets[e]; }
static int item_blocks(int n) { return (n + ITEM_ROWS - 1) / ITEM_ROWS; }

/* Rows [r0, r1) of expert e (local indices): h = SiLU(gate(xs)) ⊙ up(xs), and at decode y = down(h). */
static void expert_item(const moe_job *job, int e, int r0, int r1) {
  const xds_moe_args *a = job->a;
  const xds_linear *gate = &a->ex->lw[3 * e], *up = gate + 1, *down = gate + 2;
  const int lo = a->offsets[e] + r0, m = r1 - r0, D = a->dim, I = gate->out_dim;
  float *xs = xds_scratch(4, (size_t)m * D * sizeof(float));     /* [m, D] gathered token rows */
  float *g = xds_scratch(5, (size_t)2 * m * I * sizeof(float));  /* [m, I] gate ‖ [m, I] up */
  float *h = job->ybuf ? g : job->hbuf + job->hoff[e] + (size_t)r0 * I; /* [m, I] */
  for (int j = 0; j < m; j++) memcpy(xs + (size_t)j * D, a->x + (size_t)a->rows[lo + j] * D, (size_t)D * sizeof(float));
  xds_matmul(gate, xs, g, m, 1);
  xds_matmul(up, xs, g + (size_t)m * I, m, 1);
  xds_silu_mul(g, g + (size_t)m * I, h, (size_t)m * I);
  if (job->ybuf) xds_matmul(down, h, job->ybuf + (size_t)lo * D, m, 1);
}

static void items_task(void *arg, int task, int num_tasks) {
  moe_job *job = arg;
  (void)task;
  (void)num_tasks;
  for (;;) {
    int i = atomic_fetch_add_explicit(&job->next_item, 1, memory_order_relaxed);
    if (i >= job->num_items) return;
    int e = job->items[i] >> 16, b = job->items[i] & 0xffff, n = expert_rows(job->a, e), r0, r1;
    xds_split(n, 1, b, item_blocks(n), &r0, &r1);
    expert_item(job, e, r0, r1);
  }
}

/* Prefill: expert e's down projection on columns [c0, c1) (xds_matmul on a view of those rows of
 * W), times each entry's weight, added into out. */
static void down_slice(const moe_job *job, int e, int c0, int c1) {
  const xds_moe_args *a = job->a;
  const xds_linear *down = &a->ex->lw[3 * e + 2];
  const int n = expert_rows(a, e), lo = a->offsets[e], w = c1 - c0;
  const size_t elem = down->format == XDS_F32 ? 4 : down->format == XDS_BF16 ? 2 : 1;
  xds_linear view = *down;
  view.w = (const char *)down->w + (size_t)c0 * down->in_dim * elem;
  if (down->format == XDS_INT8) view.scales = down->scales + (size_t)c0 * ((down->in_dim + down->group_size - 1) / down->group_size);
  if (down->bias) view.bias = down->bias + c0;
  view.out_dim = w;
  float *y = xds_scratch(4, (size_t)n * w * sizeof(float)); /* [n, w] this slice's outputs */
  xds_matmul(&view, job->hbuf + job->hoff[e], y, n, 1);
  for (int j = 0; j < n; j++) xds_axpy_f32(a->out + (size_t)a->rows[lo + j] * a->dim + c0, a->weights[lo + j], y + (size_t)j * w, w);
}

/* Prefill: columns [c0, c1) of out, zeroed (first group), then each active expert's slice added. */
static void chunk_columns(const moe_job *job, int c0, int c1) {
  const xds_moe_args *a = job->a;
  if (job->zero_out)
    for (int t = 0; t < a->num_tokens; t++) memset(a->out + (size_t)t * a->dim + c0, 0, (size_t)(c1 - c0) * sizeof(float));
  for (int i = 0; i < job->num_active; i++) down_slice(job, job->active[i], c0, c1);
}

/* Decode: out rows [t0, t1) = Σ weight · ybuf over each token's entries, in entry order. */
static void combine_tokens(const moe_job *job, int t0, int t1) {
  const xds_moe_args *a = job->a;
  const int D = a->dim;
  for (int t = t0; t < t1; t++) {
    float *row = a->out + (size_t)t * D;
    memset(row, 0, (size_t)D * sizeof(float));
    for (int p = job->tok_start[t]; p < job->tok_start[t + 1]; p++) {
      int j = job->tok_entries[p];
      xds_axpy_f32(row, a->weights[j], job->ybuf + (size_t)j * D, D);
    }
  }
}

static void chunks_task(void *arg, int task, int num_tasks) {
  moe_job *job = arg;
  (void)task;
  (void)num_tasks;
  for (;;) {
    int c = atomic_fetch_add_explicit(&job->next_chunk, 1, memory_order_relaxed), c0, c1;
    if (c >= job->num_chunks) return;
    if (job->ybuf) {
      xds_split(job->a->num_tokens, 1, c, job->num_chunks, &c0, &c1);
      combine_tokens(job, c0, c1);
      continue;
    }
    xds_split(job->a->dim, 16, c, job->num_chunks, &c0, &c1);
    if (c0 < c1) chunk_columns(job, c0, c1);
  }
}

static __thread const int32_t *cmp_offsets; /* comparator context (qsort has none) */

static int item_rows(int32_t it) {
  int n = cmp_offsets[(it >> 16) + 1] - cmp_offsets[it >> 16], r0, r1;
  xds_split(n, 1, it & 0xffff, item_blocks(n), &r0, &r1);
  return r1 - r0;
}

/* Most rows first, then expert and block (the order only balances work, results do not depend on it). */
static int by_rows_desc(const void *pa, const void *pb) {
  int32_t ia = *(const int32_t *)pa, ib = *(const int32_t *)pb;
  int na = item_rows(ia), nb = item_rows(ib);
  return na != nb ? nb - na : ia - ib;
}

/* Items of experts [e0, e1) (sorted), the float offsets of their h (hoff) and the experts with entries. */
static void group_items(moe_job *job, int32_t *items, size_t *hoff, int32_t *active) {
  const xds_moe_args *a = job->a;
  size_t h = 0;
  job->num_items = job->num_active = 0;
  for (int e = job->e0; e < job->e1; e++) {
    const int n = expert_rows(a, e);
    if (n > 0) active[job->num_active++] = e;
    hoff[e] = h;
    h += (size_t)n * a->ex->lw[3 * e].out_dim;
    for (int b = 0; b < item_blocks(n); b++) items[job->num_items++] = (int32_t)(e << 16 | b);
  }
  cmp_offsets = a->offsets;
  qsort(items, (size_t)job->num_items, sizeof *items, by_rows_desc);
  job->items = items;
  job->hoff = hoff;
  job->active = active;
}

/* Floats of the group's [N, I] h buffer. */
static size_t group_h_floats(const moe_job *job) {
  const int last = job->e1 - 1;
  return job->hoff[last] + (size_t)expert_rows(job->a, last) * job->a->ex->lw[3 * last].out_dim;
}

/* End of the prefill group starting at e0: as many experts as keep [N, I] under the cap (≥ 1). */
static int group_end(const xds_moe_args *a, int e0) {
  size_t bytes = 0;
  int e = e0;
  for (; e < a->ex->num_experts; e++) {
    size_t b = (size_t)expert_rows(a, e) * a->ex->lw[3 * e].out_dim * sizeof(float);
    if (e > e0 && bytes + b > max_buffer_bytes) break;
    bytes += b;
  }
  return e;
}

/* Both regions for the job's group; tasks of the second limited to `chunk_tasks`. */
static void run_regions(moe_job *job, int num_threads, int chunk_tasks) {
  atomic_init(&job->next_item, 0);
  if (job->num_items > 0) xds_pool_run_claimed(items_task, job, num_threads < job->num_items ? num_threads : job->num_items);
  atomic_init(&job->next_chunk, 0);
  xds_pool_run_claimed(chunks_task, job, chunk_tasks < job->num_chunks ? chunk_tasks : job->num_chunks);
}

/* Combine work per task below which splitting columns over threads does not pay, floats. */
#define COMBINE_MIN_FLOATS_PER_TASK 16384

/* Per-token entry lists (a counting sort by token that keeps entry order). tok [2T + 1 + N]:
 * tok_start [T + 1] ‖ tok_entries [N] ‖ fill [T]. */
static void token_layout(moe_job *job, int32_t *tok) {
  const xds_moe_args *a = job->a;
  const int T = a->num_tokens, n = a->offsets[a->ex->num_experts];
  int32_t *start = tok, *entries = tok + T + 1, *fill = entries + n;
  memset(start, 0, (size_t)(T + 1) * sizeof(int32_t));
  for (int j = 0; j < n; j++) start[a->rows[j] + 1]++;
  for (int t = 0; t < T; t++) start[t + 1] += start[t];
  memcpy(fill, start, (size_t)T * sizeof(int32_t));
  for (int j = 0; j < n; j++) entries[fill[a->rows[j]]++] = j;
  job->tok_start = start;
  job->tok_entries = entries;
}

/* The decode layout (moe.c before the prefill layout, unchanged): combine over token chunks. */
static void run_decode(moe_job *job, int32_t *items, size_t *hoff, int32_t *active, int32_t *tok, int num_threads) {
  const xds_moe_args *a = job->a;
  const int n = a->offsets[a->ex->num_experts], T = a->num_tokens;
  job->e0 = 0;
  job->e1 = a->ex->num_experts;
  group_items(job, items, hoff, active);
  token_layout(job, tok);
  job->ybuf = xds_scratch(6, (size_t)n * a->dim * sizeof(float)); /* [N, D] */
  long tasks = (long)n * a->dim / COMBINE_MIN_FLOATS_PER_TASK;
  if (tasks > num_threads) tasks = num_threads;
  if (tasks > T) tasks = T;
  if (tasks < 1) tasks = 1;
  job->num_chunks = T < 4 * tasks ? T : 4 * (int)tasks;
  run_regions(job, num_threads, (int)tasks);
}

static void run_prefill(moe_job *job, int32_t *items, size_t *hoff, int32_t *active, int num_threads) {
  const xds_moe_args *a = job->a;
  job->num_chunks = (a->dim + CHUNK_COLS - 1) / CHUNK_COLS;
  for (int e0 = 0; e0 < a->ex->num_experts; e0 = job->e1) {
    job->e0 = e0;
    job->e1 = group_end(a, e0);
    group_items(job, items, hoff, active);
    job->hbuf = xds_scratch(6, group_h_floats(job) * sizeof(float) + 64);
    run_regions(job, num_threads, num_threads);
    job->zero_out = 0;
  }
}

/* Decode layout: few entries, fewer than PREFILL_ROWS rows per active expert, or an [N, D] buffer
 * within the cap (chosen from the routing alone, so the thread count never changes a result). */
static int use_decode_layout(const xds_moe_args *a) {
  const int E = a->ex->num_experts, n = a->offsets[E];
  int active = 0;
  for (int e = 0; e < E; e++) active += expert_rows(a, e) > 0;
  if (n <= SMALL_ENTRIES) return 1;
  return n < PREFILL_ROWS * active && (size_t)n * a->dim * sizeof(float) <= max_buffer_bytes;
}

void xds_moe_experts_run(const xds_moe_args *a, int num_threads) {
  const int E = a->ex->num_experts;
  if (a->num_tokens <= 0 || a->dim <= 0) return;
  int max_items = 0;
  for (int e = 0; e < E; e++) max_items += item_blocks(expert_rows(a, e));
  /* [E] h offsets (size_t) ‖ int32: [max_items] items ‖ [E] active experts ‖ [2T + 1 + N] token layout */
  const size_t ints = (size_t)max_items + E + 2 * (size_t)a->num_tokens + 1 + (size_t)a->offsets[E];
  size_t *hoff = xds_scratch(7, (size_t)E * sizeof(size_t) + ints * sizeof(int32_t) + 8);
  int32_t *items = (int32_t *)(hoff + E), *active = items + max_items, *tok = active + E;
  moe_job job = { .a = a, .zero_out = 1 };
  if (use_decode_layout(a)) run_decode(&job, items, hoff, active, tok, num_threads);
  else run_prefill(&job, items, hoff, active, num_threads);
}
