/* Naive fused attention: per (batch, head) two GEMMs around a masked softmax,
 * keeping the probabilities P [B,H,N,N] for backward. FLOPs (docs/flops.md)
 * count the dense N x N work whatever the mask: the GEMMs compute every score.
 *   forward : 4 B H N^2 Dh  (QK^T, PV)  + 6 B H N^2 (scale 1, softmax 5)
 *   backward: 8 B H N^2 Dh  (dV, dP, dQ, dK) + 5 B H N^2 (softmax grad 4, scale 1) */
#include <cblas.h>
#include <math.h>

#include "ops_util.h"

#define ATT_FWD_PER_SCORE 6 /* scale, max, sub, exp, sum, normalise */
#define ATT_BWD_PER_SCORE 5 /* dP*P, row sum, sub, *P, *scale */

static void attention_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2], *o = n->out;
  int fail = 0;
  float *dq = eb__grad_if(ctx, q, &fail);
  float *dk = eb__grad_if(ctx, k, &fail);
  float *dv = eb__grad_if(ctx, v, &fail);
  if (fail) return;
  int B = q->shape[0], H = q->shape[1], N = q->shape[2], Dh = q->shape[3];
  float scale = n->farg[0];
  const float *P = n->saved;
  int64_t nn = (int64_t)N * N, nd = (int64_t)N * Dh;
  float *dS = NULL;
  if (dq || dk) {
    dS = eb_alloc(ctx, (size_t)nn * sizeof(float)); /* reused per (b,h) */
    if (!dS) return;
  }
  for (int64_t bh = 0; bh < (int64_t)B * H; bh++) {
    const float *Pb = P + bh * nn, *dO = o->grad + bh * nd;
    const float *Q = q->data + bh * nd, *K = k->data + bh * nd, *V = v->data + bh * nd;
    if (dv) /* dV[N,Dh] += P^T dO */
      eb__gemm(1, 0, N, Dh, N, 1.0f, Pb, N, dO, Dh,
                  1.0f, dv + bh * nd, Dh);
    if (!dS) continue;
    /* dP[N,N] = dO V^T, then dS = P * (dP - rowsum(dP * P)) * scale in place */
    eb__gemm(0, 1, N, N, Dh, 1.0f, dO, Dh, V, Dh,
                0.0f, dS, N);
    EB_OMP("omp parallel for schedule(static) if (nn > EB_PAR_MIN)")
    for (int i = 0; i < N; i++) {
      const float *p = Pb + (int64_t)i * N;
      float *d = dS + (int64_t)i * N, dot = 0;
      for (int j = 0; j < N; j++)
        dot += d[j] * p[j];
      for (int j = 0; j < N; j++)
        d[j] = p[j] * (d[j] - dot) * scale;
    }
    if (dq) /* dQ[N,Dh] += dS K */
      eb__gemm(0, 0, N, Dh, N, 1.0f, dS, N, K, Dh,
                  1.0f, dq + bh * nd, Dh);
    if (dk) /* dK[N,Dh] += dS^T Q */
      eb__gemm(1, 0, N, Dh, N, 1.0f, dS, N, Q, Dh,
                  1.0f, dk + bh * nd, Dh);
  }
  double g = 2.0 * B * H * (double)nn * Dh, s = (double)B * H * nn;
  double fl =
      (dv ? g : 0) + (dS ? g + ATT_BWD_PER_SCORE * s : 0) + (dq ? g : 0) + (dk ? g : 0);
  eb_ctx_add_flops(ctx, 0, fl);
}

/* q,k,v [B,H,N,Dh], mask[B*N] (key j of batch b is used iff mask[b*N+j] != 0;
 * NULL = all), causal: also j > i excluded -> o [B,H,N,Dh] = softmax(q k^T * scale) v.
 * A query row with no usable key gets probability 0 everywhere (o = 0). */
