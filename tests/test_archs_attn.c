/* linformer, performer and wide as whole models: finite-difference gradients
 * through embedding, blocks, final LayerNorm, pooling, head and loss (every
 * sharing mode and kernel, padded batches, a batch shorter than the model's
 * length); parameter counts against the analytic formulas; refusals of bad
 * parameters naming the arch, the parameter, the value and why; the Performer
 * feature buffer (not trained, redrawn deterministically); performer's
 * training steps bit for bit across runs and thread counts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "check.h"
#include "optim.h"
#include "registry.h"
#include "train.h"

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

/* kv: "key=value" settings, NULL-terminated */
static int resolve(eb_argset *out, const eb_arch *a, const char *const *kv, char *err,
                   size_t errlen) {
  return eb_test_resolve_kv(out, a->name, a->params, kv, err, errlen);
}

/* seq_len 7, batch N = 5 (shorter than the model: linformer slices E) or 7 */
static void gradcheck_arch(const eb_arch *a, const char *const *kv, eb_pool pool,
                           int short_batch) {
  char err[EB_ERR_LEN], what[128] = "";
  snprintf(what, sizeof what, "%s", a->name);
  for (int i = 0; kv && kv[i]; i++)
    snprintf(what + strlen(what), sizeof what - strlen(what), " %s", kv[i]);
  snprintf(what + strlen(what), sizeof what - strlen(what), " (%s%s)",
           pool == EB_POOL_CLS ? "cls" : "mean", short_batch ? ", short batch" : "");
  eb_argset args;
  if (resolve(&args, a, kv, err, sizeof err)) {
    CHECK(0, "%s: %s", what, err);
    return;
  }
  eb_model_config cfg = {.dim = 8, .depth = 2, .heads = 2, .ffn = 12, .pool = pool};
  eb_model m;
  const int N = short_batch ? 5 : 7;
  if (eb_model_create(&m, a, &cfg, &args.args, 7, 3, 7, 0, 3, err, sizeof err)) {
    CHECK(0, "%s: create: %s", what, err);
    eb_argset_free(&args);
    return;
  }
  int32_t tok[21] = {1, 2, 3, 4, 5, 6, 3, 6, 5, 4, 0, 0, 0, 0, 2, 2, 6, 1, 0, 0, 0};
  uint8_t mask[21] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0};
  int32_t lab[3] = {0, 2, 1};
  int32_t t2[21];
  uint8_t m2[21];
  for (int b = 0; b < 3; b++) /* the first N positions of each row */
    for (int j = 0; j < N; j++) {
      t2[b * N + j] = tok[b * 7 + j];
      m2[b * N + j] = mask[b * 7 + j];
    }
  eb_batch b = {.B = 3, .N = N, .tokens = t2, .mask = m2, .labels = lab};
  fixture f = {&m, &b};
  /* O(1) embeddings, as in test_vanilla: LayerNorm of N(0, 0.02^2) vectors is far
   * from linear over a finite-difference step */
  for (int64_t i = 0; i < m.tok->size; i++)
    m.tok->data[i] *= 25.0f;
  for (int64_t i = 0; i < m.pos->size; i++)
    m.pos->data[i] *= 25.0f;
  eb_ctx *ctx = eb_ctx_create(1 << 20, 0);
  eb_ctx_set_training(ctx, 0);
  int np = eb_params_count(m.P), nl = 0;
  eb_tensor **leaves = malloc((size_t)np * sizeof *leaves);
  for (int i = 0; i < np; i++) /* buffers (random features) take no gradient */
    if (eb_params_get(m.P, i)->requires_grad) leaves[nl++] = eb_params_get(m.P, i);
  eb_gradcheck(what, ctx, model_loss, &f, leaves, nl, 1e-2f, 2e-2, 24);
  free(leaves);
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m);
  eb_argset_free(&args);
}

/* counted FLOPs of a forward pass and of a training step against the analytic
 * eb_model_flops, for settings test_flops_model (defaults only) does not reach;
 * the batch may be shorter than the model (linformer slices E, F) */
