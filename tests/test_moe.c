/* moe at evaluation: a sequence's logits do not depend on the batch it shares
 * (eval_capacity_factor 0 = no limit, the default), although the training
 * capacity is tight enough to drop tokens; with eval_capacity_factor set to the
 * training factor they do (so the check can fail); the routing stats are the
 * last training forward's, not overwritten by evaluation; the analytic eval
 * FLOPs are exact without a limit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  eb_registry_destroy(g_reg);
  return eb_test_done("test_moe");
}
