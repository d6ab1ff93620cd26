/* Naive fused attention: per (batch, head) two GEMMs around a masked softmax,
 * keeping the probabilities P [B,H,Nq,Nk] for backward. FLOPs (docs/flops.md)
 * count the dense Nq x Nk work whatever the mask: the GEMMs compute every score.
 *   forward : 4 B H Nq Nk Dh  (QK^T, PV)  + 6 B H Nq Nk (scale 1, softmax 5)
 *   backward: 8 B H Nq Nk Dh  (dV, dP, dQ, dK) + 5 B H Nq Nk (softmax grad 4,
 *             scale 1) */
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
  int B = q->shape[0], H = q->shape[1], Nq = q->shape[2], Nk = k->shape[2],
      Dh = q->shape[3];
  float scale = n->farg[0];
  const float *P = n->saved;
  int64_t nn = (int64_t)Nq * Nk, qd = (int64_t)Nq * Dh, kd = (int64_t)Nk * Dh;
  float *dS = NULL;
  if (dq || dk) {
    dS = eb_alloc(ctx, (size_t)nn * sizeof(float)); /* reused per (b,h) */
    if (!dS) return;
  }
  for (int64_t bh = 0; bh < (int64_t)B * H; bh++) {
    const float *Pb = P + bh * nn, *dO = o->grad + bh * qd;
    const float *Q = q->data + bh * qd, *K = k->data + bh * kd, *V = v->data + bh * kd;
    if (dv) /* dV[Nk,Dh] += P^T dO */
      eb__gemm(1, 0, Nk, Dh, Nq, 1.0f, Pb, Nk, dO, Dh, 1.0f, dv + bh * kd, Dh);
    if (!dS) continue;
    /* dP[Nq,Nk] = dO V^T, then dS = P * (dP - rowsum(dP * P)) * scale in place */
    eb__gemm(0, 1, Nq, Nk, Dh, 1.0f, dO, Dh, V, Dh, 0.0f, dS, Nk);
    EB_OMP("omp parallel for schedule(static) if (nn > EB_PAR_MIN)")
    for (int i = 0; i < Nq; i++) {
      const float *p = Pb + (int64_t)i * Nk;
      float *d = dS + (int64_t)i * Nk, dot = 0;
      for (int j = 0; j < Nk; j++)
        dot += d[j] * p[j];
      for (int j = 0; j < Nk; j++)
        d[j] = p[j] * (d[j] - dot) * scale;
    }
    if (dq) /* dQ[Nq,Dh] += dS K */
      eb__gemm(0, 0, Nq, Dh, Nk, 1.0f, dS, Nk, K, Dh, 1.0f, dq + bh * qd, Dh);
    if (dk) /* dK[Nk,Dh] += dS^T Q */
      eb__gemm(1, 0, Nk, Dh, Nq, 1.0f, dS, Nk, Q, Dh, 1.0f, dk + bh * kd, Dh);
  }
  double g = 2.0 * B * H * (double)nn * Dh, s = (double)B * H * nn;
  double fl =
      (dv ? g : 0) + (dS ? g + ATT_BWD_PER_SCORE * s : 0) + (dq ? g : 0) + (dk ? g : 0);
  eb_ctx_add_flops(ctx, 0, fl);
}

/* q [B,H,Nq,Dh] and k, v [B,H,Nk,Dh] as attention inputs: 0 when usable, else
 * -1 with the context error set (op names the caller). Causal masking needs
 * Nq == Nk (query i sees keys j <= i of the same sequence). */
static int att_check(eb_ctx *ctx, const char *op, const eb_tensor *q, const eb_tensor *k,
                     const eb_tensor *v, int causal) {
  if (q->ndim != 4 || k->ndim != 4 || !eb__same_shape(k, v) ||
      k->shape[0] != q->shape[0] || k->shape[1] != q->shape[1] ||
      k->shape[3] != q->shape[3]) {
    eb_ctx_set_error(ctx, "%s: q %s, k %s, v %s: want q [B,H,Nq,Dh], k and v [B,H,Nk,Dh]",
                     op, EB_SHAPE(q), EB_SHAPE(k), EB_SHAPE(v));
    return -1;
  }
  if (causal && q->shape[2] != k->shape[2]) {
    eb_ctx_set_error(ctx,
                     "%s: causal masking needs as many keys as queries, got q %s, k %s",
                     op, EB_SHAPE(q), EB_SHAPE(k));
    return -1;
  }
  return 0;
}

