/* Finite-difference gradient checks of every op in ops_linalg/elementwise/nn/
 * shape/attention, plus forward values against direct reference loops, error
 * paths, dropout determinism and thread-count independence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "effbench/core.h"

#define EPS 1e-2f
#define TOL 1e-2
#define PROBES 40

/* ------------------------------------------------------------ helpers ---- */
/* sum(y * R) with R a fixed pseudo-random tensor of y's shape (no gradient),
 * so every output element reaches the loss with a distinct weight. */
static eb_tensor *proj(eb_ctx *ctx, eb_tensor *y) {
  if (!y) return NULL;
  eb_tensor *r = eb_tensor_new(ctx, y->ndim, y->shape);
  if (!r) return NULL;
  eb_rng g = eb_rng_make(77, (uint64_t)y->size);
  for (int64_t i = 0; i < r->size; i++)
    r->data[i] = 2.0f * eb_rng_uniform(&g) - 1.0f;
  return eb_sum(ctx, eb_mul(ctx, y, r));
}

static eb_params *P;
static eb_tensor *param(const char *name, int ndim, const int *shape, float scale) {
  eb_tensor *t = eb_param(P, name, ndim, shape, EB_INIT_NORMAL, scale);
  if (!t) {
    fprintf(stderr, "cannot declare parameter %s\n", name);
    exit(1);
  }
  return t;
}
#define SHAPE(...) ((const int[]){__VA_ARGS__})
#define NDIM(...) ((int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)))
#define PARAM(name, scale, ...) param(name, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__), scale)

/* leaves */
static eb_tensor *x235, *w45, *b4, *a234, *c234, *b34, *mA, *mB, *mAt, *mBt, *m4a, *m4b;
static eb_tensor *u46, *ln_x, *ln_g, *ln_b, *sm_x, *emb, *dr_x, *pool_x, *ce_x, *sh_x;
static eb_tensor *tr_x, *cat[3], *att_q, *att_k, *att_v, *x26, *att_qkv;
/* rows wider than one 8-float vector with a ragged tail (vector kernels) */
static eb_tensor *r234, *ln19_x, *ln19_g, *ln19_b, *bg_x, *bg_b;

static const int32_t emb_ids[6] = {3, 0, 6, 3, 3, 1};
static const int32_t ce_labels[4] = {2, 0, 4, 4};
static const uint8_t pool_mask[3 * 4] = {1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1};
/* attention [2,2,5,4]: batch 1 has key 0 masked, so with causal its query 0
 * has no key at all (must give zeros) */
static const uint8_t att_mask[2 * 5] = {1, 1, 0, 1, 1, 0, 1, 1, 0, 1};

/* Attention with fewer or more keys than queries (q [B,H,Nq,Dh], k, v
 * [B,H,Nk,Dh]), one case per row: Nk = 7 > Nq = 5; Nk = 3 < Nq = 5 with batch 1
 * wholly masked (zeros); Nk = 300 > 256 (a full key block and a ragged one)
 * against Nq = 3. Masks have B * Nk entries. */
enum { ATT_X = 3 };
static const int att_x_shape[ATT_X][4] = {{2, 2, 5, 7}, {2, 2, 5, 3}, {2, 1, 3, 300}};
static eb_tensor *att_xq[ATT_X], *att_xk[ATT_X], *att_xv[ATT_X];
static uint8_t att_xmask[ATT_X][2 * 300];

enum {
  C_LINEAR,
  C_LINEAR_NOBIAS,
  C_LINEAR_ADD,
  C_MATMUL,
  C_MATMUL4,
  C_ADD,
  C_SUB,
  C_MUL,
  C_ADD_BC,
  C_SUB_BC,
  C_MUL_BC,
  C_MUL_SELF,
  C_SCALE,
  C_GELU,
  C_SILU,
  C_SOFTPLUS,
  C_EXP,
  C_RELU,
  C_SUM,
  C_LAYERNORM,
  C_LAYERNORM19,
  C_BIAS_GELU,
  C_SOFTMAX,
  C_EMBEDDING,
  C_DROPOUT,
  C_MEAN_POOL,
  C_MEAN_POOL_ALL,
  C_CLS_POOL,
  C_CROSS_ENTROPY,
  C_RESHAPE,
  C_TRANSPOSE,
  C_CONCAT,
  C_CONCAT_MANY,
  C_SLICE,
  C_REVERSE,
  C_ATTENTION,
  C_ATTENTION_BW,
  C_ATTENTION_QKV,
  C_ATTENTION_BW_SHARED,
  C_ATTENTION_X,    /* a1 = row of att_x_shape */
  C_ATTENTION_BW_X, /* a1 = row of att_x_shape */
  /* dropout 0.3 on the probabilities (fixed mask: training, step 5) */
  C_ATTENTION_DROP,
  C_ATTENTION_BW_DROP,
  C_ATTENTION_QKV_DROP,
};

typedef struct gcase {
  int op;
  int a0, a1; /* op arguments (transposes, dims, mask/causal) */
} gcase;

