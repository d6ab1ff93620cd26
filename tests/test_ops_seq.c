/* Sequence ops (core/ops_seq.c): forward values against direct formulas and a
 * naive double-precision selective scan, finite-difference gradients, FLOP
 * counts, checkpoint memory, and bit-identical results for 1 vs 2 threads and
 * for every checkpoint spacing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "effbench/core.h"
#include "internal.h"

/* ---------------------------------------------------------------- helpers -- */

/* Scalar reduction L = sum_i r[i] x[i] (double accumulation), as a local op so
 * this test does not depend on eb_mul / eb_sum. */
static void wsum_backward(eb_ctx *ctx, eb_node *node) {
  eb_tensor *x = node->in[0];
  const float *r = node->saved;
  const float g = node->out->grad[0];
  float *gx = eb_tensor_grad(ctx, x);
  if (!gx) return;
  for (int64_t i = 0; i < x->size; i++)
    gx[i] += r[i] * g;
}

static eb_tensor *wsum(eb_ctx *ctx, eb_tensor *x, const float *r) {
  if (!x) return NULL;
  eb_tensor *out = eb_tensor_new(ctx, 1, (int[]){1});
  if (!out) return NULL;
  double acc = 0;
  for (int64_t i = 0; i < x->size; i++)
    acc += (double)r[i] * x->data[i];
  out->data[0] = (float)acc;
  eb_node *node = eb_tape_record(ctx, wsum_backward, out, 1, &x);
  if (node) node->saved = (void *)r;
  return out;
}

static void fill_uniform(float *v, int64_t n, float lo, float hi, uint64_t stream) {
  eb_rng r = eb_rng_make(1234, stream);
  for (int64_t i = 0; i < n; i++)
    v[i] = lo + (hi - lo) * eb_rng_uniform(&r);
}

static float *rand_array(int64_t n, uint64_t stream) {
  float *v = malloc((size_t)n * sizeof(float));
  fill_uniform(v, n, -1.0f, 1.0f, stream);
  return v;
}

static eb_params *finalize(eb_params *P) {
  char err[256];
  if (eb_params_finalize(P, 7, err, sizeof err) != 0) {
    fprintf(stderr, "params: %s\n", err);
    exit(1);
  }
  return P;
}

