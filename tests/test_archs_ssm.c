/* poolformer, mamba and moe as whole models: finite-difference gradients
 * through embedding, blocks, final LayerNorm, pooling, head and loss (the MoE
 * load-balancing loss included), parameter counts against the analytic count,
 * padding invariance, refusal of bad arch parameters, and MoE capacity and
 * dropping with a router skewed towards one expert. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "check.h"
#include "registry.h"
#include "train.h"

static eb_registry *g_reg;

/* A model of arch `name` with settings kv ("key=value", NULL-terminated). */
static int make_model(eb_model *m, eb_argset *args, const char *name,
                      const char *const *kv, const eb_model_config *cfg, int vocab,
                      int classes, int len, int pair, char *err, size_t errlen) {
  const eb_arch *a = eb_registry_find_arch(g_reg, name);
  if (!a) {
    snprintf(err, errlen, "no arch '%s'", name);
    return -1;
  }
  char buf[8][64];
  const char *keys[8], *vals[8];
  int n = 0;
  for (; kv && kv[n] && n < 8; n++) {
    snprintf(buf[n], sizeof buf[n], "%s", kv[n]);
    char *eq = strchr(buf[n], '=');
    *eq = '\0';
    keys[n] = buf[n];
    vals[n] = eq + 1;
  }
  char owner[64];
  snprintf(owner, sizeof owner, "arch '%s'", name);
  if (eb_argset_resolve(args, owner, a->params, n, keys, vals, err, errlen)) return -1;
  if (eb_model_create(m, a, cfg, &args->args, vocab, classes, len, pair, 3, err,
                      errlen)) {
    eb_argset_free(args);
    return -1;
  }
  return 0;
}

/* ----------------------------------------------------------- gradcheck --- */
typedef struct fixture {
  eb_model *m;
  eb_batch *b;
} fixture;

static eb_tensor *model_loss(eb_ctx *ctx, void *user) {
  fixture *f = user;
  char err[EB_ERR_LEN];
  eb_tensor *l = eb_model_loss(f->m, ctx, f->b, NULL, NULL, err, sizeof err);
  if (!l) fprintf(stderr, "model_loss: %s\n", err);
  return l;
}

typedef struct stat_rec {
  const char *want;
  double value;
  int found;
} stat_rec;

static void stat_emit(void *user, const char *name, double value) {
  stat_rec *r = user;
  if (strcmp(name, r->want) == 0) {
    r->value = value;
    r->found = 1;
  }
}

static double arch_stat(eb_model *m, const char *name) {
  stat_rec r = {name, 0, 0};
  eb_stat_sink sink = {&r, stat_emit};
  if (m->arch->stats) m->arch->stats(m->impl, &sink);
  CHECK(r.found, "%s: stat '%s' not emitted", m->arch->name, name);
  return r.value;
}

