/* Running a suite: every run not yet `done` in the database is trained and
 * evaluated, its result written in one transaction; the speed section is
 * measured with the bench protocol. Failures of one run are recorded with
 * their status and the suite goes on. */
#ifndef EFFBENCH_RUN_H
#define EFFBENCH_RUN_H

#include "suite.h"

typedef struct eb_run_opts {
  const char *db; /* database file */
  int threads;
  int shard_i, shard_n; /* this process runs runs with index % shard_n == shard_i */
  const char *only;     /* fnmatch pattern on run labels (arch/task/seed=S...) */
  int fresh;            /* rerun runs already done */
  int dry_run;          /* print the grid, run nothing */
  /* Output: `transient` lines overwrite each other on a terminal. */
  void *user;
  void (*print)(void *user, int transient, const char *line);
} eb_run_opts;

typedef struct eb_run_summary {
  int selected, skipped_done, done;
  int ended_early; /* a result, but timeout, diverged or oom */
  int failed;      /* status failed: an error, see the run's error column */
  int speed_rows;
} eb_run_summary;

/* Returns 0 when the suite was worked through (individual runs may have
 * failed: see summary), 1 on an I/O or database failure that stopped it. */
int eb_suite_execute(eb_suite *s, const eb_run_opts *o, eb_run_summary *sum, char *err,
                     size_t errlen);

/* Select the shard from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT when the
 * caller gave none; 0 if absent, -1 with err on malformed values. */
int eb_shard_from_env(int *shard_i, int *shard_n, char *err, size_t errlen);

#endif
