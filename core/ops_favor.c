/* FAVOR+ random feature maps (Performer, Choromanski et al. 2020), fused into
 * one op: the projection x W^T, the stabilised exp (or the relu) and padding
 * in a single pass over row tiles, with nothing stored for backward but the
 * output phi (x and w are the op's inputs).
 *
 * Row tiles: the B*H*N rows are cut into tiles of at most `tr` consecutive rows
 * of one (b,h), tr depending only on M. Every tile is one single-threaded
 * sgemm and one elementwise sweep, tiles run in parallel (OpenMP), and the key
 * stabiliser is a maximum (exact, order-free): results are the same bits for
 * any thread count.
 *
 * Formulas (c = Dh^-1/4, p_j = w_j·x, stabiliser s treated as a constant):
 *   softmax, queries: phi_j = exp(c p_j - max_i c p_i - ln(M)/2)
 *     (= M^-1/2 exp(c p_j - c^2|x|^2/2 - s) with s the row's largest exponent:
 *      the |x|^2 term cancels against the one inside s);
 *   softmax, keys:    phi_j = exp(c p_j - c^2|x|^2/2 - s - ln(M)/2), s the
 *     largest c p_i - c^2|x|^2/2 over the real rows and all features of (b,h);
 *   relu:             phi_j = max(c p_j, 0) + 1e-3.
 * Backward, g = dL/dphi: softmax dx = c (g∘phi) W - c^2 (Σ_j g_j phi_j) x,
 * dW = c (g∘phi)^T x; relu dx = c (g∘[phi > eps]) W, dW likewise. The relu
 * test reads u = c p > 0 off the output as phi > eps (phi and x are all that
 * is kept): it differs from u > 0 only for 0 < u < ~6e-11, where the computed
 * phi rounds to eps and is flat. Padded rows have phi = 0, hence no gradient.
 *
 * FLOPs (docs/flops.md): the sgemm alpha = c counts one multiply per output
 * element; the rest as written above. */
#include <math.h>
#include <string.h>

#include "effbench/core.h"
#include "internal.h"
#include "ops_util.h"

#define FAVOR_RELU_EPS 1e-3f
/* a tile holds about this many floats of phi (32 KiB) */
#define FAVOR_TILE_FLOATS 8192

typedef struct favor_dims {
  int B, H, N, K, M; /* x[B,H,N,K], w[M,K] */
  int tr, tpg;       /* rows per tile, tiles per (b,h) */
  int64_t rows, ntiles;
} favor_dims;

static favor_dims favor_dims_of(const eb_tensor *x, const eb_tensor *w) {
  favor_dims d;
  d.B = x->shape[0];
  d.H = x->shape[1];
  d.N = x->shape[2];
  d.K = x->shape[3];
  d.M = w->shape[0];
  int tr = FAVOR_TILE_FLOATS / d.M;
  tr = tr < 4 ? 4 : tr > 256 ? 256 : tr;
  d.tr = tr < d.N ? tr : d.N;
  d.tpg = (d.N + d.tr - 1) / d.tr;
  d.rows = (int64_t)d.B * d.H * d.N;
  d.ntiles = (int64_t)d.B * d.H * d.tpg;
  return d;
}

/* tile t: first row, row count, and the mask of its rows (NULL = all real) */
static inline int64_t favor_tile(const favor_dims *d, int64_t t, int *nr,
                                 const uint8_t *mask, const uint8_t **mt) {
  const int64_t bh = t / d->tpg;
  const int n0 = (int)(t % d->tpg) * d->tr;
  *nr = d->N - n0 < d->tr ? d->N - n0 : d->tr;
  *mt = mask ? mask + (bh / d->H) * d->N + n0 : NULL;
  return bh * d->N + n0;
}

/* ---------------------------------------------------------- row kernels -- */

EB_VINLINE float favor_row_max(const float *y, int M) {
  eb_v8f mv = eb__v8_splat(-INFINITY);
  int j = 0;
  for (; j + 8 <= M; j += 8)
    mv = eb__v8_max(eb__v8_load(y + j), mv);
  float m = eb__v8_hmax(mv);
  for (; j < M; j++)
    m = y[j] > m ? y[j] : m;
  return m;
}