static int bits_equal(const float *a, const float *b, int64_t n) {
  return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

/* ----------------------------------------------------------------- conv1d -- */

typedef struct conv_case {
  eb_tensor *x, *w, *b;
  const float *r;
} conv_case;

static eb_tensor *conv_loss(eb_ctx *ctx, void *user) {
  conv_case *c = user;
  return wsum(ctx, eb_conv1d_causal_dw(ctx, c->x, c->w, c->b), c->r);
}

static void test_conv1d(eb_ctx *ctx) {
  const int shapes[][4] = {{2, 9, 5, 4}, {2, 3, 4, 5}, {1, 6, 3, 1}}; /* B,N,C,K */
  for (int sc = 0; sc < 3; sc++) {
    const int B = shapes[sc][0], N = shapes[sc][1], C = shapes[sc][2], K = shapes[sc][3];
    eb_params *P = eb_params_create();
    eb_tensor *x = eb_param(P, "x", 3, (int[]){B, N, C}, EB_INIT_UNIFORM, 1.0f);
    eb_tensor *w = eb_param(P, "w", 2, (int[]){C, K}, EB_INIT_UNIFORM, 1.0f);
    eb_tensor *b = eb_param(P, "b", 1, (int[]){C}, EB_INIT_UNIFORM, 1.0f);
    finalize(P);
    for (int withb = 0; withb < 2; withb++) {
      eb_ctx_reset(ctx);
      eb_ctx_reset_flops(ctx);
      eb_tensor *y = eb_conv1d_causal_dw(ctx, x, w, withb ? b : NULL);
      CHECK(y != NULL, "conv1d: %s", eb_ctx_error(ctx));
      if (!y) continue;
      float *want = malloc((size_t)y->size * sizeof(float));
      int64_t taps = 0;
      for (int bb = 0; bb < B; bb++)
        for (int t = 0; t < N; t++)
          for (int c = 0; c < C; c++) {
            double acc = withb ? b->data[c] : 0.0;
            for (int j = 0; j < K; j++) {
              int tau = t - K + 1 + j;
              if (tau < 0) continue;
              acc +=
                  (double)w->data[c * K + j] * x->data[((int64_t)bb * N + tau) * C + c];
              taps++;
            }
            want[((int64_t)bb * N + t) * C + c] = (float)acc;
          }
      eb_check_close("conv1d forward", y->data, want, y->size, 1e-5, 1e-3);
      CHECK(eb_ctx_flops(ctx).forward == 2.0 * taps, "conv1d flops %g want %g",
            eb_ctx_flops(ctx).forward, 2.0 * taps);
      free(want);
    }
    float *r = rand_array((int64_t)B * N * C, 11);
    conv_case cc = {x, w, b, r};
    eb_tensor *leaves[3] = {x, w, b};
    eb_gradcheck("conv1d grad", ctx, conv_loss, &cc, leaves, 3, 1e-2f, 1e-2, 60);
    cc.b = NULL;
    eb_gradcheck("conv1d grad (no bias)", ctx, conv_loss, &cc, leaves, 2, 1e-2f, 1e-2,
                 60);
    free(r);
    eb_params_destroy(P);
  }
  /* shape errors */
  eb_params *P = eb_params_create();
  eb_tensor *x = eb_param(P, "x", 3, (int[]){1, 4, 3}, EB_INIT_ONES, 0);
  eb_tensor *w = eb_param(P, "w", 2, (int[]){2, 3}, EB_INIT_ONES, 0);
  finalize(P);
  eb_ctx_reset(ctx);
  CHECK(eb_conv1d_causal_dw(ctx, x, w, NULL) == NULL, "conv1d accepted w[2,3] for C=3");
  CHECK(strstr(eb_ctx_error(ctx), "conv1d_causal_dw") != NULL, "error: %s",
        eb_ctx_error(ctx));
  CHECK(eb_conv1d_causal_dw(ctx, NULL, w, NULL) == NULL, "conv1d accepted NULL x");
  eb_params_destroy(P);
}

/* -------------------------------------------------------------- avgpool1d -- */

typedef struct pool_case {
  eb_tensor *x;
  int pool;
  const uint8_t *mask;
  const float *r;
  int sub;        /* eb_avgpool1d_sub */
  eb_tensor *res; /* its residual, or NULL */
} pool_case;

static eb_tensor *pool_loss(eb_ctx *ctx, void *user) {
  pool_case *c = user;
  return wsum(ctx,
              c->sub ? eb_avgpool1d_sub(ctx, c->x, c->pool, c->mask, c->res)
                     : eb_avgpool1d(ctx, c->x, c->pool, c->mask),
              c->r);
}

/* the residual is the pooled tensor itself, an intermediate (its gradient
 * buffer is created by this backward): y = pool(a) - a + a with a = 2 x */
static eb_tensor *pool_self_loss(eb_ctx *ctx, void *user) {
  pool_case *c = user;
  eb_tensor *a = eb_scale(ctx, c->x, 2.0f);
  return wsum(ctx, eb_avgpool1d_sub(ctx, a, c->pool, c->mask, a), c->r);
}

static void test_avgpool(eb_ctx *ctx) {
  enum { B = 3, N = 9, D = 4 };
  /* row 0: all real; row 1: padded tail; row 2: only t = 0, 1 real, so windows
   * far to the right see no real token and give 0 */
  uint8_t mask[B * N];
  for (int t = 0; t < N; t++) {
    mask[0 * N + t] = 1;
    mask[1 * N + t] = t < 6 && t != 2;
    mask[2 * N + t] = t < 2;
  }
  eb_params *P = eb_params_create();
  eb_tensor *x = eb_param(P, "x", 3, (int[]){B, N, D}, EB_INIT_UNIFORM, 1.0f);
  eb_tensor *res = eb_param(P, "res", 3, (int[]){B, N, D}, EB_INIT_UNIFORM, 1.0f);
  finalize(P);
  float *r = rand_array(B * N * D, 21);
  const int pools[] = {1, 3, 5, 11};
  for (int pi = 0; pi < 4; pi++)
    for (int usemask = 0; usemask < 2; usemask++) {
      const int pool = pools[pi], rad = pool / 2;
      const uint8_t *m = usemask ? mask : NULL;
      eb_ctx_reset(ctx);
      eb_ctx_reset_flops(ctx);
      eb_tensor *y = eb_avgpool1d(ctx, x, pool, m);
      CHECK(y != NULL, "avgpool: %s", eb_ctx_error(ctx));
      if (!y) continue;
      float want[B * N * D];
      double terms = 0, nonempty = 0;
      for (int b = 0; b < B; b++)
        for (int t = 0; t < N; t++) {
          int cnt = 0;
          double acc[D] = {0};
          for (int tau = t - rad; tau <= t + rad; tau++) {
            if (tau < 0 || tau >= N || (m && !m[b * N + tau])) continue;
            cnt++;
            for (int d = 0; d < D; d++)
              acc[d] += x->data[(b * N + tau) * D + d];
          }
          terms += cnt;
          nonempty += cnt > 0;
          for (int d = 0; d < D; d++)
            want[(b * N + t) * D + d] = cnt ? (float)(acc[d] / cnt) : 0.0f;
        }
      eb_check_close(usemask ? "avgpool forward (mask)" : "avgpool forward", y->data,
                     want, B * N * D, 1e-5, 1e-3);
      if (usemask && pool == 3)
        CHECK(y->data[(2 * N + 5) * D] == 0.0f, "empty window gave %g",
              y->data[(2 * N + 5) * D]);
      double fl = terms * D + nonempty * (D + 1);
      CHECK(eb_ctx_flops(ctx).forward == fl, "avgpool flops %g want %g",
            eb_ctx_flops(ctx).forward, fl);
      pool_case pc = {x, pool, m, r, 0, NULL};
      eb_tensor *leaves[1] = {x};
      char what[64];
      snprintf(what, sizeof what, "avgpool grad pool %d mask %d", pool, usemask);
      eb_gradcheck(what, ctx, pool_loss, &pc, leaves, 1, 1e-2f, 1e-2, 200);
      /* the fused avgpool(x) - x: forward, FLOPs (avgpool's plus eb_sub's), grad */
      eb_ctx_reset(ctx);
      eb_ctx_reset_flops(ctx);
      eb_tensor *ys = eb_avgpool1d_sub(ctx, x, pool, m, NULL);
      CHECK(ys != NULL, "avgpool_sub: %s", eb_ctx_error(ctx));
      if (!ys) continue;
      for (int i = 0; i < B * N * D; i++)
        want[i] -= x->data[i];
      /* x is O(1): the difference is compared at that scale (cancellation) */
      eb_check_close("avgpool_sub forward", ys->data, want, B * N * D, 1e-5, 1.0);
      CHECK(eb_ctx_flops(ctx).forward == fl + B * N * D, "avgpool_sub flops %g want %g",
            eb_ctx_flops(ctx).forward, fl + B * N * D);
      pc.sub = 1;
      snprintf(what, sizeof what, "avgpool_sub grad pool %d mask %d", pool, usemask);
      eb_gradcheck(what, ctx, pool_loss, &pc, leaves, 1, 1e-2f, 1e-2, 200);
      /* with a residual: res + avgpool(x) - x, both gradients */
      pc.res = res;
      eb_tensor *leaves2[2] = {x, res};
      snprintf(what, sizeof what, "avgpool_sub+res grad pool %d mask %d", pool, usemask);
      eb_gradcheck(what, ctx, pool_loss, &pc, leaves2, 2, 1e-2f, 1e-2, 200);
      eb_ctx_reset(ctx);
      eb_ctx_reset_flops(ctx);
      ys = eb_avgpool1d_sub(ctx, x, pool, m, res);
      CHECK(ys != NULL, "avgpool_sub+res: %s", eb_ctx_error(ctx));
      if (!ys) continue;
      for (int i = 0; i < B * N * D; i++)
        want[i] += res->data[i];
      eb_check_close("avgpool_sub+res forward", ys->data, want, B * N * D, 1e-5, 1.0);
      CHECK(eb_ctx_flops(ctx).forward == fl + 2 * B * N * D,
            "avgpool_sub+res flops %g want %g", eb_ctx_flops(ctx).forward,
            fl + 2 * B * N * D);
    }
  for (int usemask = 0; usemask < 2; usemask++) {
    pool_case pc = {x, 3, usemask ? mask : NULL, r, 1, NULL};
    eb_gradcheck(usemask ? "avgpool_sub with res == x, mask"
                         : "avgpool_sub with res == x",
                 ctx, pool_self_loss, &pc, &x, 1, 1e-2f, 1e-2, 200);
  }
  eb_ctx_reset(ctx);
  CHECK(eb_avgpool1d(ctx, x, 4, NULL) == NULL, "avgpool accepted an even pool");
  CHECK(strstr(eb_ctx_error(ctx), "avgpool1d") != NULL, "error: %s", eb_ctx_error(ctx));
  CHECK(eb_avgpool1d(ctx, x, 0, NULL) == NULL, "avgpool accepted pool 0");
  CHECK(eb_avgpool1d(ctx, x, -3, NULL) == NULL, "avgpool accepted pool -3");
  free(r);
  eb_params_destroy(P);
}

/* --------------------------------------------------- gather / scatter rows -- */

typedef struct rows_case {
  eb_tensor *x;
  const int32_t *idx;
  int n, rows;
  const float *w;
  const float *r;
} rows_case;

static eb_tensor *gather_loss(eb_ctx *ctx, void *user) {
  rows_case *c = user;
  return wsum(ctx, eb_gather_rows(ctx, c->x, c->idx, c->n), c->r);
}

static eb_tensor *scatter_loss(eb_ctx *ctx, void *user) {
  rows_case *c = user;
  return wsum(ctx, eb_scatter_add_rows(ctx, c->x, c->idx, c->w, c->rows), c->r);
}

static void test_rows(eb_ctx *ctx) {
  enum { D = 5 };
  eb_params *P = eb_params_create();
  eb_tensor *x = eb_param(P, "x", 3, (int[]){2, 3, D}, EB_INIT_UNIFORM, 1.0f); /* R = 6 */
  eb_tensor *src = eb_param(P, "src", 2, (int[]){7, D}, EB_INIT_UNIFORM, 1.0f);
  finalize(P);
  const int32_t gidx[7] = {2, 0, 2, 5, 2, 1, 0}; /* repeats, row 3 and 4 unused */
  float *r = rand_array(64, 31);

  /* gather */
  eb_ctx_reset(ctx);
  eb_tensor *g = eb_gather_rows(ctx, x, gidx, 7);
  CHECK(g && g->ndim == 2 && g->shape[0] == 7 && g->shape[1] == D, "gather shape");
  if (g)
    for (int i = 0; i < 7; i++)
      CHECK(bits_equal(g->data + i * D, x->data + gidx[i] * D, D), "gather row %d", i);
  rows_case gc = {x, gidx, 7, 0, NULL, r};
  eb_tensor *lx[1] = {x};
  eb_gradcheck("gather grad", ctx, gather_loss, &gc, lx, 1, 1e-2f, 1e-2, 100);
  const int32_t bad[2] = {1, 6};
  eb_ctx_reset(ctx);
  CHECK(eb_gather_rows(ctx, x, bad, 2) == NULL, "gather accepted idx 6 of 6 rows");
  CHECK(strstr(eb_ctx_error(ctx), "gather_rows") != NULL, "error: %s", eb_ctx_error(ctx));
  const int32_t neg[1] = {-1};
  CHECK(eb_gather_rows(ctx, x, neg, 1) == NULL, "gather accepted idx -1");

  /* scatter-add, with and without weights */
  const int32_t sidx[7] = {3, 0, 3, 3, 1, 0, 4}; /* rows = 6: row 2, 5 stay zero */
  const float sw[7] = {0.5f, -1.25f, 2.0f, 0.75f, 1.5f, -0.5f, 3.0f};
  for (int usew = 0; usew < 2; usew++) {
    const float *wv = usew ? sw : NULL;
    eb_ctx_reset(ctx);
    eb_ctx_reset_flops(ctx);
    eb_tensor *s = eb_scatter_add_rows(ctx, src, sidx, wv, 6);
    CHECK(s && s->ndim == 2 && s->shape[0] == 6 && s->shape[1] == D, "scatter shape");
    if (!s) continue;
    float want[6 * D] = {0};
    for (int i = 0; i < 7; i++)
      for (int d = 0; d < D; d++)
        want[sidx[i] * D + d] += (wv ? wv[i] : 1.0f) * src->data[i * D + d];
    eb_check_close("scatter forward", s->data, want, 6 * D, 1e-6, 1e-3);
    CHECK(eb_ctx_flops(ctx).forward == (usew ? 2.0 : 1.0) * 7 * D, "scatter flops %g",
          eb_ctx_flops(ctx).forward);
    rows_case sc = {src, sidx, 7, 6, wv, r};
    eb_tensor *ls[1] = {src};
    eb_gradcheck(usew ? "scatter grad (w)" : "scatter grad", ctx, scatter_loss, &sc, ls,
                 1, 1e-2f, 1e-2, 100);
  }
  eb_ctx_reset(ctx);
  CHECK(eb_scatter_add_rows(ctx, src, sidx, NULL, 4) == NULL,
        "scatter accepted idx 4 with rows 4");
  CHECK(strstr(eb_ctx_error(ctx), "scatter_add_rows") != NULL, "error: %s",
        eb_ctx_error(ctx));
  CHECK(eb_scatter_add_rows(ctx, NULL, sidx, NULL, 6) == NULL, "scatter accepted NULL");
  free(r);
  eb_params_destroy(P);
}

/* ---------------------------------------------------------- selective scan -- */

typedef struct scan_case {
  int B, N, C, S, useD;
  eb_params *P;
  eb_tensor *u, *dt, *A, *Bm, *Cm, *D;
  float *r;
} scan_case;

static void scan_case_make(scan_case *sc, int B, int N, int C, int S, uint64_t seed) {
  memset(sc, 0, sizeof *sc);
  sc->B = B, sc->N = N, sc->C = C, sc->S = S, sc->useD = 1;
  sc->P = eb_params_create();
  sc->u = eb_param(sc->P, "u", 3, (int[]){B, N, C}, EB_INIT_ZEROS, 0);
  sc->dt = eb_param(sc->P, "delta", 3, (int[]){B, N, C}, EB_INIT_ZEROS, 0);
  sc->A = eb_param(sc->P, "A", 2, (int[]){C, S}, EB_INIT_ZEROS, 0);
  sc->Bm = eb_param(sc->P, "Bm", 3, (int[]){B, N, S}, EB_INIT_ZEROS, 0);
  sc->Cm = eb_param(sc->P, "Cm", 3, (int[]){B, N, S}, EB_INIT_ZEROS, 0);
  sc->D = eb_param(sc->P, "D", 1, (int[]){C}, EB_INIT_ZEROS, 0);
  finalize(sc->P);
  /* Mamba-like ranges: delta = softplus(.) > 0, A = -exp(.) < 0 */
  fill_uniform(sc->u->data, sc->u->size, -1.0f, 1.0f, seed + 1);
  fill_uniform(sc->dt->data, sc->dt->size, 0.05f, 0.6f, seed + 2);
  fill_uniform(sc->A->data, sc->A->size, -1.5f, -0.1f, seed + 3);
  fill_uniform(sc->Bm->data, sc->Bm->size, -1.0f, 1.0f, seed + 4);
  fill_uniform(sc->Cm->data, sc->Cm->size, -1.0f, 1.0f, seed + 5);
  fill_uniform(sc->D->data, sc->D->size, -1.0f, 1.0f, seed + 6);
  sc->r = rand_array((int64_t)B * N * C, seed + 7);
}

static void scan_case_free(scan_case *sc) {
  eb_params_destroy(sc->P);
  free(sc->r);
}

static eb_tensor *scan_loss(eb_ctx *ctx, void *user) {
  scan_case *c = user;
  return wsum(
      ctx, eb_selective_scan(ctx, c->u, c->dt, c->A, c->Bm, c->Cm, c->useD ? c->D : NULL),
      c->r);
}

/* Naive reference in double, all states stored. dy = r. Gradients out in
 * double arrays (same layouts as the inputs). */
typedef struct scan_ref {
  double *y, *du, *ddt, *dA, *dB, *dC, *dD;
} scan_ref;

static scan_ref scan_reference(const scan_case *sc) {
  const int B = sc->B, N = sc->N, C = sc->C, S = sc->S;
  const float *u = sc->u->data, *dt = sc->dt->data, *A = sc->A->data, *Bm = sc->Bm->data,
              *Cm = sc->Cm->data, *D = sc->useD ? sc->D->data : NULL;
  scan_ref R;
  const size_t nbnc = (size_t)B * N * C, nbns = (size_t)B * N * S;
  R.y = calloc(nbnc, sizeof(double));
  R.du = calloc(nbnc, sizeof(double));
  R.ddt = calloc(nbnc, sizeof(double));
  R.dA = calloc((size_t)C * S, sizeof(double));
  R.dB = calloc(nbns, sizeof(double));
  R.dC = calloc(nbns, sizeof(double));
  R.dD = calloc((size_t)C, sizeof(double));
  double *h = calloc((size_t)B * N * C * S, sizeof(double)); /* h[b,t,c,s] */
  double *dh = calloc((size_t)S, sizeof(double));
#define H(b, t, c, s) h[((((size_t)(b)*N + (t)) * C + (c)) * S) + (s)]
#define I3(b, t, c) (((size_t)(b)*N + (t)) * C + (c))
#define IS(b, t, s) (((size_t)(b)*N + (t)) * S + (s))
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++)
      for (int t = 0; t < N; t++) {
        double acc = D ? (double)D[c] * u[I3(b, t, c)] : 0.0;
        for (int s = 0; s < S; s++) {
          double hp = t ? H(b, t - 1, c, s) : 0.0;
          double a = exp((double)dt[I3(b, t, c)] * A[c * S + s]);
          H(b, t, c, s) =
              a * hp + (double)dt[I3(b, t, c)] * Bm[IS(b, t, s)] * u[I3(b, t, c)];
          acc += (double)Cm[IS(b, t, s)] * H(b, t, c, s);
        }
        R.y[I3(b, t, c)] = acc;
      }
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++) {
      memset(dh, 0, (size_t)S * sizeof(double));
      for (int t = N - 1; t >= 0; t--) {
        const size_t i = I3(b, t, c);
        const double dy = sc->r[i], ut = u[i], d = dt[i];
        if (D) {
          R.du[i] += dy * D[c];
          R.dD[c] += dy * ut;
        }
        for (int s = 0; s < S; s++) {
          dh[s] += dy * Cm[IS(b, t, s)];
          R.dC[IS(b, t, s)] += dy * H(b, t, c, s);
          double hp = t ? H(b, t - 1, c, s) : 0.0;
          double a = exp(d * A[c * S + s]);
          R.ddt[i] += dh[s] * (hp * a * A[c * S + s] + Bm[IS(b, t, s)] * ut);
          R.dA[c * S + s] += dh[s] * hp * a * d;
          R.dB[IS(b, t, s)] += dh[s] * d * ut;
          R.du[i] += dh[s] * d * Bm[IS(b, t, s)];
          dh[s] *= a;
        }
      }
    }