static void check_flops(eb_registry *reg, const char *arch, const char *const *kv,
                        eb_pool pool, float dropout, int model_len, int N) {
  char err[EB_ERR_LEN];
  const eb_arch *a = eb_registry_find_arch(reg, arch);
  eb_argset args;
  if (resolve(&args, a, kv, err, sizeof err)) {
    CHECK(0, "%s: %s", arch, err);
    return;
  }
  eb_model_config cfg = {
      .dim = 16, .depth = 2, .heads = 4, .ffn = 24, .dropout = dropout, .pool = pool};
  eb_model m;
  if (eb_model_create(&m, a, &cfg, &args.args, 50, 5, model_len, 0, 1, err, sizeof err)) {
    CHECK(0, "%s: %s", arch, err);
    eb_argset_free(&args);
    return;
  }
  const int B = 2;
  eb_batch b;
  eb_batch_alloc(&b, B, N, 0);
  for (int i = 0; i < B * N; i++) {
    b.tokens[i] = 1 + i % 49;
    b.mask[i] = 1;
  }
  for (int i = 0; i < B; i++)
    b.labels[i] = i % 5;
  eb_ctx *ctx = eb_ctx_create(1 << 20, 0);
  for (int training = 0; training <= 1; training++) {
    eb_ctx_reset(ctx);
    eb_ctx_reset_flops(ctx);
    eb_ctx_set_training(ctx, training);
    eb_ctx_set_grad(ctx, training);
    eb_params_zero_grad(m.P);
    eb_tensor *loss = eb_model_loss(&m, ctx, &b, NULL, NULL, err, sizeof err);
    if (!loss || (training && eb_backward(ctx, loss))) {
      CHECK(0, "%s: step failed: %s %s", arch, err, eb_ctx_error(ctx));
      break;
    }
    eb_flops f = eb_ctx_flops(ctx);
    double counted = f.forward + f.backward,
           analytic = eb_model_flops(&m, B, N, training);
    CHECK(fabs(counted - analytic) <= 1e-12 * analytic,
          "%s %s%s (N=%d of %d, %s): counted %.0f vs analytic %.0f", arch,
          kv && kv[0] ? kv[0] : "", kv && kv[0] && kv[1] ? " ..." : "", N, model_len,
          training ? "training step" : "forward", counted, analytic);
  }
  eb_ctx_destroy(ctx);
  eb_batch_free(&b);
  eb_model_destroy(&m);
  eb_argset_free(&args);
}

/* model with dim D, depth L, heads H, ffn F, vocab V, classes C, length N */
static int64_t count_params(const eb_arch *a, const char *const *kv, int D, int L, int H,
                            int F, int V, int C, int N, char *err, size_t errlen) {
  eb_argset args;
  if (resolve(&args, a, kv, err, errlen)) return -1;
  eb_model_config cfg = {.dim = D, .depth = L, .heads = H, .ffn = F};
  eb_model m;
  if (eb_model_create(&m, a, &cfg, &args.args, V, C, N, 0, 1, err, errlen)) {
    eb_argset_free(&args);
    return -1;
  }
  int64_t n = eb_params_numel(m.P);
  eb_model_destroy(&m);
  eb_argset_free(&args);
  return n;
}