/* q [B,H,Nq,Dh], k,v [B,H,Nk,Dh], mask[B*Nk] (key j of batch b is used iff
 * mask[b*Nk+j] != 0; NULL = all), causal (Nq == Nk only): also j > i excluded
 * -> o [B,H,Nq,Dh] = softmax(q k^T * scale) v. A query row with no usable key
 * gets probability 0 everywhere (o = 0). */
eb_tensor *eb_attention(eb_ctx *ctx, eb_tensor *q, eb_tensor *k, eb_tensor *v,
                        const uint8_t *mask, int causal, float scale) {
  if (!q || !k || !v) return NULL;
  if (att_check(ctx, "attention", q, k, v, causal)) return NULL;
  int B = q->shape[0], H = q->shape[1], Nq = q->shape[2], Nk = k->shape[2],
      Dh = q->shape[3];
  int64_t nn = (int64_t)Nq * Nk, qd = (int64_t)Nq * Dh, kd = (int64_t)Nk * Dh,
          BH = (int64_t)B * H;
  eb_tensor *o = eb_tensor_new(ctx, 4, q->shape);
  if (!o) return NULL;
  eb_tensor *in[3] = {q, k, v};
  eb_node *node = eb_tape_record(ctx, attention_backward, o, 3, in);
  /* P for every (b,h) when backward needs it, else one reused Nq x Nk block */
  float *P = eb_alloc(ctx, (size_t)((node ? BH : 1) * nn) * sizeof(float));
  if (!P) return NULL;
  if (node) {
    node->saved = P;
    node->farg[0] = scale;
  }
  for (int64_t bh = 0; bh < BH; bh++) {
    float *Pb = node ? P + bh * nn : P;
    const uint8_t *mrow = mask ? mask + (bh / H) * Nk : NULL;
    /* S = Q K^T (eb__gemm splits it over the threads) */
    eb__gemm(0, 1, Nq, Nk, Dh, 1.0f, q->data + bh * qd, Dh, k->data + bh * kd, Dh, 0.0f,
             Pb, Nk);
    /* masked, scaled softmax; rows are independent */
    EB_OMP("omp parallel for schedule(static) if (nn > EB_PAR_MIN)")
    for (int i = 0; i < Nq; i++) {
      int jmax = causal ? i + 1 : Nk;
      float *p = Pb + (int64_t)i * Nk, m = -INFINITY;
      int any = 0;
      for (int j = 0; j < Nk; j++) {
        p[j] *= scale;
        if (j < jmax && (!mrow || mrow[j])) {
          m = (any && m >= p[j]) ? m : p[j]; /* NaN scores propagate */
          any = 1;
        }
      }
      if (!any) { /* no usable key: zeros, not NaN */
        memset(p, 0, (size_t)Nk * sizeof(float));
        continue;
      }
      float s = 0;
      for (int j = 0; j < Nk; j++) {
        p[j] = (j < jmax && (!mrow || mrow[j])) ? expf(p[j] - m) : 0.0f;
        s += p[j];
      }
      float inv = 1.0f / s;
      for (int j = 0; j < Nk; j++)
        p[j] *= inv;
    }
    /* O = P V */
    eb__gemm(0, 0, Nq, Dh, Nk, 1.0f, Pb, Nk, v->data + bh * kd, Dh, 0.0f,
             o->data + bh * qd, Dh);
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
 * run in parallel, each one serially in a fixed order with the register-tiled
 * kernels below (no BLAS), so the results do not depend on the thread count.
 * ATT_BQ must divide ATT_BK (the causal FLOP formula assumes it).
 * Queries and keys may differ in length (Nq rows of q, Nk of k and v: the
 * query blocks walk Nq, the key blocks Nk); causal masking needs Nq == Nk and
 * skips key blocks entirely above the diagonal. FLOPs are in docs/flops.md
 * ("blockwise"). */
#ifndef ATT_BQ
#define ATT_BQ 32
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
  att_view q, k, v, o;          /* data */
  float *lse;                   /* [B,H,Nq]; +inf for rows without a usable key */
  uint8_t *mask;                /* [B*Nk] copy or NULL */
  int B, H, Nq, Nk, Dh, causal; /* causal only with Nq == Nk */
  float scale;
  int qkv; /* 1: eb_attention_qkv (one input), 0: q, k, v inputs */
} att_saved;

static inline float *att_at(const att_view *x, int b, int h) {
  return x->p + b * x->sb + h * x->sh;
}

/* keys processed by the query block [i0, i1) out of Nk: [0, kend) */
static inline int att_kend(int i1, int Nk, int causal) {
  if (!causal) return Nk;
  int k = (i1 + ATT_BK - 1) / ATT_BK * ATT_BK;
  return k < Nk ? k : Nk;
}

/* bias[j] = 0 for a usable key of batch b, -inf otherwise (and for padding) */
static void att_bias(const uint8_t *mask, int b, int Nk, int Np, float *bias) {
  for (int j = 0; j < Np; j++)
    bias[j] = j < Nk && (!mask || mask[(int64_t)b * Nk + j]) ? 0.0f : -INFINITY;
}

static const eb_v8i att_iota = {0, 1, 2, 3, 4, 5, 6, 7};

/* ---- register-tiled micro-kernels (no BLAS: the blocks are small and Dh is
 * usually 16-64, where packing and call overhead dominate a GEMM library).
 * Every operand is a padded per-thread copy: head dims padded with zeros to
 * Dp = Dh rounded up to 8, keys to Np = Nk rounded up to 16 (padded keys have
 * bias -inf, so probability 0). Padding lanes are not counted as FLOPs (as a
 * GEMM's internal padding). */
#define ATT_MR 4 /* rows per register tile */
/* row stride of the score block: not a power of two, so the column walks of
 * dV += P^T dO and dK += dS^T Q do not pile onto a few L1 sets */
#define ATT_LDS (ATT_BK + 16)

static inline int att_round(int x, int m) { return (x + m - 1) / m * m; }

/* c[2i + v] = sum_k a_i[k * acs] * B[k * ldb + 8v ..] for rows i < 4 and nv
 * (1 or 2) vectors of 8 columns; kn terms summed in order k = 0, 1, ... */
EB_VINLINE void att_mk(const int nv, int kn, const float *a0, const float *a1,
                       const float *a2, const float *a3, int64_t acs, const float *B,
                       int64_t ldb, eb_v8f *c) {
  eb_v8f z = eb__v8_splat(0.0f);
  eb_v8f c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
  for (int k = 0; k < kn; k++) {
    const float *b = B + (int64_t)k * ldb;
    eb_v8f b0 = eb__v8_load(b), b1 = nv > 1 ? eb__v8_load(b + 8) : z;
    int64_t o = (int64_t)k * acs;
    eb_v8f x = eb__v8_splat(a0[o]);
    c00 += x * b0;
    if (nv > 1) c01 += x * b1;
    x = eb__v8_splat(a1[o]);
    c10 += x * b0;
    if (nv > 1) c11 += x * b1;
    x = eb__v8_splat(a2[o]);
    c20 += x * b0;
    if (nv > 1) c21 += x * b1;
    x = eb__v8_splat(a3[o]);
    c30 += x * b0;
    if (nv > 1) c31 += x * b1;
  }
  c[0] = c00, c[1] = c01, c[2] = c10, c[3] = c11;
  c[4] = c20, c[5] = c21, c[6] = c30, c[7] = c31;
}

/* Rows of A for one tile: row i at A + i * ars (rows past mr repeat row 0; their
 * results are dropped). */
EB_VINLINE void att_rows(const float *A, int64_t ars, int mr, const float **a) {
  for (int i = 0; i < ATT_MR; i++)
    a[i] = A + (i < mr ? i : 0) * ars;
}

/* C[M, nc] (+= when acc) = A B with A(i,k) = A[i * ars + k * acs], B[K, nc]
 * row-major (ldb), nc a multiple of 8; every element sums its K terms in order. */
EB_VINLINE void att_gemm(int M, int nc, int K, const float *A, int64_t ars, int64_t acs,
                         const float *B, int64_t ldb, float *C, int64_t ldc, int acc) {
  for (int i0 = 0; i0 < M; i0 += ATT_MR) {
    int mr = M - i0 < ATT_MR ? M - i0 : ATT_MR;
    const float *a[ATT_MR];
    att_rows(A + i0 * ars, ars, mr, a);
    for (int n0 = 0; n0 < nc; n0 += 16) {
      const int nv = nc - n0 >= 16 ? 2 : 1;
      eb_v8f c[8];
      if (nv == 2)
        att_mk(2, K, a[0], a[1], a[2], a[3], acs, B + n0, ldb, c);
      else
        att_mk(1, K, a[0], a[1], a[2], a[3], acs, B + n0, ldb, c);
      for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++) {
          float *p = C + (int64_t)(i0 + i) * ldc + n0 + 8 * v;
          eb__v8_store(p, acc ? eb__v8_load(p) + c[2 * i + v] : c[2 * i + v]);
        }
    }
  }
}

