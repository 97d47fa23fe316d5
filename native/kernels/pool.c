/*
 * The addon's own thread pool (CPU-FACTS.md §2e, §7.3): N-1 pthreads plus the caller, rows split
 * per kernel call, spin-then-park synchronization. Idle workers spin for a short time (spin_us,
 * default 50 µs) waiting for the next call, then park on a futex so they do not fight Node's own
 * thread for the 2 cores. A call with one task never touches the pool. When another JS thread
 * (another rank in the same process) holds the pool, the caller runs all tasks itself. Regions
 * whose tasks claim work from a counter (matmul, MoE experts) wait only for the workers that
 * joined before the caller ran out of work (xds_pool_run_claimed).
 */
#define _GNU_SOURCE
#include "kernels.h"
#include <immintrin.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define XDS_MAX_WORKERS 255

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int num_workers = 0;
static _Atomic uint32_t generation = 0;   /* futex word: bumped once per parallel region */
static _Atomic int num_sleepers = 0;
static _Atomic int num_pending = 0;       /* worker tasks of the current region not yet done */
static _Atomic int spin_us = 50;
static xds_task_fn job_fn;
static void *job_arg;
static int job_num_tasks;
static int job_claimed;                   /* 1: tasks claim work from a shared counter (xds_pool_run_claimed) */
/* Claimed regions only: (even generation of the region) << 32 | JOIN_CLOSED | workers that joined. */
static _Atomic uint64_t join_word = 0;
static _Atomic int num_finished = 0;      /* claimed regions: joined workers that have returned */
#define JOIN_CLOSED (1ull << 31)

void xds_pool_set_spin_us(int us) { atomic_store(&spin_us, us < 0 ? 0 : us); }
int xds_pool_num_workers(void) { return num_workers; }
int xds_pool_all_parked(void) { return atomic_load_explicit(&num_sleepers, memory_order_relaxed) >= num_workers; }

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t expected) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *addr) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* Spins until generation != seen, parking after spin_us. Returns the new generation. */
static uint32_t wait_for_job(uint32_t seen) {
  uint64_t deadline = now_ns() + (uint64_t)atomic_load(&spin_us) * 1000ull;
  for (unsigned i = 1;; i++) {
    uint32_t g = atomic_load_explicit(&generation, memory_order_acquire);
    if (g != seen) return g;
    if ((i & 255) == 0 && now_ns() > deadline) {
      atomic_fetch_add(&num_sleepers, 1);
      futex_wait(&generation, seen);
      atomic_fetch_sub(&num_sleepers, 1);
    } else {
      _mm_pause();
    }
  }
}

typedef struct { int id; uint32_t start_generation; } worker_init;

/* Claimed region of generation g: joins it unless the caller has closed it (or it is over). */
static int join_region(uint32_t g) {
  uint64_t w = atomic_load_explicit(&join_word, memory_order_acquire);
  for (;;) {
    if ((uint32_t)(w >> 32) != g || (w & JOIN_CLOSED)) return 0;
    if (atomic_compare_exchange_weak_explicit(&join_word, &w, w + 1, memory_order_acq_rel, memory_order_acquire)) return 1;
  }
}

static void run_worker_task(uint32_t g, xds_task_fn fn, void *arg, int id, int n, int claimed) {
  if (!claimed) {
    fn(arg, id, n);
    atomic_fetch_sub_explicit(&num_pending, 1, memory_order_acq_rel);
  } else if (join_region(g)) {
    fn(arg, id, n);
    atomic_fetch_add_explicit(&num_finished, 1, memory_order_acq_rel);
  }
}

/* NOTE: `generation` is also a seqlock over the job fields: odd while the caller writes them,
 * even (2·region) once they are complete, so a worker that does not take part in a region never
 * acts on a half-written job of the next one. */
static void *worker_main(void *p) {
  worker_init init = *(worker_init *)p;
  free(p);
  uint32_t seen = init.start_generation;
  for (;;) {
    uint32_t g = wait_for_job(seen), g2;
    xds_task_fn fn;
    void *arg;
    int n, claimed;
    for (;;) {
      g = atomic_load_explicit(&generation, memory_order_acquire);
      if (g & 1u) { _mm_pause(); continue; }
      fn = job_fn; arg = job_arg; n = job_num_tasks; claimed = job_claimed;
      g2 = atomic_load_explicit(&generation, memory_order_acquire);
      if (g2 == g) break;
    }
    seen = g;
    if (init.id < n) run_worker_task(g, fn, arg, init.id, n, claimed);
  }
  return NULL;
}

/* Called with pool_lock held. Returns how many workers exist after trying to grow to `want`. */
static int grow_pool(int want) {
  if (want > XDS_MAX_WORKERS) want = XDS_MAX_WORKERS;
  while (num_workers < want) {
    worker_init *init = malloc(sizeof *init);
    if (!init) break;
    init->id = num_workers + 1;
    init->start_generation = atomic_load(&generation);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, worker_main, init);
    pthread_attr_destroy(&attr);
    if (rc != 0) { free(init); break; }
    num_workers++;
  }
  return num_workers;
}

