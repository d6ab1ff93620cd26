/* mamba: the Mamba-1 block (Gu & Dao 2023, "Mamba: Linear-Time Sequence
 * Modeling with Selective State Spaces"), pre-LayerNorm residual, no separate
 * MLP (the gated SSM block is the whole layer, as in Mamba):
 *
 *   [xs, z] = W_in · LN(x)                        (E = expand·D each, no bias)
 *   u       = SiLU(conv1d_causal_dw(xs))          (kernel `conv`, with bias)
 *   [dt, B, C] = W_x · u                          (dt_rank, state, state)
 *   delta   = softplus(W_dt · dt + b_dt)          [B,N,E]
 *   A       = -exp(A_log)                         [E,state], diagonal
 *   y       = selective_scan(u, delta, A, B, C, D)
 *   x       = x + Dropout(W_out · (y * SiLU(z)))
 *
 * Initialisation as in Mamba: A_log = log(1..state) per channel (S4D-real),
 * D = 1, softplus(b_dt) = dt spread log-uniformly over [1e-3, 1e-1] (the
 * channels' dt are evenly spaced quantiles instead of random draws),
 * W_dt ~ U(±dt_rank^-1/2), the projections and the conv as PyTorch's default
 * nn.Linear / nn.Conv1d. Weight decay: none on A_log, D and b_dt (declared
 * with eb_param_set_decay, as Mamba's _no_weight_decay) nor on the biases and
 * LayerNorm; the projection and conv weights decay.
 *
 * bidirectional=true (for encoder tasks) adds a second scan over the reversed
 * sequence with its own conv, x/dt projections, A_log and D (the in/out
 * projections and the gate are shared), as Vision Mamba's bidirectional block
 * (Zhu et al. 2024): y = scan_fwd(...) + reverse(scan_rev(reverse(...))).
 *
 * model.attention_dropout and model.mlp_dropout are refused: the block has
 * neither attention probabilities nor a separate MLP.
 *
 * Padding: sequences are right-padded, so the causal forward scan never lets a
 * padded position reach a real one. The reversed scan meets the padding first:
 * there xs is zeroed before the conv and u after the SiLU (so the conv windows
 * and the state see zeros, B = C = W_x·0 = 0), which makes the reversed scan
 * over a padded sequence equal the reversed scan over its real tokens alone.
 * With a CLS token (position 0) a unidirectional block lets CLS see only
 * itself, so validate refuses pool: cls unless bidirectional=true.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block_util.h"
#include "effbench/plugin.h"

/* one scan direction */
typedef struct ssm {
  eb_tensor *conv_w, *conv_b, *x_proj, *dt_w, *dt_b, *A_log, *D;
} ssm;

typedef struct layer {
  eb_tensor *ln_g, *ln_b, *in_proj, *out_proj;
  ssm fwd, rev;
} layer;

typedef struct mamba {
  eb_model_config cfg;
  int E, S, R, K, bidir;
  layer *layers;
} mamba;