static void check_counts(eb_registry *reg) {
  char err[EB_ERR_LEN];
  const int D = 16, L = 3, H = 4, F = 24, V = 50, C = 5, N = 40;
  /* shared: token + position embeddings, final LN, head */
  const int64_t shared = (int64_t)V * D + (int64_t)N * D + 2 * D + (int64_t)C * D + C;
  /* a vanilla block: 2 LNs, qkv, wo, MLP */
  const int64_t block = 4 * D + 3 * D * D + 3 * D + D * D + D + F * D + F + D * F + D;
  const eb_arch *lin = eb_registry_find_arch(reg, "linformer");
  struct {
    const char *kv[3];
    int64_t want;
  } lc[] = {
      {{"k=8", NULL}, shared + L * (block + 2 * 8 * N)},
      {{"k=8", "share=kv", NULL}, shared + L * (block + 8 * N)},
      {{"k=8", "share=layer", NULL}, shared + L * block + 8 * N},
      {{NULL}, shared + L * (block + 2 * N * N)}, /* default k=256 capped at N */
  };
  for (size_t i = 0; i < sizeof lc / sizeof *lc; i++) {
    int64_t got = count_params(lin, lc[i].kv, D, L, H, F, V, C, N, err, sizeof err);
    CHECK(got == lc[i].want, "linformer %s %s: %lld parameters, analytic %lld (%s)",
          lc[i].kv[0] ? lc[i].kv[0] : "", lc[i].kv[0] && lc[i].kv[1] ? lc[i].kv[1] : "",
          (long long)got, (long long)lc[i].want, got < 0 ? err : "");
  }
  /* performer: the random features are a buffer, not a parameter */
  const eb_arch *perf = eb_registry_find_arch(reg, "performer");
  int64_t got = count_params(perf, (const char *[]){"features=32", NULL}, D, L, H, F, V,
                             C, N, err, sizeof err);
  CHECK(got == shared + L * block, "performer: %lld parameters, analytic %lld",
        (long long)got, (long long)(shared + L * block));
  /* wide: one block whatever model.depth says */
  const eb_arch *wide = eb_registry_find_arch(reg, "wide");
  got = count_params(wide, (const char *[]){"heads=16", NULL}, D, L, H, F, V, C, N, err,
                     sizeof err);
  CHECK(got == shared + block, "wide: %lld parameters, analytic %lld (%s)",
        (long long)got, (long long)(shared + block), got < 0 ? err : "");
}

/* analytic training FLOPs of a model with dim 24, depth 3, heads 2 (-1 on
 * refusal) */
static double wide_flops(const eb_arch *wide, const char *const *kv) {
  char err[EB_ERR_LEN];
  eb_argset args;
  if (resolve(&args, wide, kv, err, sizeof err)) return -1;
  eb_model_config cfg = {.dim = 24, .depth = 3, .heads = 2, .ffn = 32};
  eb_model m;
  double f = -1;
  if (eb_model_create(&m, wide, &cfg, &args.args, 20, 3, 16, 0, 1, err, sizeof err) ==
      0) {
    f = eb_model_flops(&m, 2, 16, 1);
    eb_model_destroy(&m);
  }
  eb_argset_free(&args);
  return f;
}

/* wide's default heads (auto) is the deep model's depth x heads = 6 here: the
 * same model as heads=6, not the one of heads=2 (model.heads) or 16 */
static void check_wide_auto(eb_registry *reg) {
  const eb_arch *wide = eb_registry_find_arch(reg, "wide");
  const double def = wide_flops(wide, NULL),
               autov = wide_flops(wide, (const char *[]){"heads=auto", NULL}),
               six = wide_flops(wide, (const char *[]){"heads=6", NULL}),
               two = wide_flops(wide, (const char *[]){"heads=2", NULL});
  CHECK(six > 0 && two > 0 && six != two, "wide: FLOPs do not tell heads 6 from 2");
  CHECK(def == six, "wide default heads: %.0f FLOPs, heads=6 (depth 3 x heads 2) %.0f",
        def, six);
  CHECK(autov == six, "wide heads=auto: %.0f FLOPs, heads=6 %.0f", autov, six);
}

/* expect refusal; every `need` string must appear in the message */
static void refuse(eb_registry *reg, const char *arch, const char *const *kv, int dim,
                   int heads, int len, const char *const *need) {
  char err[EB_ERR_LEN] = "";
  const eb_arch *a = eb_registry_find_arch(reg, arch);
  eb_argset args;
  int rc = resolve(&args, a, kv, err, sizeof err);
  if (rc == 0) {
    eb_model_config cfg = {.dim = dim, .depth = 1, .heads = heads, .ffn = 8};
    eb_model m;
    rc = eb_model_create(&m, a, &cfg, &args.args, 10, 2, len, 0, 1, err, sizeof err);
    if (rc == 0) eb_model_destroy(&m);
    eb_argset_free(&args);
  }
  CHECK(rc != 0, "%s %s: accepted, should be refused", arch, kv && kv[0] ? kv[0] : "");
  for (int i = 0; rc != 0 && need[i]; i++)
    CHECK(strstr(err, need[i]) != NULL, "%s: message \"%s\" lacks \"%s\"", arch, err,
          need[i]);
}

