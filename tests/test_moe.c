/* moe at evaluation: a sequence's logits do not depend on the batch it shares
 * (eval_capacity_factor 0 = no limit, the default), although the training
 * capacity is tight enough to drop tokens; with eval_capacity_factor set to the
 * training factor they do (so the check can fail); the routing stats are the
 * last training forward's, not overwritten by evaluation; the analytic eval
 * FLOPs are exact without a limit; the Switch load-balancing loss equals
 * alpha E sum_i f_i P_i computed by hand on a hand-made routing (top-1 and
 * top-2, with and without dropping), and its router gradient treats f as a
 * constant. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "check.h"
#include "registry.h"
#include "train.h"

enum { B = 6, N = 12, VOCAB = 13, CLASSES = 3 };

static eb_registry *g_reg;

/* kv: "key=value" settings, NULL-terminated */
static int make_moe(eb_model *m, eb_argset *args, const char *const *kv, char *err,
                    size_t errlen) {
  const eb_arch *a = eb_registry_find_arch(g_reg, "moe");
  if (!a || eb_test_resolve_kv(args, "arch 'moe'", a->params, kv, err, errlen)) return -1;
  eb_model_config cfg = {.dim = 16, .depth = 2, .heads = 2, .ffn = 24};
  if (eb_model_create(m, a, &cfg, &args->args, VOCAB, CLASSES, N, 0, 11, err, errlen)) {
    eb_argset_free(args);
    return -1;
  }
  /* O(1) embeddings: the routers then see distinct tokens and spread them */
  for (int64_t i = 0; i < m->tok->size; i++)
    m->tok->data[i] *= 25.0f;
  for (int64_t i = 0; i < m->pos->size; i++)
    m->pos->data[i] *= 25.0f;
  return 0;
}

/* random tokens; sequence b keeps its first N - b real tokens (padding) */
static void fill_batch(int32_t *tok, uint8_t *mask, int32_t *lab) {
  eb_rng r = eb_rng_make(17, 0);
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < N; t++) {
      mask[b * N + t] = (uint8_t)(t < N - b);
      tok[b * N + t] = mask[b * N + t] ? 1 + (int32_t)(eb_rng_u64(&r) % (VOCAB - 1)) : 0;
    }
    lab[b] = b % CLASSES;
  }
}

/* Evaluation logits of each sequence alone against the same sequence in the
 * batch; -> the number of sequences whose logits differ by more than float
 * rounding (1e-5 relative), and the largest difference in *maxdiff. Not bit
 * for bit: the GEMMs' blocking depends on the row count, so rows of a batch
 * and rows alone round differently (vanilla too, about 6e-8 here). */
static int batch_dependence(eb_model *m, eb_ctx *ctx, double *maxdiff, char *err,
                            size_t errlen) {
  int32_t tok[B * N], lab[B];
  uint8_t mask[B * N];
  fill_batch(tok, mask, lab);
  eb_ctx_reset(ctx);
  eb_ctx_set_training(ctx, 0);
  eb_ctx_set_grad(ctx, 0);
  eb_batch all = {.B = B, .N = N, .tokens = tok, .mask = mask, .labels = lab};
  eb_tensor *lb = eb_model_logits(m, ctx, &all, err, errlen);
  if (!lb) return -1;
  float batched[B * CLASSES];
  memcpy(batched, lb->data, sizeof batched);
  int differ = 0;
  *maxdiff = 0;
  for (int b = 0; b < B; b++) {
    eb_ctx_reset(ctx);
    eb_batch one = {
        .B = 1, .N = N, .tokens = tok + b * N, .mask = mask + b * N, .labels = lab + b};
    eb_tensor *l1 = eb_model_logits(m, ctx, &one, err, errlen);
    if (!l1) return -1;
    int same = 1;
    for (int c = 0; c < CLASSES; c++) {
      const double z = batched[b * CLASSES + c], d = fabs((double)l1->data[c] - z);
      if (d > *maxdiff) *maxdiff = d;
      same &= d <= 1e-5 * (1 + fabs(z));
    }
    differ += !same;
  }
  return differ;
}

typedef struct stat_find {
  const char *name;
  double value;
  int found;
} stat_find;

