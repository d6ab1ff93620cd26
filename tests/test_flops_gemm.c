/* The GEMM FLOP counter against each architecture's analytic gemm_flops(),
 * exactly. The counter is fed by the m, n, k of every matrix product as it
 * runs (eb__gemm, eb__gemm_tile, the blockwise attention kernels' block
 * products), not by the per-op formulas, so this is an independent check of
 * the analytic counts: a real training step (forward + backward: executed
 * GEMM FLOPs, and of them the backward's recompute, whose difference is the
 * model GEMM FLOPs) and an inference forward, for every built-in arch, with
 * mean and CLS pooling, dropout, two-tower models, 1 and 2 threads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "check.h"
#include "ops_util.h"
#include "registry.h"
#include "train.h"

/* The LRA protocol options of the next check_arch calls (none: all zero). */
static eb_model_config lra_opts;

/* kv: NULL or "key=value" settings of the arch, NULL-terminated */
static void check_arch(const eb_arch *a, eb_pool pool, float dropout, int B, int N,
                       int pair, const char *const *kv) {
  char err[EB_ERR_LEN], label[160] = "";
  eb_argset args;
  for (int i = 0; kv && kv[i]; i++)
    snprintf(label + strlen(label), sizeof label - strlen(label), " %s", kv[i]);
  if (eb_test_resolve_kv(&args, a->name, a->params, kv, err, sizeof err)) {
    CHECK(0, "%s: %s", a->name, err);
    return;
  }
  eb_model_config cfg = {.dim = 16,
                         .depth = 2,
                         .heads = 4,
                         .ffn = 24,
                         .dropout = dropout,
                         .pool = pool,
                         .attention_dropout = lra_opts.attention_dropout,
                         .mlp_dropout = lra_opts.mlp_dropout,
                         .positions = lra_opts.positions,
                         .head = lra_opts.head,
                         .head_width = lra_opts.head_width};
  eb_model m;
  if (eb_model_create(&m, a, &cfg, &args.args, 50, 5, N, pair, 1, err, sizeof err)) {
    CHECK(0, "%s: %s", a->name, err);
    eb_argset_free(&args);
    return;
  }
  eb_batch b;
  eb_batch_alloc(&b, B, N, pair);
  for (int i = 0; i < B * N; i++) {
    b.tokens[i] = 1 + i % 49;
    b.mask[i] = 1;
    if (pair) {
      b.tokens2[i] = 1 + (i * 7) % 49;
      b.mask2[i] = 1;
    }
  }
  for (int i = 0; i < B; i++)
    b.labels[i] = i % 5;
  eb_ctx *ctx = eb_ctx_create(1 << 20, 0);
  for (int threads = 1; threads <= 2; threads++) {
    eb_set_threads(threads);
    for (int training = 0; training <= 1; training++) {
      eb_ctx_reset(ctx);
      eb_ctx_reset_flops(ctx);
      eb_ctx_set_step(ctx, 1);
      eb_ctx_set_training(ctx, training);
      eb_ctx_set_grad(ctx, training);
      eb_params_zero_grad(m.P);
      eb_tensor *loss = eb_model_loss(&m, ctx, &b, NULL, NULL, err, sizeof err);
      if (!loss || (training && eb_backward(ctx, loss))) {
        CHECK(0, "%s: step failed: %s %s", a->name, err, eb_ctx_error(ctx));
        break;
      }
      const double exec = eb_ctx_gemm_flops(ctx), rec = eb_ctx_gemm_recompute(ctx);
      double am = -1, ax = -1;
      int arc = eb_model_gemm_flops(&m, B, N, training, &am, &ax);
      const char *what = training ? "training step" : "inference";
      CHECK(arc == 0, "%s: no analytic GEMM FLOPs", a->name);
      CHECK(exec > 0, "%s%s %s: nothing counted", a->name, label, what);
      CHECK(exec == ax,
            "%s%s (%s pool, dropout %.1f, B=%d N=%d%s, %d thread(s), %s): executed GEMM "
            "FLOPs counted %.0f vs analytic %.0f (diff %.0f)",
            a->name, label, pool == EB_POOL_CLS ? "cls" : "mean", dropout, B, N,
            pair ? ", pair" : "", threads, what, exec, ax, exec - ax);
      CHECK(exec - rec == am,
            "%s%s (%s pool, B=%d N=%d%s, %s): model GEMM FLOPs counted %.0f (executed "
            "%.0f - recompute %.0f) vs analytic %.0f",
            a->name, label, pool == EB_POOL_CLS ? "cls" : "mean", B, N,
            pair ? ", pair" : "", what, exec - rec, exec, rec, am);
      CHECK(training || rec == 0, "%s: inference counted %.0f recomputed GEMM FLOPs",
            a->name, rec);
      /* the GEMMs are part of the per-op count, which never counts less */
      eb_flops f = eb_ctx_flops(ctx);
      CHECK(f.forward + f.backward >= exec, "%s: all-op FLOPs %.0f below GEMM FLOPs %.0f",
            a->name, f.forward + f.backward, exec);
      CHECK(eb_ctx_recompute(ctx) >= rec, "%s: recompute %.0f below GEMM recompute %.0f",
            a->name, eb_ctx_recompute(ctx), rec);
    }
  }
  eb_set_threads(1);
  eb_ctx_destroy(ctx);
  eb_batch_free(&b);
  eb_model_destroy(&m);
  eb_argset_free(&args);
}

