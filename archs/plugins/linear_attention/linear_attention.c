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

/* x[...] -> elu(x) + 1 = relu(x) + exp(-relu(-x)): x + 1 above 0, exp(x) below */
static eb_tensor *phi(eb_ctx *ctx, eb_tensor *x) {
  eb_tensor *neg = eb_scale(ctx, eb_relu(ctx, eb_scale(ctx, x, -1.0f)), -1.0f);
  return eb_add(ctx, eb_relu(ctx, x), eb_exp(ctx, neg));
}

/* [B,N,D] -> [B,H,N,D/H] */
static eb_tensor *split_heads(eb_ctx *ctx, eb_tensor *x, int H) {
  if (!x) return NULL;
  const int B = x->shape[0], N = x->shape[1], D = x->shape[2];
  return eb_transpose(ctx, eb_reshape(ctx, x, 4, (int[]){B, N, H, D / H}), 1, 2);
}

/* [B,H,N,Dh] -> [B,N,H*Dh] */
static eb_tensor *merge_heads(eb_ctx *ctx, eb_tensor *x) {
  if (!x) return NULL;
  const int B = x->shape[0], H = x->shape[1], N = x->shape[2], Dh = x->shape[3];
  return eb_reshape(ctx, eb_transpose(ctx, x, 1, 2), 3, (int[]){B, N, H * Dh});
}

/* A constant tensor (no gradient) filled with v. */
static eb_tensor *filled(eb_ctx *ctx, int ndim, const int *shape, float v) {
  eb_tensor *t = eb_tensor_new(ctx, ndim, shape);
  for (int64_t i = 0; t && i < t->size; i++)
    t->data[i] = v;
  return t;
}

/* q, k, v [B,N,D] projections, keep [B,N,D] 0/1 key mask or NULL,
 * ones [B,H,N,Dh], eps [Dh] -> [B,N,D]; *den_min lowers to the smallest
 * normaliser seen (a health metric: near eps, outputs blow up) */
static eb_tensor *linear_attention(eb_ctx *ctx, eb_tensor *q, eb_tensor *k, eb_tensor *v,
                                   eb_tensor *keep, eb_tensor *ones, eb_tensor *eps,
                                   int H, double *den_min) {
  eb_tensor *fk = phi(ctx, k);
  if (keep) fk = eb_mul(ctx, fk, keep); /* padded keys contribute nothing */
  eb_tensor *Q = split_heads(ctx, phi(ctx, q), H);
  eb_tensor *K = split_heads(ctx, fk, H);
  eb_tensor *V = split_heads(ctx, v, H);
  eb_tensor *kv = eb_matmul(ctx, K, V, 1, 0);    /* Σ_m φ(k_m) v_mᵀ    [B,H,Dh,Dh] */
  eb_tensor *ks = eb_matmul(ctx, K, ones, 1, 0); /* Σ_m φ(k_m) per column [B,H,Dh,Dh] */
  eb_tensor *num = eb_matmul(ctx, Q, kv, 0, 0);  /* [B,H,N,Dh] */
  /* φ(q_n)·Σ_m φ(k_m), repeated in each of the Dh columns, + eps */
  eb_tensor *den = eb_add(ctx, eb_matmul(ctx, Q, ks, 0, 0), eps);
  for (int64_t i = 0; den && i < den->size; i++) /* ops run eagerly: data is ready */
    if (den->data[i] < *den_min) *den_min = den->data[i];
  return merge_heads(ctx, eb_div(ctx, num, den));
}