static eb_tensor *loss_fn(eb_ctx *ctx, void *user) {
  const gcase *c = user;
  eb_ctx_set_step(ctx, 5);
  switch (c->op) {
  case C_LINEAR: return proj(ctx, eb_linear(ctx, x235, w45, b4));
  case C_LINEAR_NOBIAS: return proj(ctx, eb_linear(ctx, x235, w45, NULL));
  case C_LINEAR_ADD: /* residual a parameter (a0 = 0) or an activation */
    if (c->a0)
      return proj(ctx, eb_linear_add(ctx, x235, w45, b4, eb_scale(ctx, r234, 1.0f)));
    return proj(ctx, eb_linear_add(ctx, x235, w45, c->a1 ? NULL : b4, r234));
  case C_MATMUL:
    return proj(ctx, eb_matmul(ctx, c->a0 ? mAt : mA, c->a1 ? mBt : mB, c->a0, c->a1));
  case C_MATMUL4: return proj(ctx, eb_matmul(ctx, m4a, m4b, 0, 1));
  case C_ADD: return proj(ctx, eb_add(ctx, a234, c234));
  case C_SUB: return proj(ctx, eb_sub(ctx, a234, c234));
  case C_MUL: return proj(ctx, eb_mul(ctx, a234, c234));
  case C_ADD_BC: return proj(ctx, eb_add(ctx, a234, b34));
  case C_SUB_BC: return proj(ctx, eb_sub(ctx, a234, b4));
  case C_MUL_BC: return proj(ctx, eb_mul(ctx, eb_scale(ctx, a234, 1.0f), b34));
  case C_MUL_SELF: return proj(ctx, eb_mul(ctx, a234, a234));
  case C_SCALE: return proj(ctx, eb_scale(ctx, u46, -1.7f));
  case C_GELU: return proj(ctx, eb_gelu(ctx, u46));
  case C_SILU: return proj(ctx, eb_silu(ctx, u46));
  case C_SOFTPLUS: return proj(ctx, eb_softplus(ctx, u46));
  case C_EXP: return proj(ctx, eb_exp(ctx, u46));
  case C_RELU: return proj(ctx, eb_relu(ctx, u46));
  case C_SUM: return eb_sum(ctx, eb_scale(ctx, u46, 0.5f));
  case C_LAYERNORM: return proj(ctx, eb_layernorm(ctx, ln_x, ln_g, ln_b));
  case C_LAYERNORM19: return proj(ctx, eb_layernorm(ctx, ln19_x, ln19_g, ln19_b));
  case C_BIAS_GELU: return proj(ctx, eb_bias_gelu(ctx, bg_x, bg_b));
  case C_SOFTMAX: return proj(ctx, eb_softmax(ctx, sm_x));
  case C_EMBEDDING: return proj(ctx, eb_embedding(ctx, emb, emb_ids, 2, 3));
  case C_DROPOUT: return proj(ctx, eb_dropout(ctx, eb_scale(ctx, dr_x, 1.0f), 0.3f));
  case C_MEAN_POOL: return proj(ctx, eb_mean_pool(ctx, pool_x, pool_mask));
  case C_MEAN_POOL_ALL: return proj(ctx, eb_mean_pool(ctx, pool_x, NULL));
  case C_CLS_POOL: return proj(ctx, eb_cls_pool(ctx, pool_x));
  case C_CROSS_ENTROPY: return eb_cross_entropy(ctx, ce_x, ce_labels, NULL);
  case C_RESHAPE: {
    /* a is an activation reshaped twice: the later view aliases a's gradient,
     * the earlier one accumulates into it; the parameter view accumulates */
    eb_tensor *a = eb_scale(ctx, sh_x, 1.5f);
    eb_tensor *y1 = eb_reshape(ctx, a, 2, SHAPE(3, 4));
    eb_tensor *y2 = eb_reshape(ctx, a, 1, SHAPE(12));
    eb_tensor *y3 = eb_reshape(ctx, sh_x, 3, SHAPE(2, 2, 3));
    return eb_add(ctx, eb_add(ctx, proj(ctx, y1), proj(ctx, y2)), proj(ctx, y3));
  }
  case C_TRANSPOSE: {
    eb_tensor *x = tr_x;
    if (c->a1 < 0) x = eb_reshape(ctx, tr_x, 2, SHAPE(6, 20)); /* 2-D case */
    return proj(ctx, eb_transpose(ctx, x, c->a0, c->a1 < 0 ? 1 : c->a1));
  }
  case C_CONCAT: return proj(ctx, eb_concat_last(ctx, 3, cat));
  case C_CONCAT_MANY: {
    eb_tensor *xs[8] = {cat[0], cat[1], cat[2], cat[0], cat[1], cat[2], cat[0], cat[2]};
    return proj(ctx, eb_concat_last(ctx, 8, xs));
  }
  case C_SLICE: return proj(ctx, eb_slice_last(ctx, x235, 1, 3));
  case C_REVERSE: return proj(ctx, eb_reverse_seq(ctx, x235));
  case C_ATTENTION:
    return proj(ctx, eb_attention(ctx, att_q, att_k, att_v, c->a0 ? att_mask : NULL,
                                  c->a1, 0.5f));
  case C_ATTENTION_BW:
    return proj(ctx, eb_attention_blockwise(ctx, att_q, att_k, att_v,
                                            c->a0 ? att_mask : NULL, c->a1, 0.5f));
  case C_ATTENTION_QKV: /* [2,5,3*8], 2 heads of 4 */
    return proj(ctx,
                eb_attention_qkv(ctx, att_qkv, 2, c->a0 ? att_mask : NULL, c->a1, 0.5f));
  case C_ATTENTION_BW_SHARED: /* one activation as q and k (shared gradient) */
  {
    eb_tensor *qk = eb_scale(ctx, att_q, 1.0f);
    return proj(ctx, eb_attention_blockwise(ctx, qk, qk, att_v, att_mask, 0, 0.5f));
  }
  case C_ATTENTION_DROP:
    return proj(ctx, eb_attention_drop(ctx, att_q, att_k, att_v, c->a0 ? att_mask : NULL,
                                       c->a1, 0.5f, 0.3f));
  case C_ATTENTION_BW_DROP:
    return proj(ctx,
                eb_attention_blockwise_drop(ctx, att_q, att_k, att_v,
                                            c->a0 ? att_mask : NULL, c->a1, 0.5f, 0.3f));
  case C_ATTENTION_QKV_DROP:
    return proj(ctx, eb_attention_qkv_drop(ctx, att_qkv, 2, c->a0 ? att_mask : NULL,
                                           c->a1, 0.5f, 0.3f));
  case C_ATTENTION_X:
    return proj(ctx, eb_attention(ctx, att_xq[c->a1], att_xk[c->a1], att_xv[c->a1],
                                  c->a0 ? att_xmask[c->a1] : NULL, 0, 0.5f));
  case C_ATTENTION_BW_X:
    return proj(ctx,
                eb_attention_blockwise(ctx, att_xq[c->a1], att_xk[c->a1], att_xv[c->a1],
                                       c->a0 ? att_xmask[c->a1] : NULL, 0, 0.5f));
  }
  return NULL;
}

static void gc(const char *what, eb_ctx *ctx, int op, int a0, int a1, int nl,
               eb_tensor *l0, eb_tensor *l1, eb_tensor *l2) {
  gcase c = {op, a0, a1};
  eb_tensor *leaves[3] = {l0, l1, l2};
  eb_gradcheck(what, ctx, loss_fn, &c, leaves, nl, EPS, TOL, PROBES);
}

static void declare_params(void) {
  P = eb_params_create();
  x235 = PARAM("x235", 1.0f, 2, 3, 5);
  w45 = PARAM("w45", 0.5f, 4, 5);
  b4 = PARAM("b4", 0.5f, 4);
  a234 = PARAM("a234", 1.0f, 2, 3, 4);
  c234 = PARAM("c234", 1.0f, 2, 3, 4);
  b34 = PARAM("b34", 1.0f, 3, 4);
  mA = PARAM("mA", 1.0f, 2, 3, 4);
  mAt = PARAM("mAt", 1.0f, 2, 4, 3);
  mB = PARAM("mB", 1.0f, 2, 4, 5);
  mBt = PARAM("mBt", 1.0f, 2, 5, 4);
  m4a = PARAM("m4a", 1.0f, 2, 2, 3, 4);
  m4b = PARAM("m4b", 1.0f, 2, 2, 2, 4);
  u46 = PARAM("u46", 1.5f, 4, 6);
  ln_x = PARAM("ln_x", 1.0f, 2, 3, 6);
  ln_g = PARAM("ln_g", 1.0f, 6);
  ln_b = PARAM("ln_b", 1.0f, 6);
  ln19_x = PARAM("ln19_x", 1.0f, 3, 19);
  r234 = PARAM("r234", 1.0f, 2, 3, 4);
  ln19_g = PARAM("ln19_g", 1.0f, 19);
  ln19_b = PARAM("ln19_b", 1.0f, 19);
  bg_x = PARAM("bg_x", 1.0f, 5, 11);
  bg_b = PARAM("bg_b", 1.0f, 11);
  sm_x = PARAM("sm_x", 1.5f, 3, 5);
  emb = PARAM("emb", 1.0f, 7, 4);
  dr_x = PARAM("dr_x", 1.0f, 4, 8);
  pool_x = PARAM("pool_x", 1.0f, 3, 4, 5);
  ce_x = PARAM("ce_x", 1.5f, 4, 5);
  sh_x = PARAM("sh_x", 1.0f, 2, 6);
  tr_x = PARAM("tr_x", 1.0f, 2, 3, 4, 5);
  cat[0] = PARAM("cat0", 1.0f, 2, 3, 2);
  cat[1] = PARAM("cat1", 1.0f, 2, 3, 1);
  cat[2] = PARAM("cat2", 1.0f, 2, 3, 4);
  att_q = PARAM("att_q", 1.0f, 2, 2, 5, 4);
  att_k = PARAM("att_k", 1.0f, 2, 2, 5, 4);
  att_v = PARAM("att_v", 1.0f, 2, 2, 5, 4);
  att_qkv = PARAM("att_qkv", 1.0f, 2, 5, 24);
  for (int c = 0; c < ATT_X; c++) {
    const int *s = att_x_shape[c];
    char name[32];
    snprintf(name, sizeof name, "att_xq%d", c);
    att_xq[c] = param(name, 4, SHAPE(s[0], s[1], s[2], 4), 1.0f);
    snprintf(name, sizeof name, "att_xk%d", c);
    att_xk[c] = param(name, 4, SHAPE(s[0], s[1], s[3], 4), 1.0f);
    snprintf(name, sizeof name, "att_xv%d", c);
    att_xv[c] = param(name, 4, SHAPE(s[0], s[1], s[3], 4), 1.0f);
    for (int j = 0; j < s[0] * s[3]; j++) { /* batch 1: every 3rd key masked */
      int b = j / s[3], t = j % s[3];
      att_xmask[c][j] = b == 0 ? t != 2 : t % 3 != 1;
    }
    if (c == 1) /* batch 1 of Nk = 3: no usable key at all */
      memset(att_xmask[c] + s[3], 0, (size_t)s[3]);
  }
  x26 = PARAM("x26", 1.0f, 2, 6);
  char err[128];
  if (eb_params_finalize(P, 1234, err, sizeof err) != 0) {
    fprintf(stderr, "finalize: %s\n", err);
    exit(1);
  }
  /* relu: keep every probe well away from the kink at 0 (|x| >= 0.1 > eps) */
  for (int64_t i = 0; i < u46->size; i++)
    if (fabsf(u46->data[i]) < 0.1f) u46->data[i] = u46->data[i] < 0 ? -0.1f : 0.1f;
  /* softplus: cover both sides of the threshold 20 and the far negative tail */
  u46->data[0] = 25.0f;
  u46->data[1] = -25.0f;
}

