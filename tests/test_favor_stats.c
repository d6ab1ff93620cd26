/* FAVOR+ as a statistical estimator (Choromanski et al. 2021, "Rethinking
 * Attention with Performers", Lemma 1 and Theorem 1), checked against the
 * paper's definitions, not against our code:
 *
 *   softmax kernel  SM(x, y) = exp(x . y),  x = q / d^1/4, y = k / d^1/4
 *   positive random features  phi(x) = m^-1/2 (exp(w_j . x - |x|^2 / 2))_j,
 *     w_j ~ N(0, I_d):  E[phi(x) . phi(y)] = SM(x, y)        (unbiased)
 *   attention  A = D^-1 S V,  S_ij = SM(q_i, k_j),  D = diag(S 1)
 *   FAVOR+ estimate  Â_i = phi(q_i)^T (sum_j phi(k_j) v_j^T) / phi(q_i)^T sum_j phi(k_j)
 *
 * The features come from the engine's own op, eb_favor_features, which
 * returns phi up to a positive stabiliser per query row and per (batch, head)
 * of keys; both cancel in Â. Two feature draws are checked: i.i.d. Gaussian
 * rows (the paper's definition, drawn here with eb_rng_normal), and the
 * engine's orthogonal features (eb_rng_orthogonal, what Performer uses; each
 * row is marginally N(0, I), so the same two facts must hold).
 *
 * 1. Unbiased kernel. For 8 pairs (q, k) and R_K independent draws of m = 32
 *    features, the stabilisers are undone (below) and the mean of
 *    phi(q) . phi(k) must agree with exp(q . k / sqrt(d)): |z| <= 4 with
 *    z = (mean - exact) / (sample sd / sqrt(R_K)) for every pair. Under the
 *    null the 16 z are about N(0,1); 4 sigma bounds a false alarm for a random
 *    seed by 1e-3, and the seeds are fixed, so the test cannot flake (here
 *    max |z| is 2.1 and 1.2). Broken on purpose: a 10 % error in the keys'
 *    |k|^2 / 2 term gives |z| = 10 to 13, c = d^-0.3 instead of d^-1/4 about
 *    100, orthogonal rows of norm sqrt(d) instead of chi-distributed norms 27.
 * 2. Error rate. For fixed random Q, K, V (H = 4 independent heads, N = 32,
 *    d = 16, entries of q and k N(0, 0.3^2): the estimator's relative error
 *    is below 0.2 already at m = 16, so the leading m^-1/2 term dominates)
 *    and m = 16, 32, ..., 1024 (multiples of d, so orthogonal blocks are
 *    whole), the mean over R_A draws of ||Â - A||_F / ||A||_F is fitted by
 *    least squares in log-log; the slope must be -1/2 within 0.05. The
 *    slope's standard error, by the delta method from each m's standard error
 *    of the mean, is about 0.005 here (the test requires it to be below
 *    0.0125, so 0.05 is at least 4 of them); the rest of the tolerance
 *    covers the O(1/m) bias of a ratio estimator at the smallest m (a float64
 *    numpy simulation of the paper's estimator at these sizes gave -0.49 to
 *    -0.50 over seeds). A biased estimator has an error floor and a flatter
 *    slope: c = d^-0.3 gives -0.42, non-Haar orthogonal blocks (QR without
 *    the sign fix, in that simulation) -0.35.
 *
 * Undoing the stabilisers (for 1 only): for queries the op returns
 * phi_j = exp(c w_j.q - max_i c w_i.q - ln(m)/2), c = d^-1/4, so
 * m^-1/2 exp(c w_j.q - c^2|q|^2/2) = phi_j exp(max_i c w_i.q - c^2|q|^2/2);
 * for keys it returns phi_j exp(-s) with s the largest c w_i.k - c^2|k|^2/2
 * over every real key row and feature of the (batch, head): the keys' |k|^2
 * term is the engine's, the queries' is not (it cancels in attention, and the
 * op leaves it out). s and the maxima are recomputed here in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "effbench/core.h"

enum { D = 16 };

typedef enum draw_kind { DRAW_IID = 0, DRAW_ORTHOGONAL } draw_kind;
static const char *const kind_name[] = {"iid gaussian", "orthogonal"};

/* w[m, D]: draw `draw` of kind k */
static void draw_features(float *w, int m, draw_kind k, uint64_t seed, uint64_t draw) {
  eb_rng r = eb_rng_make(seed, draw);
  if (k == DRAW_ORTHOGONAL) {
    eb_rng_orthogonal(&r, w, m, D);
    return;
  }
  for (int64_t i = 0; i < (int64_t)m * D; i++)
    w[i] = eb_rng_normal(&r);
}

