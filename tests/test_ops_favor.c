/* eb_favor_features (core/ops_favor.c): forward values and the detached-
 * stabiliser gradients against double-precision reference loops (both kernels,
 * queries and keys, padding, ragged tiles, M not a multiple of 8), finite-
 * difference gradients through losses the stabiliser cancels in, exact FLOP
 * counts, the memory kept for backward, 1 vs 2 vs 3 threads bit for bit, and
 * shape errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "effbench/core.h"

/* ---------------------------------------------------------------- helpers -- */

static eb_params *finalize(eb_params *P) {
  char err[256];
  if (eb_params_finalize(P, 11, err, sizeof err) != 0) {
    fprintf(stderr, "params: %s\n", err);
    exit(1);
  }
  return P;
}

static float *rand_array(int64_t n, uint64_t stream, float lo, float hi) {
  float *v = malloc((size_t)n * sizeof(float));
  eb_rng r = eb_rng_make(4321, stream);
  for (int64_t i = 0; i < n; i++)
    v[i] = lo + (hi - lo) * eb_rng_uniform(&r);
  return v;
}

/* L = sum over groups of `G` consecutive rows (of length M) of
 * sum(a phi) / sum(phi) (a group with sum(phi) = 0 adds 0): invariant to a
 * positive factor per group, so a stabiliser shared by the group cancels and
 * finite differences see the detached-stabiliser gradient. G = 0: plain
 * sum(a phi). Double accumulation; a local op, independent of other ops. */
typedef struct ratio_saved {
  const float *a;
  int G, M;
} ratio_saved;

static void ratio_sums(const float *phi, const float *a, int64_t n, double *num,
                       double *den) {
  *num = *den = 0;
  for (int64_t i = 0; i < n; i++) {
    *num += (double)a[i] * phi[i];
    *den += phi[i];
  }
}

static void ratio_backward(eb_ctx *ctx, eb_node *nd) {
  eb_tensor *x = nd->in[0];
  const ratio_saved *sv = nd->saved;
  const float g = nd->out->grad[0];
  float *gx = eb_tensor_grad(ctx, x);
  if (!gx) return;
  if (!sv->G) {
    for (int64_t i = 0; i < x->size; i++)
      gx[i] += g * sv->a[i];
    return;
  }
  const int64_t per = (int64_t)sv->G * sv->M;
  for (int64_t o = 0; o < x->size; o += per) {
    double num, den;
    ratio_sums(x->data + o, sv->a + o, per, &num, &den);
    if (den == 0) continue;
    for (int64_t i = o; i < o + per; i++)
      gx[i] += (float)(g * (sv->a[i] - num / den) / den);
  }
}

static eb_tensor *ratio_loss(eb_ctx *ctx, eb_tensor *phi, const float *a, int G) {
  if (!phi) return NULL;
  eb_tensor *out = eb_tensor_new(ctx, 1, (int[]){1});
  ratio_saved *sv = eb_alloc(ctx, sizeof *sv);
  if (!out || !sv) return NULL;
  *sv = (ratio_saved){a, G, phi->shape[3]};
  double L = 0;
  if (!G) {
    for (int64_t i = 0; i < phi->size; i++)
      L += (double)a[i] * phi->data[i];
  } else {
    const int64_t per = (int64_t)G * sv->M;
    for (int64_t o = 0; o < phi->size; o += per) {
      double num, den;
      ratio_sums(phi->data + o, a + o, per, &num, &den);
      if (den != 0) L += num / den;
    }
  }
  out->data[0] = (float)L;
  eb_node *nd = eb_tape_record(ctx, ratio_backward, out, 1, &phi);
  if (nd) nd->saved = sv;
  return out;
}

/* Reference phi in double: x[B,H,N,K], w[M,K]. */
static void ref_forward(const float *x, const float *w, int B, int H, int N, int K, int M,
                        int relu, int keys, const uint8_t *mask, double *phi) {
  const double c = pow(K, -0.25);
  for (int64_t bh = 0; bh < (int64_t)B * H; bh++) {
    const uint8_t *mr = mask ? mask + (bh / H) * N : NULL;
    double *e = phi + bh * N * M;
    double sk = -INFINITY;
    for (int n = 0; n < N; n++) {
      const float *xr = x + (bh * N + n) * K;
      double n2 = 0;
      for (int k = 0; k < K; k++)
        n2 += (double)xr[k] * xr[k];
      for (int j = 0; j < M; j++) {
        double p = 0;
        for (int k = 0; k < K; k++)
          p += (double)w[j * K + k] * xr[k];
        e[n * M + j] = relu ? c * p : c * p - 0.5 * c * c * n2;
        if ((!mr || mr[n]) && e[n * M + j] > sk) sk = e[n * M + j];
      }
    }
    for (int n = 0; n < N; n++) {
      double *er = e + n * M;
      const int real = !mr || mr[n];
      double s = sk;
      if (!keys) {
        s = -INFINITY;
        for (int j = 0; j < M; j++)
          s = er[j] > s ? er[j] : s;
      }
      for (int j = 0; j < M; j++) {
        double v = relu ? (er[j] > 0 ? er[j] : 0) + 1e-3 : exp(er[j] - s) / sqrt(M);
        er[j] = real ? v : 0;
      }
    }
  }
}