eb_tensor *eb_attention(eb_ctx *ctx, eb_tensor *q, eb_tensor *k, eb_tensor *v,
                        const uint8_t *mask, int causal, float scale) {
  if (!q || !k || !v) return NULL;
  if (q->ndim != 4 || !eb__same_shape(q, k) || !eb__same_shape(q, v)) {
    eb_ctx_set_error(ctx, "attention: q %s, k %s, v %s: want equal [B,H,N,Dh]",
                     EB_SHAPE(q), EB_SHAPE(k), EB_SHAPE(v));
    return NULL;
  }
  int B = q->shape[0], H = q->shape[1], N = q->shape[2], Dh = q->shape[3];
  int64_t nn = (int64_t)N * N, nd = (int64_t)N * Dh, BH = (int64_t)B * H;
  eb_tensor *o = eb_tensor_new(ctx, 4, q->shape);
  if (!o) return NULL;
  eb_tensor *in[3] = {q, k, v};
  eb_node *node = eb_tape_record(ctx, attention_backward, o, 3, in);
  /* P for every (b,h) when backward needs it, else one reused N x N block */
  float *P = eb_alloc(ctx, (size_t)((node ? BH : 1) * nn) * sizeof(float));
  if (!P) return NULL;
  if (node) {
    node->saved = P;
    node->farg[0] = scale;
  }
  for (int64_t bh = 0; bh < BH; bh++) {
    float *Pb = node ? P + bh * nn : P;
    const uint8_t *mrow = mask ? mask + (bh / H) * N : NULL;
    /* S = Q K^T (eb__gemm splits it over the threads) */
    eb__gemm(0, 1, N, N, Dh, 1.0f,
                q->data + bh * nd, Dh, k->data + bh * nd, Dh, 0.0f, Pb, N);
    /* masked, scaled softmax; rows are independent */
    EB_OMP("omp parallel for schedule(static) if (nn > EB_PAR_MIN)")
    for (int i = 0; i < N; i++) {
      int jmax = causal ? i + 1 : N;
      float *p = Pb + (int64_t)i * N, m = -INFINITY;
      int any = 0;
      for (int j = 0; j < N; j++) {
        p[j] *= scale;
        if (j < jmax && (!mrow || mrow[j])) {
          m = (any && m >= p[j]) ? m : p[j]; /* NaN scores propagate */
          any = 1;
        }
      }
      if (!any) { /* no usable key: zeros, not NaN */
        memset(p, 0, (size_t)N * sizeof(float));
        continue;
      }
      float s = 0;
      for (int j = 0; j < N; j++) {
        p[j] = (j < jmax && (!mrow || mrow[j])) ? expf(p[j] - m) : 0.0f;
        s += p[j];
      }
      float inv = 1.0f / s;
      for (int j = 0; j < N; j++)
        p[j] *= inv;
    }
    /* O = P V */
    eb__gemm(0, 0, N, Dh, N, 1.0f, Pb, N,
                v->data + bh * nd, Dh, 0.0f, o->data + bh * nd, Dh);
  }
  eb_ctx_add_flops(ctx, 4.0 * (double)BH * nn * Dh + ATT_FWD_PER_SCORE * (double)BH * nn,
                   0);
  return o;
}

/* ============================================== blockwise attention ====== */
/* FlashAttention-style: per (batch, head), query blocks of ATT_BQ rows against
 * key blocks of ATT_BK keys with an online softmax; only the output and the
 * per-row log-sum-exp are kept, and backward recomputes each score block
 * (FlashAttention-2: D_i = rowsum(dO_i * O_i), dS = P (dP - D_i)). (b,h) pairs
 * run in parallel, each one serially in a fixed order with single-threaded
 * GEMMs, so the results do not depend on the thread count.
 * Causal: key blocks entirely above the diagonal are skipped. FLOPs are in
 * docs/flops.md ("blockwise"). */
#ifndef ATT_BQ
#define ATT_BQ 64
#endif
#ifndef ATT_BK
#define ATT_BK 256
#endif

/* Where q, k, v, o (and their gradients, same layouts) live: element (b,h,i,d)
 * of X is X.p[b * X.sb + h * X.sh + i * X.ld + d]. */
typedef struct att_view {
  float *p;
  int64_t sb, sh;
  int ld;
} att_view;

typedef struct att_saved {
  att_view q, k, v, o; /* data */
  float *lse;          /* [B,H,N]; +inf for rows without a usable key */
  uint8_t *mask;       /* [B*N] copy or NULL */
  int B, H, N, Dh, causal;
  float scale;
  int qkv; /* 1: eb_attention_qkv (one input), 0: q, k, v inputs */
} att_saved;