/* Score tiles S[mq, nkp] = A Bt (A [mq, Dp] rows at lda, Bt [Dp, *] at ldb, nkp a
 * multiple of 16) with an epilogue per mode:
 *   ATT_S_FWD  s = acc * scale + bias, -inf from column lim_r on; mx[8r..] = running
 *              lane-wise max of row r
 *   ATT_S_PROB p = exp(acc * scale + bias - lse_r), 0 from column lim_r on
 *   ATT_S_DS   p = p (acc - D_r) scale, p the stored probabilities
 * lim_r = lim0 + r (causal) or nkp. */
enum { ATT_S_FWD, ATT_S_PROB, ATT_S_DS };
EB_VINLINE void att_scores(const int mode, int mq, int nkp, int Dp, const float *A,
                           int lda, const float *Bt, int ldb, float *S, int lds,
                           const float *bias, int causal, int lim0, float scale,
                           const float *rowv, float *mx) {
  for (int i0 = 0; i0 < mq; i0 += ATT_MR) {
    int mr = mq - i0 < ATT_MR ? mq - i0 : ATT_MR;
    const float *a[ATT_MR];
    att_rows(A + (int64_t)i0 * lda, lda, mr, a);
    for (int n0 = 0; n0 < nkp; n0 += 16) {
      eb_v8f c[8];
      att_mk(2, Dp, a[0], a[1], a[2], a[3], 1, Bt + n0, ldb, c);
      for (int i = 0; i < mr; i++) {
        int r = i0 + i, lim = causal ? lim0 + r : nkp;
        float *s = S + (int64_t)r * lds + n0;
        eb_v8f m = eb__v8_splat(-INFINITY);
        for (int v = 0; v < 2; v++) {
          eb_v8i ok = att_iota + (n0 + 8 * v) < lim;
          eb_v8f x = c[2 * i + v], y;
          if (mode == ATT_S_FWD) {
            y = x * scale + eb__v8_load(bias + n0 + 8 * v);
            y = eb__v8_sel(ok, y, eb__v8_splat(-INFINITY));
            m = eb__v8_max(y, m);
          } else if (mode == ATT_S_PROB) {
            y = eb__exp8(x * scale + eb__v8_load(bias + n0 + 8 * v) - rowv[r]);
            y = eb__v8_sel(ok, y, eb__v8_splat(0.0f));
          } else {
            y = eb__v8_load(s + 8 * v) * (x - rowv[r]) * scale;
          }
          eb__v8_store(s + 8 * v, y);
        }
        if (mode == ATT_S_FWD)
          eb__v8_store(mx + 8 * r, eb__v8_max(m, eb__v8_load(mx + 8 * r)));
      }
    }
  }
}