typedef struct favor_case {
  int B, H, N, K, M;
  eb_params *P;
  eb_tensor *x, *w;  /* parameters (leaves) */
  eb_tensor *wbuf;   /* the same w as a buffer (no gradient) */
  uint8_t *mask;     /* B*N, or NULL */
  float *a;          /* loss weights [B,H,N,M] */
  int relu, keys, G; /* G: loss groups (see ratio_loss) */
  int use_buf;       /* w from wbuf */
} favor_case;

static void case_make(favor_case *fc, int B, int H, int N, int K, int M, int padded,
                      uint64_t stream) {
  memset(fc, 0, sizeof *fc);
  fc->B = B, fc->H = H, fc->N = N, fc->K = K, fc->M = M;
  fc->P = eb_params_create();
  fc->x = eb_param(fc->P, "x", 4, (int[]){B, H, N, K}, EB_INIT_NORMAL, 0.8f);
  fc->w = eb_param(fc->P, "w", 2, (int[]){M, K}, EB_INIT_ORTHOGONAL, 0);
  fc->wbuf = eb_param_buffer(fc->P, "wbuf", 2, (int[]){M, K}, EB_INIT_ORTHOGONAL, 0);
  finalize(fc->P);
  memcpy(fc->wbuf->data, fc->w->data, (size_t)M * K * sizeof(float));
  if (padded) {
    /* batch b keeps N - 3b tokens at the end padded; the last batch of a
     * padded case with B >= 3 is wholly padded when N <= 3(B-1) */
    fc->mask = malloc((size_t)B * N);
    for (int b = 0; b < B; b++)
      for (int n = 0; n < N; n++)
        fc->mask[b * N + n] = n < N - 3 * b;
  }
  fc->a = rand_array((int64_t)B * H * N * M, stream, -1.0f, 1.0f);
}

static void case_free(favor_case *fc) {
  free(fc->mask);
  free(fc->a);
  eb_params_destroy(fc->P);
}

static eb_tensor *case_phi(eb_ctx *ctx, const favor_case *fc) {
  return eb_favor_features(ctx, fc->x, fc->use_buf ? fc->wbuf : fc->w,
                           fc->relu ? EB_FAVOR_RELU : EB_FAVOR_SOFTMAX, fc->keys,
                           fc->mask);
}

static eb_tensor *case_loss(eb_ctx *ctx, void *user) {
  favor_case *fc = user;
  return ratio_loss(ctx, case_phi(ctx, fc), fc->a, fc->G);
}

static const char *case_name(const favor_case *fc, char *buf, size_t n) {
  snprintf(buf, n, "favor %s %s [%d,%d,%d,%d] M=%d%s", fc->relu ? "relu" : "softmax",
           fc->keys ? "keys" : "queries", fc->B, fc->H, fc->N, fc->K, fc->M,
           fc->mask ? " padded" : "");
  return buf;
}

/* Relu has a kink at c p_j = 0: redraw every row of x with some |c p_j| <
 * margin, so that finite-difference steps (which move c p_j by at most
 * c |w| eps or c |x| eps) never cross it. */
static void relu_margin(favor_case *fc, float margin) {
  const int K = fc->K, M = fc->M;
  const float c = powf((float)K, -0.25f);
  eb_rng r = eb_rng_make(99, 1);
  for (int64_t row = 0; row < fc->x->size / K; row++) {
    float *xr = fc->x->data + row * K;
    for (int tries = 0; tries < 1000; tries++) {
      int ok = 1;
      for (int j = 0; ok && j < M; j++) {
        float p = 0;
        for (int k = 0; k < K; k++)
          p += fc->w->data[j * K + k] * xr[k];
        ok = fabsf(c * p) >= margin;
      }
      if (ok) break;
      for (int k = 0; k < K; k++)
        xr[k] = 0.8f * eb_rng_normal(&r);
    }
  }
}

/* ------------------------------------------------- forward and backward -- */

