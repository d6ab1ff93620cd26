/* Neural-network ops: layernorm, softmax, embedding, dropout, pooling and the
 * cross-entropy loss. FLOP counts per element are documented in docs/flops.md;
 * per-row scalar work (a reciprocal, a square root) is not counted. */
#include <math.h>

#include "ops_util.h"

/* ---------------------------------------------------------- layernorm ---- */
#define LN_EPS 1e-5f

typedef struct ln_saved {
  float *mean, *rstd; /* [rows] */
} ln_saved;

/* Sum of xr[0..D) in a fixed order: 8 lanes over the multiple-of-8 part, the
 * lanes added pairwise, then the tail in order. */
EB_VINLINE float ln_sum(const float *xr, int D) {
  eb_v8f s = eb__v8_splat(0.0f);
  int j = 0;
  for (; j + 8 <= D; j += 8)
    s += eb__v8_load(xr + j);
  float t = eb__v8_hsum(s);
  for (; j < D; j++)
    t += xr[j];
  return t;
}

/* sum of (xr - mu)^2, same order as ln_sum */
EB_VINLINE float ln_sumsq(const float *xr, float mu, int D) {
  eb_v8f s = eb__v8_splat(0.0f), m = eb__v8_splat(mu);
  int j = 0;
  for (; j + 8 <= D; j += 8) {
    eb_v8f c = eb__v8_load(xr + j) - m;
    s += c * c;
  }
  float t = eb__v8_hsum(s);
  for (; j < D; j++)
    t += (xr[j] - mu) * (xr[j] - mu);
  return t;
}

/* Rows [r0, r1) of y = (x - mean) * rstd * gamma + beta; one read of each row
 * from memory (the row stays in L1 across the three sweeps). */
EB_CLONES_MEM
static void ln_fwd_rows(const float *X, const float *G, const float *Bt, float *Y,
                        float *mean, float *rstd, int64_t r0, int64_t r1, int D) {
  for (int64_t r = r0; r < r1; r++) {
    const float *xr = X + r * D;
    float *yr = Y + r * D;
    const float mu = ln_sum(xr, D) / (float)D;
    const float rs = 1.0f / sqrtf(ln_sumsq(xr, mu, D) / (float)D + LN_EPS);
    const eb_v8f m = eb__v8_splat(mu), s = eb__v8_splat(rs);
    int j = 0;
    for (; j + 8 <= D; j += 8)
      eb__v8_store(yr + j, (eb__v8_load(xr + j) - m) * s * eb__v8_load(G + j) +
                               eb__v8_load(Bt + j));
    for (; j < D; j++)
      yr[j] = (xr[j] - mu) * rs * G[j] + Bt[j];
    if (mean) {
      mean[r] = mu;
      rstd[r] = rs;
    }
  }
}

/* Rows [r0, r1) of the backward, one pass over x and dy:
 *   xh = (x - mean) rstd, g = dy gamma,
 *   dx (+)= rstd (g - mean_j(g) - xh mean_j(g xh)),
 *   pg[j] += dy xh, pb[j] += dy (this block's partial sums; NULL = not needed). */
EB_CLONES_MEM
static void ln_bwd_rows(const float *X, const float *G, const float *dy,
                        const float *mean, const float *rstd, float *dx, int acc,
                        float *pg, float *pb, int64_t r0, int64_t r1, int D) {
  for (int64_t r = r0; r < r1; r++) {
    const float *xr = X + r * D, *gr = dy + r * D;
    const float mu = mean[r], rs = rstd[r];
    const eb_v8f vm = eb__v8_splat(mu), vr = eb__v8_splat(rs);
    eb_v8f a1 = eb__v8_splat(0.0f), a2 = a1;
    int j = 0;
    for (; j + 8 <= D; j += 8) {
      const eb_v8f d = eb__v8_load(gr + j), xh = (eb__v8_load(xr + j) - vm) * vr;
      const eb_v8f g = d * eb__v8_load(G + j);
      a1 += g;
      a2 += g * xh;
      if (pg) eb__v8_store(pg + j, eb__v8_load(pg + j) + d * xh);
      if (pb) eb__v8_store(pb + j, eb__v8_load(pb + j) + d);
    }
    float s1 = eb__v8_hsum(a1), s2 = eb__v8_hsum(a2);
    const int jt = j;
    for (; j < D; j++) {
      const float xh = (xr[j] - mu) * rs, g = gr[j] * G[j];
      s1 += g;
      s2 += g * xh;
      if (pg) pg[j] += gr[j] * xh;
      if (pb) pb[j] += gr[j];
    }
    if (!dx) continue;
    const float m1 = s1 / (float)D, m2 = s2 / (float)D;
    const eb_v8f v1 = eb__v8_splat(m1), v2 = eb__v8_splat(m2);
    float *dxr = dx + r * D;
    for (j = 0; j < jt; j += 8) {
      const eb_v8f xh = (eb__v8_load(xr + j) - vm) * vr;
      const eb_v8f v = vr * (eb__v8_load(gr + j) * eb__v8_load(G + j) - v1 - xh * v2);
      eb__v8_store(dxr + j, acc ? eb__v8_load(dxr + j) + v : v);
    }
    for (; j < D; j++) {
      const float xh = (xr[j] - mu) * rs;
      const float v = rs * (gr[j] * G[j] - m1 - xh * m2);
      dxr[j] = acc ? dxr[j] + v : v;
    }
  }
}