/* only: NULL = every parameter, else a name filter (substring of the prefix) */
static void gradcheck_model(const char *name, const char *const *kv, eb_pool pool,
                            int pair, int (*only)(const char *), float min_dropped) {
  char err[EB_ERR_LEN];
  eb_model_config cfg = {.dim = 8, .depth = 2, .heads = 2, .ffn = 12, .pool = pool};
  eb_model m;
  eb_argset args;
  if (make_model(&m, &args, name, kv, &cfg, 7, 3, 5, pair, err, sizeof err)) {
    CHECK(0, "create %s: %s", name, err);
    return;
  }
  int32_t tok[15] = {1, 2, 3, 4, 5, 6, 5, 4, 0, 0, 2, 2, 6, 1, 0};
  uint8_t mask[15] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0};
  int32_t lab[3] = {0, 2, 1};
  int32_t tok2[15] = {6, 5, 4, 0, 0, 2, 2, 6, 1, 0, 1, 2, 3, 4, 5};
  uint8_t mask2[15] = {1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1};
  eb_batch b = {.B = 3, .N = 5, .tokens = tok, .mask = mask, .labels = lab};
  if (pair) {
    b.tokens2 = tok2;
    b.mask2 = mask2;
  }
  fixture f = {&m, &b};
  /* O(1) embeddings so that LayerNorm is smooth at the FD step (test_vanilla) */
  for (int64_t i = 0; i < m.tok->size; i++)
    m.tok->data[i] *= 25.0f;
  for (int64_t i = 0; i < m.pos->size; i++)
    m.pos->data[i] *= 25.0f;
  if (pair)
    for (int64_t i = 0; i < m.pair_b->size; i++)
      m.pair_b->data[i] = i % 2 ? 3.0f : -3.0f;
  eb_ctx *ctx = eb_ctx_create(1 << 20, 0);
  eb_ctx_set_training(ctx, 1); /* dropout is 0: training only adds the aux loss */
  if (min_dropped >= 0) {      /* the routing case this check is about */
    eb_ctx_set_grad(ctx, 0);
    CHECK(model_loss(ctx, &f) != NULL, "%s: forward failed", name);
    double dropped = arch_stat(&m, "dropped_fraction");
    CHECK(min_dropped > 0 ? dropped >= min_dropped : dropped == 0,
          "%s: dropped_fraction %g, want %s %g", name, dropped,
          min_dropped > 0 ? ">=" : "==", (double)min_dropped);
    eb_ctx_reset(ctx);
  }
  int np = eb_params_count(m.P), nl = 0;
  eb_tensor **leaves = malloc((size_t)np * sizeof *leaves);
  for (int i = 0; i < np; i++) {
    eb_tensor *t = eb_params_get(m.P, i);
    if (!only || only(t->name)) leaves[nl++] = t;
  }
  char what[160] = "";
  int off = snprintf(what, sizeof what, "%s(%s%s", name,
                     pool == EB_POOL_CLS ? "cls" : "mean", pair ? ", pair" : "");
  for (int i = 0; kv && kv[i]; i++)
    off += snprintf(what + off, sizeof what - (size_t)off, ", %s", kv[i]);
  snprintf(what + off, sizeof what - (size_t)off, ")");
  eb_gradcheck(what, ctx, model_loss, &f, leaves, nl, 1e-2f, 2e-2, 24);
  free(leaves);
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m);
  eb_argset_free(&args);
}

/* Parameters that cannot change the routing of any block (depth 2): the last
 * block's experts, the final LayerNorm and the head. */
static int after_last_router(const char *name) {
  return strncmp(name, "blocks.1.moe.experts.", 21) == 0 ||
         strncmp(name, "final_ln.", 9) == 0 || strncmp(name, "head.", 5) == 0;
}

/* ------------------------------------------------------ parameter count --- */
static void check_count(const char *name, const char *const *kv,
                        double blocks_per_layer) {
  char err[EB_ERR_LEN];
  eb_model_config cfg = {.dim = 32, .depth = 3, .heads = 4, .ffn = 48};
  eb_model m;
  eb_argset args;
  const int V = 20, C = 4, L = 16;
  if (make_model(&m, &args, name, kv, &cfg, V, C, L, 0, err, sizeof err)) {
    CHECK(0, "create %s: %s", name, err);
    return;
  }
  const double D = cfg.dim;
  const double shared = V * D + L * D + 2 * D + C * D + C;
  const double want = shared + cfg.depth * blocks_per_layer;
  CHECK((double)eb_params_numel(m.P) == want, "%s%s: %lld parameters, analytic %.0f",
        name, kv && kv[0] ? kv[0] : "", (long long)eb_params_numel(m.P), want);
  if (strcmp(name, "moe") == 0) { /* inactive = (experts - top_k) experts per block */
    const double E = kv ? 4 : 8, k = kv ? 2 : 1, F = cfg.ffn; /* the two cases below */
    double inactive = arch_stat(&m, "params_inactive");
    CHECK(inactive == cfg.depth * (E - k) * (2 * D * F + F + D),
          "moe: params_inactive %.0f", inactive);
  }
  eb_model_destroy(&m);
  eb_argset_free(&args);
}