/* The counter itself: one eb_linear forward and backward, and eb__gemm split
 * into chunks over threads, count 2mnk per product from their own sizes. */
static void check_counter(void) {
  eb_ctx *ctx = eb_ctx_create(1 << 20, 0);
  eb_tensor *x = eb_tensor_zeros(ctx, 2, (int[]){7, 5});
  eb_tensor *w = eb_tensor_zeros(ctx, 2, (int[]){3, 5});
  x->requires_grad = w->requires_grad = 1;
  eb_ctx_reset_flops(ctx);
  eb_tensor *y = eb_linear(ctx, x, w, NULL);
  CHECK(eb_ctx_gemm_flops(ctx) == 2.0 * 7 * 3 * 5, "linear forward counted %.0f",
        eb_ctx_gemm_flops(ctx));
  eb_tensor *s = eb_sum(ctx, y);
  CHECK(s && eb_backward(ctx, s) == 0, "linear backward: %s", eb_ctx_error(ctx));
  CHECK(eb_ctx_gemm_flops(ctx) == 3 * 2.0 * 7 * 3 * 5, "linear step counted %.0f",
        eb_ctx_gemm_flops(ctx));
  eb_ctx_reset_flops(ctx);
  CHECK(eb_ctx_gemm_flops(ctx) == 0 && eb_ctx_gemm_recompute(ctx) == 0, "reset left %.0f",
        eb_ctx_gemm_flops(ctx));
  /* a GEMM large enough to be split into chunks over 2 threads */
  const int M = 1000, N = 300, K = 64;
  float *A = calloc((size_t)M * K, sizeof *A), *Bm = calloc((size_t)K * N, sizeof *Bm),
        *C = calloc((size_t)M * N, sizeof *C);
  for (int t = 1; t <= 2 && A && Bm && C; t++) {
    eb_set_threads(t);
    eb_ctx_reset_flops(ctx);
    eb__gemm(ctx, 0, 0, M, N, K, 1.0f, A, K, Bm, N, 0.0f, C, N);
    CHECK(eb_ctx_gemm_flops(ctx) == 2.0 * M * N * K, "%d thread(s): gemm counted %.0f", t,
          eb_ctx_gemm_flops(ctx));
  }
  eb_set_threads(1);
  free(A);
  free(Bm);
  free(C);
  eb_ctx_destroy(ctx);
}

