/* moe: a pre-LayerNorm Transformer block whose MLP is a mixture of experts
 * (Switch Transformer, Fedus et al. 2021; GShard, Lepikhin et al. 2020).
 *
 *   x = x + Dropout(Wo · Attention(LN1(x)) + bo)          (as vanilla)
 *   p = softmax(W_r · LN2(x))                             router [tokens, experts]
 *   x = x + Dropout(sum over the token's kept experts e of p_e · MLP_e(LN2(x)))
 *
 * Routing, per block and batch: each real token picks its top_k experts by p
 * (ties to the lower index). Every expert takes at most
 *   capacity = ceil(capacity_factor · T · top_k / experts)
 * of the T real tokens, in arrival order (all first choices in token order,
 * then all second choices, ...). An assignment past capacity is dropped: that
 * expert adds nothing for the token, and a token with no kept assignment keeps
 * only its residual. Padding tokens are not routed (their branch is 0). The
 * capacity applies in training. At evaluation (eb_ctx_training(ctx) == 0) the
 * factor is eval_capacity_factor, 0 by default = no limit: every token goes to
 * its top_k experts whatever the load, so a prediction does not depend on which
 * other sequences share its batch (a test can be evaluated in any batching).
 * A positive eval_capacity_factor restores dropping at evaluation, with the
 * same rule. The
 * gate is the router probability itself (Switch; with top_k > 1 the chosen
 * probabilities are not renormalised), so gradients reach the router through
 * the gate.
 *
 * Dispatch computes only the chosen experts: each expert gathers its kept
 * tokens (eb_gather_rows), runs its GELU MLP on them, the outputs are joined
 * row-wise, scaled by the gathered gate probabilities and scattered back
 * (eb_scatter_add_rows).
 *
 * model.attention_dropout drops the attention probabilities (fused qkv
 * kernel); model.mlp_dropout each expert's hidden activation (Switch's expert
 * dropout).
 *
 * Load balancing (Switch, eq. 4), added to the training loss through aux_loss:
 *   aux = aux_weight · experts · sum_e f_e · P_e,
 * f_e = fraction of the T · top_k assignments routed to e (before capacity,
 * no gradient), P_e = mean router probability of e over the real tokens.
 *
 * stats, of the last training forward (evaluation passes, which run after the
 * last step, do not overwrite them): expert_load_max_over_mean (max_e f_e /
 * mean_e f_e, assignments of all blocks pooled), dropped_fraction (dropped /
 * all assignments), aux_loss (sum over blocks, with aux_weight), load_e<i>
 * (f_e pooled over blocks), capacity (training, per block, of the last block),
 * params_inactive (expert weights a token does
 * not use: depth · (experts - top_k) · expert size; params_active =
 * params_total - params_inactive).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block_util.h"
#include "effbench/plugin.h"
#include "prenorm_flops.h"

typedef struct expert {
  eb_tensor *w1, *b1, *w2, *b2;
} expert;

typedef struct layer {
  eb_tensor *ln1_g, *ln1_b, *wqkv, *bqkv, *wo, *bo, *ln2_g, *ln2_b, *router;
  expert *ex;
  /* last forward */
  eb_tensor *probs; /* [R,E] router probabilities (arena) */
  eb_tensor *coef;  /* [R,E] aux-loss weights, training only (arena) */
  int64_t *routed;  /* [E] assignments routed to e (before capacity) */
  int64_t kept, dropped, tokens, capacity;
  double aux;
} layer;

typedef struct moe {
  eb_model_config cfg;
  int E, k;
  double cf, alpha;
  layer *layers;
  double eval_cf; /* eval_capacity_factor; 0 = no limit */
  int valid;      /* a forward has run */
  /* stats of the last training forward (moe_keep_stats) */
  int64_t *routed_all; /* [E] assignments routed to e, blocks pooled */
  int64_t st_all, st_dropped, st_capacity;
  double st_aux;
  int st_valid;
} moe;