static void run_serial(xds_task_fn fn, void *arg, int num_tasks) {
  for (int t = 0; t < num_tasks; t++) fn(arg, t, num_tasks);
}

/* Spins until *counter == target (acquire); yields the core now and then. */
static void wait_count(_Atomic int *counter, int target) {
  /* NOTE: a worker that is not scheduled (loaded host) gets this core after a short spin. */
  for (unsigned i = 1; atomic_load_explicit(counter, memory_order_acquire) != target; i++) {
    if (i % 4096 == 0) sched_yield();
    else _mm_pause();
  }
}

/* Publishes the job (generation odd while writing, even when complete) and wakes parked workers. */
static void publish(xds_task_fn fn, void *arg, int num_tasks, int claimed) {
  uint32_t g = atomic_fetch_add(&generation, 1) + 2; /* odd now: writing; g is the region's even value */
  job_fn = fn;
  job_arg = arg;
  job_num_tasks = num_tasks;
  job_claimed = claimed;
  atomic_store(&num_pending, num_tasks - 1);
  atomic_store(&num_finished, 0);
  atomic_store(&join_word, (uint64_t)g << 32);
  atomic_fetch_add(&generation, 1); /* even: published */
  if (atomic_load(&num_sleepers) > 0) futex_wake_all(&generation);
}

/* Takes the pool for num_tasks tasks; returns the task count it got (<= 1: run alone, not held). */
static int acquire(int num_tasks) {
  if (num_tasks <= 1) return 1;
  if (pthread_mutex_trylock(&pool_lock) != 0) return -1;
  int workers = grow_pool(num_tasks - 1);
  if (workers < num_tasks - 1) num_tasks = workers + 1;
  if (num_tasks <= 1) pthread_mutex_unlock(&pool_lock);
  return num_tasks;
}

void xds_pool_run(xds_task_fn fn, void *arg, int num_tasks) {
  int n = acquire(num_tasks);
  if (n < 0) { run_serial(fn, arg, num_tasks); return; }
  if (n <= 1) { fn(arg, 0, 1); return; }
  publish(fn, arg, n, 0);
  fn(arg, 0, n);
  wait_count(&num_pending, 0);
  pthread_mutex_unlock(&pool_lock);
}

/*
 * NOTE: for tasks that claim work from a shared counter, a task that starts late finds nothing
 * left. So once the caller's own task returns (no work left to claim), it closes the region and
 * waits only for the workers that joined before that (they are running and hold claimed work);
 * a worker the OS has not scheduled yet (loaded host, or still waking from its futex) no longer
 * delays the call: it sees the region closed and goes back to waiting.
 */
void xds_pool_run_claimed(xds_task_fn fn, void *arg, int num_tasks) {
  int n = acquire(num_tasks);
  if (n < 0) { run_serial(fn, arg, num_tasks); return; }
  if (n <= 1) { fn(arg, 0, 1); return; }
  publish(fn, arg, n, 1);
  fn(arg, 0, n);
  uint64_t w = atomic_fetch_or_explicit(&join_word, JOIN_CLOSED, memory_order_acq_rel);
  wait_count(&num_finished, (int)(w & (JOIN_CLOSED - 1)));
  pthread_mutex_unlock(&pool_lock);
}

void xds_split(int n, int align, int task, int num_tasks, int *begin, int *end) {
  int units = (n + align - 1) / align;
  int per = units / num_tasks, extra = units % num_tasks;
  int b = task * per + (task < extra ? task : extra);
  int e = b + per + (task < extra ? 1 : 0);
  *begin = b * align < n ? b * align : n;
  *end = e * align < n ? e * align : n;
}

#define XDS_SCRATCH_SLOTS 8
static __thread void *scratch_ptr[XDS_SCRATCH_SLOTS];
static __thread size_t scratch_len[XDS_SCRATCH_SLOTS];

void *xds_scratch(int slot, size_t bytes) {
  if (scratch_len[slot] >= bytes) return scratch_ptr[slot];
  free(scratch_ptr[slot]);
  size_t len = (bytes + 4095) & ~(size_t)4095;
  if (posix_memalign(&scratch_ptr[slot], 64, len) != 0) { scratch_ptr[slot] = NULL; scratch_len[slot] = 0; return NULL; }
  scratch_len[slot] = len;
  return scratch_ptr[slot];
}

static int avx2_only = 0;
void xds_set_max_isa(int only_avx2) { avx2_only = only_avx2; }

int xds_cpu_has_avx512vnni(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
}

int xds_use_vnni(void) { return !avx2_only && xds_cpu_has_avx512vnni(); }
