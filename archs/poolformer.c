/* poolformer: the MetaFormer block with pooling as the token mixer (Yu et al.
 * 2021, "MetaFormer is actually what you need for vision"). No attention: each
 * token takes the average of its neighbours minus itself, then a GELU MLP, each
 * in a pre-LayerNorm residual branch.
 *
 *   x = x + Dropout(AvgPool_P(LN1(x)) - LN1(x))
 *   x = x + Dropout(W2 · Dropout_m(GELU(W1 · LN2(x) + b1)) + b2)
 *
 * Dropout_m is model.mlp_dropout (off by default); model.attention_dropout is
 * refused: there are no attention probabilities.
 *
 * AvgPool_P averages over the window [t - P/2, t + P/2] clipped to the
 * sequence and counting only real tokens (padding-aware at the sequence ends
 * and at padding: PyTorch's count_include_pad=False, plus the mask). The
 * subtraction of the input is the paper's: the residual already carries x.
 * PoolFormer's LayerScale is left out, so that the block matches vanilla's
 * apart from the mixer (the comparison MetaFormer argues for).
 *
 * LN1 has a gain but no bias: a bias is the same for every token, so it cancels
 * in AvgPool(a) - a on every real token (each window holds at least the token
 * itself) and would be a parameter whose gradient is identically zero.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "block_util.h"
#include "effbench/plugin.h"

typedef struct layer {
  eb_tensor *ln1_g, *ln2_g, *ln2_b, *w1, *b1, *w2, *b2;
} layer;

typedef struct poolformer {
  eb_model_config cfg;
  int pool;
  layer *layers;
} poolformer;

static const eb_param_decl poolformer_params[] = {
    {"pool", EB_P_INT, "3", "pooling window (odd; 3 as in PoolFormer)", NULL},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

/* With pool: cls the CLS token (position 0) classifies, but each block widens
 * its view by only pool/2 positions: after depth blocks it sees
 * 1 + depth * (pool/2) positions. Refused when the sequence (CLS included) is
 * longer; when the length is not known yet (cfg->max_len 0, suite validation)
 * refused too, since a local mixer cannot cover an arbitrary length: a suite
 * that wants CLS with PoolFormer sets pool: mean, or runs it through `effbench
 * train`, which knows the length. */
static int poolformer_validate(const eb_model_config *cfg, const eb_args *args, char *err,
                               size_t errlen) {
  const int64_t pool = eb_args_int(args, "pool", 3);
  if (pool < 1 || pool % 2 == 0 || pool > 1000001) {
    snprintf(err, errlen,
             "parameter 'pool' = %lld: must be an odd window size >= 1 (centred on the "
             "token)",
             (long long)pool);
    return -1;
  }
  if (cfg->attention_dropout > 0) {
    snprintf(err, errlen,
             "model.attention_dropout %g: poolformer's token mixer is average pooling, "
             "it has no attention probabilities to drop; set attention_dropout: 0 for "
             "poolformer (an override: match: {arch: poolformer}, model: "
             "{attention_dropout: 0})",
             (double)cfg->attention_dropout);
    return -1;
  }
  if (cfg->pool != EB_POOL_CLS) return 0;
  const int64_t field = 1 + (int64_t)cfg->depth * (pool / 2);
  if (cfg->max_len == 0) {
    snprintf(
        err, errlen,
        "pool: cls needs position 0 to see the whole sequence, but poolformer's "
        "position 0 sees only 1 + depth * (pool/2) = %lld positions and the length is "
        "not known here: use pool: mean",
        (long long)field);
    return -1;
  }
  if (field < cfg->max_len) {
    snprintf(err, errlen,
             "pool: cls needs position 0 to see the whole sequence (%d positions with "
             "CLS), but poolformer's position 0 sees only 1 + depth * (pool/2) = %lld: "
             "use pool: mean, or a larger pool or depth",
             cfg->max_len, (long long)field);
    return -1;
  }
  return 0;
}