/* the op on x [1, H, N, D] (a fresh arena tensor) -> phi [H, N, m] copied to out */
static int favor(eb_ctx *ctx, const float *x, int H, int N, const float *w, int m,
                 int keys, double *out) {
  eb_tensor *xt = eb_tensor_new(ctx, 4, (int[]){1, H, N, D});
  eb_tensor *wt = eb_tensor_new(ctx, 2, (int[]){m, D});
  if (!xt || !wt) return -1;
  memcpy(xt->data, x, (size_t)H * N * D * sizeof(float));
  memcpy(wt->data, w, (size_t)m * D * sizeof(float));
  eb_tensor *phi = eb_favor_features(ctx, xt, wt, EB_FAVOR_SOFTMAX, keys, NULL);
  if (!phi) return -1;
  for (int64_t i = 0; i < phi->size; i++)
    out[i] = phi->data[i];
  return 0;
}

static double dot_wx(const float *w, const float *x) {
  double s = 0;
  for (int d = 0; d < D; d++)
    s += (double)w[d] * x[d];
  return s;
}

static double norm2(const float *x) { return dot_wx(x, x); }

/* ------------------------------------------------------ 1. unbiased kernel -- */

enum { PAIRS = 8, MK = 32, RK = 4000 };

static void check_unbiased(eb_ctx *ctx, draw_kind kind) {
  float q[PAIRS * D], k[PAIRS * D], w[MK * D];
  eb_rng r = eb_rng_make(101, 0);
  for (int i = 0; i < PAIRS * D; i++) {
    q[i] = 0.6f * eb_rng_normal(&r);
    k[i] = 0.6f * eb_rng_normal(&r);
  }
  const double c = pow(D, -0.25);
  double exact[PAIRS], sum[PAIRS] = {0}, sum2[PAIRS] = {0};
  for (int p = 0; p < PAIRS; p++)
    exact[p] = exp(dot_wx(q + p * D, k + p * D) / sqrt((double)D));
  double *fq = malloc(sizeof(double) * PAIRS * MK),
         *fk = malloc(sizeof(double) * PAIRS * MK);
  for (int t = 0; t < RK && fq && fk; t++) {
    eb_ctx_reset(ctx);
    draw_features(w, MK, kind, 7, (uint64_t)t);
    /* queries: one head of PAIRS rows; keys: one head of PAIRS rows, so their
     * stabiliser is shared and the engine's |k|^2 term matters */
    if (favor(ctx, q, 1, PAIRS, w, MK, 0, fq) || favor(ctx, k, 1, PAIRS, w, MK, 1, fk)) {
      CHECK(0, "unbiased %s: favor_features: %s", kind_name[kind], eb_ctx_error(ctx));
      break;
    }
    double s = -INFINITY;
    for (int p = 0; p < PAIRS; p++)
      for (int j = 0; j < MK; j++) {
        const double e =
            c * dot_wx(w + j * D, k + p * D) - 0.5 * c * c * norm2(k + p * D);
        s = e > s ? e : s;
      }
    for (int p = 0; p < PAIRS; p++) {
      double mx = -INFINITY;
      for (int j = 0; j < MK; j++) {
        const double e = c * dot_wx(w + j * D, q + p * D);
        mx = e > mx ? e : mx;
      }
      const double uq = exp(mx - 0.5 * c * c * norm2(q + p * D)), uk = exp(s);
      double kh = 0;
      for (int j = 0; j < MK; j++)
        kh += fq[p * MK + j] * uq * fk[p * MK + j] * uk;
      sum[p] += kh;
      sum2[p] += kh * kh;
    }
  }
  double zmax = 0, bias_max = 0;
  for (int p = 0; p < PAIRS; p++) {
    const double mean = sum[p] / RK, var = (sum2[p] - RK * mean * mean) / (RK - 1);
    const double z = (mean - exact[p]) / sqrt(var / RK);
    CHECK(fabs(z) <= 4,
          "unbiased %s: pair %d: mean phi(q).phi(k) %.6g over %d draws of m = %d, "
          "exp(q.k/sqrt(d)) = %.6g: z = %.2f (|z| <= 4)",
          kind_name[kind], p, mean, RK, MK, exact[p], z);
    zmax = fabs(z) > zmax ? fabs(z) : zmax;
    const double b = fabs(mean / exact[p] - 1);
    bias_max = b > bias_max ? b : bias_max;
  }
  printf("unbiased kernel, %s features: %d pairs, %d draws of m = %d: max |z| %.2f, "
         "max |relative bias| %.4f\n",
         kind_name[kind], PAIRS, RK, MK, zmax, bias_max);
  free(fq);
  free(fk);
}

