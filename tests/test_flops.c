/* The FLOP counter must equal the analytic counts of docs/flops.md exactly,
 * forward and backward, for eb_linear, eb_attention and the blockwise attention
 * ops, at any thread count. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "effbench/core.h"

#define SHAPE(...) ((const int[]){__VA_ARGS__})

static void expect(const char *what, double got, double want) {
  CHECK(got == want, "%s: counted %.0f, analytic %.0f", what, got, want);
}

/* eb_sum of n elements: n forward, n backward (docs/flops.md) */
static void check_sum(void) {
  eb_params *P = eb_params_create();
  eb_tensor *x = eb_param(P, "x", 2, SHAPE(3, 7), EB_INIT_NORMAL, 1);
  char err[64];
  eb_params_finalize(P, 1, err, sizeof err);
  eb_ctx *ctx = eb_ctx_create(0, 1);
  eb_tensor *L = eb_sum(ctx, x);
  expect("sum forward", eb_ctx_flops(ctx).forward, 21);
  CHECK(L && eb_backward(ctx, L) == 0, "sum backward: %s", eb_ctx_error(ctx));
  expect("sum backward", eb_ctx_flops(ctx).backward, 21);
  eb_ctx_destroy(ctx);
  eb_params_destroy(P);
}

/* x[A,M/A,I] (x a parameter or a constant), w[O,I], b[O] or none */
static void check_linear(int A, int M, int I, int O, int bias, int x_grad) {
  eb_params *P = eb_params_create();
  eb_tensor *xp = eb_param(P, "x", 3, SHAPE(A, M / A, I), EB_INIT_NORMAL, 1);
  eb_tensor *w = eb_param(P, "w", 2, SHAPE(O, I), EB_INIT_NORMAL, 1);
  eb_tensor *b = eb_param(P, "b", 1, SHAPE(O), EB_INIT_NORMAL, 1);
  char err[64];
  eb_params_finalize(P, 1, err, sizeof err);
  eb_ctx *ctx = eb_ctx_create(0, 1);
  eb_tensor *x = xp;
  if (!x_grad) { /* an input that needs no gradient: dx is not computed */
    x = eb_tensor_new(ctx, 3, xp->shape);
    memcpy(x->data, xp->data, (size_t)x->size * sizeof(float));
  }
  eb_tensor *y = eb_linear(ctx, x, w, bias ? b : NULL);
  double mn = (double)M * O, gemm = 2.0 * M * O * I;
  char what[96];
  snprintf(what, sizeof what, "linear M=%d I=%d O=%d bias=%d dx=%d forward", M, I, O,
           bias, x_grad);
  expect(what, eb_ctx_flops(ctx).forward, gemm + (bias ? mn : 0));
  eb_tensor *L = eb_sum(ctx, y);
  CHECK(L && eb_backward(ctx, L) == 0, "linear backward: %s", eb_ctx_error(ctx));
  snprintf(what, sizeof what, "linear M=%d I=%d O=%d bias=%d dx=%d backward", M, I, O,
           bias, x_grad);
  /* dx 2MNK (if needed) + dw 2MNK + db MN; plus MN for the sum's backward */
  expect(what, eb_ctx_flops(ctx).backward,
         (x_grad ? gemm : 0) + gemm + (bias ? mn : 0) + mn);
  eb_ctx_destroy(ctx);
  eb_params_destroy(P);
}

