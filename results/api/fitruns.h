/* Scaling fits of a suite's runs (fit.h does the math): for each (arch,
 * task), one point per finished run,
 *
 *   C = model_flops_train_step x steps_done   (training model FLOPs, no
 *       recompute: what the run's training cost, as on the Pareto figure)
 *   y = the test loss (metric loss: mean cross-entropy of the test split at
 *       the best validation step, the `evals` row with split 'test'), or
 *       1 - test_accuracy (metric error: the same model's test error rate),
 *
 * from runs with status done or timeout (a timed-out run measured its model
 * up to its budget; C counts the steps it did). Runs without model FLOPs
 * (stored before schema 4) or without a test result are left out and
 * counted. Each cell is fitted (fit.h) and, with resamples > 0, given
 * bootstrap intervals over its seeds.
 *
 * Cell order: the baseline arch first (`vanilla` unless the caller names
 * another), then archs by first appearance (run id); tasks by first
 * appearance. */
#ifndef EFFBENCH_FITRUNS_H
#define EFFBENCH_FITRUNS_H

#include <stddef.h>
#include <stdint.h>

#include "effbench/rc.h"

#include <sqlite3.h>

#include "fit.h"

typedef enum { EB_FIT_LOSS, EB_FIT_ERROR } eb_fit_metric;

/* "loss", "error"; the parser returns -1 for another name */
const char *eb_fit_metric_name(eb_fit_metric m);
int eb_fit_metric_parse(const char *name, eb_fit_metric *m);

#define EB_FIT_DEFAULT_RESAMPLES 200
#define EB_FIT_RNG_SEED 20221 /* the bootstrap's: fixed, so reports repeat */

typedef struct {
  char *arch, *task;
  int n;         /* points */
  int runs;      /* finished runs of the cell, points + left_out */
  int left_out;  /* finished runs without model FLOPs or a test result */
  int nseeds;    /* distinct seeds among the points */
  double *C, *y; /* [n] */
  int *grp;      /* [n] seed index in [0, nseeds) */
  double cmin, cmax;
  int rc; /* eb_powfit_fit's result; why says what failed */
  eb_powfit fit;
  char why[256];
  int ci_rc; /* eb_powfit_bootstrap's (1 = not asked for) */
  eb_powfit_ci ci;
  char ci_why[256];
} eb_fit_cell;

typedef struct {
  eb_fit_cell *cell;
  int n;
} eb_fit_set;

/* Loads and fits every (arch, task) of suite_id, baseline's cells first
 * (NULL = "vanilla"). resamples 0 skips the bootstrap. Returns EB_OK, or
 * EB_DB (an SQL error naming db_path) / EB_NOMEM with err; a cell that cannot
 * be fitted is not an error (its rc and why). */
int eb_fit_set_load(sqlite3 *db, const char *db_path, int64_t suite_id,
                    const char *baseline, eb_fit_metric m, int resamples, eb_fit_set *out,
                    char *err, size_t errlen);
void eb_fit_set_free(eb_fit_set *s);

#endif
