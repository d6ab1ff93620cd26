/* Sequence ops for the efficient architectures: depthwise causal conv1d,
 * padding-aware average pooling, row gather / scatter-add (token routing) and
 * the Mamba-1 selective scan with chunk-checkpointed backward.
 *
 * Determinism: every parallel loop gives each output element to exactly one
 * iteration, and every reduction runs in an order fixed by the data layout,
 * never by the thread count. FLOP counts are in docs/flops.md (add, mul, div
 * and exp count 1 each, so a multiply-add counts 2). */
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "effbench/core.h"
#include "internal.h"
#include "ops_util.h"

static int max_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

static int thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* Gradient buffer or an error naming the op (eb_backward stops on error). */
static float *grad_of(eb_ctx *ctx, eb_tensor *t, const char *op) {
  float *g = eb_tensor_grad(ctx, t);
  if (!g) eb_ctx_fail(ctx, EB_NOMEM, "%s backward: out of memory for a gradient", op);
  return g;
}

static void *alloc_or_error(eb_ctx *ctx, size_t bytes, const char *op) {
  void *p = eb_alloc(ctx, bytes);
  if (!p) eb_ctx_fail(ctx, EB_NOMEM, "%s: out of memory (%zu bytes)", op, bytes);
  return p;
}

/* ------------------------------------------------ depthwise causal conv1d -- */

/* Number of (t, j) taps that land inside the sequence: sum_t min(K, t+1). */
static int64_t conv_taps(int N, int K) {
  if (N <= K) return (int64_t)N * (N + 1) / 2;
  return (int64_t)K * (K + 1) / 2 + (int64_t)(N - K) * K;
}

/* w[C,K] -> wT[K,C] so the inner loops run over contiguous channels. */
static float *conv_transpose_w(eb_ctx *ctx, const eb_tensor *w, int C, int K) {
  float *wT = alloc_or_error(ctx, (size_t)K * C * sizeof(float), "conv1d_causal_dw");
  if (!wT) return NULL;
  for (int c = 0; c < C; c++)
    for (int j = 0; j < K; j++)
      wT[(int64_t)j * C + c] = w->data[(int64_t)c * K + j];
  return wT;
}

#define CONV_CBLOCK 32

/* x[B,N,C], w[C,K], b[C] -> dx, dw, db */
static void conv1d_backward(eb_ctx *ctx, eb_node *node) {
  eb_tensor *x = node->in[0], *w = node->in[1], *bias = node->in[2];
  const int B = x->shape[0], N = x->shape[1], C = x->shape[2], K = w->shape[1];
  const float *dy = node->out->grad;
  double flops = 0;
  if (x->requires_grad) {
    float *gx = grad_of(ctx, x, "conv1d_causal_dw");
    float *wT = gx ? conv_transpose_w(ctx, w, C, K) : NULL;
    if (!wT) return;
    /* gather form: dx[b,tau,c] = sum_j w[c,j] dy[b,tau+K-1-j,c] */
    EB_OMP("omp parallel for schedule(static) if ((int64_t)B * N * C * K > EB_PAR_MIN)")
    for (int64_t row = 0; row < (int64_t)B * N; row++) {
      const int b = (int)(row / N), tau = (int)(row % N);
      float *g = gx + row * C;
      for (int j = 0; j < K; j++) {
        const int t = tau + K - 1 - j;
        if (t >= N) continue;
        const float *dyr = dy + ((int64_t)b * N + t) * C, *wj = wT + (int64_t)j * C;
        for (int c = 0; c < C; c++)
          g[c] += wj[c] * dyr[c];
      }
    }
    flops += 2.0 * B * C * (double)conv_taps(N, K);
  }
  const int needw = w->requires_grad, needb = bias && bias->requires_grad;
  if (needw || needb) {
    float *gw = needw ? grad_of(ctx, w, "conv1d_causal_dw") : NULL;
    float *gb = needb ? grad_of(ctx, bias, "conv1d_causal_dw") : NULL;
    if ((needw && !gw) || (needb && !gb)) return;
    const int nblk = (C + CONV_CBLOCK - 1) / CONV_CBLOCK;
    /* channel blocks own their dw rows and db entries; each is summed over
     * (b, t, j) in a fixed order */
    EB_OMP("omp parallel for schedule(static) if ((int64_t)B * N * C * K > EB_PAR_MIN)")
    for (int blk = 0; blk < nblk; blk++) {
      const int c0 = blk * CONV_CBLOCK;
      const int c1 = c0 + CONV_CBLOCK < C ? c0 + CONV_CBLOCK : C;
      for (int b = 0; b < B; b++)
        for (int t = 0; t < N; t++) {
          const float *dyr = dy + ((int64_t)b * N + t) * C;
          if (gb)
            for (int c = c0; c < c1; c++)
              gb[c] += dyr[c];
          if (!gw) continue;
          for (int j = 0; j < K; j++) {
            const int tau = t - K + 1 + j;
            if (tau < 0) continue;
            const float *xr = x->data + ((int64_t)b * N + tau) * C;
            for (int c = c0; c < c1; c++)
              gw[(int64_t)c * K + j] += dyr[c] * xr[c];
          }
        }
    }
    if (needw) flops += 2.0 * B * C * (double)conv_taps(N, K);
    if (needb) flops += (double)B * N * C;
  }
  eb_ctx_add_flops(ctx, 0, flops);
  /* dy read; dx: w read, dx read and written; dw: x read, dw read and
   * written; db read and written */
  const double bnc = (double)B * N * C, ck = (double)C * K;
  eb__moved(ctx, bnc + (x->requires_grad ? ck + 2 * bnc : 0) +
                     (w->requires_grad ? bnc + 2 * ck : 0) + (needb ? 2.0 * C : 0));
}