/* ---------------------------------------------------------- 2. error rate -- */

enum { H = 4, N = 32, NM = 7, RA = 64 };
static const int ms[NM] = {16, 32, 64, 128, 256, 512, 1024};

/* exact softmax attention in double: a[H, N, D] */
static void exact_attention(const float *q, const float *k, const float *v, double *a) {
  for (int h = 0; h < H; h++)
    for (int i = 0; i < N; i++) {
      const float *qi = q + ((int64_t)h * N + i) * D;
      double s[N], mx = -INFINITY, den = 0;
      for (int j = 0; j < N; j++) {
        s[j] = dot_wx(qi, k + ((int64_t)h * N + j) * D) / sqrt((double)D);
        mx = s[j] > mx ? s[j] : mx;
      }
      double *ai = a + ((int64_t)h * N + i) * D;
      memset(ai, 0, D * sizeof *ai);
      for (int j = 0; j < N; j++) {
        const double e = exp(s[j] - mx);
        den += e;
        for (int d = 0; d < D; d++)
          ai[d] += e * v[((int64_t)h * N + j) * D + d];
      }
      for (int d = 0; d < D; d++)
        ai[d] /= den;
    }
}

/* relative Frobenius error of the FAVOR+ estimate from phi(Q), phi(K) [H,N,m] */
static double favor_error(const double *fq, const double *fk, const float *v, int m,
                          const double *a, double *kv) {
  double num = 0, den = 0;
  for (int h = 0; h < H; h++) {
    /* kv[m, D+1] = sum_j phi(k_j) [v_j, 1] */
    memset(kv, 0, sizeof(double) * m * (D + 1));
    for (int j = 0; j < N; j++) {
      const double *f = fk + ((int64_t)h * N + j) * m;
      const float *vj = v + ((int64_t)h * N + j) * D;
      for (int u = 0; u < m; u++) {
        double *row = kv + (int64_t)u * (D + 1);
        for (int d = 0; d < D; d++)
          row[d] += f[u] * vj[d];
        row[D] += f[u];
      }
    }
    for (int i = 0; i < N; i++) {
      const double *f = fq + ((int64_t)h * N + i) * m;
      double o[D + 1] = {0};
      for (int u = 0; u < m; u++)
        for (int d = 0; d <= D; d++)
          o[d] += f[u] * kv[(int64_t)u * (D + 1) + d];
      const double *ai = a + ((int64_t)h * N + i) * D;
      for (int d = 0; d < D; d++) {
        const double e = o[d] / o[D] - ai[d];
        num += e * e;
        den += ai[d] * ai[d];
      }
    }
  }
  return sqrt(num / den);
}

