/* One training run: a model on a task with a schedule, periodic validation,
 * best-validation parameters kept and evaluated on test at the end. */
#ifndef EFFBENCH_TRAIN_H
#define EFFBENCH_TRAIN_H

#include "model.h"
#include "optim.h"

typedef struct eb_train_cfg {
  int steps, batch, warmup;
  float lr, weight_decay, clip;
  int decay_embeddings; /* weight decay on embed.tok/embed.pos too (default 1) */
  eb_schedule schedule;
  int eval_every, eval_batches; /* eval_batches 0 = whole split */
  double time_budget_s;         /* 0 = none */
  uint64_t seed;
  double checkpoint_s; /* train.checkpoint_minutes in seconds; 0 = no checkpoints */
  size_t max_memory;   /* train.max_memory in bytes (eb_mem_set_limit); 0 = none */
  /* set per run by the caller, not by the suite (not part of the run key): */
  const char *checkpoint_path; /* NULL = no checkpoints (saved nor resumed) */
  const char *run_key;         /* written into and checked in the checkpoint */
  int checkpoint_steps;        /* > 0: also every this many steps (tests) */
  int inject_inf_grad;         /* > 0: an inf gradient at this step (tests) */
} eb_train_cfg;

eb_train_cfg eb_train_defaults(void);

typedef enum eb_run_status {
  EB_RUN_DONE = 0,
  EB_RUN_DIVERGED,
  EB_RUN_TIMEOUT,
  EB_RUN_OOM,
  EB_RUN_FAILED,
} eb_run_status;
const char *eb_run_status_name(eb_run_status s);

typedef struct eb_train_result {
  eb_run_status status;
  int steps_done, best_step;
  double val_accuracy, test_accuracy, test_loss;
  double test_majority; /* share of the test split's most frequent label */
  int64_t test_count;   /* examples in the test split */
  double train_seconds;
  double tokens_per_s, padded_tokens_per_s;
  size_t peak_mem_bytes; /* arena high-water + parameter block */
  int64_t params_total;
  double flops_train_step;       /* counted, first step: executed FLOPs */
  double model_flops_train_step; /* the same less the backward's recompute */
  float *losses;                 /* steps_done training losses (caller frees) */
  int resumed_from;              /* the checkpoint's step, 0 = started afresh */
} eb_train_result;

typedef struct eb_eval_point {
  int step;
  eb_split split;
  double loss, accuracy, elapsed_s;
  int restored; /* from a checkpoint: evaluated before the run was resumed */
} eb_eval_point;

/* Progress hooks (either may be NULL). */
typedef struct eb_train_hooks {
  void *user;
  void (*on_step)(void *user, int step, int steps, float loss, double tokens_per_s);
  void (*on_eval)(void *user, const eb_eval_point *e);
  /* what the caller may tell the user: a resume, a checkpoint not written or
   * not usable (the run goes on either way) */
  void (*on_note)(void *user, const char *msg);
} eb_train_hooks;

/* Returns EB_OK when the run finished with a result (status may still be
 * diverged/timeout); the failure's kind with err when it produced no result:
 * status is oom for EB_NOMEM, failed for any other kind (decided from the
 * kind, never from err's text). */
int eb_train_run(eb_model *m, const eb_task *task, void *task_data,
                 const eb_task_info *info, const eb_train_cfg *cfg,
                 const eb_train_hooks *hooks, eb_train_result *res, char *err,
                 size_t errlen);

/* Mean loss and accuracy over `batches` batches of a split (0 = all). When
 * majority is not NULL it receives the share of the evaluated examples whose
 * label is the most frequent one (the majority-class baseline). EB_OK, or
 * the kind with err (EB_NOMEM, the model's failure, EB_IO for the task's). */
int eb_evaluate(eb_model *m, eb_ctx *ctx, const eb_task *task, void *task_data,
                const eb_task_info *info, eb_split split, int batch, int batches,
                double *loss, double *accuracy, double *majority, char *err,
                size_t errlen);

/* Batch buffers sized B x N. */
int eb_batch_alloc(eb_batch *b, int B, int N, int pair);
void eb_batch_free(eb_batch *b);

double eb_now(void); /* monotonic seconds */

#endif