/* x[B,N,D], mask[B*N] (1 = real token, NULL = all real) -> out[B,N,D] */
static int la_forward(void *model, eb_ctx *ctx, eb_tensor *x, const uint8_t *mask,
                      eb_tensor **out, char *err, size_t errlen) {
  la_model *m = model;
  const int B = x->shape[0], N = x->shape[1], D = m->cfg.dim, H = m->cfg.heads;
  const float p = m->cfg.dropout;
  /* a mask without padding changes nothing: skip the multiply (and its FLOPs) */
  int padded = 0;
  for (int64_t i = 0; mask && i < (int64_t)B * N; i++)
    padded |= !mask[i];
  eb_tensor *keep = NULL;
  if (padded) {
    keep = eb_tensor_new(ctx, 3, (int[]){B, N, D});
    for (int64_t r = 0; keep && r < (int64_t)B * N; r++)
      for (int j = 0; j < D; j++)
        keep->data[r * D + j] = mask[r] ? 1.0f : 0.0f;
  }
  eb_tensor *ones = filled(ctx, 4, (int[]){B, H, N, D / H}, 1.0f);
  eb_tensor *eps = filled(ctx, 1, (int[]){D / H}, m->eps);
  if (!ones || !eps || (padded && !keep)) {
    snprintf(err, errlen, "%s", eb_ctx_error(ctx));
    return -1;
  }
  m->den_min = INFINITY;
  for (int i = 0; i < m->cfg.depth; i++) {
    la_layer *l = &m->layers[i];
    eb_tensor *a = eb_layernorm(ctx, x, l->ln1_g, l->ln1_b);
    eb_tensor *qkv = eb_linear(ctx, a, l->wqkv, l->bqkv);
    eb_tensor *o = linear_attention(
        ctx, eb_slice_last(ctx, qkv, 0, D), eb_slice_last(ctx, qkv, D, D),
        eb_slice_last(ctx, qkv, 2 * D, D), keep, ones, eps, H, &m->den_min);
    x = eb_add(ctx, x, eb_dropout(ctx, eb_linear(ctx, o, l->wo, l->bo), p));
    eb_tensor *h = eb_gelu(
        ctx, eb_linear(ctx, eb_layernorm(ctx, x, l->ln2_g, l->ln2_b), l->w1, l->b1));
    x = eb_add(ctx, x, eb_dropout(ctx, eb_linear(ctx, h, l->w2, l->b2), p));
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
  const double D = cfg->dim, F = cfg->ffn, dh = D / cfg->heads, R = (double)B * N;
  const double drop = (training && cfg->dropout > 0) ? 1.0 : 0.0;
  /* the four GEMMs Kᵀ V, Kᵀ 1, Q kv, Q ks: 2·N·Dh² each per (b,h) */
  const double gemm = 2 * R * D * dh;
  double fwd = 8 * R * D                       /* ln1 */
               + 2 * R * 3 * D * D + 3 * R * D /* qkv */
               + 2 * 6 * R * D                 /* φ(q), φ(k) */
               + 4 * gemm                      /* attention GEMMs */
               + 2 * R * D                     /* + eps, divide */
               + 2 * R * D * D + R * D         /* wo */
               + drop * R * D + R * D          /* dropout, residual */
               + 8 * R * D                     /* ln2 */
               + 2 * R * F * D + R * F         /* w1 */
               + 9 * R * F                     /* gelu */
               + 2 * R * D * F + R * D         /* w2 */
               + drop * R * D + R * D;         /* dropout, residual */
  double bwd = 0;
  if (training)
    bwd = 2 * (2 * R * D + drop * 2 * R * D) /* residual adds, dropouts */
          + 4 * R * D * F + R * D            /* w2: dx, dw, db */
          + 19 * R * F                       /* gelu */
          + 4 * R * F * D + R * F            /* w1 */
          + 19 * R * D                       /* ln2 */
          + 4 * R * D * D + R * D            /* wo */
          + R * D                            /* merge heads (transpose) */
          + 5 * R * D + R * D                /* divide (num 2, den 3), + eps */
          + 7 * gemm                         /* dQ twice, dkv, dks, dK twice, dV */
          + 3 * R * D                        /* split heads (3 transposes) */
          + 2 * 10 * R * D                   /* φ(q), φ(k) */
          + 3 * R * D                        /* q, k, v slices */
          + 4 * R * 3 * D * D + 3 * R * D    /* qkv */
          + 19 * R * D;                      /* ln1 */
  (void)args;
  return cfg->depth * (fwd + bwd);
}

/* Analytic GEMM FLOPs (docs/flops.md "GEMM FLOPs"): 2mnk of every matrix
 * product: the four projections (backward: dx and dw), the attention's four
 * batched matmuls (backward: the 7 gradients above; the ones need none).
 * Nothing is recomputed, so model = executed. */
static int la_gemm_flops(const eb_model_config *cfg, const eb_args *args, int B, int N,
                         int training, double *model, double *executed) {
  const double D = cfg->dim, F = cfg->ffn, dh = D / cfg->heads, R = (double)B * N;
  const double lin = 2 * R * (3 * D * D + D * D + 2 * D * F), gemm = 2 * R * D * dh;
  (void)args;
  *executed = *model =
      cfg->depth * (lin + 4 * gemm + (training ? 2 * lin + 7 * gemm : 0));
  return 0;
}

/* Extra metrics, stored with each run by `effbench run`. */
static void la_stats(void *model, eb_stat_sink *sink) {
  la_model *m = model;
  if (isfinite(m->den_min)) sink->emit(sink->user, "normaliser_min", m->den_min);
}

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