static const eb_param_decl moe_params[] = {
    {"experts", EB_P_INT, "8", "number of experts per block", NULL},
    {"top_k", EB_P_INT, "1", "experts per token (1 = Switch)", NULL},
    {"capacity_factor", EB_P_FLOAT, "1.25",
     "training expert capacity = ceil(factor * tokens * top_k / experts); overflow "
     "is dropped",
     NULL},
    {"eval_capacity_factor", EB_P_FLOAT, "0",
     "capacity factor at evaluation (not training); 0 = no limit, no token dropped, "
     "so predictions do not depend on the batch",
     NULL},
    {"aux_weight", EB_P_FLOAT, "0.01", "weight of the load-balancing loss (0 = off)",
     NULL},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

static int moe_validate(const eb_model_config *cfg, const eb_args *args, char *err,
                        size_t errlen) {
  const int64_t E = eb_args_int(args, "experts", 8), k = eb_args_int(args, "top_k", 1);
  const double cf = eb_args_float(args, "capacity_factor", 1.25);
  const double a = eb_args_float(args, "aux_weight", 0.01);
  const double ecf = eb_args_float(args, "eval_capacity_factor", 0);
  if (E < 1 || E > 4096) {
    snprintf(err, errlen, "parameter 'experts' = %lld: must be in [1, 4096]",
             (long long)E);
    return -1;
  }
  if (k < 1 || k > E) {
    snprintf(err, errlen,
             "parameter 'top_k' = %lld: must be in [1, experts = %lld] (a token cannot "
             "pick more experts than there are)",
             (long long)k, (long long)E);
    return -1;
  }
  if (!(cf > 0) || !isfinite(cf)) {
    snprintf(err, errlen,
             "parameter 'capacity_factor' = %g: must be > 0 (a capacity of 0 drops every "
             "token)",
             cf);
    return -1;
  }
  if (!(ecf >= 0) || !isfinite(ecf)) {
    snprintf(err, errlen,
             "parameter 'eval_capacity_factor' = %g: must be >= 0 (0 = no limit at "
             "evaluation)",
             ecf);
    return -1;
  }
  if (!(a >= 0) || !isfinite(a)) {
    snprintf(err, errlen, "parameter 'aux_weight' = %g: must be >= 0", a);
    return -1;
  }
  if (cfg->dim % cfg->heads != 0) {
    snprintf(err, errlen, "heads (%d) must divide dim (%d)", cfg->heads, cfg->dim);
    return -1;
  }
  return 0;
}

static void moe_destroy(void *model) {
  moe *v = model;
  if (!v) return;
  for (int i = 0; v->layers && i < v->cfg.depth; i++) {
    free(v->layers[i].ex);
    free(v->layers[i].routed);
  }
  free(v->layers);
  free(v->routed_all);
  free(v);
}

static int moe_create(const eb_model_config *cfg, const eb_args *args, eb_params *P,
                      void **out, char *err, size_t errlen) {
  moe *v = calloc(1, sizeof *v);
  if (!v) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  v->cfg = *cfg;
  v->E = (int)eb_args_int(args, "experts", 8);
  v->k = (int)eb_args_int(args, "top_k", 1);
  v->cf = eb_args_float(args, "capacity_factor", 1.25);
  v->alpha = eb_args_float(args, "aux_weight", 0.01);
  v->eval_cf = eb_args_float(args, "eval_capacity_factor", 0);
  v->layers = calloc(cfg->depth ? cfg->depth : 1, sizeof *v->layers);
  v->routed_all = calloc(v->E, sizeof *v->routed_all);
  if (!v->layers || !v->routed_all) {
    moe_destroy(v);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  const int D = cfg->dim, F = cfg->ffn, E = v->E;
  const float sd = 1.0f / sqrtf((float)D), sf = 1.0f / sqrtf((float)F);
  for (int i = 0; i < cfg->depth; i++) {
    layer *l = &v->layers[i];
    l->ex = calloc(E, sizeof *l->ex);
    l->routed = calloc(E, sizeof *l->routed);
    if (!l->ex || !l->routed) {
      moe_destroy(v);
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    l->ln1_g = eb_block_param(P, i, "ln1.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    l->ln1_b = eb_block_param(P, i, "ln1.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->wqkv =
        eb_block_param(P, i, "attn.wqkv", 2, (int[]){3 * D, D}, EB_INIT_UNIFORM, sd);
    l->bqkv = eb_block_param(P, i, "attn.bqkv", 1, (int[]){3 * D}, EB_INIT_ZEROS, 0);
    l->wo = eb_block_param(P, i, "attn.wo", 2, (int[]){D, D}, EB_INIT_UNIFORM, sd);
    l->bo = eb_block_param(P, i, "attn.bo", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->ln2_g = eb_block_param(P, i, "ln2.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    l->ln2_b = eb_block_param(P, i, "ln2.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->router =
        eb_block_param(P, i, "moe.router.w", 2, (int[]){E, D}, EB_INIT_UNIFORM, sd);
    int ok = l->ln1_g && l->ln1_b && l->wqkv && l->bqkv && l->wo && l->bo && l->ln2_g &&
             l->ln2_b && l->router;
    for (int e = 0; ok && e < E; e++) {
      char n[64];
      expert *x = &l->ex[e];
      snprintf(n, sizeof n, "moe.experts.%d.w1", e);
      x->w1 = eb_block_param(P, i, n, 2, (int[]){F, D}, EB_INIT_UNIFORM, sd);
      snprintf(n, sizeof n, "moe.experts.%d.b1", e);
      x->b1 = eb_block_param(P, i, n, 1, (int[]){F}, EB_INIT_ZEROS, 0);
      snprintf(n, sizeof n, "moe.experts.%d.w2", e);
      x->w2 = eb_block_param(P, i, n, 2, (int[]){D, F}, EB_INIT_UNIFORM, sf);
      snprintf(n, sizeof n, "moe.experts.%d.b2", e);
      x->b2 = eb_block_param(P, i, n, 1, (int[]){D}, EB_INIT_ZEROS, 0);
      ok = x->w1 && x->b1 && x->w2 && x->b2;
    }
    if (!ok) {
      moe_destroy(v);
      snprintf(err, errlen, "could not declare the parameters of block %d", i);
      return -1;
    }
  }
  *out = v;
  return 0;
}

/* Capacity of one expert for T real tokens (the same expression, in the same
 * order, as the PyTorch reference). */
static int64_t moe_capacity(double cf, int64_t T, int k, int E) {
  return (int64_t)ceil(cf * (double)T * k / E);
}

/* Capacity in force: the training factor while training; at evaluation
 * eval_cf, or T (a token picks an expert at most once: nothing can overflow)
 * when eval_cf is 0. */
static int64_t moe_capacity_for(double cf, double eval_cf, int training, int64_t T, int k,
                                int E) {
  if (training) return moe_capacity(cf, T, k, E);
  return eval_cf > 0 ? moe_capacity(eval_cf, T, k, E) : T;
}

typedef struct route {
  int32_t *tok;  /* [n] token row of each kept assignment, grouped by expert */
  int32_t *gidx; /* [n] row*E + e: the gate's element in probs */
  int *count;    /* [E] kept assignments per expert */
  int n;
} route;

/* probs[R,E], mask[R] -> the kept assignments; fills the layer's counters */
static int moe_route(eb_ctx *ctx, const moe *v, layer *l, const float *probs, int R,
                     const uint8_t *mask, int training, route *rt) {
  const int E = v->E, k = v->k;
  int32_t *choice = eb_alloc(ctx, (size_t)R * k * sizeof *choice);
  int32_t *slot = eb_alloc(ctx, (size_t)R * k * sizeof *slot); /* -1 = dropped */
  rt->tok = eb_alloc(ctx, (size_t)R * k * sizeof *rt->tok + 1);
  rt->gidx = eb_alloc(ctx, (size_t)R * k * sizeof *rt->gidx + 1);
  rt->count = eb_alloc(ctx, (size_t)E * sizeof *rt->count);
  int *start = eb_alloc(ctx, (size_t)E * sizeof *start);
  if (!choice || !slot || !rt->tok || !rt->gidx || !rt->count || !start) return -1;
  int64_t T = 0;
  for (int r = 0; r < R; r++)
    T += !mask || mask[r];
  memset(l->routed, 0, (size_t)E * sizeof *l->routed);
  memset(rt->count, 0, (size_t)E * sizeof *rt->count);
  for (int r = 0; r < R; r++) { /* top-k by repeated argmax, ties to the lower index */
    if (mask && !mask[r]) continue;
    const float *p = probs + (size_t)r * E;
    for (int j = 0; j < k; j++) {
      int best = -1;
      for (int e = 0; e < E; e++) {
        int taken = 0;
        for (int q = 0; q < j; q++)
          taken |= choice[(size_t)r * k + q] == e;
        if (!taken && (best < 0 || p[e] > p[best])) best = e;
      }
      choice[(size_t)r * k + j] = best;
      l->routed[best]++;
    }
  }
  const int64_t cap = moe_capacity_for(v->cf, v->eval_cf, training, T, k, E);
  int64_t dropped = 0;
  for (int j = 0; j < k; j++) /* arrival order: choice rank, then token */
    for (int r = 0; r < R; r++) {
      if (mask && !mask[r]) continue;
      const int e = choice[(size_t)r * k + j];
      if (rt->count[e] < cap)
        slot[(size_t)r * k + j] = rt->count[e]++;
      else {
        slot[(size_t)r * k + j] = -1;
        dropped++;
      }
    }
  int n = 0;
  for (int e = 0; e < E; e++) {
    start[e] = n;
    n += rt->count[e];
  }
  for (int r = 0; r < R; r++) {
    if (mask && !mask[r]) continue;
    for (int j = 0; j < k; j++) {
      const int s = slot[(size_t)r * k + j], e = choice[(size_t)r * k + j];
      if (s < 0) continue;
      rt->tok[start[e] + s] = r;
      rt->gidx[start[e] + s] = r * E + e;
    }
  }
  rt->n = n;
  l->tokens = T;
  l->capacity = cap;
  l->kept = n;
  l->dropped = dropped;
  /* aux value (for stats): alpha E sum_e f_e P_e */
  double aux = 0;
  for (int e = 0; T > 0 && e < E; e++) {
    double P = 0;
    for (int r = 0; r < R; r++)
      if (!mask || mask[r]) P += probs[(size_t)r * E + e];
    aux += (double)l->routed[e] / ((double)T * k) * (P / (double)T);
  }
  l->aux = v->alpha * E * aux;
  return 0;
}

/* h[R,D] (LN2 output), the layer's routing -> branch[R,D] */
static eb_tensor *moe_dispatch(eb_ctx *ctx, const moe *v, layer *l, eb_tensor *h,
                               eb_tensor *probs, const route *rt) {
  const int E = v->E, R = h->shape[0], D = h->shape[1];
  eb_tensor **parts = eb_alloc(ctx, (size_t)E * sizeof *parts);
  if (!parts) return NULL;
  int np = 0;
  for (int e = 0, off = 0; e < E; off += rt->count[e], e++) {
    const int ne = rt->count[e];
    if (ne == 0) continue;
    const expert *x = &l->ex[e];
    eb_tensor *xe = eb_gather_rows(ctx, h, rt->tok + off, ne); /* [ne,D] */
    eb_tensor *hid = eb_bias_gelu(ctx, eb_linear(ctx, xe, x->w1, NULL), x->b1);
    /* model.mlp_dropout on the expert's hidden activation (hid itself if off) */
    eb_tensor *ye =
        eb_linear(ctx, eb_dropout(ctx, hid, v->cfg.mlp_dropout), x->w2, x->b2);
    parts[np++] = eb_reshape(ctx, ye, 2, (int[]){1, ne * D}); /* rows joined below */
  }
  const int n = rt->n;
  eb_tensor *y = eb_reshape(ctx, eb_concat_last(ctx, np, parts), 2, (int[]){n, D});
  /* gate: p[token, e] for each kept assignment, broadcast over D by a [D,1]
   * weight of ones (keeps the router in the graph; ones need no gradient) */
  eb_tensor *g = eb_gather_rows(ctx, eb_reshape(ctx, probs, 2, (int[]){R * E, 1}),
                                rt->gidx, n); /* [n,1] */
  eb_tensor *ones = eb_tensor_new(ctx, 2, (int[]){D, 1});
  if (!ones) return NULL;
  for (int d = 0; d < D; d++)
    ones->data[d] = 1.0f;
  y = eb_mul(ctx, y, eb_linear(ctx, g, ones, NULL));
  return eb_scatter_add_rows(ctx, y, rt->tok, NULL, R); /* [R,D] */
}

/* mask[R] -> coef[R,E] = alpha E f_e / T on real rows, 0 on padding */
static eb_tensor *aux_coef(eb_ctx *ctx, const moe *v, const layer *l, int R,
                           const uint8_t *mask) {
  const int E = v->E;
  eb_tensor *c = eb_tensor_new(ctx, 2, (int[]){R, E});
  if (!c) return NULL;
  const double T = (double)(l->tokens > 0 ? l->tokens : 1);
  for (int r = 0; r < R; r++)
    for (int e = 0; e < E; e++)
      c->data[(size_t)r * E + e] =
          (!mask || mask[r])
              ? (float)(v->alpha * E * ((double)l->routed[e] / (T * v->k)) / T)
              : 0.0f;
  return c;
}

/* Pools the blocks' routing counters of a training forward into the stats
 * (evaluation, which routes without dropping by default, leaves them). */
static void moe_keep_stats(moe *v) {
  const int E = v->E;
  memset(v->routed_all, 0, (size_t)E * sizeof *v->routed_all);
  v->st_all = v->st_dropped = 0;
  v->st_aux = 0;
  for (int i = 0; i < v->cfg.depth; i++) {
    const layer *l = &v->layers[i];
    for (int e = 0; e < E; e++)
      v->routed_all[e] += l->routed[e];
    v->st_all += l->tokens * v->k;
    v->st_dropped += l->dropped;
    v->st_aux += l->aux;
  }
  v->st_capacity = v->cfg.depth ? v->layers[v->cfg.depth - 1].capacity : 0;
  v->st_valid = v->cfg.depth > 0;
}

/* x[B,N,D], mask[B*N] -> out[B,N,D] */
static int moe_forward(void *model, eb_ctx *ctx, eb_tensor *x, const uint8_t *mask,
                       eb_tensor **out, char *err, size_t errlen) {
  moe *v = model;
  const int B = x->shape[0], N = x->shape[1], D = v->cfg.dim, H = v->cfg.heads;
  const int R = B * N;
  const float p = v->cfg.dropout, scale = 1.0f / sqrtf((float)(D / H));
  const int want_aux = eb_ctx_training(ctx) && v->alpha > 0;
  v->valid = 0;
  for (int i = 0; i < v->cfg.depth; i++) {
    layer *l = &v->layers[i];
    l->probs = l->coef = NULL;
    eb_tensor *qkv =
        eb_linear(ctx, eb_layernorm(ctx, x, l->ln1_g, l->ln1_b), l->wqkv, l->bqkv);
    eb_tensor *o =
        eb_attention_qkv_drop(ctx, qkv, H, mask, 0, scale, v->cfg.attention_dropout);
    x = eb_block_out(ctx, x, o, l->wo, l->bo, p);
    eb_tensor *h =
        eb_reshape(ctx, eb_layernorm(ctx, x, l->ln2_g, l->ln2_b), 2, (int[]){R, D});
    eb_tensor *probs = eb_softmax(ctx, eb_linear(ctx, h, l->router, NULL)); /* [R,E] */
    route rt;
    if (!probs || moe_route(ctx, v, l, probs->data, R, mask, eb_ctx_training(ctx), &rt)) {
      snprintf(err, errlen, "block %d: %s", i, eb_ctx_error(ctx));
      return -1;
    }
    l->probs = probs;
    if (want_aux && !(l->coef = aux_coef(ctx, v, l, R, mask))) {
      snprintf(err, errlen, "block %d: %s", i, eb_ctx_error(ctx));
      return -1;
    }
    if (rt.n > 0) { /* otherwise every token keeps its residual only */
      eb_tensor *br = moe_dispatch(ctx, v, l, h, probs, &rt);
      x = eb_add(ctx, x, eb_dropout(ctx, eb_reshape(ctx, br, 3, (int[]){B, N, D}), p));
    }
    if (!x) {
      snprintf(err, errlen, "block %d: %s", i, eb_ctx_error(ctx));
      return -1;
    }
  }
  v->valid = 1;
  if (eb_ctx_training(ctx)) moe_keep_stats(v);
  *out = x;
  return 0;
}

/* Load-balancing loss of the last forward (training): sum over blocks of
 * sum(probs * coef) = alpha E sum_e f_e P_e. */
static eb_tensor *moe_aux_loss(void *model, eb_ctx *ctx) {
  moe *v = model;
  if (!v->valid || v->alpha <= 0) return NULL;
  eb_tensor *total = NULL;
  for (int i = 0; i < v->cfg.depth; i++) {
    layer *l = &v->layers[i];
    if (!l->probs || !l->coef) return NULL;
    eb_tensor *a = eb_sum(ctx, eb_mul(ctx, l->probs, l->coef));
    total = total ? eb_add(ctx, total, a) : a;
  }
  return total;
}

static void moe_stats(void *model, eb_stat_sink *sink) {
  moe *v = model;
  const int E = v->E;
  const double F = v->cfg.ffn, D = v->cfg.dim;
  sink->emit(sink->user, "params_inactive",
             (double)v->cfg.depth * (E - v->k) * (2 * D * F + F + D));
  if (!v->st_valid) return; /* no training forward yet */
  double mx = 0;
  for (int e = 0; e < E; e++)
    if (v->routed_all[e] > mx) mx = (double)v->routed_all[e];
  const int64_t all = v->st_all;
  const double mean = (double)all / E;
  sink->emit(sink->user, "expert_load_max_over_mean", mean > 0 ? mx / mean : 0);
  sink->emit(sink->user, "dropped_fraction", all > 0 ? (double)v->st_dropped / all : 0);
  sink->emit(sink->user, "aux_loss", v->st_aux);
  sink->emit(sink->user, "capacity", (double)v->st_capacity);
  for (int e = 0; e < E; e++) {
    char name[32];
    snprintf(name, sizeof name, "load_e%d", e);
    sink->emit(sink->user, name, all > 0 ? (double)v->routed_all[e] / all : 0);
  }
}

/* Analytic FLOPs of the blocks (docs/flops.md), x[B,N,D] without padding;
 * training adds the backward pass and the load-balancing loss. Dispatch
 * depends on the routing: this counts the balanced case, every expert taking
 * min(capacity, B·N·top_k / experts) assignments, i.e. n = min(B·N·top_k,
 * experts · capacity) expert rows (exact when nothing is dropped). The
 * capacity is the one in force (moe_capacity_for): a forward without training
 * uses eval_capacity_factor, by default no limit, so n = B·N·top_k exactly. */
static double moe_flops(const eb_model_config *cfg, const eb_args *args, int B, int N,
                        int training) {
  const double D = cfg->dim, F = cfg->ffn, H = cfg->heads, dh = D / H, R = (double)B * N;
  const int Ei = (int)eb_args_int(args, "experts", 8),
            k = (int)eb_args_int(args, "top_k", 1);
  const double E = Ei, alpha = eb_args_float(args, "aux_weight", 0.01);
  const double cap = (double)moe_capacity_for(
      eb_args_float(args, "capacity_factor", 1.25),
      eb_args_float(args, "eval_capacity_factor", 0), training, (int64_t)R, k, Ei);
  const double n = fmin(R * k, E * cap);
  const double drop = (training && cfg->dropout > 0) ? 1.0 : 0.0;
  const double aux = (training && alpha > 0) ? 1.0 : 0.0;
  double C = 0, K = 0; /* blockwise attention, as vanilla */
  for (int i0 = 0; i0 < N; i0 += 32) {
    const int i1 = i0 + 32 < N ? i0 + 32 : N;
    C += (double)(i1 - i0) * N;
    K += (double)(i1 - i0) * ((N + 255) / 256);
  }
  const double adrop = (training && cfg->attention_dropout > 0) ? 1.0 : 0.0;
  const double mdrop = (training && cfg->mlp_dropout > 0) ? 1.0 : 0.0;
  const double att_f = B * H * (C * (4 * dh + 5) + K * dh) + adrop * B * H * C;
  const double att_b = B * H * (C * (10 * dh + 6) + 2.0 * N * dh) + adrop * 2 * B * H * C;
  double fwd = 8 * R * D + 2 * R * 3 * D * D + 3 * R * D + att_f /* ln1, qkv, attn */
               + 2 * R * D * D + R * D + drop * R * D + R * D    /* wo, dropout, add */
               + 8 * R * D + 2 * R * E * D + 5 * R * E           /* ln2, router */
               + n * (4 * D * F + 10 * F + D)                    /* experts */
               + mdrop * n * F                                   /* mlp dropout */
               + 2 * n * D + n * D + n * D /* gate, scale, scatter */
               + drop * R * D + R * D      /* dropout, add */
               + aux * 2 * R * E;          /* probs * coef, sum */
  double bwd = 0;
  if (training)
    bwd = 2 * (2 * R * D + drop * 2 * R * D) /* residual adds, dropouts */
          + n * D + 4 * n * D + 2 * n * D    /* scatter, scale, gate (dg) */
          + n + aux * R * E                  /* gather probs; the reshape adds into
                                                probs' gradient when aux ran first */
          + n * D                            /* concat */
          + n * (8 * D * F + 20 * F + D)     /* experts */
          + mdrop * 2 * n * F                /* mlp dropout */
          + n * D                            /* gathers of the expert inputs */
          + 5 * R * E + 4 * R * E * D        /* softmax, router */
          + 19 * R * D                       /* ln2 */
          + 4 * R * D * D + R * D + att_b    /* wo, attention */
          + 4 * R * 3 * D * D + 3 * R * D    /* qkv */
          + 19 * R * D                       /* ln1 */
          + aux * 3 * R * E;                 /* sum, probs * coef */
  /* the blocks' aux losses summed, then added to the cross-entropy */
  const double aux_adds = aux * cfg->depth * (1 + (training ? 2 : 0));
  return cfg->depth * (fwd + bwd) + aux_adds;
}

/* Analytic GEMM FLOPs (docs/flops.md "GEMM FLOPs"), balanced dispatch as in
 * moe_flops (n expert rows): qkv, blockwise attention, wo, the router, each
 * kept row through its expert's two projections, and the gate's broadcast
 * g[n,1] ones[D,1]^T (K = 1; backward dg only: the ones need no gradient). */
static int moe_gemm_flops(const eb_model_config *cfg, const eb_args *args, int B, int N,
                          int training, double *model, double *executed) {
  const double D = cfg->dim, F = cfg->ffn, H = cfg->heads, R = (double)B * N;
  const int Ei = (int)eb_args_int(args, "experts", 8),
            k = (int)eb_args_int(args, "top_k", 1);
  const double cap = (double)moe_capacity_for(
      eb_args_float(args, "capacity_factor", 1.25),
      eb_args_float(args, "eval_capacity_factor", 0), training, (int64_t)R, k, Ei);
  const double n = fmin(R * k, Ei * cap);
  double att_f, att_b, rec;
  eb_blockwise_attention_gemm(B, H, N, N, D / H, 0, &att_f, &att_b, &rec);
  const double lin = 2 * R * 3 * D * D + 2 * R * D * D /* qkv, wo */
                     + 2 * R * Ei * D                  /* router */
                     + n * 4 * D * F;                  /* experts */
  const double gate = 2 * n * D;
  double per = lin + gate + att_f;
  if (training) per += 2 * lin + gate + att_b;
  *executed = cfg->depth * per;
  *model = *executed - (training ? cfg->depth * rec : 0);
  return 0;
}

/* What `effbench report --table stats` shows of moe_stats' output; load_e<i>,
 * capacity and params_inactive (the report's active-parameter column) are
 * stored but not columns. */
static const eb_stat_decl moe_stat_decls[] = {
    {"expert_load_max_over_mean", "load max/mean", NULL, EB_STAT_MEAN,
     "tokens routed to the busiest expert / mean tokens per expert (1 = balanced)"},
    {"dropped_fraction", "dropped", "%", EB_STAT_MEAN, "tokens over capacity"},
    {"aux_loss", "aux loss", NULL, EB_STAT_MEAN, "load-balancing loss"},
    {NULL, NULL, NULL, 0, NULL},
};

const eb_arch eb_arch_moe = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_arch),
    .name = "moe",
    .summary = "Transformer block with a mixture-of-experts MLP: top-k router, capacity "
               "with dropping (in training), load-balancing loss (Switch)",
    .params = moe_params,
    .validate = moe_validate,
    .create = moe_create,
    .forward = moe_forward,
    .flops = moe_flops,
    .stats = moe_stats,
    .aux_loss = moe_aux_loss,
    .destroy = moe_destroy,
    .gemm_flops = moe_gemm_flops,
    .stat_decls = moe_stat_decls,
};
