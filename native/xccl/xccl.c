/*
 * XCCL native addon (paper notes §2.4; CPU-FACTS.md §3): maps a /dev/shm file shared by ranks
 * that are separate processes on one host, and gives them futex wait/wake across processes
 * (no FUTEX_PRIVATE_FLAG). Also a C two-thread memcpy ping-pong, the hardware baseline of
 * `xdeepserve bench xccl`, `axpy` for the weighted sums of EP combine, and `pinThread` (CPU
 * affinity of a bench rank), `copy` / `copyClaimed` for big p2p copies. Built to build/xccl.node by scripts/build-native.mjs.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, #call " failed"); return NULL; } } while (0)

static napi_value throw_errno(napi_env env, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
  napi_throw_error(env, "XCCL_NATIVE", msg);
  return NULL;
}

static void unmap_cb(napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

/* open(path, size) -> ArrayBuffer over a MAP_SHARED mapping of the file (created if missing). */
static napi_value shm_open_map(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[512]; size_t len; double dsize;
  CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
  CHECK(napi_get_value_double(env, argv[1], &dsize));
  size_t size = (size_t)dsize;
  int fd = open(path, O_RDWR | O_CREAT, 0600);
  if (fd < 0) return throw_errno(env, path);
  struct stat st;
  if (fstat(fd, &st) != 0) { close(fd); return throw_errno(env, path); }
  if ((size_t)st.st_size < size && ftruncate(fd, (off_t)size) != 0) { close(fd); return throw_errno(env, path); }
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return throw_errno(env, "mmap");
  napi_value ab;
  CHECK(napi_create_external_arraybuffer(env, p, size, unmap_cb, (void *)(uintptr_t)size, &ab));
  return ab;
}

static napi_value shm_unlink_path(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[512]; size_t len;
  CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
  napi_value r;
  CHECK(napi_get_boolean(env, unlink(path) == 0, &r));
  return r;
}

static int32_t *word_ptr(napi_env env, napi_value arr, napi_value idx) {
  napi_typedarray_type type; size_t length; void *data; napi_value ab; size_t off; uint32_t i;
  if (napi_get_typedarray_info(env, arr, &type, &length, &data, &ab, &off) != napi_ok || type != napi_int32_array) return NULL;
  if (napi_get_value_uint32(env, idx, &i) != napi_ok || i >= length) return NULL;
  return (int32_t *)data + i;
}

/* futexWait(i32, idx, expected, timeoutMs) -> 0 woken, 1 value differed, 2 timed out */
static napi_value futex_wait(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t *w = word_ptr(env, argv[0], argv[1]);
  if (!w) { napi_throw_type_error(env, NULL, "futexWait(Int32Array, index, expected, ms)"); return NULL; }
  int32_t expected; double ms;
  CHECK(napi_get_value_int32(env, argv[2], &expected));
  CHECK(napi_get_value_double(env, argv[3], &ms));
  struct timespec ts = { (time_t)(ms / 1000), (long)((ms - (double)(long)(ms / 1000) * 1000) * 1e6) };
  long r = syscall(SYS_futex, w, FUTEX_WAIT, expected, &ts, NULL, 0);
  int code = r == 0 ? 0 : errno == EAGAIN ? 1 : errno == ETIMEDOUT ? 2 : 0;
  napi_value out;
  CHECK(napi_create_int32(env, code, &out));
  return out;
}

/* futexWake(i32, idx, n) -> number woken */
static napi_value futex_wake(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t *w = word_ptr(env, argv[0], argv[1]);
  if (!w) { napi_throw_type_error(env, NULL, "futexWake(Int32Array, index, n)"); return NULL; }
  int32_t n;
  CHECK(napi_get_value_int32(env, argv[2], &n));
  long r = syscall(SYS_futex, w, FUTEX_WAKE, n, NULL, NULL, 0);
  napi_value out;
  CHECK(napi_create_int32(env, (int32_t)r, &out));
  return out;
}