static void param_counts(void) {
  const double D = 32, F = 48;
  check_count("poolformer", NULL, 3 * D + 2 * D * F + F + D); /* LN1 has no bias */
  check_count("poolformer", (const char *[]){"pool=7", NULL}, 3 * D + 2 * D * F + F + D);
  { /* E = 64, S = 16, R = 2, K = 4 */
    const double E = 64, S = 16, R = 2, K = 4;
    const double dir = E * K + E + (R + 2 * S) * E + E * R + E + E * S + E;
    check_count("mamba", NULL, 2 * D + 2 * E * D + dir + D * E);
    check_count("mamba", (const char *[]){"bidirectional=true", NULL},
                2 * D + 2 * E * D + 2 * dir + D * E);
    const double E3 = 96, S3 = 4, R3 = 5, K3 = 2;
    const double dir3 = E3 * K3 + E3 + (R3 + 2 * S3) * E3 + E3 * R3 + E3 + E3 * S3 + E3;
    check_count("mamba",
                (const char *[]){"expand=3", "state=4", "dt_rank=5", "conv=2", NULL},
                2 * D + 2 * E3 * D + dir3 + D * E3);
  }
  const double attn = 4 * D + 3 * D * D + 3 * D + D * D + D, ex = 2 * D * F + F + D;
  check_count("moe", NULL, attn + 8 * D + 8 * ex);
  check_count("moe", (const char *[]){"experts=4", "top_k=2", NULL},
              attn + 4 * D + 4 * ex);
}

/* ------------------------------------------------------------ bad input --- */
static void refuse(const char *name, const char *const *kv, const char *const *want) {
  char err[EB_ERR_LEN] = "";
  eb_model_config cfg = {.dim = 16, .depth = 1, .heads = 2, .ffn = 16};
  eb_model m;
  eb_argset args;
  if (make_model(&m, &args, name, kv, &cfg, 10, 2, 8, 0, err, sizeof err) == 0) {
    CHECK(0, "%s %s: accepted", name, kv[0]);
    eb_model_destroy(&m);
    eb_argset_free(&args);
    return;
  }
  for (int i = 0; want[i]; i++)
    CHECK(strstr(err, want[i]) != NULL, "%s %s: error '%s' lacks '%s'", name, kv[0], err,
          want[i]);
}

static void bad_params(void) {
  refuse("moe", (const char *[]){"top_k=9", NULL},
         (const char *[]){"moe", "top_k", "9", "experts", NULL});
  refuse("moe", (const char *[]){"experts=2", "top_k=3", NULL},
         (const char *[]){"moe", "top_k", "3", NULL});
  refuse("moe", (const char *[]){"capacity_factor=0", NULL},
         (const char *[]){"moe", "capacity_factor", "0", "> 0", NULL});
  refuse("moe", (const char *[]){"capacity_factor=-1.5", NULL},
         (const char *[]){"capacity_factor", "-1.5", NULL});
  refuse("moe", (const char *[]){"experts=0", NULL},
         (const char *[]){"experts", "0", NULL});
  refuse("moe", (const char *[]){"aux_weight=-1", NULL},
         (const char *[]){"aux_weight", "-1", NULL});
  refuse("moe", (const char *[]){"experts=many", NULL},
         (const char *[]){"moe", "experts", "many", "integer", NULL});
  refuse("moe", (const char *[]){"expert=4", NULL},
         (const char *[]){"moe", "expert", "experts", NULL}); /* unknown, suggestion */
  refuse("mamba", (const char *[]){"state=0", NULL},
         (const char *[]){"mamba", "state", "0", NULL});
  refuse("mamba", (const char *[]){"expand=0", NULL},
         (const char *[]){"mamba", "expand", "0", NULL});
  refuse("mamba", (const char *[]){"conv=0", NULL}, (const char *[]){"conv", "0", NULL});
  refuse("mamba", (const char *[]){"dt_rank=-2", NULL},
         (const char *[]){"dt_rank", "-2", NULL});
  refuse("mamba", (const char *[]){"bidirectional=maybe", NULL},
         (const char *[]){"mamba", "bidirectional", "maybe", NULL});
  refuse("poolformer", (const char *[]){"pool=4", NULL},
         (const char *[]){"poolformer", "pool", "4", "odd", NULL});
  refuse("poolformer", (const char *[]){"pool=0", NULL},
         (const char *[]){"pool", "0", NULL});
  refuse("poolformer", (const char *[]){"pool=3.5", NULL},
         (const char *[]){"pool", "3.5", NULL});
  /* validate() with the length unknown (max_len 0) still refuses */
  const eb_arch *a = eb_registry_find_arch(g_reg, "moe");
  eb_argset args;
  char err[EB_ERR_LEN] = "";
  const char *keys[] = {"top_k"}, *vals[] = {"12"};
  if (eb_argset_resolve(&args, "arch 'moe'", a->params, 1, keys, vals, err, sizeof err) ==
      0) {
    eb_model_config cfg = {.dim = 16, .depth = 1, .heads = 2, .ffn = 16, .max_len = 0};
    CHECK(a->validate(&cfg, &args.args, err, sizeof err) != 0, "moe top_k=12 validated");
    eb_argset_free(&args);
  }
}