#undef H
#undef I3
#undef IS
  free(h);
  free(dh);
  return R;
}

static void scan_ref_free(scan_ref *R) {
  free(R->y);
  free(R->du);
  free(R->ddt);
  free(R->dA);
  free(R->dB);
  free(R->dC);
  free(R->dD);
}

/* max_i |a-b| / max(|b|, floor); prints it; counts a failure above tol */
static double rel_err(const char *what, const float *a, const double *b, int64_t n,
                      double floor, double tol) {
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double s = fabs(b[i]) > floor ? fabs(b[i]) : floor;
    double r = fabs((double)a[i] - b[i]) / s;
    if (!(r <= worst)) worst = r;
  }
  printf("  %-28s max rel. error %.3g\n", what, worst);
  CHECK(worst <= tol, "%s: max rel. error %.3g > %.3g", what, worst, tol);
  return worst;
}

/* Forward + backward of the scan (loss = sum r*y); returns y copied to `y`. */
static int scan_run(eb_ctx *ctx, scan_case *sc, float *y) {
  eb_params_zero_grad(sc->P);
  eb_ctx_reset(ctx);
  eb_tensor *out = eb_selective_scan(ctx, sc->u, sc->dt, sc->A, sc->Bm, sc->Cm,
                                     sc->useD ? sc->D : NULL);
  eb_tensor *L = wsum(ctx, out, sc->r);
  if (!L || eb_backward(ctx, L) != 0) {
    CHECK(0, "scan forward/backward: %s", eb_ctx_error(ctx));
    return -1;
  }
  if (y) memcpy(y, out->data, (size_t)out->size * sizeof(float));
  return 0;
}

