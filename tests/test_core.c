/* Engine pieces that are not ops: RNG, arena, parameter block, Adam(W),
 * learning-rate schedules and gradient clipping, each against a hand
 * computation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "optim.h"

static void test_rng(void) {
  eb_rng r = eb_rng_make(42, 7);
  double s = 0, s2 = 0, n1 = 0, n2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; i++) {
    float u = eb_rng_uniform(&r);
    CHECK(u >= 0.0f && u < 1.0f, "uniform %g outside [0,1)", u);
    s += u;
    s2 += (double)u * u;
  }
  CHECK(fabs(s / n - 0.5) < 0.005, "uniform mean %g", s / n);
  CHECK(fabs(s2 / n - s / n * (s / n) - 1.0 / 12) < 0.003, "uniform variance off");
  for (int i = 0; i < n; i++) {
    float z = eb_rng_normal(&r);
    n1 += z;
    n2 += (double)z * z;
  }
  CHECK(fabs(n1 / n) < 0.01 && fabs(n2 / n - 1) < 0.02, "normal mean %g var %g", n1 / n,
        n2 / n);
  /* counter-based: element i of a stream is computable directly */
  eb_rng a = eb_rng_make(3, 9);
  for (int i = 0; i < 10; i++) {
    float seq = eb_rng_uniform(&a);
    CHECK(seq == eb_rng_uniform_at(3, 9, (uint64_t)i), "uniform_at(%d) differs", i);
  }
  CHECK(eb_rng_hash(1, 2, 3) != eb_rng_hash(1, 3, 2), "hash symmetric in stream/counter");
  CHECK(eb_rng_hash(1, 2, 3) != eb_rng_hash(2, 2, 3), "hash ignores the seed");
}

static void test_arena(void) {
  eb_ctx *ctx = eb_ctx_create(1 << 20, 0);
  int shape[2] = {1000, 1000}; /* 4 MB: forces a second chunk */
  eb_tensor *t = eb_tensor_zeros(ctx, 2, shape);
  CHECK(t && t->size == 1000000 && t->data[999999] == 0.0f, "big zeros tensor");
  CHECK(((uintptr_t)t->data & 63) == 0, "arena data not 64-byte aligned");
  size_t hw = eb_ctx_arena_high_water(ctx);
  CHECK(hw >= 4000000, "high-water %zu below the 4 MB allocated", hw);
  eb_ctx_reset(ctx);
  CHECK(eb_ctx_arena_used(ctx) == 0, "reset left %zu bytes in use",
        eb_ctx_arena_used(ctx));
  CHECK(eb_ctx_arena_high_water(ctx) == hw, "reset changed the high-water mark");
  eb_tensor *u = eb_tensor_new(ctx, 2, shape);
  CHECK(u != NULL, "re-allocation after reset failed");
  int bad[2] = {3, 0};
  CHECK(eb_tensor_new(ctx, 2, bad) == NULL && strstr(eb_ctx_error(ctx), "size 0"),
        "zero-size dim accepted: %s", eb_ctx_error(ctx));
  eb_ctx_destroy(ctx);
}

static void test_params(void) {
  eb_params *P = eb_params_create();
  eb_tensor *a = eb_param(P, "a", 2, (int[]){3, 5}, EB_INIT_NORMAL, 0.5f);
  eb_tensor *b = eb_param(P, "b", 1, (int[]){7}, EB_INIT_ONES, 0);
  CHECK(eb_param(P, "a", 1, (int[]){2}, EB_INIT_ZEROS, 0) == NULL,
        "duplicate name accepted");
  char err[EB_ERR_LEN];
  CHECK(eb_params_finalize(P, 11, err, sizeof err) == 0, "finalize: %s", err);
  CHECK(eb_params_numel(P) == 22, "numel %lld", (long long)eb_params_numel(P));
  CHECK(((uintptr_t)b->data & 63) == 0, "parameter not 64-byte aligned");
  CHECK(b->data[6] == 1.0f && b->grad[6] == 0.0f, "ones init / zero grad");
  CHECK(eb_params_find(P, "b") == b && eb_params_get(P, 0) == a, "lookup");
  /* same seed => same init; different seed => different */
  eb_params *Q = eb_params_create();
  eb_tensor *a2 = eb_param(Q, "a", 2, (int[]){3, 5}, EB_INIT_NORMAL, 0.5f);
  eb_params_finalize(Q, 11, err, sizeof err);
  CHECK(memcmp(a->data, a2->data, 15 * sizeof(float)) == 0, "init not reproducible");
  eb_params_destroy(Q);
  eb_params_destroy(P);
}

