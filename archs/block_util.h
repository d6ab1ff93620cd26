/* Pieces the built-in block architectures share (header-only, like
 * prenorm_flops.h): parameter naming, head split/merge, and the pre-LN GELU
 * MLP sublayer. The out-of-tree example plugin keeps its own copies: it may
 * use only the installed headers. */
#ifndef EFFBENCH_ARCHS_BLOCK_UTIL_H
#define EFFBENCH_ARCHS_BLOCK_UTIL_H

#include <stdio.h>

#include "effbench/core.h"

/* Parameter "blocks.I.WHAT" of block i. */
static inline eb_tensor *eb_block_param(eb_params *P, int i, const char *what, int ndim,
                                        const int *shape, eb_init init, float scale) {
  char name[96];
  snprintf(name, sizeof name, "blocks.%d.%s", i, what);
  return eb_param(P, name, ndim, shape, init, scale);
}

/* [B,N,D] -> [B,H,N,D/H] */
static inline eb_tensor *eb_split_heads(eb_ctx *ctx, eb_tensor *x, int H) {
  if (!x) return NULL;
  const int B = x->shape[0], N = x->shape[1], D = x->shape[2];
  return eb_transpose(ctx, eb_reshape(ctx, x, 4, (int[]){B, N, H, D / H}), 1, 2);
}

/* [B,H,N,Dh] -> [B,N,H*Dh] */
static inline eb_tensor *eb_merge_heads(eb_ctx *ctx, eb_tensor *x) {
  if (!x) return NULL;
  const int B = x->shape[0], H = x->shape[1], N = x->shape[2], Dh = x->shape[3];
  return eb_reshape(ctx, eb_transpose(ctx, x, 1, 2), 3, (int[]){B, N, H * Dh});
}

/* A residual sublayer's output: x + dropout_p(h w^T + b). Without active
 * dropout the output layer accumulates onto the residual in one op
 * (eb_linear_add: no separate add pass, forward or backward). */
static inline eb_tensor *eb_block_out(eb_ctx *ctx, eb_tensor *x, eb_tensor *h,
                                      eb_tensor *w, eb_tensor *b, float p) {
  if (p == 0.0f || !eb_ctx_training(ctx)) return eb_linear_add(ctx, h, w, b, x);
  return eb_add(ctx, x, eb_dropout(ctx, eb_linear(ctx, h, w, b), p));
}

/* The pre-LN MLP sublayer: x + dropout_p(W2 dropout_pm(GELU(W1 LN(x) + b1)) + b2)
 * (pm: model.mlp_dropout, on the hidden activation; 0 = none). */
static inline eb_tensor *eb_block_mlp(eb_ctx *ctx, eb_tensor *x, eb_tensor *ln_g,
                                      eb_tensor *ln_b, eb_tensor *w1, eb_tensor *b1,
                                      eb_tensor *w2, eb_tensor *b2, float p, float pm) {
  /* the bias b1 is applied by the fused bias + GELU pass, not by the GEMM */
  eb_tensor *h = eb_linear(ctx, eb_layernorm(ctx, x, ln_g, ln_b), w1, NULL);
  eb_tensor *m = eb_dropout(ctx, eb_bias_gelu(ctx, h, b1), pm); /* m itself if off */
  return eb_block_out(ctx, x, m, w2, b2, p);
}

#endif