/* q [B,H,N,Dh] against k, v [B,H,Nk,Dh] */
static void check_attention(int B, int H, int N, int Nk, int Dh, int masked, int causal) {
  eb_params *P = eb_params_create();
  eb_tensor *q = eb_param(P, "q", 4, SHAPE(B, H, N, Dh), EB_INIT_NORMAL, 1);
  eb_tensor *k = eb_param(P, "k", 4, SHAPE(B, H, Nk, Dh), EB_INIT_NORMAL, 1);
  eb_tensor *v = eb_param(P, "v", 4, SHAPE(B, H, Nk, Dh), EB_INIT_NORMAL, 1);
  char err[64];
  eb_params_finalize(P, 1, err, sizeof err);
  uint8_t mask[4 * 64];
  for (int i = 0; i < B * Nk; i++)
    mask[i] = (i % 3) != 1;
  eb_ctx *ctx = eb_ctx_create(0, 1);
  eb_tensor *o = eb_attention(ctx, q, k, v, masked ? mask : NULL, causal, 0.25f);
  CHECK(o != NULL, "attention: %s", eb_ctx_error(ctx));
  double scores = (double)B * H * N * Nk, gemm = 2.0 * scores * Dh;
  char what[96];
  snprintf(what, sizeof what,
           "attention B=%d H=%d N=%d Nk=%d Dh=%d mask=%d causal=%d forward", B, H, N, Nk,
           Dh, masked, causal);
  /* QK^T and PV GEMMs + 6 per score (scale 1, softmax 5) */
  expect(what, eb_ctx_flops(ctx).forward, 2 * gemm + 6 * scores);
  eb_tensor *L = eb_sum(ctx, o);
  CHECK(L && eb_backward(ctx, L) == 0, "attention backward: %s", eb_ctx_error(ctx));
  snprintf(what, sizeof what,
           "attention B=%d H=%d N=%d Nk=%d Dh=%d mask=%d causal=%d backward", B, H, N, Nk,
           Dh, masked, causal);
  /* dV, dP, dQ, dK GEMMs + 5 per score (softmax grad 4, scale 1) + sum's backward */
  expect(what, eb_ctx_flops(ctx).backward, 4 * gemm + 5 * scores + (double)o->size);
  eb_ctx_destroy(ctx);
  eb_params_destroy(P);
}

/* Blockwise attention (docs/flops.md), N queries against Nk keys (Nk = N for
 * causal masking and eb_attention_qkv): with query blocks of 32 rows and key
 * blocks of 256, query block [i0,i1) processes keys [0,kend), kend = Nk, or
 * under causal masking min(N, ceil(i1/256)*256). Per (b,h):
 *   C = sum over query blocks of rows * kend        (score elements computed)
 *   K = sum over query blocks of rows * ceil(kend/256)   (row-block visits)
 * forward  B H (C (4 Dh + 5) + K Dh)
 * backward B H (C (10 Dh + 6) + 2 N Dh), of which B H C (2 Dh + 3) recompute P
 * forward bytes 4 B H (2 N Dh + 2 Nk Dh + N) (+ B Nk for the mask) */
