/*
 * Matmul dispatch (ComputeBackend.matmul): picks GEMV (decode, few rows) or the packed GEMM
 * (prefill), quantizes activations once per call for int8 decode, and splits output channels
 * over the pool so each thread streams only its own weight rows (CPU-FACTS.md §3 findings).
 * NOTE: this is mechanism; the thresholds below are measured crossovers, not policy.
 */
#include "kernels.h"
#include <stdatomic.h>
#include <string.h>

/*
 * Rows from which the packed GEMM beats GEMV; settable. Measured (AVX2, 1024², CPU time): f32 GEMV
 * wins below ~16 rows (GEMM pays for packing); the per-channel int8 GEMV with q8 activations beats
 * the dequantizing GEMM at every size measured (up to 128 rows), so it stays on it by default.
 */
static int gemm_min_rows_float = 16;
static int gemm_min_rows_int8 = 1 << 30;

void xds_set_gemm_min_rows(int float_rows, int int8_rows) {
  if (float_rows > 0) gemm_min_rows_float = float_rows;
  if (int8_rows > 0) gemm_min_rows_int8 = int8_rows;
}
/* Below this many weight bytes per thread a parallel region costs more than it saves. */
#define MIN_BYTES_PER_TASK (64 * 1024)
/* Chunks of output channels per thread, claimed dynamically. */
#define CHUNKS_PER_TASK 8

typedef struct {
  _Atomic int next_chunk;  /* chunks are claimed dynamically: a descheduled thread delays nobody */
  int num_chunks;
  const xds_linear *lw;
  const float *x;
  float *y;
  int rows;
  int use_gemm;
  const int8_t *xq;
  const float *xs;
  const uint16_t *panels;  /* prepared bf16 panels of lw (GEMM only), or NULL */
} matmul_job;

static size_t weight_bytes(const xds_linear *lw) {
  size_t elem = lw->format == XDS_F32 ? 4 : lw->format == XDS_BF16 ? 2 : 1;
  return (size_t)lw->out_dim * (size_t)lw->in_dim * elem;
}

static void add_bias(const xds_linear *lw, float *y, int rows, int o0, int o1) {
  if (!lw->bias) return;
  for (int r = 0; r < rows; r++) {
    float *yr = y + (size_t)r * lw->out_dim;
    for (int o = o0; o < o1; o++) yr[o] += lw->bias[o];
  }
}

static int is_per_channel(const xds_linear *lw) { return lw->group_size >= lw->in_dim; }

/*
 * Batch-1 int8 rows shorter than a 4 KiB page: the sequential-stream GEMVs. Interleaving 2 or 4
 * weight rows splits each page into short streams the prefetcher does not follow (DRAM, CPU time:
 * in_dim 1024: 55 % of the read probe interleaved, 90 % streamed; 2048: 75 % vs 85 %); from 4096
 * the interleaved kernel wins (90 % vs 80 %: it shares activation loads across rows).
 */
#define STREAM_MAX_IN_DIM 4096
static void matmul_int8_one_row(const matmul_job *job, int o0, int o1) {
  const int vnni = xds_use_vnni();
  if (is_per_channel(job->lw)) (vnni ? xds_gemv_int8_rowscale_stream_vnni : xds_gemv_int8_rowscale_stream)(job->lw, job->xq, job->xs, job->y, o0, o1);
  else (vnni ? xds_gemv_int8_stream_vnni : xds_gemv_int8_stream)(job->lw, job->xq, job->xs, job->y, o0, o1);
}

/* Output channels [o0, o1) for all rows (next_o0: see xds_gemm_packed). */
static void matmul_range(const matmul_job *job, const float *xp, int o0, int o1, int next_o0) {
  if (job->use_gemm) xds_gemm_packed(job->lw, job->panels, job->x, xp, job->rows, job->y, o0, o1, next_o0);
  else if (job->lw->format != XDS_INT8) xds_gemv_float(job->lw, job->x, job->rows, job->y, o0, o1);
  else if (job->rows == 1 && job->lw->in_dim < STREAM_MAX_IN_DIM) matmul_int8_one_row(job, o0, o1);
  else if (is_per_channel(job->lw)) {
    if (xds_use_vnni()) xds_gemv_int8_rowscale_vnni(job->lw, job->xq, job->xs, job->rows, job->y, o0, o1);
    else xds_gemv_int8_rowscale(job->lw, job->xq, job->xs, job->rows, job->y, o0, o1);
  }
  else if (xds_use_vnni()) xds_gemv_int8_vnni(job->lw, job->xq, job->xs, job->rows, job->y, o0, o1);
  else xds_gemv_int8(job->lw, job->xq, job->xs, job->rows, job->y, o0, o1);
  add_bias(job->lw, job->y, job->rows, o0, o1);
}

/*
 * NOTE: output channels are cut into a few chunks per thread that every thread claims in turn,
 * so on a loaded host a thread that is not scheduled leaves its share to the others. Each output
 * is still computed by exactly one thread with the same arithmetic: results do not depend on it.
 * The GEMM claims one chunk ahead, so that it prefetches that chunk's first weights while it
 * computes the last strip of the current one (a chunk's first strip was packed from DRAM).
 */
