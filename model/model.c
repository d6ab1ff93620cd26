#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eb_sinusoid_table(float *out, int L, int D) {
  for (int i = 0; i < D; i += 2) {
    /* 1 / 10000^(i/D), in double so every row is exact to float rounding */
    const double freq = exp(-log(10000.0) * (double)i / (double)D);
    for (int p = 0; p < L; p++) {
      out[(size_t)p * D + i] = (float)sin(p * freq);
      if (i + 1 < D) out[(size_t)p * D + i + 1] = (float)cos(p * freq);
    }
  }
}

int eb_model_check(const eb_arch *arch, const eb_model_config *cfg, const eb_args *args,
                   int vocab, int classes, int seq_len, char *err, size_t errlen) {
  eb_model_config c = *cfg;
  c.max_len = seq_len + (cfg->pool == EB_POOL_CLS);
  if (cfg->dim < 1 || cfg->depth < 0 || cfg->heads < 1 || cfg->ffn < 1) {
    snprintf(err, errlen, "model: dim, heads and ffn must be positive and depth >= 0");
    return EB_INPUT;
  }
  if (!(cfg->dropout >= 0 && cfg->dropout < 1)) {
    snprintf(err, errlen, "model: dropout %g must be in [0, 1)", cfg->dropout);
    return EB_INPUT;
  }
  if (!(cfg->attention_dropout >= 0 && cfg->attention_dropout < 1) ||
      !(cfg->mlp_dropout >= 0 && cfg->mlp_dropout < 1)) {
    snprintf(err, errlen,
             "model: attention_dropout %g and mlp_dropout %g must be in [0, 1)",
             cfg->attention_dropout, cfg->mlp_dropout);
    return EB_INPUT;
  }
  if ((cfg->positions != EB_POS_LEARNED && cfg->positions != EB_POS_SINUSOIDAL) ||
      (cfg->head != EB_HEAD_LINEAR && cfg->head != EB_HEAD_MLP) || cfg->head_width < 0) {
    snprintf(err, errlen,
             "model: positions must be learned or sinusoidal, head linear or mlp, "
             "head_width >= 0 (0 = ffn)");
    return EB_INPUT;
  }
  if (vocab < 2 || classes < 2 || seq_len < 1) {
    snprintf(err, errlen, "model: vocab (%d) and classes (%d) must be >= 2, length >= 1",
             vocab, classes);
    return EB_INPUT;
  }
  if (arch->validate) {
    char why[EB_ERR_LEN];
    why[0] = '\0';
    if (arch->validate(&c, args, why, sizeof why)) {
      snprintf(err, errlen, "arch '%s': %s", arch->name, why);
      return EB_INPUT;
    }
  }
  return EB_OK;
}

/* Validate and declare every parameter (the weights are not allocated until
 * eb_params_finalize): EB_OK, or the kind with err and nothing left. */