/* ---- Baseline: two pthreads, memcpy in on one core, flag, memcpy out on the other. ----
 * With copies = 1 the peer copies nothing: the one-copy floor of a transfer that writes straight
 * into the receiver's memory (the zero-copy p2p path), against which two copies are no fair bar. */
typedef struct { size_t bytes; int iters, copies; char *src, *mid, *dst; _Atomic int flag, ack; double *ns; } pp_t;

static double now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (double)t.tv_sec * 1e9 + (double)t.tv_nsec; }

static void *pp_peer(void *arg) {
  pp_t *p = arg;
  for (int i = 1; i <= p->iters; i++) {
    while (atomic_load_explicit(&p->flag, memory_order_acquire) != i) {}
    if (p->copies == 2) memcpy(p->dst, p->mid, p->bytes);
    atomic_store_explicit(&p->ack, i, memory_order_release);
  }
  return NULL;
}

/* memcpyPingPong(bytes, iters, copies = 2) -> Float64Array of per-iteration ns (send + copy out + ack). */
static napi_value memcpy_ping_pong(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double dbytes; int32_t iters, copies = 2;
  CHECK(napi_get_value_double(env, argv[0], &dbytes));
  CHECK(napi_get_value_int32(env, argv[1], &iters));
  if (argc >= 3) CHECK(napi_get_value_int32(env, argv[2], &copies));
  if (copies != 1 && copies != 2) { napi_throw_range_error(env, NULL, "memcpyPingPong: copies must be 1 or 2"); return NULL; }
  pp_t p = { (size_t)dbytes, iters, copies, malloc((size_t)dbytes), malloc((size_t)dbytes), malloc((size_t)dbytes), 0, 0, NULL };
  napi_value ab, out; void *nsData;
  CHECK(napi_create_arraybuffer(env, sizeof(double) * (size_t)iters, &nsData, &ab));
  p.ns = nsData;
  memset(p.src, 1, p.bytes); memset(p.mid, 0, p.bytes); memset(p.dst, 0, p.bytes);
  pthread_t t;
  pthread_create(&t, NULL, pp_peer, &p);
  for (int i = 1; i <= iters; i++) {
    double t0 = now_ns();
    memcpy(p.mid, p.src, p.bytes);
    atomic_store_explicit(&p.flag, i, memory_order_release);
    while (atomic_load_explicit(&p.ack, memory_order_acquire) != i) {}
    p.ns[i - 1] = now_ns() - t0;
  }
  pthread_join(t, NULL);
  free(p.src); free(p.mid); free(p.dst);
  CHECK(napi_create_typedarray(env, napi_float64_array, (size_t)iters, ab, 0, &out));
  return out;
}

/* Data pointer and element count of a typed array of type `want`; NULL for anything else. */
static void *typed_ptr(napi_env env, napi_value arr, napi_typedarray_type want, size_t *len) {
  napi_typedarray_type type; void *data; napi_value ab; size_t off;
  if (napi_get_typedarray_info(env, arr, &type, len, &data, &ab, &off) != napi_ok || type != want) return NULL;
  return data;
}

/* axpy(dst f32, dstOff, src f32, srcOff, n, w): dst[dstOff+i] += w * src[srcOff+i]; the EP combine sums. */
static napi_value axpy(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t dlen, slen; uint32_t doff, soff, n; double w;
  float *d = typed_ptr(env, argv[0], napi_float32_array, &dlen), *s = typed_ptr(env, argv[2], napi_float32_array, &slen);
  if (!d || !s || napi_get_value_uint32(env, argv[1], &doff) != napi_ok || napi_get_value_uint32(env, argv[3], &soff) != napi_ok
      || napi_get_value_uint32(env, argv[4], &n) != napi_ok || napi_get_value_double(env, argv[5], &w) != napi_ok
      || (size_t)doff + n > dlen || (size_t)soff + n > slen) {
    napi_throw_range_error(env, NULL, "axpy(dst: Float32Array, dstOff, src: Float32Array, srcOff, n, w) out of range");
    return NULL;
  }
  float wf = (float)w; float *dp = d + doff; const float *sp = s + soff;
  for (uint32_t i = 0; i < n; i++) dp[i] += wf * sp[i];
  return NULL;
}

