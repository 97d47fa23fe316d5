/*
 * Argument helpers shared by the addon's N-API wrappers (addon.c, addon_attention.c): the call's
 * arguments, typed-array views (pointer + element count, byteOffset included) and numbers.
 */
#ifndef XDS_ADDON_H
#define XDS_ADDON_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>

#define MAX_ARGS 24
typedef struct { napi_env env; napi_value argv[MAX_ARGS]; size_t argc; bool failed; } call_args;

static inline call_args get_args(napi_env env, napi_callback_info info) {
  call_args a = { .env = env, .argc = MAX_ARGS, .failed = false };
  napi_get_cb_info(env, info, &a.argc, a.argv, NULL, NULL);
  return a;
}

/* Pointer and element count of typed array i; NULL for null/undefined when optional. */
static inline void *view(call_args *a, size_t i, size_t *len, bool optional) {
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

/* Whether argument i is a Uint16Array (a bf16 KV cache); call after view() accepted it. */
static inline int is_u16(call_args *a, size_t i) {
  if (a->failed || i >= a->argc) return 0;
  napi_typedarray_type type = napi_float32_array;
  napi_get_typedarray_info(a->env, a->argv[i], &type, NULL, NULL, NULL, NULL);
  return type == napi_uint16_array;
}

static inline double num(call_args *a, size_t i) {
  double v = 0;
  if (a->failed) return 0;
  if (i >= a->argc || napi_get_value_double(a->env, a->argv[i], &v) != napi_ok) {
    napi_throw_type_error(a->env, NULL, "kernels: expected a number argument");
    a->failed = true;
  }
  return v;
}

static inline napi_value int_result(napi_env env, int v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

napi_value xds_js_paged_attention(napi_env env, napi_callback_info info);
napi_value xds_js_paged_mla(napi_env env, napi_callback_info info);

#endif