static int model_declare(eb_model *m, const eb_arch *arch, const eb_model_config *cfg,
                         const eb_args *args, int vocab, int classes, int seq_len,
                         int pair, char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  m->pair = pair;
  m->arch = arch;
  m->cfg = *cfg;
  m->args = args;
  m->vocab = vocab;
  m->classes = classes;
  m->seq_len = seq_len;
  const int cls = cfg->pool == EB_POOL_CLS;
  m->cfg.max_len = seq_len + cls;
  const int D = cfg->dim;
  int rc = eb_model_check(arch, cfg, args, vocab, classes, seq_len, err, errlen);
  if (rc) return rc;
  m->P = eb_params_create();
  if (!m->P) {
    snprintf(err, errlen, "out of memory");
    return EB_NOMEM;
  }
  /* an allocation that fails while the model is declared (eb_param's, or the
   * arch's own inside create) leaves errno ENOMEM, as malloc sets it: the
   * model did not fit, a result (`oom`), not a bad configuration */
  errno = 0;
  m->tok = eb_param(m->P, "embed.tok", 2, (int[]){vocab + cls, D}, EB_INIT_NORMAL, 0.02f);
  const int L = m->cfg.max_len;
  if (cfg->positions == EB_POS_SINUSOIDAL) { /* a fixed table, not a parameter */
    m->pos_table = malloc((size_t)L * D * sizeof *m->pos_table);
    if (!m->pos_table) {
      snprintf(err, errlen, "out of memory");
      eb_model_destroy(m);
      return EB_NOMEM;
    }
    eb_sinusoid_table(m->pos_table, L, D);
  } else {
    m->pos = eb_param(m->P, "embed.pos", 2, (int[]){L, D}, EB_INIT_NORMAL, 0.02f);
  }
  char why[EB_ERR_LEN];
  why[0] = '\0';
  if (arch->create(&m->cfg, args, m->P, &m->impl, why, sizeof why)) {
    const int oom = errno == ENOMEM;
    snprintf(err, errlen, "arch '%s': %s%s", arch->name, why[0] ? why : "create failed",
             oom && !strstr(why, "out of memory") ? " (out of memory)" : "");
    eb_model_destroy(m);
    return oom ? EB_NOMEM : EB_INPUT;
  }
  m->lnf_g = eb_param(m->P, "final_ln.g", 1, (int[]){D}, EB_INIT_ONES, 0);
  m->lnf_b = eb_param(m->P, "final_ln.b", 1, (int[]){D}, EB_INIT_ZEROS, 0);
  /* the hidden width of an MLP head (the pair head always has one) */
  const int W = cfg->head_width > 0 ? cfg->head_width : cfg->ffn;
  const int mlp = !pair && cfg->head == EB_HEAD_MLP;
  const int hin = pair || mlp ? W : D;
  if (pair) {
    m->pair_w = eb_param(m->P, "head.pair.w", 2, (int[]){W, 4 * D}, EB_INIT_UNIFORM,
                         1.0f / sqrtf((float)(4 * D)));
    m->pair_b = eb_param(m->P, "head.pair.b", 1, (int[]){W}, EB_INIT_ZEROS, 0);
  }
  if (mlp) {
    m->mlp_w = eb_param(m->P, "head.mlp.w", 2, (int[]){W, D}, EB_INIT_UNIFORM,
                        1.0f / sqrtf((float)D));
    m->mlp_b = eb_param(m->P, "head.mlp.b", 1, (int[]){W}, EB_INIT_ZEROS, 0);
  }
  m->head_w = eb_param(m->P, "head.w", 2, (int[]){classes, hin}, EB_INIT_UNIFORM,
                       1.0f / sqrtf((float)hin));
  m->head_b = eb_param(m->P, "head.b", 1, (int[]){classes}, EB_INIT_ZEROS, 0);
  if (!m->tok || (!m->pos && !m->pos_table) || !m->lnf_g || !m->lnf_b || !m->head_w ||
      !m->head_b || (pair && (!m->pair_w || !m->pair_b)) ||
      (mlp && (!m->mlp_w || !m->mlp_b))) {
    if (errno == ENOMEM) {
      snprintf(err, errlen, "out of memory declaring the model's parameters");
      eb_model_destroy(m);
      return EB_NOMEM;
    }
    snprintf(err, errlen, "arch '%s': a parameter name clashes with the shared model's",
             arch->name);
    eb_model_destroy(m);
    return EB_INPUT;
  }
  return EB_OK;
}

int eb_model_create(eb_model *m, const eb_arch *arch, const eb_model_config *cfg,
                    const eb_args *args, int vocab, int classes, int seq_len, int pair,
                    uint64_t seed, char *err, size_t errlen) {
  int rc = model_declare(m, arch, cfg, args, vocab, classes, seq_len, pair, err, errlen);
  if (rc) return rc;
  /* finalize fails only when the parameter block cannot be allocated */
  if ((rc = eb_params_finalize(m->P, seed, err, errlen))) eb_model_destroy(m);
  return rc;
}

double eb_model_flops_token(const eb_model *m) {
  double f = eb_model_flops(m, 1, m->seq_len, 1);
  return f < 0 ? -1 : f / ((double)m->seq_len * (m->pair ? 2 : 1));
}

int eb_model_counts(const eb_arch *arch, const eb_model_config *cfg, const eb_args *args,
                    int vocab, int classes, int seq_len, int pair, int64_t *params,
                    double *flops_token, char *err, size_t errlen) {
  eb_model m;
  int rc = model_declare(&m, arch, cfg, args, vocab, classes, seq_len, pair, err, errlen);
  if (rc) return rc;
  *params = eb_params_numel(m.P);
  *flops_token = eb_model_flops_token(&m);
  eb_model_destroy(&m);
  return EB_OK;
}

void eb_model_destroy(eb_model *m) {
  if (m->impl && m->arch && m->arch->destroy) m->arch->destroy(m->impl);
  eb_params_destroy(m->P);
  free(m->pos_table);
  memset(m, 0, sizeof *m);
}

