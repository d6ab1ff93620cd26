/* linear_attention: an example third-party architecture plugin for effbench.
 *
 * The "Transformers are RNNs" block (Katharopoulos et al. 2020): softmax
 * attention replaced by a kernel feature map φ(x) = elu(x) + 1, so attention
 * costs O(N·Dh²) per head instead of O(N²·Dh):
 *
 *   out_n = φ(q_n)ᵀ (Σ_m φ(k_m) v_mᵀ) / (φ(q_n)ᵀ Σ_m φ(k_m) + eps)
 *
 * Blocks are pre-LayerNorm like the built-in vanilla, with a GELU MLP:
 *
 *   x = x + Dropout(Wo · LinearAttention(LN1(x)) + bo)
 *   x = x + Dropout(W2 · GELU(W1 · LN2(x) + b1) + b2)
 *
 * Everything is composed from the public core ops (include/effbench/core.h),
 * so backward, FLOP counting and memory tracking come with them. It is built
 * out of tree against the installed headers: see docs/plugins.md.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "effbench/plugin.h"

typedef struct la_layer {
  eb_tensor *ln1_g, *ln1_b, *wqkv, *bqkv, *wo, *bo;
  eb_tensor *ln2_g, *ln2_b, *w1, *b1, *w2, *b2;
} la_layer;

typedef struct la_model {
  eb_model_config cfg;
  float eps;
  la_layer *layers;
  double den_min; /* smallest normaliser of the last forward (stats) */
} la_model;