/* pool: cls where position 0 cannot see the whole sequence is refused at
 * model build (length 8 + CLS = 9) and, for poolformer, at suite validation
 * (max_len 0); the fixed combination is accepted. */
static int cls_build(const char *name, const char *const *kv, eb_pool pool, char *err,
                     size_t errlen) {
  eb_model_config cfg = {.dim = 16, .depth = 1, .heads = 2, .ffn = 16, .pool = pool};
  eb_model m;
  eb_argset args;
  if (make_model(&m, &args, name, kv, &cfg, 10, 2, 8, 0, err, errlen)) return -1;
  eb_model_destroy(&m);
  eb_argset_free(&args);
  return 0;
}

static int cls_validate(const char *name, const char *const *kv, eb_pool pool,
                        int max_len, char *err, size_t errlen) {
  const eb_arch *a = eb_registry_find_arch(g_reg, name);
  eb_argset args;
  if (eb_test_resolve_kv(&args, name, a->params, kv, err, errlen)) return -2;
  eb_model_config cfg = {
      .dim = 16, .depth = 1, .heads = 2, .ffn = 16, .pool = pool, .max_len = max_len};
  const int rc = a->validate(&cfg, &args.args, err, errlen);
  eb_argset_free(&args);
  return rc;
}

static void cls_refusals(void) {
  char err[EB_ERR_LEN] = "";
  /* mamba: a forward scan carries nothing back to position 0 */
  CHECK(cls_build("mamba", NULL, EB_POOL_CLS, err, sizeof err) != 0,
        "mamba (unidirectional) + pool: cls accepted");
  CHECK(strstr(err, "mamba") && strstr(err, "pool: cls") && strstr(err, "pool: mean") &&
            strstr(err, "bidirectional: true"),
        "mamba + pool: cls: message '%s' does not name the fix", err);
  CHECK(cls_validate("mamba", NULL, EB_POOL_CLS, 0, err, sizeof err) != 0,
        "mamba + pool: cls validated with the length unknown");
  const char *const bi[] = {"bidirectional=true", NULL};
  CHECK(cls_build("mamba", bi, EB_POOL_CLS, err, sizeof err) == 0,
        "bidirectional mamba + pool: cls refused: %s", err);
  CHECK(cls_validate("mamba", bi, EB_POOL_CLS, 0, err, sizeof err) == 0,
        "bidirectional mamba + pool: cls refused at validation: %s", err);
  CHECK(cls_build("mamba", NULL, EB_POOL_MEAN, err, sizeof err) == 0,
        "mamba + pool: mean refused: %s", err);
  /* poolformer, depth 1: position 0 sees 1 + pool/2 positions; 9 needs pool 17 */
  const char *const p15[] = {"pool=15", NULL}, *const p17[] = {"pool=17", NULL};
  CHECK(cls_build("poolformer", NULL, EB_POOL_CLS, err, sizeof err) != 0,
        "poolformer pool=3 + pool: cls over 9 positions accepted");
  CHECK(strstr(err, "poolformer") && strstr(err, "pool: cls") && strstr(err, "= 2") &&
            strstr(err, "9 positions") && strstr(err, "pool: mean"),
        "poolformer + pool: cls: message '%s' lacks the window, the length or the fix",
        err);
  CHECK(cls_build("poolformer", p15, EB_POOL_CLS, err, sizeof err) != 0,
        "poolformer pool=15 (sees 8) + pool: cls over 9 positions accepted");
  CHECK(cls_build("poolformer", p17, EB_POOL_CLS, err, sizeof err) == 0,
        "poolformer pool=17 (sees 9) + pool: cls over 9 positions refused: %s", err);
  CHECK(cls_build("poolformer", NULL, EB_POOL_MEAN, err, sizeof err) == 0,
        "poolformer + pool: mean refused: %s", err);
  /* length unknown (suite validation): a local window cannot promise coverage */
  CHECK(cls_validate("poolformer", p17, EB_POOL_CLS, 0, err, sizeof err) != 0,
        "poolformer + pool: cls validated with the length unknown");
  CHECK(strstr(err, "not known") && strstr(err, "pool: mean"),
        "poolformer + pool: cls, length unknown: message '%s'", err);
  CHECK(cls_validate("poolformer", NULL, EB_POOL_MEAN, 0, err, sizeof err) == 0,
        "poolformer + pool: mean refused at validation: %s", err);
  /* moe's attention is bidirectional */
  CHECK(cls_build("moe", NULL, EB_POOL_CLS, err, sizeof err) == 0,
        "moe + pool: cls refused: %s", err);
}

