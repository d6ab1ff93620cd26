#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int eb_model_create(eb_model *m, const eb_arch *arch, const eb_model_config *cfg,
                    const eb_args *args, int vocab, int classes, int seq_len,
                    uint64_t seed, char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  m->arch = arch;
  m->cfg = *cfg;
  m->args = args;
  m->vocab = vocab;
  m->classes = classes;
  m->seq_len = seq_len;
  const int cls = cfg->pool == EB_POOL_CLS;
  m->cfg.max_len = seq_len + cls;
  const int D = cfg->dim;
  if (D < 1 || cfg->depth < 0 || cfg->heads < 1 || cfg->ffn < 1) {
    snprintf(err, errlen, "model: dim, heads and ffn must be positive and depth >= 0");
    return -1;
  }
  if (!(cfg->dropout >= 0 && cfg->dropout < 1)) {
    snprintf(err, errlen, "model: dropout %g must be in [0, 1)", cfg->dropout);
    return -1;
  }
  if (vocab < 2 || classes < 2 || seq_len < 1) {
    snprintf(err, errlen, "model: vocab (%d) and classes (%d) must be >= 2, length >= 1",
             vocab, classes);
    return -1;
  }
  if (arch->validate) {
    char why[EB_ERR_LEN];
    why[0] = '\0';
    if (arch->validate(&m->cfg, args, why, sizeof why)) {
      snprintf(err, errlen, "arch '%s': %s", arch->name, why);
      return -1;
    }
  }
  m->P = eb_params_create();
  if (!m->P) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  m->tok = eb_param(m->P, "embed.tok", 2, (int[]){vocab + cls, D}, EB_INIT_NORMAL, 0.02f);
  m->pos =
      eb_param(m->P, "embed.pos", 2, (int[]){m->cfg.max_len, D}, EB_INIT_NORMAL, 0.02f);
  char why[EB_ERR_LEN];
  why[0] = '\0';
  if (arch->create(&m->cfg, args, m->P, &m->impl, why, sizeof why)) {
    snprintf(err, errlen, "arch '%s': %s", arch->name, why[0] ? why : "create failed");
    eb_model_destroy(m);
    return -1;
  }
  m->lnf_g = eb_param(m->P, "final_ln.g", 1, (int[]){D}, EB_INIT_ONES, 0);
  m->lnf_b = eb_param(m->P, "final_ln.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
  m->head_w = eb_param(m->P, "head.w", 2, (int[]){classes, D}, EB_INIT_UNIFORM,
                       1.0f / sqrtf((float)D));
  m->head_b = eb_param(m->P, "head.b", 1, (int[]){classes}, EB_INIT_ZEROS, 0);
  if (!m->tok || !m->pos || !m->lnf_g || !m->lnf_b || !m->head_w || !m->head_b) {
    snprintf(err, errlen, "arch '%s': a parameter name clashes with the shared model's",
             arch->name);
    eb_model_destroy(m);
    return -1;
  }
  return eb_params_finalize(m->P, seed, err, errlen) ? (eb_model_destroy(m), -1) : 0;
}

void eb_model_destroy(eb_model *m) {
  if (m->impl && m->arch && m->arch->destroy) m->arch->destroy(m->impl);
  eb_params_destroy(m->P);
  memset(m, 0, sizeof *m);
}

static int fail(eb_ctx *ctx, char *err, size_t errlen, const char *what) {
  snprintf(err, errlen, "%s: %s", what,
           eb_ctx_error(ctx)[0] ? eb_ctx_error(ctx) : "failed");
  return -1;
}

