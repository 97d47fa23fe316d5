/*
 * N-API surface of build/kernels.node (ARCHITECTURE.md "Compute and memory"): thin wrappers that
 * take typed-array views (pointers include byteOffset, no copies) and numbers, and call the C
 * kernels. Shapes and lengths are validated on the TypeScript side (src/kernels/native.ts); this
 * layer only checks that each buffer argument is a typed array, and the block tables' contents.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h>
#include "kernels.h"


#define MAX_ARGS 24
typedef struct { napi_env env; napi_value argv[MAX_ARGS]; size_t argc; bool failed; } call_args;

static call_args get_args(napi_env env, napi_callback_info info) {
  call_args a = { .env = env, .argc = MAX_ARGS, .failed = false };
  napi_get_cb_info(env, info, &a.argc, a.argv, NULL, NULL);
  return a;
}

/* Pointer and element count of typed array i; NULL for null/undefined when optional. */
static void *view(call_args *a, size_t i, size_t *len, bool optional) {
  if (a->failed) return NULL;
  napi_valuetype t = napi_undefined;
  if (i < a->argc) napi_typeof(a->env, a->argv[i], &t);
  if (optional && (t == napi_undefined || t == napi_null)) { if (len) *len = 0; return NULL; }
  bool is = false;
  if (i < a->argc) napi_is_typedarray(a->env, a->argv[i], &is);
  if (!is) { napi_throw_type_error(a->env, NULL, "kernels: expected a typed array argument"); a->failed = true; return NULL; }
  napi_typedarray_type type;
  size_t n = 0;
  void *data = NULL;
  napi_get_typedarray_info(a->env, a->argv[i], &type, &n, &data, NULL, NULL);
  if (len) *len = n;
  return data;
}

static double num(call_args *a, size_t i) {
  double v = 0;
  if (a->failed) return 0;
  if (i >= a->argc || napi_get_value_double(a->env, a->argv[i], &v) != napi_ok) {
    napi_throw_type_error(a->env, NULL, "kernels: expected a number argument");
    a->failed = true;
  }
  return v;
}

