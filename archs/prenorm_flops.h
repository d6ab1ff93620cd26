/* Analytic FLOPs (docs/flops.md conventions) of the pre-LayerNorm Transformer
 * block shared by vanilla, linformer and performer: LN, qkv projection, an
 * attention mixer, output projection, dropout and residual, then LN, GELU MLP,
 * dropout and residual. Only the mixer differs between them: the caller
 * passes its forward and backward counts. R = rows (batch x length). */
#ifndef EFFBENCH_ARCHS_PRENORM_FLOPS_H
#define EFFBENCH_ARCHS_PRENORM_FLOPS_H

#include "effbench/plugin.h"

static inline double eb_prenorm_block_flops(const eb_model_config *cfg, double R,
                                            double att_f, double att_b, int training) {
  const double D = cfg->dim, F = cfg->ffn;
  const double drop = (training && cfg->dropout > 0) ? 1.0 : 0.0;
  const double mdrop = (training && cfg->mlp_dropout > 0) ? 1.0 : 0.0;
  double fwd = 8 * R * D                       /* ln1 */
               + 2 * R * 3 * D * D + 3 * R * D /* qkv */
               + att_f                         /* attention */
               + 2 * R * D * D + R * D         /* wo */
               + drop * R * D + R * D          /* dropout, residual */
               + 8 * R * D                     /* ln2 */
               + 2 * R * F * D + R * F         /* w1 */
               + 9 * R * F                     /* gelu */
               + mdrop * R * F                 /* mlp dropout */
               + 2 * R * D * F + R * D         /* w2 */
               + drop * R * D + R * D;         /* dropout, residual */
  if (!training) return fwd;
  return fwd + 2 * (2 * R * D + drop * 2 * R * D) /* residual adds, dropouts */
         + 4 * R * D * F + R * D                  /* w2: dx, dw, db */
         + mdrop * 2 * R * F                      /* mlp dropout */
         + 19 * R * F                             /* gelu */
         + 4 * R * F * D + R * F                  /* w1 */
         + 19 * R * D                             /* ln2 */
         + 4 * R * D * D + R * D                  /* wo */
         + att_b                                  /* attention */
         + 4 * R * 3 * D * D + 3 * R * D          /* qkv */
         + 19 * R * D;                            /* ln1 */
}

/* GEMM FLOPs (2mnk of each matrix product, docs/flops.md "GEMM FLOPs") of
 * the same block: the qkv, output and two MLP projections, forward and, in
 * training, dx and dw of each; the mixer's products are the caller's. */
static inline double eb_prenorm_block_gemm(const eb_model_config *cfg, double R,
                                           double att_f, double att_b, int training) {
  const double D = cfg->dim, F = cfg->ffn;
  const double lin = 2 * R * (3 * D * D + D * D + 2 * D * F);
  return lin + att_f + (training ? 2 * lin + att_b : 0);
}

/* Scores computed (C) and (row, key block) visits (K) of eb_attention_blockwise
 * for Nq queries against Nk keys: query blocks of 32 rows, key blocks of 256;
 * causal (Nq == Nk) skips the key blocks wholly above the diagonal. */
static inline void eb_blockwise_attention_visits(int Nq, int Nk, int causal, double *C,
                                                 double *K) {
  *C = *K = 0;
  for (int i0 = 0; i0 < Nq; i0 += 32) {
    int i1 = i0 + 32 < Nq ? i0 + 32 : Nq, kend = Nk;
    if (causal && (i1 + 255) / 256 * 256 < Nk) kend = (i1 + 255) / 256 * 256;
    *C += (double)(i1 - i0) * kend;
    *K += (double)(i1 - i0) * ((kend + 255) / 256);
  }
}

/* FLOPs of eb_attention_blockwise (docs/flops.md) for q [B,H,Nq,dh] against
 * k, v [B,H,Nk,dh]. drop: dropout on the probabilities is active (1 forward, 2
 * backward per score computed). */
static inline void eb_blockwise_attention_flops(double B, double H, int Nq, int Nk,
                                                double dh, int causal, int drop,
                                                double *fwd, double *bwd) {
  double C, K;
  eb_blockwise_attention_visits(Nq, Nk, causal, &C, &K);
  *fwd = B * H * (C * (4 * dh + 5) + K * dh);
  *bwd = B * H * (C * (10 * dh + 6) + 2.0 * Nq * dh);
  if (drop) {
    *fwd += B * H * C;
    *bwd += B * H * C * 2;
  }
}

/* Its GEMM FLOPs: per score, forward Q K^T and P V (2 dh each); backward the
 * recomputed Q K^T, dV = P^T dO, dP = dO V^T, dQ = dS K, dK = dS^T Q (2 dh
 * each), of which *rec the recomputed Q K^T. */
static inline void eb_blockwise_attention_gemm(double B, double H, int Nq, int Nk,
                                               double dh, int causal, double *fwd,
                                               double *bwd, double *rec) {
  double C, K;
  eb_blockwise_attention_visits(Nq, Nk, causal, &C, &K);
  *fwd = B * H * C * 4 * dh;
  *bwd = B * H * C * 10 * dh;
  *rec = B * H * C * 2 * dh;
}

#endif
