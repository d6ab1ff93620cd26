/* Naive fused attention: per (batch, head) two GEMMs around a masked softmax,
 * keeping the probabilities P [B,H,Nq,Nk] for backward. FLOPs (docs/flops.md)
 * count the dense Nq x Nk work whatever the mask: the GEMMs compute every score.
 *   forward : 4 B H Nq Nk Dh  (QK^T, PV)  + 6 B H Nq Nk (scale 1, softmax 5)
 *   backward: 8 B H Nq Nk Dh  (dV, dP, dQ, dK) + 5 B H Nq Nk (softmax grad 4,
 *             scale 1)
 * With dropout p on the probabilities (training, p > 0: the *_drop entry
 * points) each score also costs 1 forward (P * Z) and 2 backward (P * Z again
 * for dV, a recompute, and dP * Z). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "ops_util.h"

#define ATT_FWD_PER_SCORE 6 /* scale, max, sub, exp, sum, normalise */
#define ATT_BWD_PER_SCORE 5 /* dP*P, row sum, sub, *P, *scale */

/* ---- dropout on the attention probabilities ----
 * o_i = sum_j P_ij Z_ij V_j with Z_ij = 0 (probability p) or 1/(1-p): P is the
 * softmax before dropout (its row sums stay 1), Z a pure function of the op's
 * dropout stream and the score's index ((b H + h) Nq + i) Nk + j, the same in
 * the naive and the blockwise kernels, so backward recomputes Z instead of
 * storing it and the result does not depend on the thread count. Backward:
 * dV = (P Z)^T dO, dP' = Z (dO V^T), dS = P (dP' - rowsum(P dP')) scale. */
#define ATT_DROP_SEED 0xA77Du

static inline float att_keep(uint64_t stream, int64_t idx, float p, float ks) {
  return eb_rng_uniform_at(ATT_DROP_SEED, stream, (uint64_t)idx) < p ? 0.0f : ks;
}

/* p must lie in [0, 1); 1 when dropout is active (training, p > 0) */
static int att_drop_active(eb_ctx *ctx, const char *op, float p, int *active) {
  if (!(p >= 0.0f && p < 1.0f)) {
    eb_ctx_fail(ctx, EB_INTERNAL, "%s: dropout p = %g outside [0,1)", op, (double)p);
    return -1;
  }
  *active = eb_ctx_training(ctx) && p > 0.0f;
  return 0;
}

