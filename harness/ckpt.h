/* Training checkpoints: everything a run needs to go on from a step as if it
 * had never stopped (parameters, Adam moments, best-validation parameters,
 * the losses and evaluations so far, the step and the counters), in one file
 * written atomically (temporary name in the same directory, fsync, rename)
 * and validated on load (magic, version, run key, sizes, checksum).
 *
 * The random streams need no saving: data sampling is a pure function of
 * (data seed, step) and dropout of (run seed, step, op index), both counter-
 * based (core/rng.c), so restoring the step restores every random state. */
#ifndef EFFBENCH_CKPT_H
#define EFFBENCH_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "train.h"

#define EB_CKPT_VERSION 1

typedef struct eb_ckpt {
  int step;      /* training steps done */
  int steps;     /* the run's total (train.steps): must match on load */
  int best_step; /* 0 = no evaluation yet */
  double best_val;
  double train_time, elapsed; /* seconds: training, since the run started */
  int64_t real_tokens, padded_tokens;
  double flops_train_step, model_flops_train_step;
  int64_t nparam; /* floats per region (eb_params_padded): must match on load */
  float *losses;  /* [step] */
  float *data;    /* [nparam] parameter values */
  float *m, *v;   /* [nparam] Adam moments */
  float *best;    /* [nparam] best-validation values */
  int nevals;
  eb_eval_point *evals; /* [nevals] the curve so far */
} eb_ckpt;

/* Writes c to path atomically. -1 with err (the earlier checkpoint, if any,
 * is left as it was). */
int eb_ckpt_save(const char *path, const char *run_key, const eb_ckpt *c, char *err,
                 size_t errlen);

/* Loads path into c, whose steps and nparam say what is expected and whose
 * losses/data/m/v/best point at buffers of steps and nparam floats; evals is
 * allocated (caller frees). 0: loaded; 1: no checkpoint; -1 with err: the
 * file is not a valid checkpoint of this run (the caller ignores it and may
 * warn). Nothing in c's buffers changes unless it returns 0. */
int eb_ckpt_load(const char *path, const char *run_key, eb_ckpt *c, char *err,
                 size_t errlen);

/* DB.ckpt/KEY.ckpt for a database path; -1 when it does not fit. */
int eb_ckpt_path(const char *db, const char *run_key, char *out, size_t outlen);

/* Creates DB.ckpt when missing. -1 with err. */
int eb_ckpt_dir_make(const char *db, char *err, size_t errlen);

/* Removes DB.ckpt when it is empty (no run left a checkpoint). */
void eb_ckpt_dir_drop(const char *db);

#endif
