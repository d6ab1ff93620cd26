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
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, Dh, N, 1.0f, Pb, N, dO, Dh,
                  1.0f, dv + bh * nd, Dh);
    if (!dS) continue;
    /* dP[N,N] = dO V^T, then dS = P * (dP - rowsum(dP * P)) * scale in place */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, Dh, 1.0f, dO, Dh, V, Dh,
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
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, Dh, N, 1.0f, dS, N, K, Dh,
                  1.0f, dq + bh * nd, Dh);
    if (dk) /* dK[N,Dh] += dS^T Q */
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, Dh, N, 1.0f, dS, N, Q, Dh,
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
    /* S = Q K^T (OpenBLAS threads the GEMM) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, Dh, 1.0f,
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
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, Dh, N, 1.0f, Pb, N,
                v->data + bh * nd, Dh, 0.0f, o->data + bh * nd, Dh);
  }
  eb_ctx_add_flops(ctx, 4.0 * (double)BH * nn * Dh + ATT_FWD_PER_SCORE * (double)BH * nn,
                   0);
  return o;
}