static void run_gradchecks(eb_ctx *ctx) {
  gc("linear", ctx, C_LINEAR, 0, 0, 3, x235, w45, b4);
  gc("linear (no bias)", ctx, C_LINEAR_NOBIAS, 0, 0, 2, x235, w45, NULL);
  gc("linear_add", ctx, C_LINEAR_ADD, 0, 0, 3, x235, w45, r234);
  gc("linear_add (no bias)", ctx, C_LINEAR_ADD, 0, 1, 3, x235, w45, r234);
  gc("linear_add (residual activation)", ctx, C_LINEAR_ADD, 1, 0, 3, x235, w45, r234);
  gc("matmul", ctx, C_MATMUL, 0, 0, 2, mA, mB, NULL);
  gc("matmul ta", ctx, C_MATMUL, 1, 0, 2, mAt, mB, NULL);
  gc("matmul tb", ctx, C_MATMUL, 0, 1, 2, mA, mBt, NULL);
  gc("matmul ta tb", ctx, C_MATMUL, 1, 1, 2, mAt, mBt, NULL);
  gc("matmul 4-D tb", ctx, C_MATMUL4, 0, 0, 2, m4a, m4b, NULL);
  gc("add", ctx, C_ADD, 0, 0, 2, a234, c234, NULL);
  gc("sub", ctx, C_SUB, 0, 0, 2, a234, c234, NULL);
  gc("mul", ctx, C_MUL, 0, 0, 2, a234, c234, NULL);
  gc("add broadcast [3,4]", ctx, C_ADD_BC, 0, 0, 2, a234, b34, NULL);
  gc("sub broadcast [4]", ctx, C_SUB_BC, 0, 0, 2, a234, b4, NULL);
  gc("mul broadcast [3,4]", ctx, C_MUL_BC, 0, 0, 2, a234, b34, NULL);
  gc("mul a*a", ctx, C_MUL_SELF, 0, 0, 1, a234, NULL, NULL);
  gc("scale", ctx, C_SCALE, 0, 0, 1, u46, NULL, NULL);
  gc("gelu", ctx, C_GELU, 0, 0, 1, u46, NULL, NULL);
  gc("silu", ctx, C_SILU, 0, 0, 1, u46, NULL, NULL);
  gc("softplus", ctx, C_SOFTPLUS, 0, 0, 1, u46, NULL, NULL);
  gc("relu", ctx, C_RELU, 0, 0, 1, u46, NULL, NULL);
  gc("sum", ctx, C_SUM, 0, 0, 1, u46, NULL, NULL);
  gc("layernorm", ctx, C_LAYERNORM, 0, 0, 3, ln_x, ln_g, ln_b);
  gc("layernorm D=19", ctx, C_LAYERNORM19, 0, 0, 3, ln19_x, ln19_g, ln19_b);
  gc("bias_gelu D=11", ctx, C_BIAS_GELU, 0, 0, 2, bg_x, bg_b, NULL);
  gc("softmax", ctx, C_SOFTMAX, 0, 0, 1, sm_x, NULL, NULL);
  gc("embedding", ctx, C_EMBEDDING, 0, 0, 1, emb, NULL, NULL);
  gc("dropout", ctx, C_DROPOUT, 0, 0, 1, dr_x, NULL, NULL);
  gc("mean_pool (mask)", ctx, C_MEAN_POOL, 0, 0, 1, pool_x, NULL, NULL);
  gc("mean_pool (no mask)", ctx, C_MEAN_POOL_ALL, 0, 0, 1, pool_x, NULL, NULL);
  gc("cls_pool", ctx, C_CLS_POOL, 0, 0, 1, pool_x, NULL, NULL);
  gc("cross_entropy", ctx, C_CROSS_ENTROPY, 0, 0, 1, ce_x, NULL, NULL);
  gc("reshape", ctx, C_RESHAPE, 0, 0, 1, sh_x, NULL, NULL);
  static const int pairs[][2] = {{0, 1}, {1, 3}, {0, 3}, {2, 3}, {1, 2}, {2, 2}};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "transpose %d,%d", pairs[i][0], pairs[i][1]);
    gc(what, ctx, C_TRANSPOSE, pairs[i][0], pairs[i][1], 1, tr_x, NULL, NULL);
  }
  gc("transpose 2-D", ctx, C_TRANSPOSE, 0, -1, 1, tr_x, NULL, NULL);
  gc("concat_last", ctx, C_CONCAT, 0, 0, 3, cat[0], cat[1], cat[2]);
  gc("concat_last (8 inputs)", ctx, C_CONCAT_MANY, 0, 0, 3, cat[0], cat[1], cat[2]);
  gc("slice_last", ctx, C_SLICE, 0, 0, 1, x235, NULL, NULL);
  gc("reverse_seq", ctx, C_REVERSE, 0, 0, 1, x235, NULL, NULL);
  gc("attention", ctx, C_ATTENTION, 0, 0, 3, att_q, att_k, att_v);
  gc("attention mask", ctx, C_ATTENTION, 1, 0, 3, att_q, att_k, att_v);
  gc("attention causal", ctx, C_ATTENTION, 0, 1, 3, att_q, att_k, att_v);
  gc("attention mask+causal", ctx, C_ATTENTION, 1, 1, 3, att_q, att_k, att_v);
  for (int mode = 0; mode < 4; mode++) {
    char what[64];
    snprintf(what, sizeof what, "attention_blockwise mask=%d causal=%d", mode & 1,
             mode >> 1);
    gc(what, ctx, C_ATTENTION_BW, mode & 1, mode >> 1, 3, att_q, att_k, att_v);
    snprintf(what, sizeof what, "attention_qkv mask=%d causal=%d", mode & 1, mode >> 1);
    gc(what, ctx, C_ATTENTION_QKV, mode & 1, mode >> 1, 1, att_qkv, NULL, NULL);
  }
  gc("attention_blockwise q == k", ctx, C_ATTENTION_BW_SHARED, 0, 0, 2, att_q, att_v,
     NULL);
  for (int mode = 0; mode < 4; mode++) {
    char what[80];
    snprintf(what, sizeof what, "attention dropout mask=%d causal=%d", mode & 1,
             mode >> 1);
    gc(what, ctx, C_ATTENTION_DROP, mode & 1, mode >> 1, 3, att_q, att_k, att_v);
    snprintf(what, sizeof what, "attention_blockwise dropout mask=%d causal=%d", mode & 1,
             mode >> 1);
    gc(what, ctx, C_ATTENTION_BW_DROP, mode & 1, mode >> 1, 3, att_q, att_k, att_v);
    snprintf(what, sizeof what, "attention_qkv dropout mask=%d causal=%d", mode & 1,
             mode >> 1);
    gc(what, ctx, C_ATTENTION_QKV_DROP, mode & 1, mode >> 1, 1, att_qkv, NULL, NULL);
  }
  for (int c = 0; c < ATT_X; c++)
    for (int m = 0; m < 2; m++) {
      const int *s = att_x_shape[c];
      char what[96];
      snprintf(what, sizeof what, "attention Nq=%d Nk=%d mask=%d", s[2], s[3], m);
      gc(what, ctx, C_ATTENTION_X, m, c, 3, att_xq[c], att_xk[c], att_xv[c]);
      snprintf(what, sizeof what, "attention_blockwise Nq=%d Nk=%d mask=%d", s[2], s[3],
               m);
      gc(what, ctx, C_ATTENTION_BW_X, m, c, 3, att_xq[c], att_xk[c], att_xv[c]);
    }

  /* exp separately: its outputs reach e^4, so use a smaller input range */
  for (int64_t i = 0; i < x26->size; i++)
    x26->data[i] = 0.5f * x26->data[i];
  gcase c = {C_EXP, 0, 0};
  eb_tensor *keep = u46;
  u46 = x26;
  eb_gradcheck("exp", ctx, loss_fn, &c, &x26, 1, EPS, TOL, PROBES);
  u46 = keep;
}