/* ----------------------------------------------------- padding invariance --- */
/* The blocks' outputs on real tokens do not depend on padding after them:
 * x[1,N,D] with the last `pad` positions masked vs x[1,N-pad,D] unmasked. */
static void padding_invariance(const char *name, const char *const *kv) {
  char err[EB_ERR_LEN];
  eb_model_config cfg = {.dim = 8, .depth = 2, .heads = 2, .ffn = 12};
  eb_model m;
  eb_argset args;
  const int N = 9, pad = 3, D = cfg.dim;
  if (make_model(&m, &args, name, kv, &cfg, 7, 3, N, 0, err, sizeof err)) {
    CHECK(0, "create %s: %s", name, err);
    return;
  }
  eb_ctx *ctx = eb_ctx_create(1 << 20, 0);
  eb_tensor *x = eb_tensor_new(ctx, 3, (int[]){1, N, D});
  eb_tensor *xs = eb_tensor_new(ctx, 3, (int[]){1, N - pad, D});
  eb_rng r = eb_rng_make(11, 0);
  for (int i = 0; i < N * D; i++) {
    x->data[i] = eb_rng_normal(&r);
    if (i < (N - pad) * D) xs->data[i] = x->data[i];
  }
  uint8_t mask[9] = {1, 1, 1, 1, 1, 1, 0, 0, 0};
  eb_tensor *y = NULL, *ys = NULL;
  int rc = m.arch->forward(m.impl, ctx, x, mask, &y, err, sizeof err);
  rc = rc || m.arch->forward(m.impl, ctx, xs, NULL, &ys, err, sizeof err);
  CHECK(rc == 0, "%s: forward: %s", name, err);
  if (rc == 0) {
    char what[96];
    snprintf(what, sizeof what, "%s%s%s: padded vs unpadded", name, kv ? " " : "",
             kv ? kv[0] : "");
    eb_check_close(what, y->data, ys->data, (long)(N - pad) * D, 1e-5, 1e-3);
  }
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m);
  eb_argset_free(&args);
}

/* --------------------------------------------------- MoE skewed router ---- */
/* LN2 maps every token to the same vector v (gain 0, bias v), the router
 * prefers expert 0 by a wide margin and attention adds nothing (wo = bo = 0):
 * the block's branch is p0 · MLP_0(v) for the first `capacity` real tokens in
 * order and exactly 0 (residual only) for every other token. */
