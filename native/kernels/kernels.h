/*
 * Shared declarations of the xdeepserve native kernels (ARCHITECTURE.md "Compute and memory",
 * CPU-FACTS.md §2c). Every pointer is into memory owned by JavaScript (typed-array views, usually
 * over a SharedArrayBuffer); kernels read and write it in place and keep nothing after returning.
 * Baseline ISA is AVX2+FMA+F16C; AVX-512 VNNI variants are chosen at run time.
 */
#ifndef XDS_KERNELS_H
#define XDS_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/* One parallel region: task t of n runs fn(arg, t, n). Task 0 runs on the calling thread. */
typedef void (*xds_task_fn)(void *arg, int task, int num_tasks);
/* Runs num_tasks tasks over the pool (spin-then-park workers); num_tasks <= 1 never touches it. */
void xds_pool_run(xds_task_fn fn, void *arg, int num_tasks);
/* For tasks that take their work from a shared counter until none is left (every task can do all
 * of it): the caller waits only for workers that started before its own task returned. */
void xds_pool_run_claimed(xds_task_fn fn, void *arg, int num_tasks);
/* How long idle workers spin before parking on a futex, in microseconds. */
void xds_pool_set_spin_us(int us);
int xds_pool_num_workers(void);
/* 1 when every worker is parked on its futex (or none exists yet): a region would pay a wake-up. */
int xds_pool_all_parked(void);

/* CPU features (run-time), and a switch that forbids the wider-ISA variants (for tests/benches). */
int xds_cpu_has_avx512vnni(void);
void xds_set_max_isa(int avx2_only);
int xds_use_vnni(void);

/* Splits [0, n) into num_tasks contiguous ranges whose starts are multiples of align. */
void xds_split(int n, int align, int task, int num_tasks, int *begin, int *end);

/* Per-thread scratch memory that grows on demand (64-byte aligned); slots 0..7 are independent.
 * Used: 0 GEMM panel / stream scales, 1 GEMM packed rows or int8 activations, 2 int8 activations,
 * 3 attention scores / rope / stream |x|, 4-7 moe.c (4-5 per expert, 6-7 the caller's entry buffer
 * and layout); attention: 6 the caller's row items, 7 the caller's absorbed-MLA buffers, 4-5
 * per-head gathers (mla_absorbed.c). */
void *xds_scratch(int slot, size_t bytes);

enum xds_format { XDS_F32 = 0, XDS_BF16 = 1, XDS_INT8 = 2 };

typedef struct {
  int format;            /* xds_format */
  const void *w;         /* [out_dim, in_dim] f32 | bf16 bits | int8 */
  const float *scales;   /* int8 only: [out_dim, ceil(in_dim / group_size)] */
  int group_size;        /* int8 only: a multiple of 32, or >= in_dim (per channel) */
  int out_dim, in_dim;
  const float *bias;     /* [out_dim] or NULL */
} xds_linear;

/* Rows from which matmul uses the packed GEMM instead of GEMV (values <= 0 keep the setting). */
void xds_set_gemm_min_rows(int float_rows, int int8_rows);
/* y[rows, out_dim] = x[rows, in_dim] · Wᵀ (+ bias), on num_threads threads. */
void xds_matmul(const xds_linear *lw, const float *x, float *y, int rows, int num_threads);
/* The same, with lw's bf16 weights also prepared as panels (xds_pack_bf16_panels; NULL: none),
 * which the packed GEMM reads instead of transposing lw->w (same results, bit for bit); the GEMV
 * (fewer rows) and other formats read lw->w. */
void xds_matmul_panels(const xds_linear *lw, const uint16_t *panels, const float *x, float *y, int rows, int num_threads);
/* bf16 weights [out_dim, in_dim] prepared once for the packed GEMM: output channels in groups of
 * 8, each [in_dim][8] contiguous, zero padded: [ceil(out_dim / 8)][in_dim][8] bf16 (elements). */