static int poolformer_create(const eb_model_config *cfg, const eb_args *args,
                             eb_params *P, void **out, char *err, size_t errlen) {
  poolformer *v = calloc(1, sizeof *v);
  layer *ls = calloc(cfg->depth ? cfg->depth : 1, sizeof *ls);
  if (!v || !ls) {
    free(v);
    free(ls);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  v->cfg = *cfg;
  v->pool = (int)eb_args_int(args, "pool", 3);
  v->layers = ls;
  const int D = cfg->dim, F = cfg->ffn;
  const float sd = 1.0f / sqrtf((float)D), sf = 1.0f / sqrtf((float)F);
  for (int i = 0; i < cfg->depth; i++) {
    layer *l = &ls[i];
    l->ln1_g = eb_block_param(P, i, "ln1.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    l->ln2_g = eb_block_param(P, i, "ln2.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    l->ln2_b = eb_block_param(P, i, "ln2.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->w1 = eb_block_param(P, i, "mlp.w1", 2, (int[]){F, D}, EB_INIT_UNIFORM, sd);
    l->b1 = eb_block_param(P, i, "mlp.b1", 1, (int[]){F}, EB_INIT_ZEROS, 0);
    l->w2 = eb_block_param(P, i, "mlp.w2", 2, (int[]){D, F}, EB_INIT_UNIFORM, sf);
    l->b2 = eb_block_param(P, i, "mlp.b2", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    if (!l->ln1_g || !l->ln2_g || !l->ln2_b || !l->w1 || !l->b1 || !l->w2 || !l->b2) {
      snprintf(err, errlen, "could not declare the parameters of block %d", i);
      free(ls);
      free(v);
      return -1;
    }
  }
  *out = v;
  return 0;
}

/* x[B,N,D], mask[B*N] -> out[B,N,D] */
static int poolformer_forward(void *model, eb_ctx *ctx, eb_tensor *x, const uint8_t *mask,
                              eb_tensor **out, char *err, size_t errlen) {
  poolformer *v = model;
  const float p = v->cfg.dropout, pm = v->cfg.mlp_dropout;
  eb_tensor *zero = eb_tensor_zeros(ctx, 1, (int[]){v->cfg.dim}); /* LN1's bias */
  for (int i = 0; i < v->cfg.depth; i++) {
    layer *l = &v->layers[i];
    eb_tensor *a = eb_layernorm(ctx, x, l->ln1_g, zero);
    if (p == 0.0f || !eb_ctx_training(ctx)) { /* x + AvgPool(a) - a, one pass */
      x = eb_avgpool1d_sub(ctx, a, v->pool, mask, x);
    } else {
      eb_tensor *mix = eb_avgpool1d_sub(ctx, a, v->pool, mask, NULL); /* AvgPool(a) - a */
      x = eb_add(ctx, x, eb_dropout(ctx, mix, p));
    }
    x = eb_block_mlp(ctx, x, l->ln2_g, l->ln2_b, l->w1, l->b1, l->w2, l->b2, p, pm);
    if (!x) {
      snprintf(err, errlen, "block %d: %s", i, eb_ctx_error(ctx));
      return -1;
    }
  }
  *out = x;
  return 0;
}

/* Number of (output t, input tau) pairs of a window P over N positions, all
 * real: sum_t |[t - P/2, t + P/2] ∩ [0, N)|. */
static double pool_terms(int N, int P) {
  const int r = P / 2;
  double terms = 0;
  for (int t = 0; t < N; t++) {
    const int lo = t - r < 0 ? 0 : t - r, hi = t + r > N - 1 ? N - 1 : t + r;
    terms += hi - lo + 1;
  }
  return terms;
}

/* Analytic FLOPs of the blocks (docs/flops.md, docs/flops-seq.md), x[B,N,D]
 * without padding; training adds the backward pass. */
static double poolformer_flops(const eb_model_config *cfg, const eb_args *args, int B,
                               int N, int training) {
  const double D = cfg->dim, F = cfg->ffn, R = (double)B * N;
  const double T = B * pool_terms(N, (int)eb_args_int(args, "pool", 3));
  const double drop = (training && cfg->dropout > 0) ? 1.0 : 0.0;
  const double mdrop = (training && cfg->mlp_dropout > 0) ? 1.0 : 0.0;
  double fwd = 8 * R * D               /* ln1 */
               + D * T + (D + 1) * R   /* avgpool (every window non-empty) */
               + R * D                 /* pool - x */
               + drop * R * D + R * D  /* dropout, residual */
               + 8 * R * D             /* ln2 */
               + 2 * R * F * D + R * F /* w1 */
               + 9 * R * F             /* gelu */
               + mdrop * R * F         /* mlp dropout */
               + 2 * R * D * F + R * D /* w2 */
               + drop * R * D + R * D; /* dropout, residual */
  double bwd = 0;
  if (training)
    bwd = 2 * (2 * R * D + drop * 2 * R * D) /* residual adds, dropouts */
          + 4 * R * D * F + R * D            /* w2: dx, dw, db */
          + mdrop * 2 * R * F                /* mlp dropout */
          + 19 * R * F                       /* gelu */
          + 4 * R * F * D + R * F            /* w1 */
          + 19 * R * D                       /* ln2 */
          + 2 * R * D                        /* pool - x: both inputs */
          + 2 * D * T                        /* avgpool */
          + 18 * R * D;                      /* ln1: dx, dgamma (no bias) */
  return cfg->depth * (fwd + bwd);
}

/* Analytic GEMM FLOPs (docs/flops.md "GEMM FLOPs"): the MLP's two projections
 * (the pooling mixer has no matrix product). */
static int poolformer_gemm_flops(const eb_model_config *cfg, const eb_args *args, int B,
                                 int N, int training, double *model, double *executed) {
  (void)args;
  const double D = cfg->dim, F = cfg->ffn, R = (double)B * N;
  const double lin = 2 * (2 * R * D * F);
  *executed = *model = cfg->depth * (lin + (training ? 2 * lin : 0));
  return 0;
}

static void poolformer_destroy(void *model) {
  poolformer *v = model;
  if (!v) return;
  free(v->layers);
  free(v);
}

const eb_arch eb_arch_poolformer = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_arch),
    .name = "poolformer",
    .summary = "MetaFormer with average pooling minus identity as the token mixer + "
               "GELU MLP (no attention)",
    .params = poolformer_params,
    .validate = poolformer_validate,
    .create = poolformer_create,
    .forward = poolformer_forward,
    .flops = poolformer_flops,
    .destroy = poolformer_destroy,
    .gemm_flops = poolformer_gemm_flops,
};