static void check_rate(eb_ctx *ctx, draw_kind kind) {
  const int64_t nx = (int64_t)H * N * D;
  float *q = malloc(sizeof(float) * nx), *k = malloc(sizeof(float) * nx),
        *v = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * 1024 * D);
  double *a = malloc(sizeof(double) * nx), *fq = malloc(sizeof(double) * H * N * 1024),
         *fk = malloc(sizeof(double) * H * N * 1024),
         *kv = malloc(sizeof(double) * 1024 * (D + 1));
  if (!q || !k || !v || !w || !a || !fq || !fk || !kv) {
    CHECK(0, "rate: out of memory");
    goto done;
  }
  eb_rng r = eb_rng_make(202, 0);
  for (int64_t i = 0; i < nx; i++) {
    q[i] = 0.3f * eb_rng_normal(&r);
    k[i] = 0.3f * eb_rng_normal(&r);
    v[i] = eb_rng_normal(&r);
  }
  exact_attention(q, k, v, a);
  double lx[NM], ly[NM], vy[NM], mean[NM];
  for (int mi = 0; mi < NM; mi++) {
    const int m = ms[mi];
    double s = 0, s2 = 0;
    for (int t = 0; t < RA; t++) {
      eb_ctx_reset(ctx);
      draw_features(w, m, kind, 9 + (uint64_t)m, (uint64_t)t);
      if (favor(ctx, q, H, N, w, m, 0, fq) || favor(ctx, k, H, N, w, m, 1, fk)) {
        CHECK(0, "rate %s: favor_features: %s", kind_name[kind], eb_ctx_error(ctx));
        goto done;
      }
      const double e = favor_error(fq, fk, v, m, a, kv);
      s += e;
      s2 += e * e;
    }
    mean[mi] = s / RA;
    const double var = (s2 - RA * mean[mi] * mean[mi]) / (RA - 1);
    lx[mi] = log((double)m);
    ly[mi] = log(mean[mi]);
    vy[mi] = var / RA / (mean[mi] * mean[mi]); /* var of log(mean), delta method */
  }
  double xb = 0, sxx = 0, slope = 0, vs = 0;
  for (int i = 0; i < NM; i++)
    xb += lx[i] / NM;
  for (int i = 0; i < NM; i++)
    sxx += (lx[i] - xb) * (lx[i] - xb);
  for (int i = 0; i < NM; i++) {
    const double ci = (lx[i] - xb) / sxx;
    slope += ci * ly[i];
    vs += ci * ci * vy[i];
  }
  const double se = sqrt(vs);
  printf("error rate, %s features: mean ||A_favor - A||/||A|| over %d draws:",
         kind_name[kind], RA);
  for (int i = 0; i < NM; i++)
    printf(" m=%d %.4f", ms[i], mean[i]);
  printf("; log-log slope %.4f (standard error %.4f), want -0.5 +- 0.05\n", slope, se);
  CHECK(fabs(slope + 0.5) <= 0.05,
        "rate %s: error ~ m^%.4f (standard error %.4f), want m^-0.5 within 0.05",
        kind_name[kind], slope, se);
  CHECK(se <= 0.0125, "rate %s: slope standard error %.4f too large for a 0.05 tolerance",
        kind_name[kind], se);
  CHECK(mean[0] < 0.25 && mean[NM - 1] < mean[0] / 4,
        "rate %s: errors %.4f at m=16, %.4f at m=1024: want < 0.25 and falling 8x",
        kind_name[kind], mean[0], mean[NM - 1]);
done:
  free(q);
  free(k);
  free(v);
  free(w);
  free(a);
  free(fq);
  free(fk);
  free(kv);
}

int main(void) {
  eb_ctx *ctx = eb_ctx_create(8 << 20, 0);
  if (!ctx) return 1;
  eb_ctx_set_grad(ctx, 0);
  for (int kind = DRAW_IID; kind <= DRAW_ORTHOGONAL; kind++) {
    check_unbiased(ctx, (draw_kind)kind);
    check_rate(ctx, (draw_kind)kind);
  }
  eb_ctx_destroy(ctx);
  return eb_test_done("test_favor_stats");
}
