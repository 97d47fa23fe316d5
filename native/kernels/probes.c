/*
 * Machine ceilings measured in the same process as the kernels (CPU-FACTS.md §1, §7.6: gate on
 * ratios, not absolute numbers): a streaming read with 4 independent AVX2 accumulators, and 12
 * independent AVX2 FMA chains. The caller times them; each returns the work it did.
 */
#include "kernels.h"
#include <immintrin.h>

static volatile double probe_sink;

typedef struct { const uint8_t *buf; size_t bytes; long iters; double sums[256]; } probe_job;

static void read_task(void *arg, int task, int num_tasks) {
  probe_job *job = arg;
  size_t chunks = job->bytes / 128, per = (chunks + num_tasks - 1) / num_tasks;
  size_t c0 = per * task, c1 = c0 + per < chunks ? c0 + per : chunks;
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t c = c0; c < c1; c++) {
    const __m256i *p = (const __m256i *)(job->buf + c * 128);
    a0 = _mm256_add_epi64(a0, _mm256_loadu_si256(p));
    a1 = _mm256_add_epi64(a1, _mm256_loadu_si256(p + 1));
    a2 = _mm256_add_epi64(a2, _mm256_loadu_si256(p + 2));
    a3 = _mm256_add_epi64(a3, _mm256_loadu_si256(p + 3));
  }
  __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  job->sums[task] = (double)_mm256_extract_epi64(s, 0) + (double)_mm256_extract_epi64(s, 3);
}

double xds_read_probe(const uint8_t *buf, size_t bytes, int num_threads) {
  probe_job job = { .buf = buf, .bytes = bytes };
  if (num_threads > 256) num_threads = 256;
  xds_pool_run(read_task, &job, num_threads);
  probe_sink = job.sums[0];
  return (double)(bytes / 128 * 128);
}

static void fma_task(void *arg, int task, int num_tasks) {
  (void)num_tasks;
  probe_job *job = arg;
  __m256 m = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  __m256 c[12];
  for (int i = 0; i < 12; i++) c[i] = _mm256_set1_ps((float)i);
  for (long it = 0; it < job->iters; it++) {
    c[0] = _mm256_fmadd_ps(c[0], m, b); c[1] = _mm256_fmadd_ps(c[1], m, b);
    c[2] = _mm256_fmadd_ps(c[2], m, b); c[3] = _mm256_fmadd_ps(c[3], m, b);
    c[4] = _mm256_fmadd_ps(c[4], m, b); c[5] = _mm256_fmadd_ps(c[5], m, b);
    c[6] = _mm256_fmadd_ps(c[6], m, b); c[7] = _mm256_fmadd_ps(c[7], m, b);
    c[8] = _mm256_fmadd_ps(c[8], m, b); c[9] = _mm256_fmadd_ps(c[9], m, b);
    c[10] = _mm256_fmadd_ps(c[10], m, b); c[11] = _mm256_fmadd_ps(c[11], m, b);
  }
  __m256 s = c[0];
  for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, c[i]);
  job->sums[task] = (double)_mm256_cvtss_f32(s);
}

double xds_fma_probe(long iters, int num_threads) {
  probe_job job = { .iters = iters };
  for (int i = 0; i < 256; i++) job.sums[i] = -1.0;
  if (num_threads > 256) num_threads = 256;
  xds_pool_run(fma_task, &job, num_threads);
  int ran = 0;
  for (int i = 0; i < 256; i++) if (job.sums[i] != -1.0) ran++;
  probe_sink = job.sums[0];
  return (double)iters * 12.0 * 8.0 * 2.0 * ran;
}