static inline float *att_at(const att_view *x, int b, int h) {
  return x->p + b * x->sb + h * x->sh;
}

/* keys processed by the query block [i0, i1): [0, kend) */
static inline int att_kend(int i1, int N, int causal) {
  if (!causal) return N;
  int k = (i1 + ATT_BK - 1) / ATT_BK * ATT_BK;
  return k < N ? k : N;
}

/* bias[j] = 0 for a usable key of batch b, -inf otherwise */
static void att_bias(const uint8_t *mask, int b, int N, float *bias) {
  for (int j = 0; j < N; j++)
    bias[j] = (!mask || mask[(int64_t)b * N + j]) ? 0.0f : -INFINITY;
}

static const eb_v8i att_iota = {0, 1, 2, 3, 4, 5, 6, 7};

/* Row kernels on 8-float vectors; a ragged tail goes through a padded copy so
 * every element gets the same arithmetic. */
#define ATT_ROW_LOOP(nk, BODY)                                                        \
  do {                                                                                \
    int j_ = 0;                                                                       \
    for (; j_ + 8 <= (nk); j_ += 8) {                                                 \
      const int j = j_;                                                               \
      BODY                                                                            \
    }                                                                                 \
    if (j_ < (nk)) {                                                                  \
      const int j = j_;                                                               \
      (void)j;                                                                        \
      BODY                                                                            \
    }                                                                                 \
  } while (0)

/* load 8 floats from p[j..], lanes at or beyond n filled with `fill` */
EB_VINLINE eb_v8f att_ld(const float *p, int j, int n, float fill) {
  if (j + 8 <= n) return eb__v8_load(p + j);
  float t[8];
  for (int u = 0; u < 8; u++)
    t[u] = j + u < n ? p[j + u] : fill;
  return eb__v8_load(t);
}
EB_VINLINE void att_st(float *p, int j, int n, eb_v8f v) {
  if (j + 8 <= n) {
    eb__v8_store(p + j, v);
    return;
  }
  for (int u = 0; j + u < n; u++)
    p[j + u] = v[u];
}

/* s[0..nk) = s * scale + bias, -inf from column `lim` on (causal); returns max */
EB_VINLINE float att_score_row(float *s, const float *bias, int nk, int lim,
                                  float scale) {
  eb_v8f mx = eb__v8_splat(-INFINITY);
  ATT_ROW_LOOP(nk, {
    eb_v8f v = att_ld(s, j, nk, 0.0f) * scale + att_ld(bias, j, nk, -INFINITY);
    v = eb__v8_sel(att_iota + j < lim, v, eb__v8_splat(-INFINITY));
    att_st(s, j, nk, v);
    mx = eb__v8_max(v, mx);
  });
  return eb__v8_hmax(mx);
}

/* p = exp(s - m) in place; returns the sum */
EB_VINLINE float att_exp_row(float *s, int nk, float m) {
  eb_v8f acc = eb__v8_splat(0.0f);
  ATT_ROW_LOOP(nk, {
    eb_v8f e = eb__exp8(att_ld(s, j, nk, -INFINITY) - m);
    att_st(s, j, nk, e);
    acc += e;
  });
  return eb__v8_hsum(acc);
}

/* p = exp(s * scale + bias - lse), 0 from column lim on */
EB_VINLINE void att_prob_row(float *s, const float *bias, int nk, int lim, float scale,
                                float lse) {
  ATT_ROW_LOOP(nk, {
    eb_v8f e = eb__exp8(att_ld(s, j, nk, 0.0f) * scale + att_ld(bias, j, nk, 0.0f) - lse);
    att_st(s, j, nk, eb__v8_sel(att_iota + j < lim, e, eb__v8_splat(0.0f)));
  });
}

/* p = p (dp - D) scale */
EB_VINLINE void att_ds_row(float *p, const float *dp, int nk, float D, float scale) {
  ATT_ROW_LOOP(nk, {
    eb_v8f v = att_ld(p, j, nk, 0.0f) * (att_ld(dp, j, nk, 0.0f) - D) * scale;
    att_st(p, j, nk, v);
  });
}