/* y = exp(y - k) in place (the scalar tail gives the same bits as a lane) */
EB_VINLINE void favor_exp_row(float *y, int M, float k) {
  const eb_v8f kv = eb__v8_splat(k);
  int j = 0;
  for (; j + 8 <= M; j += 8)
    eb__v8_store(y + j, eb__exp8(eb__v8_load(y + j) - kv));
  for (; j < M; j++)
    y[j] = eb__expf(y[j] - k);
}

/* queries: y[nr,M] = c x w^T in, phi out; padded rows 0 */
EB_CLONES
static void favor_query_tile(float *y, int nr, int M, float lnr, const uint8_t *mt) {
  for (int r = 0; r < nr; r++) {
    float *yr = y + (int64_t)r * M;
    favor_exp_row(yr, M, favor_row_max(yr, M) + lnr);
    if (mt && !mt[r]) memset(yr, 0, (size_t)M * sizeof(float));
  }
}

/* keys, first sweep: per row the diagonal term c^2|x|^2/2 into diag[r], and
 * the largest exponent over the tile's real rows (-inf if none) */
EB_CLONES
static float favor_key_tile_max(const float *y, const float *x, int nr, int M, int K,
                                float c2, const uint8_t *mt, float *diag) {
  float s = -INFINITY;
  for (int r = 0; r < nr; r++) {
    const float *xr = x + (int64_t)r * K;
    float n2 = 0;
    for (int d = 0; d < K; d++)
      n2 += xr[d] * xr[d];
    diag[r] = 0.5f * c2 * n2;
    const float e = favor_row_max(y + (int64_t)r * M, M) - diag[r];
    if ((!mt || mt[r]) && e > s) s = e;
  }
  return s;
}

/* keys, second sweep: phi = exp(y - diag - s - ln(M)/2); padded rows 0 */
EB_CLONES
static void favor_key_tile_exp(float *y, int nr, int M, float k, const float *diag,
                               const uint8_t *mt) {
  for (int r = 0; r < nr; r++) {
    float *yr = y + (int64_t)r * M;
    favor_exp_row(yr, M, diag[r] + k);
    if (mt && !mt[r]) memset(yr, 0, (size_t)M * sizeof(float));
  }
}

/* relu: phi = max(y, 0) + eps; padded rows 0 */
EB_CLONES
static void favor_relu_tile(float *y, int nr, int M, const uint8_t *mt) {
  const eb_v8f z = eb__v8_splat(0.0f), eps = eb__v8_splat(FAVOR_RELU_EPS);
  for (int r = 0; r < nr; r++) {
    float *yr = y + (int64_t)r * M;
    int j = 0;
    for (; j + 8 <= M; j += 8)
      eb__v8_store(yr + j, eb__v8_max(eb__v8_load(yr + j), z) + eps);
    for (; j < M; j++)
      yr[j] = (yr[j] > 0 ? yr[j] : 0.0f) + FAVOR_RELU_EPS;
    if (mt && !mt[r]) memset(yr, 0, (size_t)M * sizeof(float));
  }
}

/* softmax backward: dp = g∘phi, and (rs != NULL) the row sums of dp */
EB_CLONES
static void favor_soft_bwd_tile(const float *f, const float *g, float *dp, float *rs,
                                int nr, int M) {
  for (int r = 0; r < nr; r++) {
    const int64_t o = (int64_t)r * M;
    eb_v8f acc = eb__v8_splat(0.0f);
    int j = 0;
    for (; j + 8 <= M; j += 8) {
      const eb_v8f p = eb__v8_load(g + o + j) * eb__v8_load(f + o + j);
      eb__v8_store(dp + o + j, p);
      acc += p;
    }
    float s = eb__v8_hsum(acc);
    for (; j < M; j++) {
      dp[o + j] = g[o + j] * f[o + j];
      s += dp[o + j];
    }
    if (rs) rs[r] = s;
  }
}