static void stat_emit(void *user, const char *name, double value) {
  stat_find *f = user;
  if (!strcmp(name, f->name)) {
    f->value = value;
    f->found = 1;
  }
}

/* the arch's stat `name`, NAN when it does not report it */
static double stat_of(eb_model *m, const char *name) {
  stat_find f = {name, NAN, 0};
  eb_stat_sink sink = {&f, stat_emit};
  m->arch->stats(m->impl, &sink);
  return f.found ? f.value : NAN;
}

/* one training forward (loss, no backward) of the batch */
static int train_forward(eb_model *m, eb_ctx *ctx, char *err, size_t errlen) {
  int32_t tok[B * N], lab[B];
  uint8_t mask[B * N];
  fill_batch(tok, mask, lab);
  eb_ctx_reset(ctx);
  eb_ctx_set_training(ctx, 1);
  eb_ctx_set_grad(ctx, 0);
  eb_batch all = {.B = B, .N = N, .tokens = tok, .mask = mask, .labels = lab};
  return eb_model_loss(m, ctx, &all, NULL, NULL, err, errlen) ? 0 : -1;
}

/* capacity_factor 0.5: training drops over a quarter of the assignments
 * (capacity ceil(0.5 T k / E), about half, rounded up) */
static void check_eval(const char *const *kv, int want_independent) {
  char err[EB_ERR_LEN], what[160] = "moe";
  for (int i = 0; kv[i]; i++)
    snprintf(what + strlen(what), sizeof what - strlen(what), " %s", kv[i]);
  eb_model m;
  eb_argset args;
  if (make_moe(&m, &args, kv, err, sizeof err)) {
    CHECK(0, "%s: create: %s", what, err);
    return;
  }
  eb_ctx *ctx = eb_ctx_create(4 << 20, 0);
  double md = 0;
  int differ = batch_dependence(&m, ctx, &md, err, sizeof err);
  if (differ < 0) {
    CHECK(0, "%s: eval logits: %s", what, err);
  } else if (want_independent) {
    CHECK(differ == 0,
          "%s: %d of %d sequences have other eval logits alone than in the batch (max "
          "|diff| %.3g)",
          what, differ, B, md);
    /* only training forwards feed the stats */
    CHECK(isnan(stat_of(&m, "dropped_fraction")),
          "%s: dropped_fraction %g after evaluation only (want none)", what,
          stat_of(&m, "dropped_fraction"));
  } else {
    /* dropping at evaluation: the batch changes the predictions (the setup
     * really exercises overflow; the check above would catch it) */
    CHECK(differ > 0,
          "%s: eval logits alone and in the batch agree (max |diff| %.3g): "
          "the batch should have overflowed the capacity",
          what, md);
    printf("%s: %d of %d sequences depend on the batch (max |diff| %.3g), as expected\n",
           what, differ, B, md);
  }
  if (train_forward(&m, ctx, err, sizeof err)) {
    CHECK(0, "%s: training forward: %s", what, err);
  } else {
    const double drop = stat_of(&m, "dropped_fraction"), cap = stat_of(&m, "capacity");
    const double load = stat_of(&m, "expert_load_max_over_mean");
    CHECK(drop > 0.25, "%s: training dropped_fraction %g, want > 0.25", what, drop);
    if (batch_dependence(&m, ctx, &md, err, sizeof err) < 0) {
      CHECK(0, "%s: eval logits: %s", what, err);
    } else {
      CHECK(stat_of(&m, "dropped_fraction") == drop && stat_of(&m, "capacity") == cap &&
                stat_of(&m, "expert_load_max_over_mean") == load,
            "%s: evaluation changed the training stats (dropped %g -> %g)", what, drop,
            stat_of(&m, "dropped_fraction"));
    }
  }
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m);
  eb_argset_free(&args);
}

/* counted FLOPs of an eval forward = analytic, exactly, without a limit (the
 * default-capacity training step is only an upper bound: test_flops_model) */