static void layernorm_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2], *y = n->out;
  const ln_saved *sv = n->saved;
  int fail = 0, fresh = 0;
  float *dg = eb__grad_if(ctx, gamma, &fail);
  float *dbt = eb__grad_if(ctx, beta, &fail);
  float *dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail) return;
  const int64_t R = eb__rows(x), nb = eb__row_blocks(R);
  const int D = eb__last(x), acc = !fresh;
  /* per-block partial sums of dgamma and dbeta, added in block order below */
  float *part = NULL;
  if (dg || dbt) {
    part = eb_alloc(ctx, (size_t)nb * 2 * D * sizeof(float));
    if (!part) return;
    memset(part, 0, (size_t)nb * 2 * D * sizeof(float));
  }
  const float *X = x->data, *G = gamma->data, *dy = y->grad;
  EB_OMP("omp parallel for schedule(static) if (R * D > EB_PAR_MIN)")
  for (int64_t b = 0; b < nb; b++) {
    int64_t r0, r1;
    eb__row_block(b, R, &r0, &r1);
    float *pg = part && dg ? part + b * 2 * D : NULL;
    float *pb = part && dbt ? part + b * 2 * D + D : NULL;
    ln_bwd_rows(X, G, dy, sv->mean, sv->rstd, dx, acc, pg, pb, r0, r1, D);
  }
  if (part && dg) eb__add_partials(dg, part, nb, 2 * (int64_t)D, D);
  if (part && dbt) eb__add_partials(dbt, part + D, nb, 2 * (int64_t)D, D);
  const double fl = (double)R * D * ((dg ? 4 : 0) + (dbt ? 1 : 0) + (dx ? 14 : 0));
  eb_ctx_add_flops(ctx, 0, fl);
  /* x and dy read, dx written (read too when accumulating), gamma and the
   * per-row statistics read, the parameter gradients read and written */
  eb__moved(ctx, (double)R * D * (2 + (dx ? 1 + acc : 0)) + 2.0 * R + D +
                     2.0 * D * ((dg != NULL) + (dbt != NULL)));
}

/* x[...,D], gamma[D], beta[D] -> [...,D]: (x - mean) / sqrt(var + 1e-5) * gamma + beta */
eb_tensor *eb_layernorm(eb_ctx *ctx, eb_tensor *x, eb_tensor *gamma, eb_tensor *beta) {
  if (!x || !gamma || !beta) return NULL;
  int D = eb__last(x);
  if (gamma->size != D || beta->size != D) {
    eb_ctx_fail(ctx, EB_SHAPE, "layernorm: x %s needs gamma and beta [%d], got %s and %s",
                EB_SHAPE(x), D, EB_SHAPE(gamma), EB_SHAPE(beta));
    return NULL;
  }
  eb_tensor *y = eb_tensor_new(ctx, x->ndim, x->shape);
  if (!y) return NULL;
  const int64_t R = eb__rows(x), nb = eb__row_blocks(R);
  eb_tensor *in[3] = {x, gamma, beta};
  eb_node *node = eb_tape_record(ctx, layernorm_backward, y, 3, in);
  ln_saved *sv = NULL;
  if (node) {
    sv = eb_alloc(ctx, sizeof *sv);
    if (!sv) return NULL;
    sv->mean = eb_alloc(ctx, (size_t)R * sizeof(float));
    sv->rstd = eb_alloc(ctx, (size_t)R * sizeof(float));
    if (!sv->mean || !sv->rstd) return NULL;
    node->saved = sv;
  }
  const float *X = x->data, *G = gamma->data, *Bt = beta->data;
  float *mean = sv ? sv->mean : NULL, *rstd = sv ? sv->rstd : NULL;
  EB_OMP("omp parallel for schedule(static) if (R * D > EB_PAR_MIN)")
  for (int64_t b = 0; b < nb; b++) {
    int64_t r0, r1;
    eb__row_block(b, R, &r0, &r1);
    ln_fwd_rows(X, G, Bt, y->data, mean, rstd, r0, r1, D);
  }
  eb_ctx_add_flops(ctx, 8.0 * (double)R * D, 0);
  /* x read, y written, gamma and beta read, the row statistics written */
  eb__moved(ctx, 2.0 * R * D + 2.0 * D + (sv ? 2.0 * R : 0));
  return y;
}