/* Values and the gradients with g = a (plain weighted sum) against reference
 * loops; the reference gradient uses the detached stabiliser:
 *   softmax dx = sum_j g_j phi_j (c w_j - c^2 x), dw_j = sum_rows g_j phi_j c x
 *   relu    dx = sum_j [c p_j > 0] g_j c w_j (real rows only). */
static void check_values(eb_ctx *ctx, favor_case *fc) {
  char name[128];
  case_name(fc, name, sizeof name);
  const int B = fc->B, H = fc->H, N = fc->N, K = fc->K, M = fc->M;
  const int64_t rows = (int64_t)B * H * N, S = rows * M;
  double *ref = malloc((size_t)S * sizeof(double));
  ref_forward(fc->x->data, fc->w->data, B, H, N, K, M, fc->relu, fc->keys, fc->mask, ref);
  float *want = malloc((size_t)S * sizeof(float));
  for (int64_t i = 0; i < S; i++)
    want[i] = (float)ref[i];
  eb_params_zero_grad(fc->P);
  eb_ctx_reset(ctx);
  eb_ctx_set_grad(ctx, 1);
  fc->G = 0;
  eb_tensor *phi = case_phi(ctx, fc);
  eb_tensor *L = ratio_loss(ctx, phi, fc->a, 0);
  if (!L || eb_backward(ctx, L) != 0) {
    CHECK(0, "%s: %s", name, eb_ctx_error(ctx));
    free(ref);
    free(want);
    return;
  }
  char what[192];
  snprintf(what, sizeof what, "%s forward", name);
  eb_check_close(what, phi->data, want, (long)S, 1e-4, 1e-6);
  if (fc->mask)
    for (int64_t r = 0; r < rows; r++) {
      const int64_t b = r / ((int64_t)H * N), n = r % N;
      if (fc->mask[b * N + n]) continue;
      int zero = 1;
      for (int j = 0; j < M; j++)
        zero &= phi->data[r * M + j] == 0.0f;
      CHECK(zero, "%s: padded row %lld not zero", name, (long long)r);
    }
  const double c = pow(K, -0.25);
  double *dx = calloc((size_t)rows * K, sizeof(double));
  double *dw = calloc((size_t)M * K, sizeof(double));
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = fc->x->data + r * K;
    for (int j = 0; j < M; j++) {
      const double f = ref[r * M + j], g = fc->a[r * M + j];
      double coef;
      if (fc->relu) {
        double p = 0;
        for (int k = 0; k < K; k++)
          p += (double)fc->w->data[j * K + k] * xr[k];
        coef = (f != 0 && c * p > 0) ? g * c : 0; /* f = 0: a padded row */
      } else {
        coef = g * f * c;
      }
      for (int k = 0; k < K; k++) {
        dx[r * K + k] += coef * fc->w->data[j * K + k];
        if (!fc->relu) dx[r * K + k] -= g * f * c * c * xr[k];
        dw[j * K + k] += coef * xr[k];
      }
    }
  }
  float *fdx = malloc((size_t)rows * K * sizeof(float)), *fdw = malloc((size_t)M * K * 4);
  for (int64_t i = 0; i < rows * K; i++)
    fdx[i] = (float)dx[i];
  for (int64_t i = 0; i < (int64_t)M * K; i++)
    fdw[i] = (float)dw[i];
  snprintf(what, sizeof what, "%s dx", name);
  eb_check_close(what, fc->x->grad, fdx, (long)(rows * K), 1e-3, 1e-3);
  snprintf(what, sizeof what, "%s dw", name);
  eb_check_close(what, fc->w->grad, fdw, (long)M * K, 1e-3, 1e-3);
  free(fdx);
  free(fdw);
  free(dx);
  free(dw);
  free(ref);
  free(want);
}

/* Finite differences: softmax through per-row (queries) or per-(b,h) (keys)
 * ratios, where the stabiliser cancels; relu through a plain weighted sum. */
static void check_fd(eb_ctx *ctx, favor_case *fc) {
  char name[160];
  case_name(fc, name, sizeof name);
  fc->G = fc->relu ? 0 : fc->keys ? fc->N : 1;
  eb_tensor *leaves[2] = {fc->x, fc->w};
  fc->use_buf = 0;
  eb_gradcheck(name, ctx, case_loss, fc, leaves, 2, 1e-2f, 1e-2, 40);
  /* w as a buffer: the path that keeps one scratch tile per thread */
  fc->use_buf = 1;
  strncat(name, " (w buffer)", sizeof name - strlen(name) - 1);
  eb_gradcheck(name, ctx, case_loss, fc, leaves, 1, 1e-2f, 1e-2, 40);
  fc->use_buf = 0;
}