static void test_scan_reference(eb_ctx *ctx) {
  const int chunks[] = {16, 0}; /* many chunks, automatic (one partial chunk) */
  for (int useD = 1; useD >= 0; useD--)
    for (int ci = 0; ci < 2; ci++) {
      scan_case sc;
      scan_case_make(&sc, 2, 150, 5, 8, 100);
      sc.useD = useD;
      eb__scan_set_chunk(chunks[ci]);
      printf("scan vs double reference (B=2 N=150 C=5 S=8, chunk %s, D %s):\n",
             chunks[ci] ? "16" : "auto", useD ? "yes" : "NULL");
      float *y = malloc((size_t)sc.u->size * sizeof(float));
      eb_ctx_reset_flops(ctx);
      if (scan_run(ctx, &sc, y) == 0) {
        scan_ref R = scan_reference(&sc);
        rel_err("y", y, R.y, sc.u->size, 1e-2, 1e-4);
        rel_err("du", sc.u->grad, R.du, sc.u->size, 1e-2, 1e-4);
        rel_err("ddelta", sc.dt->grad, R.ddt, sc.dt->size, 1e-2, 1e-4);
        rel_err("dA", sc.A->grad, R.dA, sc.A->size, 1e-2, 1e-4);
        rel_err("dBm", sc.Bm->grad, R.dB, sc.Bm->size, 1e-2, 1e-4);
        rel_err("dCm", sc.Cm->grad, R.dC, sc.Cm->size, 1e-2, 1e-4);
        if (useD) rel_err("dD", sc.D->grad, R.dD, sc.D->size, 1e-2, 1e-4);
        scan_ref_free(&R);
        /* FLOPs: forward B N C (1 + 7S + 2[D]); backward with all grads needed
         * B N C (2 + 5S + 18S + 3[D] + 2) + B C S + [D] B C */
        const double BNC = 2.0 * 150 * 5, S = 8;
        double fwd = BNC * (1 + 7 * S + 2 * useD);
        double bwd =
            BNC * (2 + 5 * S + 18 * S + 3 * useD + 2) + 2.0 * 5 * S + useD * 2.0 * 5;
        eb_flops f = eb_ctx_flops(ctx);
        /* the test's weighted sum adds none; grads of params only */
        CHECK(f.forward == fwd, "scan forward flops %g want %g", f.forward, fwd);
        CHECK(f.backward == bwd, "scan backward flops %g want %g", f.backward, bwd);
      }
      free(y);
      scan_case_free(&sc);
    }
  eb__scan_set_chunk(0);
}