/* ------------------------------------------------------------ softmax ---- */
static void softmax_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *y = n->out;
  int fail = 0, fresh = 0;
  float *dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail || !dx) return;
  const int acc = !fresh;
  int64_t R = eb__rows(x);
  int D = eb__last(x);
  const float *Y = y->data, *dy = y->grad;
  EB_OMP("omp parallel for schedule(static) if (R * D > EB_PAR_MIN)")
  for (int64_t r = 0; r < R; r++) {
    const float *yr = Y + r * D, *gr = dy + r * D;
    float dot = 0;
    for (int j = 0; j < D; j++)
      dot += gr[j] * yr[j];
    for (int j = 0; j < D; j++) {
      float v = yr[j] * (gr[j] - dot);
      dx[r * D + j] = acc ? dx[r * D + j] + v : v;
    }
  }
  eb_ctx_add_flops(ctx, 0, 5.0 * (double)x->size);
  eb__moved(ctx, (3.0 + acc) * x->size); /* y, dy read, dx written (+ read) */
}

/* x[...,D] -> [...,D], softmax over the last dim (max-subtracted) */
eb_tensor *eb_softmax(eb_ctx *ctx, eb_tensor *x) {
  if (!x) return NULL;
  eb_tensor *y = eb_tensor_new(ctx, x->ndim, x->shape);
  if (!y) return NULL;
  int64_t R = eb__rows(x);
  int D = eb__last(x);
  EB_OMP("omp parallel for schedule(static) if (R * D > EB_PAR_MIN)")
  for (int64_t r = 0; r < R; r++) {
    const float *xr = x->data + r * D;
    float *yr = y->data + r * D;
    float m = xr[0], s = 0;
    for (int j = 1; j < D; j++)
      m = xr[j] > m ? xr[j] : m;
    for (int j = 0; j < D; j++) {
      yr[j] = expf(xr[j] - m);
      s += yr[j];
    }
    float inv = 1.0f / s;
    for (int j = 0; j < D; j++)
      yr[j] *= inv;
  }
  eb_ctx_add_flops(ctx, 5.0 * (double)x->size, 0);
  eb__moved(ctx, 2.0 * x->size);
  eb_tape_record(ctx, softmax_backward, y, 1, &x);
  return y;
}

/* ---------------------------------------------------------- embedding ---- */
static void embedding_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *table = n->in[0], *y = n->out;
  int fail = 0;
  float *dt = eb__grad_if(ctx, table, &fail);
  if (fail || !dt) return;
  const int32_t *ids = n->saved;
  int D = table->shape[1];
  int64_t T = y->size / D;
  /* tokens in order: repeated ids accumulate the same way every run */
  for (int64_t t = 0; t < T; t++) {
    float *row = dt + (int64_t)ids[t] * D;
    const float *g = y->grad + t * D;
    for (int j = 0; j < D; j++)
      row[j] += g[j];
  }
  eb_ctx_add_flops(ctx, 0, (double)y->size);
  /* dy and the ids read, the table rows' gradients read and written */
  eb__moved(ctx, 3.0 * y->size + (double)T);
}

