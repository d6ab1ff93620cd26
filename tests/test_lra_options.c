/* The LRA protocol options of the shared model (model.attention_dropout,
 * mlp_dropout, positions: sinusoidal, head: mlp): each changes what it claims
 * and nothing else. Dropouts change training losses but neither the
 * parameters nor the evaluation logits; fixed sinusoids have no parameter and
 * match the formula; the mlp head adds exactly its documented parameters and a
 * ReLU; archs without attention probabilities (or an MLP) refuse the dropout
 * with the fix named; whole-model gradients with every option on (fixed
 * masks); training steps bit for bit across runs and 1 vs 2 threads; the run
 * key of a suite without the options is the one it had before they existed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "check.h"
#include "optim.h"
#include "registry.h"
#include "suite.h"
#include "train.h"

enum { B = 3, N = 12, V = 9, C = 3 };

typedef struct fixture {
  eb_model *m;
  eb_batch *b;
} fixture;

static int32_t g_tok[B * N], g_lab[B] = {1, 0, 2};
static uint8_t g_mask[B * N];
static eb_batch g_batch = {
    .B = B, .N = N, .tokens = g_tok, .mask = g_mask, .labels = g_lab};

static void fill_batch(void) {
  for (int i = 0; i < B * N; i++) {
    g_tok[i] = 1 + (i * 5) % (V - 1);
    g_mask[i] = i % N < N - 3 * (i / N); /* rows with 0, 3 and 6 padded tokens */
  }
}

static eb_model_config base_cfg(void) {
  return (eb_model_config){.dim = 8, .depth = 2, .heads = 2, .ffn = 12, .dropout = 0.1f};
}

static int make(eb_model *m, const eb_registry *reg, const char *arch,
                const char *const *kv, const eb_model_config *cfg, int pair,
                eb_argset *args) {
  char err[EB_ERR_LEN];
  const eb_arch *a = eb_registry_find_arch(reg, arch);
  if (!a || eb_test_resolve_kv(args, a->name, a->params, kv, err, sizeof err)) {
    CHECK(0, "%s: %s", arch, a ? err : "not registered");
    return -1;
  }
  if (eb_model_create(m, a, cfg, &args->args, V, C, N, pair, 11, err, sizeof err)) {
    CHECK(0, "%s: create: %s", arch, err);
    eb_argset_free(args);
    return -1;
  }
  return 0;
}

/* loss (training at step, or evaluation) and, in evaluation, the logits */
static float run_once(eb_model *m, eb_ctx *ctx, int training, uint64_t step,
                      float *logits) {
  char err[EB_ERR_LEN];
  eb_ctx_reset(ctx);
  eb_ctx_set_step(ctx, step);
  eb_ctx_set_training(ctx, training);
  eb_ctx_set_grad(ctx, 0);
  if (logits) {
    eb_tensor *l = eb_model_logits(m, ctx, &g_batch, err, sizeof err);
    CHECK(l != NULL, "logits: %s", err);
    if (l) memcpy(logits, l->data, sizeof(float) * B * C);
    return 0;
  }
  eb_tensor *loss = eb_model_loss(m, ctx, &g_batch, NULL, NULL, err, sizeof err);
  CHECK(loss != NULL, "loss: %s", err);
  return loss ? loss->data[0] : NAN;
}

/* A dropout option (cfg) against the same model without it: same parameters,
 * evaluation logits equal bit for bit, training losses differ, and one step
 * repeated gives the same loss. */