static const eb_param_decl mamba_params[] = {
    {"state", EB_P_INT, "16", "SSM state size per channel (N in the paper)", NULL},
    {"expand", EB_P_INT, "2", "inner width E = expand * dim", NULL},
    {"dt_rank", EB_P_INT, "0", "rank of the delta projection (0 = ceil(dim / 16))", NULL},
    {"conv", EB_P_INT, "4", "kernel of the causal depthwise conv1d", NULL},
    {"bidirectional", EB_P_BOOL, "false",
     "add a scan over the reversed sequence (own conv, projections, A, D) for encoders",
     NULL},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

typedef struct dims {
  int E, S, R, K, bidir;
} dims;

static dims mamba_dims(const eb_model_config *cfg, const eb_args *args) {
  dims d;
  d.E = (int)(eb_args_int(args, "expand", 2) * cfg->dim);
  d.S = (int)eb_args_int(args, "state", 16);
  d.R = (int)eb_args_int(args, "dt_rank", 0);
  if (d.R == 0) d.R = (cfg->dim + 15) / 16;
  d.K = (int)eb_args_int(args, "conv", 4);
  d.bidir = (int)eb_args_int(args, "bidirectional", 0);
  return d;
}

static int mamba_validate(const eb_model_config *cfg, const eb_args *args, char *err,
                          size_t errlen) {
  /* the block is one gated SSM branch: no attention, no separate MLP */
  if (cfg->attention_dropout > 0 || cfg->mlp_dropout > 0) {
    const int att = cfg->attention_dropout > 0;
    snprintf(err, errlen,
             "model.%s %g: a mamba block has no %s to drop; set %s: 0 for mamba (an "
             "override: match: {arch: mamba}, model: {%s: 0})",
             att ? "attention_dropout" : "mlp_dropout",
             (double)(att ? cfg->attention_dropout : cfg->mlp_dropout),
             att ? "attention probabilities"
                 : "MLP (its gated SSM branch is the whole "
                   "block)",
             att ? "attention_dropout" : "mlp_dropout",
             att ? "attention_dropout" : "mlp_dropout");
    return -1;
  }
  static const struct {
    const char *name;
    int64_t lo, def;
    const char *why;
  } lim[] = {
      {"state", 1, 16, "the SSM needs at least one state per channel"},
      {"expand", 1, 2, "the inner width expand * dim must be at least dim"},
      {"dt_rank", 0, 0, "0 (automatic: ceil(dim / 16)) or a positive rank"},
      {"conv", 1, 4, "the conv1d kernel needs at least one tap"},
  };
  for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
    const int64_t v = eb_args_int(args, lim[i].name, lim[i].def);
    if (v < lim[i].lo || v > 65536) {
      snprintf(err, errlen, "parameter '%s' = %lld: must be in [%lld, 65536]: %s",
               lim[i].name, (long long)v, (long long)lim[i].lo, lim[i].why);
      return -1;
    }
  }
  if (eb_args_int(args, "expand", 2) * (int64_t)cfg->dim > (1 << 24)) {
    snprintf(err, errlen, "parameter 'expand' = %lld: inner width %lld is too large",
             (long long)eb_args_int(args, "expand", 2),
             (long long)(eb_args_int(args, "expand", 2) * cfg->dim));
    return -1;
  }
  /* the forward scan and the causal conv carry nothing back to position 0 */
  if (cfg->pool == EB_POOL_CLS && !eb_args_int(args, "bidirectional", 0)) {
    snprintf(
        err, errlen,
        "pool: cls needs position 0 to see the whole sequence, but a unidirectional "
        "mamba's position 0 sees only itself: use pool: mean, or bidirectional: true");
    return -1;
  }
  return 0;
}

/* Declare one direction's parameters ("" or "rev."); 0 or -1. */
static int declare_ssm(eb_params *P, int i, const char *pre, const dims *d, ssm *s,
                       const float *a_log, const float *dt_bias) {
  char n[7][48];
  const char *leaf[7] = {"conv.w",    "conv.b", "x_proj.w", "dt_proj.w",
                         "dt_proj.b", "A_log",  "D"};
  for (int k = 0; k < 7; k++)
    snprintf(n[k], sizeof n[k], "%s%s", pre, leaf[k]);
  const float sk = 1.0f / sqrtf((float)d->K), se = 1.0f / sqrtf((float)d->E);
  s->conv_w = eb_block_param(P, i, n[0], 2, (int[]){d->E, d->K}, EB_INIT_UNIFORM, sk);
  s->conv_b = eb_block_param(P, i, n[1], 1, (int[]){d->E}, EB_INIT_UNIFORM, sk);
  s->x_proj =
      eb_block_param(P, i, n[2], 2, (int[]){d->R + 2 * d->S, d->E}, EB_INIT_UNIFORM, se);
  s->dt_w = eb_block_param(P, i, n[3], 2, (int[]){d->E, d->R}, EB_INIT_UNIFORM,
                           1.0f / sqrtf((float)d->R));
  s->dt_b = eb_block_param(P, i, n[4], 1, (int[]){d->E}, EB_INIT_ZEROS, 0);
  s->A_log = eb_block_param(P, i, n[5], 2, (int[]){d->E, d->S}, EB_INIT_ZEROS, 0);
  s->D = eb_block_param(P, i, n[6], 1, (int[]){d->E}, EB_INIT_ONES, 0);
  if (!s->conv_w || !s->conv_b || !s->x_proj || !s->dt_w || !s->dt_b || !s->A_log ||
      !s->D)
    return -1;
  if (eb_param_init_values(P, s->A_log, a_log) ||
      eb_param_init_values(P, s->dt_b, dt_bias))
    return -1;
  /* no weight decay on the SSM's spectrum, skip and dt bias (as Mamba's
   * _no_weight_decay): decay would pull A_log toward A = -1, D toward 0 */
  if (eb_param_set_decay(P, s->A_log, 0) || eb_param_set_decay(P, s->D, 0) ||
      eb_param_set_decay(P, s->dt_b, 0))
    return -1;
  return 0;
}

