/* vanilla: the pre-LayerNorm Transformer encoder block (Vaswani et al. 2017,
 * pre-LN as in LRA's code): multi-head softmax attention and a GELU MLP, each
 * in a residual branch behind a LayerNorm.
 *
 *   x = x + Dropout(Wo · Attention(LN1(x)) + bo)
 *   x = x + Dropout(W2 · Dropout_m(GELU(W1 · LN2(x) + b1)) + b2)
 *
 * model.attention_dropout drops attention probabilities inside the attention
 * kernel (both kernels draw the same mask); model.mlp_dropout (Dropout_m) the
 * MLP's hidden activation. Both are off by default.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block_util.h"
#include "effbench/plugin.h"
#include "prenorm_flops.h"

typedef struct layer {
  eb_tensor *ln1_g, *ln1_b, *wqkv, *bqkv, *wo, *bo;
  eb_tensor *ln2_g, *ln2_b, *w1, *b1, *w2, *b2;
} layer;

typedef struct vanilla {
  eb_model_config cfg;
  int causal;
  int naive; /* attention=naive: eb_attention on split heads (stores P) */
  layer *layers;
} vanilla;

static const eb_param_decl vanilla_params[] = {
    {"causal", EB_P_BOOL, "false", "mask future positions (decoder-style attention)",
     NULL},
    {"attention", EB_P_STRING, "blockwise",
     "attention kernel: blockwise (online softmax, O(N) memory) or naive (stores the "
     "N x N probabilities)",
     "blockwise|naive"},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

static int vanilla_validate(const eb_model_config *cfg, const eb_args *args, char *err,
                            size_t errlen) {
  if (cfg->dim % cfg->heads != 0) {
    snprintf(err, errlen, "heads (%d) must divide dim (%d)", cfg->heads, cfg->dim);
    return -1;
  }
  /* causal attention: the CLS token at position 0 attends to itself only */
  if (cfg->pool == EB_POOL_CLS && eb_args_int(args, "causal", 0)) {
    snprintf(err, errlen,
             "pool: cls needs position 0 to see the whole sequence, but causal "
             "attention's position 0 sees only itself: use pool: mean, or causal: false");
    return -1;
  }
  return 0;
}

static int vanilla_create(const eb_model_config *cfg, const eb_args *args, eb_params *P,
                          void **out, char *err, size_t errlen) {
  vanilla *v = calloc(1, sizeof *v);
  layer *ls = calloc(cfg->depth ? cfg->depth : 1, sizeof *ls);
  if (!v || !ls) {
    free(v);
    free(ls);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  v->cfg = *cfg;
  v->causal = (int)eb_args_int(args, "causal", 0);
  v->naive = strcmp(eb_args_str(args, "attention", "blockwise"), "naive") == 0;
  v->layers = ls;
  const int D = cfg->dim, F = cfg->ffn;
  const float sd = 1.0f / sqrtf((float)D), sf = 1.0f / sqrtf((float)F);
  for (int i = 0; i < cfg->depth; i++) {
    layer *l = &ls[i];
    l->ln1_g = eb_block_param(P, i, "ln1.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    l->ln1_b = eb_block_param(P, i, "ln1.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->wqkv =
        eb_block_param(P, i, "attn.wqkv", 2, (int[]){3 * D, D}, EB_INIT_UNIFORM, sd);
    l->bqkv = eb_block_param(P, i, "attn.bqkv", 1, (int[]){3 * D}, EB_INIT_ZEROS, 0);
    l->wo = eb_block_param(P, i, "attn.wo", 2, (int[]){D, D}, EB_INIT_UNIFORM, sd);
    l->bo = eb_block_param(P, i, "attn.bo", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->ln2_g = eb_block_param(P, i, "ln2.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    l->ln2_b = eb_block_param(P, i, "ln2.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->w1 = eb_block_param(P, i, "mlp.w1", 2, (int[]){F, D}, EB_INIT_UNIFORM, sd);
    l->b1 = eb_block_param(P, i, "mlp.b1", 1, (int[]){F}, EB_INIT_ZEROS, 0);
    l->w2 = eb_block_param(P, i, "mlp.w2", 2, (int[]){D, F}, EB_INIT_UNIFORM, sf);
    l->b2 = eb_block_param(P, i, "mlp.b2", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    if (!l->ln1_g || !l->ln1_b || !l->wqkv || !l->bqkv || !l->wo || !l->bo || !l->ln2_g ||
        !l->ln2_b || !l->w1 || !l->b1 || !l->w2 || !l->b2) {
      snprintf(err, errlen, "could not declare the parameters of block %d", i);
      free(ls);
      free(v);
      return -1;
    }
  }
  *out = v;
  return 0;
}

/* x[B,N,D], mask[B*N] -> out[B,N,D] */
static int vanilla_forward(void *model, eb_ctx *ctx, eb_tensor *x, const uint8_t *mask,
                           eb_tensor **out, char *err, size_t errlen) {
  vanilla *v = model;
  const int D = v->cfg.dim, H = v->cfg.heads;
  const float p = v->cfg.dropout, scale = 1.0f / sqrtf((float)(D / H));
  const float pa = v->cfg.attention_dropout, pm = v->cfg.mlp_dropout;
  for (int i = 0; i < v->cfg.depth; i++) {
    layer *l = &v->layers[i];
    eb_tensor *a = eb_layernorm(ctx, x, l->ln1_g, l->ln1_b);
    eb_tensor *qkv = eb_linear(ctx, a, l->wqkv, l->bqkv);
    eb_tensor *o;
    if (v->naive) {
      eb_tensor *q = eb_split_heads(ctx, eb_slice_last(ctx, qkv, 0, D), H);
      eb_tensor *k = eb_split_heads(ctx, eb_slice_last(ctx, qkv, D, D), H);
      eb_tensor *val = eb_split_heads(ctx, eb_slice_last(ctx, qkv, 2 * D, D), H);
      o = eb_merge_heads(ctx,
                         eb_attention_drop(ctx, q, k, val, mask, v->causal, scale, pa));
    } else { /* heads split and merged by the kernel's strides */
      o = eb_attention_qkv_drop(ctx, qkv, H, mask, v->causal, scale, pa);
    }
    x = eb_block_out(ctx, x, o, l->wo, l->bo, p);
    x = eb_block_mlp(ctx, x, l->ln2_g, l->ln2_b, l->w1, l->b1, l->w2, l->b2, p, pm);
    if (!x) {
      snprintf(err, errlen, "block %d: %s", i, eb_ctx_error(ctx));
      return -1;
    }
  }
  *out = x;
  return 0;
}

/* Analytic FLOPs of the blocks (docs/flops.md conventions), x[B,N,D] without
 * padding; training adds the backward pass with x requiring a gradient. */
static double vanilla_flops(const eb_model_config *cfg, const eb_args *args, int B, int N,
                            int training) {
  const double D = cfg->dim, H = cfg->heads, dh = D / H, R = (double)B * N;
  const int causal = (int)eb_args_int(args, "causal", 0);
  const int naive = strcmp(eb_args_str(args, "attention", "blockwise"), "naive") == 0;
  const int adrop = training && cfg->attention_dropout > 0;
  double att_f, att_b;
  if (naive) {
    att_f = 4.0 * B * H * N * (double)N * dh + 6.0 * B * H * N * (double)N;
    att_b = 8.0 * B * H * N * (double)N * dh + 5.0 * B * H * N * (double)N +
            7.0 * R * D; /* head split (3 slices, 3 transposes) and merge */
    if (adrop) {         /* P Z forward; P Z again and dP Z backward */
      att_f += 1.0 * B * H * N * (double)N;
      att_b += 2.0 * B * H * N * (double)N;
    }
  } else {
    eb_blockwise_attention_flops(B, H, N, N, dh, causal, adrop, &att_f, &att_b);
  }
  return cfg->depth * eb_prenorm_block_flops(cfg, R, att_f, att_b, training);
}

/* Analytic GEMM FLOPs (docs/flops.md "GEMM FLOPs"): the block's projections,
 * and the attention's products: naive, the two GEMMs per head forward and
 * dV, dP, dQ, dK backward (P is kept); blockwise, those per score block plus
 * the backward's recomputed Q K^T. */
static int vanilla_gemm_flops(const eb_model_config *cfg, const eb_args *args, int B,
                              int N, int training, double *model, double *executed) {
  const double D = cfg->dim, H = cfg->heads, dh = D / H, R = (double)B * N;
  const int causal = (int)eb_args_int(args, "causal", 0);
  const int naive = strcmp(eb_args_str(args, "attention", "blockwise"), "naive") == 0;
  double att_f, att_b, rec = 0;
  if (naive) {
    att_f = 2 * (2.0 * B * H * N * (double)N * dh); /* S = Q K^T, O = P V */
    att_b = 4 * (2.0 * B * H * N * (double)N * dh); /* dV, dP, dQ, dK */
  } else {
    eb_blockwise_attention_gemm(B, H, N, N, dh, causal, &att_f, &att_b, &rec);
  }
  *executed = cfg->depth * eb_prenorm_block_gemm(cfg, R, att_f, att_b, training);
  *model = *executed - (training ? cfg->depth * rec : 0);
  return 0;
}

static void vanilla_destroy(void *model) {
  vanilla *v = model;
  if (!v) return;
  free(v->layers);
  free(v);
}

const eb_arch eb_arch_vanilla = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_arch),
    .name = "vanilla",
    .summary = "pre-LayerNorm Transformer encoder: softmax attention + GELU MLP",
    .params = vanilla_params,
    .validate = vanilla_validate,
    .create = vanilla_create,
    .forward = vanilla_forward,
    .flops = vanilla_flops,
    .destroy = vanilla_destroy,
    .gemm_flops = vanilla_gemm_flops,
};
