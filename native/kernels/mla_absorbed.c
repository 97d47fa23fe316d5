/*
 * Absorbed MLA decode attention with the absorption inside the call (MODELS.md §4.4; paper §2.1
 * "attention" for DeepSeek): for every row and head, q̃_h = W_UK[h]ᵀ q_nope_h, the latent
 * multi-query attention over [c ‖ k_pe] with [q̃_h ‖ q_pe_h], then o_h = W_UV[h] ctx_h. Three pool
 * regions in one call: the W_UK products per head over all rows (threads claim heads; one
 * single-thread xds_matmul each, the same kernel and order as a per-head matmul call), the latent
 * attention over (row, head range) pieces of all sequences (attention.c), the W_UV products per
 * head. q̃ and ctx are kept head-major ([H, n, R]) so each product reads and writes one contiguous
 * block and the attention reads q̃, q_pe (in place in q) and writes ctx through strides: the only
 * copies left are the small q_nope gather [n, dn] and o scatter [n, dv] per head.
 */
#include "kernels.h"
#include <stdatomic.h>
#include <string.h>

typedef struct {
  _Atomic int next_head;
  const xds_mla_args *a;
  const xds_attn_item *items;
  int n;
  float *qt;   /* [H, n, R] q̃ per head and item */
  float *ctx;  /* [H, n, R] latent attention output per head and item */
} absorb_job;

/* W_UK[h]ᵀ as a [R, nope] f32 weight. */
static xds_linear uk_view(const xds_mla_args *a, int h) {
  const int R = a->kv_lora_rank, dn = a->nope_dim;
  xds_linear l = { .format = XDS_F32, .w = a->uk_t + (size_t)h * R * dn, .scales = NULL, .group_size = 0, .out_dim = R, .in_dim = dn, .bias = NULL };
  return l;
}

/* W_UV[h]: rows h (nope + v) + nope .. + v of kv_b_proj, as a view (any format). */
static xds_linear uv_view(const xds_mla_args *a, int h) {
  const xds_linear *kb = a->kv_b;
  const size_t row0 = (size_t)h * (a->nope_dim + a->v_dim) + a->nope_dim;
  const size_t elem = kb->format == XDS_F32 ? 4 : kb->format == XDS_BF16 ? 2 : 1;
  xds_linear l = *kb;
  l.w = (const char *)kb->w + row0 * (size_t)kb->in_dim * elem;
  l.out_dim = a->v_dim;
  if (kb->format == XDS_INT8) l.scales = kb->scales + row0 * (size_t)((kb->in_dim + kb->group_size - 1) / kb->group_size);
  if (kb->bias) l.bias = kb->bias + row0;
  return l;
}

/* qt[h] = q_nope(h) · W_UK[h] ([n, R]) for the heads this thread claims. */
static void absorb_q_task(void *arg, int task, int num_tasks) {
  absorb_job *j = arg;
  const xds_mla_args *a = j->a;
  const int H = a->num_heads, R = a->kv_lora_rank, dn = a->nope_dim, qw = dn + a->rope_dim, n = j->n;
  (void)task; (void)num_tasks;
  float *qn = xds_scratch(4, (size_t)n * dn * sizeof(float)); /* [n, dn] one head's q_nope */
  for (int h; (h = atomic_fetch_add_explicit(&j->next_head, 1, memory_order_relaxed)) < H;) {
    for (int i = 0; i < n; i++) memcpy(qn + (size_t)i * dn, a->q + ((size_t)j->items[i].row * H + h) * qw, (size_t)dn * sizeof(float));
    xds_linear uk = uk_view(a, h);
    xds_matmul(&uk, qn, j->qt + (size_t)h * n * R, n, 1);
  }
}

/* out(row i, h) = W_UV[h] · ctx[h, i] for the heads this thread claims. */
static void expand_task(void *arg, int task, int num_tasks) {
  absorb_job *j = arg;
  const xds_mla_args *a = j->a;
  const int H = a->num_heads, R = a->kv_lora_rank, dv = a->v_dim, n = j->n;
  (void)task; (void)num_tasks;
  float *oh = xds_scratch(5, (size_t)n * dv * sizeof(float)); /* [n, dv] */
  for (int h; (h = atomic_fetch_add_explicit(&j->next_head, 1, memory_order_relaxed)) < H;) {
    xds_linear uv = uv_view(a, h);
    xds_matmul(&uv, j->ctx + (size_t)h * n * R, oh, n, 1);
    for (int i = 0; i < n; i++) memcpy(a->out + ((size_t)j->items[i].row * H + h) * dv, oh + (size_t)i * dv, (size_t)dv * sizeof(float));
  }
}

static void run_heads(absorb_job *j, xds_task_fn fn, int tasks) {
  atomic_init(&j->next_head, 0);
  xds_pool_run_claimed(fn, j, tasks < j->a->num_heads ? tasks : j->a->num_heads);
}

/* NOTE: one thread count for the whole call (decided on its total work), so a small call never
 * wakes the pool and the later regions find the workers still spinning. */
void xds_paged_mla_absorbed(const xds_mla_args *a, int num_threads) {
  const int H = a->num_heads, R = a->kv_lora_rank, qw = a->nope_dim + a->rope_dim;
  absorb_job j = { .a = a };
  j.items = xds_attn_items(&a->seqs, a->block_table, 1, &j.n);
  if (j.n == 0) return;
  double flops = 2.0 * j.n * H * (double)R * (a->nope_dim + a->v_dim);
  for (int i = 0; i < j.n; i++) flops += 2.0 * (a->positions[j.items[i].row] + 1) * H * (2 * R + a->rope_dim);
  int tasks = xds_attn_tasks(flops, j.n * H, num_threads);
  const size_t hn = (size_t)j.n * R; /* one head's [n, R] */
  j.qt = xds_scratch(7, 2 * H * hn * sizeof(float));
  j.ctx = j.qt + H * hn;
  run_heads(&j, absorb_q_task, tasks);
  const xds_mla_layout lay = { .lat = j.qt, .lat_row = R, .lat_head = hn, .pe = a->q + a->nope_dim, .pe_row = (size_t)H * qw, .pe_head = qw,
                               .out = j.ctx, .out_row = R, .out_head = hn };
  xds_mla_items(a, j.items, j.n, &lay, tasks);
  run_heads(&j, expand_task, tasks);
}