static int mamba_create(const eb_model_config *cfg, const eb_args *args, eb_params *P,
                        void **out, char *err, size_t errlen) {
  const dims d = mamba_dims(cfg, args);
  mamba *v = calloc(1, sizeof *v);
  layer *ls = calloc(cfg->depth ? cfg->depth : 1, sizeof *ls);
  float *a_log = malloc((size_t)d.E * d.S * sizeof *a_log);
  float *dt_bias = malloc((size_t)d.E * sizeof *dt_bias);
  if (!v || !ls || !a_log || !dt_bias) {
    free(v);
    free(ls);
    free(a_log);
    free(dt_bias);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  v->cfg = *cfg;
  v->E = d.E;
  v->S = d.S;
  v->R = d.R;
  v->K = d.K;
  v->bidir = d.bidir;
  v->layers = ls;
  /* A = -(1..S) per channel; dt_c log-spaced in [1e-3, 1e-1], b = softplus^-1 */
  for (int c = 0; c < d.E; c++) {
    for (int s = 0; s < d.S; s++)
      a_log[(size_t)c * d.S + s] = logf((float)(s + 1));
    const double lo = log(1e-3), hi = log(1e-1);
    const double dt = exp(lo + (c + 0.5) / d.E * (hi - lo));
    dt_bias[c] = (float)(dt + log(-expm1(-dt)));
  }
  const int D = cfg->dim, E = d.E;
  int rc = 0;
  for (int i = 0; i < cfg->depth && rc == 0; i++) {
    layer *l = &ls[i];
    l->ln_g = eb_block_param(P, i, "ln.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    l->ln_b = eb_block_param(P, i, "ln.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->in_proj = eb_block_param(P, i, "in_proj.w", 2, (int[]){2 * E, D}, EB_INIT_UNIFORM,
                                1.0f / sqrtf((float)D));
    rc = !l->ln_g || !l->ln_b || !l->in_proj;
    if (!rc) rc = declare_ssm(P, i, "", &d, &l->fwd, a_log, dt_bias);
    if (!rc && d.bidir) rc = declare_ssm(P, i, "rev.", &d, &l->rev, a_log, dt_bias);
    if (!rc) {
      l->out_proj = eb_block_param(P, i, "out_proj.w", 2, (int[]){D, E}, EB_INIT_UNIFORM,
                                   1.0f / sqrtf((float)E));
      rc = !l->out_proj;
    }
    if (rc) snprintf(err, errlen, "could not declare the parameters of block %d", i);
  }
  free(a_log);
  free(dt_bias);
  if (rc) {
    free(ls);
    free(v);
    return -1;
  }
  *out = v;
  return 0;
}

/* One direction: xs[B,N,E] (already reversed and masked for the reversed scan),
 * keep[B,N,E] 0/1 or NULL -> y[B,N,E] */
static eb_tensor *ssm_forward(eb_ctx *ctx, const mamba *v, const ssm *s, eb_tensor *xs,
                              eb_tensor *keep) {
  eb_tensor *u = eb_silu(ctx, eb_conv1d_causal_dw(ctx, xs, s->conv_w, s->conv_b));
  if (keep) u = eb_mul(ctx, u, keep);
  eb_tensor *dbl = eb_linear(ctx, u, s->x_proj, NULL); /* [B,N,R+2S] */
  eb_tensor *dt = eb_slice_last(ctx, dbl, 0, v->R);
  eb_tensor *Bm = eb_slice_last(ctx, dbl, v->R, v->S);
  eb_tensor *Cm = eb_slice_last(ctx, dbl, v->R + v->S, v->S);
  eb_tensor *delta = eb_softplus(ctx, eb_linear(ctx, dt, s->dt_w, s->dt_b));
  eb_tensor *A = eb_scale(ctx, eb_exp(ctx, s->A_log), -1.0f);
  return eb_selective_scan(ctx, u, delta, A, Bm, Cm, s->D);
}

/* mask[B*N] -> keep[B,N,E] (1 real, 0 padding), reversed along N if rev */
static eb_tensor *keep_tensor(eb_ctx *ctx, const uint8_t *mask, int B, int N, int E,
                              int rev) {
  eb_tensor *k = eb_tensor_new(ctx, 3, (int[]){B, N, E});
  if (!k) return NULL;
  for (int b = 0; b < B; b++)
    for (int t = 0; t < N; t++) {
      const float m = mask[(size_t)b * N + (rev ? N - 1 - t : t)] ? 1.0f : 0.0f;
      float *row = k->data + ((size_t)b * N + t) * E;
      for (int e = 0; e < E; e++)
        row[e] = m;
    }
  return k;
}

/* x[B,N,D], mask[B*N] -> out[B,N,D] */
static int mamba_forward(void *model, eb_ctx *ctx, eb_tensor *x, const uint8_t *mask,
                         eb_tensor **out, char *err, size_t errlen) {
  mamba *v = model;
  const int B = x->shape[0], N = x->shape[1], E = v->E;
  const float p = v->cfg.dropout;
  int padded = 0;
  for (int64_t i = 0; mask && i < (int64_t)B * N; i++)
    padded |= !mask[i];
  eb_tensor *keep = NULL, *keep_rev = NULL;
  if (v->bidir && padded) {
    keep = keep_tensor(ctx, mask, B, N, E, 0);
    keep_rev = keep_tensor(ctx, mask, B, N, E, 1);
    if (!keep || !keep_rev) {
      snprintf(err, errlen, "%s", eb_ctx_error(ctx));
      return -1;
    }
  }
  for (int i = 0; i < v->cfg.depth; i++) {
    layer *l = &v->layers[i];
    eb_tensor *xz =
        eb_linear(ctx, eb_layernorm(ctx, x, l->ln_g, l->ln_b), l->in_proj, NULL);
    eb_tensor *xs = eb_slice_last(ctx, xz, 0, E);
    eb_tensor *z = eb_slice_last(ctx, xz, E, E);
    eb_tensor *y = ssm_forward(ctx, v, &l->fwd, xs, NULL);
    if (v->bidir) {
      eb_tensor *xr = eb_reverse_seq(ctx, keep ? eb_mul(ctx, xs, keep) : xs);
      y = eb_add(ctx, y, eb_reverse_seq(ctx, ssm_forward(ctx, v, &l->rev, xr, keep_rev)));
    }
    eb_tensor *o = eb_linear(ctx, eb_mul(ctx, y, eb_silu(ctx, z)), l->out_proj, NULL);
    x = eb_add(ctx, x, eb_dropout(ctx, o, p));
    if (!x) {
      snprintf(err, errlen, "block %d: %s", i, eb_ctx_error(ctx));
      return -1;
    }
  }
  *out = x;
  return 0;
}

/* taps of a causal conv of kernel K inside a sequence of N (docs/flops-seq.md) */
static double conv_taps(double N, double K) {
  return N >= K ? K * (K + 1) / 2 + (N - K) * K : N * (N + 1) / 2;
}

/* Analytic FLOPs of the blocks (docs/flops.md, docs/flops-seq.md), x[B,N,D]
 * without padding; training adds the backward pass. */
static double mamba_flops(const eb_model_config *cfg, const eb_args *args, int B, int N,
                          int training) {
  const dims d = mamba_dims(cfg, args);
  const double D = cfg->dim, E = d.E, S = d.S, Rk = d.R, M = (double)B * N;
  const double V = conv_taps(N, d.K);
  const double drop = (training && cfg->dropout > 0) ? 1.0 : 0.0;
  const double T = training ? 1.0 : 0.0;
  /* one scan direction: conv .. scan, forward and backward */
  double dir_f = 2 * B * E * V                            /* conv */
                 + 3 * M * E                              /* silu */
                 + 2 * M * (Rk + 2 * S) * E               /* x_proj */
                 + 2 * M * E * Rk + M * E                 /* dt_proj */
                 + 2 * M * E                              /* softplus */
                 + 2 * E * S                              /* A = -exp(A_log) */
                 + M * E * (1 + 7 * S + 2);               /* scan with D */
  double dir_b = M * E * (7 + 23 * S) + B * E * S + B * E /* scan */
                 + 4 * E * S                              /* scale, exp */
                 + 4 * M * E                              /* softplus */
                 + 4 * M * E * Rk + M * E                 /* dt_proj */
                 + M * (Rk + 2 * S)                       /* slices of x_proj's output */
                 + 4 * M * (Rk + 2 * S) * E               /* x_proj */
                 + 9 * M * E                              /* silu */
                 + 4 * B * E * V + M * E;                 /* conv: dx, dw, db */
  const double dirs = d.bidir ? 2 : 1;
  double fwd = 8 * M * D                               /* ln */
               + 2 * M * 2 * E * D                     /* in_proj */
               + dirs * dir_f                          /* scans */
               + (d.bidir ? M * E : 0)                 /* y_fwd + y_rev */
               + 3 * M * E + M * E                     /* silu(z), gate */
               + 2 * M * D * E                         /* out_proj */
               + drop * M * D + M * D;                 /* dropout, residual */
  double bwd = 2 * M * D + drop * 2 * M * D            /* residual, dropout */
               + 4 * M * D * E                         /* out_proj */
               + 4 * M * E + 9 * M * E                 /* gate, silu(z) */
               + M * E                                 /* slice z */
               + dirs * dir_b                          /* scans */
               + (d.bidir ? 2 * M * E + 2 * M * E : 0) /* add, two reversals */
               + M * E                                 /* slice xs */
               + 4 * M * 2 * E * D                     /* in_proj */
               + 19 * M * D;                           /* ln */
  return cfg->depth * (fwd + T * bwd);
}

/* Analytic GEMM FLOPs (docs/flops.md "GEMM FLOPs"): in_proj, per scan
 * direction x_proj and dt_proj, out_proj; backward dx and dw of each. The
 * conv and the scan are not matrix products; the scan's recompute is not a
 * GEMM, so model = executed. */
static int mamba_gemm_flops(const eb_model_config *cfg, const eb_args *args, int B, int N,
                            int training, double *model, double *executed) {
  const dims d = mamba_dims(cfg, args);
  const double D = cfg->dim, E = d.E, S = d.S, Rk = d.R, M = (double)B * N;
  const double dir = 2 * M * E * (Rk + 2 * S)                   /* x_proj */
                     + 2 * M * Rk * E;                          /* dt_proj */
  const double lin = 2 * M * D * (2 * E)                        /* in_proj */
                     + (d.bidir ? 2 : 1) * dir + 2 * M * E * D; /* out_proj */
  *executed = *model = cfg->depth * (lin + (training ? 2 * lin : 0));
  return 0;
}

static void mamba_destroy(void *model) {
  mamba *v = model;
  if (!v) return;
  free(v->layers);
  free(v);
}

const eb_arch eb_arch_mamba = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_arch),
    .name = "mamba",
    .summary = "Mamba-1 selective SSM block: gated, causal conv1d, input-dependent "
               "delta/B/C, linear-time scan (option: bidirectional)",
    .params = mamba_params,
    .validate = mamba_validate,
    .create = mamba_create,
    .forward = mamba_forward,
    .flops = mamba_flops,
    .destroy = mamba_destroy,
    .gemm_flops = mamba_gemm_flops,
};