static void test_scan_gradcheck(eb_ctx *ctx) {
  /* N = 150 with chunk 16: ten chunks, the last one partial */
  eb__scan_set_chunk(16);
  for (int useD = 1; useD >= 0; useD--) {
    scan_case sc;
    scan_case_make(&sc, 2, 150, 3, 4, 200);
    sc.useD = useD;
    eb_tensor *leaves[6] = {sc.u, sc.dt, sc.A, sc.Bm, sc.Cm, sc.D};
    eb_gradcheck(useD ? "scan grad" : "scan grad (no D)", ctx, scan_loss, &sc, leaves,
                 useD ? 6 : 5, 1e-2f, 2e-2, 40);
    scan_case_free(&sc);
  }
  eb__scan_set_chunk(0);
}

/* Same bits for any checkpoint spacing and for 1 vs 2 threads. */
static void test_scan_determinism(eb_ctx *ctx) {
  scan_case sc;
  scan_case_make(&sc, 4, 200, 8, 16, 300); /* B N C S = 102400 > parallel threshold */
  eb_tensor *ts[6] = {sc.u, sc.dt, sc.A, sc.Bm, sc.Cm, sc.D};
  const int64_t ny = sc.u->size;
  float *y0 = malloc((size_t)ny * sizeof(float)),
        *y1 = malloc((size_t)ny * sizeof(float));
  float *g0[6];
  eb_set_threads(1);
  eb__scan_set_chunk(0);
  scan_run(ctx, &sc, y0);
  for (int k = 0; k < 6; k++) {
    g0[k] = malloc((size_t)ts[k]->size * sizeof(float));
    memcpy(g0[k], ts[k]->grad, (size_t)ts[k]->size * sizeof(float));
  }
  struct {
    int threads, chunk;
  } cfg[] = {{2, 0}, {1, 1}, {1, 7}, {2, 13}, {1, 1000}, {3, 64}};
  for (int ci = 0; ci < 6; ci++) {
    eb_set_threads(cfg[ci].threads);
    eb__scan_set_chunk(cfg[ci].chunk);
    if (scan_run(ctx, &sc, y1) != 0) continue;
    CHECK(bits_equal(y0, y1, ny), "scan y differs with %d threads, chunk %d",
          cfg[ci].threads, cfg[ci].chunk);
    for (int k = 0; k < 6; k++)
      CHECK(bits_equal(g0[k], ts[k]->grad, ts[k]->size),
            "scan grad of %s differs with %d threads, chunk %d", ts[k]->name,
            cfg[ci].threads, cfg[ci].chunk);
  }
  eb_set_threads(1);
  eb__scan_set_chunk(0);
  for (int k = 0; k < 6; k++)
    free(g0[k]);
  free(y0);
  free(y1);
  scan_case_free(&sc);
}