/* ---------------------------------------------------- forward values ---- */
static eb_tensor *filled(eb_ctx *ctx, int ndim, const int *shape, uint64_t stream,
                         float s) {
  eb_tensor *t = eb_tensor_new(ctx, ndim, shape);
  eb_rng g = eb_rng_make(99, stream);
  for (int64_t i = 0; i < t->size; i++)
    t->data[i] = s * eb_rng_normal(&g);
  return t;
}

/* The transpose forward and backward on shapes past its 16 x 16 tiles and
 * threading threshold, each pair of dims (the last kept, or swapped): x used
 * by two transposes, so the first backward writes dx (mode 2) and the second
 * adds to it (mode 1); loss = sum(t1 r1) + sum(t2 r2) gives exactly dx = r1 +
 * r2 at x's element. */
static void check_transpose_backward(eb_ctx *ctx) {
  static const int big[4] = {3, 19, 37, 35};
  static const int tp[][2] = {{0, 1}, {1, 2}, {2, 3}, {1, 3}, {0, 3}};
  for (size_t i = 0; i < sizeof tp / sizeof tp[0]; i++) {
    eb_ctx_reset(ctx);
    eb_ctx_set_grad(ctx, 1);
    eb_tensor *x = filled(ctx, 4, SHAPE(big[0], big[1], big[2], big[3]), 32, 1);
    if (!x) break;
    x->requires_grad = 1;
    eb_tensor *t1 = eb_transpose(ctx, x, tp[i][0], tp[i][1]);
    eb_tensor *t2 = eb_transpose(ctx, x, tp[i][0], tp[i][1]);
    eb_tensor *r1 = t1 ? filled(ctx, 4, t1->shape, 33, 1) : NULL;
    eb_tensor *r2 = t1 ? filled(ctx, 4, t1->shape, 34, 1) : NULL;
    eb_tensor *loss =
        eb_add(ctx, eb_sum(ctx, eb_mul(ctx, t1, r1)), eb_sum(ctx, eb_mul(ctx, t2, r2)));
    CHECK(loss && eb_backward(ctx, loss) == 0 && x->grad, "transpose %d,%d backward: %s",
          tp[i][0], tp[i][1], eb_ctx_error(ctx));
    if (!loss || !x->grad) continue;
    int misplaced = 0, ix[4];
    for (ix[0] = 0; ix[0] < big[0]; ix[0]++)
      for (ix[1] = 0; ix[1] < big[1]; ix[1]++)
        for (ix[2] = 0; ix[2] < big[2]; ix[2]++)
          for (ix[3] = 0; ix[3] < big[3]; ix[3]++) {
            int o[4] = {ix[0], ix[1], ix[2], ix[3]};
            o[tp[i][0]] = ix[tp[i][1]];
            o[tp[i][1]] = ix[tp[i][0]];
            const int64_t xi =
                ((ix[0] * big[1] + ix[1]) * big[2] + ix[2]) * big[3] + ix[3];
            const int64_t ti =
                ((o[0] * t1->shape[1] + o[1]) * t1->shape[2] + o[2]) * t1->shape[3] +
                o[3];
            misplaced += t1->data[ti] != x->data[xi] || t2->data[ti] != x->data[xi] ||
                         x->grad[xi] != r1->data[ti] + r2->data[ti];
          }
    CHECK(misplaced == 0, "transpose %d,%d of [3,19,37,35]: %d wrong elements", tp[i][0],
          tp[i][1], misplaced);
  }
}

static void check_linear_matmul(eb_ctx *ctx) {
  eb_ctx_reset(ctx);
  eb_tensor *x = filled(ctx, 3, SHAPE(2, 3, 5), 1, 1),
            *w = filled(ctx, 2, SHAPE(4, 5), 2, 1);
  eb_tensor *b = filled(ctx, 1, SHAPE(4), 3, 1);
  eb_tensor *y = eb_linear(ctx, x, w, b);
  float ref[24];
  for (int r = 0; r < 6; r++)
    for (int o = 0; o < 4; o++) {
      double s = b->data[o];
      for (int i = 0; i < 5; i++)
        s += (double)x->data[r * 5 + i] * w->data[o * 5 + i];
      ref[r * 4 + o] = (float)s;
    }
  CHECK(y && y->ndim == 3 && y->shape[2] == 4, "linear output shape");
  if (y) eb_check_close("linear forward", y->data, ref, 24, 1e-5, 1e-3);
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      int M = 3, K = 4, N = 5;
      eb_tensor *a = filled(ctx, 3, ta ? SHAPE(2, 4, 3) : SHAPE(2, 3, 4), 4, 1);
      eb_tensor *bb = filled(ctx, 3, tb ? SHAPE(2, 5, 4) : SHAPE(2, 4, 5), 5, 1);
      eb_tensor *c = eb_matmul(ctx, a, bb, ta, tb);
      float want[2 * 3 * 5];
      for (int z = 0; z < 2; z++)
        for (int i = 0; i < M; i++)
          for (int j = 0; j < N; j++) {
            double s = 0;
            for (int kk = 0; kk < K; kk++) {
              float av = ta ? a->data[z * 12 + kk * M + i] : a->data[z * 12 + i * K + kk];
              float bv =
                  tb ? bb->data[z * 20 + j * K + kk] : bb->data[z * 20 + kk * N + j];
              s += (double)av * bv;
            }
            want[(z * M + i) * N + j] = (float)s;
          }
      char what[64];
      snprintf(what, sizeof what, "matmul forward ta=%d tb=%d", ta, tb);
      CHECK(c != NULL, "%s: %s", what, eb_ctx_error(ctx));
      if (c) eb_check_close(what, c->data, want, 30, 1e-5, 1e-3);
    }
}

static void check_softmax_layernorm(eb_ctx *ctx) {
  eb_ctx_reset(ctx);
  eb_tensor *x = filled(ctx, 2, SHAPE(7, 9), 6, 3);
  x->data[0] = 80.0f; /* large logits must not overflow */
  eb_tensor *y = eb_softmax(ctx, x);
  CHECK(y != NULL, "softmax: %s", eb_ctx_error(ctx));
  for (int r = 0; y && r < 7; r++) {
    double s = 0;
    for (int j = 0; j < 9; j++)
      s += y->data[r * 9 + j];
    CHECK(fabs(s - 1.0) < 1e-5, "softmax row %d sums to %.8g", r, s);
  }
  eb_params *lp = eb_params_create();
  eb_tensor *g = eb_param(lp, "g", 1, SHAPE(9), EB_INIT_ONES, 0);
  eb_tensor *be = eb_param(lp, "b", 1, SHAPE(9), EB_INIT_ZEROS, 0);
  char err[64];
  eb_params_finalize(lp, 1, err, sizeof err);
  eb_tensor *z = eb_layernorm(ctx, x, g, be);
  CHECK(z != NULL, "layernorm: %s", eb_ctx_error(ctx));
  for (int r = 0; z && r < 7; r++) {
    double m = 0, v = 0;
    for (int j = 0; j < 9; j++)
      m += z->data[r * 9 + j];
    m /= 9;
    for (int j = 0; j < 9; j++)
      v += (z->data[r * 9 + j] - m) * (z->data[r * 9 + j] - m);
    v /= 9;
    CHECK(fabs(m) < 1e-5 && fabs(v - 1.0) < 1e-3, "layernorm row %d: mean %.3g var %.6g",
          r, m, v);
  }
  eb_params_destroy(lp);
}

