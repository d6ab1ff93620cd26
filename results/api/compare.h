/* `effbench compare BASE.db NEW.db`: two results databases side by side.
 *
 * - accuracy: per (arch, variant, task), the test accuracy of `done` runs over
 *   seeds (n, mean, sample std) on each side; the variant is the run's
 *   arch_params (sweep variants are never pooled).
 * - speed: per (arch, task, length, mode), the latest speed row on each side:
 *   the mean and sample std of its step times over step_ms_n timed steps
 *   (rows written before schema 5 have only the median: n unknown).
 * - memory: the same rows' peak memory; it is counted (arena high-water +
 *   parameters), not sampled, so it has no noise.
 *
 * Verdicts. A difference is a regression when NEW is worse than BASE (lower
 * accuracy, longer steps), Welch's t-test says it is beyond the noise of both
 * sides (two-sided p < alpha, default 0.01), and it is at least min_change of
 * BASE's value (relative, default 0.02): with thousands of timed steps a 0.1%
 * change is "significant" yet not worth failing CI for. With n < 2 on either
 * side there is no variance to test against: "n too small", never flagged.
 * Memory is a regression when it grows by more than min_change. A measurement
 * done in BASE that is oom/failed (speed) or has no done run (accuracy) in NEW
 * is a regression too. Only-one-side rows are listed, not flagged. */
#ifndef EFFBENCH_COMPARE_H
#define EFFBENCH_COMPARE_H

#include <stddef.h>
#include <stdio.h>

#include "store.h"

typedef enum { EB_CMP_MD, EB_CMP_CSV, EB_CMP_JSON } eb_cmp_format;

typedef struct eb_cmp_opts {
  const char *suite; /* NULL: every row of both databases */
  eb_cmp_format format;
  double alpha;                       /* two-sided significance level of Welch's test */
  double min_change;                  /* smallest relative change flagged */
  const char *base_label, *new_label; /* shown in the output (the paths) */
} eb_cmp_opts;

/* Two-sided p-value of Welch's t-test for means m1, m2 with sample standard
 * deviations s1, s2 over n1, n2 >= 2 observations; NaN when n < 2. Equal
 * means with no spread: 1; different means with no spread: 0. */
double eb_welch_p(double m1, double s1, int n1, double m2, double s2, int n2);

/* Writes the comparison to out; *regressions gets the number of flagged rows.
 * Returns EB_OK, or with a message in err: EB_NOTFOUND when neither database
 * has a run or speed row of the suite, EB_DB / EB_IO on a read or write
 * error, EB_NOMEM. */
int eb_compare(eb_store *base, eb_store *new_, const eb_cmp_opts *o, FILE *out,
               int *regressions, char *err, size_t errlen);

#endif
