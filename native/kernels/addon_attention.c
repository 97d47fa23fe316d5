/*
 * N-API wrappers of the paged-attention kernels (attention.c, mla_absorbed.c; src/kernels/native.ts
 * pagedAttention / pagedMlaAttention): one or several sequences (PagedSeqs) and the optional MLA
 * absorption weights. Lengths are validated on the TypeScript side; the block tables' contents
 * are checked here, per sequence, before any kernel reads through them.
 */
#include "addon.h"
#include "kernels.h"

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

/* kCache / vCache / latentCache: Float32Array, or Uint16Array of bf16 bits (--kv-cache-dtype bfloat16;
 * k and v of one type, checked on the TypeScript side). */

/* pagedAttention(q, out, kCache, vCache, blockTable, positions, numTokens, numHeads, numKvHeads,
 *                headDim, headDimV, blockSize, scale, slidingWindow, numThreads,
 *                seqFirst|null, seqCount|null, seqTable|null) → status */
napi_value xds_js_paged_attention(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  xds_gqa_args g;
  one_seq one;
  size_t k_len = 0, table_len = 0;
  g.q = view(&a, 0, NULL, false); g.out = view(&a, 1, NULL, false);
  g.k_cache = view(&a, 2, &k_len, false); g.v_cache = view(&a, 3, NULL, false);
  g.kv_bf16 = is_u16(&a, 2);
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
napi_value xds_js_paged_mla(napi_env env, napi_callback_info info) {
  call_args a = get_args(env, info);
  xds_mla_args m;
  xds_linear kv_b;
  one_seq one;
  size_t lat_len = 0, table_len = 0;
  m.q = view(&a, 0, NULL, false); m.out = view(&a, 1, NULL, false);
  m.latent = view(&a, 2, &lat_len, false);
  m.latent_bf16 = is_u16(&a, 2);
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