/* dst[Nq,Nk] = P[Nq,Nk] * Z for (b,h) pair bh (dst may be P) */
static void att_drop_block(float *dst, const float *P, int64_t bh, int Nq, int Nk,
                           uint64_t stream, float p, float ks) {
  int64_t nn = (int64_t)Nq * Nk;
  EB_OMP("omp parallel for schedule(static) if (nn > EB_PAR_MIN)")
  for (int i = 0; i < Nq; i++) {
    int64_t row = (bh * Nq + i) * Nk;
    for (int j = 0; j < Nk; j++)
      dst[(int64_t)i * Nk + j] =
          P[(int64_t)i * Nk + j] * att_keep(stream, row + j, p, ks);
  }
}

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
  /* dropout: p, 1/(1-p) and the stream (two 32-bit halves) */
  const float dp = n->farg[1], ks = n->farg[2];
  const int drop = dp > 0.0f;
  const uint64_t stream = (uint64_t)(uint32_t)n->iarg[0] | (uint64_t)(uint32_t)n->iarg[1]
                                                               << 32;
  int64_t nn = (int64_t)Nq * Nk, qd = (int64_t)Nq * Dh, kd = (int64_t)Nk * Dh;
  float *dS = NULL, *Pd = NULL;
  if (dq || dk) {
    dS = eb_alloc(ctx, (size_t)nn * sizeof(float)); /* reused per (b,h) */
    if (!dS) return;
  }
  if (drop && dv) {
    Pd = eb_alloc(ctx, (size_t)nn * sizeof(float)); /* P Z, reused per (b,h) */
    if (!Pd) return;
  }
  for (int64_t bh = 0; bh < (int64_t)B * H; bh++) {
    const float *Pb = P + bh * nn, *dO = o->grad + bh * qd;
    const float *Q = q->data + bh * qd, *K = k->data + bh * kd, *V = v->data + bh * kd;
    if (dv) { /* dV[Nk,Dh] += (P Z)^T dO */
      if (drop) att_drop_block(Pd, Pb, bh, Nq, Nk, stream, dp, ks);
      eb__gemm(ctx, 1, 0, Nk, Dh, Nq, 1.0f, drop ? Pd : Pb, Nk, dO, Dh, 1.0f,
               dv + bh * kd, Dh);
    }
    if (!dS) continue;
    /* dP[Nq,Nk] = dO V^T (times Z with dropout), then dS = P * (dP - rowsum(dP *
     * P)) * scale in place */
    eb__gemm(ctx, 0, 1, Nq, Nk, Dh, 1.0f, dO, Dh, V, Dh, 0.0f, dS, Nk);
    if (drop) att_drop_block(dS, dS, bh, Nq, Nk, stream, dp, ks);
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
      eb__gemm(ctx, 0, 0, Nq, Dh, Nk, 1.0f, dS, Nk, K, Dh, 1.0f, dq + bh * qd, Dh);
    if (dk) /* dK[Nk,Dh] += dS^T Q */
      eb__gemm(ctx, 1, 0, Nk, Dh, Nq, 1.0f, dS, Nk, Q, Dh, 1.0f, dk + bh * kd, Dh);
  }
  double g = 2.0 * B * H * (double)nn * Dh, s = (double)B * H * nn;
  double fl =
      (dv ? g : 0) + (dS ? g + ATT_BWD_PER_SCORE * s : 0) + (dq ? g : 0) + (dk ? g : 0);
  if (drop) { /* P Z for dV (recomputed), dP Z */
    fl += (dv ? s : 0) + (dS ? s : 0);
    if (dv) eb_ctx_add_recompute(ctx, s);
  }
  eb_ctx_add_flops(ctx, 0, fl);
  /* read q, k, v, dO and P; write the gradients asked for */
  eb_ctx_add_bytes(ctx, 4.0 * B * H *
                            ((2.0 + (dq != NULL)) * qd +
                             (2.0 + (dk != NULL) + (dv != NULL)) * kd + (double)nn));
}

/* q [B,H,Nq,Dh] and k, v [B,H,Nk,Dh] as attention inputs: 0 when usable, else
 * -1 with the context error set (op names the caller). Causal masking needs
 * Nq == Nk (query i sees keys j <= i of the same sequence). */
static int att_check(eb_ctx *ctx, const char *op, const eb_tensor *q, const eb_tensor *k,
                     const eb_tensor *v, int causal) {
  if (q->ndim != 4 || k->ndim != 4 || !eb__same_shape(k, v) ||
      k->shape[0] != q->shape[0] || k->shape[1] != q->shape[1] ||
      k->shape[3] != q->shape[3]) {
    eb_ctx_fail(ctx, EB_SHAPE,
                "%s: q %s, k %s, v %s: want q [B,H,Nq,Dh], k and v [B,H,Nk,Dh]", op,
                EB_SHAPE(q), EB_SHAPE(k), EB_SHAPE(v));
    return -1;
  }
  if (causal && q->shape[2] != k->shape[2]) {
    eb_ctx_fail(ctx, EB_SHAPE,
                "%s: causal masking needs as many keys as queries, got q %s, k %s", op,
                EB_SHAPE(q), EB_SHAPE(k));
    return -1;
  }
  return 0;
}

