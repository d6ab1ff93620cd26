/* A real, minimal architecture built as a plugin for the registry tests:
 * "tokenmlp" mixes nothing across positions, each block is a residual GELU MLP
 * behind a LayerNorm. It exercises the plugin path end to end (dlopen, the
 * host's core API resolved from the executable, declared parameters).
 *
 * Variants for `effbench check` (tests/check_cli.test.sh), built with:
 *   -DTOKENMLP_BAD_BACKWARD  the MLP output goes through an op of its own,
 *                            y = 2h, whose backward passes dy (not 2 dy) on
 *   -DTOKENMLP_BAD_FLOPS     a flops() that counts the two GEMMs only, and a
 *                            right gemm_flops()
 *   -DTOKENMLP_KINK          a parameter blocks.i.kink [D], zero, added to the
 *                            residual through relu: every element sits on
 *                            relu's kink (a non-smooth point, not a bug)
 *
 * and for the stats declarations (docs/plugins.md, report --table stats):
 *   -DTOKENMLP_STATS         "tokenmlp_stats": emits two stats and declares
 *                            them (label, unit, aggregation)
 *   -DTOKENMLP_V1            "tokenmlp_v1": the same stats, emitted but not
 *                            declared, from a table of the first ABI-1 layout
 *                            (tests/plugins/arch_v1.h: no stat_decls member,
 *                            struct_size EB_ARCH_SIZE_V1), the shorter table
 *                            the host must still read correctly
 *
 * and for the version check (docs/plugins.md, "Versioning"):
 *   -DTOKENMLP_ABI=N         the table records abi_version N instead of
 *                            EFFBENCH_ABI_VERSION (another core API version,
 *                            or 1: plugin ABI generation 1) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "effbench/plugin.h"

#if defined(TOKENMLP_STATS) || defined(TOKENMLP_V1)
#define TOKENMLP_EMITS 1
#endif
#ifdef TOKENMLP_V1
#include "arch_v1.h"
#endif

typedef struct tokenmlp {
  int depth;
  eb_tensor **w;       /* per block: ln.g, ln.b, w1, b1, w2, b2, kink */
  int width;           /* hidden width F */
  double out_abs_mean; /* of the last forward's output */
} tokenmlp;