static void moe_skewed(float cf, int top_k) {
  char err[EB_ERR_LEN], kcf[32], kk[32];
  snprintf(kcf, sizeof kcf, "capacity_factor=%g", cf);
  snprintf(kk, sizeof kk, "top_k=%d", top_k);
  eb_model_config cfg = {.dim = 8, .depth = 1, .heads = 2, .ffn = 12};
  eb_model m;
  eb_argset args;
  const int B = 2, N = 10, D = cfg.dim, E = 8;
  if (make_model(&m, &args, "moe", (const char *[]){kcf, kk, NULL}, &cfg, 7, 3, N, 0, err,
                 sizeof err)) {
    CHECK(0, "create moe: %s", err);
    return;
  }
  eb_tensor *g = eb_params_find(m.P, "blocks.0.ln2.g"),
            *bb = eb_params_find(m.P, "blocks.0.ln2.b");
  eb_tensor *wo = eb_params_find(m.P, "blocks.0.attn.wo"),
            *bo = eb_params_find(m.P, "blocks.0.attn.bo");
  eb_tensor *wr = eb_params_find(m.P, "blocks.0.moe.router.w");
  for (int d = 0; d < D; d++) {
    g->data[d] = 0;
    bb->data[d] = d % 2 ? 1.0f : -0.5f;
  }
  memset(wo->data, 0, (size_t)wo->size * sizeof(float));
  memset(bo->data, 0, (size_t)bo->size * sizeof(float));
  for (int e = 0; e < E; e++) /* logit_e = 2 (v . v) for e = 0, (v . v) / (e + 1) else */
    for (int d = 0; d < D; d++)
      wr->data[e * D + d] = bb->data[d] * (e == 0 ? 2.0f : 1.0f / (e + 2));
  uint8_t mask[20] = {1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
  int T = 0;
  for (int i = 0; i < B * N; i++)
    T += mask[i];
  const int cap = (int)ceil(cf * (double)T * top_k / E);
  eb_ctx *ctx = eb_ctx_create(1 << 20, 0);
  eb_tensor *x = eb_tensor_new(ctx, 3, (int[]){B, N, D});
  eb_rng r = eb_rng_make(5, 0);
  for (int i = 0; i < B * N * D; i++)
    x->data[i] = eb_rng_normal(&r);
  eb_tensor *y = NULL;
  if (m.arch->forward(m.impl, ctx, x, mask, &y, err, sizeof err)) {
    CHECK(0, "moe forward: %s", err);
  } else {
    /* the expected branch of a kept token: sum over its kept experts */
    int kept = 0, zero = 0, same = 1;
    const float *first = NULL;
    for (int i = 0; i < B * N; i++) {
      float diff[64], mx = 0;
      for (int d = 0; d < D; d++) {
        diff[d] = y->data[i * D + d] - x->data[i * D + d];
        mx = fmaxf(mx, fabsf(diff[d]));
      }
      if (mx == 0) {
        zero++;
        continue;
      }
      CHECK(mask[i], "padding row %d has a non-zero MoE branch", i);
      kept++;
      if (!first) first = y->data + i * D; /* compare branches row by row */
      for (int d = 0; d < D; d++)
        if (fabsf(diff[d] - (first[d] - x->data[(first - y->data) + d])) > 1e-5f)
          same = 0;
    }
    /* top-2: every token's second choice is expert 1, kept for the same tokens */
    const int want_kept = cap < T ? cap : T;
    CHECK(kept == want_kept, "moe cf=%g top_k=%d: %d tokens with a branch, want %d", cf,
          top_k, kept, want_kept);
    CHECK(zero == B * N - want_kept, "moe: %d rows with branch 0, want %d", zero,
          B * N - want_kept);
    {
      CHECK(same, "moe: kept tokens' branches differ (same input, same experts)");
      /* the kept ones are the first `cap` real tokens in order */
      int seen = 0;
      for (int i = 0; i < B * N; i++) {
        if (!mask[i]) continue;
        float mx = 0;
        for (int d = 0; d < D; d++)
          mx = fmaxf(mx, fabsf(y->data[i * D + d] - x->data[i * D + d]));
        CHECK((seen < cap) == (mx > 0), "moe: real token %d (#%d) kept=%d, cap %d", i,
              seen, mx > 0, cap);
        seen++;
      }
    }
    const double want_drop = (double)(T > cap ? T - cap : 0) / T;
    const double drop = arch_stat(&m, "dropped_fraction");
    CHECK(fabs(drop - want_drop) < 1e-12,
          "moe cf=%g top_k=%d: dropped_fraction %g, want %g", cf, top_k, drop, want_drop);
    const double load0 = arch_stat(&m, "load_e0");
    CHECK(fabs(load0 - 1.0 / top_k) < 1e-12, "moe: load_e0 %g, want %g", load0,
          1.0 / top_k);
    const double ratio = arch_stat(&m, "expert_load_max_over_mean");
    CHECK(fabs(ratio - (double)E / top_k) < 1e-12, "moe: load max/mean %g, want %g",
          ratio, (double)E / top_k);
    CHECK(arch_stat(&m, "capacity") == cap, "moe: capacity stat %g, want %d",
          arch_stat(&m, "capacity"), cap);
    const double aux = arch_stat(&m, "aux_loss");
    CHECK(aux > 0 && isfinite(aux), "moe: aux_loss %g", aux);
  }
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m);
  eb_argset_free(&args);
}

/* Mamba declares its SSM spectrum, skip and dt bias (A_log, D, dt_proj.b, in
 * both directions) and all 1-D parameters no-decay; every other matrix,
 * embeddings included (the model's default), decays. */