/* q [B,H,Nq,Dh], k,v [B,H,Nk,Dh], mask[B*Nk] (key j of batch b is used iff
 * mask[b*Nk+j] != 0; NULL = all), causal (Nq == Nk only): also j > i excluded
 * -> o [B,H,Nq,Dh] = softmax(q k^T * scale) v. A query row with no usable key
 * gets probability 0 everywhere (o = 0). */
eb_tensor *eb_attention_drop(eb_ctx *ctx, eb_tensor *q, eb_tensor *k, eb_tensor *v,
                             const uint8_t *mask, int causal, float scale, float p) {
  if (!q || !k || !v) return NULL;
  int drop;
  if (att_check(ctx, "attention", q, k, v, causal) ||
      att_drop_active(ctx, "attention", p, &drop))
    return NULL;
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
  uint64_t stream = drop ? eb__ctx_next_stream(ctx) : 0;
  const float ks = drop ? 1.0f / (1.0f - p) : 1.0f;
  /* with dropout and a backward, P Z goes to a block of its own (P is kept) */
  float *Pd = NULL;
  if (drop && node && !(Pd = eb_alloc(ctx, (size_t)nn * sizeof(float)))) return NULL;
  if (node) {
    node->saved = P;
    node->farg[0] = scale;
    node->farg[1] = drop ? p : 0.0f;
    node->farg[2] = ks;
    node->iarg[0] = (int)(uint32_t)stream;
    node->iarg[1] = (int)(uint32_t)(stream >> 32);
  }
  for (int64_t bh = 0; bh < BH; bh++) {
    float *Pb = node ? P + bh * nn : P;
    const uint8_t *mrow = mask ? mask + (bh / H) * Nk : NULL;
    /* S = Q K^T (eb__gemm splits it over the threads) */
    eb__gemm(ctx, 0, 1, Nq, Nk, Dh, 1.0f, q->data + bh * qd, Dh, k->data + bh * kd, Dh,
             0.0f, Pb, Nk);
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
    /* O = P V (P Z with dropout) */
    float *Pv = Pb;
    if (drop) {
      Pv = node ? Pd : Pb;
      att_drop_block(Pv, Pb, bh, Nq, Nk, stream, p, ks);
    }
    eb__gemm(ctx, 0, 0, Nq, Dh, Nk, 1.0f, Pv, Nk, v->data + bh * kd, Dh, 0.0f,
             o->data + bh * qd, Dh);
  }
  eb_ctx_add_flops(ctx,
                   4.0 * (double)BH * nn * Dh +
                       (ATT_FWD_PER_SCORE + (drop ? 1 : 0)) * (double)BH * nn,
                   0);
  /* read q, k, v (and the mask); write o and, for backward, P */
  eb_ctx_add_bytes(ctx, 4.0 * BH * (2.0 * qd + 2.0 * kd + (node ? (double)nn : 0)) +
                            (mask ? (double)B * Nk : 0));
  return o;
}

eb_tensor *eb_attention(eb_ctx *ctx, eb_tensor *q, eb_tensor *k, eb_tensor *v,
                        const uint8_t *mask, int causal, float scale) {
  return eb_attention_drop(ctx, q, k, v, mask, causal, scale, 0.0f);
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
  int qkv;       /* 1: eb_attention_qkv (one input), 0: q, k, v inputs */
  float drop_p;  /* dropout on the probabilities (0 = none) */
  float drop_ks; /* 1 / (1 - drop_p) */
  uint64_t drop_stream;
} att_saved;

/* Z for row i of (b,h), keys j0 .. j0+nk-1 -> z[0..nk) */
static inline float att_keep_at(const att_saved *sv, int b, int h, int i, int j) {
  int64_t idx = (((int64_t)b * sv->H + h) * sv->Nq + i) * sv->Nk + j;
  return att_keep(sv->drop_stream, idx, sv->drop_p, sv->drop_ks);
}

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