static void check_attention_bw(int B, int H, int N, int Nk, int Dh, int masked,
                               int causal, int qkv) {
  if (qkv && Nk != N) return;
  eb_params *P = eb_params_create();
  int D = H * Dh;
  eb_tensor *q = eb_param(P, "q", 4, SHAPE(B, H, N, Dh), EB_INIT_NORMAL, 1);
  eb_tensor *k = eb_param(P, "k", 4, SHAPE(B, H, Nk, Dh), EB_INIT_NORMAL, 1);
  eb_tensor *v = eb_param(P, "v", 4, SHAPE(B, H, Nk, Dh), EB_INIT_NORMAL, 1);
  eb_tensor *x = eb_param(P, "qkv", 3, SHAPE(B, N, 3 * D), EB_INIT_NORMAL, 1);
  char err[64];
  eb_params_finalize(P, 1, err, sizeof err);
  uint8_t *mask = malloc((size_t)B * Nk);
  for (int i = 0; i < B * Nk; i++)
    mask[i] = (i % 3) != 1;
  eb_ctx *ctx = eb_ctx_create(0, 1);
  eb_tensor *o =
      qkv ? eb_attention_qkv(ctx, x, H, masked ? mask : NULL, causal, 0.25f)
          : eb_attention_blockwise(ctx, q, k, v, masked ? mask : NULL, causal, 0.25f);
  CHECK(o != NULL, "attention_blockwise: %s", eb_ctx_error(ctx));
  double C = 0, K = 0;
  for (int i0 = 0; i0 < N; i0 += 32) {
    int rows = N - i0 < 32 ? N - i0 : 32;
    int kend = Nk;
    if (causal) {
      kend = (i0 + rows + 255) / 256 * 256;
      if (kend > N) kend = N;
    }
    C += (double)rows * kend;
    K += (double)rows * ((kend + 255) / 256);
  }
  double bh = (double)B * H;
  char what[128];
  snprintf(what, sizeof what,
           "attention_%s B=%d H=%d N=%d Nk=%d Dh=%d mask=%d causal=%d forward",
           qkv ? "qkv" : "blockwise", B, H, N, Nk, Dh, masked, causal);
  expect(what, eb_ctx_flops(ctx).forward, bh * (C * (4.0 * Dh + 5) + K * Dh));
  /* bytes: q, k, v read, o and the log-sum-exp written, the mask read */
  snprintf(what, sizeof what,
           "attention_%s B=%d H=%d N=%d Nk=%d Dh=%d mask=%d causal=%d forward bytes",
           qkv ? "qkv" : "blockwise", B, H, N, Nk, Dh, masked, causal);
  expect(what, eb_ctx_bytes(ctx),
         4.0 * bh * (2.0 * N * Dh + 2.0 * Nk * Dh + N) + (masked ? (double)B * Nk : 0));
  eb_tensor *L = eb_sum(ctx, o);
  CHECK(L && eb_backward(ctx, L) == 0, "attention backward: %s", eb_ctx_error(ctx));
  snprintf(what, sizeof what,
           "attention_%s B=%d H=%d N=%d Nk=%d Dh=%d mask=%d causal=%d backward",
           qkv ? "qkv" : "blockwise", B, H, N, Nk, Dh, masked, causal);
  expect(what, eb_ctx_flops(ctx).backward,
         bh * (C * (10.0 * Dh + 6) + 2.0 * N * Dh) + (double)o->size);
  /* of which recompute: rebuilding P, S = Q K^T (2 Dh), scale, - lse, exp */
  snprintf(what, sizeof what,
           "attention_%s B=%d H=%d N=%d Nk=%d Dh=%d mask=%d causal=%d recompute",
           qkv ? "qkv" : "blockwise", B, H, N, Nk, Dh, masked, causal);
  expect(what, eb_ctx_recompute(ctx), bh * C * (2.0 * Dh + 3));
  eb_ctx_destroy(ctx);
  eb_params_destroy(P);
  free(mask);
}

/* Bytes moved (docs/flops.md, "Bytes moved"): layernorm and bias_gelu forward
 * and backward with parameters as inputs (their gradients accumulate), and
 * the selective scan's recomputed FLOPs. */