static const eb_param_decl tokenmlp_params[] = {
    {"mult", EB_P_INT, "2", "hidden width as a multiple of dim", NULL},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

static int tokenmlp_create(const eb_model_config *cfg, const eb_args *args, eb_params *P,
                           void **out, char *err, size_t errlen) {
  tokenmlp *m = calloc(1, sizeof *m);
  int D = cfg->dim, F = (int)eb_args_int(args, "mult", 2) * D;
  if (!m || F < 1) {
    free(m);
    snprintf(err, errlen, "mult must be >= 1");
    return -1;
  }
  m->depth = cfg->depth;
  m->width = F;
  m->w = calloc((size_t)(7 * (cfg->depth ? cfg->depth : 1)), sizeof *m->w);
  for (int i = 0; i < cfg->depth; i++) {
    char n[64];
    eb_tensor **w = m->w + 7 * i;
#define P_(k, what, nd, shape, init, sc)                                                 \
  snprintf(n, sizeof n, "blocks.%d.%s", i, what);                                        \
  w[k] = eb_param(P, n, nd, shape, init, sc)
    P_(0, "ln.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    P_(1, "ln.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    P_(2, "w1", 2, ((int[]){F, D}), EB_INIT_UNIFORM, 1.0f / sqrtf((float)D));
    P_(3, "b1", 1, (int[]){F}, EB_INIT_ZEROS, 0);
    P_(4, "w2", 2, ((int[]){D, F}), EB_INIT_UNIFORM, 1.0f / sqrtf((float)F));
    P_(5, "b2", 1, (int[]){D}, EB_INIT_ZEROS, 0);
#ifdef TOKENMLP_KINK
    P_(6, "kink", 1, (int[]){D}, EB_INIT_ZEROS, 0);
#endif
#undef P_
  }
  *out = m;
  return 0;
}

#ifdef TOKENMLP_BAD_BACKWARD
/* dy -> dx = dy: wrong on purpose, the forward doubles */
static void twice_backward(eb_ctx *ctx, eb_node *n) {
  float *dx = eb_tensor_grad(ctx, n->in[0]);
  if (!dx) return;
  for (int64_t i = 0; i < n->out->size; i++)
    dx[i] += n->out->grad[i];
}

/* h[...] -> 2h */
static eb_tensor *twice(eb_ctx *ctx, eb_tensor *h) {
  eb_tensor *y = h ? eb_tensor_new(ctx, h->ndim, h->shape) : NULL;
  if (!y) return NULL;
  for (int64_t i = 0; i < h->size; i++)
    y->data[i] = 2 * h->data[i];
  eb_tape_record(ctx, twice_backward, y, 1, &h);
  return y;
}
#endif

static int tokenmlp_forward(void *model, eb_ctx *ctx, eb_tensor *x, const uint8_t *mask,
                            eb_tensor **out, char *err, size_t errlen) {
  tokenmlp *m = model;
  for (int i = 0; i < m->depth; i++) {
    eb_tensor **w = m->w + 7 * i;
    eb_tensor *h = eb_layernorm(ctx, x, w[0], w[1]);
    h = eb_linear(ctx, eb_gelu(ctx, eb_linear(ctx, h, w[2], w[3])), w[4], w[5]);
#ifdef TOKENMLP_BAD_BACKWARD
    h = twice(ctx, h);
#endif
    x = eb_add(ctx, x, h);
#ifdef TOKENMLP_KINK
    x = eb_add(ctx, x, eb_relu(ctx, w[6]));
#endif
  }
  if (!x) {
    snprintf(err, errlen, "%s", eb_ctx_error(ctx));
    return -1;
  }
#ifdef TOKENMLP_EMITS
  double sum = 0;
  for (int64_t i = 0; i < x->size; i++)
    sum += fabs(x->data[i]);
  m->out_abs_mean = x->size ? sum / (double)x->size : 0;
#endif
  *out = x;
  return 0;
}

#ifdef TOKENMLP_EMITS
static void tokenmlp_stats(void *model, eb_stat_sink *sink) {
  tokenmlp *m = model;
  sink->emit(sink->user, "hidden_width", m->width);
  sink->emit(sink->user, "out_abs_mean", m->out_abs_mean);
}
#endif
#ifdef TOKENMLP_STATS
static const eb_stat_decl tokenmlp_stat_decls[] = {
    {"hidden_width", "hidden width", "neurons", EB_STAT_LAST, "each block's MLP width"},
    {"out_abs_mean", "output mean abs", NULL, EB_STAT_MEAN,
     "mean absolute value of the blocks' output"},
    {NULL, NULL, NULL, 0, NULL},
};
#endif

static void tokenmlp_destroy(void *model) {
  tokenmlp *m = model;
  free(m->w);
  free(m);
}

#ifdef TOKENMLP_BAD_FLOPS
/* the two GEMMs per block only: LayerNorm, GELU, biases and the residual are
 * missing, so `effbench check` must find it off */
static double tokenmlp_flops(const eb_model_config *cfg, const eb_args *args, int B,
                             int N, int training) {
  const double F = (double)eb_args_int(args, "mult", 2) * cfg->dim;
  return cfg->depth * 4.0 * B * N * cfg->dim * F * (training ? 3 : 1);
}

/* exact: forward x W1^T and h W2^T; training adds dx and dw of both */
static int tokenmlp_gemm_flops(const eb_model_config *cfg, const eb_args *args, int B,
                               int N, int training, double *model, double *executed) {
  *model = *executed = tokenmlp_flops(cfg, args, B, N, training);
  return 0;
}
#endif

#ifndef TOKENMLP_ABI
#define TOKENMLP_ABI EFFBENCH_ABI_VERSION
#endif
#ifndef TOKENMLP_NAME
#define TOKENMLP_NAME "tokenmlp"
#endif

#ifdef TOKENMLP_V1
static const eb_arch_v1 tokenmlp_arch = {
    .struct_size = sizeof(eb_arch_v1),
#else
static const eb_arch tokenmlp_arch = {
    .struct_size = sizeof(eb_arch),
#endif
    .abi_version = TOKENMLP_ABI,
    .name = TOKENMLP_NAME,
    .summary = "per-token residual MLP, no mixing (test plugin)",
    .params = tokenmlp_params,
    .create = tokenmlp_create,
    .forward = tokenmlp_forward,
    .destroy = tokenmlp_destroy,
#ifdef TOKENMLP_BAD_FLOPS
    .flops = tokenmlp_flops,
    .gemm_flops = tokenmlp_gemm_flops,
#endif
#ifdef TOKENMLP_EMITS
    .stats = tokenmlp_stats,
#endif
#ifdef TOKENMLP_STATS
    .stat_decls = tokenmlp_stat_decls,
#endif
};

int effbench_plugin_init(eb_registry *reg, int host_abi_version) {
  (void)host_abi_version;
  /* an older plugin hands its shorter table over as it always did */
  return eb_register_arch(reg, (const eb_arch *)&tokenmlp_arch);
}