/* ---- register-tiled micro-kernels (no BLAS: the blocks are small and Dh is
 * usually 16-64, where packing and call overhead dominate a GEMM library).
 * The kernels (ops_attention_kern.h) are written once (always inlined) and
 * instantiated per x86-64 level with its native vector width and register
 * tile: mr rows with nv vectors per row, and mr1 rows x 16 columns where
 * fewer columns are left (see the instances below). Every operand is a padded
 * per-thread copy: head dims padded with zeros to Dp = Dh rounded up to 16,
 * keys to Np = Nk rounded up to 16 (padded keys have bias -inf, so
 * probability 0). Padding lanes are not counted as FLOPs (as a GEMM's
 * internal padding). */
#define ATT_W 16     /* padding unit: columns of a score or head-dim block */
#define ATT_MRMAX 16 /* most rows in a register tile */
#define ATT_NVMAX 4  /* most vectors per row of a register tile */
/* row stride of the score block: not a power of two, so the column walks of
 * dV += P^T dO and dK += dS^T Q do not pile onto a few L1 sets */
#define ATT_LDS (ATT_BK + 16)

static inline int att_round(int x, int m) { return (x + m - 1) / m * m; }

/* Rows of A for one tile: row i at A + i * ars (rows past mr repeat row 0; their
 * results are dropped). */
EB_VINLINE void att_rows(const int MR, const float *A, int64_t ars, int mr,
                         const float **a) {
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
    a[i] = A + (i < mr ? i : 0) * ars;
}