static void mamba_decay(void) {
  eb_model m;
  eb_argset args;
  char err[EB_ERR_LEN];
  eb_model_config cfg = {.dim = 8, .depth = 2, .heads = 1, .ffn = 16, .dropout = 0};
  if (make_model(&m, &args, "mamba",
                 (const char *[]){"state=4", "bidirectional=true", NULL}, &cfg, 11, 3, 6,
                 0, err, sizeof err)) {
    CHECK(0, "create mamba: %s", err);
    return;
  }
  int nodecay = 0;
  for (int i = 0; i < eb_params_count(m.P); i++) {
    const eb_tensor *p = eb_params_get(m.P, i);
    const char *leaf = strrchr(p->name, '.') + 1;
    const int ssm = !strcmp(leaf, "A_log") || !strcmp(leaf, "D") ||
                    strstr(p->name, "dt_proj.b") != NULL;
    const int want = ssm ? 0 : p->ndim >= 2;
    CHECK(eb_params_decays(m.P, i) == want, "mamba %s (ndim %d): decays %d, want %d",
          p->name, p->ndim, eb_params_decays(m.P, i), want);
    nodecay += !strcmp(leaf, "A_log") && eb_params_decays(m.P, i) == 0;
  }
  CHECK(nodecay == 4, "%d no-decay A_log, want 4 (2 layers x 2 directions)", nodecay);
  eb_model_destroy(&m);
  eb_argset_free(&args);
}

int main(void) {
  char err[EB_ERR_LEN];
  g_reg = eb_registry_create();
  if (eb_registry_add_builtins(g_reg, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  eb_set_threads(1);
  mamba_decay();
  /* poolformer */
  gradcheck_model("poolformer", NULL, EB_POOL_MEAN, 0, NULL, -1);
  /* pool: cls needs 1 + depth * (pool/2) >= 5 + 1 positions: pool=5 is too
   * narrow for it (cls_refusals), pool=7 reaches */
  gradcheck_model("poolformer", (const char *[]){"pool=7", NULL}, EB_POOL_CLS, 1, NULL,
                  -1);
  gradcheck_model("poolformer", (const char *[]){"pool=5", NULL}, EB_POOL_MEAN, 0, NULL,
                  -1);
  /* mamba */
  const char *const small[] = {"state=4", NULL};
  gradcheck_model("mamba", small, EB_POOL_MEAN, 0, NULL, -1);
  gradcheck_model("mamba", (const char *[]){"state=3", "conv=3", "dt_rank=2", NULL},
                  EB_POOL_MEAN, 1, NULL, -1);
  gradcheck_model("mamba", (const char *[]){"state=4", "bidirectional=true", NULL},
                  EB_POOL_MEAN, 0, NULL, -1);
  gradcheck_model("mamba", (const char *[]){"state=4", "bidirectional=true", NULL},
                  EB_POOL_CLS, 1, NULL, -1);
  /* moe: nothing dropped (every parameter, the aux loss included), top-2, and
   * with dropping (only parameters downstream of every router: a routing
   * change would make the finite differences meaningless) */
  gradcheck_model(
      "moe", (const char *[]){"experts=4", "capacity_factor=4", "aux_weight=0.5", NULL},
      EB_POOL_MEAN, 0, NULL, 0);
  gradcheck_model("moe",
                  (const char *[]){"experts=3", "top_k=2", "capacity_factor=3",
                                   "aux_weight=0.5", NULL},
                  EB_POOL_CLS, 1, NULL, 0);
  gradcheck_model("moe", (const char *[]){"experts=4", "capacity_factor=0.5", NULL},
                  EB_POOL_MEAN, 0, after_last_router, 0.2f);
  param_counts();
  bad_params();
  cls_refusals();
  padding_invariance("poolformer", NULL);
  padding_invariance("mamba", NULL);
  padding_invariance("mamba", (const char *[]){"bidirectional=true", NULL});
  padding_invariance("moe", NULL);
  moe_skewed(1.25f, 1);
  moe_skewed(1.0f, 1);
  moe_skewed(8.0f, 1);
  moe_skewed(1.25f, 2);
  eb_registry_destroy(g_reg);
  return eb_test_done("test_archs_ssm");
}