static void test_values_and_grads(eb_ctx *ctx) {
  /* B,H,N,K,M,padded: M = 300 gives 27-row tiles (N = 70: 3 tiles per (b,h),
   * the last ragged); M = 37 / 13 ragged vectors; N = 5 with B = 3 padded: the
   * last batch is wholly padded */
  const int shapes[][6] = {
      {2, 2, 6, 4, 16, 1}, {2, 1, 70, 4, 300, 1}, {1, 3, 9, 8, 37, 0},
      {3, 2, 5, 3, 13, 1}, {2, 2, 40, 8, 256, 0},
  };
  for (int sc = 0; sc < 5; sc++) {
    const int *s = shapes[sc];
    for (int relu = 0; relu < 2; relu++)
      for (int keys = 0; keys < 2; keys++) {
        favor_case fc;
        case_make(&fc, s[0], s[1], s[2], s[3], s[4], s[5], 100 + (uint64_t)sc);
        fc.relu = relu;
        fc.keys = keys;
        if (relu) relu_margin(&fc, 0.05f);
        check_values(ctx, &fc);
        if (sc != 1 && sc != 4) check_fd(ctx, &fc); /* the big ones: values only */
        case_free(&fc);
      }
  }
}

/* ------------------------------------------------------------------ flops -- */

static void test_flops(eb_ctx *ctx) {
  const int B = 2, H = 3, N = 11, K = 5, M = 9;
  const double R = (double)B * H * N, S = R * M;
  for (int relu = 0; relu < 2; relu++)
    for (int keys = 0; keys < 2; keys++)
      for (int need = 1; need <= 3; need++) { /* 1: dx, 2: dw, 3: both */
        favor_case fc;
        case_make(&fc, B, H, N, K, M, 1, 7);
        fc.relu = relu;
        fc.keys = keys;
        fc.x->requires_grad = need & 1;
        fc.w->requires_grad = (need & 2) != 0;
        eb_params_zero_grad(fc.P);
        eb_ctx_reset(ctx);
        eb_ctx_reset_flops(ctx);
        eb_ctx_set_grad(ctx, 1);
        eb_tensor *phi = case_phi(ctx, &fc);
        eb_flops f0 = eb_ctx_flops(ctx);
        eb_tensor *L = ratio_loss(ctx, phi, fc.a, 0);
        eb_ctx_reset_flops(ctx);
        CHECK(L && eb_backward(ctx, L) == 0, "flops case: %s", eb_ctx_error(ctx));
        const double bwd = eb_ctx_flops(ctx).backward;
        const int nx = need & 1, nw = (need & 2) != 0;
        const double want_f =
            2 * S * K + S + (relu ? 2 * S : 3 * S) + (!relu && keys ? 2 * R * K : 0);
        const double want_b = (relu ? 0 : S + nx * (S + 2 * R * K)) +
                              nx * (2 * S * K + R * K) + nw * (2 * S * K + (double)M * K);
        CHECK(f0.forward == want_f && f0.backward == 0,
              "favor %s keys=%d forward flops %g want %g (backward %g)",
              relu ? "relu" : "softmax", keys, f0.forward, want_f, f0.backward);
        CHECK(bwd == want_b, "favor %s keys=%d dx=%d dw=%d backward flops %g want %g",
              relu ? "relu" : "softmax", keys, nx, nw, bwd, want_b);
        case_free(&fc);
      }
}

/* ------------------------------------------------------- memory, threads -- */

/* Forward keeps phi and O(rows) floats; backward with w a buffer allocates
 * the gradient of phi (the loss's) and O(threads * tile) scratch (x is a
 * parameter: its gradient is not in the arena). */
static void test_memory(eb_ctx *ctx) {
  favor_case fc;
  case_make(&fc, 2, 2, 512, 8, 256, 1, 9);
  fc.use_buf = 1;
  fc.keys = 1;
  eb_params_zero_grad(fc.P);
  eb_ctx_reset(ctx);
  const size_t base = eb_ctx_arena_used(ctx);
  eb_ctx_reset_high_water(ctx);
  eb_tensor *phi = case_phi(ctx, &fc);
  const size_t fwd = eb_ctx_arena_high_water(ctx) - base;
  const size_t pb = (size_t)phi->size * sizeof(float);
  eb_tensor *L = ratio_loss(ctx, phi, fc.a, 0);
  const size_t before = eb_ctx_arena_used(ctx);
  CHECK(L && eb_backward(ctx, L) == 0, "memory case: %s", eb_ctx_error(ctx));
  const size_t bwd = eb_ctx_arena_high_water(ctx) - before;
  printf("favor memory (x [2,2,512,8], M = 256, keys): phi %zu B; forward %zu B; "
         "backward %zu B (grad phi %zu B + scratch)\n",
         pb, fwd, bwd, pb);
  CHECK(fwd >= pb && fwd - pb < pb / 64, "forward kept %zu B (phi %zu B)", fwd, pb);
  CHECK(bwd >= pb && bwd - pb < pb / 32, "backward allocated %zu B (phi %zu B)", bwd, pb);
  case_free(&fc);
}