/* the 16 floats of p summed in one fixed order, whatever the vector width */
EB_VINLINE float att_hsum16(const float *p) {
  float s[8];
  for (int i = 0; i < 8; i++)
    s[i] = p[i] + p[i + 8];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
EB_VINLINE float att_hmax16(const float *p) {
  float m = p[0];
  for (int i = 1; i < 16; i++)
    m = p[i] > m ? p[i] : m;
  return m;
}

/* Score tiles S[mq, nkp] = A Bt (A [mq, Dp] rows at lda, Bt [Dp, *] at ldb, nkp a
 * multiple of 16) with an epilogue per mode:
 *   ATT_S_FWD  s = acc * scale + bias, -inf from column lim_r on; mx[16r..] =
 *              running lane-wise max of row r
 *   ATT_S_LOGP s = acc * scale + bias - lse_r, -inf from column lim_r on (the
 *              log-probabilities: exp in a separate pass, att_exp_rows, keeps
 *              the tile's epilogue small enough for the registers)
 *   ATT_S_DS   p = p (acc - D_r) scale, p the stored probabilities (with
 *              dropout: p (acc Z - D_r) scale)
 * lim_r = lim0 + r (causal) or nkp. */
enum { ATT_S_FWD, ATT_S_LOGP, ATT_S_DS };
typedef struct att_sargs {
  const float *A, *Bt, *bias, *rowv;
  const float *zs; /* ATT_S_DS with dropout: Z, rows at ATT_LDS (NULL = none) */
  float *S, *mx;
  int lda, ldb, causal, lim0;
  float scale;
} att_sargs;

/* x[n, Dh] (row stride ld) -> dst[n, Dp] rows, zero-padded to rows_p rows */
static void att_copy(const float *x, int ld, int n, int Dh, int Dp, int rows_p,
                     float *dst) {
  for (int i = 0; i < rows_p; i++)
    for (int d = 0; d < Dp; d++)
      dst[(int64_t)i * Dp + d] = i < n && d < Dh ? x[(int64_t)i * ld + d] : 0.0f;
}
/* x[n, Dh] (row stride ld) -> dst[Dp, Np] transposed (row stride ldt), zero-
 * padded; 16 keys at a time, so each destination line is written whole */
static void att_copy_t(const float *x, int ld, int n, int Dh, int Dp, int Np, int ldt,
                       float *dst) {
  for (int i0 = 0; i0 < Np; i0 += 16)
    for (int d = 0; d < Dp; d++) {
      float *t = dst + (int64_t)d * ldt + i0;
      for (int i = 0; i < 16; i++)
        t[i] = i0 + i < n && d < Dh ? x[(int64_t)(i0 + i) * ld + d] : 0.0f;
    }
}

/* Per-thread scratch, in floats (shared by forward and backward): query-side
 * copies (q, dO) of Nq rows, key-side ones of Np = Nk rounded up to 16. */
typedef struct att_layout {
  int Dp, Np, ldt; /* ldt: row stride of the transposed copies */
  int64_t q, k, kt, vt, v, dO, s, acc, dk, dv, rowf, bias, zs, pd, total;
} att_layout;

/* drop: room for backward's dropout blocks Z and P Z (zs, pd) */
static att_layout att_plan(int Nq, int Nk, int Dh, int drop) {
  att_layout L;
  L.Dp = att_round(Dh, ATT_W);
  L.Np = att_round(Nk, 16);
  /* not a multiple of 256 floats: the Dp rows of a key block, read together,
   * then spread over the L1 sets instead of sharing two of them */
  L.ldt = L.Np + 16;
  int64_t qd = (int64_t)Nq * L.Dp, kd = (int64_t)L.Np * L.Dp, o = 0;
#define ATT_TAKE(f, n) (L.f = o, o += ((n) + 15) / 16 * 16)
  ATT_TAKE(q, qd);
  ATT_TAKE(k, kd);
  ATT_TAKE(kt, (int64_t)L.ldt * L.Dp);
  ATT_TAKE(vt, (int64_t)L.ldt * L.Dp);
  ATT_TAKE(v, kd);
  ATT_TAKE(dO, qd);
  ATT_TAKE(s, (int64_t)ATT_BQ * ATT_LDS);
  ATT_TAKE(acc, (int64_t)ATT_BQ * L.Dp);
  ATT_TAKE(dk, kd);
  ATT_TAKE(dv, kd);
  ATT_TAKE(rowf, (int64_t)(3 + ATT_W) * ATT_BQ + Nq);
  ATT_TAKE(bias, L.Np);
  L.zs = L.pd = 0;
  if (drop) {
    ATT_TAKE(zs, (int64_t)ATT_BQ * ATT_LDS);
    ATT_TAKE(pd, (int64_t)ATT_BQ * ATT_LDS);
  }
#undef ATT_TAKE
  L.total = o;
  return L;
}

/* 2*m*n*k of one block product, at the logical sizes it runs (the zero
 * padding of keys and head dims to 16 lanes is not counted, as a GEMM
 * library's internal padding is not): the GEMM counter's share of the kernel */
#define ATT_MM(m, n, k) (2 * (int64_t)(m) * (n) * (k))

/* g[n, Dh] (row stride ld) = src[n, Dp] (fresh) or += src */
static void att_store(float *g, int ld, const float *src, int n, int Dh, int Dp,
                      int fresh) {
  for (int i = 0; i < n; i++)
    for (int d = 0; d < Dh; d++)
      g[(int64_t)i * ld + d] = (fresh ? 0.0f : g[(int64_t)i * ld + d]) + src[i * Dp + d];
}

/* Where one (b,h) of backward writes: the gradient views (NULL: not needed)
 * and whether each is fresh (overwrite) or accumulated into. */
typedef struct att_grads {
  const att_view *dO;
  att_view *dq, *dk, *dv;
  int fq, fk, fv;
} att_grads;

/* The instances, each with its level's native vectors (see ops_attention_kern.h)
 * and a register tile sized to its vector registers: 32 AVX-512 ones, 8 rows x
 * 32 columns (16 accumulators), and 8 x 16 for a last 16 columns, where 16 rows
 * measured slower (their 16 row pointers spill); 16 AVX ones, 6 rows x 16
 * columns (12); 16 SSE ones, 2 rows x 16 columns (8). */
#define ATT_F(name) ATT_CAT(name, ATT_SFX)
#define ATT_CAT(a, b) ATT_CAT2(a, b)
#define ATT_CAT2(a, b) a##_##b
#ifdef EB_X86_LEVELS
#define ATT_V eb_v16f
#define ATT_VI eb_v16i
#define ATT_VW 16
#define ATT_LOAD eb__v16_load
#define ATT_STORE eb__v16_store
#define ATT_SPLAT eb__v16_splat
#define ATT_SEL eb__v16_sel
#define ATT_EXP eb__exp16
#define ATT_SFX v4
#include "ops_attention_kern.h"
EB_TARGET_V4 static void att_fwd_v4(const att_saved *sv, const att_layout *L, int b,
                                    int h, float *scr, int64_t *mm) {
  att_fwd_impl_v4(8, 2, 8, sv, L, b, h, scr, mm);
}
EB_TARGET_V4 static void att_bwd_v4(const att_saved *sv, const att_layout *L, int b,
                                    int h, const att_grads *gr, float *scr, int64_t *mm) {
  att_bwd_impl_v4(8, 2, 8, sv, L, b, h, gr, scr, mm);
}
#undef ATT_V
#undef ATT_VI
#undef ATT_VW
#undef ATT_LOAD
#undef ATT_STORE
#undef ATT_SPLAT
#undef ATT_SEL
#undef ATT_EXP
#undef ATT_SFX

#define ATT_V eb_v8f
#define ATT_VI eb_v8i
#define ATT_VW 8
#define ATT_LOAD eb__v8_load
#define ATT_STORE eb__v8_store
#define ATT_SPLAT eb__v8_splat
#define ATT_SEL eb__v8_sel
#define ATT_EXP eb__exp8
#define ATT_SFX v3
#include "ops_attention_kern.h"
EB_TARGET_V3 static void att_fwd_v3(const att_saved *sv, const att_layout *L, int b,
                                    int h, float *scr, int64_t *mm) {
  att_fwd_impl_v3(6, 2, 6, sv, L, b, h, scr, mm);
}
EB_TARGET_V3 static void att_bwd_v3(const att_saved *sv, const att_layout *L, int b,
                                    int h, const att_grads *gr, float *scr, int64_t *mm) {
  att_bwd_impl_v3(6, 2, 6, sv, L, b, h, gr, scr, mm);
}
#undef ATT_V
#undef ATT_VI
#undef ATT_VW
#undef ATT_LOAD
#undef ATT_STORE
#undef ATT_SPLAT
#undef ATT_SEL
#undef ATT_EXP
#undef ATT_SFX
#endif

#define ATT_V eb_v4f
#define ATT_VI eb_v4i
#define ATT_VW 4
#define ATT_LOAD eb__v4_load
#define ATT_STORE eb__v4_store
#define ATT_SPLAT eb__v4_splat
#define ATT_SEL eb__v4_sel
#define ATT_EXP eb__exp4
#define ATT_SFX generic
#include "ops_attention_kern.h"
static void att_fwd_generic(const att_saved *sv, const att_layout *L, int b, int h,
                            float *scr, int64_t *mm) {
  att_fwd_impl_generic(2, 4, 2, sv, L, b, h, scr, mm);
}
static void att_bwd_generic(const att_saved *sv, const att_layout *L, int b, int h,
                            const att_grads *gr, float *scr, int64_t *mm) {
  att_bwd_impl_generic(2, 4, 2, sv, L, b, h, gr, scr, mm);
}

/* x86-64 level of the kernels: 4 (AVX-512), 3 (AVX2+FMA) or 0 (portable), the
 * highest the CPU has; EFFBENCH_ATT_LEVEL=3 or 0 caps it (to test the others). */
static int att_level(void) {
  int lv = 0;
#ifdef EB_X86_LEVELS
  if (__builtin_cpu_supports("x86-64-v4"))
    lv = 4;
  else if (__builtin_cpu_supports("x86-64-v3"))
    lv = 3;
#endif
  const char *cap = getenv("EFFBENCH_ATT_LEVEL");
  if (cap && *cap && atoi(cap) < lv) lv = atoi(cap) >= 3 ? 3 : 0;
  return lv;
}

static void att_fwd_bh(eb_ctx *ctx, int lv, const att_saved *sv, const att_layout *L,
                       int b, int h, float *scr) {
  int64_t mm = 0;
#ifdef EB_X86_LEVELS
  if (lv == 4)
    att_fwd_v4(sv, L, b, h, scr, &mm);
  else if (lv == 3)
    att_fwd_v3(sv, L, b, h, scr, &mm);
  else
#endif
    att_fwd_generic(sv, L, b, h, scr, &mm);
  eb__ctx_count_gemm(ctx, mm, 0);
}
static void att_bwd_bh(eb_ctx *ctx, int lv, const att_saved *sv, const att_layout *L,
                       int b, int h, const att_grads *gr, float *scr) {
  int64_t mm[2] = {0, 0};
#ifdef EB_X86_LEVELS
  if (lv == 4)
    att_bwd_v4(sv, L, b, h, gr, scr, mm);
  else if (lv == 3)
    att_bwd_v3(sv, L, b, h, gr, scr, mm);
  else
#endif
    att_bwd_generic(sv, L, b, h, gr, scr, mm);
  eb__ctx_count_gemm(ctx, mm[0], mm[1]);
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
  const att_grads gr = {&dO, pq, pk, pv, fq, fk, fv};
  const int lv = att_level();
  int nt = eb__nthreads();
  att_layout L = att_plan(Nq, Nk, Dh, sv->drop_p > 0.0f);
  int64_t per = L.total;
  float *scr = eb_alloc(ctx, (size_t)(nt * per) * sizeof(float));
  if (!scr) return;
  EB_OMP("omp parallel for schedule(dynamic, 1)")
  for (int64_t bh = 0; bh < (int64_t)B * H; bh++) {
    int b = (int)(bh / H), h = (int)(bh % H);
    float *s = scr + eb__thread_id() * per;
    att_bias(sv->mask, b, Nk, L.Np, s + L.bias);
    att_bwd_bh(ctx, lv, sv, &L, b, h, &gr, s);
  }
  double sc, kb;
  att_counts(Nq, Nk, sv->causal, &sc, &kb);
  double bh = (double)B * H;
  eb_ctx_add_flops(ctx, 0, bh * (sc * (10.0 * Dh + 6) + 2.0 * Nq * Dh));
  /* of which recomputing P: S = Q K^T 2 Dh, scale, - lse, exp per score */
  eb_ctx_add_recompute(ctx, bh * sc * (2.0 * Dh + 3));
  if (sv->drop_p > 0.0f) { /* P Z (recomputed) and dP Z per score */
    eb_ctx_add_flops(ctx, 0, bh * sc * 2.0);
    eb_ctx_add_recompute(ctx, bh * sc);
  }
  /* read q, k, v, o, dO, lse (and the mask); write the gradients asked for */
  double qd = (double)Nq * Dh, kd = (double)Nk * Dh;
  eb_ctx_add_bytes(ctx, 4.0 * bh *
                                ((3.0 + (pq != NULL)) * qd +
                                 (2.0 + (pk != NULL) + (pv != NULL)) * kd + Nq) +
                            (sv->mask ? (double)B * Nk : 0));
}

static eb_tensor *attention_bw_run(eb_ctx *ctx, att_saved *sv, eb_tensor *o, int nin,
                                   eb_tensor **in, const uint8_t *mask, float p) {
  const int B = sv->B, H = sv->H, Nq = sv->Nq, Nk = sv->Nk, Dh = sv->Dh;
  int drop;
  if (att_drop_active(ctx, sv->qkv ? "attention_qkv" : "attention_blockwise", p, &drop))
    return NULL;
  sv->drop_p = drop ? p : 0.0f;
  sv->drop_ks = drop ? 1.0f / (1.0f - p) : 1.0f;
  sv->drop_stream = drop ? eb__ctx_next_stream(ctx) : 0;
  sv->lse = eb_alloc(ctx, (size_t)B * H * Nq * sizeof(float));
  if (!sv->lse) return NULL;
  sv->mask = NULL;
  if (mask) {
    sv->mask = eb_alloc(ctx, (size_t)B * Nk);
    if (!sv->mask) return NULL;
    memcpy(sv->mask, mask, (size_t)B * Nk);
  }
  const int lv = att_level();
  int nt = eb__nthreads();
  att_layout L = att_plan(Nq, Nk, Dh, 0);
  int64_t per = L.total;
  float *scr = eb_alloc(ctx, (size_t)(nt * per) * sizeof(float));
  if (!scr) return NULL;
  EB_OMP("omp parallel for schedule(dynamic, 1)")
  for (int64_t bh = 0; bh < (int64_t)B * H; bh++) {
    int b = (int)(bh / H), h = (int)(bh % H);
    float *s = scr + eb__thread_id() * per;
    att_bias(sv->mask, b, Nk, L.Np, s + L.bias);
    att_fwd_bh(ctx, lv, sv, &L, b, h, s);
  }
  double sc, kb;
  att_counts(Nq, Nk, sv->causal, &sc, &kb);
  double bh = (double)B * H;
  eb_ctx_add_flops(ctx, bh * (sc * (4.0 * Dh + 5) + kb * Dh), 0);
  if (drop) eb_ctx_add_flops(ctx, bh * sc, 0); /* P Z */
  /* read q, k, v (and the mask); write o and lse */
  eb_ctx_add_bytes(ctx, 4.0 * bh * (2.0 * Nq * Dh + 2.0 * Nk * Dh + Nq) +
                            (mask ? (double)B * Nk : 0));
  eb_node *node = eb_tape_record(ctx, attention_bw_backward, o, nin, in);
  if (node) node->saved = sv;
  return o;
}

/* q [B,H,Nq,Dh], k,v [B,H,Nk,Dh] -> [B,H,Nq,Dh]: eb_attention's result,
 * blockwise. */
eb_tensor *eb_attention_blockwise_drop(eb_ctx *ctx, eb_tensor *q, eb_tensor *k,
                                       eb_tensor *v, const uint8_t *mask, int causal,
                                       float scale, float p) {
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
  return attention_bw_run(ctx, sv, o, 3, in, mask, p);
}

eb_tensor *eb_attention_blockwise(eb_ctx *ctx, eb_tensor *q, eb_tensor *k, eb_tensor *v,
                                  const uint8_t *mask, int causal, float scale) {
  return eb_attention_blockwise_drop(ctx, q, k, v, mask, causal, scale, 0.0f);
}

/* qkv [B,N,3D] (q | k | v along the last dim, head h at columns h*Dh..) ->
 * [B,N,D]: the heads' blockwise attention outputs, merged. */
eb_tensor *eb_attention_qkv_drop(eb_ctx *ctx, eb_tensor *qkv, int heads,
                                 const uint8_t *mask, int causal, float scale, float p) {
  if (!qkv) return NULL;
  int D3 = qkv->ndim == 3 ? qkv->shape[2] : 0;
  if (qkv->ndim != 3 || D3 % 3 != 0 || heads < 1 || (D3 / 3) % heads != 0) {
    eb_ctx_fail(ctx, EB_SHAPE,
                "attention_qkv: qkv %s with %d heads: want [B,N,3D], heads | D",
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
  return attention_bw_run(ctx, sv, o, 1, &qkv, mask, p);
}

eb_tensor *eb_attention_qkv(eb_ctx *ctx, eb_tensor *qkv, int heads, const uint8_t *mask,
                            int causal, float scale) {
  return eb_attention_qkv_drop(ctx, qkv, heads, mask, causal, scale, 0.0f);
}