/* A failed pass: err names the part, ctx keeps the kind (EB_INTERNAL when
 * nothing recorded one: a part that failed without saying why). */
static int fail(eb_ctx *ctx, char *err, size_t errlen, const char *what) {
  snprintf(err, errlen, "%s: %s", what,
           eb_ctx_error(ctx)[0] ? eb_ctx_error(ctx) : "failed");
  if (eb_ctx_rc(ctx) == EB_OK) eb_ctx_fail(ctx, EB_INTERNAL, "%s", err);
  return -1;
}

/* tokens[B*N], mask[B*N] (NULL = all real) -> pooled [B, D] */
static eb_tensor *encode(eb_model *m, eb_ctx *ctx, int B, int N, const int32_t *tokens,
                         const uint8_t *mask, char *err, size_t errlen) {
  const int cls = m->cfg.pool == EB_POOL_CLS;
  const int L = N + cls;
  if (L > m->cfg.max_len) {
    snprintf(err, errlen, "sequence length %d exceeds the model's %d", N, m->seq_len);
    eb_ctx_fail(ctx, EB_SHAPE, "%s", err);
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
  if (m->pos_table) { /* fixed sinusoids: a view of the first L rows, no gradient */
    pos = eb_alloc(ctx, sizeof *pos);
    if (!pos) return fail(ctx, err, errlen, "model"), NULL;
    *pos = (eb_tensor){.data = m->pos_table,
                       .size = (int64_t)L * m->cfg.dim,
                       .ndim = 2,
                       .shape = {L, m->cfg.dim}};
  } else if (L < m->cfg.max_len) { /* shorter batch: rows 0..L-1 of the table */
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
    if (eb_ctx_rc(ctx) == EB_OK) eb_ctx_fail(ctx, EB_INTERNAL, "%s", err);
    return NULL;
  }
  h = eb_layernorm(ctx, h, m->lnf_g, m->lnf_b);
  h = cls ? eb_cls_pool(ctx, h) : eb_mean_pool(ctx, h, msk);
  if (!h) return fail(ctx, err, errlen, "pooling"), NULL;
  return h;
}

eb_tensor *eb_model_logits(eb_model *m, eb_ctx *ctx, const eb_batch *b, char *err,
                           size_t errlen) {
  const int B = b->B, N = b->N;
  if (!m->pair) {
    eb_tensor *h = encode(m, ctx, B, N, b->tokens, b->mask, err, errlen);
    if (h && m->mlp_w) /* LRA's Dense(width) -> ReLU before the output layer */
      h = eb_relu(ctx, eb_linear(ctx, h, m->mlp_w, m->mlp_b));
    eb_tensor *logits = h ? eb_linear(ctx, h, m->head_w, m->head_b) : NULL;
    if (h && !logits) fail(ctx, err, errlen, "head");
    return logits;
  }
  if (!b->tokens2) {
    snprintf(err, errlen, "pair model given a batch without a second sequence");
    eb_ctx_fail(ctx, EB_INTERNAL, "%s", err);
    return NULL;
  }
  /* both towers in one pass: rows 0..B-1 are the first sequences, B..2B-1 the
   * second ones */
  size_t n = (size_t)B * N;
  int32_t *tok = eb_alloc(ctx, 2 * n * sizeof *tok);
  uint8_t *msk = eb_alloc(ctx, 2 * n);
  int32_t *ia = eb_alloc(ctx, (size_t)B * sizeof *ia),
          *ib = eb_alloc(ctx, (size_t)B * sizeof *ib);
  if (!tok || !msk || !ia || !ib) return fail(ctx, err, errlen, "model"), NULL;
  memcpy(tok, b->tokens, n * sizeof *tok);
  memcpy(tok + n, b->tokens2, n * sizeof *tok);
  for (size_t i = 0; i < n; i++) {
    msk[i] = b->mask ? b->mask[i] : 1;
    msk[n + i] = b->mask2 ? b->mask2[i] : 1;
  }
  for (int i = 0; i < B; i++) {
    ia[i] = i;
    ib[i] = B + i;
  }
  eb_tensor *h = encode(m, ctx, 2 * B, N, tok, msk, err, errlen);
  if (!h) return NULL;
  eb_tensor *a = eb_gather_rows(ctx, h, ia, B), *c = eb_gather_rows(ctx, h, ib, B);
  eb_tensor *parts[4] = {a, c, eb_mul(ctx, a, c), eb_sub(ctx, a, c)};
  eb_tensor *z = eb_concat_last(ctx, 4, parts);
  z = eb_relu(ctx, eb_linear(ctx, z, m->pair_w, m->pair_b));
  eb_tensor *logits = eb_linear(ctx, z, m->head_w, m->head_b);
  if (!logits) return fail(ctx, err, errlen, "pair head"), NULL;
  return logits;
}

eb_tensor *eb_model_loss(eb_model *m, eb_ctx *ctx, const eb_batch *b, int *correct,
                         float *ce, char *err, size_t errlen) {
  eb_tensor *logits = eb_model_logits(m, ctx, b, err, errlen);
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
   * without padding (mean pooling counts real tokens). Pair models encode 2B
   * sequences. */
  const int cls = m->cfg.pool == EB_POOL_CLS;
  const double E = (double)B * (m->pair ? 2 : 1); /* encoded sequences */
  const double L = N + cls, D = m->cfg.dim, C = m->classes, R = E * L;
  const double F = m->cfg.head_width > 0 ? m->cfg.head_width : m->cfg.ffn; /* MLP head */
  const int learned = m->cfg.positions == EB_POS_LEARNED;
  const int mlp = !m->pair && m->cfg.head == EB_HEAD_MLP;
  const double drop = (training && m->cfg.dropout > 0) ? 1.0 : 0.0;
  const double T = training ? 1.0 : 0.0;
  /* a batch shorter than max_len gathers its learned position rows (backward
   * L*D); fixed sinusoids are a view, and take no gradient */
  const double gather = learned && L < m->cfg.max_len ? L * D : 0.0;
  double enc = R * D + drop * R * D                   /* + positions, dropout */
               + 8.0 * R * D                          /* final LayerNorm */
               + (cls ? 0.0 : (R + E) * D)            /* mean pool */
               + T * ((cls ? E * D : 2.0 * R * D)     /* pool backward */
                      + 19.0 * R * D                  /* final LayerNorm backward */
                      + drop * 2.0 * R * D            /* dropout backward */
                      + (learned ? 2.0 : 1.0) * R * D /* positional add backward */
                      + R * D                         /* embedding scatter-add */
                      + gather);                      /* positions of a short batch */
  const double H = m->pair || mlp ? F : D;            /* classifier input width */
  double head = 2.0 * B * C * H + B * C + 4.0 * B * C /* head, cross-entropy */
                + T * (4.0 * B * C * H + B * C + 4.0 * B * C);
  if (mlp) /* Dense D -> F, ReLU */
    head += 2.0 * B * F * D + B * F + B * F + T * (4.0 * B * F * D + B * F + B * F);
  if (m->pair) /* gathers, a*b, a-b, concat, MLP 4D -> F, ReLU */
    head += 2.0 * B * D + 2.0 * B * F * 4 * D + B * F + B * F +
            T * (2.0 * B * D + 4.0 * B * D + 2.0 * B * D + 4.0 * B * D +
                 4.0 * B * F * 4 * D + B * F + B * F);
  double blocks = m->arch->flops(&m->cfg, m->args, (int)E, (int)L, training);
  if (blocks < 0) return -1;
  return enc + head + blocks;
}

int eb_model_gemm_flops(const eb_model *m, int B, int N, int training, double *model,
                        double *executed) {
  if (!m->arch->gemm_flops) return -1;
  /* The shared parts' GEMMs: the classifier h[B,H] W^T (pair models first
   * z[B,4D] W^T to the head width W, an mlp head h[B,D] W^T to W), forward and,
   * in training, dx and dw (h comes from the encoder, so it needs a gradient).
   * The embedding, pooling and loss have no matrix product. */
  const int cls = m->cfg.pool == EB_POOL_CLS;
  const int mlp = !m->pair && m->cfg.head == EB_HEAD_MLP;
  const double E = (double)B * (m->pair ? 2 : 1);
  const double D = m->cfg.dim, C = m->classes;
  const double W = m->cfg.head_width > 0 ? m->cfg.head_width : m->cfg.ffn;
  const double H = m->pair || mlp ? W : D;
  double head =
      2.0 * B * C * H + (m->pair ? 2.0 * B * W * 4 * D : 0) + (mlp ? 2.0 * B * W * D : 0);
  head *= training ? 3 : 1;
  double bm, bx;
  if (m->arch->gemm_flops(&m->cfg, m->args, (int)E, N + cls, training, &bm, &bx))
    return -1;
  *model = head + bm;
  *executed = head + bx;
  return 0;
}