/* table[V,D], ids[B*N] in [0,V) -> [B,N,D] */
eb_tensor *eb_embedding(eb_ctx *ctx, eb_tensor *table, const int32_t *ids, int B, int N) {
  if (!table) return NULL;
  if (table->ndim != 2 || !ids || B < 1 || N < 1) {
    eb_ctx_fail(ctx, EB_SHAPE, "embedding: table %s, B %d, N %d, ids %s: want table[V,D]",
                EB_SHAPE(table), B, N, ids ? "given" : "NULL");
    return NULL;
  }
  int V = table->shape[0], D = table->shape[1];
  int64_t T = (int64_t)B * N;
  for (int64_t t = 0; t < T; t++)
    if (ids[t] < 0 || ids[t] >= V) {
      eb_ctx_fail(ctx, EB_SHAPE, "embedding: id %d at position %lld outside [0,%d)",
                  ids[t], (long long)t, V);
      return NULL;
    }
  int shape[3] = {B, N, D};
  eb_tensor *y = eb_tensor_new(ctx, 3, shape);
  if (!y) return NULL;
  for (int64_t t = 0; t < T; t++)
    memcpy(y->data + t * D, table->data + (int64_t)ids[t] * D, (size_t)D * sizeof(float));
  eb__moved(ctx, 2.0 * y->size + (double)T); /* rows and ids read, y written */
  eb_node *node = eb_tape_record(ctx, embedding_backward, y, 1, &table);
  if (node) {
    int32_t *copy = eb_alloc(ctx, (size_t)T * sizeof(int32_t));
    if (!copy) return NULL;
    memcpy(copy, ids, (size_t)T * sizeof(int32_t));
    node->saved = copy;
  }
  return y;
}

/* ------------------------------------------------------------ dropout ---- */
/* The mask is a pure function of (stream, element), so backward recomputes it
 * instead of storing it, and it does not depend on the thread count. The
 * stream already mixes the context seed, the step and the op index. */
#define DROPOUT_SEED 0xD409u

static inline float dropout_factor(uint64_t stream, int64_t i, float p,
                                   float keep_scale) {
  return eb_rng_uniform_at(DROPOUT_SEED, stream, (uint64_t)i) < p ? 0.0f : keep_scale;
}

static void dropout_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *y = n->out;
  int fail = 0, fresh = 0;
  float *dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail || !dx) return;
  const int acc = !fresh;
  uint64_t stream = *(const uint64_t *)n->saved;
  float p = n->farg[0], ks = n->farg[1];
  int64_t size = x->size;
  EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
  for (int64_t i = 0; i < size; i++) {
    float v = y->grad[i] * dropout_factor(stream, i, p, ks);
    dx[i] = acc ? dx[i] + v : v;
  }
  eb_ctx_add_flops(ctx, 0, 2.0 * (double)size);
  eb__moved(ctx, (2.0 + acc) * size); /* the mask is recomputed, not read */
}

/* x[...] -> x * mask / (1 - p), mask ~ Bernoulli(1 - p); returns x itself when
 * not training or p == 0 */
eb_tensor *eb_dropout(eb_ctx *ctx, eb_tensor *x, float p) {
  if (!x) return NULL;
  if (!(p >= 0.0f && p < 1.0f)) {
    eb_ctx_fail(ctx, EB_INTERNAL, "dropout: p = %g outside [0,1)", (double)p);
    return NULL;
  }
  if (!eb_ctx_training(ctx) || p == 0.0f) return x;
  eb_tensor *y = eb_tensor_new(ctx, x->ndim, x->shape);
  if (!y) return NULL;
  uint64_t stream = eb__ctx_next_stream(ctx);
  float ks = 1.0f / (1.0f - p);
  int64_t size = x->size;
  EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
  for (int64_t i = 0; i < size; i++)
    y->data[i] = x->data[i] * dropout_factor(stream, i, p, ks);
  eb_ctx_add_flops(ctx, (double)size, 0);
  eb__moved(ctx, 2.0 * size);
  eb_node *node = eb_tape_record(ctx, dropout_backward, y, 1, &x);
  if (node) {
    uint64_t *s = eb_alloc(ctx, sizeof *s);
    if (!s) return NULL;
    *s = stream;
    node->saved = s;
    node->farg[0] = p;
    node->farg[1] = ks;
  }
  return y;
}

/* ---------------------------------------------------------- mean pool ---- */
/* 1/count of real tokens per batch row (0 when a row has none). */
static void pool_inv(const uint8_t *mask, int B, int N, float *inv, int64_t *real) {
  *real = 0;
  for (int b = 0; b < B; b++) {
    int c = N;
    if (mask) {
      c = 0;
      for (int t = 0; t < N; t++)
        c += mask[(int64_t)b * N + t] != 0;
    }
    inv[b] = c ? 1.0f / (float)c : 0.0f;
    *real += c;
  }
}