/* x[B,N,C], w[C,K], b[C] or NULL -> y[B,N,C],
 * y[b,t,c] = b[c] + sum_{j<K} w[c,j] x[b,t-K+1+j,c]   (zero left padding) */
eb_tensor *eb_conv1d_causal_dw(eb_ctx *ctx, eb_tensor *x, eb_tensor *w, eb_tensor *b) {
  if (!x || !w) return NULL;
  if (x->ndim != 3 || w->ndim != 2 || w->shape[0] != x->shape[2] ||
      (b && (b->ndim != 1 || b->shape[0] != x->shape[2]))) {
    eb_ctx_fail(ctx, EB_SHAPE,
                "conv1d_causal_dw: want x[B,N,C], w[C,K], b[C]; got x %s, w %s, b %s",
                EB_SHAPE(x), EB_SHAPE(w), b ? EB_SHAPE(b) : "NULL");
    return NULL;
  }
  const int B = x->shape[0], N = x->shape[1], C = x->shape[2], K = w->shape[1];
  eb_tensor *y = eb_tensor_new(ctx, 3, x->shape);
  float *wT = y ? conv_transpose_w(ctx, w, C, K) : NULL;
  if (!wT) return NULL;
  EB_OMP("omp parallel for schedule(static) if ((int64_t)B * N * C * K > EB_PAR_MIN)")
  for (int64_t row = 0; row < (int64_t)B * N; row++) {
    const int bb = (int)(row / N), t = (int)(row % N);
    float *yr = y->data + row * C;
    if (b)
      memcpy(yr, b->data, (size_t)C * sizeof(float));
    else
      memset(yr, 0, (size_t)C * sizeof(float));
    for (int j = 0; j < K; j++) {
      const int tau = t - K + 1 + j;
      if (tau < 0) continue;
      const float *xr = x->data + ((int64_t)bb * N + tau) * C, *wj = wT + (int64_t)j * C;
      for (int c = 0; c < C; c++)
        yr[c] += wj[c] * xr[c];
    }
  }
  eb_ctx_add_flops(ctx, 2.0 * B * C * (double)conv_taps(N, K), 0);
  /* x, w (and b) read, y written */
  eb__moved(ctx, 2.0 * B * N * C + (double)C * K + (b ? C : 0));
  eb_tensor *ins[3] = {x, w, b};
  eb_tape_record(ctx, conv1d_backward, y, 3, ins);
  return y;
}

/* ------------------------------------------------------------- avgpool1d -- */

typedef struct pool_saved {
  float *inv;    /* [B*N] 1/count of real tokens in the window (0 if none) */
  uint8_t *mask; /* [B*N] copy, NULL = all real */
} pool_saved;

/* in-range window [lo, hi] of position t, radius r */
static inline void pool_window(int t, int r, int N, int *lo, int *hi) {
  *lo = t - r < 0 ? 0 : t - r;
  *hi = t + r > N - 1 ? N - 1 : t + r;
}

static void avgpool_dx(eb_ctx *ctx, const pool_saved *sv, float *gx, int fresh,
                       const float *dy, int B, int N, int D, int r, int sub);

/* x[B,N,D] -> dx[b,tau] = [tau real] sum_{|t-tau|<=r} inv[b,t] dy[b,t]
 * (- dy[b,tau] with sub); dres (+)= dy with a residual */
