/* linear_attention_check.so: the example plugin's own tests.
 *
 * The core API (eb_ctx, ops, backward) lives in the effbench executable, so a
 * test of a plugin runs where the plugin runs: inside effbench. This module
 * compiles the plugin's source without its entry point and exports an
 * effbench_plugin_init that registers nothing but runs the checks:
 *
 *   effbench --plugin build/linear_attention_check.so list archs >/dev/null
 *
 * exits 0 when every check passes and non-zero ("its init function reported
 * failure") otherwise; what differed goes to stderr (test code prints, the
 * plugin itself never does). Checks:
 *  1. the attention against a direct double-precision loop of the formula,
 *     with padding;
 *  2. real outputs do not depend on padded inputs; stats() after a forward;
 *  3. finite-difference gradients of every parameter and of the input;
 *  4. counted FLOPs equal la_flops() (forward, training step, with dropout), and
 *     counted GEMM FLOPs (eb_ctx_gemm_flops) la_gemm_flops() exactly.
 */
#define LINEAR_ATTENTION_NO_ENTRY
#include "linear_attention.c"

#include <string.h>

static int failures;

#define FAIL(...)                                                                        \
  do {                                                                                   \
    fprintf(stderr, "linear_attention check: " __VA_ARGS__);                             \
    fputc('\n', stderr);                                                                 \
    failures++;                                                                          \
  } while (0)

enum { B = 2, N = 5, D = 8, H = 2, DH = D / H };
/* sequence 1 has two padded positions */
static const uint8_t g_mask[B * N] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};

static eb_model_config small_cfg(float dropout) {
  eb_model_config c = {
      .dim = D, .depth = 2, .heads = H, .ffn = 12, .dropout = dropout, .max_len = N};
  return c;
}

static eb_args no_args(void) {
  static const eb_arg eps = {"eps", EB_P_FLOAT, 0, 1e-6, NULL};
  eb_args a = {1, &eps};
  return a;
}

/* ------------------------------------------- 1. against the formula ---- */
static void check_formula(eb_ctx *ctx) {
  eb_ctx_reset(ctx);
  eb_ctx_set_grad(ctx, 0);
  const int shape[3] = {B, N, D};
  eb_tensor *q = eb_tensor_new(ctx, 3, shape), *k = eb_tensor_new(ctx, 3, shape);
  eb_tensor *a = eb_tensor_new(ctx, 3, shape);
  eb_tensor *wv = eb_tensor_new(ctx, 2, (int[]){D, D});
  eb_tensor *bv = eb_tensor_new(ctx, 2, (int[]){1, D});
  la_consts c;
  if (!q || !k || !a || !wv || !bv || la_consts_make(ctx, D, H, 1e-6f, &c)) {
    FAIL("setup: %s", eb_ctx_error(ctx));
    return;
  }
  eb_rng r = eb_rng_make(11, 0);
  for (int i = 0; i < B * N * D; i++) {
    q->data[i] = 2 * eb_rng_normal(&r);
    k->data[i] = 2 * eb_rng_normal(&r);
    a->data[i] = eb_rng_normal(&r);
  }
  for (int i = 0; i < D * D; i++)
    wv->data[i] = 0.5f * eb_rng_normal(&r);
  for (int i = 0; i < D; i++)
    bv->data[i] = eb_rng_normal(&r);
  /* the values the formula uses: v = a wvᵀ + bv, in double */
  double *v = malloc((size_t)B * N * D * sizeof *v);
  if (!v) return;
  for (int t = 0; t < B * N; t++)
    for (int j = 0; j < D; j++) {
      double s = bv->data[j];
      for (int i = 0; i < D; i++)
        s += (double)a->data[t * D + i] * wv->data[j * D + i];
      v[t * D + j] = s;
    }
  double den_min = INFINITY;
  eb_tensor *o = linear_attention(ctx, q, k, a, wv, bv, g_mask, &c, H, &den_min);
  if (!o) {
    FAIL("linear_attention: %s", eb_ctx_error(ctx));
    free(v);
    return;
  }
  double worst = 0;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int n = 0; n < N; n++)
        for (int j = 0; j < DH; j++) {
          double num = 0, den = 0;
          for (int m = 0; m < N; m++) {
            if (!g_mask[b * N + m]) continue;
            double dot = 0;
            for (int c = 0; c < DH; c++) {
              double qc = q->data[(b * N + n) * D + h * DH + c];
              double kc = k->data[(b * N + m) * D + h * DH + c];
              dot += (qc > 0 ? qc + 1 : exp(qc)) * (kc > 0 ? kc + 1 : exp(kc));
            }
            num += dot * v[(b * N + m) * D + h * DH + j];
            den += dot;
          }
          double want = num / (den + 1e-6);
          double got = o->data[(b * N + n) * D + h * DH + j];
          double e = fabs(got - want) / (fabs(want) > 1 ? fabs(want) : 1);
          if (!(e <= worst)) worst = e;
        }
  free(v);
  if (!(worst <= 1e-5)) FAIL("attention vs the formula: rel. error %.3g > 1e-5", worst);
}