/* p = exp(s - m) in place over nkp (a multiple of 8) columns; returns the sum */
EB_VINLINE float att_exp_row(float *s, int nkp, float m) {
  eb_v8f acc = eb__v8_splat(0.0f);
  for (int j = 0; j < nkp; j += 8) {
    eb_v8f e = eb__exp8(eb__v8_load(s + j) - m);
    eb__v8_store(s + j, e);
    acc += e;
  }
  return eb__v8_hsum(acc);
}

/* x[n, Dh] (row stride ld) -> dst[n, Dp] rows, zero-padded to rows_p rows */
static void att_copy(const float *x, int ld, int n, int Dh, int Dp, int rows_p,
                     float *dst) {
  for (int i = 0; i < rows_p; i++)
    for (int d = 0; d < Dp; d++)
      dst[(int64_t)i * Dp + d] = i < n && d < Dh ? x[(int64_t)i * ld + d] : 0.0f;
}
/* x[n, Dh] (row stride ld) -> dst[Dp, Np] transposed, zero-padded */
static void att_copy_t(const float *x, int ld, int n, int Dh, int Dp, int Np,
                       float *dst) {
  memset(dst, 0, (size_t)Dp * Np * sizeof(float));
  for (int i = 0; i < n; i++)
    for (int d = 0; d < Dh; d++)
      dst[(int64_t)d * Np + i] = x[(int64_t)i * ld + d];
}