static void test_adam(void) {
  eb_params *P = eb_params_create();
  eb_tensor *w = eb_param(P, "w", 2, (int[]){1, 3}, EB_INIT_ZEROS, 0);
  eb_tensor *bias = eb_param(P, "bias", 1, (int[]){1}, EB_INIT_ZEROS, 0);
  char err[EB_ERR_LEN];
  eb_params_finalize(P, 0, err, sizeof err);
  float w0[3] = {1.0f, -2.0f, 0.5f};
  memcpy(w->data, w0, sizeof w0);
  bias->data[0] = 3.0f;
  eb_adam opt = {0.9f, 0.98f, 1e-9f, 0.1f};
  const float g1[3] = {0.5f, -1.0f, 2.0f}, g2[3] = {-0.25f, 0.5f, 1.0f};
  double m[4] = {0}, v[4] = {0}, ref[4] = {1.0, -2.0, 0.5, 3.0};
  for (int t = 1; t <= 2; t++) {
    const float *g = t == 1 ? g1 : g2;
    memcpy(w->grad, g, 3 * sizeof(float));
    bias->grad[0] = g[0];
    float lr = 0.01f;
    eb_adam_step(P, &opt, lr, t);
    for (int j = 0; j < 4; j++) {
      double gj = j < 3 ? g[j] : g[0];
      m[j] = 0.9 * m[j] + 0.1 * gj;
      v[j] = 0.98 * v[j] + 0.02 * gj * gj;
      double mh = m[j] / (1 - pow(0.9, t)), vh = v[j] / (1 - pow(0.98, t));
      double decay = j < 3 ? lr * 0.1 * ref[j] : 0; /* no decay on 1-D params */
      ref[j] -= lr * mh / (sqrt(vh) + 1e-9) + decay;
    }
  }
  float got[4] = {w->data[0], w->data[1], w->data[2], bias->data[0]}, want[4];
  for (int j = 0; j < 4; j++)
    want[j] = (float)ref[j];
  eb_check_close("adamw", got, want, 4, 1e-6, 1e-3);
  eb_params_destroy(P);
}

/* A parameter declared no-decay keeps its value under an AdamW step with a
 * zero gradient and weight decay > 0; a decaying one shrinks by lr * wd. The
 * unset default: matrices decay, 1-D parameters do not. */
static void test_decay_flag(void) {
  eb_params *P = eb_params_create();
  eb_tensor *mat = eb_param(P, "mat", 2, (int[]){2, 2}, EB_INIT_ONES, 0);
  eb_tensor *keep = eb_param(P, "keep", 2, (int[]){2, 2}, EB_INIT_ONES, 0);
  eb_tensor *vec = eb_param(P, "vec", 1, (int[]){4}, EB_INIT_ONES, 0);
  eb_tensor *vdec = eb_param(P, "vdec", 1, (int[]){4}, EB_INIT_ONES, 0);
  CHECK(eb_params_decays(P, 0) == 1 && eb_params_decays(P, 2) == 0,
        "unset defaults: matrix %d, vector %d", eb_params_decays(P, 0),
        eb_params_decays(P, 2));
  CHECK(eb_param_set_decay(P, keep, 0) == 0, "set_decay(keep, 0) refused");
  CHECK(eb_param_set_decay(P, vdec, 1) == 0, "set_decay(vdec, 1) refused");
  eb_tensor stranger = {0};
  CHECK(eb_param_set_decay(P, &stranger, 0) == -1, "set_decay on a foreign tensor");
  CHECK(eb_params_decays(P, 4) == -1, "decays(out of range) = %d",
        eb_params_decays(P, 4));
  char err[EB_ERR_LEN];
  CHECK(eb_params_finalize(P, 0, err, sizeof err) == 0, "finalize: %s", err);
  CHECK(eb_params_decays(P, 1) == 0 && eb_params_decays(P, 3) == 1,
        "declared: keep %d, vdec %d", eb_params_decays(P, 1), eb_params_decays(P, 3));
  eb_params_zero_grad(P);
  eb_adam opt = {0.9f, 0.98f, 1e-9f, 0.5f};
  const float lr = 0.1f;
  eb_adam_step(P, &opt, lr, 1);
  const float shrunk = 1.0f - lr * 0.5f;
  for (int j = 0; j < 4; j++) {
    CHECK(keep->data[j] == 1.0f, "no-decay matrix [%d] = %.9g", j, keep->data[j]);
    CHECK(vec->data[j] == 1.0f, "default 1-D [%d] = %.9g", j, vec->data[j]);
    CHECK(fabsf(mat->data[j] - shrunk) < 1e-6f, "default matrix [%d] = %.9g, want %.9g",
          j, mat->data[j], shrunk);
    CHECK(fabsf(vdec->data[j] - shrunk) < 1e-6f, "decaying 1-D [%d] = %.9g, want %.9g", j,
          vdec->data[j], shrunk);
  }
  /* settable after finalize (it is the optimizer's to read), both ways */
  CHECK(eb_param_set_decay(P, keep, 1) == 0 && eb_params_decays(P, 1) == 1,
        "re-enable decay after finalize");
  eb_params_destroy(P);
}