static void avgpool_backward(eb_ctx *ctx, eb_node *node) {
  eb_tensor *x = node->in[0], *res = node->in[1];
  const pool_saved *sv = node->saved;
  const int B = x->shape[0], N = x->shape[1], D = x->shape[2], r = node->iarg[0] / 2;
  const int sub = node->iarg[1];
  const float *dy = node->out->grad;
  int fail = 0, fresh = 0;
  float *gx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail) return;
  /* the residual last: res may be x itself, whose buffer the loop below
   * initialises when fresh */
  if (gx) avgpool_dx(ctx, sv, gx, fresh, dy, B, N, D, r, sub);
  if (res) eb__residual_backward(ctx, res, node->out);
}

/* dx of avgpool_backward ((+)= when !fresh) */
static void avgpool_dx(eb_ctx *ctx, const pool_saved *sv, float *gx, int fresh,
                       const float *dy, int B, int N, int D, int r, int sub) {
  int64_t terms = 0;
  for (int64_t row = 0; row < (int64_t)B * N; row++) {
    if (sv->mask && !sv->mask[row]) continue;
    int lo, hi;
    pool_window((int)(row % N), r, N, &lo, &hi);
    terms += hi - lo + 1;
  }
  const int64_t BN = (int64_t)B * N;
  /* one pass over the rows of dx: a new buffer is zeroed row by row (in cache) */
  EB_OMP("omp parallel for schedule(static) if (BN * D > EB_PAR_MIN)")
  for (int64_t row = 0; row < BN; row++) {
    float *g = gx + row * D;
    if (fresh) memset(g, 0, (size_t)D * sizeof(float));
    if (!sv->mask || sv->mask[row]) {
      const int64_t b = row / N;
      int lo, hi;
      pool_window((int)(row % N), r, N, &lo, &hi);
      for (int t = lo; t <= hi; t++) {
        const float s = sv->inv[b * N + t];
        const float *dyr = dy + (b * N + t) * D;
        for (int d = 0; d < D; d++)
          g[d] += s * dyr[d];
      }
    }
    if (sub) { /* the "- x" term, on every row (padding too) */
      const float *dyr = dy + row * D;
      for (int d = 0; d < D; d++)
        g[d] -= dyr[d];
    }
  }
  /* as avgpool's backward, plus eb_sub's (both input gradients) */
  eb_ctx_add_flops(ctx, 0, 2.0 * (double)terms * D + (sub ? 2.0 * BN * D : 0));
  /* dy read, dx written (and read when accumulating); the window weights read */
  eb__moved(ctx, (2.0 + !fresh) * BN * D + BN);
}

/* x[B,N,D], mask[B*N] (1 = real, NULL = all) -> y[B,N,D],
 * y[b,t] = mean of x[b,tau] over real tau in [t-pool/2, t+pool/2] ∩ [0,N), 0 if none,
 * minus x[b,t] when sub is set */