/*
 * dst = src for n bytes, as memmove. glibc copies 2-512 KiB with `rep movsb`, and on this project's
 * Zen 3 VMs that runs 5-15x slower (64 KiB: ~44 us instead of ~2.2) when the destination is 1-31
 * bytes ahead of the source modulo 4 KiB, presumably because the microcode cannot rule out an
 * overlap from the page offsets (docs/xccl.md, "4 KiB-aliased copies"). A p2p ring slot's payload
 * starts 24 bytes into its slot, so a put from a 64-byte-aligned buffer hit it on every chunk. At
 * those distances, when the ranges do not overlap, a loop of 128-byte moves does the copy instead
 * (64 KiB: ~3.1 us); outside that range glibc's own choice is as fast or faster.
 */
static void copy_any(uint8_t *d, const uint8_t *s, size_t n) {
  const size_t dist = (size_t)((uintptr_t)d - (uintptr_t)s) & 4095;
  const int overlap = d < s + n && s < d + n;
  if (n <= 2048 || n >= (512u << 10) || dist == 0 || dist >= 32 || overlap) { memmove(d, s, n); return; }
  size_t i = 0;
  for (; i + 128 <= n; i += 128) __builtin_memcpy(d + i, s + i, 128);
  memcpy(d + i, s + i, n - i);
}

/* copy(dst u8, dstOff, src u8, srcOff, n): copy_any of n bytes (big p2p chunks; V8's set on shared buffers is slower). */
static napi_value copy_bytes(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t dlen, slen; double doff, soff, n;
  uint8_t *d = typed_ptr(env, argv[0], napi_uint8_array, &dlen), *s = typed_ptr(env, argv[2], napi_uint8_array, &slen);
  if (!d || !s || napi_get_value_double(env, argv[1], &doff) != napi_ok || napi_get_value_double(env, argv[3], &soff) != napi_ok
      || napi_get_value_double(env, argv[4], &n) != napi_ok || doff < 0 || soff < 0 || n < 0 || doff + n > (double)dlen || soff + n > (double)slen) {
    napi_throw_range_error(env, NULL, "copy(dst: Uint8Array, dstOff, src: Uint8Array, srcOff, n) out of range");
    return NULL;
  }
  copy_any(d + (size_t)doff, s + (size_t)soff, (size_t)n);
  return NULL;
}

/*
 * copyClaimed(dst u8, dstOff, src u8, srcOff, n, pieceBytes, claim i32, claimIdx, progress i32,
 * progressIdx) -> pieces this call copied: the copy of copy() in pieces that the caller claims one
 * by one from the counter claim[claimIdx] (atomic fetch-add, as Atomics.add), each followed by a
 * sequentially consistent add of 1 to progress[progressIdx]. A zero-copy send and, when the send's
 * source lies in shared memory, its receiver both run it on the same counters and so split the
 * copy between two cores (src/xccl/p2p-zero-copy.ts). One call for all pieces: a call per piece
 * cost ~0.4 us each and broke the copy's stride (1 MiB in 4 calls: +1.3-2.4 us against one memcpy).
 */