static void test_schedules(void) {
  CHECK(fabsf(eb_lr_at(EB_SCHED_RSQRT, 1e-3f, 50, 100, 1000) - 5e-4f) < 1e-9f,
        "rsqrt ramp");
  CHECK(fabsf(eb_lr_at(EB_SCHED_RSQRT, 1e-3f, 100, 100, 1000) - 1e-3f) < 1e-9f,
        "rsqrt peak");
  CHECK(fabsf(eb_lr_at(EB_SCHED_RSQRT, 1e-3f, 400, 100, 1000) - 5e-4f) < 1e-9f,
        "rsqrt decay: %g", eb_lr_at(EB_SCHED_RSQRT, 1e-3f, 400, 100, 1000));
  CHECK(fabsf(eb_lr_at(EB_SCHED_COSINE, 1.0f, 550, 100, 1000) - 0.5f) < 1e-6f,
        "cosine middle");
  CHECK(fabsf(eb_lr_at(EB_SCHED_COSINE, 1.0f, 1000, 100, 1000)) < 1e-6f, "cosine end");
  CHECK(eb_lr_at(EB_SCHED_CONSTANT, 2.0f, 5000, 10, 100) == 2.0f, "constant");
  CHECK(eb_lr_at(EB_SCHED_CONSTANT, 2.0f, 1, 0, 100) == 2.0f, "no warm-up");
  eb_schedule s;
  CHECK(eb_schedule_parse("cosine", &s) == 0 && s == EB_SCHED_COSINE, "parse cosine");
  CHECK(eb_schedule_parse("linear", &s) != 0, "parse accepted 'linear'");
}

static void test_clip(void) {
  eb_params *P = eb_params_create();
  eb_tensor *w = eb_param(P, "w", 1, (int[]){2}, EB_INIT_ZEROS, 0);
  char err[EB_ERR_LEN];
  eb_params_finalize(P, 0, err, sizeof err);
  w->grad[0] = 3;
  w->grad[1] = 4;
  double n = eb_clip_grad_norm(P, 1.0);
  CHECK(fabs(n - 5.0) < 1e-9, "norm %g", n);
  CHECK(fabsf(w->grad[0] - 0.6f) < 1e-6f && fabsf(w->grad[1] - 0.8f) < 1e-6f,
        "clipped %g %g", w->grad[0], w->grad[1]);
  n = eb_clip_grad_norm(P, 10.0);
  CHECK(fabsf(w->grad[0] - 0.6f) < 1e-6f, "clipping below the limit changed gradients");
  eb_params_destroy(P);
}

int main(void) {
  test_rng();
  test_arena();
  test_params();
  test_adam();
  test_decay_flag();
  test_schedules();
  test_clip();
  return eb_test_done("test_core");
}