/* Per-thread scratch, in floats (shared by forward and backward): query-side
 * copies (q, dO) of Nq rows, key-side ones of Np = Nk rounded up to 16. */
typedef struct att_layout {
  int Dp, Np;
  int64_t q, k, kt, vt, v, dO, s, acc, dk, dv, rowf, bias, total;
} att_layout;

static att_layout att_plan(int Nq, int Nk, int Dh) {
  att_layout L;
  L.Dp = att_round(Dh, 8);
  L.Np = att_round(Nk, 16);
  int64_t qd = (int64_t)Nq * L.Dp, kd = (int64_t)L.Np * L.Dp, o = 0;
#define ATT_TAKE(f, n) (L.f = o, o += ((n) + 15) / 16 * 16)
  ATT_TAKE(q, qd);
  ATT_TAKE(k, kd);
  ATT_TAKE(kt, kd);
  ATT_TAKE(vt, kd);
  ATT_TAKE(v, kd);
  ATT_TAKE(dO, qd);
  ATT_TAKE(s, (int64_t)ATT_BQ * ATT_LDS);
  ATT_TAKE(acc, (int64_t)ATT_BQ * L.Dp);
  ATT_TAKE(dk, kd);
  ATT_TAKE(dv, kd);
  ATT_TAKE(rowf, (int64_t)11 * ATT_BQ + Nq);
  ATT_TAKE(bias, L.Np);
#undef ATT_TAKE
  L.total = o;
  return L;
}