static void check_dropout(const eb_registry *reg, const char *arch, const char *const *kv,
                          float att, float mlp) {
  eb_model_config c0 = base_cfg(), c1 = base_cfg();
  c0.dropout = c1.dropout = 0.0f; /* only the option under test drops */
  c1.attention_dropout = att;
  c1.mlp_dropout = mlp;
  eb_model m0, m1;
  eb_argset a0, a1;
  if (make(&m0, reg, arch, kv, &c0, 0, &a0)) return;
  if (make(&m1, reg, arch, kv, &c1, 0, &a1)) {
    eb_model_destroy(&m0);
    eb_argset_free(&a0);
    return;
  }
  const char *what = att > 0 ? "attention_dropout" : "mlp_dropout";
  CHECK(eb_params_numel(m0.P) == eb_params_numel(m1.P) &&
            memcmp(eb_params_data(m0.P), eb_params_data(m1.P),
                   (size_t)eb_params_padded(m0.P) * sizeof(float)) == 0,
        "%s %s: the option changed the parameters", arch, what);
  eb_ctx *ctx = eb_ctx_create(1 << 20, 7);
  float e0[B * C], e1[B * C];
  run_once(&m0, ctx, 0, 4, e0);
  run_once(&m1, ctx, 0, 4, e1);
  CHECK(memcmp(e0, e1, sizeof e0) == 0, "%s %s: evaluation logits changed (eval drops)",
        arch, what);
  float l0 = run_once(&m0, ctx, 1, 4, NULL), l1 = run_once(&m1, ctx, 1, 4, NULL);
  float l1b = run_once(&m1, ctx, 1, 4, NULL), l1c = run_once(&m1, ctx, 1, 5, NULL);
  CHECK(l0 != l1, "%s %s %.2f: the training loss did not change (%.9g)", arch, what,
        (double)(att > 0 ? att : mlp), (double)l0);
  CHECK(l1 == l1b, "%s %s: the same step gave losses %.9g and %.9g", arch, what,
        (double)l1, (double)l1b);
  CHECK(l1 != l1c, "%s %s: steps 4 and 5 drew the same masks", arch, what);
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m0);
  eb_model_destroy(&m1);
  eb_argset_free(&a0);
  eb_argset_free(&a1);
}

/* positions: sinusoidal has no parameter, matches the formula and is used */
static void check_sinusoidal(const eb_registry *reg) {
  eb_model_config cl = base_cfg(), cs = base_cfg();
  cs.positions = EB_POS_SINUSOIDAL;
  cs.dim = cl.dim = 10; /* 5 frequencies */
  eb_model ml, ms;
  eb_argset al, as;
  if (make(&ml, reg, "vanilla", NULL, &cl, 0, &al)) return;
  if (make(&ms, reg, "vanilla", NULL, &cs, 0, &as)) {
    eb_model_destroy(&ml);
    eb_argset_free(&al);
    return;
  }
  CHECK(eb_params_find(ms.P, "embed.pos") == NULL && ms.pos == NULL,
        "sinusoidal positions declared embed.pos");
  CHECK(eb_params_numel(ml.P) - eb_params_numel(ms.P) == (int64_t)N * 10,
        "sinusoidal: %lld parameters, learned %lld: want N*D = %d fewer",
        (long long)eb_params_numel(ms.P), (long long)eb_params_numel(ml.P), N * 10);
  double worst = 0;
  for (int p = 0; p < N; p++)
    for (int d = 0; d < 10; d++) {
      double w = p / pow(10000.0, (d - d % 2) / 10.0);
      double want = d % 2 ? cos(w) : sin(w);
      double e = fabs(ms.pos_table[p * 10 + d] - want);
      worst = e > worst ? e : worst;
    }
  CHECK(worst < 1e-6, "sinusoid table off the formula by %g", worst);
  /* the table is what the model adds: zeroing it changes the logits, and a
   * batch shorter than the model's length still runs (rows 0..L-1) */
  eb_ctx *ctx = eb_ctx_create(1 << 20, 7);
  float e0[B * C], e1[B * C];
  run_once(&ms, ctx, 0, 1, e0);
  float keep = ms.pos_table[3 * 10 + 4];
  ms.pos_table[3 * 10 + 4] = 0;
  run_once(&ms, ctx, 0, 1, e1);
  ms.pos_table[3 * 10 + 4] = keep;
  CHECK(memcmp(e0, e1, sizeof e0) != 0,
        "sinusoidal: the table does not reach the logits");
  char err[EB_ERR_LEN];
  eb_batch shorter = g_batch;
  shorter.N = N - 4;
  eb_ctx_reset(ctx);
  eb_ctx_set_training(ctx, 1);
  eb_ctx_set_grad(ctx, 1);
  eb_tensor *loss = eb_model_loss(&ms, ctx, &shorter, NULL, NULL, err, sizeof err);
  CHECK(loss && eb_backward(ctx, loss) == 0, "sinusoidal, short batch: %s", err);
  eb_ctx_destroy(ctx);
  eb_model_destroy(&ml);
  eb_model_destroy(&ms);
  eb_argset_free(&al);
  eb_argset_free(&as);
}