EB_CLONES
static void att_fwd_bh(const att_saved *sv, int b, int h, const float *bias, float *S,
                       float *acc, float *rowf) {
  const int N = sv->N, Dh = sv->Dh, causal = sv->causal;
  const float scale = sv->scale;
  const float *Q = att_at(&sv->q, b, h), *K = att_at(&sv->k, b, h),
              *V = att_at(&sv->v, b, h);
  float *O = att_at(&sv->o, b, h), *lse = sv->lse + ((int64_t)b * sv->H + h) * N;
  const int ldq = sv->q.ld, ldk = sv->k.ld, ldv = sv->v.ld, ldo = sv->o.ld;
  float *m = rowf, *l = rowf + ATT_BQ, *corr = rowf + 2 * ATT_BQ;
  for (int i0 = 0; i0 < N; i0 += ATT_BQ) {
    int mq = N - i0 < ATT_BQ ? N - i0 : ATT_BQ;
    int kend = att_kend(i0 + mq, N, causal);
    for (int r = 0; r < mq; r++) {
      m[r] = -INFINITY;
      l[r] = 0;
    }
    for (int j0 = 0; j0 < kend; j0 += ATT_BK) {
      int nk = N - j0 < ATT_BK ? N - j0 : ATT_BK;
      /* S[mq,nk] = Q_i K_j^T */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mq, nk, Dh, 1.0f,
                  Q + (int64_t)i0 * ldq, ldq, K + (int64_t)j0 * ldk, ldk, 0.0f, S, ATT_BK);
      for (int r = 0; r < mq; r++) {
        float *s = S + (int64_t)r * ATT_BK;
        int lim = causal ? i0 + r + 1 - j0 : nk;
        float mb = att_score_row(s, bias + j0, nk, lim, scale);
        float mn = mb > m[r] ? mb : m[r];
        if (mn == -INFINITY) { /* no usable key yet: p = 0, nothing to rescale */
          memset(s, 0, (size_t)nk * sizeof(float));
          corr[r] = 1.0f;
          continue;
        }
        float c = eb__expf(m[r] - mn);
        float ps = att_exp_row(s, nk, mn);
        l[r] = l[r] * c + ps;
        m[r] = mn;
        corr[r] = c;
      }
      if (j0 > 0)
        for (int r = 0; r < mq; r++)
          for (int d = 0; d < Dh; d++)
            acc[r * Dh + d] *= corr[r];
      /* acc[mq,Dh] (+)= P V_j */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mq, Dh, nk, 1.0f, S, ATT_BK,
                  V + (int64_t)j0 * ldv, ldv, j0 > 0 ? 1.0f : 0.0f, acc, Dh);
    }
    for (int r = 0; r < mq; r++) {
      float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
      float *o = O + (int64_t)(i0 + r) * ldo;
      for (int d = 0; d < Dh; d++)
        o[d] = acc[r * Dh + d] * inv;
      lse[i0 + r] = l[r] > 0 ? m[r] + logf(l[r]) : INFINITY;
    }
  }
}

/* Per-thread scratch floats: S, dP [BQ,BK], acc/dQ [BQ,Dh], 3 row vectors,
 * dK, dV [N,Dh], bias [N] */
static int64_t att_scratch(int N, int Dh) {
  int64_t f = 2 * (int64_t)ATT_BQ * ATT_BK + (int64_t)ATT_BQ * Dh + 3 * ATT_BQ +
              2 * (int64_t)N * Dh + N;
  return (f + 15) / 16 * 16;
}