/* The other ops' parallel loops: 1 vs 2 threads, bit for bit. */
static void test_other_determinism(eb_ctx *ctx) {
  enum { B = 4, N = 300, C = 48, K = 4 };
  eb_params *P = eb_params_create();
  eb_tensor *x = eb_param(P, "x", 3, (int[]){B, N, C}, EB_INIT_UNIFORM, 1.0f);
  eb_tensor *w = eb_param(P, "w", 2, (int[]){C, K}, EB_INIT_UNIFORM, 1.0f);
  eb_tensor *b = eb_param(P, "b", 1, (int[]){C}, EB_INIT_UNIFORM, 1.0f);
  finalize(P);
  uint8_t *mask = malloc(B * N);
  for (int i = 0; i < B * N; i++)
    mask[i] = (i % N) < N - 37 * (i / N);
  float *r = rand_array((int64_t)B * N * C, 41);
  const int64_t nx = x->size;
  float *ref[2][4];
  for (int th = 1; th <= 2; th++) {
    eb_set_threads(th);
    eb_params_zero_grad(P);
    eb_ctx_reset(ctx);
    eb_tensor *y = eb_conv1d_causal_dw(ctx, x, w, b);
    eb_tensor *p = eb_avgpool1d(ctx, y, 5, mask);
    eb_tensor *L = wsum(ctx, p, r);
    if (!L || eb_backward(ctx, L) != 0) {
      CHECK(0, "conv+pool: %s", eb_ctx_error(ctx));
      break;
    }
    float *src[4] = {p->data, x->grad, w->grad, b->grad};
    int64_t sz[4] = {nx, nx, w->size, b->size};
    for (int k = 0; k < 4; k++) {
      ref[th - 1][k] = malloc((size_t)sz[k] * sizeof(float));
      memcpy(ref[th - 1][k], src[k], (size_t)sz[k] * sizeof(float));
    }
    if (th == 2)
      for (int k = 0; k < 4; k++)
        CHECK(bits_equal(ref[0][k], ref[1][k], sz[k]), "conv+pool tensor %d differs", k);
  }
  eb_set_threads(1);
  for (int th = 0; th < 2; th++)
    for (int k = 0; k < 4; k++)
      free(ref[th][k]);
  free(mask);
  free(r);
  eb_params_destroy(P);
}