static int64_t numel_of(const eb_model *m, const char *name, int d0, int d1) {
  const eb_tensor *t = eb_params_find(m->P, name);
  if (!t) return -1;
  if (t->shape[0] != d0 || (d1 && (t->ndim != 2 || t->shape[1] != d1))) return -2;
  return t->size;
}

/* head: mlp adds head.mlp.w [W,D] and head.mlp.b [W] and makes head.w [C,W];
 * with the hidden bias far below zero the ReLU passes nothing (logits = head.b);
 * pair models keep their dual head, head_width sets its width. */
static void check_mlp_head(const eb_registry *reg) {
  for (int hw = 0; hw <= 5; hw += 5) {
    eb_model_config cl = base_cfg(), cm = base_cfg();
    cm.head = EB_HEAD_MLP;
    cm.head_width = hw;
    const int W = hw ? hw : cm.ffn, D = cm.dim;
    eb_model ml, mm;
    eb_argset al, am;
    if (make(&ml, reg, "vanilla", NULL, &cl, 0, &al)) return;
    if (make(&mm, reg, "vanilla", NULL, &cm, 0, &am)) {
      eb_model_destroy(&ml);
      eb_argset_free(&al);
      return;
    }
    CHECK(numel_of(&mm, "head.mlp.w", W, D) == (int64_t)W * D &&
              numel_of(&mm, "head.mlp.b", W, 0) == W &&
              numel_of(&mm, "head.w", C, W) == (int64_t)C * W,
          "head: mlp (width %d): head.mlp.w [W,D], head.mlp.b [W], head.w [C,W] expected",
          W);
    CHECK(eb_params_numel(mm.P) - eb_params_numel(ml.P) ==
              (int64_t)W * D + W + (int64_t)C * W - (int64_t)C * D,
          "head: mlp (width %d) adds %lld parameters", W,
          (long long)(eb_params_numel(mm.P) - eb_params_numel(ml.P)));
    eb_tensor *b1 = eb_params_find(mm.P, "head.mlp.b"),
              *hb = eb_params_find(mm.P, "head.b");
    eb_ctx *ctx = eb_ctx_create(1 << 20, 7);
    float e0[B * C], e1[B * C];
    run_once(&mm, ctx, 0, 1, e0);
    for (int i = 0; b1 && i < W; i++)
      b1->data[i] = -1e4f;
    for (int i = 0; hb && i < C; i++)
      hb->data[i] = 0.25f * (float)(i + 1);
    run_once(&mm, ctx, 0, 1, e1);
    int bad = 0;
    for (int i = 0; i < B * C; i++)
      bad += e1[i] != 0.25f * (float)(i % C + 1);
    CHECK(bad == 0 && memcmp(e0, e1, sizeof e0) != 0,
          "head: mlp: with the ReLU closed the logits must be head.b (%d differ)", bad);
    eb_ctx_destroy(ctx);
    eb_model_destroy(&ml);
    eb_model_destroy(&mm);
    eb_argset_free(&al);
    eb_argset_free(&am);
  }
  eb_model_config cp = base_cfg();
  cp.head = EB_HEAD_MLP;
  cp.head_width = 6;
  eb_model mp;
  eb_argset ap;
  if (make(&mp, reg, "vanilla", NULL, &cp, 1, &ap)) return;
  CHECK(eb_params_find(mp.P, "head.mlp.w") == NULL &&
            numel_of(&mp, "head.pair.w", 6, 4 * cp.dim) == 6 * 4 * cp.dim &&
            numel_of(&mp, "head.w", C, 6) == C * 6,
        "pair model: head_width 6 must size the dual head, with no head.mlp");
  eb_model_destroy(&mp);
  eb_argset_free(&ap);
}