size_t xds_bf16_panels_elems(int out_dim, int in_dim);
void xds_pack_bf16_panels(const uint16_t *w, int out_dim, int in_dim, uint16_t *dst);
/* panel[kc][ps] f32 (ps 16 or 24, 32-byte aligned rows) ← channels [n0, n0 + nvalid) (n0 a multiple
 * of 8; padding channels come out 0), rows [k0, k0 + kc) of the prepared panels. */
void xds_gemm_widen_panels(const uint16_t *panels, int in_dim, int n0, int nvalid, int k0, int kc, float *panel, int ps);
/* A [kc][ps] f32 panel block of W's channels [n0, n0 + nvalid), columns [k0, k0 + kc) (k0 a multiple
 * of 8), zero past nvalid up to a multiple of 8: f32/bf16 weights, from the prepared panels if not
 * NULL (gemm_pack_weights.c). */
void xds_gemm_pack_block(const xds_linear *lw, const uint16_t *panels, int n0, int nvalid, int k0, int kc, float *panel, int ps);
/* The same for any format, from k0 = 0 (int8's whole-strip panel). */
void xds_gemm_pack_panel(const xds_linear *lw, int n0, int nvalid, int k0, int kc, float *panel, int ps);

/* Quantizes one row to int8 per 32-block: xq[ceil32(k)] (zero padded), xs[ceil(k/32)] scales. */
void xds_quantize_row_q8(const float *x, int k, int8_t *xq, float *xs);
/* int8 GEMV rows [o0, o1) for `rows` pre-quantized activation rows (stride kp = ceil32(in_dim)). */
void xds_gemv_int8(const xds_linear *lw, const int8_t *xq, const float *xs, int rows, float *y, int o0, int o1);
void xds_gemv_int8_vnni(const xds_linear *lw, const int8_t *xq, const float *xs, int rows, float *y, int o0, int o1);
/* Per-channel weights (group_size >= in_dim): one activation scale per row, int32 accumulation. */
void xds_quantize_row_q8_rowscale(const float *x, int k, int8_t *xq, float *xs);
void xds_gemv_int8_rowscale(const xds_linear *lw, const int8_t *xq, const float *xs, int rows, float *y, int o0, int o1);
void xds_gemv_int8_rowscale_vnni(const xds_linear *lw, const int8_t *xq, const float *xs, int rows, float *y, int o0, int o1);
/* Batch-1 variants (one activation row): weight rows stream sequentially (gemv_int8_stream.c). */
void xds_gemv_int8_stream(const xds_linear *lw, const int8_t *xq, const float *xs, float *y, int o0, int o1);
void xds_gemv_int8_stream_vnni(const xds_linear *lw, const int8_t *xq, const float *xs, float *y, int o0, int o1);
void xds_gemv_int8_rowscale_stream(const xds_linear *lw, const int8_t *xq, const float *xs, float *y, int o0, int o1);
void xds_gemv_int8_rowscale_stream_vnni(const xds_linear *lw, const int8_t *xq, const float *xs, float *y, int o0, int o1);
/* Float GEMV (f32/bf16 weights) rows [o0, o1). */
void xds_gemv_float(const xds_linear *lw, const float *x, int rows, float *y, int o0, int o1);
/* Output channels per packed GEMM strip, 24 (4×24 tiles, up to 96 rows) or 16 (6×16 tiles, more
 * rows): a thread's range starts at a multiple of xds_gemm_strip(rows). */
#define XDS_GEMM_NR 24
int xds_gemm_strip(int rows);
/* The GEMM's activation rows packed into 4-row tiles [ceil(rows/4)][k][4] f32 (zero padded), in
 * the calling thread's scratch slot 1: valid until that thread's next matmul. */
const float *xds_gemm_pack_rows(const float *x, int rows, int k);
/* Calls with 24-column strips pack their activation rows from this many output channels (below,
 * packing costs more than the conflict misses of reading the rows in place save). */