static void check_unary_values(eb_ctx *ctx) {
  eb_ctx_reset(ctx);
  static const float in[5] = {1.0f, -0.5f, 3.0f, 30.0f, -30.0f};
  /* torch.nn.functional.gelu(x, approximate='tanh'), silu, softplus */
  static const float gelu[3] = {0.84119199f, -0.15428599f, 2.99636261f};
  static const float silu[3] = {0.73105858f, -0.18877033f, 2.85772238f};
  static const float softplus[5] = {1.31326163f, 0.47407699f, 3.04858735f, 30.0f,
                                    9.3576e-14f};
  eb_tensor *x = eb_tensor_new(ctx, 1, SHAPE(5));
  memcpy(x->data, in, sizeof in);
  eb_tensor *g = eb_gelu(ctx, x), *s = eb_silu(ctx, x), *sp = eb_softplus(ctx, x);
  CHECK(g && s && sp, "unary forward failed: %s", eb_ctx_error(ctx));
  if (!g || !s || !sp) return;
  eb_check_close("gelu forward", g->data, gelu, 3, 1e-6, 1e-6);
  eb_check_close("silu forward", s->data, silu, 3, 1e-6, 1e-6);
  eb_check_close("softplus forward", sp->data, softplus, 5, 1e-4, 1e-30);
}

/* eb_attention against a direct double-precision loop, Nk keys per query (Nk
 * = N = 5 with causal variants, else Nk = 3 or 7 without). */
static void check_attention_values(eb_ctx *ctx, int Nk) {
  enum { B = 2, H = 2, N = 5, D = 4 };
  uint8_t mask[B * 8];
  for (int j = 0; j < B * Nk; j++)
    mask[j] = Nk == N ? att_mask[j] : (j % Nk) % 3 != 1;
  for (int mode = 0; mode < (Nk == N ? 4 : 2); mode++) {
    int use_mask = mode & 1, causal = mode >> 1;
    eb_ctx_reset(ctx);
    eb_tensor *q = filled(ctx, 4, SHAPE(B, H, N, D), 10, 1);
    eb_tensor *k = filled(ctx, 4, SHAPE(B, H, Nk, D), 11, 1);
    eb_tensor *v = filled(ctx, 4, SHAPE(B, H, Nk, D), 12, 1);
    float scale = 0.5f;
    eb_tensor *o = eb_attention(ctx, q, k, v, use_mask ? mask : NULL, causal, scale);
    CHECK(o != NULL, "attention: %s", eb_ctx_error(ctx));
    if (!o) continue;
    float want[B * H * N * D];
    for (int b = 0; b < B; b++)
      for (int h = 0; h < H; h++)
        for (int i = 0; i < N; i++) {
          int qbase = ((b * H + h) * N) * D, kbase = ((b * H + h) * Nk) * D;
          double s[8], m = -INFINITY, z = 0;
          int ok[8], any = 0;
          for (int j = 0; j < Nk; j++) {
            ok[j] = (!use_mask || mask[b * Nk + j]) && (!causal || j <= i);
            s[j] = 0;
            for (int d = 0; d < D; d++)
              s[j] += (double)q->data[qbase + i * D + d] * k->data[kbase + j * D + d];
            s[j] *= scale;
            if (ok[j]) {
              any = 1;
              if (s[j] > m) m = s[j];
            }
          }
          for (int j = 0; j < Nk; j++)
            z += ok[j] ? exp(s[j] - m) : 0;
          for (int d = 0; d < D; d++) {
            double acc = 0;
            for (int j = 0; j < Nk; j++)
              if (ok[j]) acc += exp(s[j] - m) / z * v->data[kbase + j * D + d];
            want[qbase + i * D + d] = any ? (float)acc : 0.0f;
          }
        }
    char what[64];
    snprintf(what, sizeof what, "attention forward Nk=%d mask=%d causal=%d", Nk, use_mask,
             causal);
    eb_check_close(what, o->data, want, B * H * N * D, 1e-4, 1e-2);
    for (int i = 0; i < o->size; i++)
      if (!isfinite(o->data[i])) {
        CHECK(0, "%s: non-finite output at %d", what, i);
        break;
      }
  }
}

/* Blockwise attention (both entry points) against the naive kernel: forward and
 * the gradients of q, k, v, at sizes that cross several query and key blocks
 * with ragged tails, with a key mask that empties whole rows under causal
 * masking, and bit-identical across thread counts. */
static void bw_compare(eb_ctx *ctx, int B, int H, int N, int Dh, int use_mask, int causal,
                       int qkv) {
  int D = H * Dh;
  uint8_t *mask = malloc((size_t)B * N);
  for (int i = 0; i < B * N; i++) /* batch 1: key 0 and every 3rd key masked */
    mask[i] = !((i / N) == 1 && ((i % N) == 0 || (i % N) % 3 == 1));
  const uint8_t *m = use_mask ? mask : NULL;
  float scale = 1.0f / sqrtf((float)Dh);
  float *ref[4] = {0}, *got[4] = {0};
  int64_t sz = (int64_t)B * H * N * Dh;
  for (int pass = 0; pass < 3; pass++) { /* naive, blockwise 1 thread, 2 threads */
    eb_set_threads(pass == 2 ? 2 : 1);
    eb_ctx_reset(ctx);
    eb_params *tp = eb_params_create();
    eb_tensor *src = eb_param(tp, "qkv", 3, SHAPE(B, N, 3 * D), EB_INIT_NORMAL, 1.0f);
    char err[64];
    eb_params_finalize(tp, 5, err, sizeof err);
    /* q, k, v [B,H,N,Dh] as activations split from the fused parameter */
    eb_tensor *hs[3];
    for (int t = 0; t < 3; t++)
      hs[t] = eb_transpose(
          ctx, eb_reshape(ctx, eb_slice_last(ctx, src, t * D, D), 4, SHAPE(B, N, H, Dh)),
          1, 2);
    eb_tensor *o;
    if (pass == 0)
      o = eb_attention(ctx, hs[0], hs[1], hs[2], m, causal, scale);
    else if (!qkv)
      o = eb_attention_blockwise(ctx, hs[0], hs[1], hs[2], m, causal, scale);
    else /* back to [B,H,N,Dh] for the comparison */
      o = eb_transpose(ctx,
                       eb_reshape(ctx, eb_attention_qkv(ctx, src, H, m, causal, scale), 4,
                                  SHAPE(B, N, H, Dh)),
                       1, 2);
    eb_tensor *L = proj(ctx, o);
    CHECK(L && eb_backward(ctx, L) == 0, "attention compare: %s", eb_ctx_error(ctx));
    float **dst = pass == 0 ? ref : got;
    if (L) {
      float *keep = malloc((size_t)(sz + 3 * (int64_t)B * N * D) * sizeof(float));
      memcpy(keep, o->data, (size_t)sz * sizeof(float));
      memcpy(keep + sz, src->grad, (size_t)3 * B * N * D * sizeof(float));
      if (pass == 2 && got[0]) { /* thread counts: bit-identical */
        int same = memcmp(keep, got[0],
                          (size_t)(sz + 3 * (int64_t)B * N * D) * sizeof(float)) == 0;
        CHECK(same, "attention %s N=%d mask=%d causal=%d: 1 and 2 threads differ",
              qkv ? "qkv" : "blockwise", N, use_mask, causal);
        free(keep);
      } else {
        free(dst[0]);
        dst[0] = keep;
      }
    }
    eb_params_destroy(tp);
  }
  eb_set_threads(1);
  if (ref[0] && got[0]) {
    char what[128];
    snprintf(what, sizeof what, "attention %s vs naive N=%d Dh=%d mask=%d causal=%d out",
             qkv ? "qkv" : "blockwise", N, Dh, use_mask, causal);
    eb_check_close(what, got[0], ref[0], (long)sz, 1e-4, 1e-2);
    snprintf(what, sizeof what, "attention %s vs naive N=%d Dh=%d mask=%d causal=%d dqkv",
             qkv ? "qkv" : "blockwise", N, Dh, use_mask, causal);
    eb_check_close(what, got[0] + sz, ref[0] + sz, (long)3 * B * N * D, 1e-4, 1e-2);
    for (int64_t i = 0; i < sz; i++)
      if (!isfinite(got[0][i])) {
        CHECK(0, "%s: non-finite output at %lld", what, (long long)i);
        break;
      }
  }
  free(ref[0]);
  free(got[0]);
  free(mask);
}