/* The forward keeps ceil(N/L) states per (b,c), not N. */
static void test_scan_memory(eb_ctx *ctx) {
  scan_case sc;
  scan_case_make(&sc, 2, 1024, 8, 16, 400);
  eb__scan_set_chunk(0);
  eb_params_zero_grad(sc.P);
  eb_ctx_reset(ctx);
  size_t base = eb_ctx_arena_used(ctx);
  eb_ctx_reset_high_water(ctx);
  eb_tensor *y = eb_selective_scan(ctx, sc.u, sc.dt, sc.A, sc.Bm, sc.Cm, sc.D);
  size_t fwd = eb_ctx_arena_high_water(ctx) - base;
  eb_tensor *L = wsum(ctx, y, sc.r);
  CHECK(L && eb_backward(ctx, L) == 0, "scan: %s", eb_ctx_error(ctx));
  size_t step = eb_ctx_arena_high_water(ctx) - base;
  const size_t states = (size_t)2 * 1024 * 8 * 16 * sizeof(float);
  const size_t ybytes = (size_t)2 * 1024 * 8 * sizeof(float);
  printf("scan memory (B=2 N=1024 C=8 S=16): all states %zu B; forward arena %zu B "
         "(y %zu B); forward+backward %zu B\n",
         states, fwd, ybytes, step);
  CHECK(fwd - ybytes < states / 32, "forward saved %zu B beyond y", fwd - ybytes);
  CHECK(step < states / 4, "forward+backward arena %zu B", step);
  scan_case_free(&sc);
}