static napi_value copy_claimed(napi_env env, napi_callback_info info) {
  size_t argc = 10; napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t dlen, slen, clen, plen; double doff, soff, n, piece; uint32_t cidx, pidx;
  uint8_t *d = typed_ptr(env, argv[0], napi_uint8_array, &dlen), *s = typed_ptr(env, argv[2], napi_uint8_array, &slen);
  int32_t *claim = typed_ptr(env, argv[6], napi_int32_array, &clen), *progress = typed_ptr(env, argv[8], napi_int32_array, &plen);
  if (!d || !s || !claim || !progress || napi_get_value_double(env, argv[1], &doff) != napi_ok || napi_get_value_double(env, argv[3], &soff) != napi_ok
      || napi_get_value_double(env, argv[4], &n) != napi_ok || napi_get_value_double(env, argv[5], &piece) != napi_ok
      || napi_get_value_uint32(env, argv[7], &cidx) != napi_ok || napi_get_value_uint32(env, argv[9], &pidx) != napi_ok
      || doff < 0 || soff < 0 || n < 0 || piece < 1 || doff + n > (double)dlen || soff + n > (double)slen || cidx >= clen || pidx >= plen) {
    napi_throw_range_error(env, NULL, "copyClaimed(dst: Uint8Array, dstOff, src: Uint8Array, srcOff, n, pieceBytes, claim: Int32Array, claimIdx, progress: Int32Array, progressIdx) out of range");
    return NULL;
  }
  const size_t total = (size_t)n, step = (size_t)piece, pieces = (total + step - 1) / step;
  int32_t mine = 0;
  for (;;) {
    const int32_t c = __atomic_fetch_add(claim + cidx, 1, __ATOMIC_SEQ_CST);
    if (c < 0 || (size_t)c >= pieces) break;
    const size_t at = (size_t)c * step, len = total - at < step ? total - at : step;
    copy_any(d + (size_t)doff + at, s + (size_t)soff + at, len);
    __atomic_fetch_add(progress + pidx, 1, __ATOMIC_SEQ_CST);
    mine++;
  }
  napi_value out;
  CHECK(napi_create_int32(env, mine, &out));
  return out;
}

/* yieldCpu(): sched_yield, so that a spinning waiter lets other runnable threads (its peer) have the core. */
static napi_value yield_cpu(napi_env env, napi_callback_info info) {
  (void)env; (void)info;
  sched_yield();
  return NULL;
}

/*
 * pinThread(index) -> cpu: binds the calling thread to the index-th CPU (mod their count) of the
 * process's allowed set (the main thread's mask at the first call), as latency benchmarks bind their
 * ranks (osu_latency, nccl-tests); -1 when the mask cannot be read or set.
 */
static cpu_set_t allowed_cpus; /* the main thread's mask before any pinning */
static int allowed_ok;
static pthread_once_t allowed_once = PTHREAD_ONCE_INIT;
static void read_allowed(void) { allowed_ok = sched_getaffinity(getpid(), sizeof allowed_cpus, &allowed_cpus) == 0 && CPU_COUNT(&allowed_cpus) > 0; }

static napi_value pin_thread(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1]; uint32_t index;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_uint32(env, argv[0], &index) != napi_ok) {
    napi_throw_range_error(env, NULL, "pinThread(index: non-negative integer)");
    return NULL;
  }
  int cpu = -1;
  cpu_set_t one;
  pthread_once(&allowed_once, read_allowed);
  if (allowed_ok) {
    uint32_t k = index % (uint32_t)CPU_COUNT(&allowed_cpus);
    for (int c = 0; c < CPU_SETSIZE && cpu < 0; c++) if (CPU_ISSET(c, &allowed_cpus) && k-- == 0) cpu = c;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0) cpu = -1;
  }
  napi_value out;
  CHECK(napi_create_int32(env, cpu, &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "open", NULL, shm_open_map, NULL, NULL, NULL, napi_default, NULL },
    { "unlink", NULL, shm_unlink_path, NULL, NULL, NULL, napi_default, NULL },
    { "futexWait", NULL, futex_wait, NULL, NULL, NULL, napi_default, NULL },
    { "futexWake", NULL, futex_wake, NULL, NULL, NULL, napi_default, NULL },
    { "memcpyPingPong", NULL, memcpy_ping_pong, NULL, NULL, NULL, napi_default, NULL },
    { "axpy", NULL, axpy, NULL, NULL, NULL, napi_default, NULL },
    { "copy", NULL, copy_bytes, NULL, NULL, NULL, napi_default, NULL },
    { "copyClaimed", NULL, copy_claimed, NULL, NULL, NULL, napi_default, NULL },
    { "yieldCpu", NULL, yield_cpu, NULL, NULL, NULL, napi_default, NULL },
    { "pinThread", NULL, pin_thread, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
