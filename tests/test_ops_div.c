/* eb_div: forward values, finite-difference gradients (same shape, broadcast
 * over leading dims, a tensor divided by itself), FLOP counts against
 * docs/flops.md and the shape error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "effbench/core.h"

#define EPS 1e-2f
#define TOL 1e-2

static eb_tensor *a234, *b234, *b34;

/* sum(y * R) with R fixed pseudo-random: every output reaches the loss with a
 * distinct weight */
static eb_tensor *proj(eb_ctx *ctx, eb_tensor *y) {
  if (!y) return NULL;
  eb_tensor *r = eb_tensor_new(ctx, y->ndim, y->shape);
  if (!r) return NULL;
  eb_rng g = eb_rng_make(78, (uint64_t)y->size);
  for (int64_t i = 0; i < r->size; i++)
    r->data[i] = 2.0f * eb_rng_uniform(&g) - 1.0f;
  return eb_sum(ctx, eb_mul(ctx, y, r));
}

enum { C_SAME, C_BCAST, C_SELF, C_CHAIN };

static eb_tensor *loss_fn(eb_ctx *ctx, void *user) {
  switch (*(const int *)user) {
  case C_SAME: return proj(ctx, eb_div(ctx, a234, b234));
  case C_BCAST: return proj(ctx, eb_div(ctx, a234, b34));
  case C_SELF: return proj(ctx, eb_div(ctx, a234, a234));
  default: /* the result feeding another op, the divisor computed */
    return proj(ctx, eb_div(ctx, eb_scale(ctx, a234, 2.0f), eb_exp(ctx, b234)));
  }
}

/* y = a / b and its counted FLOPs (forward, backward); the caller resets ctx */
static void flops_of(eb_ctx *ctx, eb_tensor *a, eb_tensor *b, double *fwd, double *bwd) {
  eb_ctx_set_grad(ctx, 1);
  eb_ctx_reset_flops(ctx);
  eb_tensor *y = eb_div(ctx, a, b);
  eb_flops f0 = eb_ctx_flops(ctx);
  eb_tensor *L = eb_sum(ctx, y); /* fwd S, bwd S */
  eb_backward(ctx, L);
  eb_flops f = eb_ctx_flops(ctx);
  *fwd = f0.forward;
  *bwd = f.backward - (double)y->size;
}

int main(void) {
  eb_params *P = eb_params_create();
  char err[EB_ERR_LEN];
  a234 = eb_param(P, "a", 3, (const int[]){2, 3, 4}, EB_INIT_NORMAL, 1.0f);
  b234 = eb_param(P, "b", 3, (const int[]){2, 3, 4}, EB_INIT_UNIFORM, 1.0f);
  b34 = eb_param(P, "b34", 2, (const int[]){3, 4}, EB_INIT_UNIFORM, 1.0f);
  if (!a234 || !b234 || !b34 || eb_params_finalize(P, 5, err, sizeof err)) {
    fprintf(stderr, "setup failed\n");
    return 1;
  }
  /* divisors away from 0: |b| in [0.5, 1.5] with random signs */
  for (int64_t i = 0; i < b234->size; i++)
    b234->data[i] = (b234->data[i] < 0 ? -0.5f : 0.5f) + b234->data[i];
  for (int64_t i = 0; i < b34->size; i++)
    b34->data[i] = (b34->data[i] < 0 ? -0.5f : 0.5f) + b34->data[i];
  for (int64_t i = 0; i < a234->size; i++)
    if (fabsf(a234->data[i]) < 0.2f) a234->data[i] += 0.5f; /* a/a away from 0/0 */
  eb_ctx *ctx = eb_ctx_create(1 << 16, 1);

  /* forward values */
  eb_ctx_set_grad(ctx, 0);
  eb_tensor *y = eb_div(ctx, a234, b234), *yb = eb_div(ctx, a234, b34);
  CHECK(y && yb, "div failed: %s", eb_ctx_error(ctx));
  if (y && yb) {
    float want[24], wantb[24];
    for (int i = 0; i < 24; i++) {
      want[i] = a234->data[i] / b234->data[i];
      wantb[i] = a234->data[i] / b34->data[i % 12];
    }
    eb_check_close("div forward", y->data, want, 24, 0, 1e-30);
    eb_check_close("div forward (broadcast)", yb->data, wantb, 24, 0, 1e-30);
  }

  /* gradients */
  eb_tensor *leaves[] = {a234, b234, b34};
  static const char *names[] = {"div", "div broadcast", "div self", "div chained"};
  for (int c = C_SAME; c <= C_CHAIN; c++)
    eb_gradcheck(names[c], ctx, loss_fn, (void *)&c, leaves, 3, EPS, TOL, 24);

  /* FLOPs (docs/flops.md): forward 1/element; backward da 2, db 3 per element
   * of the output (broadcast db: one subtract per summed term) */
  double fwd, bwd;
  eb_ctx_reset(ctx);
  flops_of(ctx, a234, b234, &fwd, &bwd);
  CHECK(fwd == 24 && bwd == 24 * (2 + 3), "same shape: fwd %.0f bwd %.0f", fwd, bwd);
  eb_ctx_reset(ctx);
  flops_of(ctx, a234, b34, &fwd, &bwd);
  CHECK(fwd == 24 && bwd == 24 * (2 + 3), "broadcast: fwd %.0f bwd %.0f", fwd, bwd);
  /* only a needs a gradient: a constant divisor */
  eb_ctx_reset(ctx);
  eb_tensor *k = eb_tensor_new(ctx, 2, (const int[]){3, 4});
  for (int i = 0; k && i < 12; i++)
    k->data[i] = 2.0f;
  flops_of(ctx, a234, k, &fwd, &bwd);
  CHECK(fwd == 24 && bwd == 24 * 2, "constant divisor: fwd %.0f bwd %.0f", fwd, bwd);

  /* shape error */
  eb_ctx_reset(ctx);
  eb_tensor *bad = eb_tensor_new(ctx, 1, (const int[]){3});
  CHECK(eb_div(ctx, a234, bad) == NULL, "div accepted b[3] for a[2,3,4]");
  CHECK(strstr(eb_ctx_error(ctx), "div") != NULL, "error: %s", eb_ctx_error(ctx));
  CHECK(eb_div(ctx, a234, NULL) == NULL, "div accepted NULL");

  eb_ctx_destroy(ctx);
  eb_params_destroy(P);
  return eb_test_done("test_ops_div");
}