/* pool: cls with `kv` refused (at build and at suite validation, max_len 0),
 * pool: mean with it and pool: cls without it accepted */
static void refuse_cls(eb_registry *reg, const char *arch, const char *const *kv,
                       const char *const *need) {
  const eb_arch *a = eb_registry_find_arch(reg, arch);
  for (int with = 0; with < 2; with++)
    for (int cls = 0; cls < 2; cls++) {
      char err[EB_ERR_LEN] = "";
      eb_argset args;
      if (resolve(&args, a, with ? kv : NULL, err, sizeof err)) {
        CHECK(0, "%s: %s", arch, err);
        continue;
      }
      eb_model_config cfg = {.dim = 16,
                             .depth = 1,
                             .heads = 4,
                             .ffn = 8,
                             .pool = cls ? EB_POOL_CLS : EB_POOL_MEAN};
      const int at_suite = a->validate(&cfg, &args.args, err, sizeof err);
      eb_model m;
      int rc = eb_model_create(&m, a, &cfg, &args.args, 10, 2, 12, 0, 1, err, sizeof err);
      if (rc == 0) eb_model_destroy(&m);
      eb_argset_free(&args);
      const int want = with && cls;
      CHECK((rc != 0) == want && (at_suite != 0) == want,
            "%s %s pool: %s: build %s, validation %s", arch, with ? kv[0] : "(default)",
            cls ? "cls" : "mean", rc ? "refused" : "accepted",
            at_suite ? "refused" : "accepted");
      for (int i = 0; want && rc != 0 && need[i]; i++)
        CHECK(strstr(err, need[i]) != NULL, "%s: message \"%s\" lacks \"%s\"", arch, err,
              need[i]);
    }
}

static void check_refusals(eb_registry *reg) {
  refuse(
      reg, "linformer", (const char *[]){"k=100", NULL}, 16, 4, 64,
      (const char *[]){"linformer", "k", "100", "larger than the sequence length", NULL});
  refuse(reg, "linformer", (const char *[]){"share=heads", NULL}, 16, 4, 64,
         (const char *[]){"linformer", "share", "heads", "none|kv|layer", NULL});
  refuse(reg, "linformer", (const char *[]){"k=many", NULL}, 16, 4, 64,
         (const char *[]){"linformer", "k", "many", "integer", NULL});
  refuse(reg, "linformer", (const char *[]){"proj=8", NULL}, 16, 4, 64,
         (const char *[]){"linformer", "proj", NULL});
  refuse(reg, "linformer", (const char *[]){"k=0", NULL}, 16, 4, 64,
         (const char *[]){"linformer", "k = 0", NULL});
  refuse(reg, "linformer", NULL, 16, 3, 64, (const char *[]){"linformer", "heads", NULL});
  refuse(reg, "wide", (const char *[]){"heads=6", NULL}, 16, 4, 64,
         (const char *[]){"wide", "heads = 6", "must divide", NULL});
  /* auto (depth 1 x heads 3) names where its count came from */
  refuse(reg, "wide", NULL, 16, 3, 64,
         (const char *[]){"wide", "heads = 3 (auto: model.depth 1 x model.heads 3)",
                          "must divide", NULL});
  refuse(reg, "wide", (const char *[]){"heads=many", NULL}, 16, 4, 64,
         (const char *[]){"wide", "heads", "'many' is not an integer (nor auto)", NULL});
  refuse(reg, "performer", (const char *[]){"features=0", NULL}, 16, 4, 64,
         (const char *[]){"performer", "features = 0", NULL});
  refuse(reg, "performer", (const char *[]){"redraw=-5", NULL}, 16, 4, 64,
         (const char *[]){"performer", "redraw = -5", NULL});
  refuse(reg, "performer", (const char *[]){"kernel=cosine", NULL}, 16, 4, 64,
         (const char *[]){"performer", "kernel", "cosine", "softmax|relu", NULL});
  /* causal attention: the CLS token at position 0 sees only itself */
  refuse_cls(reg, "vanilla", (const char *[]){"causal=true", NULL},
             (const char *[]){"vanilla", "pool: cls", "causal", "pool: mean",
                              "causal: false", NULL});
  /* validate at config time without a known length: k is not checked yet */
  char err[EB_ERR_LEN];
  const eb_arch *lin = eb_registry_find_arch(reg, "linformer");
  eb_argset args;
  resolve(&args, lin, (const char *[]){"k=100", NULL}, err, sizeof err);
  eb_model_config cfg = {.dim = 16, .depth = 1, .heads = 4, .ffn = 8, .max_len = 0};
  CHECK(lin->validate(&cfg, &args.args, err, sizeof err) == 0,
        "linformer k=100 refused with an unknown length: %s", err);
  cfg.max_len = 65;
  CHECK(lin->validate(&cfg, &args.args, err, sizeof err) != 0,
        "linformer k=100 accepted with max_len 65");
  eb_argset_free(&args);
}

