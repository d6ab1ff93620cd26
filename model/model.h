/* The model every architecture runs inside: token + positional embedding
 * (learned, or fixed sinusoids with model.positions: sinusoidal), the
 * architecture's blocks, a final LayerNorm, mean or CLS pooling and a linear
 * classifier head (or with model.head: mlp, LRA's Dense -> ReLU -> Dense:
 * head.mlp.w [W, D], head.mlp.b [W], ReLU, head.w [C, W], W = head_width or
 * ffn). Parameter names: embed.tok, embed.pos (learned positions only),
 * final_ln.g, final_ln.b, head.w, head.b (plus the arch's own).
 *
 * Pair (two-tower) tasks encode both sequences with the same encoder, combine
 * the pooled vectors a, b as [a, b, a*b, a-b] (LRA's dual head) and classify
 * with an MLP: head.pair.w [W, 4D], head.pair.b, ReLU, then head.w [C, W]
 * (W = head_width or ffn). model.head does not change it: it is already LRA's
 * Dense-ReLU-Dense. */
#ifndef EFFBENCH_MODEL_H
#define EFFBENCH_MODEL_H

#include "effbench/plugin.h"

typedef struct eb_model {
  const eb_arch *arch;
  void *impl;
  eb_params *P;
  eb_model_config cfg;
  const eb_args *args;         /* arch parameters (owned by the caller) */
  int vocab, classes, seq_len; /* seq_len: task length N (without CLS) */
  int pair;                    /* two-tower input */
  eb_tensor *tok, *pos, *lnf_g, *lnf_b, *head_w, *head_b;
  eb_tensor *pair_w, *pair_b; /* pair mode only */
  eb_tensor *mlp_w, *mlp_b;   /* head: mlp (single mode) only */
  float *pos_table;           /* positions: sinusoidal, [max_len, dim]; pos is NULL */
} eb_model;

/* out[L,D]: the fixed positional encoding of Vaswani et al. 2017,
 * out[p][2i] = sin(p / 10000^(2i/D)), out[p][2i+1] = cos(p / 10000^(2i/D)). */
void eb_sinusoid_table(float *out, int L, int D);

/* The checks of eb_model_create alone (model sizes, then the arch's validate
 * at this length), allocating nothing: EB_OK, or EB_INPUT with err ("model:
 * ..." or "arch 'NAME': ..."). */
int eb_model_check(const eb_arch *arch, const eb_model_config *cfg, const eb_args *args,
                   int vocab, int classes, int seq_len, char *err, size_t errlen);
/* Validate and build. cfg->max_len is set here from seq_len (+1 for CLS).
 * EB_OK; EB_INPUT with err when the model is invalid (its sizes, the arch's
 * parameters, the arch's create refusing them); EB_NOMEM with err (naming the
 * bytes asked) when its parameters cannot be allocated. */
int eb_model_create(eb_model *m, const eb_arch *arch, const eb_model_config *cfg,
                    const eb_args *args, int vocab, int classes, int seq_len, int pair,
                    uint64_t seed, char *err, size_t errlen);
void eb_model_destroy(eb_model *m);

/* What eb_model_create would build, without allocating its weights: the
 * trainable parameter count and the training FLOPs per token (forward +
 * backward of one sequence of seq_len tokens, or of a pair, over its tokens;
 * -1 when the arch has no flops()). EB_OK, or the kind with err as
 * eb_model_create. */
int eb_model_counts(const eb_arch *arch, const eb_model_config *cfg, const eb_args *args,
                    int vocab, int classes, int seq_len, int pair, int64_t *params,
                    double *flops_token, char *err, size_t errlen);

/* batch (tokens[B*N], mask[B*N] or NULL = all real; pair mode also tokens2,
 * mask2) -> logits [B, classes]. NULL on a failure, with err, and its kind
 * recorded in ctx (eb_ctx_rc: EB_NOMEM, EB_SHAPE, ...; EB_INTERNAL for an
 * arch that failed without recording one). */
eb_tensor *eb_model_logits(eb_model *m, eb_ctx *ctx, const eb_batch *b, char *err,
                           size_t errlen);

/* Mean cross-entropy of a batch plus the arch's auxiliary loss when training.
 * *correct receives the number of right predictions; *ce (if not NULL) the
 * cross-entropy alone. Fails as eb_model_logits. */
eb_tensor *eb_model_loss(eb_model *m, eb_ctx *ctx, const eb_batch *b, int *correct,
                         float *ce, char *err, size_t errlen);

/* Analytic FLOPs of one batch of B sequences of N tokens (no padding) through
 * the whole model, embedding to loss: the forward pass, or with training the
 * forward and backward passes. -1 if the arch has no flops(). */
double eb_model_flops(const eb_model *m, int B, int N, int training);
/* Training FLOPs per token at the model's length: eb_model_flops(m, 1,
 * seq_len, 1) over the tokens of one example (2 x seq_len for pairs). */
double eb_model_flops_token(const eb_model *m);
/* Analytic GEMM FLOPs of the same batch (docs/flops.md "GEMM FLOPs"): what
 * eb_ctx_gemm_flops counts, *executed with the backward's recompute, *model
 * without. -1 if the arch has no gemm_flops(), else 0. */
int eb_model_gemm_flops(const eb_model *m, int B, int N, int training, double *model,
                        double *executed);

#endif
