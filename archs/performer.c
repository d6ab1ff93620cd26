/* performer: the pre-LN Transformer block of vanilla with FAVOR+ attention
 * (Choromanski et al. 2020, "Rethinking Attention with Performers"): softmax
 * attention approximated with positive orthogonal random features, computed
 * in time and memory linear in N.
 *
 * Per head (q, k, v [N,dh]; W [m,dh] the layer's random features, shared by
 * its heads; c = dh^-1/4 so that exp(c q · c k) = exp(q·k / sqrt(dh))):
 *
 *   softmax kernel: phi(x)_j = m^-1/2 exp(c w_j·x - c^2 |x|^2 / 2 - s)
 *   relu kernel:    phi(x)_j = relu(c w_j·x) + 1e-3
 *   out_i = phi(q_i)^T (sum_n phi(k_n) v_n^T) / phi(q_i)^T (sum_n phi(k_n))
 *
 * computed as KV = phi(K)^T [V | 1] ([m, dh+1]) and phi(Q) KV, whose last
 * column is the normaliser (0/0, a head with no real key, gives 0).
 *
 * Stabiliser s (softmax kernel): for a query row, the row's largest exponent;
 * for keys, the largest exponent over all real keys and features of the
 * (batch, head). Both are constants of the normalised output (they cancel
 * between numerator and denominator), so they are treated as constants in
 * backward; the PyTorch reference does the same (detached).
 *
 * Padding: phi of a padded key is 0, so it adds nothing to KV or the
 * normaliser.
 *
 * phi(Q) and phi(K) come from the fused core op eb_favor_features (projection,
 * stabilised exp or relu, and padding in one multithreaded pass, keeping only
 * phi for backward; core/ops_favor.c).
 *
 * Random features: a buffer blocks.i.attn.features [m, dh] (eb_param_buffer:
 * saved and exported, never trained), drawn by eb_rng_orthogonal (orthogonal
 * Gaussian blocks, rows scaled by chi-distributed norms). With redraw = R > 0,
 * every training step whose number is a multiple of R first draws new
 * features for every layer from (a hash of layer 0's initial features, step,
 * layer): deterministic for a seed, and the export holds the features in use
 * (the Performer paper's feature_redraw_interval; evaluation never redraws).
 *
 * model.mlp_dropout applies to the MLP hidden activation; model.
 * attention_dropout is refused: FAVOR+ never forms attention probabilities.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block_util.h"
#include "effbench/plugin.h"
#include "prenorm_flops.h"

typedef enum kernel_kind { KERNEL_SOFTMAX = 0, KERNEL_RELU } kernel_kind;

typedef struct layer {
  eb_tensor *ln1_g, *ln1_b, *wqkv, *bqkv, *feat, *wo, *bo;
  eb_tensor *ln2_g, *ln2_b, *w1, *b1, *w2, *b2;
} layer;

typedef struct performer {
  eb_model_config cfg;
  int m, redraw;
  kernel_kind kernel;
  uint64_t base;     /* redraw seed: hash of the initial features */
  int have_base;     /* base computed (at the first forward) */
  uint64_t drawn_at; /* step of the last redraw */
  layer *layers;
} performer;

