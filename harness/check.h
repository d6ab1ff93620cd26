/* `effbench check`: the checks a new architecture (built-in or plugin) must
 * pass, run on a small seeded model and a batch with padding: whole-model
 * finite-difference gradients, analytic against counted FLOPs and GEMM FLOPs,
 * the parameter count, determinism and padding invariance. Also the pieces the
 * tests share with it: the seeded padded batch and one finite-difference
 * probe. */
#ifndef EFFBENCH_CHECK_H
#define EFFBENCH_CHECK_H

#include "model.h"

/* tokens[B*N], mask[B*N], labels[B]: random tokens in 1..vocab-1 from seed;
 * sequence b keeps its first N - b*N/(2B) tokens (padding id 0, mask 0), so
 * the batch exercises padding and the first sequence is full length. */
void eb_fill_padded_batch(int32_t *tokens, uint8_t *mask, int32_t *labels, int B, int N,
                          int vocab, int classes, uint64_t seed);

/* A scalar loss built in ctx from the current parameter values. */
typedef eb_tensor *(*eb_loss_fn)(eb_ctx *ctx, void *user);

/* One finite-difference probe of element i of t: the loss with t[i] set to
 * x + h and to x - h (gradients off, t restored after). *hp and *hm receive
 * the steps actually taken in float ((float)(x+h) - x, x - (float)(x-h)), so
 * differences divided by them are exact to the loss's rounding. 0, or -1 when
 * a forward pass failed. */
int eb_fd_probe(eb_ctx *ctx, eb_loss_fn loss, void *user, eb_tensor *t, int64_t i,
                float h, double *fp, double *fm, double *hp, double *hm);

typedef enum eb_check_result {
  EB_CHECK_OK = 0,
  EB_CHECK_FAIL,
  EB_CHECK_SKIP
} eb_check_result;

typedef struct eb_check_row {
  char check[48];
  eb_check_result result;
  char detail[400];
} eb_check_row;

#define EB_CHECK_MAX_ROWS 16
typedef struct eb_check_report {
  int n, failures;
  eb_check_row row[EB_CHECK_MAX_ROWS];
} eb_check_report;

typedef struct eb_check_cfg {
  int batch, len, vocab, classes, pair;
  int samples; /* probed elements per parameter tensor */
  int steps;   /* training steps of the determinism check */
  int threads; /* the threads to restore afterwards */
  double tol;  /* relative tolerance of a gradient element */
  uint64_t seed;
} eb_check_cfg;

eb_check_cfg eb_check_defaults(void);

/* Runs every check on arch with mcfg and args; rows go to rep (a failure
 * counts in rep->failures). EB_OK, or the kind with err when the model cannot
 * be built (EB_INPUT: bad settings) or memory ran out (EB_NOMEM). */
int eb_check_arch(const eb_arch *arch, const eb_model_config *mcfg, const eb_args *args,
                  const eb_check_cfg *cfg, eb_check_report *rep, char *err,
                  size_t errlen);

const char *eb_check_result_name(eb_check_result r);

#endif