/* relu backward: dp = phi > eps ? g : 0 */
EB_CLONES
static void favor_relu_bwd_tile(const float *f, const float *g, float *dp, int nr,
                                int M) {
  const eb_v8f z = eb__v8_splat(0.0f), eps = eb__v8_splat(FAVOR_RELU_EPS);
  const int64_t n = (int64_t)nr * M;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    eb__v8_store(dp + j, eb__v8_sel(eb__v8_load(f + j) > eps, eb__v8_load(g + j), z));
  for (; j < n; j++)
    dp[j] = f[j] > FAVOR_RELU_EPS ? g[j] : 0.0f;
}

/* ------------------------------------------------------------- backward -- */

static void favor_backward(eb_ctx *ctx, eb_node *nd) {
  eb_tensor *x = nd->in[0], *w = nd->in[1], *y = nd->out;
  const favor_dims d = favor_dims_of(x, w);
  const int soft = nd->iarg[0] == EB_FAVOR_SOFTMAX, M = d.M, K = d.K;
  const int needx = x->requires_grad, needw = w->requires_grad;
  const float c = powf((float)K, -0.25f), c2 = c * c;
  const double S = (double)d.rows * M;
  const float *phi = y->data, *g = y->grad;
  int fail = 0, fresh = 0;
  /* dW needs every row's g∘phi for one shape-determined GEMM (same bits for
   * any thread count); without it each thread reuses one tile of scratch */
  const int T = eb__nthreads();
  const int64_t tile = (int64_t)d.tr * M;
  float *dp = eb_alloc(ctx, (size_t)(needw ? d.rows * M : T * tile) * sizeof(float));
  float *rs = soft && needx ? eb_alloc(ctx, (size_t)T * d.tr * sizeof(float)) : NULL;
  if (!dp || (soft && needx && !rs)) {
    eb_ctx_fail(ctx, EB_NOMEM, "favor_features backward: out of memory");
    return;
  }
  float *dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail) return;
  eb__blas_serial();
  EB_OMP("omp parallel for schedule(static) if (S > EB_PAR_MIN)")
  for (int64_t t = 0; t < d.ntiles; t++) {
    int nr;
    const uint8_t *mt;
    const int64_t r0 = favor_tile(&d, t, &nr, NULL, &mt);
    const int th = eb__thread_id();
    float *dpt = needw ? dp + r0 * M : dp + th * tile;
    float *rst = rs ? rs + (int64_t)th * d.tr : NULL;
    if (soft)
      favor_soft_bwd_tile(phi + r0 * M, g + r0 * M, dpt, rst, nr, M);
    else
      favor_relu_bwd_tile(phi + r0 * M, g + r0 * M, dpt, nr, M);
    if (!dx) continue;
    float *dxt = dx + r0 * K;
    const float *xt = x->data + r0 * K;
    if (soft) /* dx (+)= -c^2 (Σ_j g_j phi_j) x */
      for (int r = 0; r < nr; r++) {
        const float a = -c2 * rst[r];
        for (int k = 0; k < K; k++)
          dxt[r * K + k] = (fresh ? 0.0f : dxt[r * K + k]) + a * xt[r * K + k];
      }
    /* dx (+)= c dp W */
    eb__gemm_tile(ctx, 0, 0, nr, K, M, c, dpt, M, w->data, K,
                  soft || !fresh ? 1.0f : 0.0f, dxt, K);
  }
  double fl = 0;
  if (soft) fl += S + (needx ? S + 2.0 * d.rows * K : 0); /* g∘phi; row sums, ·x, add */
  if (needx) fl += 2.0 * S * K + (double)d.rows * K;      /* GEMM + alpha */
  if (needw) {
    float *dw = eb__grad_if(ctx, w, &fail);
    if (fail) return;
    /* dW += c dp^T x */
    eb__gemm(ctx, 1, 0, M, K, (int)d.rows, c, dp, M, x->data, K, 1.0f, dw, K);
    fl += 2.0 * S * K + (double)M * K;
  }
  eb_ctx_add_flops(ctx, 0, fl);
  /* phi and dy read; dx: x and w read, dx written (+ read); dw: g∘phi written
   * and read back, x read, dw read and written */
  const double xs = (double)d.rows * K, ws = (double)M * K;
  eb__moved(ctx, 2.0 * S + (needx ? xs + ws + (fresh ? 1 : 2) * xs : 0) +
                     (needw ? 2.0 * S + (needx ? 0 : xs) + 2.0 * ws : 0));
}