static int claim(matmul_job *job) { return atomic_fetch_add_explicit(&job->next_chunk, 1, memory_order_relaxed); }

static void matmul_task(void *arg, int task, int num_tasks) {
  matmul_job *job = arg;
  (void)task;
  (void)num_tasks;
  const int align = job->use_gemm ? xds_gemm_strip(job->rows) : 16;
  const int pack = align == XDS_GEMM_NR && job->lw->out_dim >= XDS_GEMM_PACK_ROWS_MIN_OUT;
  const float *xp = NULL; /* the GEMM's packed rows, once per thread and call */
  for (int c = claim(job), next; c < job->num_chunks; c = next) {
    next = job->use_gemm ? claim(job) : job->num_chunks;
    int o0, o1, n0 = -1, n1 = -1;
    xds_split(job->lw->out_dim, align, c, job->num_chunks, &o0, &o1);
    if (next < job->num_chunks) xds_split(job->lw->out_dim, align, next, job->num_chunks, &n0, &n1);
    if (pack && !xp && o0 < o1) xp = xds_gemm_pack_rows(job->x, job->rows, job->lw->in_dim);
    if (o0 < o1) matmul_range(job, xp, o0, o1, n0 < n1 ? n0 : -1);
    if (!job->use_gemm) next = claim(job);
  }
}

/* Per-32-block int8 converts and scales every block; from ~48 rows the dequantizing GEMM wins. */
#define GEMM_MIN_ROWS_INT8_BLOCKS 48

static int gemm_min_rows(const xds_linear *lw) {
  if (lw->format != XDS_INT8) return gemm_min_rows_float;
  if (is_per_channel(lw) || gemm_min_rows_int8 < GEMM_MIN_ROWS_INT8_BLOCKS) return gemm_min_rows_int8;
  return GEMM_MIN_ROWS_INT8_BLOCKS;
}

/*
 * NOTE: waking parked workers costs 15-70 µs here (futex; on a loaded host the woken worker can
 * preempt the caller), more than a GEMV over less than ~1 MiB takes alone; spinning workers
 * (a region ended < spin_us ago) are cheap to use.
 */
#define WAKE_MIN_BYTES (1024 * 1024)

static int choose_tasks(const xds_linear *lw, int rows, int num_threads) {
  size_t work = weight_bytes(lw) * (size_t)(rows < 8 ? 1 : rows / 8);
  if (work < WAKE_MIN_BYTES && xds_pool_all_parked()) return 1;
  int by_work = (int)(work / MIN_BYTES_PER_TASK);
  int by_rows = (lw->out_dim + 15) / 16;
  int n = num_threads;
  if (n > by_work) n = by_work;
  if (n > by_rows) n = by_rows;
  return n < 1 ? 1 : n;
}

void xds_matmul(const xds_linear *lw, const float *x, float *y, int rows, int num_threads) {
  xds_matmul_panels(lw, NULL, x, y, rows, num_threads);
}

void xds_matmul_panels(const xds_linear *lw, const uint16_t *panels, const float *x, float *y, int rows, int num_threads) {
  matmul_job job = { .lw = lw, .x = x, .y = y, .rows = rows, .num_chunks = 1 };
  if (rows <= 0 || lw->out_dim <= 0) return;
  if (lw->in_dim == 0) {
    for (int r = 0; r < rows; r++) memset(y + (size_t)r * lw->out_dim, 0, (size_t)lw->out_dim * sizeof(float));
    add_bias(lw, y, rows, 0, lw->out_dim);
    return;
  }
  job.use_gemm = rows >= gemm_min_rows(lw);
  job.panels = job.use_gemm && lw->format == XDS_BF16 ? panels : NULL;
  if (lw->format == XDS_INT8 && !job.use_gemm) {
    int kp = (lw->in_dim + 31) / 32 * 32;
    int8_t *xq = xds_scratch(1, (size_t)rows * kp);
    float *xs = xds_scratch(2, (size_t)rows * (kp / 32) * sizeof(float));
    for (int r = 0; r < rows; r++) {
      const float *xr = x + (size_t)r * lw->in_dim;
      if (is_per_channel(lw)) xds_quantize_row_q8_rowscale(xr, lw->in_dim, xq + (size_t)r * kp, xs + r);
      else xds_quantize_row_q8(xr, lw->in_dim, xq + (size_t)r * kp, xs + (size_t)r * (kp / 32));
    }
    job.xq = xq;
    job.xs = xs;
  }
  const int align = job.use_gemm ? xds_gemm_strip(rows) : 16;
  int tasks = choose_tasks(lw, rows, num_threads), units = (lw->out_dim + align - 1) / align;
  job.num_chunks = tasks == 1 ? 1 : (units < tasks * CHUNKS_PER_TASK ? units : tasks * CHUNKS_PER_TASK);
  atomic_init(&job.next_chunk, 0);
  xds_pool_run_claimed(matmul_task, &job, tasks);
}