EB_CLONES
static void att_fwd_bh(const att_saved *sv, const att_layout *L, int b, int h,
                       float *scr) {
  const int Nq = sv->Nq, Nk = sv->Nk, Dh = sv->Dh, causal = sv->causal, Dp = L->Dp,
            Np = L->Np;
  const float scale = sv->scale;
  float *Qp = scr + L->q, *Kt = scr + L->kt, *Vp = scr + L->v, *S = scr + L->s;
  float *acc = scr + L->acc, *bias = scr + L->bias;
  float *m = scr + L->rowf, *l = m + ATT_BQ, *corr = l + ATT_BQ, *mx = corr + ATT_BQ;
  float *O = att_at(&sv->o, b, h), *lse = sv->lse + ((int64_t)b * sv->H + h) * Nq;
  att_copy(att_at(&sv->q, b, h), sv->q.ld, Nq, Dh, Dp, Nq, Qp);
  att_copy_t(att_at(&sv->k, b, h), sv->k.ld, Nk, Dh, Dp, Np, Kt);
  att_copy(att_at(&sv->v, b, h), sv->v.ld, Nk, Dh, Dp, Np, Vp);
  const int ldo = sv->o.ld;
  for (int i0 = 0; i0 < Nq; i0 += ATT_BQ) {
    int mq = Nq - i0 < ATT_BQ ? Nq - i0 : ATT_BQ;
    int kend = att_kend(i0 + mq, Nk, causal);
    for (int r = 0; r < mq; r++) {
      m[r] = -INFINITY;
      l[r] = 0;
    }
    for (int j0 = 0; j0 < kend; j0 += ATT_BK) {
      int nk = Nk - j0 < ATT_BK ? Nk - j0 : ATT_BK, nkp = att_round(nk, 16);
      for (int r = 0; r < mq; r++)
        eb__v8_store(mx + 8 * r, eb__v8_splat(-INFINITY));
      /* S = (Q_i K_j^T) scale + bias, masked; lane-wise row maxima */
      att_scores(ATT_S_FWD, mq, nkp, Dp, Qp + (int64_t)i0 * Dp, Dp, Kt + j0, Np, S,
                 ATT_LDS, bias + j0, causal, i0 + 1 - j0, scale, NULL, mx);
      for (int r = 0; r < mq; r++) {
        float *s = S + (int64_t)r * ATT_LDS;
        float mb = eb__v8_hmax(eb__v8_load(mx + 8 * r));
        float mn = mb > m[r] ? mb : m[r];
        if (mn == -INFINITY) { /* no usable key yet: p = 0, nothing to rescale */
          memset(s, 0, (size_t)nkp * sizeof(float));
          corr[r] = 1.0f;
          continue;
        }
        float c = eb__expf(m[r] - mn);
        float ps = att_exp_row(s, nkp, mn);
        l[r] = l[r] * c + ps;
        m[r] = mn;
        corr[r] = c;
      }
      if (j0 > 0)
        for (int r = 0; r < mq; r++)
          for (int d = 0; d < Dp; d++)
            acc[r * Dp + d] *= corr[r];
      /* acc[mq,Dp] (+)= P V_j */
      att_gemm(mq, Dp, nk, S, ATT_LDS, 1, Vp + (int64_t)j0 * Dp, Dp, acc, Dp, j0 > 0);
    }
    for (int r = 0; r < mq; r++) {
      float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
      float *o = O + (int64_t)(i0 + r) * ldo;
      for (int d = 0; d < Dh; d++)
        o[d] = acc[r * Dp + d] * inv;
      lse[i0 + r] = l[r] > 0 ? m[r] + logf(l[r]) : INFINITY;
    }
  }
}

/* g[n, Dh] (row stride ld) = src[n, Dp] (fresh) or += src */
static void att_store(float *g, int ld, const float *src, int n, int Dh, int Dp,
                      int fresh) {
  for (int i = 0; i < n; i++)
    for (int d = 0; d < Dh; d++)
      g[(int64_t)i * ld + d] = (fresh ? 0.0f : g[(int64_t)i * ld + d]) + src[i * Dp + d];
}