static eb_tensor *avgpool(eb_ctx *ctx, eb_tensor *x, int pool, const uint8_t *mask,
                          int sub, eb_tensor *res) {
  if (!x) return NULL;
  if (res && !eb__same_shape(res, x)) {
    eb_ctx_fail(ctx, EB_SHAPE, "avgpool1d_sub: residual %s must have x's shape %s",
                EB_SHAPE(res), EB_SHAPE(x));
    return NULL;
  }
  if (x->ndim != 3 || pool < 1 || pool % 2 == 0) {
    eb_ctx_fail(ctx, EB_SHAPE,
                "avgpool1d: want x[B,N,D] and an odd pool >= 1; got x %s, pool %d",
                EB_SHAPE(x), pool);
    return NULL;
  }
  const int B = x->shape[0], N = x->shape[1], D = x->shape[2], r = pool / 2;
  const int64_t BN = (int64_t)B * N;
  eb_tensor *y = eb_tensor_new(ctx, 3, x->shape);
  float *inv = y ? alloc_or_error(ctx, (size_t)BN * sizeof(float), "avgpool1d") : NULL;
  if (!inv) return NULL;
  /* counts first (cheap, serial) so the FLOP count is exact */
  int64_t terms = 0, nonempty = 0;
  for (int64_t row = 0; row < BN; row++) {
    const int64_t b = row / N;
    int lo, hi, cnt = 0;
    pool_window((int)(row % N), r, N, &lo, &hi);
    for (int t = lo; t <= hi; t++)
      cnt += mask ? (mask[b * N + t] != 0) : 1;
    terms += cnt;
    nonempty += cnt > 0;
    inv[row] = cnt > 0 ? 1.0f / (float)cnt : 0.0f;
  }
  EB_OMP("omp parallel for schedule(static) if (terms * D > EB_PAR_MIN)")
  for (int64_t row = 0; row < BN; row++) {
    const int64_t b = row / N;
    int lo, hi;
    pool_window((int)(row % N), r, N, &lo, &hi);
    float *yr = y->data + row * D;
    memset(yr, 0, (size_t)D * sizeof(float));
    for (int t = lo; t <= hi; t++) {
      if (mask && !mask[b * N + t]) continue;
      const float *xr = x->data + (b * N + t) * D;
      for (int d = 0; d < D; d++)
        yr[d] += xr[d];
    }
    if (inv[row] != 0.0f)
      for (int d = 0; d < D; d++)
        yr[d] *= inv[row];
    if (sub) {
      const float *xr = x->data + row * D;
      for (int d = 0; d < D; d++)
        yr[d] -= xr[d];
    }
    if (res) { /* res + mix, as eb_add(res, mix) */
      const float *rr = res->data + row * D;
      for (int d = 0; d < D; d++)
        yr[d] = rr[d] + yr[d];
    }
  }
  /* the subtraction and the residual add counted as eb_sub's and eb_add's */
  eb_ctx_add_flops(ctx,
                   (double)terms * D + (double)nonempty * (D + 1) + (sub ? BN * D : 0) +
                       (res ? BN * D : 0),
                   0);
  /* x read once (a window's rows are in cache), y written, the window weights
   * written, the residual read */
  eb__moved(ctx, 2.0 * BN * D + BN + (res ? BN * D : 0));
  eb_tensor *in[2] = {x, res};
  eb_node *node = eb_tape_record(ctx, avgpool_backward, y, res ? 2 : 1, in);
  if (node) {
    pool_saved *sv = alloc_or_error(ctx, sizeof *sv, "avgpool1d");
    if (!sv) return NULL;
    sv->inv = inv;
    sv->mask = NULL;
    if (mask) {
      sv->mask = alloc_or_error(ctx, (size_t)BN, "avgpool1d");
      if (!sv->mask) return NULL;
      memcpy(sv->mask, mask, (size_t)BN);
    }
    node->saved = sv;
    node->iarg[0] = pool;
    node->iarg[1] = sub;
  }
  return y;
}

eb_tensor *eb_avgpool1d(eb_ctx *ctx, eb_tensor *x, int pool, const uint8_t *mask) {
  return avgpool(ctx, x, pool, mask, 0, NULL);
}

/* x[B,N,D], res[B,N,D] or NULL -> res + avgpool(x) - x in one pass (PoolFormer's
 * token mixer and its residual add) */
eb_tensor *eb_avgpool1d_sub(eb_ctx *ctx, eb_tensor *x, int pool, const uint8_t *mask,
                            eb_tensor *res) {
  return avgpool(ctx, x, pool, mask, 1, res);
}

/* -------------------------------------------------- gather / scatter rows -- */

static int check_idx(eb_ctx *ctx, const char *op, const int32_t *idx, int n, int64_t R) {
  for (int i = 0; i < n; i++)
    if (idx[i] < 0 || idx[i] >= R) {
      eb_ctx_fail(ctx, EB_SHAPE, "%s: idx[%d] = %d outside [0,%lld)", op, i, (int)idx[i],
                  (long long)R);
      return -1;
    }
  return 0;
}

static int32_t *copy_idx(eb_ctx *ctx, const char *op, const int32_t *idx, int n) {
  int32_t *c = alloc_or_error(ctx, (size_t)n * sizeof(int32_t), op);
  if (c) memcpy(c, idx, (size_t)n * sizeof(int32_t));
  return c;
}

/* out[n,D] -> dx[R,D]: dx[idx[i]] += dout[i], i ascending */
static void gather_backward(eb_ctx *ctx, eb_node *node) {
  eb_tensor *x = node->in[0];
  const int32_t *idx = node->saved;
  const int n = node->iarg[0], D = eb__last(x);
  const float *dy = node->out->grad;
  float *gx = grad_of(ctx, x, "gather_rows");
  if (!gx) return;
  for (int i = 0; i < n; i++) {
    float *g = gx + (int64_t)idx[i] * D;
    const float *d = dy + (int64_t)i * D;
    for (int k = 0; k < D; k++)
      g[k] += d[k];
  }
  eb_ctx_add_flops(ctx, 0, (double)n * D);
  eb__moved(ctx, 3.0 * n * D + n); /* dy, idx read; the rows of dx read and written */
}