/* performer's features: untouched by the optimizer (also with weight decay),
 * redrawn every `redraw` training steps, identically for the same seed */
static void check_features(eb_registry *reg) {
  char err[EB_ERR_LEN];
  const eb_arch *a = eb_registry_find_arch(reg, "performer");
  eb_argset args;
  resolve(&args, a, (const char *[]){"features=8", "redraw=2", NULL}, err, sizeof err);
  eb_model_config cfg = {.dim = 8, .depth = 2, .heads = 2, .ffn = 12};
  eb_model m1, m2;
  if (eb_model_create(&m1, a, &cfg, &args.args, 7, 3, 6, 0, 5, err, sizeof err) ||
      eb_model_create(&m2, a, &cfg, &args.args, 7, 3, 6, 0, 5, err, sizeof err)) {
    CHECK(0, "performer: %s", err);
    eb_argset_free(&args);
    return;
  }
  eb_tensor *f1 = eb_params_find(m1.P, "blocks.1.attn.features");
  eb_tensor *f2 = eb_params_find(m2.P, "blocks.1.attn.features");
  CHECK(f1 && !f1->requires_grad, "features are not a buffer");
  /* rows within a block of dh = 4 are orthogonal */
  double dot = 0;
  for (int c = 0; c < 4; c++)
    dot += f1->data[c] * f1->data[4 + c];
  CHECK(fabs(dot) < 1e-4, "feature rows 0 and 1 not orthogonal: dot %g", dot);
  float init[32];
  memcpy(init, f1->data, sizeof init);
  int32_t tok[12] = {1, 2, 3, 4, 5, 6, 6, 5, 4, 0, 0, 0};
  uint8_t mask[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
  int32_t lab[2] = {1, 2};
  eb_batch b = {.B = 2, .N = 6, .tokens = tok, .mask = mask, .labels = lab};
  eb_ctx *ctx = eb_ctx_create(1 << 20, 0);
  eb_adam opt = eb_adam_lra(0.1f);
  float snap[5][32]; /* m1's features after each step 1..4 */
  for (int step = 1; step <= 4; step++)
    for (int which = 0; which < 2; which++) {
      eb_model *m = which ? &m2 : &m1;
      eb_ctx_reset(ctx);
      eb_ctx_set_step(ctx, (uint64_t)step);
      eb_ctx_set_training(ctx, 1);
      eb_ctx_set_grad(ctx, 1);
      eb_params_zero_grad(m->P);
      eb_tensor *loss = eb_model_loss(m, ctx, &b, NULL, NULL, err, sizeof err);
      CHECK(loss && eb_backward(ctx, loss) == 0, "step %d: %s", step, err);
      if (!which && step == 1)
        CHECK(memcmp(init, f1->data, sizeof init) == 0, "features changed before step 2");
      eb_adam_step(m->P, &opt, 1e-2f, step);
      if (!which && step == 1)
        CHECK(memcmp(init, f1->data, sizeof init) == 0,
              "the optimizer changed the features");
      if (!which) memcpy(snap[step], f1->data, sizeof init);
    }
  /* redraw = 2: new features at steps 2 and 4, kept at step 3 */
  CHECK(memcmp(snap[2], init, sizeof init) != 0, "features not redrawn at step 2");
  CHECK(memcmp(snap[3], snap[2], sizeof init) == 0, "features changed at step 3");
  CHECK(memcmp(snap[4], snap[3], sizeof init) != 0, "features not redrawn at step 4");
  /* evaluation never redraws, even at a step that is a multiple of 2 */
  eb_ctx_reset(ctx);
  eb_ctx_set_step(ctx, 6);
  eb_ctx_set_training(ctx, 0);
  eb_ctx_set_grad(ctx, 0);
  CHECK(eb_model_loss(&m1, ctx, &b, NULL, NULL, err, sizeof err) != NULL, "eval: %s",
        err);
  CHECK(memcmp(f1->data, snap[4], sizeof init) == 0, "an evaluation redrew the features");
  CHECK(memcmp(init, f1->data, sizeof init) != 0, "features not redrawn at step 2");
  CHECK(memcmp(f1->data, f2->data, sizeof init) == 0,
        "two runs with the same seed drew different features");
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m1);
  eb_model_destroy(&m2);
  eb_argset_free(&args);
}

