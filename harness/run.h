/* Running a suite: every run not yet `done` in the database is trained and
 * evaluated, its result written in one transaction; the speed section is
 * measured with the bench protocol. Failures of one run are recorded with
 * their status and the suite goes on. */
#ifndef EFFBENCH_RUN_H
#define EFFBENCH_RUN_H

#include "bench.h"
#include "store.h"
#include "suite.h"

typedef struct eb_run_opts {
  const char *db; /* database file */
  int threads;
  int shard_i, shard_n; /* this process runs runs with index % shard_n == shard_i */
  const char *only;     /* fnmatch pattern on run labels (arch/task/seed=S...) */
  int fresh;            /* rerun runs already done */
  int dry_run;          /* print the grid, run nothing */
  /* Code-aware resume: the registry the suite's archs came from, for each
   * arch's code digest (eb_registry_arch_code; NULL: no digests, nothing
   * compared or recorded). A done run whose recorded digest differs stops the
   * suite before anything is trained (exit 2) unless one of these says what
   * to do: re-run such runs (as --fresh does), or keep their results. */
  const eb_registry *reg;
  int rerun_changed, keep_changed;
  /* --dry-run's time estimate: FLOPs / (efficiency x GEMM peak). efficiency
   * 0 = EB_RUN_EFFICIENCY; peak_gflops 0 = measure it (a short GEMM
   * measurement, peak.h, with `threads`). */
  double efficiency, peak_gflops;
  /* Output: `transient` lines overwrite each other on a terminal. */
  void *user;
  void (*print)(void *user, int transient, const char *line);
  /* Machine-readable progress (`run --json`): when set, called with one JSON
   * object per event, no newline (docs/guide.md, "Progress as JSON Lines"
   * lists the events and their fields). Not called in a dry run. */
  void (*event)(void *user, const char *json);
} eb_run_opts;

/* The fraction of the GEMM peak (`bench --peak`) a training step is assumed
 * to reach in --dry-run's time estimate. Measured at d64 (depth 2, ffn 128,
 * batch 32, len 512, 2 threads; docs/guide.md, "Estimated time"): vanilla
 * and poolformer about 0.45, linformer and wide about 0.2, moe and performer
 * about 0.1, mamba 0.03-0.06; a suite spending equal FLOPs on the seven
 * archs runs at their harmonic mean, 0.08-0.14. */
#define EB_RUN_EFFICIENCY 0.1

typedef struct eb_run_summary {
  int selected, skipped_done, done;
  int ended_early;  /* a result, but timeout, diverged or oom */
  int failed;       /* status failed: an error, see the run's error column */
  int elsewhere;    /* running or run in another process on the same database */
  int code_changed; /* done runs whose arch's code changed (re-run or kept) */
  int speed_rows;
  /* --dry-run: estimated FLOPs (training and evaluation) and wall time of the
   * selected runs with a FLOP count, each capped at its time budget; the
   * peak and efficiency it assumed; runs without a FLOP count */
  double est_flops, est_seconds, est_peak_gflops, est_efficiency;
  int est_unknown;
} eb_run_summary;

/* Returns EB_OK when the suite was worked through (individual runs may have
 * failed: see summary); the kind with err otherwise: EB_DB, EB_IO, EB_NOMEM
 * for a failure that stopped it, EB_INPUT when the database file is refused
 * (not an effbench database) or when done runs were trained with other code
 * of their arch and neither rerun_changed nor keep_changed is set (the runs
 * are printed, nothing is trained). */
int eb_suite_execute(eb_suite *s, const eb_run_opts *o, eb_run_summary *sum, char *err,
                     size_t errlen);

/* Opens (creating, migrating) the results database at path, records this
 * machine and build in `env` and makes sure suite `suite` exists (its yaml
 * replaced); EB_OK, or the kind with err (nothing left open): EB_INPUT when
 * the file is refused as not an effbench database, or yaml is NULL and suite
 * was written from a suite file (bench rows never join a suite run). */
int eb_results_open(const char *path, const char *suite, const char *yaml, eb_store **db,
                    int64_t *suite_id, char *err, size_t errlen);

/* One speed point with the bench protocol (eb_bench_run), written as a row of
 * `speed` under suite_id with its config as JSON. *status: done, or oom (the
 * measurement failed with EB_NOMEM) / failed (any other kind) with the reason
 * in why (a result, not an error). Returns the kind with err only when the row
 * could not be written. */
int eb_speed_measure(eb_store *db, int64_t suite_id, const eb_arch *arch,
                     const eb_args *args, const eb_model_config *m,
                     const eb_bench_cfg *bc, int threads, const char *task,
                     const eb_speed_claim *claim, eb_bench_result *br,
                     const char **status, char *why, size_t whylen, char *err,
                     size_t errlen);

/* A duration for --dry-run's estimate: "0.012 s", "42 s", "3.5 min", "2.41 h". */
void eb_run_fmt_duration(char *buf, size_t len, double seconds);

/* Select the shard from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT when the
 * caller gave none; EB_OK if absent, EB_INPUT with err on malformed values. */
int eb_shard_from_env(int *shard_i, int *shard_n, char *err, size_t errlen);

#endif