typedef struct pool_saved {
  uint8_t *mask; /* [B*N] copy, or NULL = all real */
  float *inv;    /* [B] */
  int64_t real;  /* number of real tokens */
} pool_saved;

static void mean_pool_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *y = n->out;
  int fail = 0, fresh = 0;
  float *dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail || !dx) return;
  const int acc = !fresh;
  int B = x->shape[0], N = x->shape[1], D = x->shape[2];
  const pool_saved *sv = n->saved;
  const uint8_t *mask = sv->mask;
  EB_OMP("omp parallel for schedule(static) if (x->size > EB_PAR_MIN)")
  for (int b = 0; b < B; b++)
    for (int t = 0; t < N; t++) {
      float *d = dx + ((int64_t)b * N + t) * D;
      if (mask && !mask[(int64_t)b * N + t]) {
        if (!acc) memset(d, 0, (size_t)D * sizeof(float)); /* padding: zero */
        continue;
      }
      const float *g = y->grad + (int64_t)b * D;
      for (int j = 0; j < D; j++) {
        float v = g[j] * sv->inv[b];
        d[j] = acc ? d[j] + v : v;
      }
    }
  eb_ctx_add_flops(ctx, 0, 2.0 * (double)sv->real * D);
  /* dy read, dx written (+ read), the mask (bytes) read */
  eb__moved(ctx, (double)B * D + (1.0 + acc) * x->size + (mask ? B * N / 4.0 : 0));
}

/* x[B,N,D], mask[B*N] (1 = real, NULL = all) -> [B,D], mean over real tokens
 * (a row without real tokens gives zeros) */
eb_tensor *eb_mean_pool(eb_ctx *ctx, eb_tensor *x, const uint8_t *mask) {
  if (!x) return NULL;
  if (x->ndim != 3) {
    eb_ctx_fail(ctx, EB_SHAPE, "mean_pool: x %s, want [B,N,D]", EB_SHAPE(x));
    return NULL;
  }
  int B = x->shape[0], N = x->shape[1], D = x->shape[2];
  int shape[2] = {B, D};
  eb_tensor *y = eb_tensor_zeros(ctx, 2, shape);
  if (!y) return NULL;
  pool_saved *sv = eb_alloc(ctx, sizeof *sv);
  float *inv = eb_alloc(ctx, (size_t)B * sizeof(float));
  if (!sv || !inv) return NULL;
  int64_t real;
  pool_inv(mask, B, N, inv, &real);
  EB_OMP("omp parallel for schedule(static) if (x->size > EB_PAR_MIN)")
  for (int b = 0; b < B; b++) {
    float *yr = y->data + (int64_t)b * D;
    for (int t = 0; t < N; t++) {
      if (mask && !mask[(int64_t)b * N + t]) continue;
      const float *xr = x->data + ((int64_t)b * N + t) * D;
      for (int j = 0; j < D; j++)
        yr[j] += xr[j];
    }
    for (int j = 0; j < D; j++)
      yr[j] *= inv[b];
  }
  eb_ctx_add_flops(ctx, (double)(real + B) * D, 0);
  eb__moved(ctx, (double)x->size + (double)B * D + (mask ? B * N / 4.0 : 0));
  eb_node *node = eb_tape_record(ctx, mean_pool_backward, y, 1, &x);
  if (node) {
    sv->mask = NULL;
    if (mask) {
      sv->mask = eb_alloc(ctx, (size_t)B * N);
      if (!sv->mask) return NULL;
      memcpy(sv->mask, mask, (size_t)B * N);
    }
    sv->inv = inv;
    sv->real = real;
    node->saved = sv;
  }
  return y;
}

/* ----------------------------------------------------------- cls pool ---- */
static void cls_pool_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *y = n->out;
  int fail = 0;
  float *dx = eb__grad_if(ctx, x, &fail);
  if (fail || !dx) return;
  int B = x->shape[0], N = x->shape[1], D = x->shape[2];
  for (int b = 0; b < B; b++)
    for (int j = 0; j < D; j++)
      dx[(int64_t)b * N * D + j] += y->grad[(int64_t)b * D + j];
  eb_ctx_add_flops(ctx, 0, (double)B * D);
  eb__moved(ctx, 3.0 * B * D);
}

