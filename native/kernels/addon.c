/*
 * N-API surface of build/kernels.node (ARCHITECTURE.md "Compute and memory"): thin wrappers that
 * take typed-array views (pointers include byteOffset, no copies) and numbers, and call the C
 * kernels. Shapes and lengths are validated on the TypeScript side (src/kernels/native.ts); this
 * layer only checks that each buffer argument is a typed array (the paged-attention wrappers, which
 * also check the block tables' contents, are in addon_attention.c; shared helpers in addon.h).
 */
#include <stdlib.h>
#include "addon.h"
#include "kernels.h"


/* matmul(x, format, w, scales|null, groupSize, outDim, inDim, bias|null, y, rows, numThreads, panels?|null) */
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
  const uint16_t *panels = view(&a, 11, NULL, true);
  if (a.failed) return NULL;
  xds_matmul_panels(&lw, panels, x, y, rows, threads);
  return NULL;
}

/* packBf16Panels(w, outDim, inDim, dst): dst [ceil(outDim/8)][inDim][8] (lengths checked in native.ts). */
static napi_value js_pack_bf16_panels(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  const uint16_t *w = view(&a, 0, NULL, false);
  int out_dim = (int)num(&a, 1), in_dim = (int)num(&a, 2);
  uint16_t *dst = view(&a, 3, NULL, false);
  if (a.failed) return NULL;
  xds_pack_bf16_panels(w, out_dim, in_dim, dst);
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

/* add(h, y, n): h += y (an axpy with alpha 1: one rounding per element, as h + y in f32) */
static napi_value js_add(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  float *h = view(&a, 0, NULL, false);
  const float *y = view(&a, 1, NULL, false);
  int n = (int)num(&a, 2);
  if (!a.failed) xds_axpy_f32(h, 1.0f, y, n);
  return NULL;
}

/* toBf16(src, dst, dstOffset, n): dst[dstOffset + i] = bf16(src[i]) for i < n (lengths checked in native.ts) */
static napi_value js_to_bf16(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  const float *src = view(&a, 0, NULL, false);
  uint16_t *dst = view(&a, 1, NULL, false);
  int off = (int)num(&a, 2), n = (int)num(&a, 3);
  if (!a.failed) xds_f32_to_bf16(src, dst + off, n);
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

/* moeRoute(logits, T, E, k, spec: Float64Array [sigmoid, method, G, topkG, normalize, scale, normEps, scaling], bias|null, experts, weights) */
static napi_value js_moe_route(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  const float *logits = view(&a, 0, NULL, false);
  int T = (int)num(&a, 1), E = (int)num(&a, 2), k = (int)num(&a, 3);
  const double *f = view(&a, 4, NULL, false);
  const float *bias = view(&a, 5, NULL, true);
  int32_t *experts = view(&a, 6, NULL, false);
  float *weights = view(&a, 7, NULL, false);
  if (a.failed) return NULL;
  xds_router_spec sp = { .sigmoid = (int)f[0], .method = (int)f[1], .num_groups = (int)f[2], .topk_groups = (int)f[3],
    .normalize = (int)f[4], .scale = (int)f[5], .norm_eps = f[6], .scaling = f[7] };
  xds_route(logits, T, E, k, &sp, bias, experts, weights);
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

/* adviseHugePages(bytes: Uint8Array) → bytes advised (the 2 MiB-aligned interior; 0 where unsupported). */
static napi_value js_advise_huge_pages(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  size_t n = 0;
  uint8_t *buf = view(&a, 0, &n, false);
  if (a.failed) return NULL;
  napi_value r;
  napi_create_double(env, (double)xds_advise_huge(buf, n), &r);
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
  export_fn(env, exports, "packBf16Panels", js_pack_bf16_panels);
  export_fn(env, exports, "rmsNorm", js_rms_norm);
  export_fn(env, exports, "siluMul", js_silu_mul);
  export_fn(env, exports, "add", js_add);
  export_fn(env, exports, "toBf16", js_to_bf16);
  export_fn(env, exports, "softmax", js_softmax);
  export_fn(env, exports, "rope", js_rope);
  export_fn(env, exports, "pagedAttention", xds_js_paged_attention);
  export_fn(env, exports, "pagedMla", xds_js_paged_mla);
  export_fn(env, exports, "moePrepare", js_moe_prepare);
  export_fn(env, exports, "moeExperts", js_moe_experts);
  export_fn(env, exports, "moeRoute", js_moe_route);
  export_fn(env, exports, "int8Min", js_int8_min);
  export_fn(env, exports, "readProbe", js_read_probe);
  export_fn(env, exports, "fmaProbe", js_fma_probe);
  export_fn(env, exports, "adviseHugePages", js_advise_huge_pages);
  export_fn(env, exports, "configure", js_configure);
  return exports;
}