static int bits_equal(const float *a, const float *b, int64_t n) {
  return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

static void test_threads(eb_ctx *ctx) {
  for (int relu = 0; relu < 2; relu++)
    for (int keys = 0; keys < 2; keys++)
      for (int buf = 0; buf < 2; buf++) {
        favor_case fc;
        case_make(&fc, 2, 3, 300, 8, 70, 1, 21); /* S = 126000 > EB_PAR_MIN */
        fc.relu = relu;
        fc.keys = keys;
        fc.use_buf = buf;
        const int64_t S = (int64_t)2 * 3 * 300 * 70;
        float *ref[3] = {malloc((size_t)S * 4), malloc((size_t)fc.x->size * 4),
                         malloc((size_t)fc.w->size * 4)};
        const int threads[3] = {1, 2, 3};
        for (int t = 0; t < 3; t++) {
          eb_set_threads(threads[t]);
          eb_params_zero_grad(fc.P);
          eb_ctx_reset(ctx);
          eb_tensor *phi = case_phi(ctx, &fc);
          eb_tensor *L = ratio_loss(ctx, phi, fc.a, 0);
          if (!L || eb_backward(ctx, L) != 0) {
            CHECK(0, "threads case: %s", eb_ctx_error(ctx));
            break;
          }
          const float *got[3] = {phi->data, fc.x->grad, fc.w->grad};
          const int64_t n[3] = {S, fc.x->size, buf ? 0 : fc.w->size};
          for (int k = 0; k < 3; k++) {
            if (!t)
              memcpy(ref[k], got[k], (size_t)n[k] * 4);
            else
              CHECK(bits_equal(ref[k], got[k], n[k]),
                    "favor %s keys=%d w%s: tensor %d differs with %d threads",
                    relu ? "relu" : "softmax", keys, buf ? " buffer" : "", k, threads[t]);
          }
        }
        eb_set_threads(1);
        for (int k = 0; k < 3; k++)
          free(ref[k]);
        case_free(&fc);
      }
}

static void test_errors(eb_ctx *ctx) {
  eb_params *P = eb_params_create();
  eb_tensor *x = eb_param(P, "x", 4, (int[]){1, 2, 3, 4}, EB_INIT_ONES, 0);
  eb_tensor *x3 = eb_param(P, "x3", 3, (int[]){2, 3, 4}, EB_INIT_ONES, 0);
  eb_tensor *w = eb_param(P, "w", 2, (int[]){5, 4}, EB_INIT_ONES, 0);
  eb_tensor *w3 = eb_param(P, "w3", 2, (int[]){5, 3}, EB_INIT_ONES, 0);
  finalize(P);
  eb_ctx_reset(ctx);
  CHECK(eb_favor_features(ctx, x, w, EB_FAVOR_SOFTMAX, 0, NULL) != NULL, "favor: %s",
        eb_ctx_error(ctx));
  CHECK(eb_favor_features(ctx, x3, w, EB_FAVOR_SOFTMAX, 0, NULL) == NULL,
        "favor accepted x [2,3,4]");
  CHECK(strstr(eb_ctx_error(ctx), "favor_features") != NULL, "error: %s",
        eb_ctx_error(ctx));
  CHECK(eb_favor_features(ctx, x, w3, EB_FAVOR_RELU, 1, NULL) == NULL,
        "favor accepted w [5,3] for Dh = 4");
  CHECK(eb_favor_features(ctx, x, w, (eb_favor_kernel)7, 0, NULL) == NULL,
        "favor accepted kernel 7");
  CHECK(eb_favor_features(ctx, NULL, w, EB_FAVOR_SOFTMAX, 0, NULL) == NULL,
        "favor accepted NULL x");
  eb_params_destroy(P);
}

int main(void) {
  eb_ctx *ctx = eb_ctx_create(1 << 20, 1);
  if (!ctx) return 1;
  eb_set_threads(1);
  test_values_and_grads(ctx);
  test_flops(ctx);
  test_memory(ctx);
  test_threads(ctx);
  test_errors(ctx);
  eb_ctx_destroy(ctx);
  return eb_test_done("test_ops_favor");
}