/* where an option has nothing to act on, the arch refuses it and names the fix */
static void check_refusals(const eb_registry *reg) {
  static const struct {
    const char *arch;
    float att, mlp;
    int ok;
    const char *want;
  } cases[] = {
      {"mamba", 0.1f, 0, 0, "attention_dropout: 0"},
      {"mamba", 0, 0.1f, 0, "mlp_dropout: 0"},
      {"poolformer", 0.1f, 0, 0, "match: {arch: poolformer}"},
      {"performer", 0.1f, 0, 0, "match: {arch: performer}"},
      {"poolformer", 0, 0.1f, 1, NULL},
      {"performer", 0, 0.1f, 1, NULL},
      {"vanilla", 0.1f, 0.1f, 1, NULL},
      {"wide", 0.1f, 0.1f, 1, NULL},
      {"linformer", 0.1f, 0.1f, 1, NULL},
      {"moe", 0.1f, 0.1f, 1, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const eb_arch *a = eb_registry_find_arch(reg, cases[i].arch);
    eb_argset args;
    char err[EB_ERR_LEN] = "";
    static const char *const wide_kv[] = {"heads=2", NULL}; /* dim 8 */
    if (!a || eb_test_resolve_kv(&args, a->name, a->params,
                                 strcmp(cases[i].arch, "wide") ? NULL : wide_kv, err,
                                 sizeof err)) {
      CHECK(0, "%s: %s", cases[i].arch, err);
      continue;
    }
    eb_model_config cfg = base_cfg();
    cfg.attention_dropout = cases[i].att;
    cfg.mlp_dropout = cases[i].mlp;
    int rc = eb_model_check(a, &cfg, &args.args, V, C, N, err, sizeof err);
    if (cases[i].ok)
      CHECK(rc == 0, "%s: attention_dropout %.1f mlp_dropout %.1f refused: %s",
            cases[i].arch, (double)cases[i].att, (double)cases[i].mlp, err);
    else
      CHECK(rc != 0 && strstr(err, cases[i].want) && strstr(err, cases[i].arch),
            "%s: attention_dropout %.1f mlp_dropout %.1f: want a refusal naming '%s', "
            "got rc %d '%s'",
            cases[i].arch, (double)cases[i].att, (double)cases[i].mlp, cases[i].want, rc,
            err);
    eb_argset_free(&args);
  }
  eb_model_config bad = base_cfg();
  bad.attention_dropout = 1.0f;
  char err[EB_ERR_LEN] = "";
  eb_argset args;
  const eb_arch *v = eb_registry_find_arch(reg, "vanilla");
  eb_test_resolve_kv(&args, v->name, v->params, NULL, err, sizeof err);
  CHECK(eb_model_check(v, &bad, &args.args, V, C, N, err, sizeof err) != 0 &&
            strstr(err, "attention_dropout"),
        "attention_dropout 1 accepted: '%s'", err);
  eb_argset_free(&args);
}

static eb_tensor *model_loss(eb_ctx *ctx, void *user) {
  fixture *f = user;
  char err[EB_ERR_LEN];
  eb_ctx_set_step(ctx, 9); /* the same masks on every evaluation */
  eb_tensor *l = eb_model_loss(f->m, ctx, f->b, NULL, NULL, err, sizeof err);
  if (!l) fprintf(stderr, "model_loss: %s\n", err);
  return l;
}

/* every option on, training mode (dropout masks fixed by the step):
 * finite-difference gradients of every parameter tensor */
static void check_gradients(const eb_registry *reg, const char *arch,
                            const char *const *kv) {
  eb_model_config cfg = base_cfg();
  cfg.attention_dropout = 0.3f;
  cfg.mlp_dropout = 0.3f;
  cfg.positions = EB_POS_SINUSOIDAL;
  cfg.head = EB_HEAD_MLP;
  cfg.head_width = 5;
  eb_model m;
  eb_argset args;
  if (make(&m, reg, arch, kv, &cfg, 0, &args)) return;
  /* O(1) embeddings (as test_archs_attn): LayerNorm of N(0, 0.02^2) vectors is
   * far from linear over a finite-difference step */
  for (int64_t i = 0; i < m.tok->size; i++)
    m.tok->data[i] *= 25.0f;
  for (int64_t i = 0; m.pos && i < m.pos->size; i++)
    m.pos->data[i] *= 25.0f;
  /* the head's hidden units far from the ReLU's kink, half open, half closed */
  for (int i = 0; m.mlp_b && i < m.mlp_b->size; i++)
    m.mlp_b->data[i] = i % 2 ? -2.0f : 2.0f;
  eb_ctx *ctx = eb_ctx_create(1 << 20, 3);
  eb_ctx_set_training(ctx, 1);
  fixture f = {&m, &g_batch};
  eb_tensor *leaves[64];
  int nl = 0;
  for (int i = 0; i < eb_params_count(m.P) && nl < 64; i++)
    if (eb_params_get(m.P, i)->requires_grad) leaves[nl++] = eb_params_get(m.P, i);
  char what[96];
  snprintf(what, sizeof what, "%s%s%s (all LRA options)", arch, kv ? " " : "",
           kv ? kv[0] : "");
  eb_gradcheck(what, ctx, model_loss, &f, leaves, nl, 1e-2f, 2e-2, 6);
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m);
  eb_argset_free(&args);
}