EB_CLONES
static void att_bwd_bh(const att_saved *sv, const att_layout *L, int b, int h,
                       const att_view *dO_v, att_view *dq_v, att_view *dk_v,
                       att_view *dv_v, int fq, int fk, int fv, float *scr) {
  const int Nq = sv->Nq, Nk = sv->Nk, Dh = sv->Dh, causal = sv->causal, Dp = L->Dp,
            Np = L->Np;
  const float scale = sv->scale;
  float *Qp = scr + L->q, *Kp = scr + L->k, *Kt = scr + L->kt, *Vt = scr + L->vt;
  float *dOp = scr + L->dO, *S = scr + L->s, *dQ = scr + L->acc, *dK = scr + L->dk,
        *dV = scr + L->dv, *Dr = scr + L->rowf, *bias = scr + L->bias;
  const float *O = att_at(&sv->o, b, h), *dO = att_at(dO_v, b, h);
  const float *lse = sv->lse + ((int64_t)b * sv->H + h) * Nq;
  const int ldo = sv->o.ld, ldg = dO_v->ld;
  att_copy(att_at(&sv->q, b, h), sv->q.ld, Nq, Dh, Dp, Nq, Qp);
  att_copy(att_at(&sv->k, b, h), sv->k.ld, Nk, Dh, Dp, Np, Kp);
  att_copy_t(att_at(&sv->k, b, h), sv->k.ld, Nk, Dh, Dp, Np, Kt);
  att_copy_t(att_at(&sv->v, b, h), sv->v.ld, Nk, Dh, Dp, Np, Vt);
  att_copy(dO, ldg, Nq, Dh, Dp, Nq, dOp);
  memset(dK, 0, (size_t)Np * Dp * sizeof(float));
  memset(dV, 0, (size_t)Np * Dp * sizeof(float));
  for (int i = 0; i < Nq; i++) { /* D_i = rowsum(dO * O) */
    const float *o = O + (int64_t)i * ldo, *g = dO + (int64_t)i * ldg;
    float s = 0;
    for (int d = 0; d < Dh; d++)
      s += g[d] * o[d];
    Dr[i] = s;
  }
  for (int i0 = 0; i0 < Nq; i0 += ATT_BQ) {
    int mq = Nq - i0 < ATT_BQ ? Nq - i0 : ATT_BQ;
    int kend = att_kend(i0 + mq, Nk, causal);
    const float *Qi = Qp + (int64_t)i0 * Dp, *dOi = dOp + (int64_t)i0 * Dp;
    for (int j0 = 0; j0 < kend; j0 += ATT_BK) {
      int nk = Nk - j0 < ATT_BK ? Nk - j0 : ATT_BK, nkp = att_round(nk, 16);
      /* P = exp(Q_i K_j^T scale + bias - lse) */
      att_scores(ATT_S_PROB, mq, nkp, Dp, Qi, Dp, Kt + j0, Np, S, ATT_LDS, bias + j0,
                 causal, i0 + 1 - j0, scale, lse + i0, NULL);
      /* dV_j += P^T dO_i */
      att_gemm(nk, Dp, mq, S, 1, ATT_LDS, dOi, Dp, dV + (int64_t)j0 * Dp, Dp, 1);
      /* dS = P (dO_i V_j^T - D) scale, in place */
      att_scores(ATT_S_DS, mq, nkp, Dp, dOi, Dp, Vt + j0, Np, S, ATT_LDS, NULL, 0, 0,
                 scale, Dr + i0, NULL);
      /* dQ_i (+)= dS K_j; dK_j += dS^T Q_i */
      att_gemm(mq, Dp, nk, S, ATT_LDS, 1, Kp + (int64_t)j0 * Dp, Dp, dQ, Dp, j0 > 0);
      att_gemm(nk, Dp, mq, S, 1, ATT_LDS, Qi, Dp, dK + (int64_t)j0 * Dp, Dp, 1);
    }
    if (dq_v)
      att_store(att_at(dq_v, b, h) + (int64_t)i0 * dq_v->ld, dq_v->ld, dQ, mq, Dh, Dp,
                fq);
  }
  if (dk_v) att_store(att_at(dk_v, b, h), dk_v->ld, dK, Nk, Dh, Dp, fk);
  if (dv_v) att_store(att_at(dv_v, b, h), dv_v->ld, dV, Nk, Dh, Dp, fv);
}

/* Score elements computed and key blocks visited, summed over the Nq rows of
 * one (b,h): the FLOP formulas of docs/flops.md. */
static void att_counts(int Nq, int Nk, int causal, double *scores, double *kblocks) {
  double sc = 0, kb = 0;
  for (int i0 = 0; i0 < Nq; i0 += ATT_BQ) {
    int mq = Nq - i0 < ATT_BQ ? Nq - i0 : ATT_BQ;
    int kend = att_kend(i0 + mq, Nk, causal);
    sc += (double)mq * kend;
    kb += (double)mq * ((kend + ATT_BK - 1) / ATT_BK);
  }
  *scores = sc;
  *kblocks = kb;
}

static void att_view_grad(att_view *g, const att_view *x, const float *xdata,
                          float *gbase) {
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
  const int B = sv->B, H = sv->H, Nq = sv->Nq, Nk = sv->Nk, Dh = sv->Dh;
  int nt = eb__nthreads();
  att_layout L = att_plan(Nq, Nk, Dh);
  int64_t per = L.total;
  float *scr = eb_alloc(ctx, (size_t)(nt * per) * sizeof(float));
  if (!scr) return;
  EB_OMP("omp parallel for schedule(dynamic, 1)")
  for (int64_t bh = 0; bh < (int64_t)B * H; bh++) {
    int b = (int)(bh / H), h = (int)(bh % H);
    float *s = scr + eb__thread_id() * per;
    att_bias(sv->mask, b, Nk, L.Np, s + L.bias);
    att_bwd_bh(sv, &L, b, h, &dO, pq, pk, pv, fq, fk, fv, s);
  }
  double sc, kb;
  att_counts(Nq, Nk, sv->causal, &sc, &kb);
  double bh = (double)B * H;
  eb_ctx_add_flops(ctx, 0, bh * (sc * (10.0 * Dh + 6) + 2.0 * Nq * Dh));
}