static napi_value int_result(napi_env env, int v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

/* matmul(x, format, w, scales|null, groupSize, outDim, inDim, bias|null, y, rows, numThreads) */
static napi_value js_matmul(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  xds_linear lw;
  const float *x = view(&a, 0, NULL, false);
  lw.format = (int)num(&a, 1);
  lw.w = view(&a, 2, NULL, false);
  lw.scales = view(&a, 3, NULL, true);
  lw.group_size = (int)num(&a, 4);
  lw.out_dim = (int)num(&a, 5);
  lw.in_dim = (int)num(&a, 6);
  lw.bias = view(&a, 7, NULL, true);
  float *y = view(&a, 8, NULL, false);
  int rows = (int)num(&a, 9), threads = (int)num(&a, 10);
  if (a.failed) return NULL;
  xds_matmul(&lw, x, y, rows, threads);
  return NULL;
}

/* rmsNorm(x, weight, eps, y, rows, dim) */
static napi_value js_rms_norm(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  const float *x = view(&a, 0, NULL, false), *w = view(&a, 1, NULL, false);
  float eps = (float)num(&a, 2);
  float *y = view(&a, 3, NULL, false);
  int rows = (int)num(&a, 4), dim = (int)num(&a, 5);
  if (!a.failed) xds_rms_norm(x, w, eps, y, rows, dim);
  return NULL;
}

/* siluMul(gate, up, out, n) */
static napi_value js_silu_mul(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  const float *g = view(&a, 0, NULL, false), *u = view(&a, 1, NULL, false);
  float *o = view(&a, 2, NULL, false);
  double n = num(&a, 3);
  if (!a.failed) xds_silu_mul(g, u, o, (size_t)n);
  return NULL;
}

/* softmax(x, rows, n) */
static napi_value js_softmax(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  float *x = view(&a, 0, NULL, false);
  int rows = (int)num(&a, 1), n = (int)num(&a, 2);
  if (!a.failed) xds_softmax_rows(x, rows, n);
  return NULL;
}

/* rope(x, rows, rowStride, numHeads, headStride, offset, positions, invFreq, attnFactor, interleaved, dim) */
static napi_value js_rope(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  float *x = view(&a, 0, NULL, false);
  int rows = (int)num(&a, 1), row_stride = (int)num(&a, 2), heads = (int)num(&a, 3);
  int head_stride = (int)num(&a, 4), offset = (int)num(&a, 5);
  const int32_t *pos = view(&a, 6, NULL, false);
  const float *inv_freq = view(&a, 7, NULL, false);
  float factor = (float)num(&a, 8);
  int interleaved = (int)num(&a, 9), dim = (int)num(&a, 10);
  if (!a.failed) xds_rope(x, rows, row_stride, heads, head_stride, offset, pos, inv_freq, factor, interleaved, dim);
  return NULL;
}

/* Sequences of a paged call from args i..i+2 (seqFirst [S], seqCount [S], seqTable [S+1], all
 * Int32Array or all null = one sequence of num_tokens rows over the whole table); `one` holds
 * the one-sequence arrays. */
typedef struct { int32_t first[1], count[1], table[2]; } one_seq;
static xds_seqs seqs_arg(call_args *a, size_t i, int num_tokens, size_t table_len, one_seq *one) {
  size_t s_len = 0;
  xds_seqs s = { .num_seqs = 1, .first = one->first, .count = one->count, .table = one->table };
  const int32_t *first = view(a, i, &s_len, true);
  one->first[0] = 0; one->count[0] = num_tokens; one->table[0] = 0; one->table[1] = (int32_t)table_len;
  if (first == NULL || a->failed) return s;
  s.num_seqs = (int)s_len;
  s.first = first;
  s.count = view(a, i + 1, NULL, false);
  s.table = view(a, i + 2, NULL, false);
  return s;
}

/* pagedAttention(q, out, kCache, vCache, blockTable, positions, numTokens, numHeads, numKvHeads,
 *                headDim, headDimV, blockSize, scale, slidingWindow, numThreads,
 *                seqFirst|null, seqCount|null, seqTable|null) → status */
static napi_value js_paged_attention(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  xds_gqa_args g;
  one_seq one;
  size_t k_len = 0, table_len = 0;
  g.q = view(&a, 0, NULL, false); g.out = view(&a, 1, NULL, false);
  g.k_cache = view(&a, 2, &k_len, false); g.v_cache = view(&a, 3, NULL, false);
  g.block_table = view(&a, 4, &table_len, false); g.positions = view(&a, 5, NULL, false);
  int num_tokens = (int)num(&a, 6);
  g.num_heads = (int)num(&a, 7); g.num_kv_heads = (int)num(&a, 8);
  g.head_dim = (int)num(&a, 9); g.head_dim_v = (int)num(&a, 10); g.block_size = (int)num(&a, 11);
  g.scale = (float)num(&a, 12); g.sliding_window = (int)num(&a, 13);
  int threads = (int)num(&a, 14);
  g.seqs = seqs_arg(&a, 15, num_tokens, table_len, &one);
  if (a.failed) return NULL;
  long num_blocks = (long)(k_len / ((size_t)g.block_size * g.num_kv_heads * g.head_dim));
  int status = xds_check_paged_seqs(&g.seqs, g.block_table, (int)table_len, g.positions, g.block_size, num_blocks);
  if (status == 0) xds_paged_attention(&g, threads);
  return int_result(env, status);
}

/* pagedMla(q, out, latentCache, blockTable, positions, numTokens, numHeads, kvLoraRank, ropeDim,
 *          blockSize, scale, numThreads, seqFirst|null, seqCount|null, seqTable|null,
 *          ukT|null, kvB data|null, kvB scales|null, kvB bias|null,
 *          absorbDims|null: Int32Array [format, groupSize, outDim, inDim, nopeDim, vDim]) → status */
static napi_value js_paged_mla(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  xds_mla_args m;
  xds_linear kv_b;
  one_seq one;
  size_t lat_len = 0, table_len = 0;
  m.q = view(&a, 0, NULL, false); m.out = view(&a, 1, NULL, false);
  m.latent = view(&a, 2, &lat_len, false);
  m.block_table = view(&a, 3, &table_len, false); m.positions = view(&a, 4, NULL, false);
  int num_tokens = (int)num(&a, 5);
  m.num_heads = (int)num(&a, 6); m.kv_lora_rank = (int)num(&a, 7);
  m.rope_dim = (int)num(&a, 8); m.block_size = (int)num(&a, 9); m.scale = (float)num(&a, 10);
  int threads = (int)num(&a, 11);
  m.seqs = seqs_arg(&a, 12, num_tokens, table_len, &one);
  m.uk_t = view(&a, 15, NULL, true);
  m.kv_b = NULL; m.nope_dim = 0; m.v_dim = 0;
  if (m.uk_t != NULL) {
    kv_b.w = view(&a, 16, NULL, false);
    kv_b.scales = view(&a, 17, NULL, true);
    kv_b.bias = view(&a, 18, NULL, true);
    const int32_t *d = view(&a, 19, NULL, false);
    if (a.failed) return NULL;
    kv_b.format = d[0]; kv_b.group_size = d[1]; kv_b.out_dim = d[2]; kv_b.in_dim = d[3];
    m.nope_dim = d[4]; m.v_dim = d[5]; m.kv_b = &kv_b;
  }
  if (a.failed) return NULL;
  long num_blocks = (long)(lat_len / ((size_t)m.block_size * (m.kv_lora_rank + m.rope_dim)));
  int status = xds_check_paged_seqs(&m.seqs, m.block_table, (int)table_len, m.positions, m.block_size, num_blocks);
  if (status == 0) xds_paged_mla(&m, threads);
  return int_result(env, status);
}

/* The native side of a prepared expert set: pointers into the experts' weight arrays, which the
 * TypeScript side keeps alive as long as the handle (src/kernels/native.ts prepareExperts). */
#define MOE_MAGIC 0x584d6f45u
typedef struct { uint32_t magic; xds_moe_experts ex; xds_linear lw[]; } moe_handle;

static void moe_handle_free(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  free(data);
}

/* Typed-array element i of JS array `arr` (NULL for null when optional), as view() does. */
static void *element_view(call_args *a, napi_value arr, uint32_t i, bool optional) {
  if (a->failed) return NULL;
  napi_value v;
  if (napi_get_element(a->env, arr, i, &v) != napi_ok) { a->failed = true; return NULL; }
  call_args one = { .env = a->env, .argc = 1, .failed = false };
  one.argv[0] = v;
  void *p = view(&one, 0, NULL, optional);
  a->failed = one.failed;
  return p;
}

/* moePrepare(meta: Int32Array [3E·4] (format, groupSize, outDim, inDim per weight; gate, up,
 *            down of each expert), data[3E], scales[3E] (or nulls), bias[3E] (or nulls)) → handle */
static napi_value js_moe_prepare(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  size_t meta_len = 0;
  const int32_t *meta = view(&a, 0, &meta_len, false);
  if (a.failed || a.argc < 4) return NULL;
  uint32_t nw = (uint32_t)(meta_len / 4);
  moe_handle *h = malloc(sizeof *h + nw * sizeof(xds_linear));
  if (!h) { napi_throw_error(env, NULL, "kernels: out of memory"); return NULL; }
  h->magic = MOE_MAGIC;
  h->ex.num_experts = (int)(nw / 3);
  h->ex.lw = h->lw;
  for (uint32_t i = 0; i < nw && !a.failed; i++) {
    xds_linear *lw = &h->lw[i];
    lw->format = meta[4 * i]; lw->group_size = meta[4 * i + 1];
    lw->out_dim = meta[4 * i + 2]; lw->in_dim = meta[4 * i + 3];
    lw->w = element_view(&a, a.argv[1], i, false);
    lw->scales = element_view(&a, a.argv[2], i, true);
    lw->bias = element_view(&a, a.argv[3], i, true);
  }
  napi_value r;
  if (a.failed || napi_create_external(env, h, moe_handle_free, NULL, &r) != napi_ok) { free(h); return NULL; }
  return r;
}

static const moe_handle *moe_handle_arg(call_args *a, size_t i) {
  napi_valuetype t = napi_undefined;
  void *p = NULL;
  if (i < a->argc) napi_typeof(a->env, a->argv[i], &t);
  if (t == napi_external) napi_get_value_external(a->env, a->argv[i], &p);
  if (!p || ((const moe_handle *)p)->magic != MOE_MAGIC) {
    if (!a->failed) napi_throw_type_error(a->env, NULL, "kernels: expected an expert handle from moePrepare");
    a->failed = true;
    return NULL;
  }
  return p;
}

/* moeExperts(handle, x, out, numTokens, dim, offsets, rows, weights, numThreads) */
static napi_value js_moe_experts(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  const moe_handle *h = moe_handle_arg(&a, 0);
  xds_moe_args m;
  m.x = view(&a, 1, NULL, false); m.out = view(&a, 2, NULL, false);
  m.num_tokens = (int)num(&a, 3); m.dim = (int)num(&a, 4);
  m.offsets = view(&a, 5, NULL, false); m.rows = view(&a, 6, NULL, false);
  m.weights = view(&a, 7, NULL, false);
  int threads = (int)num(&a, 8);
  if (a.failed) return NULL;
  m.ex = &h->ex;
  xds_moe_experts_run(&m, threads);
  return NULL;
}

/* int8Min(data) → the smallest value (weights must not contain -128). */
static napi_value js_int8_min(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  size_t n = 0;
  const int8_t *d = view(&a, 0, &n, false);
  if (a.failed) return NULL;
  int m = 127;
  for (size_t i = 0; i < n; i++) m = d[i] < m ? d[i] : m;
  return int_result(env, m);
}

/* readProbe(bytes: Uint8Array, numThreads) → bytes read; fmaProbe(iters, numThreads) → FLOPs. */
static napi_value js_read_probe(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  size_t n = 0;
  const uint8_t *buf = view(&a, 0, &n, false);
  int threads = (int)num(&a, 1);
  if (a.failed) return NULL;
  napi_value r;
  napi_create_double(env, xds_read_probe(buf, n, threads), &r);
  return r;
}

static napi_value js_fma_probe(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  long iters = (long)num(&a, 0);
  int threads = (int)num(&a, 1);
  if (a.failed) return NULL;
  napi_value r;
  napi_create_double(env, xds_fma_probe(iters, threads), &r);
  return r;
}

/* configure(avx2Only, spinUs, gemmMinRowsFloat, gemmMinRowsInt8, moeMaxBufferBytes) → { vnni,
 * hasVnni, workers }; negative values (and 0 for the row thresholds and the MoE buffer) leave a
 * setting as is. Process-wide. */
static napi_value js_configure(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  int avx2_only = (int)num(&a, 0), spin = (int)num(&a, 1);
  int rows_float = a.argc > 2 ? (int)num(&a, 2) : -1, rows_int8 = a.argc > 3 ? (int)num(&a, 3) : -1;
  double moe_bytes = a.argc > 4 ? num(&a, 4) : -1;
  if (a.failed) return NULL;
  xds_set_gemm_min_rows(rows_float, rows_int8);
  xds_moe_set_max_buffer_bytes(moe_bytes);
  if (avx2_only >= 0) xds_set_max_isa(avx2_only);
  if (spin >= 0) xds_pool_set_spin_us(spin);
  napi_value r, v1, v2, v3;
  napi_create_object(env, &r);
  napi_get_boolean(env, xds_use_vnni(), &v1);
  napi_get_boolean(env, xds_cpu_has_avx512vnni(), &v2);
  napi_create_int32(env, xds_pool_num_workers(), &v3);
  napi_set_named_property(env, r, "vnni", v1);
  napi_set_named_property(env, r, "hasVnni", v2);
  napi_set_named_property(env, r, "workers", v3);
  return r;
}

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

NAPI_MODULE_INIT() {
  export_fn(env, exports, "matmul", js_matmul);
  export_fn(env, exports, "rmsNorm", js_rms_norm);
  export_fn(env, exports, "siluMul", js_silu_mul);
  export_fn(env, exports, "softmax", js_softmax);
  export_fn(env, exports, "rope", js_rope);
  export_fn(env, exports, "pagedAttention", js_paged_attention);
  export_fn(env, exports, "pagedMla", js_paged_mla);
  export_fn(env, exports, "moePrepare", js_moe_prepare);
  export_fn(env, exports, "moeExperts", js_moe_experts);
  export_fn(env, exports, "int8Min", js_int8_min);
  export_fn(env, exports, "readProbe", js_read_probe);
  export_fn(env, exports, "fmaProbe", js_fma_probe);
  export_fn(env, exports, "configure", js_configure);
  return exports;
}