#define XDS_GEMM_PACK_ROWS_MIN_OUT 192
/* Packed, cache-blocked GEMM of x [rows, in_dim] over output channels [o0, o1) (o0 a multiple of
 * xds_gemm_strip(rows)), reading the packed rows xp of x if not NULL (24-column strips only) and
 * the prepared bf16 panels of lw if not NULL (else lw->w, transposed per call);
 * next_o0 is the first channel of the range the thread runs next (its weights are prefetched),
 * -1 for none. Only matmul.c calls it. */
void xds_gemm_packed(const xds_linear *lw, const uint16_t *panels, const float *x, const float *xp, int rows, float *y, int o0, int o1, int next_o0);

/* Fused elementwise kernels. */
void xds_rms_norm(const float *x, const float *w, float eps, float *y, int rows, int dim);
void xds_silu_mul(const float *gate, const float *up, float *out, size_t n);
void xds_softmax_rows(float *x, int rows, int n);
void xds_rope(float *x, int rows, int row_stride, int num_heads, int head_stride, int offset,
              const int32_t *positions, const float *inv_freq, float attn_factor, int interleaved, int dim);

/* Paged attention (GQA and absorbed MLA) over block tables; see src/kernels/backend.ts. */
/* Several sequences in one call: sequence s owns query rows first[s] .. first[s]+count[s]-1 (of
 * q, out and positions) and reads the block table block_table + table[s] (table[s+1] - table[s]
 * entries). A one-sequence call is first = {0}, count = {rows}, table = {0, table length}. */
typedef struct { int num_seqs; const int32_t *first, *count, *table; } xds_seqs;
/* One query row: its row of positions, the row of q/out it reads and writes (the row itself, or
 * its index among all items for the absorbed buffers), and its sequence's block table. */
typedef struct { int row, q_row; const int32_t *table; } xds_attn_item;
typedef struct {
  const float *q; float *out;
  /* f32, or bf16 bits when kv_bf16 (--kv-cache-dtype bfloat16) */
  const void *k_cache; const void *v_cache; int kv_bf16;
  const int32_t *block_table; const int32_t *positions;
  int num_heads, num_kv_heads, head_dim, head_dim_v, block_size;
  float scale; int sliding_window;
  xds_seqs seqs;
} xds_gqa_args;
typedef struct {
  const float *q; float *out;
  const void *latent; int latent_bf16; /* f32, or bf16 bits when latent_bf16 */
  const int32_t *block_table; const int32_t *positions;
  int num_heads, kv_lora_rank, rope_dim, block_size;
  float scale;
  xds_seqs seqs;
  /* Absorption inside the call when uk_t != NULL (MODELS.md §4.4): q is then [rows, H, nope_dim +
   * rope_dim] (q_nope ‖ rotated q_pe) and out [rows, H, v_dim]; uk_t [H, R, nope_dim] f32 holds
   * W_UK[h]^T, kv_b [H (nope_dim + v_dim), R] is kv_b_proj (W_UV[h] = rows h (nope+v) + nope ..). */
  const float *uk_t;
  const xds_linear *kv_b;
  int nope_dim, v_dim;
} xds_mla_args;
/* 0 ok, else the first failing sequence's xds_check_paged status. */
int xds_check_paged_seqs(const xds_seqs *s, const int32_t *block_table, int table_len, const int32_t *positions, int block_size, long num_blocks);
/* Items of all sequences in order, in the calling thread's scratch slot 6; *n = their count. */
xds_attn_item *xds_attn_items(const xds_seqs *s, const int32_t *block_table, int q_by_item, int *n);
/* Threads for `flops` of attention work over `units` independent pieces (1: no pool). */
int xds_attn_tasks(double flops, int units, int num_threads);
void xds_paged_attention(const xds_gqa_args *a, int num_threads);
void xds_paged_mla(const xds_mla_args *a, int num_threads);
/* One row's queries and outputs for the latent attention, head h at base + h·stride: the latent part
 * [R] of [q̃_h ‖ q_pe_h], its rope part [dr], and ctx_h [R] (written). */
typedef struct { const float *lat; size_t lat_stride; const float *pe; size_t pe_stride; float *out; size_t out_stride; } xds_mla_q;
/* Where the rows of an xds_mla_items call live: row r of an item is at base + r·row (+ h·head):
 * lat and out by the item's q_row, pe by its row. */
