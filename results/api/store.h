/* The results database (SQLite): schema of DESIGN.md §7 with migrations by
 * PRAGMA user_version, WAL journaling, and one transaction per result write,
 * so a crash or a full disk never leaves a half-written run behind.
 *
 * Every function returns EB_OK or the kind of its failure (effbench/rc.h:
 * EB_DB for SQLite's, EB_IO for a full disk or an I/O error, EB_NOMEM) with a
 * message in err naming the database file; nothing here prints. */
#ifndef EFFBENCH_STORE_H
#define EFFBENCH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "effbench/rc.h"

typedef struct eb_store eb_store;

/* Open (creating if needed) and migrate to the current schema. A file that is
 * not an effbench database, or one from a newer effbench, is refused with
 * EB_INPUT (bad input) instead of the kind of a failure to open or migrate. */
int eb_store_open(const char *path, eb_store **out, char *err, size_t errlen);
/* Open an existing database read-only (reports, plots): a missing file is
 * refused with EB_NOTFOUND ("no database at PATH: run a suite first"), an
 * empty or not yet migrated one with EB_INPUT. */
int eb_store_open_readonly(const char *path, eb_store **out, char *err, size_t errlen);
/* Open an input of `effbench merge` or `compare`: read-only like
 * eb_store_open_readonly, but an older schema is accepted as it is (nothing is
 * migrated, the file is not written; readers check which columns exist, since
 * such a file is often written by an older effbench). */
int eb_store_open_input(const char *path, eb_store **out, char *err, size_t errlen);
void eb_store_close(eb_store *s);
/* 1 when path (or, if it does not exist, its directory) lies on a network or
 * user-space file system (statfs f_type: NFS, SMB/CIFS, Lustre, GPFS, 9p,
 * FUSE, Ceph, AFS, BeeGFS), where SQLite's WAL cannot work: eb_store_open
 * uses rollback journaling (journal_mode DELETE) there. For tests only, the
 * environment variable EFFBENCH_TEST_NETWORK_FS=1 (or 0) overrides the
 * answer. */
int eb_store_on_network_fs(const char *path);
/* PRAGMA user_version of the open database (-1 on error). */
int eb_store_schema_version(eb_store *s);
/* The schema version this build creates and migrates to. */
int eb_store_schema_latest(void);
/* The path the store was opened with, for messages. */
const char *eb_store_path(eb_store *s);

/* env(key, value): replace the value of key. */
int eb_store_env_set(eb_store *s, const char *key, const char *value, char *err,
                     size_t errlen);
/* Record this machine and build: cpu model, cores, OPENBLAS_CORETYPE,
 * compiler, flags, git commit, effbench version (values passed by the
 * caller where the store cannot know them; NULL = this build's). The BLAS
 * library's own description is the caller's to add (eb_store_env_set "blas",
 * "blas_core"): results/ depends only on SQLite. */
int eb_store_env_record(eb_store *s, const char *version, const char *git_commit,
                        const char *compiler, const char *flags, char *err,
                        size_t errlen);

/* suites(name) is unique: insert, or update the yaml of the existing row
 * (yaml NULL keeps it). */
int eb_store_suite(eb_store *s, const char *name, const char *yaml, int64_t *suite_id,
                   char *err, size_t errlen);

/* *has = 1 when suite `name` exists with a YAML text (written by `run`), 0
 * when it does not exist or has none. */
int eb_store_suite_has_yaml(eb_store *s, const char *name, int *has, char *err,
                            size_t errlen);

/* Status of a run key: fills status ("" when the key is unknown). */
int eb_store_run_status(eb_store *s, const char *run_key, char *status, size_t len,
                        char *err, size_t errlen);

/* The code identity a run recorded (all "" when the key is unknown or the
 * value NULL: a run written before these columns existed, or by
 * eb_store_run_begin):
 * its status, the SHA-256 of its architecture's code and of the effbench
 * executable, the commit of that build, and when it finished. */
typedef struct eb_run_code {
  char status[16];
  char arch_sha256[65], exe_sha256[65];
  char git_commit[64];
  char finished_at[32];
} eb_run_code;

int eb_store_run_code(eb_store *s, const char *run_key, eb_run_code *out, char *err,
                      size_t errlen);