static void check_eval_flops(void) {
  char err[EB_ERR_LEN];
  eb_model m;
  eb_argset args;
  if (make_moe(&m, &args, (const char *[]){"capacity_factor=0.5", NULL}, err,
               sizeof err)) {
    CHECK(0, "moe flops: create: %s", err);
    return;
  }
  int32_t tok[B * N], lab[B];
  uint8_t mask[B * N];
  fill_batch(tok, mask, lab);
  for (int i = 0; i < B * N; i++)
    mask[i] = 1; /* analytic FLOPs count every position */
  eb_ctx *ctx = eb_ctx_create(4 << 20, 0);
  eb_ctx_set_training(ctx, 0);
  eb_ctx_set_grad(ctx, 0);
  eb_ctx_reset_flops(ctx);
  eb_batch all = {.B = B, .N = N, .tokens = tok, .mask = mask, .labels = lab};
  if (!eb_model_loss(&m, ctx, &all, NULL, NULL, err, sizeof err)) {
    CHECK(0, "moe flops: forward: %s", err);
  } else {
    const eb_flops f = eb_ctx_flops(ctx);
    const double counted = f.forward + f.backward, analytic = eb_model_flops(&m, B, N, 0);
    CHECK(fabs(counted - analytic) <= 1e-12 * analytic,
          "moe capacity_factor=0.5 eval forward: counted %.0f vs analytic %.0f", counted,
          analytic);
  }
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m);
  eb_argset_free(&args);
}

/* ------------------------------------------------- Switch aux loss, by hand --
 * Switch Transformer (Fedus et al. 2021, eq. 4-6): aux = alpha E sum_i f_i P_i,
 * f_i the fraction of the tokens dispatched to expert i (of the T k
 * assignments for top_k = k), P_i the mean router probability of expert i over
 * the T tokens. Here the router's input and logits are set by hand so that
 * every f_i and P_i is a fraction written below.
 *
 * D = 8, E = 4. Token "prototype" c in 0..3 is x = s (e_c - e_{c+4}): mean 0,
 * variance s^2/4, so LN2 (g = 1, b = 0) maps it to gam (e_c - e_{c+4}) with
 * gam = s / sqrt(s^2/4 + 1e-5). Router row e: w[e][c] = L[c][e] / (2 gam),
 * w[e][c+4] = -L[c][e] / (2 gam), so prototype c gets logits L[c] = log q[c]
 * and probabilities q[c]. Attention adds nothing (wo = bo = 0) and the experts
 * add nothing (w2 = b2 = 0), so block 1 sees the same tokens as block 0.
 *
 * Tokens, B = 2 sequences of N = 6: (0 0 1 2 0 1) and (0 2 1 0 | 3 3), the
 * last two padding (prototype 3: counted, they would change every f and P).
 * Real tokens T = 10: n = (5, 3, 2, 0) of prototypes 0..3.
 *
 * Block 0, q0[c] = (.55 to expert c, .25 to c+1, .15 to c+2, .05 to c+3):
 *   P = (5 q0[0] + 3 q0[1] + 2 q0[2]) / 10 = (.32, .30, .26, .12)
 *   top-1: f = (5, 3, 2, 0)/10       sum f P = .16 + .09 + .052      = .302
 *   top-2: f = (5, 8, 5, 2)/20       sum f P = .08 + .12 + .065 + .012 = .277
 * Block 1, q1[c] = (.4 to expert 3-c, .3 to 4-c, .2 to 5-c, .1 to 6-c, mod 4):
 *   P = (.23, .21, .23, .33)
 *   top-1: f = (0, 2, 3, 5)/10       sum f P = .042 + .069 + .165     = .276
 *   top-2: f = (5, 2, 5, 8)/20       sum f P = .0575 + .021 + .0575 + .132 = .268
 * aux = alpha E (block 0 + block 1): top-1 alpha 4 .578 = 2.312 alpha,
 * top-2 alpha 4 .545 = 2.18 alpha.
 *
 * f is a count (no gradient, Switch); P is differentiable: with
 * c_e = alpha E f_e / T, d aux / d logit[r][j] = p_rj (c_j - sum_e c_e p_re),
 * and the router's gradient is that times LN2(x_r) summed over the real r. */