/* x[R,D] (leading dims flattened), idx[n] in [0,R) -> out[n,D] */
eb_tensor *eb_gather_rows(eb_ctx *ctx, eb_tensor *x, const int32_t *idx, int n) {
  if (!x) return NULL;
  if (!idx || n < 1) {
    eb_ctx_fail(ctx, EB_SHAPE, "gather_rows: want idx != NULL and n >= 1; got x %s, n %d",
                EB_SHAPE(x), n);
    return NULL;
  }
  const int64_t R = eb__rows(x);
  const int D = eb__last(x);
  if (check_idx(ctx, "gather_rows", idx, n, R)) return NULL;
  eb_tensor *y = eb_tensor_new(ctx, 2, (int[]){n, D});
  if (!y) return NULL;
  for (int i = 0; i < n; i++)
    memcpy(y->data + (int64_t)i * D, x->data + (int64_t)idx[i] * D,
           (size_t)D * sizeof(float));
  eb__moved(ctx, 2.0 * n * D + n); /* rows and idx read, y written */
  eb_node *node = eb_tape_record(ctx, gather_backward, y, 1, &x);
  if (node) {
    node->saved = copy_idx(ctx, "gather_rows", idx, n);
    if (!node->saved) return NULL;
    node->iarg[0] = n;
  }
  return y;
}

typedef struct scatter_saved {
  int32_t *idx;
  float *w; /* NULL = 1 */
} scatter_saved;

/* out[rows,D] -> dsrc[n,D]: dsrc[i] += w[i] dout[idx[i]] */
static void scatter_backward(eb_ctx *ctx, eb_node *node) {
  eb_tensor *src = node->in[0];
  const scatter_saved *sv = node->saved;
  const int n = node->iarg[0], D = eb__last(src);
  const float *dy = node->out->grad;
  float *gs = grad_of(ctx, src, "scatter_add_rows");
  if (!gs) return;
  EB_OMP("omp parallel for schedule(static) if ((int64_t)n * D > EB_PAR_MIN)")
  for (int i = 0; i < n; i++) {
    float *g = gs + (int64_t)i * D;
    const float *d = dy + (int64_t)sv->idx[i] * D;
    if (sv->w) {
      const float wi = sv->w[i];
      for (int k = 0; k < D; k++)
        g[k] += wi * d[k];
    } else {
      for (int k = 0; k < D; k++)
        g[k] += d[k];
    }
  }
  eb_ctx_add_flops(ctx, 0, (sv->w ? 2.0 : 1.0) * n * D);
  /* the rows of dy, idx (and w) read, dsrc read and written */
  eb__moved(ctx, 3.0 * n * D + (sv->w ? 2.0 : 1.0) * n);
}

/* src[n,D] (leading dims flattened), idx[n] in [0,rows), w[n] or NULL -> out[rows,D],
 * out = 0; out[idx[i]] += w[i] src[i], i ascending (w carries no gradient) */
eb_tensor *eb_scatter_add_rows(eb_ctx *ctx, eb_tensor *src, const int32_t *idx,
                               const float *w, int rows) {
  if (!src) return NULL;
  const int64_t n64 = eb__rows(src);
  const int D = eb__last(src);
  if (!idx || rows < 1 || n64 > INT32_MAX) {
    eb_ctx_fail(ctx, EB_SHAPE,
                "scatter_add_rows: want idx != NULL, rows >= 1; got src %s, rows %d",
                EB_SHAPE(src), rows);
    return NULL;
  }
  const int n = (int)n64;
  if (check_idx(ctx, "scatter_add_rows", idx, n, rows)) return NULL;
  eb_tensor *y = eb_tensor_zeros(ctx, 2, (int[]){rows, D});
  if (!y) return NULL;
  for (int i = 0; i < n; i++) {
    float *o = y->data + (int64_t)idx[i] * D;
    const float *s = src->data + (int64_t)i * D;
    if (w) {
      const float wi = w[i];
      for (int k = 0; k < D; k++)
        o[k] += wi * s[k];
    } else {
      for (int k = 0; k < D; k++)
        o[k] += s[k];
    }
  }
  eb_ctx_add_flops(ctx, (w ? 2.0 : 1.0) * n * D, 0);
  /* src, idx (and w) read, out written */
  eb__moved(ctx, (double)n * D + (double)rows * D + (w ? 2.0 : 1.0) * n);
  eb_node *node = eb_tape_record(ctx, scatter_backward, y, 1, &src);
  if (node) {
    scatter_saved *sv = alloc_or_error(ctx, sizeof *sv, "scatter_add_rows");
    if (!sv || !(sv->idx = copy_idx(ctx, "scatter_add_rows", idx, n))) return NULL;
    sv->w = NULL;
    if (w) {
      sv->w = alloc_or_error(ctx, (size_t)n * sizeof(float), "scatter_add_rows");
      if (!sv->w) return NULL;
      memcpy(sv->w, w, (size_t)n * sizeof(float));
    }
    node->saved = sv;
    node->iarg[0] = n;
  }
  return y;
}