eb_tensor *eb_model_logits(eb_model *m, eb_ctx *ctx, int B, int N, const int32_t *tokens,
                           const uint8_t *mask, char *err, size_t errlen) {
  const int cls = m->cfg.pool == EB_POOL_CLS;
  const int L = N + cls;
  if (L > m->cfg.max_len) {
    snprintf(err, errlen, "sequence length %d exceeds the model's %d", N, m->seq_len);
    return NULL;
  }
  const int32_t *ids = tokens;
  const uint8_t *msk = mask;
  if (cls) { /* prepend the CLS token (id = vocab) */
    int32_t *t2 = eb_alloc(ctx, (size_t)B * L * sizeof *t2);
    uint8_t *m2 = eb_alloc(ctx, (size_t)B * L);
    if (!t2 || !m2) return fail(ctx, err, errlen, "model"), NULL;
    for (int b = 0; b < B; b++) {
      t2[(size_t)b * L] = m->vocab;
      m2[(size_t)b * L] = 1;
      memcpy(t2 + (size_t)b * L + 1, tokens + (size_t)b * N, (size_t)N * sizeof *t2);
      for (int j = 0; j < N; j++)
        m2[(size_t)b * L + 1 + j] = mask ? mask[(size_t)b * N + j] : 1;
    }
    ids = t2;
    msk = m2;
  }
  eb_tensor *x = eb_embedding(ctx, m->tok, ids, B, L);
  eb_tensor *pos = m->pos;
  if (L < m->cfg.max_len) { /* shorter batch: rows 0..L-1 of the table */
    int32_t *rows = eb_alloc(ctx, (size_t)L * sizeof *rows);
    if (!rows) return fail(ctx, err, errlen, "model"), NULL;
    for (int j = 0; j < L; j++)
      rows[j] = j;
    pos = eb_gather_rows(ctx, m->pos, rows, L);
  }
  x = eb_add(ctx, x, pos);
  x = eb_dropout(ctx, x, m->cfg.dropout);
  if (!x) return fail(ctx, err, errlen, "embedding"), NULL;
  eb_tensor *h = NULL;
  char why[EB_ERR_LEN];
  why[0] = '\0';
  if (m->arch->forward(m->impl, ctx, x, msk, &h, why, sizeof why) || !h) {
    snprintf(err, errlen, "arch '%s' forward: %s", m->arch->name,
             why[0] ? why : (eb_ctx_error(ctx)[0] ? eb_ctx_error(ctx) : "failed"));
    return NULL;
  }
  h = eb_layernorm(ctx, h, m->lnf_g, m->lnf_b);
  h = cls ? eb_cls_pool(ctx, h) : eb_mean_pool(ctx, h, msk);
  eb_tensor *logits = eb_linear(ctx, h, m->head_w, m->head_b);
  if (!logits) return fail(ctx, err, errlen, "head"), NULL;
  return logits;
}

eb_tensor *eb_model_loss(eb_model *m, eb_ctx *ctx, const eb_batch *b, int *correct,
                         float *ce, char *err, size_t errlen) {
  eb_tensor *logits =
      eb_model_logits(m, ctx, b->B, b->N, b->tokens, b->mask, err, errlen);
  if (!logits) return NULL;
  eb_tensor *loss = eb_cross_entropy(ctx, logits, b->labels, correct);
  if (!loss) return fail(ctx, err, errlen, "loss"), NULL;
  if (ce) *ce = loss->data[0];
  if (eb_ctx_training(ctx) && m->arch->aux_loss) {
    eb_tensor *aux = m->arch->aux_loss(m->impl, ctx);
    if (aux) loss = eb_add(ctx, loss, aux);
    if (!loss) return fail(ctx, err, errlen, "aux loss"), NULL;
  }
  return loss;
}

double eb_model_flops(const eb_model *m, int B, int N, int training) {
  if (!m->arch->flops) return -1;
  /* The shared parts, in the op conventions of docs/flops.md, for a batch
   * without padding (mean pooling counts real tokens). */
  const int cls = m->cfg.pool == EB_POOL_CLS;
  const double L = N + cls, D = m->cfg.dim, C = m->classes, R = (double)B * L;
  const double drop = (training && m->cfg.dropout > 0) ? 1.0 : 0.0;
  double fwd = R * D              /* + positional embedding */
               + drop * R * D     /* embedding dropout */
               + 8.0 * R * D      /* final LayerNorm */
               + (cls ? 0.0 : (R + B) * D) /* mean pool */
               + 2.0 * B * C * D + B * C   /* head */
               + 4.0 * B * C;              /* cross-entropy */
  double bwd = 0;
  if (training)
    bwd = 4.0 * B * C                       /* cross-entropy */
          + 4.0 * B * C * D + B * C         /* head: dx, dw, db */
          + (cls ? B * D : 2.0 * R * D)     /* pool */
          + 19.0 * R * D                    /* final LayerNorm: dx, dgamma, dbeta */
          + drop * 2.0 * R * D              /* embedding dropout */
          + 2.0 * R * D                     /* positional add: both inputs */
          + R * D;                          /* embedding scatter-add */
  double blocks = m->arch->flops(&m->cfg, m->args, B, (int)L, training);
  if (blocks < 0) return -1;
  return fwd + bwd + blocks;
}