EB_CLONES
static void att_bwd_bh(const att_saved *sv, int b, int h, const float *bias,
                       const att_view *dO_v, att_view *dq_v, att_view *dk_v,
                       att_view *dv_v, int fq, int fk, int fv, float *scr) {
  const int N = sv->N, Dh = sv->Dh, causal = sv->causal;
  const float scale = sv->scale;
  float *S = scr, *dP = S + ATT_BQ * ATT_BK, *dQ = dP + ATT_BQ * ATT_BK;
  float *Dr = dQ + ATT_BQ * Dh, *dK = Dr + 3 * ATT_BQ, *dV = dK + (int64_t)N * Dh;
  const float *Q = att_at(&sv->q, b, h), *K = att_at(&sv->k, b, h),
              *V = att_at(&sv->v, b, h), *O = att_at(&sv->o, b, h),
              *dO = att_at(dO_v, b, h);
  const float *lse = sv->lse + ((int64_t)b * sv->H + h) * N;
  const int ldq = sv->q.ld, ldk = sv->k.ld, ldv = sv->v.ld, ldo = sv->o.ld,
            ldg = dO_v->ld;
  memset(dK, 0, 2 * (size_t)N * Dh * sizeof(float));
  for (int i0 = 0; i0 < N; i0 += ATT_BQ) {
    int mq = N - i0 < ATT_BQ ? N - i0 : ATT_BQ;
    int kend = att_kend(i0 + mq, N, causal);
    const float *Qi = Q + (int64_t)i0 * ldq, *dOi = dO + (int64_t)i0 * ldg;
    for (int r = 0; r < mq; r++) { /* D_i = rowsum(dO * O) */
      const float *o = O + (int64_t)(i0 + r) * ldo, *g = dOi + (int64_t)r * ldg;
      float s = 0;
      for (int d = 0; d < Dh; d++)
        s += g[d] * o[d];
      Dr[r] = s;
    }
    for (int j0 = 0; j0 < kend; j0 += ATT_BK) {
      int nk = N - j0 < ATT_BK ? N - j0 : ATT_BK;
      const float *Kj = K + (int64_t)j0 * ldk, *Vj = V + (int64_t)j0 * ldv;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mq, nk, Dh, 1.0f, Qi, ldq, Kj,
                  ldk, 0.0f, S, ATT_BK);
      for (int r = 0; r < mq; r++) /* P = exp(S * scale + bias - lse) */
        att_prob_row(S + (int64_t)r * ATT_BK, bias + j0, nk,
                     causal ? i0 + r + 1 - j0 : nk, scale, lse[i0 + r]);
      /* dV_j += P^T dO_i */
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, Dh, mq, 1.0f, S, ATT_BK,
                  dOi, ldg, 1.0f, dV + (int64_t)j0 * Dh, Dh);
      /* dP = dO_i V_j^T; dS = P (dP - D) scale */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mq, nk, Dh, 1.0f, dOi, ldg, Vj,
                  ldv, 0.0f, dP, ATT_BK);
      for (int r = 0; r < mq; r++)
        att_ds_row(S + (int64_t)r * ATT_BK, dP + (int64_t)r * ATT_BK, nk, Dr[r], scale);
      /* dQ_i (+)= dS K_j; dK_j += dS^T Q_i */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mq, Dh, nk, 1.0f, S, ATT_BK,
                  Kj, ldk, j0 > 0 ? 1.0f : 0.0f, dQ, Dh);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, Dh, mq, 1.0f, S, ATT_BK, Qi,
                  ldq, 1.0f, dK + (int64_t)j0 * Dh, Dh);
    }
    if (dq_v) {
      float *g = att_at(dq_v, b, h) + (int64_t)i0 * dq_v->ld;
      for (int r = 0; r < mq; r++)
        for (int d = 0; d < Dh; d++)
          g[(int64_t)r * dq_v->ld + d] =
              (fq ? 0.0f : g[(int64_t)r * dq_v->ld + d]) + dQ[r * Dh + d];
    }
  }
  const float *src[2] = {dK, dV};
  att_view *dst[2] = {dk_v, dv_v};
  int fr[2] = {fk, fv};
  for (int t = 0; t < 2; t++) {
    if (!dst[t]) continue;
    float *g = att_at(dst[t], b, h);
    int ld = dst[t]->ld;
    for (int i = 0; i < N; i++)
      for (int d = 0; d < Dh; d++)
        g[(int64_t)i * ld + d] = (fr[t] ? 0.0f : g[(int64_t)i * ld + d]) + src[t][i * Dh + d];
  }
}

/* Score elements computed and key blocks visited, summed over the rows of one
 * (b,h): the FLOP formulas of docs/flops.md. */
static void att_counts(int N, int causal, double *scores, double *kblocks) {
  double sc = 0, kb = 0;
  for (int i0 = 0; i0 < N; i0 += ATT_BQ) {
    int mq = N - i0 < ATT_BQ ? N - i0 : ATT_BQ;
    int kend = att_kend(i0 + mq, N, causal);
    sc += (double)mq * kend;
    kb += (double)mq * ((kend + ATT_BK - 1) / ATT_BK);
  }
  *scores = sc;
  *kblocks = kb;
}