/* --------------------------------------------- model on a leaf input ---- */
typedef struct rig {
  eb_params *P;
  void *model;
  eb_tensor *x; /* the input, a parameter so it survives eb_ctx_reset */
} rig;

static int rig_open(rig *g, float dropout) {
  char err[EB_ERR_LEN];
  eb_model_config cfg = small_cfg(dropout);
  eb_args args = no_args();
  memset(g, 0, sizeof *g);
  g->P = eb_params_create();
  if (!g->P) {
    FAIL("out of memory");
    return -1;
  }
  g->x = eb_param(g->P, "x", 3, (int[]){B, N, D}, EB_INIT_NORMAL, 1.0f);
  if (!g->x || la_create(&cfg, &args, g->P, &g->model, err, sizeof err) ||
      eb_params_finalize(g->P, 3, err, sizeof err)) {
    FAIL("create: %s", g->x ? err : "cannot declare x");
    return -1;
  }
  /* non-trivial LayerNorm affines and biases, so their gradients matter */
  eb_rng r = eb_rng_make(5, 1);
  for (int i = 0; i < eb_params_count(g->P); i++) {
    eb_tensor *t = eb_params_get(g->P, i);
    if (t->ndim == 1)
      for (int64_t j = 0; j < t->size; j++)
        t->data[j] += 0.3f * eb_rng_normal(&r);
  }
  return 0;
}

static void rig_close(rig *g) {
  if (g->model) la_destroy(g->model);
  eb_params_destroy(g->P);
}

/* sum(out * R), R fixed pseudo-random [B,N,D] */
static eb_tensor *rig_loss(eb_ctx *ctx, rig *g, const uint8_t *mask) {
  char err[EB_ERR_LEN];
  eb_tensor *out = NULL;
  if (la_forward(g->model, ctx, g->x, mask, &out, err, sizeof err)) return NULL;
  eb_tensor *w = eb_tensor_new(ctx, 3, (int[]){B, N, D});
  if (!w) return NULL;
  eb_rng r = eb_rng_make(9, 2);
  for (int64_t i = 0; i < w->size; i++)
    w->data[i] = 2 * eb_rng_uniform(&r) - 1;
  return eb_sum(ctx, eb_mul(ctx, out, w));
}

/* ------------------------------------------- 2. padding invariance ---- */
static void check_padding(eb_ctx *ctx, rig *g) {
  char err[EB_ERR_LEN];
  eb_tensor *o1 = NULL, *o2 = NULL;
  eb_ctx_reset(ctx);
  eb_ctx_set_grad(ctx, 0);
  if (la_forward(g->model, ctx, g->x, g_mask, &o1, err, sizeof err)) {
    FAIL("forward: %s", err);
    return;
  }
  float *keep = malloc((size_t)g->x->size * sizeof *keep);
  if (!keep) return;
  memcpy(keep, g->x->data, (size_t)g->x->size * sizeof *keep);
  for (int i = 0; i < B * N; i++)
    for (int j = 0; !g_mask[i] && j < D; j++)
      g->x->data[i * D + j] = 50.0f * (float)(j + 1); /* garbage in the padding */
  if (la_forward(g->model, ctx, g->x, g_mask, &o2, err, sizeof err))
    FAIL("forward: %s", err);
  memcpy(g->x->data, keep, (size_t)g->x->size * sizeof *keep);
  free(keep);
  for (int i = 0; o2 && i < B * N; i++)
    for (int j = 0; g_mask[i] && j < D; j++)
      if (o1->data[i * D + j] != o2->data[i * D + j]) {
        FAIL("real output [%d,%d] changed with the padding: %g vs %g", i, j,
             o1->data[i * D + j], o2->data[i * D + j]);
        return;
      }
}

/* stats(): one finite, positive normaliser_min after a forward */
static void stat_emit(void *user, const char *name, double value) {
  double *got = user;
  if (!strcmp(name, "normaliser_min")) *got = value;
}
static void check_stats(rig *g) {
  double got = NAN;
  eb_stat_sink sink = {&got, stat_emit};
  la_stats(g->model, &sink);
  if (!(got > 0 && isfinite(got))) FAIL("stats: normaliser_min %g", got);
}