/* performer (both kernels, padded batch, a feature map big enough to run in
 * parallel): three Adam steps give the same losses and final parameters bit
 * for bit when run twice with one thread and once with two */
static void check_determinism(eb_registry *reg) {
  enum { B = 3, N = 96, STEPS = 3 };
  char err[EB_ERR_LEN];
  const eb_arch *a = eb_registry_find_arch(reg, "performer");
  int32_t tok[B * N], lab[B] = {1, 0, 2};
  uint8_t mask[B * N];
  for (int i = 0; i < B * N; i++) {
    tok[i] = 1 + (i * 7) % 11;
    mask[i] = i % N < N - 20 * (i / N);
  }
  eb_batch b = {.B = B, .N = N, .tokens = tok, .mask = mask, .labels = lab};
  for (int relu = 0; relu < 2; relu++) {
    eb_argset args;
    resolve(&args, a, (const char *[]){"features=64", relu ? "kernel=relu" : NULL, NULL},
            err, sizeof err);
    eb_model_config cfg = {.dim = 16, .depth = 2, .heads = 2, .ffn = 24};
    float loss[3][STEPS];
    float *params[3] = {NULL, NULL, NULL};
    int64_t np = 0;
    for (int run = 0; run < 3; run++) {
      eb_set_threads(run == 2 ? 2 : 1);
      eb_model m;
      if (eb_model_create(&m, a, &cfg, &args.args, 12, 3, N, 0, 5, err, sizeof err)) {
        CHECK(0, "performer: %s", err);
        break;
      }
      eb_ctx *ctx = eb_ctx_create(1 << 20, 0);
      eb_adam opt = eb_adam_lra(0.0f);
      for (int step = 1; step <= STEPS; step++) {
        eb_ctx_reset(ctx);
        eb_ctx_set_step(ctx, (uint64_t)step);
        eb_ctx_set_training(ctx, 1);
        eb_ctx_set_grad(ctx, 1);
        eb_params_zero_grad(m.P);
        eb_tensor *l = eb_model_loss(&m, ctx, &b, NULL, NULL, err, sizeof err);
        CHECK(l && eb_backward(ctx, l) == 0, "performer step %d: %s", step, err);
        loss[run][step - 1] = l ? l->data[0] : NAN;
        eb_adam_step(m.P, &opt, 1e-2f, step);
      }
      np = eb_params_padded(m.P);
      params[run] = malloc((size_t)np * sizeof(float));
      memcpy(params[run], eb_params_data(m.P), (size_t)np * sizeof(float));
      eb_ctx_destroy(ctx);
      eb_model_destroy(&m);
    }
    eb_set_threads(1);
    for (int run = 1; run < 3 && params[run]; run++) {
      CHECK(memcmp(loss[0], loss[run], sizeof loss[0]) == 0,
            "performer %s: losses %.9g %.9g %.9g vs %.9g %.9g %.9g (%s)",
            relu ? "relu" : "softmax", loss[0][0], loss[0][1], loss[0][2], loss[run][0],
            loss[run][1], loss[run][2], run == 2 ? "2 threads" : "second run");
      CHECK(memcmp(params[0], params[run], (size_t)np * sizeof(float)) == 0,
            "performer %s: parameters differ (%s)", relu ? "relu" : "softmax",
            run == 2 ? "2 threads" : "second run");
    }
    for (int run = 0; run < 3; run++)
      free(params[run]);
    eb_argset_free(&args);
  }
}