int main(void) {
  char err[EB_ERR_LEN];
  check_counter();
  eb_registry *reg = eb_registry_create();
  if (eb_registry_add_builtins(reg, err, sizeof err))
    return fprintf(stderr, "%s\n", err), 1;
  int checked = 0;
  for (int i = 0; i < eb_registry_arch_count(reg); i++) {
    const eb_arch *a = eb_registry_arch_at(reg, i);
    CHECK(a->gemm_flops != NULL, "built-in arch '%s' has no analytic gemm_flops()",
          a->name);
    if (!a->gemm_flops) continue;
    /* moe: the analytic count assumes balanced dispatch, exact when nothing is
     * dropped: a capacity that cannot overflow */
    static const char *const moe_kv[] = {"capacity_factor=8", NULL};
    const char *const *kv = strcmp(a->name, "moe") == 0 ? moe_kv : NULL;
    static const char *const mamba_cls[] = {"bidirectional=true", NULL};
    static const char *const pool_cls[] = {"pool=35", NULL};
    const char *const *cls_kv = !strcmp(a->name, "mamba")        ? mamba_cls
                                : !strcmp(a->name, "poolformer") ? pool_cls
                                                                 : kv;
    check_arch(a, EB_POOL_MEAN, 0.0f, 3, 20, 0, kv);
    check_arch(a, EB_POOL_CLS, 0.0f, 2, 33, 0, cls_kv);
    check_arch(a, EB_POOL_MEAN, 0.1f, 2, 64, 0, kv);
    check_arch(a, EB_POOL_MEAN, 0.0f, 2, 24, 1, kv); /* two-tower (pair) model */
    check_arch(a, EB_POOL_CLS, 0.1f, 3, 17, 1, cls_kv);
    checked++;
  }
  /* vanilla: the naive kernel; causal blockwise skips key blocks (N > 256);
   * several key blocks and a ragged last query block */
  const eb_arch *v = eb_registry_find_arch(reg, "vanilla");
  check_arch(v, EB_POOL_MEAN, 0.0f, 2, 40, 0, (const char *[]){"attention=naive", NULL});
  check_arch(v, EB_POOL_MEAN, 0.1f, 2, 41, 0,
             (const char *[]){"attention=naive", "causal=true", NULL});
  check_arch(v, EB_POOL_MEAN, 0.0f, 1, 300, 0, (const char *[]){"causal=true", NULL});
  check_arch(v, EB_POOL_MEAN, 0.0f, 1, 601, 0, (const char *[]){"causal=true", NULL});
  check_arch(v, EB_POOL_MEAN, 0.0f, 1, 531, 0, NULL);
  check_arch(eb_registry_find_arch(reg, "wide"), EB_POOL_MEAN, 0.0f, 2, 30, 0,
             (const char *[]){"heads=8", "attention=naive", NULL});
  /* linformer: k below N, shared projections; performer: relu kernel, m = 40 */
  const eb_arch *lf = eb_registry_find_arch(reg, "linformer");
  check_arch(lf, EB_POOL_MEAN, 0.0f, 2, 50, 0, (const char *[]){"k=12", NULL});
  check_arch(lf, EB_POOL_CLS, 0.1f, 2, 70, 0, (const char *[]){"k=9", "share=kv", NULL});
  check_arch(eb_registry_find_arch(reg, "performer"), EB_POOL_MEAN, 0.0f, 2, 30, 0,
             (const char *[]){"kernel=relu", "features=40", NULL});
  /* moe: top-2 */
  check_arch(eb_registry_find_arch(reg, "moe"), EB_POOL_CLS, 0.0f, 2, 30, 0,
             (const char *[]){"top_k=2", "capacity_factor=4", NULL});
  /* mamba: other sizes */
  check_arch(eb_registry_find_arch(reg, "mamba"), EB_POOL_MEAN, 0.0f, 2, 3, 1,
             (const char *[]){"state=5", "expand=1", "dt_rank=3", "conv=6", NULL});
  /* the LRA protocol options: dropout on the attention probabilities and in
   * the MLP changes no product's size; the mlp head adds one */
  lra_opts = (eb_model_config){.attention_dropout = 0.1f,
                               .mlp_dropout = 0.1f,
                               .positions = EB_POS_SINUSOIDAL,
                               .head = EB_HEAD_MLP,
                               .head_width = 20};
  check_arch(v, EB_POOL_MEAN, 0.1f, 2, 40, 0, NULL);
  check_arch(v, EB_POOL_CLS, 0.1f, 2, 300, 0, (const char *[]){"attention=naive", NULL});
  check_arch(lf, EB_POOL_MEAN, 0.1f, 2, 50, 0, (const char *[]){"k=12", NULL});
  check_arch(eb_registry_find_arch(reg, "moe"), EB_POOL_MEAN, 0.1f, 2, 30, 0,
             (const char *[]){"capacity_factor=8", NULL});
  check_arch(eb_registry_find_arch(reg, "wide"), EB_POOL_MEAN, 0.1f, 2, 30, 1, NULL);
  lra_opts.attention_dropout = 0; /* what poolformer has no tensor for */
  check_arch(eb_registry_find_arch(reg, "poolformer"), EB_POOL_MEAN, 0.1f, 2, 30, 0,
             NULL);
  CHECK(checked >= 7, "only %d architectures checked", checked);
  eb_registry_destroy(reg);
  return eb_test_done("test_flops_gemm");
}