static void att_view_grad(att_view *g, const att_view *x, const float *xdata, float *gbase) {
  *g = *x;
  g->p = gbase + (x->p - xdata);
}

static void attention_bw_backward(eb_ctx *ctx, eb_node *n) {
  att_saved *sv = n->saved;
  int fail = 0, fq = 0, fk = 0, fv = 0;
  att_view dq, dk, dv, dO;
  att_view *pq = NULL, *pk = NULL, *pv = NULL;
  att_view_grad(&dO, &sv->o, n->out->data, n->out->grad);
  if (sv->qkv) {
    eb_tensor *x = n->in[0];
    float *g = eb__grad_acc_if(ctx, x, &fq, &fail);
    if (fail) return;
    if (g) {
      att_view_grad(&dq, &sv->q, x->data, g);
      att_view_grad(&dk, &sv->k, x->data, g);
      att_view_grad(&dv, &sv->v, x->data, g);
      pq = &dq;
      pk = &dk;
      pv = &dv;
      fk = fv = fq;
    }
  } else {
    /* a tensor passed twice (q == k, ...) shares one gradient buffer: zero a
     * fresh one and accumulate, so the write order does not matter */
    eb_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
    int rep = q == k || q == v || k == v;
    float *gq = eb__grad_acc_if(ctx, q, &fq, &fail);
    float *gk = eb__grad_acc_if(ctx, k, &fk, &fail);
    float *gv = eb__grad_acc_if(ctx, v, &fv, &fail);
    if (fail) return;
    if (rep) {
      if (gq && fq) memset(gq, 0, (size_t)q->size * sizeof(float));
      if (gk && fk) memset(gk, 0, (size_t)k->size * sizeof(float));
      if (gv && fv) memset(gv, 0, (size_t)v->size * sizeof(float));
      fq = fk = fv = 0;
    }
    if (gq) att_view_grad(pq = &dq, &sv->q, q->data, gq);
    if (gk) att_view_grad(pk = &dk, &sv->k, k->data, gk);
    if (gv) att_view_grad(pv = &dv, &sv->v, v->data, gv);
  }
  if (!pq && !pk && !pv) return;
  const int B = sv->B, H = sv->H, N = sv->N, Dh = sv->Dh;
  int nt = eb__nthreads();
  int64_t per = att_scratch(N, Dh);
  float *scr = eb_alloc(ctx, (size_t)(nt * per) * sizeof(float));
  if (!scr) return;
  eb__blas_serial();
  EB_OMP("omp parallel for schedule(dynamic, 1)")
  for (int64_t bh = 0; bh < (int64_t)B * H; bh++) {
    int b = (int)(bh / H), h = (int)(bh % H);
    float *s = scr + eb__thread_id() * per;
    float *bias = s + per - N; /* last N floats of the scratch */
    att_bias(sv->mask, b, N, bias);
    att_bwd_bh(sv, b, h, bias, &dO, pq, pk, pv, fq, fk, fv, s);
  }
  double sc, kb;
  att_counts(N, sv->causal, &sc, &kb);
  double bh = (double)B * H;
  eb_ctx_add_flops(ctx, 0, bh * (sc * (10.0 * Dh + 6) + 2.0 * N * Dh));
}

