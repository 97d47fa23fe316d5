/*
 * All routed experts of one MoE layer in one call (ComputeBackend.moeExperts; MODELS.md §1.2, §3,
 * §4.5; paper §2.1 "moe"; issue 4 serving scaling). At a decode batch of 32 the `small` preset sends
 * ~3 token rows to each of ~58 experts: one matmul call per expert projection cost ~1,300 addon
 * calls and pool regions per step. Here:
 *  - expert-parallel path: pool threads claim whole experts (most rows first, atomic counter);
 *    each gathers its rows into per-thread scratch, runs gate/up/down through xds_matmul on one
 *    thread (the multi-row GEMV / packed GEMM / int8 kernels of matmul.c, every format) with
 *    SiLU-GLU in between, and writes the entry outputs into a shared buffer [N, D]; then a
 *    combine region split over tokens sums each token's entries in increasing entry order.
 *  - expert-serial path (one thread, fewer active experts than threads, or a buffer over the
 *    cap, e.g. a long prefill): experts in index order, threads inside each matmul, each output
 *    added into `out` right away.
 * Both paths add weight·y into a zeroed row entry by entry in expert order with the same axpy, and
 * xds_matmul does not depend on the thread count, so results are bit-identical across paths and
 * thread counts.
 */
#include "kernels.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* NOTE: past this the [N, D] buffer costs more memory than the parallelism over experts is worth. */
static size_t max_buffer_bytes = (size_t)64 << 20;

void xds_moe_set_max_buffer_bytes(double bytes) {
  if (bytes > 0) max_buffer_bytes = (size_t)bytes;
}

/* Combine work per task below which splitting tokens over threads does not pay, floats. */
#define COMBINE_MIN_FLOATS_PER_TASK 16384

typedef struct {
  const xds_moe_args *a;
  const int32_t *order;        /* [num_active] experts with entries, most entries first */
  int num_active;
  float *ybuf;                 /* [N, D] f32 output of every entry */
  const int32_t *tok_start;    /* [T + 1] entries of token t: tok_entries[tok_start[t] ..] */
  const int32_t *tok_entries;  /* [N] entry indices, increasing within each token */
  _Atomic int next;            /* next index into order[] to claim */
  _Atomic int next_chunk;      /* next token chunk of the combine to claim */
  int num_chunks;
} moe_job;

/* y [n, D] = down(silu(gate(xs)) ⊙ up(xs)) over the n rows of expert e, `threads` per matmul. */
static void expert_mlp(const xds_moe_args *a, int e, float *y, int threads) {
  const xds_linear *gate = &a->ex->lw[3 * e], *up = gate + 1, *down = gate + 2;
  const int lo = a->offsets[e], n = a->offsets[e + 1] - lo, D = a->dim, I = gate->out_dim;
  float *xs = xds_scratch(4, (size_t)n * D * sizeof(float));     /* [n, D] gathered token rows */
  float *h = xds_scratch(5, (size_t)2 * n * I * sizeof(float));  /* [n, I] gate ‖ [n, I] up */
  for (int j = 0; j < n; j++) memcpy(xs + (size_t)j * D, a->x + (size_t)a->rows[lo + j] * D, (size_t)D * sizeof(float));
  xds_matmul(gate, xs, h, n, threads);
  xds_matmul(up, xs, h + (size_t)n * I, n, threads);
  xds_silu_mul(h, h + (size_t)n * I, h, (size_t)n * I);
  xds_matmul(down, h, y, n, threads);
}

static void experts_task(void *arg, int task, int num_tasks) {
  moe_job *job = arg;
  (void)task;
  (void)num_tasks;
  for (;;) {
    int i = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
    if (i >= job->num_active) return;
    int e = job->order[i];
    expert_mlp(job->a, e, job->ybuf + (size_t)job->a->offsets[e] * job->a->dim, 1);
  }
}

/* out rows [t0, t1) = Σ weight · ybuf over each token's entries, in entry order. */
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

static void combine_task(void *arg, int task, int num_tasks) {
  moe_job *job = arg;
  (void)task;
  (void)num_tasks;
  for (;;) {
    int c = atomic_fetch_add_explicit(&job->next_chunk, 1, memory_order_relaxed), t0, t1;
    if (c >= job->num_chunks) return;
    xds_split(job->a->num_tokens, 1, c, job->num_chunks, &t0, &t1);
    combine_tokens(job, t0, t1);
  }
}