/* The same with Nq queries against Nk keys (no causal masking): q, k, v are
 * parameters of their own shapes. mask_mode 0: none; 1: batch 1 has key 0 and
 * every 3rd key masked; 2: batch 1 has no usable key (its rows must be 0). */
static void bw_compare_x(eb_ctx *ctx, int B, int H, int Nq, int Nk, int Dh,
                         int mask_mode) {
  uint8_t *mask = malloc((size_t)B * Nk);
  for (int i = 0; i < B * Nk; i++)
    mask[i] = (i / Nk) != 1 || (mask_mode == 1 && (i % Nk) != 0 && (i % Nk) % 3 != 1);
  const uint8_t *m = mask_mode ? mask : NULL;
  float scale = 1.0f / sqrtf((float)Dh);
  int64_t nq = (int64_t)B * H * Nq * Dh, nk = (int64_t)B * H * Nk * Dh;
  int64_t total = 2 * nq + 2 * nk; /* out, dq, dk, dv */
  float *ref = NULL, *got = NULL;
  for (int pass = 0; pass < 3; pass++) { /* naive, blockwise 1 thread, 2 threads */
    eb_set_threads(pass == 2 ? 2 : 1);
    eb_ctx_reset(ctx);
    eb_params *tp = eb_params_create();
    eb_tensor *q = eb_param(tp, "q", 4, SHAPE(B, H, Nq, Dh), EB_INIT_NORMAL, 1.0f);
    eb_tensor *k = eb_param(tp, "k", 4, SHAPE(B, H, Nk, Dh), EB_INIT_NORMAL, 1.0f);
    eb_tensor *v = eb_param(tp, "v", 4, SHAPE(B, H, Nk, Dh), EB_INIT_NORMAL, 1.0f);
    char err[64];
    eb_params_finalize(tp, 6, err, sizeof err);
    eb_tensor *o = pass == 0 ? eb_attention(ctx, q, k, v, m, 0, scale)
                             : eb_attention_blockwise(ctx, q, k, v, m, 0, scale);
    eb_tensor *L = proj(ctx, o);
    CHECK(L && eb_backward(ctx, L) == 0, "attention compare Nq=%d Nk=%d: %s", Nq, Nk,
          eb_ctx_error(ctx));
    if (L) {
      float *keep = malloc((size_t)total * sizeof(float));
      memcpy(keep, o->data, (size_t)nq * sizeof(float));
      memcpy(keep + nq, q->grad, (size_t)nq * sizeof(float));
      memcpy(keep + 2 * nq, k->grad, (size_t)nk * sizeof(float));
      memcpy(keep + 2 * nq + nk, v->grad, (size_t)nk * sizeof(float));
      if (pass == 2 && got) { /* thread counts: bit-identical */
        CHECK(memcmp(keep, got, (size_t)total * sizeof(float)) == 0,
              "attention blockwise Nq=%d Nk=%d mask=%d: 1 and 2 threads differ", Nq, Nk,
              mask_mode);
        free(keep);
      } else if (pass == 0) {
        ref = keep;
      } else {
        got = keep;
      }
    }
    eb_params_destroy(tp);
  }
  eb_set_threads(1);
  if (ref && got) {
    static const char *part[3] = {"out", "dq", "dk dv"};
    const int64_t off[3] = {0, nq, 2 * nq}, len[3] = {nq, nq, 2 * nk};
    for (int p = 0; p < 3; p++) {
      char what[128];
      snprintf(what, sizeof what,
               "attention blockwise vs naive Nq=%d Nk=%d Dh=%d mask=%d %s", Nq, Nk, Dh,
               mask_mode, part[p]);
      eb_check_close(what, got + off[p], ref + off[p], (long)len[p], 1e-4, 1e-2);
    }
    int bad = 0;
    for (int64_t i = 0; i < total; i++)
      bad += !isfinite(got[i]);
    for (int h = 0; mask_mode == 2 && B > 1 && h < H; h++) /* batch 1: zero rows */
      for (int64_t i = 0; i < (int64_t)Nq * Dh; i++)
        bad += got[((int64_t)H + h) * Nq * Dh + i] != 0.0f;
    CHECK(bad == 0,
          "attention blockwise Nq=%d Nk=%d mask=%d: %d non-finite or non-zero "
          "(fully masked) outputs",
          Nq, Nk, mask_mode, bad);
  }
  free(ref);
  free(got);
  free(mask);
}

static void check_attention_blockwise(eb_ctx *ctx) {
  for (int mode = 0; mode < 4; mode++)
    for (int qkv = 0; qkv < 2; qkv++) {
      bw_compare(ctx, 2, 2, 300, 5, mode & 1, mode >> 1, qkv); /* ragged blocks */
      bw_compare(ctx, 2, 3, 512, 16, mode & 1, mode >> 1, qkv);
    }
  bw_compare(ctx, 1, 1, 1, 3, 0, 1, 1);
  bw_compare(ctx, 2, 1, 7, 8, 1, 1, 0);
  /* head dims that fill the kernels' 32-column strips (64), and leave a
   * 16-wide remainder after them (40) */
  bw_compare(ctx, 1, 2, 300, 64, 1, 0, 1);
  bw_compare(ctx, 1, 2, 130, 40, 0, 1, 0);
  /* Nq != Nk: Nk < Nq and Nk > Nq, Nk a multiple of the key block (256) or
   * not, ragged query blocks, head dims padded (5) or not (16) */
  for (int mm = 0; mm < 3; mm++) {
    bw_compare_x(ctx, 2, 2, 300, 257, 5, mm);
    bw_compare_x(ctx, 2, 3, 40, 600, 16, mm);
    bw_compare_x(ctx, 2, 2, 600, 256, 8, mm); /* linformer's shape: Nk = k */
  }
  bw_compare_x(ctx, 2, 1, 1, 5, 3, 1);
  bw_compare_x(ctx, 2, 2, 513, 17, 8, 1);
  bw_compare_x(ctx, 1, 2, 33, 1, 4, 0);
  bw_compare_x(ctx, 1, 2, 70, 300, 48, 1);
}

static void check_cross_entropy(eb_ctx *ctx) {
  eb_ctx_reset(ctx);
  eb_tensor *x = filled(ctx, 2, SHAPE(4, 5), 20, 2);
  int correct = -1;
  eb_tensor *L = eb_cross_entropy(ctx, x, ce_labels, &correct);
  CHECK(L != NULL, "cross_entropy: %s", eb_ctx_error(ctx));
  double want = 0;
  int hits = 0;
  for (int b = 0; b < 4; b++) {
    double z = 0;
    int am = 0;
    for (int c = 0; c < 5; c++) {
      z += exp(x->data[b * 5 + c]);
      if (x->data[b * 5 + c] > x->data[b * 5 + am]) am = c;
    }
    want += log(z) - x->data[b * 5 + ce_labels[b]];
    hits += am == ce_labels[b];
  }
  want /= 4;
  float wf = (float)want;
  if (L) eb_check_close("cross_entropy forward", L->data, &wf, 1, 1e-5, 1e-3);
  CHECK(correct == hits, "cross_entropy correct %d, want %d", correct, hits);
}