static const eb_param_decl la_params[] = {
    {"eps", EB_P_FLOAT, "1e-6", "added to the normaliser φ(q)·Σφ(k) (must be > 0)", NULL},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

static int la_validate(const eb_model_config *cfg, const eb_args *args, char *err,
                       size_t errlen) {
  if (cfg->heads < 1 || cfg->dim % cfg->heads != 0) {
    snprintf(err, errlen, "heads (%d) must divide dim (%d)", cfg->heads, cfg->dim);
    return -1;
  }
  double eps = eb_args_float(args, "eps", 1e-6);
  if (!(eps > 0) || !isfinite(eps)) {
    snprintf(err, errlen, "eps must be a positive number, got %g", eps);
    return -1;
  }
  /* model.attention_dropout / mlp_dropout: an arch that does not apply them
   * refuses them, so a run never silently ignores a setting (linear attention
   * forms no probabilities; this example's MLP does not drop its hidden) */
  if (cfg->attention_dropout > 0 || cfg->mlp_dropout > 0) {
    snprintf(err, errlen,
             "model.attention_dropout and mlp_dropout must be 0 for linear_attention "
             "(no attention probabilities; its MLP has no hidden dropout)");
    return -1;
  }
  /* no length limit: cfg->max_len (0 = not known yet) needs no check */
  return 0;
}

static eb_tensor *param(eb_params *P, int i, const char *what, int ndim, const int *shape,
                        eb_init init, float scale) {
  char name[96];
  snprintf(name, sizeof name, "blocks.%d.%s", i, what);
  return eb_param(P, name, ndim, shape, init, scale);
}

static void la_destroy(void *model) {
  la_model *m = model;
  if (!m) return;
  free(m->layers);
  free(m);
}

static int la_create(const eb_model_config *cfg, const eb_args *args, eb_params *P,
                     void **out, char *err, size_t errlen) {
  if (la_validate(cfg, args, err, errlen)) return -1;
  la_model *m = calloc(1, sizeof *m);
  la_layer *ls = calloc(cfg->depth > 0 ? (size_t)cfg->depth : 1, sizeof *ls);
  if (!m || !ls) {
    free(m);
    free(ls);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  m->cfg = *cfg;
  m->eps = (float)eb_args_float(args, "eps", 1e-6);
  m->layers = ls;
  const int D = cfg->dim, F = cfg->ffn;
  const float sd = 1.0f / sqrtf((float)D), sf = 1.0f / sqrtf((float)F);
  for (int i = 0; i < cfg->depth; i++) {
    la_layer *l = &ls[i];
    l->ln1_g = param(P, i, "ln1.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    l->ln1_b = param(P, i, "ln1.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->wqkv = param(P, i, "attn.wqkv", 2, (int[]){3 * D, D}, EB_INIT_UNIFORM, sd);
    l->bqkv = param(P, i, "attn.bqkv", 1, (int[]){3 * D}, EB_INIT_ZEROS, 0);
    l->wo = param(P, i, "attn.wo", 2, (int[]){D, D}, EB_INIT_UNIFORM, sd);
    l->bo = param(P, i, "attn.bo", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->ln2_g = param(P, i, "ln2.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    l->ln2_b = param(P, i, "ln2.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->w1 = param(P, i, "mlp.w1", 2, (int[]){F, D}, EB_INIT_UNIFORM, sd);
    l->b1 = param(P, i, "mlp.b1", 1, (int[]){F}, EB_INIT_ZEROS, 0);
    l->w2 = param(P, i, "mlp.w2", 2, (int[]){D, F}, EB_INIT_UNIFORM, sf);
    l->b2 = param(P, i, "mlp.b2", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    if (!l->ln1_g || !l->ln1_b || !l->wqkv || !l->bqkv || !l->wo || !l->bo || !l->ln2_g ||
        !l->ln2_b || !l->w1 || !l->b1 || !l->w2 || !l->b2) {
      snprintf(err, errlen, "could not declare the parameters of block %d", i);
      la_destroy(m);
      return -1;
    }
  }
  *out = m;
  return 0;
}

/* Third `part` of flat[1,3n] (wqkv or bqkv seen flat: the q, k or v rows) as
 * a tensor of shape[ndim]: a copy of n weights, small next to the
 * activations, so each projection writes its own [B,N,D] directly instead of
 * slicing a [B,N,3D] one. */
static eb_tensor *part_of(eb_ctx *ctx, eb_tensor *flat, int part, int ndim,
                          const int *shape) {
  if (!flat) return NULL;
  const int n = (int)(flat->size / 3);
  return eb_reshape(ctx, eb_slice_last(ctx, flat, part * n, n), ndim, shape);
}

/* Constants of a forward with D columns in H heads of Dh:
 * hm[D,D] = 1 where row and column are in the same head (the block-diagonal
 * of per-head sums), hsel[D,H] = 1 where column c belongs to head h, eps[H]. */
typedef struct la_consts {
  eb_tensor *hm, *hsel, *eps;
} la_consts;

static int la_consts_make(eb_ctx *ctx, int D, int H, float eps, la_consts *c) {
  const int Dh = D / H;
  c->hm = eb_tensor_new(ctx, 2, (int[]){D, D});
  c->hsel = eb_tensor_new(ctx, 2, (int[]){D, H});
  c->eps = eb_tensor_new(ctx, 1, (int[]){H});
  if (!c->hm || !c->hsel || !c->eps) return -1;
  for (int i = 0; i < D; i++) {
    for (int j = 0; j < D; j++)
      c->hm->data[i * D + j] = i / Dh == j / Dh ? 1.0f : 0.0f;
    for (int h = 0; h < H; h++)
      c->hsel->data[i * H + h] = i / Dh == h ? 1.0f : 0.0f;
  }
  for (int h = 0; h < H; h++)
    c->eps->data[h] = eps;
  return 0;
}

/* q, k [B,N,D] projections, a [B,N,D] the block's normalised input with
 * the value projection wv[D,D], bv[1,D] (v = a wvᵀ + bv), mask[B*N] (1 =
 * real key; NULL = all real) -> [B,N,D], head h on columns h*Dh..(h+1)*Dh-1.
 *
 * All heads at once: the per-head sums Σ_m φ(k_m) v_mᵀ are the diagonal
 * blocks of one [D,D] product (the rest masked off by hm), so nothing is
 * transposed into head-major order. v itself is never formed: Σ_m φ(k_m)
 * v_mᵀ = (Σ_m φ(k_m) a_mᵀ) wvᵀ + (Σ_m φ(k_m)) bvᵀ, two [D,D] products per
 * sequence instead of a [B,N,D] projection. *den_min lowers to the smallest
 * normaliser seen (a health metric: near eps, outputs blow up). */
static eb_tensor *linear_attention(eb_ctx *ctx, eb_tensor *q, eb_tensor *k, eb_tensor *a,
                                   eb_tensor *wv, eb_tensor *bv, const uint8_t *mask,
                                   const la_consts *c, int H, double *den_min) {
  if (!q || !k || !a) return NULL;
  const int B = q->shape[0], N = q->shape[1], D = q->shape[2], Dh = D / H;
  eb_tensor *fq = eb_elu1(ctx, q);
  /* padded keys contribute nothing (their rows of φ(k) are 0) */
  eb_tensor *fk = eb_mask_rows(ctx, eb_elu1(ctx, k), mask);
  /* Σ_m φ(k_m) as a column [B,D,1] */
  eb_tensor *ksum = eb_reshape(ctx, eb_sum_axis(ctx, fk, 1, 0), 3, (int[]){B, D, 1});
  /* Σ_m φ(k_m) v_mᵀ: [B,D,D], kept to the head blocks */
  eb_tensor *kv =
      eb_add(ctx, eb_bmm(ctx, eb_bmm(ctx, fk, a, 1, 0), wv, 0, 1), eb_mul(ctx, ksum, bv));
  kv = eb_mul(ctx, kv, c->hm);
  /* Σ_m φ(k_m), column c routed to its head: [B,D,1] * [D,H] -> [B,D,H] */
  eb_tensor *ks = eb_mul(ctx, ksum, c->hsel);
  /* normaliser φ(q_n)·Σ_m φ(k_m) per head, + eps: [B,N,H] */
  eb_tensor *den = eb_add(ctx, eb_bmm(ctx, fq, ks, 0, 0), c->eps);
  for (int64_t i = 0; den && i < den->size; i++) /* ops run eagerly: data is ready */
    if (den->data[i] < *den_min) *den_min = den->data[i];
  eb_tensor *num = eb_bmm(ctx, fq, kv, 0, 0); /* [B,N,D] */
  /* each head's Dh columns over its normaliser (broadcast [B,N,H,1]) */
  eb_tensor *o = eb_div(ctx, eb_reshape(ctx, num, 4, (int[]){B, N, H, Dh}),
                        eb_reshape(ctx, den, 4, (int[]){B, N, H, 1}));
  return eb_reshape(ctx, o, 3, (int[]){B, N, D});
}

/* x[B,N,D], mask[B*N] (1 = real token, NULL = all real) -> out[B,N,D] */
static int la_forward(void *model, eb_ctx *ctx, eb_tensor *x, const uint8_t *mask,
                      eb_tensor **out, char *err, size_t errlen) {
  la_model *m = model;
  const int B = x->shape[0], N = x->shape[1], D = m->cfg.dim, H = m->cfg.heads;
  const float p = m->cfg.dropout;
  /* a mask without padding changes nothing: skip the masking (and its FLOPs) */
  int padded = 0;
  for (int64_t i = 0; mask && i < (int64_t)B * N; i++)
    padded |= !mask[i];
  const uint8_t *kmask = padded ? mask : NULL;
  la_consts c;
  if (la_consts_make(ctx, D, H, m->eps, &c)) {
    snprintf(err, errlen, "%s", eb_ctx_error(ctx));
    return -1;
  }
  /* without active dropout the output layers accumulate onto the residual */
  const int drop = p > 0.0f && eb_ctx_training(ctx);
  m->den_min = INFINITY;
  for (int i = 0; i < m->cfg.depth; i++) {
    la_layer *l = &m->layers[i];
    eb_tensor *a = eb_layernorm(ctx, x, l->ln1_g, l->ln1_b);
    eb_tensor *wf = eb_reshape(ctx, l->wqkv, 2, (int[]){1, 3 * D * D});
    eb_tensor *bf = eb_reshape(ctx, l->bqkv, 2, (int[]){1, 3 * D});
    eb_tensor *q = eb_linear(ctx, a, part_of(ctx, wf, 0, 2, (int[]){D, D}),
                             part_of(ctx, bf, 0, 1, (int[]){D}));
    eb_tensor *k = eb_linear(ctx, a, part_of(ctx, wf, 1, 2, (int[]){D, D}),
                             part_of(ctx, bf, 1, 1, (int[]){D}));
    eb_tensor *o = linear_attention(ctx, q, k, a, part_of(ctx, wf, 2, 2, (int[]){D, D}),
                                    part_of(ctx, bf, 2, 2, (int[]){1, D}), kmask, &c, H,
                                    &m->den_min);
    if (drop)
      x = eb_add(ctx, x, eb_dropout(ctx, eb_linear(ctx, o, l->wo, l->bo), p));
    else
      x = eb_linear_add(ctx, o, l->wo, l->bo, x);
    /* the MLP: b1 applied by the fused bias + GELU pass */
    eb_tensor *h = eb_bias_gelu(
        ctx, eb_linear(ctx, eb_layernorm(ctx, x, l->ln2_g, l->ln2_b), l->w1, NULL),
        l->b1);
    if (drop)
      x = eb_add(ctx, x, eb_dropout(ctx, eb_linear(ctx, h, l->w2, l->b2), p));
    else
      x = eb_linear_add(ctx, h, l->w2, l->b2, x);
    if (!x) {
      snprintf(err, errlen, "block %d: %s", i, eb_ctx_error(ctx));
      return -1;
    }
  }
  *out = x;
  return 0;
}

/* Analytic FLOPs of the blocks (docs/flops.md conventions), x[B,N,D] without
 * padding; training adds the backward pass with x requiring a gradient. */
static double la_flops(const eb_model_config *cfg, const eb_args *args, int B, int N,
                       int training) {
  const double D = cfg->dim, F = cfg->ffn, H = cfg->heads, R = (double)B * N;
  const double drop = (training && cfg->dropout > 0) ? 1.0 : 0.0;
  /* the products over the sequence Kᵀ A (A the block's normalised input)
   * and Q kv, [B*N,D] x [D,D]; Q ks against [D,H]; (Kᵀ A) wvᵀ per sequence */
  const double gemm = 2 * R * D * D, gden = 2 * R * D * H, gw = 2.0 * B * D * D * D;
  const double S = (double)B * D * D;        /* one [B,D,D] elementwise op */
  double fwd = 8 * R * D                     /* ln1 */
               + 2 * (2 * R * D * D + R * D) /* q, k projections */
               + 2 * 2 * R * D               /* elu1 of q and k */
               + R * D                       /* Σ φ(k) */
               + gemm + gw                   /* (Kᵀ A) wvᵀ */
               + 3 * S                       /* + Σ φ(k) bvᵀ, head blocks */
               + B * D * H                   /* Σ φ(k) routed to the heads */
               + gden + R * H                /* normaliser, + eps */
               + gemm + R * D                /* Q kv, divided by the normaliser */
               + 2 * R * D * D + R * D       /* wo */
               + drop * R * D + R * D        /* dropout, residual */
               + 8 * R * D                   /* ln2 */
               + 2 * R * F * D + R * F       /* w1, its bias */
               + 9 * R * F                   /* gelu */
               + 2 * R * D * F + R * D       /* w2 */
               + drop * R * D + R * D;       /* dropout, residual */
  double bwd = 0;
  if (training)
    bwd = 2 * (2 * R * D + drop * 2 * R * D) /* residual adds, dropouts */
          + 4 * R * D * F + R * D            /* w2: dx, dw, db */
          + 20 * R * F                       /* gelu and b1 */
          + 4 * R * F * D                    /* w1 */
          + 19 * R * D                       /* ln2 */
          + 4 * R * D * D + R * D            /* wo */
          + 5 * R * D                        /* divide (num 2, den 3) */
          + R * H                            /* + eps */
          + 2 * gden                         /* dQ, dks of the normaliser */
          + 2 * gemm                         /* dQ, dkv of Q kv */
          + 2 * B * D * H                    /* routing to the heads */
          + 2 * S + 2 * S + 4 * S            /* head blocks, +, Σ φ(k) bvᵀ */
          + 2 * gw + 2 * gemm                /* (Kᵀ A) wvᵀ: d(KᵀA), dwv, dK, dA */
          + R * D                            /* Σ φ(k) */
          + 2 * R * D                        /* elu1 of q and k */
          + 2 * (4 * R * D * D + R * D)      /* q, k projections */
          + 2 * (3 * D * D + 3 * D)          /* the q, k, v parts of wqkv, bqkv */
          + 19 * R * D;                      /* ln1 */
  (void)args;
  return cfg->depth * (fwd + bwd);
}

/* Analytic GEMM FLOPs (docs/flops.md "GEMM FLOPs"): 2mnk of every matrix
 * product: the q, k, output and MLP projections, and the attention's four
 * batched products (Kᵀ A, (Kᵀ A) wvᵀ, the normaliser Q ks, the numerator
 * Q kv); backward, both operands' gradients of each. Nothing is recomputed,
 * so model = executed. */
static int la_gemm_flops(const eb_model_config *cfg, const eb_args *args, int B, int N,
                         int training, double *model, double *executed) {
  const double D = cfg->dim, F = cfg->ffn, H = cfg->heads, R = (double)B * N;
  const double lin = 2 * R * (2 * D * D + D * D + 2 * D * F);
  const double att = 2 * (2 * R * D * D) + 2.0 * B * D * D * D + 2 * R * D * H;
  (void)args;
  *executed = *model = cfg->depth * (lin + att + (training ? 2 * (lin + att) : 0));
  return 0;
}

/* Extra metrics, stored with each run by `effbench run`. */
static void la_stats(void *model, eb_stat_sink *sink) {
  la_model *m = model;
  if (isfinite(m->den_min)) sink->emit(sink->user, "normaliser_min", m->den_min);
}

/* What `effbench report --table stats` shows of it (with the plugin loaded). */
static const eb_stat_decl la_stat_decls[] = {
    {"normaliser_min", "normaliser min", NULL, EB_STAT_MIN,
     "smallest phi(q).sum phi(k) + eps of the last training forward"},
    {NULL, NULL, NULL, 0, NULL},
};

#ifndef LINEAR_ATTENTION_NAME
#define LINEAR_ATTENTION_NAME "linear_attention"
#endif

static const eb_arch linear_attention_arch = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_arch),
    .name = LINEAR_ATTENTION_NAME,
    .summary = "elu+1 linear attention (Katharopoulos et al. 2020) + GELU MLP, pre-LN",
    .params = la_params,
    .validate = la_validate,
    .create = la_create,
    .forward = la_forward,
    .flops = la_flops,
    .stats = la_stats,
    .destroy = la_destroy,
    .gemm_flops = la_gemm_flops,
    .stat_decls = la_stat_decls,
};

#ifndef LINEAR_ATTENTION_NO_ENTRY
/* The plugin's one exported symbol (everything else above is static). */
int effbench_plugin_init(eb_registry *reg, int host_abi_version) {
  if (host_abi_version < EFFBENCH_ABI_VERSION) {
    /* An older effbench: its registry refuses the table and words the error
     * (which versions, "rebuild the plugin"); never run against it. */
    eb_register_arch(reg, &linear_attention_arch);
    return -1;
  }
  return eb_register_arch(reg, &linear_attention_arch);
}
#endif