/* every option on: three Adam steps, twice with one thread and once with two,
 * give the same losses bit for bit */
static void check_determinism(const eb_registry *reg, const char *arch,
                              const char *const *kv) {
  enum { S = 3 };
  float loss[3][S];
  for (int run = 0; run < 3; run++) {
    eb_set_threads(run == 2 ? 2 : 1);
    eb_model_config cfg = {
        .dim = 32, .depth = 2, .heads = 4, .ffn = 128, .dropout = 0.1f};
    cfg.attention_dropout = strcmp(arch, "performer") ? 0.2f : 0.0f;
    cfg.mlp_dropout = 0.2f;
    cfg.positions = EB_POS_SINUSOIDAL;
    cfg.head = EB_HEAD_MLP;
    eb_model m;
    eb_argset args;
    if (make(&m, reg, arch, kv, &cfg, 0, &args)) return;
    eb_ctx *ctx = eb_ctx_create(1 << 20, 5);
    eb_adam opt = eb_adam_lra(0.01f);
    char err[EB_ERR_LEN];
    for (int s = 1; s <= S; s++) {
      eb_ctx_reset(ctx);
      eb_ctx_set_step(ctx, (uint64_t)s);
      eb_ctx_set_training(ctx, 1);
      eb_ctx_set_grad(ctx, 1);
      eb_params_zero_grad(m.P);
      eb_tensor *l = eb_model_loss(&m, ctx, &g_batch, NULL, NULL, err, sizeof err);
      CHECK(l && eb_backward(ctx, l) == 0, "%s step %d: %s", arch, s, err);
      loss[run][s - 1] = l ? l->data[0] : NAN;
      eb_adam_step(m.P, &opt, 1e-2f, s);
    }
    eb_ctx_destroy(ctx);
    eb_model_destroy(&m);
    eb_argset_free(&args);
  }
  eb_set_threads(1);
  CHECK(memcmp(loss[0], loss[1], sizeof loss[0]) == 0,
        "%s (LRA options): two runs differ", arch);
  CHECK(memcmp(loss[0], loss[2], sizeof loss[0]) == 0,
        "%s (LRA options): 1 and 2 threads differ (%.9g vs %.9g at step 1)", arch,
        (double)loss[0][0], (double)loss[2][0]);
}

/* a suite without the options keeps the config JSON (so the run key) it had
 * before they existed; each option set is written, each under its name */