/* -------------------------------------------------------------- forward -- */

eb_tensor *eb_favor_features(eb_ctx *ctx, eb_tensor *x, eb_tensor *w,
                             eb_favor_kernel kernel, int keys, const uint8_t *mask) {
  if (!x || !w) return NULL;
  if (x->ndim != 4 || w->ndim != 2 || w->shape[1] != x->shape[3] ||
      (kernel != EB_FAVOR_SOFTMAX && kernel != EB_FAVOR_RELU)) {
    eb_ctx_fail(ctx, EB_SHAPE,
                "favor_features: want x[B,H,N,Dh], w[M,Dh] and kernel softmax or "
                "relu; got x %s, w %s, kernel %d",
                EB_SHAPE(x), EB_SHAPE(w), (int)kernel);
    return NULL;
  }
  const favor_dims d = favor_dims_of(x, w);
  const int M = d.M, K = d.K, soft = kernel == EB_FAVOR_SOFTMAX;
  const int skeys = soft && keys; /* the only variant with a (b,h)-wide stabiliser */
  const float c = powf((float)K, -0.25f), c2 = c * c, lnr = 0.5f * logf((float)M);
  const double S = (double)d.rows * M;
  eb_tensor *y = eb_tensor_new(ctx, 4, (int[]){d.B, d.H, d.N, M});
  if (!y) return NULL;
  float *diag = NULL, *tmax = NULL;
  if (skeys) {
    diag = eb_alloc(ctx, (size_t)d.rows * sizeof(float));
    tmax = eb_alloc(ctx, (size_t)d.ntiles * sizeof(float));
    if (!diag || !tmax) return NULL;
  }
  eb__blas_serial();
  EB_OMP("omp parallel for schedule(static) if (S > EB_PAR_MIN)")
  for (int64_t t = 0; t < d.ntiles; t++) {
    int nr;
    const uint8_t *mt;
    const int64_t r0 = favor_tile(&d, t, &nr, mask, &mt);
    float *yt = y->data + r0 * M;
    /* y = c x W^T */
    eb__gemm_tile(ctx, 0, 1, nr, M, K, c, x->data + r0 * K, K, w->data, K, 0.0f, yt, M);
    if (!soft)
      favor_relu_tile(yt, nr, M, mt);
    else if (!keys)
      favor_query_tile(yt, nr, M, lnr, mt);
    else
      tmax[t] = favor_key_tile_max(yt, x->data + r0 * K, nr, M, K, c2, mt, diag + r0);
  }
  if (skeys) {
    EB_OMP("omp parallel for schedule(static) if (S > EB_PAR_MIN)")
    for (int64_t t = 0; t < d.ntiles; t++) {
      const int64_t t0 = t / d.tpg * d.tpg; /* the (b,h)'s first tile */
      float s = -INFINITY;
      for (int64_t u = t0; u < t0 + d.tpg; u++)
        s = tmax[u] > s ? tmax[u] : s;
      if (s == -INFINITY) s = 0; /* no real key: every row is padding (phi = 0) */
      int nr;
      const uint8_t *mt;
      const int64_t r0 = favor_tile(&d, t, &nr, mask, &mt);
      favor_key_tile_exp(y->data + r0 * M, nr, M, s + lnr, diag + r0, mt);
    }
  }
  /* GEMM 2SK, alpha c S; softmax: max, subtract, exp 3S (+ |x|^2 2RK for keys);
   * relu: max, + eps 2S */
  double fl = 2.0 * S * K + S + (soft ? 3.0 * S : 2.0 * S);
  if (skeys) fl += 2.0 * d.rows * K;
  eb_ctx_add_flops(ctx, fl, 0);
  /* x and w read, phi written (the keys' row terms written and read back) */
  eb__moved(ctx, (double)d.rows * K + (double)M * K + S + (skeys ? 2.0 * d.rows : 0));
  eb_tensor *in[2] = {x, w};
  eb_node *nd = eb_tape_record(ctx, favor_backward, y, 2, in);
  if (nd) nd->iarg[0] = (int)kernel;
  return y;
}