/* x[B,N,D] -> [B,D] = x[:,0,:] */
eb_tensor *eb_cls_pool(eb_ctx *ctx, eb_tensor *x) {
  if (!x) return NULL;
  if (x->ndim != 3) {
    eb_ctx_fail(ctx, EB_SHAPE, "cls_pool: x %s, want [B,N,D]", EB_SHAPE(x));
    return NULL;
  }
  int B = x->shape[0], N = x->shape[1], D = x->shape[2];
  int shape[2] = {B, D};
  eb_tensor *y = eb_tensor_new(ctx, 2, shape);
  if (!y) return NULL;
  for (int b = 0; b < B; b++)
    memcpy(y->data + (int64_t)b * D, x->data + (int64_t)b * N * D,
           (size_t)D * sizeof(float));
  eb__moved(ctx, 2.0 * B * D);
  eb_tape_record(ctx, cls_pool_backward, y, 1, &x);
  return y;
}

/* ------------------------------------------------------ cross entropy ---- */
typedef struct ce_saved {
  float *lse;     /* [B] log-sum-exp of each row */
  int32_t *label; /* [B] copy */
} ce_saved;

static void cross_entropy_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0];
  int fail = 0, fresh = 0;
  float *dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail || !dx) return;
  if (fresh) memset(dx, 0, (size_t)x->size * sizeof(float)); /* tiny [B,C] */
  const ce_saved *sv = n->saved;
  int B = x->shape[0], C = x->shape[1];
  float g = n->out->grad[0] / (float)B;
  EB_OMP("omp parallel for schedule(static) if (x->size > EB_PAR_MIN)")
  for (int b = 0; b < B; b++) {
    const float *xr = x->data + (int64_t)b * C;
    float *d = dx + (int64_t)b * C;
    for (int c = 0; c < C; c++)
      d[c] += expf(xr[c] - sv->lse[b]) * g;
    d[sv->label[b]] -= g;
  }
  eb_ctx_add_flops(ctx, 0, 4.0 * (double)x->size);
  /* logits read, dx written and read back, lse and labels read */
  eb__moved(ctx, 3.0 * x->size + 2.0 * B);
}

/* logits[B,C], labels[B] in [0,C) -> [1] = mean_b (logsumexp(x_b) - x_b[label_b]);
 * *correct (if non-NULL) = number of rows whose first argmax equals the label */
eb_tensor *eb_cross_entropy(eb_ctx *ctx, eb_tensor *logits, const int32_t *labels,
                            int *correct) {
  if (!logits) return NULL;
  if (logits->ndim != 2 || !labels) {
    eb_ctx_fail(ctx, EB_SHAPE, "cross_entropy: logits %s, labels %s: want logits[B,C]",
                EB_SHAPE(logits), labels ? "given" : "NULL");
    return NULL;
  }
  int B = logits->shape[0], C = logits->shape[1];
  for (int b = 0; b < B; b++)
    if (labels[b] < 0 || labels[b] >= C) {
      eb_ctx_fail(ctx, EB_SHAPE, "cross_entropy: label %d of row %d outside [0,%d)",
                  labels[b], b, C);
      return NULL;
    }
  int one = 1;
  eb_tensor *y = eb_tensor_new(ctx, 1, &one);
  float *lse = eb_alloc(ctx, (size_t)B * sizeof(float));
  if (!y || !lse) return NULL;
  int hits = 0;
  double total = 0;
  for (int b = 0; b < B; b++) {
    const float *xr = logits->data + (int64_t)b * C;
    int am = 0;
    for (int c = 1; c < C; c++)
      if (xr[c] > xr[am]) am = c;
    float m = xr[am], s = 0;
    for (int c = 0; c < C; c++)
      s += expf(xr[c] - m);
    lse[b] = m + logf(s);
    total += (double)(lse[b] - xr[labels[b]]);
    hits += am == labels[b];
  }
  y->data[0] = (float)(total / B);
  if (correct) *correct = hits;
  eb_ctx_add_flops(ctx, 4.0 * (double)logits->size, 0);
  eb__moved(ctx, (double)logits->size + 2.0 * B + 1); /* logits, labels; lse, loss */
  eb_node *node = eb_tape_record(ctx, cross_entropy_backward, y, 1, &logits);
  if (node) {
    ce_saved *sv = eb_alloc(ctx, sizeof *sv);
    int32_t *lab = eb_alloc(ctx, (size_t)B * sizeof(int32_t));
    if (!sv || !lab) return NULL;
    memcpy(lab, labels, (size_t)B * sizeof(int32_t));
    sv->lse = lse;
    sv->label = lab;
    node->saved = sv;
  }
  return y;
}