static void check_run_json(eb_registry *reg) {
  static const char *const base =
      "suite: keys\nseeds: [0]\ntasks:\n  - majority\narchs:\n  - vanilla\n";
  /* config_json keeps the YAML's decimals (0.1, not float32's 0.100000001);
   * the run keys hash the canonical %.9g text and are pinned by suite.test.sh */
  static const char *const want_default =
      "{\"arch\":\"vanilla\",\"arch_params\":{\"attention\":\"blockwise\",\"causal\":"
      "false},\"data_seed\":0,\"model\":{\"depth\":2,\"dim\":64,\"dropout\":0.1,"
      "\"ffn\":128,\"heads\":4,\"pool\":\"mean\"},\"seed\":0,\"task\":\"majority\"";
  static const char *const with = "model: {attention_dropout: 0.1, mlp_dropout: 0.2, "
                                  "positions: sinusoidal, head: mlp, "
                                  "head_width: 32}\n";
  for (int opt = 0; opt < 2; opt++) {
    const char *path = "test_lra_options.yaml";
    FILE *f = fopen(path, "w");
    if (!f) {
      CHECK(0, "cannot write %s", path);
      return;
    }
    fprintf(f, "%s%s", base, opt ? with : "");
    fclose(f);
    eb_suite s;
    char err[EB_ERR_LEN];
    if (eb_suite_load(path, reg, &s, err, sizeof err)) {
      CHECK(0, "suite: %s", err);
      remove(path);
      return;
    }
    const char *js = s.runs[0].config_json;
    if (!opt) {
      CHECK(strncmp(js, want_default, strlen(want_default)) == 0,
            "default config JSON changed:\n  %s\nwant it to start\n  %s", js,
            want_default);
    } else {
      CHECK(strstr(js, "\"model\":{\"attention_dropout\":0.1,\"depth\":2,\"dim\":64,"
                       "\"dropout\":0.1,\"ffn\":128,\"head\":\"mlp\",\"head_width\":"
                       "32,\"heads\":4,\"mlp_dropout\":0.2,\"pool\":\"mean\","
                       "\"positions\":\"sinusoidal\"}") != NULL,
            "config JSON with the options: %s", js);
    }
    eb_suite_free(&s);
    remove(path);
  }
}

int main(void) {
  char err[EB_ERR_LEN];
  eb_registry *reg = eb_registry_create();
  if (eb_registry_add_builtins(reg, err, sizeof err))
    return fprintf(stderr, "%s\n", err), 1;
  fill_batch();
  static const char *const naive[] = {"attention=naive", NULL};
  static const char *const moe_kv[] = {"capacity_factor=8", NULL};
  check_dropout(reg, "vanilla", NULL, 0.3f, 0);
  check_dropout(reg, "vanilla", naive, 0.3f, 0);
  static const char *const wide_kv[] = {"heads=2", NULL};
  check_dropout(reg, "wide", wide_kv, 0.3f, 0);
  check_dropout(reg, "linformer", NULL, 0.3f, 0);
  check_dropout(reg, "moe", moe_kv, 0.3f, 0);
  static const char *const mlp_archs[] = {"vanilla", "wide",       "linformer",
                                          "moe",     "poolformer", "performer"};
  for (size_t i = 0; i < sizeof mlp_archs / sizeof *mlp_archs; i++)
    check_dropout(reg, mlp_archs[i],
                  !strcmp(mlp_archs[i], "moe")    ? moe_kv
                  : !strcmp(mlp_archs[i], "wide") ? wide_kv
                                                  : NULL,
                  0, 0.3f);
  check_sinusoidal(reg);
  check_mlp_head(reg);
  check_refusals(reg);
  check_gradients(reg, "vanilla", NULL);
  check_gradients(reg, "vanilla", naive);
  check_gradients(reg, "linformer", NULL);
  check_determinism(reg, "vanilla", NULL);
  check_determinism(reg, "vanilla", naive);
  check_determinism(reg, "moe", moe_kv);
  check_determinism(reg, "performer", (const char *[]){"redraw=2", NULL});
  check_run_json(reg);
  eb_registry_destroy(reg);
  return eb_test_done("test_lra_options");
}