static const eb_param_decl performer_params[] = {
    {"features", EB_P_INT, "256", "random features m per layer (shared by its heads)",
     NULL},
    {"redraw", EB_P_INT, "0",
     "draw new random features every this many training steps (0 = fixed)", NULL},
    {"kernel", EB_P_STRING, "softmax",
     "softmax (FAVOR+ positive features) or relu (generalised attention, relu features)",
     "softmax|relu"},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

static kernel_kind parse_kernel(const eb_args *args) {
  return strcmp(eb_args_str(args, "kernel", "softmax"), "relu") == 0 ? KERNEL_RELU
                                                                     : KERNEL_SOFTMAX;
}

static int performer_validate(const eb_model_config *cfg, const eb_args *args, char *err,
                              size_t errlen) {
  if (cfg->dim % cfg->heads != 0) {
    snprintf(err, errlen, "heads (%d) must divide dim (%d)", cfg->heads, cfg->dim);
    return -1;
  }
  const int64_t m = eb_args_int(args, "features", 256);
  if (m < 1 || m > 1 << 16) {
    snprintf(err, errlen, "parameter features = %lld: must be in [1, 65536]",
             (long long)m);
    return -1;
  }
  if (cfg->attention_dropout > 0) {
    snprintf(err, errlen,
             "model.attention_dropout %g: FAVOR+ never forms attention probabilities, so "
             "there is nothing to drop; set attention_dropout: 0 for performer (an "
             "override: match: {arch: performer}, model: {attention_dropout: 0})",
             (double)cfg->attention_dropout);
    return -1;
  }
  const int64_t r = eb_args_int(args, "redraw", 0);
  if (r < 0) {
    snprintf(err, errlen,
             "parameter redraw = %lld: must be >= 0 (steps between redraws, 0 = never)",
             (long long)r);
    return -1;
  }
  return 0;
}

static int performer_create(const eb_model_config *cfg, const eb_args *args, eb_params *P,
                            void **out, char *err, size_t errlen) {
  if (performer_validate(cfg, args, err, errlen)) return -1;
  performer *v = calloc(1, sizeof *v);
  layer *ls = calloc(cfg->depth ? cfg->depth : 1, sizeof *ls);
  if (!v || !ls) {
    free(v);
    free(ls);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  v->cfg = *cfg;
  v->m = (int)eb_args_int(args, "features", 256);
  v->redraw = (int)eb_args_int(args, "redraw", 0);
  v->kernel = parse_kernel(args);
  v->layers = ls;
  const int D = cfg->dim, F = cfg->ffn, dh = D / cfg->heads;
  const float sd = 1.0f / sqrtf((float)D), sf = 1.0f / sqrtf((float)F);
  for (int i = 0; i < cfg->depth; i++) {
    layer *l = &ls[i];
    char fname[96];
    snprintf(fname, sizeof fname, "blocks.%d.attn.features", i);
    l->ln1_g = eb_block_param(P, i, "ln1.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    l->ln1_b = eb_block_param(P, i, "ln1.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->wqkv =
        eb_block_param(P, i, "attn.wqkv", 2, (int[]){3 * D, D}, EB_INIT_UNIFORM, sd);
    l->bqkv = eb_block_param(P, i, "attn.bqkv", 1, (int[]){3 * D}, EB_INIT_ZEROS, 0);
    l->feat = eb_param_buffer(P, fname, 2, (int[]){v->m, dh}, EB_INIT_ORTHOGONAL, 0);
    l->wo = eb_block_param(P, i, "attn.wo", 2, (int[]){D, D}, EB_INIT_UNIFORM, sd);
    l->bo = eb_block_param(P, i, "attn.bo", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->ln2_g = eb_block_param(P, i, "ln2.g", 1, (int[]){D}, EB_INIT_ONES, 0);
    l->ln2_b = eb_block_param(P, i, "ln2.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    l->w1 = eb_block_param(P, i, "mlp.w1", 2, (int[]){F, D}, EB_INIT_UNIFORM, sd);
    l->b1 = eb_block_param(P, i, "mlp.b1", 1, (int[]){F}, EB_INIT_ZEROS, 0);
    l->w2 = eb_block_param(P, i, "mlp.w2", 2, (int[]){D, F}, EB_INIT_UNIFORM, sf);
    l->b2 = eb_block_param(P, i, "mlp.b2", 1, (int[]){D}, EB_INIT_ZEROS, 0);
    if (!l->ln1_g || !l->ln1_b || !l->wqkv || !l->bqkv || !l->feat || !l->wo || !l->bo ||
        !l->ln2_g || !l->ln2_b || !l->w1 || !l->b1 || !l->w2 || !l->b2) {
      snprintf(err, errlen, "could not declare the parameters of block %d", i);
      free(ls);
      free(v);
      return -1;
    }
  }
  *out = v;
  return 0;
}

/* ------------------------------------------------------ normalisation --- */
/* y [B,H,N,dh+1] -> out [B,H,N,dh] = y[..., :dh] / y[..., dh] (0 where the
 * normaliser is 0). FLOPs, rows Rw: forward Rw dh, backward 4 Rw dh (per-row
 * reciprocals not counted, docs/flops.md). */
static void normalise_backward(eb_ctx *ctx, eb_node *nd) {
  eb_tensor *y = nd->in[0], *o = nd->out;
  const int dh = o->shape[3];
  const int64_t rows = o->size / dh;
  float *dy = eb_tensor_grad(ctx, y);
  if (!dy) return;
  for (int64_t r = 0; r < rows; r++) {
    const float den = y->data[r * (dh + 1) + dh];
    if (den == 0) continue;
    const float inv = 1.0f / den;
    const float *g = o->grad + r * dh, *out = o->data + r * dh;
    float s = 0;
    for (int d = 0; d < dh; d++) {
      dy[r * (dh + 1) + d] += g[d] * inv;
      s += g[d] * out[d];
    }
    dy[r * (dh + 1) + dh] -= s * inv;
  }
  eb_ctx_add_flops(ctx, 0, 4.0 * rows * dh);
}

static eb_tensor *normalise(eb_ctx *ctx, eb_tensor *y) {
  if (!y) return NULL;
  const int dh = y->shape[3] - 1;
  eb_tensor *o =
      eb_tensor_new(ctx, 4, (int[]){y->shape[0], y->shape[1], y->shape[2], dh});
  if (!o) return NULL;
  const int64_t rows = o->size / dh;
  for (int64_t r = 0; r < rows; r++) {
    const float den = y->data[r * (dh + 1) + dh];
    const float inv = den != 0 ? 1.0f / den : 0.0f;
    for (int d = 0; d < dh; d++)
      o->data[r * dh + d] = y->data[r * (dh + 1) + d] * inv;
  }
  eb_ctx_add_flops(ctx, (double)rows * dh, 0);
  eb_tape_record(ctx, normalise_backward, o, 1, &y);
  return o;
}

/* ------------------------------------------------------------- model ---- */
/* new features for every layer at training steps that are multiples of redraw */
static void maybe_redraw(performer *v, eb_ctx *ctx) {
  if (!v->have_base && v->cfg.depth > 0) {
    const eb_tensor *f = v->layers[0].feat;
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (int64_t i = 0; i < f->size; i++) {
      uint32_t bits;
      memcpy(&bits, &f->data[i], sizeof bits);
      h = eb_rng_hash(h, bits, (uint64_t)i);
    }
    v->base = h;
    v->have_base = 1;
  }
  const uint64_t step = eb_ctx_step(ctx);
  if (v->redraw <= 0 || !eb_ctx_training(ctx) || step == 0 || step % v->redraw != 0 ||
      step == v->drawn_at)
    return;
  for (int i = 0; i < v->cfg.depth; i++) {
    eb_tensor *f = v->layers[i].feat;
    eb_rng r = eb_rng_make(eb_rng_hash(v->base, step, 0xFEA7u), (uint64_t)i);
    eb_rng_orthogonal(&r, f->data, f->shape[0], f->shape[1]);
  }
  v->drawn_at = step;
}

/* x[B,N,D], mask[B*N] -> out[B,N,D] */
static int performer_forward(void *model, eb_ctx *ctx, eb_tensor *x, const uint8_t *mask,
                             eb_tensor **out, char *err, size_t errlen) {
  performer *v = model;
  const int D = v->cfg.dim, H = v->cfg.heads;
  const int B = x->shape[0], N = x->shape[1];
  const float p = v->cfg.dropout, pm = v->cfg.mlp_dropout;
  maybe_redraw(v, ctx);
  int padded = 0;
  for (int64_t i = 0; mask && i < (int64_t)B * N; i++)
    padded |= !mask[i];
  const uint8_t *kmask = padded ? mask : NULL;
  eb_tensor *ones = eb_tensor_new(ctx, 4, (int[]){B, H, N, 1});
  if (!ones) {
    snprintf(err, errlen, "%s", eb_ctx_error(ctx));
    return -1;
  }
  for (int64_t i = 0; i < ones->size; i++)
    ones->data[i] = 1.0f;
  for (int i = 0; i < v->cfg.depth; i++) {
    layer *l = &v->layers[i];
    eb_tensor *a = eb_layernorm(ctx, x, l->ln1_g, l->ln1_b);
    eb_tensor *qkv = eb_linear(ctx, a, l->wqkv, l->bqkv);
    eb_tensor *q = eb_split_heads(ctx, eb_slice_last(ctx, qkv, 0, D), H);
    eb_tensor *k = eb_split_heads(ctx, eb_slice_last(ctx, qkv, D, D), H);
    eb_tensor *val = eb_split_heads(ctx, eb_slice_last(ctx, qkv, 2 * D, D), H);
    const eb_favor_kernel kern =
        v->kernel == KERNEL_SOFTMAX ? EB_FAVOR_SOFTMAX : EB_FAVOR_RELU;
    eb_tensor *fq = eb_favor_features(ctx, q, l->feat, kern, 0, NULL); /* [B,H,N,m] */
    eb_tensor *fk = eb_favor_features(ctx, k, l->feat, kern, 1, kmask);
    eb_tensor *v1 = eb_concat_last(ctx, 2, (eb_tensor *[]){val, ones}); /* [B,H,N,dh+1] */
    eb_tensor *kv = eb_matmul(ctx, fk, v1, 1, 0);                       /* [B,H,m,dh+1] */
    eb_tensor *o = eb_merge_heads(ctx, normalise(ctx, eb_matmul(ctx, fq, kv, 0, 0)));
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

/* Analytic FLOPs of the blocks (docs/flops.md conventions, eb_favor_features
 * and the normalisation as counted there), x[B,N,D] without padding; training
 * adds the backward pass with x requiring a gradient (the features do not). */
static double performer_flops(const eb_model_config *cfg, const eb_args *args, int B,
                              int N, int training) {
  const double D = cfg->dim, H = cfg->heads, R = (double)B * N;
  const double m = (double)eb_args_int(args, "features", 256);
  const int soft = parse_kernel(args) == KERNEL_SOFTMAX;
  const double S = R * H * m;           /* feature-map elements per input */
  const double X = 2 * R * m * (D + H); /* one phi(.)·[V|1]-sized matmul */
  /* eb_favor_features on q and on k: per map the GEMM x W^T (2 R m D) and its
   * scale S; softmax max, subtract, exp 3 S (+ |k|^2 2 R D for keys), relu
   * max, + eps 2 S. Backward (dx only): GEMM 2 R m D + its scale R D; softmax
   * g·phi and its row sums 2 S, - c^2 (row sum) x 2 R D. */
  const double phi_f =
      soft ? 2 * (2 * R * m * D + 4 * S) + 2 * R * D : 2 * (2 * R * m * D + 3 * S);
  const double phi_b = soft ? 2 * (2 * R * m * D + R * D + 2 * S + 2 * R * D)
                            : 2 * (2 * R * m * D + R * D);
  const double att_f = phi_f        /* feature maps */
                       + 2 * X      /* phi(K)^T [V|1], phi(Q) KV */
                       + R * D;     /* normalisation */
  const double att_b = 3 * R * D    /* q, k, v slices */
                       + 4 * R * D  /* head splits, merge */
                       + phi_b      /* feature maps */
                       + R * D      /* concat [V|1] */
                       + 4 * X      /* two batched matmuls */
                       + 4 * R * D; /* normalisation */
  return cfg->depth * eb_prenorm_block_flops(cfg, R, att_f, att_b, training);
}

/* Analytic GEMM FLOPs (docs/flops.md "GEMM FLOPs"): the block's projections;
 * the feature maps' x W^T for q and k (backward: dx only, the features need
 * no gradient); phi(K)^T [V|1] and phi(Q) KV, both inputs' gradients. No
 * recompute. */
static int performer_gemm_flops(const eb_model_config *cfg, const eb_args *args, int B,
                                int N, int training, double *model, double *executed) {
  const double D = cfg->dim, H = cfg->heads, R = (double)B * N;
  const double m = (double)eb_args_int(args, "features", 256);
  const double maps = 2 * (2 * R * m * D); /* phi(q), phi(k) */
  const double X = 2 * R * m * (D + H);    /* one phi(.)·[V|1]-sized matmul */
  *executed =
      cfg->depth * eb_prenorm_block_gemm(cfg, R, maps + 2 * X, maps + 4 * X, training);
  *model = *executed;
  return 0;
}

static void performer_destroy(void *model) {
  performer *v = model;
  if (!v) return;
  free(v->layers);
  free(v);
}

const eb_arch eb_arch_performer = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_arch),
    .name = "performer",
    .summary = "Performer: FAVOR+ positive orthogonal random features, linear in N",
    .params = performer_params,
    .validate = performer_validate,
    .create = performer_create,
    .forward = performer_forward,
    .flops = performer_flops,
    .destroy = performer_destroy,
    .gemm_flops = performer_gemm_flops,
};