typedef struct { const float *lat; size_t lat_row, lat_head; const float *pe; size_t pe_row, pe_head; float *out; size_t out_row, out_head; } xds_mla_layout;
/* The latent attention of MLA over items. */
void xds_mla_items(const xds_mla_args *a, const xds_attn_item *items, int n, const xds_mla_layout *lay, int tasks);
/* Latent attention of one row for nh heads (q: head h's parts and output, see xds_mla_q), over the
 * L first positions of a block table of [R + dr] latent rows, f32 or (bf16) bf16 bits (mla_latent.c). */
void xds_mla_row(const xds_mla_q *q, int nh, const void *latent, int bf16, const int32_t *table, int block_size, int L, int R, int dr, float scale);
/* Absorbed MLA (a->uk_t set): W_UK products, latent attention, W_UV products (mla_absorbed.c). */
void xds_paged_mla_absorbed(const xds_mla_args *a, int num_threads);

/* The experts of one MoE layer: lw[3e] gate [I, D], lw[3e+1] up [I, D], lw[3e+2] down [D, I]. */
typedef struct { int num_experts; const xds_linear *lw; } xds_moe_experts;
/* One MoE layer's routed experts over tokens grouped by expert (ComputeBackend.moeExperts). */
typedef struct {
  const xds_moe_experts *ex;
  const float *x;          /* [num_tokens, dim] */
  float *out;              /* [num_tokens, dim], overwritten */
  int num_tokens, dim;
  const int32_t *offsets;  /* [E + 1] entries of expert e: offsets[e] .. offsets[e+1]-1 */
  const int32_t *rows;     /* [N] token row of each entry */
  const float *weights;    /* [N] combine weight of each entry */
} xds_moe_args;
void xds_moe_experts_run(const xds_moe_args *a, int num_threads);
/* MoE router (router.c; units/moe/router.ts defines it). Shapes are checked in src/kernels/native.ts. */
#define XDS_ROUTER_MAX_EXPERTS 4096
#define XDS_ROUTER_MAX_GROUPS 256
enum { XDS_ROUTE_TOPK = 0, XDS_ROUTE_GROUP_LIMITED_GREEDY = 1, XDS_ROUTE_NOAUX_TC = 2 };
typedef struct {
  int sigmoid, method, num_groups, topk_groups;
  int normalize, scale;        /* renormalize the k weights (+ norm_eps); then multiply by scaling */
  double norm_eps, scaling;
} xds_router_spec;
/* experts/weights [T, k] from logits [T, E] (bias [E] or NULL: noaux_tc only). */
void xds_route(const float *logits, int T, int E, int k, const xds_router_spec *sp, const float *bias, int32_t *experts, float *weights);
/* Largest per-entry buffer of moe.c ([N, dim] outputs at decode sizes, [N, I] h at prefill sizes),
 * bytes (values <= 0 keep it); past it the prefill layout runs the experts in groups. */
void xds_moe_set_max_buffer_bytes(double bytes);

/* Vector helpers shared by the kernels (AVX2). */
float xds_dot_f32(const float *a, const float *b, int n);
void xds_axpy_f32(float *y, float alpha, const float *x, int n);
float xds_dot_f32_bf16(const float *a, const uint16_t *b, int n);
void xds_axpy_f32_bf16(float *y, float alpha, const uint16_t *x, int n);
/* dst = src as bf16 bits, round to nearest even (ops.c). */
void xds_f32_to_bf16(const float *src, uint16_t *dst, int n);

/* Probes for `bench kernels`: bytes/s of a plain read, FLOP/s of independent FMA chains. */
double xds_read_probe(const uint8_t *buf, size_t bytes, int num_threads);
/* madvise(MADV_HUGEPAGE) on the 2 MiB-aligned interior of [p, p + n) (memory.c); bytes advised, 0 where unsupported. */
size_t xds_advise_huge(void *p, size_t n);
double xds_fma_probe(long iters, int num_threads);

#endif