/* Mark a run `running` without an owner, unconditionally (insert, or reset
 * an existing row of the same key: its old evals and stats are deleted in the
 * same transaction). `run` claims runs instead (eb_store_run_claim below). */
int eb_store_run_begin(eb_store *s, int64_t suite_id, const char *run_key,
                       const char *arch, const char *task, int64_t seed,
                       const char *config_json, const char *host, const char *build,
                       int64_t *run_id, char *err, size_t errlen);

/* Record where run run_id runs: this machine's CPU model and online cores,
 * this build's commit, compiler and C flags, and the caller's ISA (the GEMM
 * kernel's) and thread count; one transaction. */
int eb_store_run_machine(eb_store *s, int64_t run_id, const char *isa, int threads,
                         char *err, size_t errlen);

/* Claims: two processes running one suite on one database train each run
 * once. A run is claimed in one write transaction: absent, or ended (any
 * status but done; done too with fresh) -> `running` under the claimant's
 * owner, "host:pid:start" (eb_store_owner_self). A `running` run is taken
 * over only when its owner is gone: on this host its pid no longer exists
 * (or names a process started at another time); from another host, its
 * heartbeat (eb_store_run_heartbeat) is older than stale_s. */
#define EB_CLAIM_STALE_S 1800 /* default stale_s: 30 minutes without a heartbeat */

typedef enum eb_claim_outcome {
  EB_CLAIM_TAKEN, /* this process owns the run now: train it */
  EB_CLAIM_DONE,  /* done already (and not fresh) */
  EB_CLAIM_BUSY,  /* running under a live owner (named in holder) */
  EB_CLAIM_ENDED  /* finished after `since`: by another process of this session */
} eb_claim_outcome;

typedef struct eb_run_claim {
  int64_t suite_id; /* 0 = none */
  const char *run_key, *arch, *task;
  int64_t seed;
  const char *config_json, *host, *build;
  const char *owner; /* eb_store_owner_self() */
  /* UTC "YYYY-MM-DDTHH:MM:SSZ" (as finished_at): a run that finished in a
   * later second (in another process started alongside) is not taken again,
   * even failed or with fresh; NULL = no such limit */
  const char *since;
  int fresh; /* take a done run too (run --fresh) */
  /* recorded with the claim: SHA-256 hex of the arch's code (a plugin's .so,
   * a built-in's sources) and of the effbench executable; NULL = unknown */
  const char *arch_sha256, *exe_sha256;
  int stale_s; /* heartbeat age after which another host's claim is dead; 0 =
                  EB_CLAIM_STALE_S */
} eb_run_claim;

/* Claims run c->run_key: *outcome says whether it was taken (then *run_id is
 * its row, reset as by eb_store_run_begin) or why not; holder gets the live
 * owner of a busy run. EB_OK, or the kind with err. */
int eb_store_run_claim(eb_store *s, const eb_run_claim *c, int *outcome, int64_t *run_id,
                       char *holder, size_t holderlen, char *err, size_t errlen);

/* This process as a claim owner: "host:pid:start" (start: clock ticks since
 * boot, from /proc; 0 where unknown). */
void eb_store_owner_self(char *buf, size_t len);

/* The owner of a claimed run says it is alive: heartbeat_at = now. EB_OK;
 * EB_BUSY with err when the run is no longer this owner's (taken over); the
 * kind with err on a database failure. */
int eb_store_run_heartbeat(eb_store *s, int64_t run_id, const char *owner, char *err,
                           size_t errlen);

typedef struct eb_eval_row {
  int step;
  const char *split; /* "val" | "test" | "train" */
  double loss, accuracy, elapsed_s;
} eb_eval_row;

typedef struct eb_stat_row {
  int step;
  const char *name;
  double value;
} eb_stat_row;