enum { AB = 2, AN = 6, AD = 8, AE = 4 };
static const int aux_proto[AB * AN] = {0, 0, 1, 2, 0, 1, 0, 2, 1, 0, 3, 3};
static const uint8_t aux_mask[AB * AN] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
static const double aux_n[AE] = {5, 3, 2, 0};

/* q[block][c][e] */
static void aux_probs(double q[2][AE][AE]) {
  static const double q0[AE] = {.55, .25, .15, .05}, q1[AE] = {.4, .3, .2, .1};
  for (int c = 0; c < AE; c++)
    for (int j = 0; j < AE; j++) {
      q[0][c][(c + j) % AE] = q0[j];
      q[1][c][(3 - c + j) % AE] = q1[j];
    }
}

static int set_param(eb_model *m, const char *name, const float *v, float fill) {
  eb_tensor *t = eb_params_find(m->P, name);
  if (!t) return -1;
  for (int64_t i = 0; i < t->size; i++)
    t->data[i] = v ? v[i] : fill;
  return 0;
}

/* kv: arch settings; top_k as in kv; alpha the aux_weight in force; want the
 * hand-computed aux */
static void check_aux_by_hand(const char *const *kv, int top_k, double alpha,
                              double want) {
  char err[EB_ERR_LEN], what[160] = "aux by hand:";
  for (int i = 0; kv[i]; i++)
    snprintf(what + strlen(what), sizeof what - strlen(what), " %s", kv[i]);
  const eb_arch *a = eb_registry_find_arch(g_reg, "moe");
  eb_argset args;
  eb_model m;
  eb_model_config cfg = {.dim = AD, .depth = 2, .heads = 2, .ffn = 4};
  if (!a || eb_test_resolve_kv(&args, "arch 'moe'", a->params, kv, err, sizeof err)) {
    CHECK(0, "%s: %s", what, err);
    return;
  }
  if (eb_model_create(&m, a, &cfg, &args.args, VOCAB, CLASSES, AN, 0, 3, err,
                      sizeof err)) {
    CHECK(0, "%s: create: %s", what, err);
    eb_argset_free(&args);
    return;
  }
  const double s = 2.0, gam = s / sqrt(s * s / 4 + 1e-5);
  double q[2][AE][AE];
  aux_probs(q);
  int bad = 0;
  for (int i = 0; i < 2; i++) {
    char n[96];
    float w[AE * AD] = {0};
    for (int e = 0; e < AE; e++)
      for (int c = 0; c < AE; c++) {
        w[e * AD + c] = (float)(log(q[i][c][e]) / (2 * gam));
        w[e * AD + c + AE] = -w[e * AD + c];
      }
    snprintf(n, sizeof n, "blocks.%d.moe.router.w", i);
    bad |= set_param(&m, n, w, 0);
    snprintf(n, sizeof n, "blocks.%d.attn.wo", i);
    bad |= set_param(&m, n, NULL, 0);
    snprintf(n, sizeof n, "blocks.%d.attn.bo", i);
    bad |= set_param(&m, n, NULL, 0);
    for (int e = 0; e < AE; e++) {
      snprintf(n, sizeof n, "blocks.%d.moe.experts.%d.w2", i, e);
      bad |= set_param(&m, n, NULL, 0);
      snprintf(n, sizeof n, "blocks.%d.moe.experts.%d.b2", i, e);
      bad |= set_param(&m, n, NULL, 0);
    }
  }
  CHECK(!bad, "%s: a parameter name was not found", what);
  eb_ctx *ctx = eb_ctx_create(1 << 20, 0);
  eb_ctx_set_training(ctx, 1);
  eb_ctx_set_grad(ctx, 1);
  eb_params_zero_grad(m.P);
  eb_tensor *x = eb_tensor_new(ctx, 3, (int[]){AB, AN, AD}), *h = NULL, *aux = NULL;
  if (x) {
    memset(x->data, 0, (size_t)x->size * sizeof(float));
    for (int r = 0; r < AB * AN; r++) {
      x->data[r * AD + aux_proto[r]] = (float)s;
      x->data[r * AD + aux_proto[r] + AE] = (float)-s;
    }
  }
  if (!x || m.arch->forward(m.impl, ctx, x, aux_mask, &h, err, sizeof err) ||
      !(aux = m.arch->aux_loss(m.impl, ctx)) || eb_backward(ctx, aux)) {
    CHECK(0, "%s: forward/aux/backward: %s %s", what, err, eb_ctx_error(ctx));
  } else {
    CHECK(fabs(aux->data[0] - want) <= 1e-5 * want,
          "%s: aux loss %.9g, by hand alpha E sum f P = %.9g", what, aux->data[0], want);
    CHECK(fabs(stat_of(&m, "aux_loss") - want) <= 1e-5 * want,
          "%s: aux_loss stat %.9g, by hand %.9g", what, stat_of(&m, "aux_loss"), want);
    /* router gradients: f constant, P through the softmax */
    for (int i = 0; i < 2; i++) {
      double f[AE] = {0}, cf[AE], want_g[AE * AD] = {0};
      for (int c = 0; c < AE; c++)
        for (int j = 0; j < top_k; j++) { /* the j-th choice of prototype c: the */
          int best = -1;                  /* expert with exactly j larger entries */
          for (int e = 0; e < AE; e++) {
            int larger = 0;
            for (int u = 0; u < AE; u++)
              larger += q[i][c][u] > q[i][c][e];
            if (larger == j) best = e;
          }
          f[best] += aux_n[c] / (10.0 * top_k);
        }
      for (int e = 0; e < AE; e++)
        cf[e] = alpha * AE * f[e] / 10.0;
      for (int c = 0; c < AE; c++) {
        double dot = 0;
        for (int e = 0; e < AE; e++)
          dot += cf[e] * q[i][c][e];
        for (int j = 0; j < AE; j++) {
          const double g = aux_n[c] * q[i][c][j] * (cf[j] - dot) * gam;
          want_g[j * AD + c] += g;
          want_g[j * AD + c + AE] -= g;
        }
      }
      char n[96];
      snprintf(n, sizeof n, "blocks.%d.moe.router.w", i);
      const eb_tensor *w = eb_params_find(m.P, n);
      double top = 0, worst = 0;
      for (int k = 0; k < AE * AD; k++)
        top = fabs(want_g[k]) > top ? fabs(want_g[k]) : top;
      for (int k = 0; w && k < AE * AD; k++) {
        const double d = fabs(w->grad[k] - want_g[k]);
        worst = d > worst ? d : worst;
      }
      CHECK(w && top > 0 && worst <= 1e-4 * top,
            "%s: block %d router gradient off by %.3g (largest %.3g): f must be a "
            "constant, P differentiated through the softmax",
            what, i, worst, top);
    }
    printf("%s: aux %.9g = by hand %.9g\n", what, aux->data[0], want);
  }
  eb_ctx_destroy(ctx);
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
  check_eval((const char *[]){"experts=4", "capacity_factor=0.5", NULL}, 1);
  check_eval((const char *[]){"experts=4", "top_k=2", "capacity_factor=0.5", NULL}, 1);
  check_eval((const char *[]){"experts=4", "capacity_factor=0.5",
                              "eval_capacity_factor=0", NULL},
             1);
  /* the training capacity at evaluation too: batch-dependent */
  check_eval((const char *[]){"experts=4", "capacity_factor=0.5",
                              "eval_capacity_factor=0.5", NULL},
             0);
  check_eval_flops();
  /* the config's coefficient: aux_weight's default 0.01, then 0.25; capacity
   * 0.5 drops tokens in training, and f counts before the capacity */
  check_aux_by_hand((const char *[]){"experts=4", NULL}, 1, 0.01, 2.312 * 0.01);
  check_aux_by_hand(
      (const char *[]){"experts=4", "aux_weight=0.25", "capacity_factor=0.5", NULL}, 1,
      0.25, 2.312 * 0.25);
  check_aux_by_hand((const char *[]){"experts=4", "top_k=2", "aux_weight=0.25", NULL}, 2,
                    0.25, 2.18 * 0.25);
  check_aux_by_hand((const char *[]){"experts=4", "top_k=2", "aux_weight=0.25",
                                     "capacity_factor=0.5", NULL},
                    2, 0.25, 2.18 * 0.25);
  eb_registry_destroy(g_reg);
  return eb_test_done("test_moe");
}