static void check_dropout(eb_ctx *ctx) {
  enum { n = 20000 };
  eb_ctx_reset(ctx);
  eb_ctx_set_training(ctx, 1);
  eb_ctx_set_step(ctx, 3);
  eb_tensor *x = eb_tensor_new(ctx, 1, SHAPE(n));
  for (int i = 0; i < n; i++)
    x->data[i] = 1.0f;
  eb_tensor *y1 = eb_dropout(ctx, x, 0.5f);
  eb_ctx_set_step(ctx, 3);
  eb_tensor *y2 = eb_dropout(ctx, x, 0.5f);
  eb_ctx_set_step(ctx, 4);
  eb_tensor *y3 = eb_dropout(ctx, x, 0.5f);
  CHECK(y1 && y2 && y3 && y1 != x, "dropout: %s", eb_ctx_error(ctx));
  if (!y1 || !y2 || !y3) return;
  int kept = 0, bad = 0, same = 0;
  for (int i = 0; i < n; i++) {
    kept += y1->data[i] != 0.0f;
    bad += y1->data[i] != 0.0f && y1->data[i] != 2.0f;
    same += y1->data[i] == y3->data[i];
  }
  CHECK(fabs(kept / (double)n - 0.5) < 0.02, "dropout p=0.5 kept %d of %d", kept, n);
  CHECK(bad == 0, "dropout: %d kept values are not scaled by 2", bad);
  CHECK(memcmp(y1->data, y2->data, n * sizeof(float)) == 0,
        "dropout: same seed and step give different masks");
  CHECK(same < n * 0.6, "dropout: a new step reuses the mask (%d of %d equal)", same, n);
  CHECK(eb_dropout(ctx, x, 0.0f) == x, "dropout p=0 must return x itself");
  eb_ctx_set_training(ctx, 0);
  CHECK(eb_dropout(ctx, x, 0.5f) == x, "dropout in eval must return x itself");
  eb_ctx_set_training(ctx, 1);
}

/* Dropout on attention probabilities. With v = identity (Nk = Dh keys, v_j =
 * e_j) the output row is P_i Z_i itself, so each output is 0 or P / (1 - p)
 * with P from the same op in evaluation; about p of them are 0; the naive,
 * blockwise and fused-qkv kernels draw the same Z; evaluation, p = 0 and a
 * repeated step reproduce; another step draws another mask. */
static void check_attention_dropout(eb_ctx *ctx) {
  enum { B = 2, H = 2, N = 16, D = H * N };
  const float p = 0.25f, ks = 1.0f / (1.0f - p);
  eb_ctx_reset(ctx);
  eb_ctx_set_grad(ctx, 0);
  eb_tensor *qkv = eb_tensor_new(ctx, 3, SHAPE(B, N, 3 * D));
  eb_tensor *q = eb_tensor_new(ctx, 4, SHAPE(B, H, N, N));
  eb_tensor *k = eb_tensor_new(ctx, 4, SHAPE(B, H, N, N));
  eb_tensor *v = eb_tensor_new(ctx, 4, SHAPE(B, H, N, N));
  eb_rng g = eb_rng_make(5, 5);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int i = 0; i < N; i++)
        for (int d = 0; d < N; d++) {
          int64_t e = (((int64_t)b * H + h) * N + i) * N + d;
          float *row = qkv->data + ((int64_t)b * N + i) * 3 * D + h * N + d;
          row[0] = q->data[e] = 2.0f * eb_rng_uniform(&g) - 1.0f;
          row[D] = k->data[e] = 2.0f * eb_rng_uniform(&g) - 1.0f;
          row[2 * D] = v->data[e] = i == d ? 1.0f : 0.0f;
        }
  eb_ctx_set_training(ctx, 0);
  eb_tensor *P = eb_attention(ctx, q, k, v, NULL, 0, 0.5f);
  eb_tensor *ev = eb_attention_drop(ctx, q, k, v, NULL, 0, 0.5f, p);
  eb_ctx_set_training(ctx, 1);
  eb_tensor *y[4] = {0};
  for (int r = 0; r < 4; r++) { /* naive, blockwise, qkv, naive at another step */
    eb_ctx_set_step(ctx, r == 3 ? 12 : 11);
    if (r == 0) y[r] = eb_attention_drop(ctx, q, k, v, NULL, 0, 0.5f, p);
    if (r == 1) y[r] = eb_attention_blockwise_drop(ctx, q, k, v, NULL, 0, 0.5f, p);
    if (r == 2) y[r] = eb_attention_qkv_drop(ctx, qkv, H, NULL, 0, 0.5f, p);
    if (r == 3) y[r] = eb_attention_drop(ctx, q, k, v, NULL, 0, 0.5f, p);
  }
  eb_tensor *z0 = eb_attention_qkv_drop(ctx, qkv, H, NULL, 0, 0.5f, 0.0f);
  eb_tensor *plain = eb_attention_qkv(ctx, qkv, H, NULL, 0, 0.5f);
  CHECK(P && ev && y[0] && y[1] && y[2] && y[3] && z0 && plain, "attention dropout: %s",
        eb_ctx_error(ctx));
  if (!P || !ev || !y[0] || !y[1] || !y[2] || !y[3] || !z0 || !plain) return;
  CHECK(memcmp(ev->data, P->data, (size_t)P->size * sizeof(float)) == 0,
        "attention dropout must be off in evaluation");
  CHECK(memcmp(z0->data, plain->data, (size_t)z0->size * sizeof(float)) == 0,
        "attention dropout p = 0 must equal the plain op");
  int zeros = 0, bad = 0, differ = 0, same = 0;
  double worst = 0;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int i = 0; i < N; i++)
        for (int d = 0; d < N; d++) {
          int64_t e = (((int64_t)b * H + h) * N + i) * N + d;
          float pr = P->data[e], o = y[0]->data[e];
          float o1 = y[1]->data[e], o2 = y[2]->data[((int64_t)b * N + i) * D + h * N + d];
          zeros += o == 0.0f;
          bad += o != 0.0f && fabsf(o - pr * ks) > 1e-5f * (1 + fabsf(pr * ks));
          double dw = fabs(o1 - o) > fabs(o2 - o) ? fabs(o1 - o) : fabs(o2 - o);
          worst = dw > worst ? dw : worst;
          differ += (o == 0.0f) != (y[3]->data[e] == 0.0f);
          same += o == y[3]->data[e];
        }
  const int n = B * H * N * N;
  CHECK(fabs(zeros / (double)n - p) < 0.05, "attention dropout p=%.2f dropped %d of %d",
        (double)p, zeros, n);
  CHECK(bad == 0, "attention dropout: %d kept probabilities not scaled by 1/(1-p)", bad);
  CHECK(worst < 1e-5, "attention dropout: kernels draw different masks (max diff %g)",
        worst);
  CHECK(differ > n / 10 && same < n, "attention dropout: step 12 reuses step 11's mask");
}

static void check_shape_values(eb_ctx *ctx) {
  eb_ctx_reset(ctx);
  eb_tensor *x = filled(ctx, 4, SHAPE(2, 3, 4, 5), 30, 1);
  eb_tensor *t = eb_transpose(ctx, x, 1, 3);
  CHECK(t && t->shape[1] == 5 && t->shape[3] == 3, "transpose shape");
  int bad = 0;
  for (int a = 0; t && a < 2; a++)
    for (int b = 0; b < 3; b++)
      for (int c = 0; c < 4; c++)
        for (int d = 0; d < 5; d++)
          bad += t->data[((a * 5 + d) * 4 + c) * 3 + b] !=
                 x->data[((a * 3 + b) * 4 + c) * 5 + d];
  CHECK(bad == 0, "transpose 1,3: %d misplaced elements", bad);
  eb_tensor *r = eb_reverse_seq(ctx, eb_reshape(ctx, x, 3, SHAPE(2, 12, 5)));
  CHECK(r && r->data[0] == x->data[11 * 5] && r->data[12 * 5 + 1] == x->data[23 * 5 + 1],
        "reverse_seq values");
  eb_tensor *s = eb_slice_last(ctx, x, 2, 2);
  CHECK(s && s->data[0] == x->data[2] && s->data[3] == x->data[8], "slice_last values");
  eb_tensor *parts[2] = {s, x};
  eb_tensor *cc = eb_concat_last(ctx, 2, parts);
  CHECK(cc && cc->shape[3] == 7 && cc->data[1] == x->data[3] &&
            cc->data[2] == x->data[0] && cc->data[7] == x->data[7],
        "concat_last values");
  eb_tensor *v = eb_reshape(ctx, x, 2, SHAPE(6, 20));
  CHECK(v && v->data == x->data, "reshape must be a view");
  eb_tensor *mp = eb_mean_pool(ctx, eb_reshape(ctx, x, 3, SHAPE(3, 4, 10)), pool_mask);
  /* pool_mask row 1 has no real token -> zeros; row 0 averages tokens 0,1,3 */
  float want0 = (x->data[0] + x->data[10] + x->data[30]) / 3.0f;
  CHECK(mp && mp->data[10] == 0.0f && fabsf(mp->data[0] - want0) < 1e-6f,
        "mean_pool values (row with no token must be 0)");
}