int main(void) {
  char err[EB_ERR_LEN];
  eb_registry *reg = eb_registry_create();
  if (eb_registry_add_builtins(reg, err, sizeof err))
    return fprintf(stderr, "%s\n", err), 1;
  eb_set_threads(1);
  const eb_arch *lin = eb_registry_find_arch(reg, "linformer");
  const eb_arch *perf = eb_registry_find_arch(reg, "performer");
  const eb_arch *wide = eb_registry_find_arch(reg, "wide");
  CHECK(lin && perf && wide, "an architecture is not registered");
  if (!lin || !perf || !wide) return eb_test_done("test_archs_attn");

  gradcheck_arch(lin, (const char *[]){"k=3", NULL}, EB_POOL_MEAN, 0);
  gradcheck_arch(lin, (const char *[]){"k=3", NULL}, EB_POOL_MEAN, 1);
  gradcheck_arch(lin, (const char *[]){"k=4", "share=kv", NULL}, EB_POOL_CLS, 1);
  gradcheck_arch(lin, (const char *[]){"k=4", "share=layer", NULL}, EB_POOL_MEAN, 1);
  gradcheck_arch(lin, (const char *[]){"share=layer", NULL}, EB_POOL_CLS, 0);
  gradcheck_arch(perf, (const char *[]){"features=6", NULL}, EB_POOL_MEAN, 0);
  gradcheck_arch(perf, (const char *[]){"features=6", NULL}, EB_POOL_CLS, 1);
  gradcheck_arch(perf, (const char *[]){"features=6", "kernel=relu", NULL}, EB_POOL_MEAN,
                 0);
  gradcheck_arch(wide, (const char *[]){"heads=4", NULL}, EB_POOL_MEAN, 0);
  gradcheck_arch(wide, (const char *[]){"heads=8", "attention=naive", NULL}, EB_POOL_CLS,
                 1);
  check_flops(reg, "linformer", (const char *[]){"k=8", NULL}, EB_POOL_MEAN, 0.1f, 30,
              30);
  check_flops(reg, "linformer", (const char *[]){"k=8", NULL}, EB_POOL_CLS, 0.0f, 30, 21);
  check_flops(reg, "linformer", (const char *[]){"k=8", "share=kv", NULL}, EB_POOL_MEAN,
              0.0f, 30, 17);
  check_flops(reg, "linformer", (const char *[]){"k=5", "share=layer", NULL}, EB_POOL_CLS,
              0.1f, 30, 12);
  check_flops(reg, "performer", (const char *[]){"features=12", NULL}, EB_POOL_CLS, 0.1f,
              30, 30);
  check_flops(reg, "performer", (const char *[]){"kernel=relu", "features=7", NULL},
              EB_POOL_MEAN, 0.0f, 30, 25);
  check_flops(reg, "wide", (const char *[]){"heads=8", "attention=naive", NULL},
              EB_POOL_MEAN, 0.0f, 30, 30);
  check_flops(reg, "wide", (const char *[]){"heads=2", NULL}, EB_POOL_CLS, 0.1f, 300,
              300);
  check_counts(reg);
  check_wide_auto(reg);
  check_refusals(reg);
  check_features(reg);
  check_determinism(reg);
  eb_registry_destroy(reg);
  return eb_test_done("test_archs_attn");
}