/* ------------------------------------------------------- selective scan ---- */

/* Checkpoint spacing L: 0 = automatic, max(64, ceil(sqrt(N))). */
static int g_scan_chunk = 0;

void eb__scan_set_chunk(int chunk) { g_scan_chunk = chunk > 0 ? chunk : 0; }

static int scan_chunk_len(int N) {
  int L = g_scan_chunk;
  if (L <= 0) {
    L = (int)ceil(sqrt((double)N));
    if (L < 64) L = 64;
  }
  return L < N ? L : N;
}

/* One state update, shared by forward and backward recomputation so both produce
 * bit-identical states. */
static inline float scan_state(float a, float hprev, float dtu, float b) {
  return a * hprev + dtu * b;
}

typedef struct scan_saved {
  float *ckpt; /* [B,C,nk,S]: state h_{kL-1} entering chunk k (zero for k = 0) */
  int L, nk;
} scan_saved;

/* Reverse-time adjoint, per (b, c), chunk by chunk from the last:
 *   recompute h, a = exp(delta A) of the chunk from its checkpoint, then for t
 *   descending:  dh += dy_t C_t;  g = dh h_{t-1} a;  dA += g delta_t;
 *   ddelta_t = sum_s g A + dh B_t u_t;  du_t = dy_t D + sum_s dh B_t delta_t;
 *   dB_t += dh delta_t u_t;  dC_t += dy_t h_t;  dD += dy_t u_t;  dh = a dh.
 * Parallel over b only: dBm[b], dCm[b] and the per-b partials of dA, dD belong
 * to one iteration; the partials are summed in b order afterwards. */