static void test_scan_errors(eb_ctx *ctx) {
  scan_case sc;
  scan_case_make(&sc, 1, 4, 3, 2, 500);
  eb_ctx_reset(ctx);
  CHECK(eb_selective_scan(ctx, sc.u, sc.dt, sc.A, sc.Bm, sc.Cm, NULL) != NULL, "scan: %s",
        eb_ctx_error(ctx));
  CHECK(eb_selective_scan(ctx, sc.u, sc.dt, sc.A, sc.Cm, sc.Bm, sc.u) == NULL,
        "scan accepted D [1,4,3]");
  CHECK(strstr(eb_ctx_error(ctx), "selective_scan") != NULL, "error: %s",
        eb_ctx_error(ctx));
  CHECK(eb_selective_scan(ctx, sc.u, sc.dt, sc.A, sc.u, sc.Cm, NULL) == NULL,
        "scan accepted Bm [1,4,3] with S = 2");
  CHECK(eb_selective_scan(ctx, sc.u, sc.Bm, sc.A, sc.Bm, sc.Cm, NULL) == NULL,
        "scan accepted delta [1,4,2]");
  CHECK(eb_selective_scan(ctx, sc.u, NULL, sc.A, sc.Bm, sc.Cm, NULL) == NULL,
        "scan accepted NULL delta");
  scan_case_free(&sc);
}

int main(void) {
  eb_ctx *ctx = eb_ctx_create(1 << 20, 1);
  if (!ctx) return 1;
  eb_set_threads(1);
  test_conv1d(ctx);
  test_avgpool(ctx);
  test_rows(ctx);
  test_scan_reference(ctx);
  test_scan_gradcheck(ctx);
  test_scan_determinism(ctx);
  test_other_determinism(ctx);
  test_scan_memory(ctx);
  test_scan_errors(ctx);
  eb_ctx_destroy(ctx);
  return eb_test_done("test_ops_seq");
}