static void check_errors(eb_ctx *ctx) {
  eb_ctx_reset(ctx);
  eb_tensor *x = filled(ctx, 2, SHAPE(3, 5), 40, 1),
            *w = filled(ctx, 2, SHAPE(4, 6), 41, 1);
  CHECK(eb_linear(ctx, x, w, NULL) == NULL && strstr(eb_ctx_error(ctx), "linear"),
        "linear shape mismatch must fail naming the op, got '%s'", eb_ctx_error(ctx));
  CHECK(eb_gelu(ctx, NULL) == NULL && eb_add(ctx, x, NULL) == NULL &&
            eb_attention(ctx, NULL, x, x, NULL, 0, 1) == NULL,
        "NULL inputs must propagate");
  CHECK(eb_add(ctx, x, w) == NULL, "add of [3,5] and [4,6] must fail");
  { /* attention: q [2,2,5,4] against k, v of another length, or mismatched */
    eb_tensor *q = filled(ctx, 4, SHAPE(2, 2, 5, 4), 42, 1);
    eb_tensor *k7 = filled(ctx, 4, SHAPE(2, 2, 7, 4), 43, 1);
    eb_tensor *v6 = filled(ctx, 4, SHAPE(2, 2, 6, 4), 44, 1);
    eb_tensor *k3 = filled(ctx, 4, SHAPE(2, 2, 7, 3), 45, 1);
    eb_tensor *kb = filled(ctx, 4, SHAPE(1, 2, 7, 4), 46, 1);
    for (int bw = 0; bw < 2; bw++) {
      const char *op = bw ? "attention_blockwise" : "attention";
      eb_tensor *(*att)(eb_ctx *, eb_tensor *, eb_tensor *, eb_tensor *, const uint8_t *,
                        int, float) = bw ? eb_attention_blockwise : eb_attention;
      CHECK(att(ctx, q, k7, k7, NULL, 0, 1) != NULL, "%s Nq=5 Nk=7: %s", op,
            eb_ctx_error(ctx));
      CHECK(att(ctx, q, k7, k7, NULL, 1, 1) == NULL && strstr(eb_ctx_error(ctx), op) &&
                strstr(eb_ctx_error(ctx), "causal"),
            "%s: causal with Nq=5, Nk=7 must fail naming causal, got '%s'", op,
            eb_ctx_error(ctx));
      CHECK(att(ctx, q, k7, v6, NULL, 0, 1) == NULL && strstr(eb_ctx_error(ctx), op),
            "%s: k [..,7,4] with v [..,6,4] must fail, got '%s'", op, eb_ctx_error(ctx));
      CHECK(att(ctx, q, k3, k3, NULL, 0, 1) == NULL,
            "%s: q head dim 4, k head dim 3 must fail", op);
      CHECK(att(ctx, q, kb, kb, NULL, 0, 1) == NULL, "%s: batch 2 vs 1 must fail", op);
    }
  }
  CHECK(eb_matmul(ctx, x, x, 0, 0) == NULL, "matmul [3,5]@[3,5] must fail");
  int32_t ids[2] = {0, 7};
  CHECK(eb_embedding(ctx, w, ids, 1, 2) == NULL && strstr(eb_ctx_error(ctx), "embedding"),
        "embedding id 7 of 4 must fail, got '%s'", eb_ctx_error(ctx));
  int32_t labels[3] = {0, 5, 1};
  CHECK(eb_cross_entropy(ctx, x, labels, NULL) == NULL &&
            strstr(eb_ctx_error(ctx), "cross_entropy"),
        "label 5 of 5 classes must fail, got '%s'", eb_ctx_error(ctx));
  CHECK(eb_slice_last(ctx, x, 3, 3) == NULL, "slice [3,6) of 5 must fail");
  CHECK(eb_transpose(ctx, x, 0, 2) == NULL, "transpose dim 2 of a 2-D tensor must fail");
  CHECK(eb_reshape(ctx, x, 2, SHAPE(4, 4)) == NULL, "reshape 15 -> 16 must fail");
}

/* The engine's own loops (OpenMP rows, parameter-gradient reductions) must
 * give bit-identical gradients for any thread count. GEMMs are left out:
 * OpenBLAS itself (0.3.21) rounds differently with 1 and 4 threads. */
static void check_threads(void) {
  float *grads[2] = {NULL, NULL};
  int64_t n = 0;
  for (int run = 0; run < 2; run++) {
    eb_set_threads(run ? 4 : 1);
    eb_params *tp = eb_params_create();
    eb_tensor *x = eb_param(tp, "x", 3, SHAPE(8, 128, 64), EB_INIT_NORMAL, 1);
    eb_tensor *g = eb_param(tp, "g", 1, SHAPE(64), EB_INIT_NORMAL, 1);
    eb_tensor *be = eb_param(tp, "be", 1, SHAPE(64), EB_INIT_NORMAL, 1);
    eb_tensor *bc = eb_param(tp, "bc", 2, SHAPE(128, 64), EB_INIT_NORMAL, 1);
    char err[64];
    eb_params_finalize(tp, 7, err, sizeof err);
    eb_ctx *ctx = eb_ctx_create(1 << 20, 3);
    eb_ctx_set_step(ctx, 1);
    eb_tensor *h = eb_layernorm(ctx, x, g, be);
    h = eb_dropout(ctx, eb_gelu(ctx, eb_mul(ctx, eb_softmax(ctx, h), bc)), 0.1f);
    h = eb_add(ctx, eb_silu(ctx, h), eb_transpose(ctx, eb_reverse_seq(ctx, h), 0, 0));
    eb_tensor *L = proj(ctx, eb_mean_pool(ctx, h, NULL));
    CHECK(L && eb_backward(ctx, L) == 0, "thread run: %s", eb_ctx_error(ctx));
    n = eb_params_padded(tp);
    grads[run] = malloc((size_t)n * sizeof(float));
    memcpy(grads[run], eb_params_grads(tp), (size_t)n * sizeof(float));
    eb_ctx_destroy(ctx);
    eb_params_destroy(tp);
  }
  eb_set_threads(1);
  for (int64_t i = 0; i < n; i++)
    if (grads[0][i] != grads[1][i]) {
      CHECK(0,
            "gradients differ between 1 and 4 threads at flat index %lld: %.9g vs %.9g",
            (long long)i, grads[0][i], grads[1][i]);
      break;
    }
  free(grads[0]);
  free(grads[1]);
}

int main(void) {
  declare_params();
  eb_ctx *ctx = eb_ctx_create(1 << 20, 42);
  run_gradchecks(ctx);
  check_linear_matmul(ctx);
  check_softmax_layernorm(ctx);
  check_unary_values(ctx);
  check_attention_values(ctx, 5);
  check_attention_values(ctx, 3);
  check_attention_values(ctx, 7);
  check_attention_blockwise(ctx);
  check_cross_entropy(ctx);
  check_dropout(ctx);
  check_attention_dropout(ctx);
  check_shape_values(ctx);
  check_transpose_backward(ctx);
  check_errors(ctx);
  check_threads();
  eb_ctx_destroy(ctx);
  eb_params_destroy(P);
  return eb_test_done("test_ops_grad");
}
