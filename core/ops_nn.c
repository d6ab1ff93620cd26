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

static void layernorm_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2], *y = n->out;
  const ln_saved *sv = n->saved;
  int fail = 0;
  float *dg = eb__grad_if(ctx, gamma, &fail);
  float *dbt = eb__grad_if(ctx, beta, &fail);
  if (fail) return;
  int64_t R = eb__rows(x);
  int D = eb__last(x);
  const float *X = x->data, *G = gamma->data, *dy = y->grad;
  double fl = 0;
  if (dg || dbt) {
    /* parameter gradients: columns in parallel, rows summed in order, so the
     * result is the same for any thread count */
    EB_OMP("omp parallel for schedule(static) if (R * D > EB_PAR_MIN)")
    for (int j0 = 0; j0 < D; j0 += 16) {
      int j1 = j0 + 16 < D ? j0 + 16 : D;
      for (int64_t r = 0; r < R; r++) {
        const float *xr = X + r * D, *gr = dy + r * D;
        float mu = sv->mean[r], rs = sv->rstd[r];
        if (dg)
          for (int j = j0; j < j1; j++)
            dg[j] += gr[j] * ((xr[j] - mu) * rs);
        if (dbt)
          for (int j = j0; j < j1; j++)
            dbt[j] += gr[j];
      }
    }
    fl += (double)R * D * ((dg ? 4 : 0) + (dbt ? 1 : 0));
  }
  int fresh = 0;
  float *dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail) return;
  if (dx) {
    const int acc = !fresh;
    EB_OMP("omp parallel for schedule(static) if (R * D > EB_PAR_MIN)")
    for (int64_t r = 0; r < R; r++) {
      const float *xr = X + r * D, *gr = dy + r * D;
      float *dxr = dx + r * D;
      float mu = sv->mean[r], rs = sv->rstd[r];
      float s1 = 0, s2 = 0;
      for (int j = 0; j < D; j++) {
        float g = gr[j] * G[j];
        s1 += g;
        s2 += g * ((xr[j] - mu) * rs);
      }
      float m1 = s1 / (float)D, m2 = s2 / (float)D;
      for (int j = 0; j < D; j++) {
        float xh = (xr[j] - mu) * rs;
        float v = rs * (gr[j] * G[j] - m1 - xh * m2);
        dxr[j] = acc ? dxr[j] + v : v;
      }
    }
    fl += 14.0 * (double)R * D;
  }
  eb_ctx_add_flops(ctx, 0, fl);
}

/* x[...,D], gamma[D], beta[D] -> [...,D]: (x - mean) / sqrt(var + 1e-5) * gamma + beta */
eb_tensor *eb_layernorm(eb_ctx *ctx, eb_tensor *x, eb_tensor *gamma, eb_tensor *beta) {
  if (!x || !gamma || !beta) return NULL;
  int D = eb__last(x);
  if (gamma->size != D || beta->size != D) {
    eb_ctx_set_error(ctx, "layernorm: x %s needs gamma and beta [%d], got %s and %s",
                     EB_SHAPE(x), D, EB_SHAPE(gamma), EB_SHAPE(beta));
    return NULL;
  }
  eb_tensor *y = eb_tensor_new(ctx, x->ndim, x->shape);
  if (!y) return NULL;
  int64_t R = eb__rows(x);
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
  EB_OMP("omp parallel for schedule(static) if (R * D > EB_PAR_MIN)")
  for (int64_t r = 0; r < R; r++) {
    const float *xr = X + r * D;
    float *yr = y->data + r * D;
    float s = 0;
    for (int j = 0; j < D; j++)
      s += xr[j];
    float mu = s / (float)D, v = 0;
    for (int j = 0; j < D; j++)
      v += (xr[j] - mu) * (xr[j] - mu);
    float rs = 1.0f / sqrtf(v / (float)D + LN_EPS);
    for (int j = 0; j < D; j++)
      yr[j] = (xr[j] - mu) * rs * G[j] + Bt[j];
    if (sv) {
      sv->mean[r] = mu;
      sv->rstd[r] = rs;
    }
  }
  eb_ctx_add_flops(ctx, 8.0 * (double)R * D, 0);
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
}