static __thread const int32_t *cmp_offsets; /* comparator context (qsort has none) */

/* Most entries first, then expert index (the order only balances work, results do not depend on it). */
static int by_entries_desc(const void *pa, const void *pb) {
  int ea = *(const int32_t *)pa, eb = *(const int32_t *)pb;
  int na = cmp_offsets[ea + 1] - cmp_offsets[ea], nb = cmp_offsets[eb + 1] - cmp_offsets[eb];
  return na != nb ? nb - na : ea - eb;
}

/* Experts with entries into order[], sorted; returns their count. */
static int active_experts(const xds_moe_args *a, int32_t *order) {
  int m = 0;
  for (int e = 0; e < a->ex->num_experts; e++)
    if (a->offsets[e + 1] > a->offsets[e]) order[m++] = e;
  cmp_offsets = a->offsets;
  qsort(order, (size_t)m, sizeof *order, by_entries_desc);
  return m;
}

/* Per-token entry lists (a counting sort by token that keeps entry order): tok_start [T+1], tok_entries [N]. */
static void token_layout(const xds_moe_args *a, int n, int32_t *tok_start, int32_t *tok_entries, int32_t *fill) {
  const int T = a->num_tokens;
  memset(tok_start, 0, (size_t)(T + 1) * sizeof(int32_t));
  for (int j = 0; j < n; j++) tok_start[a->rows[j] + 1]++;
  for (int t = 0; t < T; t++) tok_start[t + 1] += tok_start[t];
  memcpy(fill, tok_start, (size_t)T * sizeof(int32_t));
  for (int j = 0; j < n; j++) tok_entries[fill[a->rows[j]]++] = j;
}

static void run_serial_experts(const xds_moe_args *a, int num_threads) {
  const int D = a->dim;
  memset(a->out, 0, (size_t)a->num_tokens * D * sizeof(float));
  for (int e = 0; e < a->ex->num_experts; e++) {
    const int lo = a->offsets[e], n = a->offsets[e + 1] - lo;
    if (n <= 0) continue;
    float *y = xds_scratch(6, (size_t)n * D * sizeof(float)); /* [n, D] this expert's outputs */
    expert_mlp(a, e, y, num_threads);
    for (int j = 0; j < n; j++) xds_axpy_f32(a->out + (size_t)a->rows[lo + j] * D, a->weights[lo + j], y + (size_t)j * D, D);
  }
}

/* ints: [2T + 1 + N] int32 scratch for the token layout. */
static void run_parallel_experts(const xds_moe_args *a, moe_job *job, int32_t *ints, int num_threads) {
  const int T = a->num_tokens, n = a->offsets[a->ex->num_experts];
  int32_t *tok_start = ints, *tok_entries = ints + T + 1, *fill = tok_entries + n;
  token_layout(a, n, tok_start, tok_entries, fill);
  job->ybuf = xds_scratch(6, (size_t)n * a->dim * sizeof(float));
  job->tok_start = tok_start;
  job->tok_entries = tok_entries;
  atomic_init(&job->next, 0);
  xds_pool_run_claimed(experts_task, job, num_threads < job->num_active ? num_threads : job->num_active);
  long per = (long)COMBINE_MIN_FLOATS_PER_TASK, work = (long)n * a->dim;
  int tasks = (int)(work / per);
  if (tasks > num_threads) tasks = num_threads;
  if (tasks > T) tasks = T;
  if (tasks < 1) tasks = 1;
  job->num_chunks = T < 4 * tasks ? T : 4 * tasks;
  atomic_init(&job->next_chunk, 0);
  xds_pool_run_claimed(combine_task, job, tasks);
}

void xds_moe_experts_run(const xds_moe_args *a, int num_threads) {
  const int E = a->ex->num_experts, n = a->offsets[E];
  if (a->num_tokens <= 0 || a->dim <= 0) return;
  /* [E] expert order ‖ [2T + 1 + N] token layout, int32 */
  int32_t *ints = xds_scratch(7, (size_t)(E + 2 * a->num_tokens + 1 + n) * sizeof(int32_t));
  moe_job job = { .a = a, .order = ints };
  job.num_active = active_experts(a, ints);
  size_t buffer_bytes = (size_t)n * (size_t)a->dim * sizeof(float);
  if (num_threads > 1 && job.num_active >= num_threads && buffer_bytes <= max_buffer_bytes) run_parallel_experts(a, &job, ints + E, num_threads);
  else run_serial_experts(a, num_threads);
}