static void scan_backward(eb_ctx *ctx, eb_node *node) {
  const char *op = "selective_scan";
  eb_tensor *u = node->in[0], *delta = node->in[1], *A = node->in[2], *Bm = node->in[3],
            *Cm = node->in[4], *Dp = node->in[5];
  const scan_saved *sv = node->saved;
  const int B = u->shape[0], N = u->shape[1], C = u->shape[2], S = A->shape[1];
  const int L = sv->L, nk = sv->nk;
  const float *dy = node->out->grad;
  const int needU = u->requires_grad, needDt = delta->requires_grad,
            needA = A->requires_grad, needB = Bm->requires_grad,
            needC = Cm->requires_grad, needD = Dp && Dp->requires_grad;
  float *gu = needU ? grad_of(ctx, u, op) : NULL;
  float *gdt = needDt ? grad_of(ctx, delta, op) : NULL;
  float *gA = needA ? grad_of(ctx, A, op) : NULL;
  float *gB = needB ? grad_of(ctx, Bm, op) : NULL;
  float *gC = needC ? grad_of(ctx, Cm, op) : NULL;
  float *gD = needD ? grad_of(ctx, Dp, op) : NULL;
  if ((needU && !gu) || (needDt && !gdt) || (needA && !gA) || (needB && !gB) ||
      (needC && !gC) || (needD && !gD))
    return;
  const int T = max_threads();
  const size_t per = (size_t)2 * L * S + 2 * (size_t)S; /* hbuf, abuf, dh, dA acc */
  float *scratch = alloc_or_error(ctx, (size_t)T * per * sizeof(float), op);
  float *dAb = needA ? alloc_or_error(ctx, (size_t)B * C * S * sizeof(float), op) : NULL;
  float *dDb = needD ? alloc_or_error(ctx, (size_t)B * C * sizeof(float), op) : NULL;
  if (!scratch || (needA && !dAb) || (needD && !dDb)) return;
  const float *ud = u->data, *dd = delta->data, *Ad = A->data, *Bd = Bm->data,
              *Cd = Cm->data;
  const float *Dd = Dp ? Dp->data : NULL;

  EB_OMP("omp parallel for schedule(static) if ((int64_t)B * N * C * S > EB_PAR_MIN)")
  for (int b = 0; b < B; b++) {
    float *hbuf = scratch + (size_t)thread_id() * per;
    float *abuf = hbuf + (size_t)L * S, *dh = abuf + (size_t)L * S, *dAacc = dh + S;
    for (int c = 0; c < C; c++) {
      const float *Ac = Ad + (int64_t)c * S;
      const float Dc = Dd ? Dd[c] : 0.0f;
      float dDacc = 0.0f;
      memset(dh, 0, (size_t)S * sizeof(float));
      memset(dAacc, 0, (size_t)S * sizeof(float));
      for (int k = nk - 1; k >= 0; k--) {
        const int t0 = k * L, t1 = t0 + L < N ? t0 + L : N;
        const float *h0 = sv->ckpt + (((int64_t)b * C + c) * nk + k) * S;
        /* recompute the chunk's states exactly as the forward did */
        for (int t = t0; t < t1; t++) {
          const int64_t i = ((int64_t)b * N + t) * C + c;
          const float dt = dd[i], dtu = dt * ud[i];
          const float *Bt = Bd + ((int64_t)b * N + t) * S;
          const float *hp = t > t0 ? hbuf + (size_t)(t - t0 - 1) * S : h0;
          float *ht = hbuf + (size_t)(t - t0) * S, *at = abuf + (size_t)(t - t0) * S;
          for (int s = 0; s < S; s++) {
            at[s] = expf(dt * Ac[s]);
            ht[s] = scan_state(at[s], hp[s], dtu, Bt[s]);
          }
        }
        for (int t = t1 - 1; t >= t0; t--) {
          const int64_t i = ((int64_t)b * N + t) * C + c, bt = (int64_t)b * N + t;
          const float dyv = dy[i], ut = ud[i], dt = dd[i], dtu = dt * ut;
          float du = 0.0f, ddt = 0.0f;
          if (Dd) {
            du = dyv * Dc;
            if (needD) dDacc += dyv * ut;
          }
          const float *Bt = Bd + bt * S, *Ct = Cd + bt * S;
          const float *ht = hbuf + (size_t)(t - t0) * S,
                      *at = abuf + (size_t)(t - t0) * S;
          const float *hp = t > t0 ? ht - S : h0;
          float *gBt = gB ? gB + bt * S : NULL, *gCt = gC ? gC + bt * S : NULL;
          for (int s = 0; s < S; s++) {
            const float dhs = dh[s] + dyv * Ct[s];
            const float g = dhs * hp[s] * at[s];
            ddt += g * Ac[s];
            if (needA) dAacc[s] += g * dt;
            const float dhB = dhs * Bt[s];
            ddt += dhB * ut;
            du += dhB * dt;
            if (gBt) gBt[s] += dhs * dtu;
            if (gCt) gCt[s] += dyv * ht[s];
            dh[s] = at[s] * dhs;
          }
          if (gu) gu[i] += du;
          if (gdt) gdt[i] += ddt;
        }
      }
      if (dAb) memcpy(dAb + ((int64_t)b * C + c) * S, dAacc, (size_t)S * sizeof(float));
      if (dDb) dDb[(int64_t)b * C + c] = dDacc;
    }
  }
  if (gA)
    for (int64_t j = 0; j < (int64_t)C * S; j++) {
      float acc = gA[j];
      for (int b = 0; b < B; b++)
        acc += dAb[(int64_t)b * C * S + j];
      gA[j] = acc;
    }
  if (gD)
    for (int c = 0; c < C; c++) {
      float acc = gD[c];
      for (int b = 0; b < B; b++)
        acc += dDb[(int64_t)b * C + c];
      gD[c] = acc;
    }
  const double BNC = (double)B * N * C;
  double per_t = (1.0 + 5.0 * S)                                    /* recompute */
                 + 1.0 + S * (12.0 + 2.0 * (needA + needB + needC)) /* adjoint */
                 + (Dd ? 1.0 + 2.0 * needD : 0.0) + needU + needDt;
  double flops =
      BNC * per_t + (needA ? (double)B * C * S : 0.0) + (needD ? (double)B * C : 0.0);
  eb_ctx_add_flops(ctx, 0, flops);
  /* the chunk states and gates recomputed from the checkpoints: forward work */
  eb_ctx_add_recompute(ctx, BNC * (1.0 + 5.0 * S));
  /* u, delta, dy, Bm, Cm, A, D and the checkpoints read; each gradient read
   * and written (dA, dD through [B,...] partials written and read back) */
  const double BNS = (double)B * N * S, CS = (double)C * S;
  eb__moved(ctx, 3.0 * BNC + 2.0 * BNS + CS + (Dd ? C : 0) + (double)B * C * nk * S +
                     2.0 * BNC * (needU + needDt) + 2.0 * BNS * (needB + needC) +
                     (needA ? 2.0 * B * CS + 2.0 * CS : 0) +
                     (needD ? 2.0 * B * C + 2.0 * C : 0));
}