/* table[V,D], ids[B*N] in [0,V) -> [B,N,D] */
eb_tensor *eb_embedding(eb_ctx *ctx, eb_tensor *table, const int32_t *ids, int B, int N) {
  if (!table) return NULL;
  if (table->ndim != 2 || !ids || B < 1 || N < 1) {
    eb_ctx_set_error(ctx, "embedding: table %s, B %d, N %d, ids %s: want table[V,D]",
                     EB_SHAPE(table), B, N, ids ? "given" : "NULL");
    return NULL;
  }
  int V = table->shape[0], D = table->shape[1];
  int64_t T = (int64_t)B * N;
  for (int64_t t = 0; t < T; t++)
    if (ids[t] < 0 || ids[t] >= V) {
      eb_ctx_set_error(ctx, "embedding: id %d at position %lld outside [0,%d)", ids[t],
                       (long long)t, V);
      return NULL;
    }
  int shape[3] = {B, N, D};
  eb_tensor *y = eb_tensor_new(ctx, 3, shape);
  if (!y) return NULL;
  for (int64_t t = 0; t < T; t++)
    memcpy(y->data + t * D, table->data + (int64_t)ids[t] * D, (size_t)D * sizeof(float));
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
}

/* x[...] -> x * mask / (1 - p), mask ~ Bernoulli(1 - p); returns x itself when
 * not training or p == 0 */
eb_tensor *eb_dropout(eb_ctx *ctx, eb_tensor *x, float p) {
  if (!x) return NULL;
  if (!(p >= 0.0f && p < 1.0f)) {
    eb_ctx_set_error(ctx, "dropout: p = %g outside [0,1)", (double)p);
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
}

/* x[B,N,D], mask[B*N] (1 = real, NULL = all) -> [B,D], mean over real tokens
 * (a row without real tokens gives zeros) */
eb_tensor *eb_mean_pool(eb_ctx *ctx, eb_tensor *x, const uint8_t *mask) {
  if (!x) return NULL;
  if (x->ndim != 3) {
    eb_ctx_set_error(ctx, "mean_pool: x %s, want [B,N,D]", EB_SHAPE(x));
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
}

/* x[B,N,D] -> [B,D] = x[:,0,:] */
eb_tensor *eb_cls_pool(eb_ctx *ctx, eb_tensor *x) {
  if (!x) return NULL;
  if (x->ndim != 3) {
    eb_ctx_set_error(ctx, "cls_pool: x %s, want [B,N,D]", EB_SHAPE(x));
    return NULL;
  }
  int B = x->shape[0], N = x->shape[1], D = x->shape[2];
  int shape[2] = {B, D};
  eb_tensor *y = eb_tensor_new(ctx, 2, shape);
  if (!y) return NULL;
  for (int b = 0; b < B; b++)
    memcpy(y->data + (int64_t)b * D, x->data + (int64_t)b * N * D,
           (size_t)D * sizeof(float));
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
}

/* logits[B,C], labels[B] in [0,C) -> [1] = mean_b (logsumexp(x_b) - x_b[label_b]);
 * *correct (if non-NULL) = number of rows whose first argmax equals the label */
eb_tensor *eb_cross_entropy(eb_ctx *ctx, eb_tensor *logits, const int32_t *labels,
                            int *correct) {
  if (!logits) return NULL;
  if (logits->ndim != 2 || !labels) {
    eb_ctx_set_error(ctx, "cross_entropy: logits %s, labels %s: want logits[B,C]",
                     EB_SHAPE(logits), labels ? "given" : "NULL");
    return NULL;
  }
  int B = logits->shape[0], C = logits->shape[1];
  for (int b = 0; b < B; b++)
    if (labels[b] < 0 || labels[b] >= C) {
      eb_ctx_set_error(ctx, "cross_entropy: label %d of row %d outside [0,%d)", labels[b],
                       b, C);
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
