/* linformer: the pre-LN Transformer block of vanilla with Linformer attention
 * (Wang et al. 2020, "Linformer: Self-Attention with Linear Complexity"):
 * keys and values are projected along the sequence axis from N down to k with
 * learned matrices E, F [k, N] before a softmax attention, so the score matrix
 * is N x k instead of N x N.
 *
 *   K' = E · (K ∘ m),  V' = F · (V ∘ m)        (per head; m = key mask)
 *   x  = x + Wo · softmax(Q K'^T / sqrt(dh)) V' + bo
 *   x  = x + W2 · GELU(W1 · LN2(x) + b1) + b2
 *
 * The softmax attention over the k projected keys is eb_attention_blockwise
 * (N queries against k keys): it keeps the output and a log-sum-exp per query
 * instead of the [B,H,N,k] scores and probabilities, and recomputes them in
 * backward.
 *
 * Padding: keys and values at padded positions are zeroed before the
 * projection (a projection mixes all positions, so masking after it is not
 * possible); the projected keys carry no mask.
 *
 * model.attention_dropout drops the [N, k] attention probabilities inside the
 * blockwise kernel; model.mlp_dropout the MLP's hidden activation.
 *
 * Sharing (the paper's §4): none = E and F per layer (shared by the heads,
 * "headwise"); kv = one matrix E per layer for both keys and values;
 * layer = one E for keys and values of every layer (declared in block 0).
 *
 * k: the default 256 is capped at the model's length N (max_len, incl. CLS);
 * any other k > N is refused (projecting up saves nothing). E is [k, max_len];
 * a shorter batch of N columns uses E's first N columns. E, F are initialised
 * U(-1/sqrt(max_len), 1/sqrt(max_len)), the fan-in of the projection.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block_util.h"
#include "effbench/plugin.h"
#include "prenorm_flops.h"

#define K_DEFAULT 256

typedef enum share_mode { SHARE_NONE = 0, SHARE_KV, SHARE_LAYER } share_mode;

typedef struct layer {
  eb_tensor *ln1_g, *ln1_b, *wqkv, *bqkv, *E, *F, *wo, *bo;
  eb_tensor *ln2_g, *ln2_b, *w1, *b1, *w2, *b2;
} layer;

typedef struct linformer {
  eb_model_config cfg;
  int k; /* effective projected length */
  share_mode share;
  layer *layers;
} linformer;