/* ----------------------------------------------- 3. gradient check ---- */
static void check_gradients(eb_ctx *ctx, rig *g) {
  const float h = 1e-2f;
  const double tol = 2e-2;
  eb_params_zero_grad(g->P);
  eb_ctx_reset(ctx);
  eb_ctx_set_grad(ctx, 1);
  eb_tensor *L = rig_loss(ctx, g, g_mask);
  if (!L || eb_backward(ctx, L)) {
    FAIL("forward/backward: %s", eb_ctx_error(ctx));
    return;
  }
  eb_ctx_set_grad(ctx, 0);
  for (int p = 0; p < eb_params_count(g->P); p++) {
    eb_tensor *t = eb_params_get(g->P, p);
    int64_t step = t->size > 12 ? t->size / 12 : 1;
    for (int64_t i = 0; i < t->size; i += step) {
      float keep = t->data[i];
      double f[2];
      for (int s = 0; s < 2; s++) {
        t->data[i] = keep + (s ? -h : h);
        eb_ctx_reset(ctx);
        eb_tensor *l = rig_loss(ctx, g, g_mask);
        f[s] = l ? l->data[0] : NAN;
      }
      t->data[i] = keep;
      double num = (f[0] - f[1]) / (2.0 * h), an = t->grad[i];
      double scale = fmax(fmax(fabs(num), fabs(an)), 1e-2);
      if (!(fabs(num - an) / scale <= tol)) {
        FAIL("gradient of %s[%lld]: analytic %.6g vs numeric %.6g", t->name, (long long)i,
             an, num);
        return;
      }
    }
  }
}

/* --------------------------------------------------- 4. FLOP counts ---- */
static void check_flops(eb_ctx *ctx) {
  for (int d = 0; d < 2; d++)
    for (int training = 0; training <= 1; training++) {
      rig g;
      float dropout = d ? 0.1f : 0.0f;
      if (rig_open(&g, dropout)) return;
      eb_ctx_reset(ctx);
      eb_ctx_set_grad(ctx, training);
      eb_ctx_set_training(ctx, training);
      eb_ctx_set_step(ctx, 1);
      eb_ctx_reset_flops(ctx);
      char err[EB_ERR_LEN];
      eb_tensor *out = NULL;
      int ok = la_forward(g.model, ctx, g.x, NULL, &out, err, sizeof err) == 0;
      eb_tensor *L = ok ? eb_sum(ctx, out) : NULL; /* counts S forward, S backward */
      if (ok && training) ok = L && eb_backward(ctx, L) == 0;
      eb_flops f = eb_ctx_flops(ctx);
      double counted = f.forward + f.backward - (double)B * N * D * (1 + training);
      eb_model_config cfg = small_cfg(dropout);
      eb_args args = no_args();
      double analytic = la_flops(&cfg, &args, B, N, training);
      double gm = -1, gx = -1;
      la_gemm_flops(&cfg, &args, B, N, training, &gm, &gx);
      if (!ok)
        FAIL("flops run: %s", eb_ctx_error(ctx));
      else if (!(fabs(counted - analytic) <= 1e-12 * analytic))
        FAIL("FLOPs (training %d, dropout %.1f): counted %.0f vs analytic %.0f", training,
             dropout, counted, analytic);
      else if (eb_ctx_gemm_flops(ctx) != gx ||
               eb_ctx_gemm_flops(ctx) - eb_ctx_gemm_recompute(ctx) != gm)
        FAIL("GEMM FLOPs (training %d, dropout %.1f): counted %.0f (recompute %.0f) vs "
             "analytic executed %.0f, model %.0f",
             training, dropout, eb_ctx_gemm_flops(ctx), eb_ctx_gemm_recompute(ctx), gx,
             gm);
      eb_ctx_set_training(ctx, 0);
      rig_close(&g);
    }
}

int effbench_plugin_init(eb_registry *reg, int host_abi_version) {
  (void)reg;
  /* it registers nothing, so no registry checks its version: it does */
  if (!EB_ABI_COMPATIBLE(host_abi_version, EFFBENCH_ABI_VERSION)) {
    fprintf(stderr, "linear_attention check: host ABI %d, built for %d\n",
            host_abi_version, EFFBENCH_ABI_VERSION);
    return -1;
  }
  eb_ctx *ctx = eb_ctx_create(1 << 20, 7);
  rig g;
  if (!ctx) return -1;
  check_formula(ctx);
  if (rig_open(&g, 0.0f) == 0) {
    check_padding(ctx, &g);
    check_stats(&g);
    check_gradients(ctx, &g);
  }
  rig_close(&g);
  check_flops(ctx);
  eb_ctx_destroy(ctx);
  if (failures) return -1;
  fprintf(stderr,
          "linear_attention check: ok (formula, padding, stats, gradients, FLOPs)\n");
  return 0;
}