static eb_tensor *attention_bw_run(eb_ctx *ctx, att_saved *sv, eb_tensor *o, int nin,
                                   eb_tensor **in, const uint8_t *mask) {
  const int B = sv->B, H = sv->H, N = sv->N, Dh = sv->Dh;
  sv->lse = eb_alloc(ctx, (size_t)B * H * N * sizeof(float));
  if (!sv->lse) return NULL;
  sv->mask = NULL;
  if (mask) {
    sv->mask = eb_alloc(ctx, (size_t)B * N);
    if (!sv->mask) return NULL;
    memcpy(sv->mask, mask, (size_t)B * N);
  }
  int nt = eb__nthreads();
  int64_t per = att_scratch(N, Dh);
  float *scr = eb_alloc(ctx, (size_t)(nt * per) * sizeof(float));
  if (!scr) return NULL;
  eb__blas_serial();
  EB_OMP("omp parallel for schedule(dynamic, 1)")
  for (int64_t bh = 0; bh < (int64_t)B * H; bh++) {
    int b = (int)(bh / H), h = (int)(bh % H);
    float *s = scr + eb__thread_id() * per;
    float *bias = s + per - N;
    att_bias(sv->mask, b, N, bias);
    att_fwd_bh(sv, b, h, bias, s, s + 2 * ATT_BQ * ATT_BK,
               s + 2 * ATT_BQ * ATT_BK + ATT_BQ * Dh);
  }
  double sc, kb;
  att_counts(N, sv->causal, &sc, &kb);
  double bh = (double)B * H;
  eb_ctx_add_flops(ctx, bh * (sc * (4.0 * Dh + 5) + kb * Dh), 0);
  eb_node *node = eb_tape_record(ctx, attention_bw_backward, o, nin, in);
  if (node) node->saved = sv;
  return o;
}

/* q,k,v [B,H,N,Dh] -> [B,H,N,Dh]: eb_attention's result, blockwise. */
eb_tensor *eb_attention_blockwise(eb_ctx *ctx, eb_tensor *q, eb_tensor *k, eb_tensor *v,
                                  const uint8_t *mask, int causal, float scale) {
  if (!q || !k || !v) return NULL;
  if (q->ndim != 4 || !eb__same_shape(q, k) || !eb__same_shape(q, v)) {
    eb_ctx_set_error(ctx, "attention_blockwise: q %s, k %s, v %s: want equal [B,H,N,Dh]",
                     EB_SHAPE(q), EB_SHAPE(k), EB_SHAPE(v));
    return NULL;
  }
  int B = q->shape[0], H = q->shape[1], N = q->shape[2], Dh = q->shape[3];
  eb_tensor *o = eb_tensor_new(ctx, 4, q->shape);
  att_saved *sv = eb_alloc(ctx, sizeof *sv);
  if (!o || !sv) return NULL;
  int64_t sb = (int64_t)H * N * Dh, sh = (int64_t)N * Dh;
  *sv = (att_saved){.q = {q->data, sb, sh, Dh},
                    .k = {k->data, sb, sh, Dh},
                    .v = {v->data, sb, sh, Dh},
                    .o = {o->data, sb, sh, Dh},
                    .B = B, .H = H, .N = N, .Dh = Dh,
                    .causal = causal != 0, .scale = scale, .qkv = 0};
  eb_tensor *in[3] = {q, k, v};
  return attention_bw_run(ctx, sv, o, 3, in, mask);
}

/* qkv [B,N,3D] (q | k | v along the last dim, head h at columns h*Dh..) ->
 * [B,N,D]: the heads' blockwise attention outputs, merged. */
eb_tensor *eb_attention_qkv(eb_ctx *ctx, eb_tensor *qkv, int heads, const uint8_t *mask,
                            int causal, float scale) {
  if (!qkv) return NULL;
  int D3 = qkv->ndim == 3 ? qkv->shape[2] : 0;
  if (qkv->ndim != 3 || D3 % 3 != 0 || heads < 1 || (D3 / 3) % heads != 0) {
    eb_ctx_set_error(ctx, "attention_qkv: qkv %s with %d heads: want [B,N,3D], heads | D",
                     EB_SHAPE(qkv), heads);
    return NULL;
  }
  int B = qkv->shape[0], N = qkv->shape[1], D = D3 / 3, Dh = D / heads;
  eb_tensor *o = eb_tensor_new(ctx, 3, (int[]){B, N, D});
  att_saved *sv = eb_alloc(ctx, sizeof *sv);
  if (!o || !sv) return NULL;
  int64_t sb = (int64_t)N * D3;
  *sv = (att_saved){.q = {qkv->data, sb, Dh, D3},
                    .k = {qkv->data + D, sb, Dh, D3},
                    .v = {qkv->data + 2 * D, sb, Dh, D3},
                    .o = {o->data, (int64_t)N * D, Dh, D},
                    .B = B, .H = heads, .N = N, .Dh = Dh,
                    .causal = causal != 0, .scale = scale, .qkv = 1};
  return attention_bw_run(ctx, sv, o, 1, &qkv, mask);
}
