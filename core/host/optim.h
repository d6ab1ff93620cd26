/* Optimizers, learning-rate schedules and gradient clipping over an
 * eb_params block. Not part of the plugin API. */
#ifndef EFFBENCH_OPTIM_H
#define EFFBENCH_OPTIM_H

#include "effbench/core.h"

typedef struct eb_adam {
  float beta1, beta2, eps;
  float weight_decay; /* decoupled (AdamW) when > 0, applied where eb_params_decays() */
} eb_adam;

/* LRA's Adam settings: betas 0.9/0.98, eps 1e-9. */
eb_adam eb_adam_lra(float weight_decay);

/* One Adam(W) step at 1-based step t with learning rate lr. */
void eb_adam_step(eb_params *P, const eb_adam *opt, float lr, int64_t t);

typedef enum eb_schedule {
  EB_SCHED_CONSTANT = 0, /* linear warm-up, then constant */
  EB_SCHED_RSQRT,        /* linear warm-up, then inverse square root (LRA) */
  EB_SCHED_COSINE,       /* linear warm-up, then cosine decay to 0 at `total` */
} eb_schedule;

/* Learning rate at 1-based step. RSQRT follows LRA's
 * base * min(1, step/warmup) / sqrt(max(step, warmup)) but is normalised so
 * that the peak (at step == warmup) equals `base`. */
float eb_lr_at(eb_schedule s, float base, int64_t step, int64_t warmup, int64_t total);
int eb_schedule_parse(const char *name, eb_schedule *out);
const char *eb_schedule_name(eb_schedule s);

/* Global L2 norm of all gradients (double accumulation, fixed order). If
 * max_norm > 0 and the norm exceeds it, gradients are scaled to max_norm.
 * Returns the norm before clipping. */
double eb_clip_grad_norm(eb_params *P, double max_norm);

#endif