typedef struct eb_run_result_row {
  const char *status; /* done, failed, oom, timeout, diverged */
  const char *error;  /* NULL when none */
  int64_t params_total, params_active;
  double flops_train_step, flops_infer_seq; /* executed FLOPs (recompute included) */
  double model_flops_train_step;            /* flops_train_step less the recompute */
  double flops_train_token;           /* training FLOPs per token (forward + backward) */
  double val_accuracy, test_accuracy; /* NaN = none */
  double test_majority; /* share of the test split's most frequent label, NaN = none */
  int64_t test_count;   /* examples in the test split, 0 = none */
  int best_step, steps_done;
  double train_seconds, tokens_per_s, padded_tokens_per_s;
  double infer_ms_per_batch, train_ms_per_step;
  int64_t peak_mem_bytes;
  const eb_eval_row *evals;
  int n_evals;
  const eb_stat_row *stats;
  int n_stats;
  /* where the data came from (eb_data_source: kind, label, detail JSON);
   * NULL when unknown (the data did not open) */
  const char *data_kind, *data_label, *data_source;
  /* the claim's owner: the row is written only while the run is still
   * `running` under it (else 1 is returned, nothing written); NULL = no check */
  const char *owner;
} eb_run_result_row;

/* Finish a run: update its row, insert its evals and stats, one transaction.
 * EB_OK; EB_BUSY with err when r->owner lost its claim (nothing written); the
 * kind with err on a failure. */
int eb_store_run_finish(eb_store *s, int64_t run_id, const eb_run_result_row *r,
                        char *err, size_t errlen);

typedef struct eb_speed_row {
  int64_t suite_id; /* 0 = none (a bench outside a suite) */
  const char *arch, *task;
  int seq_len, batch;
  const char *mode; /* "train" | "infer" */
  int threads;
  double step_ms_median, step_ms_min, tokens_per_s, gflops_per_s;
  int64_t peak_mem_bytes;
  const char *status; /* done | oom | failed */
  const char *config_json;
  /* FLOPs of one step: model (no recompute) and executed (with the backward's
   * recompute; gflops_per_s is executed_flops_step / step_ms_median); NaN or
   * left out of an initializer (0): NULL */
  double model_flops_step, executed_flops_step;
  /* the step times' count, mean and sample standard deviation (n - 1); n 0
   * (left out): all three NULL; n 1: std NULL */
  int step_ms_n;
  double step_ms_mean, step_ms_std;
  const char *gemm_backend;           /* e.g. "onednn:avx512_core_bf16"; NULL: unknown */
  const struct eb_speed_claim *claim; /* the claim this row ends; NULL: none */
} eb_speed_row;

/* One point of a suite's speed section, as `run` claims it before measuring
 * (eb_store_speed_claim): two processes on one database measure it once. */
typedef struct eb_speed_claim {
  int64_t suite_id; /* > 0 */
  const char *arch, *mode;
  int seq_len, batch, threads;
  int dim;           /* the measured width (config_json's dim); 0 = any */
  const char *owner; /* eb_store_owner_self() */
  /* as eb_run_claim's: a row of this point measured in a later second (by
   * another process started alongside) is not measured again, even with
   * fresh; NULL = no such limit */
  const char *since;
  int fresh;   /* measure a point that has a done row too (run --fresh) */
  int stale_s; /* age of another host's claim after which it is dead; 0 =
                  EB_CLAIM_STALE_S */
} eb_speed_claim;

/* Claims point c in one write transaction: what `run` resumes of a suite's
 * speed section. *outcome: EB_CLAIM_TAKEN (this process measures it now: its
 * claim lives until eb_store_speed writes the row with .claim = c),
 * EB_CLAIM_DONE (a done row of exactly this measurement exists: arch, length,
 * batch, mode, threads and, unless dim is 0, the width in its configuration;
 * not fresh),
 * EB_CLAIM_BUSY (claimed by a live owner, named in holder; a dead owner's
 * claim is taken over as eb_store_run_claim takes over runs, with the claim's
 * age as heartbeat) or EB_CLAIM_ENDED (measured since c->since). EB_OK, or the
 * kind with err. */
int eb_store_speed_claim(eb_store *s, const eb_speed_claim *c, int *outcome, char *holder,
                         size_t holderlen, char *err, size_t errlen);

/* Writes speed row r in one transaction; with r->claim set, the claim of that
 * point held by r->claim->owner is released in the same transaction. */
int eb_store_speed(eb_store *s, const eb_speed_row *r, char *err, size_t errlen);

#endif