static eb_tensor *attention_bw_run(eb_ctx *ctx, att_saved *sv, eb_tensor *o, int nin,
                                   eb_tensor **in, const uint8_t *mask) {
  const int B = sv->B, H = sv->H, Nq = sv->Nq, Nk = sv->Nk, Dh = sv->Dh;
  sv->lse = eb_alloc(ctx, (size_t)B * H * Nq * sizeof(float));
  if (!sv->lse) return NULL;
  sv->mask = NULL;
  if (mask) {
    sv->mask = eb_alloc(ctx, (size_t)B * Nk);
    if (!sv->mask) return NULL;
    memcpy(sv->mask, mask, (size_t)B * Nk);
  }
  int nt = eb__nthreads();
  att_layout L = att_plan(Nq, Nk, Dh);
  int64_t per = L.total;
  float *scr = eb_alloc(ctx, (size_t)(nt * per) * sizeof(float));
  if (!scr) return NULL;
  EB_OMP("omp parallel for schedule(dynamic, 1)")
  for (int64_t bh = 0; bh < (int64_t)B * H; bh++) {
    int b = (int)(bh / H), h = (int)(bh % H);
    float *s = scr + eb__thread_id() * per;
    att_bias(sv->mask, b, Nk, L.Np, s + L.bias);
    att_fwd_bh(sv, &L, b, h, s);
  }
  double sc, kb;
  att_counts(Nq, Nk, sv->causal, &sc, &kb);
  double bh = (double)B * H;
  eb_ctx_add_flops(ctx, bh * (sc * (4.0 * Dh + 5) + kb * Dh), 0);
  eb_node *node = eb_tape_record(ctx, attention_bw_backward, o, nin, in);
  if (node) node->saved = sv;
  return o;
}

/* q [B,H,Nq,Dh], k,v [B,H,Nk,Dh] -> [B,H,Nq,Dh]: eb_attention's result,
 * blockwise. */
eb_tensor *eb_attention_blockwise(eb_ctx *ctx, eb_tensor *q, eb_tensor *k, eb_tensor *v,
                                  const uint8_t *mask, int causal, float scale) {
  if (!q || !k || !v) return NULL;
  if (att_check(ctx, "attention_blockwise", q, k, v, causal)) return NULL;
  int B = q->shape[0], H = q->shape[1], Nq = q->shape[2], Nk = k->shape[2],
      Dh = q->shape[3];
  eb_tensor *o = eb_tensor_new(ctx, 4, q->shape);
  att_saved *sv = eb_alloc(ctx, sizeof *sv);
  if (!o || !sv) return NULL;
  int64_t qb = (int64_t)H * Nq * Dh, qh = (int64_t)Nq * Dh;
  int64_t kb = (int64_t)H * Nk * Dh, kh = (int64_t)Nk * Dh;
  *sv = (att_saved){.q = {q->data, qb, qh, Dh},
                    .k = {k->data, kb, kh, Dh},
                    .v = {v->data, kb, kh, Dh},
                    .o = {o->data, qb, qh, Dh},
                    .B = B,
                    .H = H,
                    .Nq = Nq,
                    .Nk = Nk,
                    .Dh = Dh,
                    .causal = causal != 0,
                    .scale = scale,
                    .qkv = 0};
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
                    .B = B,
                    .H = heads,
                    .Nq = N,
                    .Nk = N,
                    .Dh = Dh,
                    .causal = causal != 0,
                    .scale = scale,
                    .qkv = 1};
  return attention_bw_run(ctx, sv, o, 1, &qkv, mask);
}