static const eb_param_decl linformer_params[] = {
    {"k", EB_P_INT, "256",
     "projected length of keys and values (the default is capped at the sequence length "
     "N; another k > N is refused)",
     NULL},
    {"share", EB_P_STRING, "none",
     "projection sharing: none (E, F per layer), kv (one matrix per layer for keys and "
     "values) or layer (one matrix for all layers)",
     "none|kv|layer"},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

static share_mode parse_share(const eb_args *args) {
  const char *s = eb_args_str(args, "share", "none");
  return strcmp(s, "kv") == 0      ? SHARE_KV
         : strcmp(s, "layer") == 0 ? SHARE_LAYER
                                   : SHARE_NONE;
}

/* effective k for sequences of length L (the model's max_len) */
static int effective_k(int k, int L) { return k > L ? L : k; }

static int linformer_validate(const eb_model_config *cfg, const eb_args *args, char *err,
                              size_t errlen) {
  if (cfg->dim % cfg->heads != 0) {
    snprintf(err, errlen, "heads (%d) must divide dim (%d)", cfg->heads, cfg->dim);
    return -1;
  }
  const int64_t k = eb_args_int(args, "k", K_DEFAULT);
  if (k < 1 || k > 1 << 20) {
    snprintf(err, errlen, "parameter k = %lld: must be in [1, 1048576]", (long long)k);
    return -1;
  }
  if (cfg->max_len > 0 && k != K_DEFAULT && k > cfg->max_len) {
    snprintf(err, errlen,
             "parameter k = %lld: larger than the sequence length N = %d (incl. CLS); "
             "keys and values are projected from N down to k, so k must be <= N",
             (long long)k, cfg->max_len);
    return -1;
  }
  return 0;
}

static int linformer_create(const eb_model_config *cfg, const eb_args *args, eb_params *P,
                            void **out, char *err, size_t errlen) {
  if (cfg->max_len < 1) {
    snprintf(err, errlen, "the sequence length must be known to build the projections");
    return -1;
  }
  if (linformer_validate(cfg, args, err, errlen)) return -1;
  linformer *v = calloc(1, sizeof *v);
  layer *ls = calloc(cfg->depth ? cfg->depth : 1, sizeof *ls);
  if (!v || !ls) {
    free(v);
    free(ls);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  v->cfg = *cfg;
  v->share = parse_share(args);
  v->k = effective_k((int)eb_args_int(args, "k", K_DEFAULT), cfg->max_len);
  v->layers = ls;
  const int D = cfg->dim, F = cfg->ffn, L = cfg->max_len, k = v->k;
  const float sd = 1.0f / sqrtf((float)D), sf = 1.0f / sqrtf((float)F),
              sl = 1.0f / sqrtf((float)L);
  for (int i = 0; i < cfg->depth; i++) {
    layer *l = &ls[i];
    l->ln1_g = eb_block_param(P, i, "ln1.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    l->ln1_b = eb_block_param(P, i, "ln1.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->wqkv =
        eb_block_param(P, i, "attn.wqkv", 2, (int[]){3 * D, D}, EB_INIT_UNIFORM, sd);
    l->bqkv = eb_block_param(P, i, "attn.bqkv", 1, (int[]){3 * D}, EB_INIT_ZEROS, 0);
    if (v->share != SHARE_LAYER || i == 0)
      l->E = eb_block_param(P, i, "attn.E", 2, (int[]){k, L}, EB_INIT_UNIFORM, sl);
    else
      l->E = ls[0].E;
    if (v->share == SHARE_NONE)
      l->F = eb_block_param(P, i, "attn.F", 2, (int[]){k, L}, EB_INIT_UNIFORM, sl);
    else
      l->F = l->E;
    l->wo = eb_block_param(P, i, "attn.wo", 2, (int[]){D, D}, EB_INIT_UNIFORM, sd);
    l->bo = eb_block_param(P, i, "attn.bo", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->ln2_g = eb_block_param(P, i, "ln2.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    l->ln2_b = eb_block_param(P, i, "ln2.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->w1 = eb_block_param(P, i, "mlp.w1", 2, (int[]){F, D}, EB_INIT_UNIFORM, sd);
    l->b1 = eb_block_param(P, i, "mlp.b1", 1, (int[]){F}, EB_INIT_ZEROS, 0);
    l->w2 = eb_block_param(P, i, "mlp.w2", 2, (int[]){D, F}, EB_INIT_UNIFORM, sf);
    l->b2 = eb_block_param(P, i, "mlp.b2", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    if (!l->ln1_g || !l->ln1_b || !l->wqkv || !l->bqkv || !l->E || !l->F || !l->wo ||
        !l->bo || !l->ln2_g || !l->ln2_b || !l->w1 || !l->b1 || !l->w2 || !l->b2) {
      snprintf(err, errlen, "could not declare the parameters of block %d", i);
      free(ls);
      free(v);
      return -1;
    }
  }
  *out = v;
  return 0;
}

/* Project along the sequence: x[B,N,D], P[k,N] -> [B,H,k,D/H] with
 * out[b,h,j,:] = sum_n P[j,n] x[b,n,h*dh:(h+1)*dh]. */
static eb_tensor *project_len(eb_ctx *ctx, eb_tensor *x, eb_tensor *P, int H) {
  if (!x || !P) return NULL;
  const int B = x->shape[0], N = x->shape[1], D = x->shape[2], k = P->shape[0];
  eb_tensor *t = eb_reshape(ctx, eb_transpose(ctx, x, 1, 2), 2, (int[]){B * D, N});
  eb_tensor *y = eb_reshape(ctx, eb_linear(ctx, t, P, NULL), 4, (int[]){B, H, D / H, k});
  return eb_transpose(ctx, y, 2, 3);
}

/* x[B,N,D], mask[B*N] -> out[B,N,D] */
static int linformer_forward(void *model, eb_ctx *ctx, eb_tensor *x, const uint8_t *mask,
                             eb_tensor **out, char *err, size_t errlen) {
  linformer *v = model;
  const int D = v->cfg.dim, H = v->cfg.heads;
  const int B = x->shape[0], N = x->shape[1];
  const float p = v->cfg.dropout, scale = 1.0f / sqrtf((float)(D / H));
  const float pa = v->cfg.attention_dropout, pm = v->cfg.mlp_dropout;
  /* zero padded keys/values: a constant 0/1 tensor, only when there is padding */
  eb_tensor *keep = NULL;
  int padded = 0;
  for (int64_t i = 0; mask && i < (int64_t)B * N; i++)
    padded |= !mask[i];
  if (padded) {
    keep = eb_tensor_new(ctx, 3, (int[]){B, N, D});
    if (!keep) {
      snprintf(err, errlen, "%s", eb_ctx_error(ctx));
      return -1;
    }
    for (int64_t r = 0; r < (int64_t)B * N; r++)
      for (int d = 0; d < D; d++)
        keep->data[r * D + d] = mask[r] ? 1.0f : 0.0f;
  }
  for (int i = 0; i < v->cfg.depth; i++) {
    layer *l = &v->layers[i];
    eb_tensor *E = l->E, *F = l->F;
    if (N < v->cfg.max_len) { /* a shorter batch uses the first N columns */
      E = eb_slice_last(ctx, l->E, 0, N);
      F = l->F == l->E ? E : eb_slice_last(ctx, l->F, 0, N);
    }
    eb_tensor *a = eb_layernorm(ctx, x, l->ln1_g, l->ln1_b);
    eb_tensor *qkv = eb_linear(ctx, a, l->wqkv, l->bqkv);
    eb_tensor *q = eb_split_heads(ctx, eb_slice_last(ctx, qkv, 0, D), H);
    eb_tensor *k = eb_slice_last(ctx, qkv, D, D);
    eb_tensor *val = eb_slice_last(ctx, qkv, 2 * D, D);
    if (keep) {
      k = eb_mul(ctx, k, keep);
      val = eb_mul(ctx, val, keep);
    }
    eb_tensor *kp = project_len(ctx, k, E, H);   /* [B,H,k,dh] */
    eb_tensor *vp = project_len(ctx, val, F, H); /* [B,H,k,dh] */
    /* softmax(q kp^T scale) vp: [B,H,N,dh], no [B,H,N,k] kept */
    eb_tensor *o = eb_merge_heads(
        ctx, eb_attention_blockwise_drop(ctx, q, kp, vp, NULL, 0, scale, pa));
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
static double linformer_flops(const eb_model_config *cfg, const eb_args *args, int B,
                              int N, int training) {
  const double D = cfg->dim, H = cfg->heads, R = (double)B * N;
  const int L = cfg->max_len > 0 ? cfg->max_len : N;
  const double k = effective_k((int)eb_args_int(args, "k", K_DEFAULT), L);
  const share_mode share = parse_share(args);
  /* per layer: E (and F) column slices when the batch is shorter than max_len */
  const double slices = N < L ? (share == SHARE_NONE ? 2.0 : 1.0) : 0.0;
  double kern_f, kern_b; /* eb_attention_blockwise of N queries against k keys */
  eb_blockwise_attention_flops(B, H, N, (int)k, D / H, 0,
                               training && cfg->attention_dropout > 0, &kern_f, &kern_b);
  const double att_f = 4 * R * D * k /* K, V projections along N */
                       + kern_f;
  const double att_b = 3 * R * D         /* q, k, v slices */
                       + 4 * R * D       /* q split, k, v transposes, merge */
                       + 2 * B * D * k   /* K', V' head transposes */
                       + 8 * R * D * k   /* projections: dx, dE */
                       + kern_b          /* attention */
                       + slices * k * N; /* E, F slices */
  return cfg->depth * eb_prenorm_block_flops(cfg, R, att_f, att_b, training);
}

/* Analytic GEMM FLOPs (docs/flops.md "GEMM FLOPs"): the block's projections,
 * the K and V projections along N (x[B*D,N] E^T: forward, dx and dE), and
 * the blockwise attention of N queries against k keys. */
static int linformer_gemm_flops(const eb_model_config *cfg, const eb_args *args, int B,
                                int N, int training, double *model, double *executed) {
  const double D = cfg->dim, H = cfg->heads, R = (double)B * N;
  const int L = cfg->max_len > 0 ? cfg->max_len : N;
  const double k = effective_k((int)eb_args_int(args, "k", K_DEFAULT), L);
  double kern_f, kern_b, rec;
  eb_blockwise_attention_gemm(B, H, N, (int)k, D / H, 0, &kern_f, &kern_b, &rec);
  const double proj = 2 * (2 * R * D * k); /* K and V projections */
  *executed = cfg->depth *
              eb_prenorm_block_gemm(cfg, R, proj + kern_f, 2 * proj + kern_b, training);
  *model = *executed - (training ? cfg->depth * rec : 0);
  return 0;
}

static void linformer_destroy(void *model) {
  linformer *v = model;
  if (!v) return;
  free(v->layers);
  free(v);
}

const eb_arch eb_arch_linformer = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_arch),
    .name = "linformer",
    .summary = "Linformer: keys and values projected along the length N -> k (O(N k))",
    .params = linformer_params,
    .validate = linformer_validate,
    .create = linformer_create,
    .forward = linformer_forward,
    .flops = linformer_flops,
    .destroy = linformer_destroy,
    .gemm_flops = linformer_gemm_flops,
};