static void check_bytes(void) {
  enum { R = 5, D = 19 };
  eb_params *P = eb_params_create();
  eb_tensor *x = eb_param(P, "x", 2, SHAPE(R, D), EB_INIT_NORMAL, 1);
  eb_tensor *g = eb_param(P, "g", 1, SHAPE(D), EB_INIT_NORMAL, 1);
  eb_tensor *b = eb_param(P, "b", 1, SHAPE(D), EB_INIT_NORMAL, 1);
  char err[64];
  eb_params_finalize(P, 1, err, sizeof err);
  eb_ctx *ctx = eb_ctx_create(0, 1);
  eb_tensor *y = eb_layernorm(ctx, x, g, b);
  /* x read, y written, gamma and beta read, mean and rstd written */
  expect("layernorm forward bytes", eb_ctx_bytes(ctx), 4.0 * (2 * R * D + 2 * D + 2 * R));
  eb_tensor *L = eb_sum(ctx, y);
  const double fwd = eb_ctx_bytes(ctx);
  CHECK(L && eb_backward(ctx, L) == 0, "layernorm backward: %s", eb_ctx_error(ctx));
  /* sum: dy written (R*D) and read as 1; layernorm: x, dy read, dx read and
   * written, mean and rstd and gamma read, dgamma and dbeta read and written */
  expect("layernorm backward bytes", eb_ctx_bytes(ctx) - fwd,
         4.0 * ((R * D + 1) + (4 * R * D + 2 * R + D + 4 * D)));
  expect("layernorm backward flops", eb_ctx_flops(ctx).backward,
         R * D + (4.0 + 1 + 14) * R * D);

  eb_ctx_reset(ctx);
  eb_ctx_reset_flops(ctx);
  y = eb_bias_gelu(ctx, x, b);
  expect("bias_gelu forward flops", eb_ctx_flops(ctx).forward, 10.0 * R * D);
  expect("bias_gelu forward bytes", eb_ctx_bytes(ctx), 4.0 * (2 * R * D + D));
  L = eb_sum(ctx, y);
  const double fwd2 = eb_ctx_bytes(ctx);
  CHECK(L && eb_backward(ctx, L) == 0, "bias_gelu backward: %s", eb_ctx_error(ctx));
  expect("bias_gelu backward flops", eb_ctx_flops(ctx).backward, R * D + 20.0 * R * D);
  /* x, dy read, dx read and written, b read, db read and written */
  expect("bias_gelu backward bytes", eb_ctx_bytes(ctx) - fwd2,
         4.0 * ((R * D + 1) + (4 * R * D + 3 * D)));
  eb_ctx_destroy(ctx);
  eb_params_destroy(P);

  /* selective scan: backward recomputes the states and gates, 1 + 5S per
   * (b, t, c), counted in backward and marked as recompute */
  enum { B = 2, N = 13, C = 3, S = 4 };
  P = eb_params_create();
  eb_tensor *u = eb_param(P, "u", 3, SHAPE(B, N, C), EB_INIT_NORMAL, 1);
  eb_tensor *dt = eb_param(P, "dt", 3, SHAPE(B, N, C), EB_INIT_UNIFORM, 0.1f);
  eb_tensor *A = eb_param(P, "A", 2, SHAPE(C, S), EB_INIT_UNIFORM, 1);
  eb_tensor *Bm = eb_param(P, "Bm", 3, SHAPE(B, N, S), EB_INIT_NORMAL, 1);
  eb_tensor *Cm = eb_param(P, "Cm", 3, SHAPE(B, N, S), EB_INIT_NORMAL, 1);
  eb_params_finalize(P, 1, err, sizeof err);
  ctx = eb_ctx_create(0, 1);
  L = eb_sum(ctx, eb_selective_scan(ctx, u, dt, A, Bm, Cm, NULL));
  expect("scan forward recompute", eb_ctx_recompute(ctx), 0);
  CHECK(L && eb_backward(ctx, L) == 0, "scan backward: %s", eb_ctx_error(ctx));
  expect("scan recompute", eb_ctx_recompute(ctx), (double)B * N * C * (1 + 5 * S));
  CHECK(eb_ctx_bytes(ctx) > 0, "scan: no bytes counted");
  eb_ctx_destroy(ctx);
  eb_params_destroy(P);
}

static void run_all(void) {
  check_sum();
  check_bytes();
  check_linear(1, 3, 5, 4, 1, 1);
  check_linear(2, 64, 32, 16, 1, 1);
  check_linear(2, 64, 32, 16, 0, 1);
  check_linear(3, 9, 7, 11, 1, 0);
  check_attention(1, 1, 4, 4, 2, 0, 0);
  check_attention(2, 3, 17, 17, 8, 1, 1);
  check_attention(4, 2, 64, 64, 16, 1, 0);
  check_attention(2, 3, 17, 40, 8, 1, 0); /* Nk > Nq */
  check_attention(4, 2, 64, 9, 16, 0, 0); /* Nk < Nq */
  for (int qkv = 0; qkv < 2; qkv++) {
    check_attention_bw(1, 1, 4, 4, 2, 0, 0, qkv);
    check_attention_bw(2, 3, 17, 17, 8, 1, 1, qkv);
    check_attention_bw(2, 2, 300, 300, 16, 1, 0, qkv);
    check_attention_bw(1, 2, 600, 600, 4, 0, 1, qkv);
  }
  /* Nq != Nk: Nk < Nq, Nk > Nq, Nk one key block, several, ragged */
  check_attention_bw(2, 2, 300, 17, 16, 1, 0, 0);
  check_attention_bw(2, 3, 40, 600, 8, 1, 0, 0);
  check_attention_bw(1, 2, 1025, 256, 8, 0, 0, 0);
  check_attention_bw(1, 1, 3, 257, 5, 0, 0, 0);
}

int main(void) {
  eb_set_threads(1);
  run_all();
  eb_set_threads(3); /* counts must not depend on the thread count */
  run_all();
  eb_set_threads(1);
  return eb_test_done("test_flops");
}