/* u, delta [B,N,C]; A [C,S]; Bm, Cm [B,N,S]; D [C] or NULL -> y [B,N,C]
 *   h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t;  y_t = C_t . h_t + D u_t
 * Saves only the states entering each chunk of L steps ([B,C,ceil(N/L),S]). */
eb_tensor *eb_selective_scan(eb_ctx *ctx, eb_tensor *u, eb_tensor *delta, eb_tensor *A,
                             eb_tensor *Bm, eb_tensor *Cm, eb_tensor *D) {
  const char *op = "selective_scan";
  if (!u || !delta || !A || !Bm || !Cm) return NULL;
  int ok =
      u->ndim == 3 && delta->ndim == 3 && A->ndim == 2 && Bm->ndim == 3 && Cm->ndim == 3;
  if (ok) {
    const int B = u->shape[0], N = u->shape[1], C = u->shape[2], S = A->shape[1];
    ok = delta->shape[0] == B && delta->shape[1] == N && delta->shape[2] == C &&
         A->shape[0] == C && Bm->shape[0] == B && Bm->shape[1] == N &&
         Bm->shape[2] == S && Cm->shape[0] == B && Cm->shape[1] == N &&
         Cm->shape[2] == S && (!D || (D->ndim == 1 && D->shape[0] == C));
  }
  if (!ok) {
    eb_ctx_fail(ctx, EB_SHAPE,
                "%s: want u, delta [B,N,C], A [C,S], Bm, Cm [B,N,S], D [C]; got u %s, "
                "delta %s, A %s, Bm %s, Cm %s, D %s",
                op, EB_SHAPE(u), EB_SHAPE(delta), EB_SHAPE(A), EB_SHAPE(Bm), EB_SHAPE(Cm),
                D ? EB_SHAPE(D) : "NULL");
    return NULL;
  }
  const int B = u->shape[0], N = u->shape[1], C = u->shape[2], S = A->shape[1];
  const int L = scan_chunk_len(N), nk = (N + L - 1) / L;
  eb_tensor *y = eb_tensor_new(ctx, 3, u->shape);
  if (!y) return NULL;
  eb_tensor *ins[6] = {u, delta, A, Bm, Cm, D};
  eb_node *node = eb_tape_record(ctx, scan_backward, y, 6, ins);
  scan_saved *sv = NULL;
  if (node) {
    sv = alloc_or_error(ctx, sizeof *sv, op);
    if (!sv) return NULL;
    sv->L = L;
    sv->nk = nk;
    sv->ckpt = alloc_or_error(ctx, (size_t)B * C * nk * S * sizeof(float), op);
    if (!sv->ckpt) return NULL;
    node->saved = sv;
  }
  float *ckpt = sv ? sv->ckpt : NULL;
  float *hs = alloc_or_error(ctx, (size_t)max_threads() * S * sizeof(float), op);
  if (!hs) return NULL;
  const float *ud = u->data, *dd = delta->data, *Ad = A->data, *Bd = Bm->data,
              *Cd = Cm->data;
  const float *Dd = D ? D->data : NULL;

  EB_OMP("omp parallel for schedule(static) if ((int64_t)B * N * C * S > EB_PAR_MIN)")
  for (int64_t bc = 0; bc < (int64_t)B * C; bc++) {
    const int64_t b = bc / C;
    const int c = (int)(bc % C);
    float *h = hs + (size_t)thread_id() * S;
    const float *Ac = Ad + (int64_t)c * S;
    memset(h, 0, (size_t)S * sizeof(float));
    for (int t = 0; t < N; t++) {
      if (ckpt && t % L == 0)
        memcpy(ckpt + (bc * nk + t / L) * S, h, (size_t)S * sizeof(float));
      const int64_t i = (b * N + t) * C + c, bt = b * N + t;
      const float dt = dd[i], dtu = dt * ud[i];
      const float *Bt = Bd + bt * S, *Ct = Cd + bt * S;
      float acc = 0.0f;
      for (int s = 0; s < S; s++) {
        const float a = expf(dt * Ac[s]);
        h[s] = scan_state(a, h[s], dtu, Bt[s]);
        acc += Ct[s] * h[s];
      }
      y->data[i] = Dd ? acc + Dd[c] * ud[i] : acc;
    }
  }
  eb_ctx_add_flops(ctx, (double)B * N * C * (1.0 + 7.0 * S + (Dd ? 2.0 : 0.0)), 0);
  /* u, delta, Bm, Cm, A, D read, y and the checkpoints written */
  eb__moved(ctx, 3.0 * B * N * C + 2.0 * B * N * S + (double)C * S + (Dd ? C : 0) +
                     (ckpt ? (double)B * C * nk * S : 0));
  return y;
}
