/* The results database: schema, migrations, and one transaction per write.
 *
 * Safety rules this file keeps:
 * - nothing is written to a file until it is known to be an effbench
 *   database (or an empty file): a foreign SQLite file or a text file is
 *   refused before any pragma that could change it;
 * - every write is BEGIN IMMEDIATE ... COMMIT, rolled back on any error, so
 *   a full disk, an I/O error or a constraint leaves the previous state;
 * - schema changes are table-driven by PRAGMA user_version: migration i
 *   brings the database from version i-1 to i inside one transaction. */
#include "store.h"
#include "store_internal.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "version.h"

#ifndef EFFBENCH_COMPILER
#define EFFBENCH_COMPILER "unknown"
#endif
#ifndef EFFBENCH_C_FLAGS
#define EFFBENCH_C_FLAGS ""
#endif

/* PRAGMA application_id: "EFFB". Marks the file as ours, so a foreign SQLite
 * database that happens to use user_version is still refused. */
#define EB_APPLICATION_ID 0x45464642
#define EB_BUSY_TIMEOUT_MS 10000
/* Tries of a statement that found the database locked after sqlite's own
 * busy handler waited EB_BUSY_TIMEOUT_MS: two processes on one file (a second
 * terminal, array tasks) take turns for their short writes instead of
 * failing with "database is locked". */
#define EB_BUSY_TRIES 6

#define NOW_SQL "strftime('%Y-%m-%dT%H:%M:%SZ','now')"

static const char SCHEMA_V1[] =
    "CREATE TABLE suites(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  yaml TEXT,\n"
    "  created_at TEXT NOT NULL);\n"
    "CREATE TABLE runs(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  suite_id INTEGER REFERENCES suites(id),\n"
    "  run_key TEXT NOT NULL UNIQUE,\n"
    "  arch TEXT NOT NULL,\n"
    "  task TEXT NOT NULL,\n"
    "  seed INTEGER NOT NULL,\n"
    "  config_json TEXT,\n"
    "  status TEXT NOT NULL CHECK(status IN ('pending','running','done','failed',\n"
    "                                        'oom','timeout','diverged')),\n"
    "  error TEXT,\n"
    "  params_total INTEGER,\n"
    "  params_active INTEGER,\n"
    "  flops_train_step REAL,\n"
    "  flops_infer_seq REAL,\n"
    "  val_accuracy REAL,\n"
    "  test_accuracy REAL,\n"
    "  best_step INTEGER,\n"
    "  steps_done INTEGER,\n"
    "  train_seconds REAL,\n"
    "  tokens_per_s REAL,\n"
    "  padded_tokens_per_s REAL,\n"
    "  train_ms_per_step REAL,\n"
    "  infer_ms_per_batch REAL,\n"
    "  peak_mem_bytes INTEGER,\n"
    "  started_at TEXT,\n"
    "  finished_at TEXT,\n"
    "  host TEXT,\n"
    "  build TEXT);\n"
    "CREATE INDEX runs_suite ON runs(suite_id);\n"
    "CREATE TABLE evals(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  step INTEGER NOT NULL,\n"
    "  split TEXT NOT NULL,\n"
    "  loss REAL,\n"
    "  accuracy REAL,\n"
    "  elapsed_s REAL);\n"
    "CREATE INDEX evals_run ON evals(run_id);\n"
    "CREATE TABLE speed(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  suite_id INTEGER REFERENCES suites(id),\n"
    "  arch TEXT NOT NULL,\n"
    "  task TEXT,\n"
    "  seq_len INTEGER NOT NULL,\n"
    "  batch INTEGER NOT NULL,\n"
    "  mode TEXT NOT NULL CHECK(mode IN ('train','infer')),\n"
    "  threads INTEGER,\n"
    "  step_ms_median REAL,\n"
    "  step_ms_min REAL,\n"
    "  tokens_per_s REAL,\n"
    "  gflops_per_s REAL,\n"
    "  peak_mem_bytes INTEGER,\n"
    "  status TEXT NOT NULL CHECK(status IN ('done','oom','failed','timeout')),\n"
    "  config_json TEXT,\n"
    "  measured_at TEXT NOT NULL);\n"
    "CREATE INDEX speed_suite ON speed(suite_id);\n"
    "CREATE TABLE run_stats(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  step INTEGER NOT NULL,\n"
    "  name TEXT NOT NULL,\n"
    "  value REAL);\n"
    "CREATE INDEX run_stats_run ON run_stats(run_id);\n"
    "CREATE TABLE env(\n"
    "  key TEXT PRIMARY KEY,\n"
    "  value TEXT);\n";

/* Model FLOPs (no recompute) beside the executed ones: runs.flops_train_step
 * and speed's rate are executed FLOPs (docs/schema.md). */
static const char MIGRATION_MODEL_FLOPS[] =
    "ALTER TABLE runs ADD COLUMN model_flops_train_step REAL;\n"
    "ALTER TABLE speed ADD COLUMN model_flops_step REAL;\n"
    "ALTER TABLE speed ADD COLUMN executed_flops_step REAL;\n";

/* Migration i (1-based) brings user_version i-1 to i. To change the schema,
 * append one entry; never edit a shipped one. */
/* Data provenance per run: what report and plot compare (data_kind), the
 * short text of headers and captions (data_label), and the details as JSON
 * (data_source). NULL in runs written before it existed. */
static const char MIGRATION_DATA_SOURCE[] =
    "ALTER TABLE runs ADD COLUMN data_kind TEXT;\n"
    "ALTER TABLE runs ADD COLUMN data_label TEXT;\n"
    "ALTER TABLE runs ADD COLUMN data_source TEXT;\n";

/* Where each run ran, per run rather than in the one global env table, so
 * rows merged from several machines' databases keep their origin; and
 * conflict_of, set on a run that `effbench merge` kept beside another run of
 * the same key with different results (its own run_key is KEY~FINGERPRINT). */
static const char MIGRATION_RUN_MACHINE[] =
    "ALTER TABLE runs ADD COLUMN cpu_model TEXT;\n"
    "ALTER TABLE runs ADD COLUMN isa TEXT;\n"
    "ALTER TABLE runs ADD COLUMN cores INTEGER;\n"
    "ALTER TABLE runs ADD COLUMN threads INTEGER;\n"
    "ALTER TABLE runs ADD COLUMN git_commit TEXT;\n"
    "ALTER TABLE runs ADD COLUMN compiler TEXT;\n"
    "ALTER TABLE runs ADD COLUMN c_flags TEXT;\n"
    "ALTER TABLE runs ADD COLUMN conflict_of TEXT;\n"
    "CREATE INDEX runs_conflict_of ON runs(conflict_of);\n";

/* Claims for concurrent writers (eb_store_run_claim): who trains a running
 * run and when it last said so; and one eval row per (run, step, split), so a
 * run trained twice can never double its curve. Old databases may hold such
 * duplicates (two processes on one file before claims existed): the first row
 * of each is kept. */
static const char MIGRATION_CLAIMS[] =
    "ALTER TABLE runs ADD COLUMN owner TEXT;\n"
    "ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;\n"
    "DELETE FROM evals WHERE rowid NOT IN "
    "(SELECT min(rowid) FROM evals GROUP BY run_id, step, split);\n"
    "CREATE UNIQUE INDEX evals_unique ON evals(run_id, step, split);\n";

/* The code a run was trained with, beyond the commit (git_commit is taken
 * when the build is configured and says nothing of a dirty tree or a plugin):
 * the SHA-256 of its architecture's code (a plugin's .so file; a built-in's
 * sources, scripts/arch-code.cmake), which `run` compares on resume, and of
 * the effbench executable. NULL in runs written before: unknown, taken as
 * unchanged. */
static const char MIGRATION_CODE[] = "ALTER TABLE runs ADD COLUMN arch_sha256 TEXT;\n"
                                     "ALTER TABLE runs ADD COLUMN exe_sha256 TEXT;\n";

/* Reruns keep history: runs.attempt numbers the attempt a row holds (1 for
 * every run written before), and a run that had ended (any status but
 * pending or running) and is started again is first copied here with its
 * evals and stats (write_running). runs keeps the latest attempt under the
 * same id and run_key, so resume, claims, merge and compare read it as
 * before. A migration that adds a column to runs adds it here too: the copy
 * takes the columns both tables have. */
/* The machine and build of each speed row, as runs have theirs (version 5):
 * merged databases keep where every measurement came from. NULL in rows
 * written before. */
static const char MIGRATION_SPEED_MACHINE[] =
    "ALTER TABLE speed ADD COLUMN host TEXT;\n"
    "ALTER TABLE speed ADD COLUMN cpu_model TEXT;\n"
    "ALTER TABLE speed ADD COLUMN cores INTEGER;\n"
    "ALTER TABLE speed ADD COLUMN git_commit TEXT;\n"
    "ALTER TABLE speed ADD COLUMN compiler TEXT;\n"
    "ALTER TABLE speed ADD COLUMN c_flags TEXT;\n";

static const char MIGRATION_ATTEMPTS[] =
    "ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;\n"
    "CREATE TABLE run_attempts(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  attempt INTEGER NOT NULL,\n"
    "  archived_at TEXT NOT NULL,\n"
    "  suite_id INTEGER, run_key TEXT NOT NULL, arch TEXT NOT NULL, task TEXT NOT NULL,\n"
    "  seed INTEGER NOT NULL, config_json TEXT, status TEXT NOT NULL, error TEXT,\n"
    "  params_total INTEGER, params_active INTEGER, flops_train_step REAL,\n"
    "  flops_infer_seq REAL, val_accuracy REAL, test_accuracy REAL, best_step INTEGER,\n"
    "  steps_done INTEGER, train_seconds REAL, tokens_per_s REAL,\n"
    "  padded_tokens_per_s REAL, train_ms_per_step REAL, infer_ms_per_batch REAL,\n"
    "  peak_mem_bytes INTEGER, started_at TEXT, finished_at TEXT, host TEXT,\n"
    "  build TEXT, data_kind TEXT, data_label TEXT, data_source TEXT,\n"
    "  flops_train_token REAL, model_flops_train_step REAL, cpu_model TEXT, isa TEXT,\n"
    "  cores INTEGER, threads INTEGER, git_commit TEXT, compiler TEXT, c_flags TEXT,\n"
    "  conflict_of TEXT, owner TEXT, heartbeat_at TEXT, arch_sha256 TEXT, exe_sha256 "
    "TEXT,\n"
    "  UNIQUE(run_id, attempt));\n"
    "CREATE TABLE eval_attempts(\n"
    "  attempt_id INTEGER NOT NULL REFERENCES run_attempts(id) ON DELETE CASCADE,\n"
    "  step INTEGER NOT NULL,\n"
    "  split TEXT NOT NULL,\n"
    "  loss REAL,\n"
    "  accuracy REAL,\n"
    "  elapsed_s REAL);\n"
    "CREATE INDEX eval_attempts_attempt ON eval_attempts(attempt_id);\n"
    "CREATE TABLE run_stat_attempts(\n"
    "  attempt_id INTEGER NOT NULL REFERENCES run_attempts(id) ON DELETE CASCADE,\n"
    "  step INTEGER NOT NULL,\n"
    "  name TEXT NOT NULL,\n"
    "  value REAL);\n"
    "CREATE INDEX run_stat_attempts_attempt ON run_stat_attempts(attempt_id);\n";

/* The majority-class baseline of a run's test split (version 11): the share
 * of its most frequent label and the split's size, so a report can say
 * whether an accuracy is clearly above chance. NULL in rows written before. */
static const char MIGRATION_MAJORITY[] =
    "ALTER TABLE runs ADD COLUMN test_majority REAL;\n"
    "ALTER TABLE runs ADD COLUMN test_count INTEGER;\n"
    "ALTER TABLE run_attempts ADD COLUMN test_majority REAL;\n"
    "ALTER TABLE run_attempts ADD COLUMN test_count INTEGER;\n";

/* Claims of speed points (version 12): `run` claims each point of a suite's
 * speed section before measuring it (eb_store_speed_claim), as it claims
 * runs, so two processes on one database measure it once. A row lives while
 * its point is being measured: the speed row's write deletes it in the same
 * transaction; a killed owner's row is taken over. */
static const char MIGRATION_SPEED_CLAIMS[] =
    "CREATE TABLE speed_claims(\n"
    "  suite_id INTEGER NOT NULL REFERENCES suites(id),\n"
    "  point TEXT NOT NULL,\n"
    "  owner TEXT NOT NULL,\n"
    "  claimed_at TEXT NOT NULL,\n"
    "  PRIMARY KEY(suite_id, point));\n";

static const char *const MIGRATIONS[] = {
    SCHEMA_V1,
    MIGRATION_DATA_SOURCE,
    /* training FLOPs per token beside the parameter count: the two sizes a
     * matched suite (`match: params|flops`) equalizes */
    "ALTER TABLE runs ADD COLUMN flops_train_token REAL;\n",
    MIGRATION_MODEL_FLOPS,
    MIGRATION_RUN_MACHINE,
    /* the spread of a speed row's step times (what `compare` tests a
     * difference against) and the GEMM backend it ran on */
    "ALTER TABLE speed ADD COLUMN step_ms_n INTEGER;\n"
    "ALTER TABLE speed ADD COLUMN step_ms_mean REAL;\n"
    "ALTER TABLE speed ADD COLUMN step_ms_std REAL;\n"
    "ALTER TABLE speed ADD COLUMN gemm_backend TEXT;\n",
    MIGRATION_CLAIMS,
    MIGRATION_CODE,
    MIGRATION_ATTEMPTS,
    MIGRATION_SPEED_MACHINE,
    MIGRATION_MAJORITY,
    MIGRATION_SPEED_CLAIMS,
};
#define N_MIGRATIONS ((int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]))
/* The oldest version a read-only open (report, plot) takes
 * as it is: the last migration that added something they read. Later ones
 * (12: speed_claims, which only `run` uses) need no migration to be read, so
 * a database written by the previous release stays readable in place. Raise
 * it with a migration that readers depend on. */
#define READ_MIN_VERSION 11

struct eb_store {
  sqlite3 *db;
  char *path;
  int readonly;
  int writing; /* inside one of our write transactions */
};

/* A text parameter SQLite could not copy (out of memory) stays NULL, which
 * changes what a statement means (a result's WHERE owner = NULL matches no
 * row and reads as "taken over"): the failure is kept and the next step
 * returns it instead of running the statement. */
static _Thread_local int bind_failed;

/* ------------------------------------------------------------- errors -- */

static void rollback_if_open(eb_store *s) {
  if (s->db && !sqlite3_get_autocommit(s->db))
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Formats an error for rc while doing `what`, then rolls back any open
 * transaction (after reading sqlite's message, which the rollback resets).
 * Returns the kind: EB_NOMEM, EB_IO (disk full, I/O error) or EB_DB. */
static int db_fail(eb_store *s, int rc, const char *what, char *err, size_t errlen) {
  const char *m = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
  char msg[256];
  snprintf(msg, sizeof msg, "%s", m ? m : "unknown error");
  /* sqlite may already have rolled back by itself (full disk, I/O error):
   * either way nothing of this write is in the file */
  const char *undo =
      s->writing ? "; nothing was written, earlier results are intact" : "";
  switch (rc & 0xff) {
  case SQLITE_FULL:
    snprintf(err, errlen, "%s: disk full while %s (%s)%s", s->path, what, msg, undo);
    break;
  case SQLITE_IOERR:
    snprintf(err, errlen, "%s: I/O error while %s (%s)%s", s->path, what, msg, undo);
    break;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    snprintf(err, errlen,
             "%s: database is locked by another process while %s (waited %d s)%s",
             s->path, what, EB_BUSY_TRIES * EB_BUSY_TIMEOUT_MS / 1000, undo);
    break;
  case SQLITE_READONLY:
    snprintf(err, errlen, "%s: database is read-only while %s (%s)", s->path, what, msg);
    break;
  case SQLITE_CORRUPT:
    snprintf(err, errlen, "%s: database file is damaged (%s) while %s", s->path, msg,
             what);
    break;
  case SQLITE_NOTADB:
    snprintf(err, errlen, "%s: not an SQLite database (%s)", s->path, msg);
    break;
  case SQLITE_CANTOPEN:
    snprintf(err, errlen,
             "%s: cannot open the database (%s): does its directory exist and is it "
             "writable?",
             s->path, msg);
    break;
  case SQLITE_CONSTRAINT:
    snprintf(err, errlen, "%s: %s: rejected by the schema (%s)%s", s->path, what, msg,
             undo);
    break;
  case SQLITE_NOMEM:
    snprintf(err, errlen, "%s: out of memory while %s%s", s->path, what, undo);
    break;
  default: snprintf(err, errlen, "%s: %s failed (%s)%s", s->path, what, msg, undo); break;
  }
  rollback_if_open(s);
  s->writing = 0;
  switch (rc & 0xff) {
  case SQLITE_NOMEM: return EB_NOMEM;
  case SQLITE_FULL:
  case SQLITE_IOERR: return EB_IO;
  default: return EB_DB;
  }
}

/* returns the failure of a step that failed (its kind, err written) */
#define TRY(call)                                                                        \
  do {                                                                                   \
    int try_rc_ = (call);                                                                \
    if (try_rc_) return try_rc_;                                                         \
  } while (0)

static int exec_sql(eb_store *s, const char *sql, const char *what, char *err,
                    size_t errlen) {
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : db_fail(s, rc, what, err, errlen);
}

/* exec_sql for a statement that takes a lock before it changes anything
 * (BEGIN IMMEDIATE, the journal_mode pragma): tried again while another
 * process holds the lock. */
static int exec_retry(eb_store *s, const char *sql, const char *what, char *err,
                      size_t errlen) {
  int rc = SQLITE_OK;
  for (int i = 0; i < EB_BUSY_TRIES; i++) {
    rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) break;
    struct timespec pause = {0, 10000000L * (i + 1)};
    nanosleep(&pause, NULL);
  }
  return rc == SQLITE_OK ? 0 : db_fail(s, rc, what, err, errlen);
}

static int begin(eb_store *s, const char *what, char *err, size_t errlen) {
  if (s->readonly) {
    snprintf(err, errlen, "%s: opened read-only, refused %s", s->path, what);
    return EB_INTERNAL;
  }
  TRY(exec_retry(s, "BEGIN IMMEDIATE", what, err, errlen));
  s->writing = 1;
  bind_failed = 0; /* a bind whose statement was never stepped */
  return EB_OK;
}

static int commit(eb_store *s, const char *what, char *err, size_t errlen) {
  TRY(exec_sql(s, "COMMIT", what, err, errlen));
  s->writing = 0;
  return EB_OK;
}

/* ----------------------------------------------------------- binding -- */

static int bind_text(sqlite3_stmt *st, int i, const char *v) {
  int rc =
      v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
  if (rc != SQLITE_OK && !bind_failed) bind_failed = rc;
  return rc;
}

/* sqlite3_step, or the failure of a bind since the last step */
static int step(sqlite3_stmt *st) {
  const int failed = bind_failed;
  bind_failed = 0;
  return failed ? failed : sqlite3_step(st);
}
/* NaN = unknown = NULL */
static int bind_real(sqlite3_stmt *st, int i, double v) {
  return isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
}
/* negative counts mean unknown = NULL */
static int bind_count(sqlite3_stmt *st, int i, int64_t v) {
  return v < 0 ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, v);
}

/* Steps a prepared statement to completion; 0 or the sqlite rc. */
static int step_done(sqlite3_stmt *st) {
  int rc = step(st);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
    while (rc == SQLITE_ROW)
      rc = step(st);
  }
  return rc == SQLITE_DONE ? 0 : rc;
}

/* Reads one integer pragma or scalar query; -1 on error with rc in *rcp. */
static int64_t query_int(eb_store *s, const char *sql, int *rcp) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  int64_t v = -1;
  if (rc == SQLITE_OK) {
    rc = step(st);
    if (rc == SQLITE_ROW) {
      v = sqlite3_column_int64(st, 0);
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      v = 0;
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(st);
  *rcp = rc;
  return v;
}

/* -------------------------------------------------------------- open -- */

/* 1 if the file exists and has the SQLite header, 0 if it is empty, -1 if it
 * is something else (errno-free: the caller names the file). */
static int sniff_header(const char *path, int *exists) {
  struct stat sb;
  *exists = stat(path, &sb) == 0;
  if (!*exists || sb.st_size == 0) return 0;
  FILE *f = fopen(path, "rb");
  if (!f) return 1; /* let sqlite report the permission problem */
  char h[16];
  size_t n = fread(h, 1, sizeof h, f);
  fclose(f);
  return n == sizeof h && memcmp(h, "SQLite format 3", 16) == 0 ? 1 : -1;
}

/* Refuses files that are not (or not yet) effbench databases, by reading
 * only. Sets *version to the current user_version. */
static int check_identity(eb_store *s, int *version, char *err, size_t errlen) {
  int rc;
/* an SQLite header over garbage is a bad file (EB_INPUT), not a failure to read */
#define IDENTITY_FAIL(what)                                                              \
  do {                                                                                   \
    int kind_ = db_fail(s, rc, what, err, errlen);                                       \
    return rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT ? EB_INPUT : kind_;               \
  } while (0)
  /* one statement, so one read transaction: another process creating the
   * file at the same time is seen before or after its write, never between
   * its tables and its application_id */
  int64_t app = 0, ver = 0, nobj = 0;
  sqlite3_stmt *st = NULL;
  rc = sqlite3_prepare_v2(s->db,
                          "SELECT (SELECT application_id FROM pragma_application_id), "
                          "(SELECT user_version FROM pragma_user_version), "
                          "(SELECT count(*) FROM sqlite_master)",
                          -1, &st, NULL);
  if (rc == SQLITE_OK) {
    rc = step(st);
    if (rc == SQLITE_ROW) {
      app = sqlite3_column_int64(st, 0);
      ver = sqlite3_column_int64(st, 1);
      nobj = sqlite3_column_int64(st, 2);
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_OK) IDENTITY_FAIL("reading the database header and schema");
#undef IDENTITY_FAIL
  if (app != EB_APPLICATION_ID && (app != 0 || ver != 0 || nobj != 0)) {
    snprintf(err, errlen,
             "%s: an SQLite database but not an effbench one (application_id %lld, "
             "%lld schema objects); refusing to touch it: pick another --db file",
             s->path, (long long)app, (long long)nobj);
    return EB_INPUT;
  }
  if (ver < 0) {
    snprintf(err, errlen, "%s: schema version %lld is not one effbench writes", s->path,
             (long long)ver);
    return EB_INPUT;
  }
  if (ver > N_MIGRATIONS) {
    snprintf(err, errlen,
             "%s: written by a newer effbench (schema version %lld; this build knows "
             "up to %d): upgrade effbench to read or extend it",
             s->path, (long long)ver, N_MIGRATIONS);
    return EB_INPUT;
  }
  *version = (int)ver;
  return EB_OK;
}

static int migrate(eb_store *s, char *err, size_t errlen) {
  for (;;) {
    TRY(begin(s, "migrating the schema", err, errlen));
    int rc;
    /* re-read inside the write lock: another process may have migrated */
    int64_t ver = query_int(s, "PRAGMA user_version", &rc);
    if (rc != SQLITE_OK) return db_fail(s, rc, "reading the schema version", err, errlen);
    if (ver >= N_MIGRATIONS) return commit(s, "migrating the schema", err, errlen);
    if (ver < 0) { /* refused by check_identity; here in case another process
                      rewrote the header since (fuzz_store found the index) */
      rollback_if_open(s);
      snprintf(err, errlen, "%s: schema version %lld is not one effbench writes", s->path,
               (long long)ver);
      return EB_INPUT;
    }
    char what[64];
    snprintf(what, sizeof what, "migrating the schema to version %lld",
             (long long)ver + 1);
    TRY(exec_sql(s, MIGRATIONS[ver], what, err, errlen));
    char pragma[96];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version=%lld; PRAGMA application_id=%d",
             (long long)ver + 1, EB_APPLICATION_ID);
    TRY(exec_sql(s, pragma, what, err, errlen));
    TRY(commit(s, what, err, errlen));
  }
}

/* statfs f_type magic numbers of network and user-space file systems
 * (linux/magic.h and the file systems' own headers) */
static const unsigned long NETWORK_FS_MAGIC[] = {
    0x6969UL,     /* NFS */
    0xFF534D42UL, /* CIFS */
    0xFE534D42UL, /* SMB2 */
    0x517BUL,     /* SMB */
    0x0BD00BD0UL, /* Lustre */
    0x47504653UL, /* GPFS */
    0x01021997UL, /* 9p (v9fs) */
    0x65735546UL, /* FUSE (sshfs, s3fs, ...) */
    0x00C36400UL, /* Ceph */
    0x013111A8UL, /* IBRIX */
    0x6B414653UL, /* AFS */
    0x5346414FUL, /* OpenAFS */
    0x19830326UL, /* BeeGFS */
};

int eb_store_on_network_fs(const char *path) {
  /* for tests only: pretend (1) or deny (0) a network file system */
  const char *force = getenv("EFFBENCH_TEST_NETWORK_FS");
  if (force && *force) return atoi(force) != 0;
  /* the file may not exist yet: then its directory decides */
  struct statfs fs;
  int rc = statfs(path, &fs);
  if (rc != 0) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
      snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
      dir[1] = 0;
    else
      *slash = 0;
    rc = statfs(dir, &fs);
  }
  if (rc != 0) return 0;
  for (size_t i = 0; i < sizeof NETWORK_FS_MAGIC / sizeof NETWORK_FS_MAGIC[0]; i++)
    if ((unsigned long)fs.f_type == NETWORK_FS_MAGIC[i]) return 1;
  return 0;
}

static int open_common(const char *path, int readonly, eb_store **out, char *err,
                       size_t errlen) {
  *out = NULL;
  if (!path || !*path) {
    snprintf(err, errlen, "no database path given");
    return EB_INPUT;
  }
  int exists;
  int kind = sniff_header(path, &exists);
  if (readonly && !exists) {
    snprintf(err, errlen, "no database at %s: run a suite first", path);
    return EB_NOTFOUND;
  }
  if (kind < 0) {
    snprintf(err, errlen,
             "%s: not an SQLite database (no SQLite header); refusing to touch it: pick "
             "another --db file",
             path);
    return EB_INPUT;
  }
  eb_store *s = calloc(1, sizeof *s);
  if (!s || !(s->path = strdup(path))) {
    free(s);
    snprintf(err, errlen, "%s: out of memory opening the database", path);
    return EB_NOMEM;
  }
  s->readonly = readonly;
  int flags =
      readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
  if (rc != SQLITE_OK) {
    int ret = db_fail(s, rc, "opening the database", err, errlen);
    eb_store_close(s);
    return ret;
  }
  sqlite3_extended_result_codes(s->db, 0);
  sqlite3_busy_timeout(s->db, EB_BUSY_TIMEOUT_MS);
  int version = 0, ret = EB_OK;
  if ((ret = check_identity(s, &version, err, errlen)) != 0) goto fail;
  ret = EB_INPUT; /* the refusals below are about the file, not a failure */
  if (readonly) {
    if (version == 0) {
      snprintf(err, errlen, "%s: empty database (no effbench schema): run a suite first",
               path);
      goto fail;
    }
    if (version < READ_MIN_VERSION && readonly != 2) {
      snprintf(err, errlen,
               "%s: schema version %d is older than this build reads (%d to %d): open "
               "it once read-write (e.g. effbench run) to migrate it",
               path, version, READ_MIN_VERSION, N_MIGRATIONS);
      goto fail;
    }
    if ((ret = exec_sql(s, "PRAGMA foreign_keys=ON", "configuring the connection", err,
                        errlen)))
      goto fail;
    *out = s;
    return EB_OK;
  }
  /* Only now, with the file known to be ours or empty, change its settings.
   * synchronous=FULL: one fsync per result is cheap next to a training run
   * and keeps committed results across a power loss. */
  /* WAL needs shared memory between the processes that open the file, which
   * a network file system does not give: there, rollback journaling */
  if ((ret = exec_retry(s,
                        eb_store_on_network_fs(path)
                            ? "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL; "
                              "PRAGMA foreign_keys=ON"
                            : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                              "PRAGMA foreign_keys=ON",
                        "configuring the connection", err, errlen)))
    goto fail;
  if ((ret = migrate(s, err, errlen))) goto fail;
  *out = s;
  return EB_OK;
fail:
  eb_store_close(s);
  return ret;
}

int eb_store_open(const char *path, eb_store **out, char *err, size_t errlen) {
  return open_common(path, 0, out, err, errlen);
}

int eb_store_open_readonly(const char *path, eb_store **out, char *err, size_t errlen) {
  return open_common(path, 1, out, err, errlen);
}

int eb_store_open_input(const char *path, eb_store **out, char *err, size_t errlen) {
  return open_common(path, 2, out, err, errlen);
}

void eb_store_close(eb_store *s) {
  if (!s) return;
  if (s->db) {
    rollback_if_open(s);
    sqlite3_close_v2(s->db);
  }
  free(s->path);
  free(s);
}

int eb_store_schema_version(eb_store *s) {
  int rc;
  int64_t v = query_int(s, "PRAGMA user_version", &rc);
  return rc == SQLITE_OK ? (int)v : -1;
}

int eb_store_schema_latest(void) { return N_MIGRATIONS; }

const char *eb_store_path(eb_store *s) { return s->path; }

struct sqlite3 *eb_store_db(eb_store *s) {
  return s->db;
}

/* --------------------------------------------------------------- env -- */

static int env_put(eb_store *s, sqlite3_stmt *st, const char *key, const char *value) {
  sqlite3_reset(st);
  bind_text(st, 1, key);
  bind_text(st, 2, value ? value : "");
  return step_done(st);
}

#define ENV_UPSERT                                                                       \
  "INSERT INTO env(key, value) VALUES(?1, ?2) "                                          \
  "ON CONFLICT(key) DO UPDATE SET value=excluded.value"

int eb_store_env_set(eb_store *s, const char *key, const char *value, char *err,
                     size_t errlen) {
  const char *what = "writing the env table";
  TRY(begin(s, what, err, errlen));
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, ENV_UPSERT, -1, &st, NULL);
  if (rc == SQLITE_OK) rc = env_put(s, st, key, value);
  sqlite3_finalize(st);
  if (rc != SQLITE_OK) return db_fail(s, rc, what, err, errlen);
  return commit(s, what, err, errlen);
}

static void cpu_model(char *buf, size_t len) {
  snprintf(buf, len, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  /* x86: "model name"; some ARM kernels: "Model" or "Hardware" */
  const char *keys[] = {"model name", "Model", "Hardware", "cpu model"};
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      size_t kl = strlen(keys[k]);
      if (strncmp(line, keys[k], kl) != 0) continue;
      char *c = strchr(line, ':');
      if (!c) continue;
      c++;
      while (*c == ' ' || *c == '\t')
        c++;
      c[strcspn(c, "\n")] = 0;
      snprintf(buf, len, "%s", c);
      found = 1;
      break;
    }
  }
  fclose(f);
}

int eb_store_env_record(eb_store *s, const char *version, const char *git_commit,
                        const char *compiler, const char *flags, char *err,
                        size_t errlen) {
  char cpu[256], cores[32], host[256], os[512], sqlite[64];
  cpu_model(cpu, sizeof cpu);
  snprintf(cores, sizeof cores, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
  const char *coretype = getenv("OPENBLAS_CORETYPE");
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
  host[sizeof host - 1] = 0;
  struct utsname u;
  if (uname(&u) == 0)
    snprintf(os, sizeof os, "%s %s %s", u.sysname, u.release, u.machine);
  else
    snprintf(os, sizeof os, "unknown");
  snprintf(sqlite, sizeof sqlite, "%s", sqlite3_libversion());

  const char *kv[][2] = {
      {"effbench_version", version ? version : EFFBENCH_VERSION},
      {"git_commit", git_commit ? git_commit : EFFBENCH_GIT_COMMIT},
      {"compiler", compiler ? compiler : EFFBENCH_COMPILER},
      {"flags", flags ? flags : EFFBENCH_C_FLAGS},
      {"cpu_model", cpu},
      {"cores", cores},
      {"blas_coretype", coretype ? coretype : "(unset: detected at run time)"},
      {"omp_num_threads", getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : ""},
      {"host", host},
      {"os", os},
      {"sqlite_version", sqlite},
  };
  const char *what = "recording the environment";
  TRY(begin(s, what, err, errlen));
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, ENV_UPSERT, -1, &st, NULL);
  for (size_t i = 0; rc == SQLITE_OK && i < sizeof kv / sizeof kv[0]; i++)
    rc = env_put(s, st, kv[i][0], kv[i][1]);
  sqlite3_finalize(st);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(s->db,
                      "INSERT INTO env(key, value) VALUES('recorded_at', " NOW_SQL ") "
                      "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                      NULL, NULL, NULL);
  if (rc != SQLITE_OK) return db_fail(s, rc, what, err, errlen);
  return commit(s, what, err, errlen);
}

/* ------------------------------------------------------------ suites -- */

int eb_store_suite_has_yaml(eb_store *s, const char *name, int *has, char *err,
                            size_t errlen) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(
      s->db, "SELECT 1 FROM suites WHERE name=?1 AND yaml IS NOT NULL", -1, &st, NULL);
  if (rc == SQLITE_OK) {
    bind_text(st, 1, name);
    rc = step(st);
  }
  sqlite3_finalize(st);
  *has = rc == SQLITE_ROW;
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) return EB_OK;
  return db_fail(s, rc, "reading the suites", err, errlen);
}

int eb_store_suite(eb_store *s, const char *name, const char *yaml, int64_t *suite_id,
                   char *err, size_t errlen) {
  char what[160];
  snprintf(what, sizeof what, "writing suite '%s'", name ? name : "(null)");
  if (!name || !*name) {
    snprintf(err, errlen, "%s: a suite needs a name", s->path);
    return EB_INPUT;
  }
  TRY(begin(s, what, err, errlen));
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(
      s->db,
      "INSERT INTO suites(name, yaml, created_at) "
      "VALUES(?1, ?2, " NOW_SQL ") "
      "ON CONFLICT(name) DO UPDATE SET yaml=coalesce(excluded.yaml, yaml)",
      -1, &st, NULL);
  if (rc == SQLITE_OK) {
    bind_text(st, 1, name);
    bind_text(st, 2, yaml);
    rc = step_done(st);
  }
  sqlite3_finalize(st);
  st = NULL;
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(s->db, "SELECT id FROM suites WHERE name=?1", -1, &st, NULL);
  if (rc == SQLITE_OK) {
    bind_text(st, 1, name);
    rc = step(st);
    if (rc == SQLITE_ROW) {
      if (suite_id) *suite_id = sqlite3_column_int64(st, 0);
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_INTERNAL;
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_OK) return db_fail(s, rc, what, err, errlen);
  return commit(s, what, err, errlen);
}

/* -------------------------------------------------------------- runs -- */

int eb_store_run_status(eb_store *s, const char *run_key, char *status, size_t len,
                        char *err, size_t errlen) {
  if (len) status[0] = 0;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, "SELECT status FROM runs WHERE run_key=?1", -1, &st,
                              NULL);
  if (rc == SQLITE_OK) {
    bind_text(st, 1, run_key);
    rc = step(st);
    if (rc == SQLITE_ROW) {
      const unsigned char *v = sqlite3_column_text(st, 0);
      snprintf(status, len, "%s", v ? (const char *)v : "");
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_OK) {
    char what[160];
    snprintf(what, sizeof what, "reading the status of run %s", run_key);
    return db_fail(s, rc, what, err, errlen);
  }
  return 0;
}

static void column_copy(sqlite3_stmt *st, int i, char *out, size_t len) {
  const unsigned char *v = sqlite3_column_text(st, i);
  snprintf(out, len, "%s", v ? (const char *)v : "");
}

int eb_store_run_code(eb_store *s, const char *run_key, eb_run_code *out, char *err,
                      size_t errlen) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db,
                              "SELECT status, arch_sha256, exe_sha256, git_commit, "
                              "finished_at FROM runs WHERE run_key=?1",
                              -1, &st, NULL);
  if (rc == SQLITE_OK) {
    bind_text(st, 1, run_key);
    rc = step(st);
    if (rc == SQLITE_ROW) {
      column_copy(st, 0, out->status, sizeof out->status);
      column_copy(st, 1, out->arch_sha256, sizeof out->arch_sha256);
      column_copy(st, 2, out->exe_sha256, sizeof out->exe_sha256);
      column_copy(st, 3, out->git_commit, sizeof out->git_commit);
      column_copy(st, 4, out->finished_at, sizeof out->finished_at);
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_OK) {
    char what[160];
    snprintf(what, sizeof what, "reading the code identity of run %s", run_key);
    return db_fail(s, rc, what, err, errlen);
  }
  return 0;
}

static int run_step(eb_store *s, const char *sql, int64_t id) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, id);
    rc = step_done(st);
  }
  sqlite3_finalize(st);
  return rc;
}

/* Resets row id (0: inserts one) to `running` under owner, its old evals and
 * stats deleted: a re-run keeps the row id (and its place in report order)
 * but none of the old results. Inside the caller's transaction; sqlite rc. */
/* Column names of table (PRAGMA table_info) into names[0..n); sqlite rc. */
static int table_columns(eb_store *s, const char *table, char (*names)[64], int max,
                         int *n) {
  char sql[96];
  snprintf(sql, sizeof sql, "PRAGMA main.table_info(%s)", table);
  sqlite3_stmt *st = NULL;
  *n = 0;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK) return rc;
  while ((rc = step(st)) == SQLITE_ROW && *n < max)
    snprintf(names[(*n)++], 64, "%s", (const char *)sqlite3_column_text(st, 1));
  sqlite3_finalize(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Copies run id, if it had ended (any status but pending or running), with
 * its evals and stats to run_attempts, eval_attempts and run_stat_attempts:
 * the attempt a re-run replaces stays readable (`report --attempt all`). A
 * run left `running` by a killed process ended nothing and is not kept.
 * *archived = 1 when a copy was made. Inside the caller's transaction;
 * sqlite rc. */
static int archive_attempt(eb_store *s, int64_t id, int *archived) {
  enum { MAXC = 96 };
  char rcols[MAXC][64], acols[MAXC][64];
  int nr = 0, na = 0;
  *archived = 0;
  int rc = table_columns(s, "runs", rcols, MAXC, &nr);
  if (rc == SQLITE_OK) rc = table_columns(s, "run_attempts", acols, MAXC, &na);
  if (rc != SQLITE_OK) return rc;
  if (na == 0) return SQLITE_OK; /* a schema before attempts */
  char sql[4096];
  size_t len =
      (size_t)snprintf(sql, sizeof sql, "INSERT INTO run_attempts(run_id, archived_at");
  char sel[2048];
  size_t sl = (size_t)snprintf(sel, sizeof sel, "%s", ") SELECT id, " NOW_SQL);
  for (int i = 0; i < nr; i++) {
    if (!strcmp(rcols[i], "id")) continue;
    int both = 0;
    for (int j = 0; j < na && !both; j++)
      both = !strcmp(rcols[i], acols[j]);
    if (!both) continue;
    len += (size_t)snprintf(sql + len, len < sizeof sql ? sizeof sql - len : 0,
                            ", \"%s\"", rcols[i]);
    sl += (size_t)snprintf(sel + sl, sl < sizeof sel ? sizeof sel - sl : 0, ", \"%s\"",
                           rcols[i]);
  }
  if (len + sl + 96 >= sizeof sql || sl >= sizeof sel) return SQLITE_TOOBIG;
  snprintf(sql + len, sizeof sql - len,
           "%s FROM runs WHERE id=?1 AND status NOT IN ('pending','running')", sel);
  sqlite3_stmt *st = NULL;
  rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, id);
    rc = step_done(st);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_OK || sqlite3_changes(s->db) == 0) return rc;
  *archived = 1;
  int64_t aid = sqlite3_last_insert_rowid(s->db);
  static const char *const copies[] = {
      "INSERT INTO eval_attempts(attempt_id, step, split, loss, accuracy, elapsed_s) "
      "SELECT ?2, step, split, loss, accuracy, elapsed_s FROM evals WHERE run_id=?1 "
      "ORDER BY rowid",
      "INSERT INTO run_stat_attempts(attempt_id, step, name, value) "
      "SELECT ?2, step, name, value FROM run_stats WHERE run_id=?1 ORDER BY rowid"};
  for (int k = 0; k < 2 && rc == SQLITE_OK; k++) {
    rc = sqlite3_prepare_v2(s->db, copies[k], -1, &st, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_bind_int64(st, 1, id);
      sqlite3_bind_int64(st, 2, aid);
      rc = step_done(st);
    }
    sqlite3_finalize(st);
  }
  return rc;
}

static int write_running(eb_store *s, int64_t id, const eb_run_claim *c,
                         int64_t *run_id) {
  int rc = SQLITE_OK, archived = 0;
  if (id) rc = archive_attempt(s, id, &archived);
  if (rc == SQLITE_OK && id) rc = run_step(s, "DELETE FROM evals WHERE run_id=?1", id);
  if (rc == SQLITE_OK && id)
    rc = run_step(s, "DELETE FROM run_stats WHERE run_id=?1", id);
  if (rc != SQLITE_OK) return rc;
  const char *sql =
      id ? "UPDATE runs SET suite_id=?1, arch=?2, task=?3, seed=?4, config_json=?5, "
           "host=?6, build=?7, status='running', error=NULL, params_total=NULL, "
           "params_active=NULL, flops_train_step=NULL, model_flops_train_step=NULL, "
           "flops_infer_seq=NULL, flops_train_token=NULL, "
           "val_accuracy=NULL, test_accuracy=NULL, test_majority=NULL, test_count=NULL, "
           "best_step=NULL, steps_done=NULL, "
           "train_seconds=NULL, tokens_per_s=NULL, padded_tokens_per_s=NULL, "
           "train_ms_per_step=NULL, infer_ms_per_batch=NULL, peak_mem_bytes=NULL, "
           "data_kind=NULL, data_label=NULL, data_source=NULL, owner=?10, "
           "arch_sha256=?11, exe_sha256=?12, attempt=attempt+?13, "
           "heartbeat_at=" NOW_SQL ", started_at=" NOW_SQL
           ", finished_at=NULL WHERE id=?9"
         : "INSERT INTO runs(suite_id, arch, task, seed, config_json, host, build, "
           "run_key, status, owner, arch_sha256, exe_sha256, heartbeat_at, started_at) "
           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running', ?10, ?11, ?12, " NOW_SQL
           ", " NOW_SQL ")";
  sqlite3_stmt *st = NULL;
  rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) {
    if (c->suite_id > 0)
      sqlite3_bind_int64(st, 1, c->suite_id);
    else
      sqlite3_bind_null(st, 1);
    bind_text(st, 2, c->arch);
    bind_text(st, 3, c->task);
    sqlite3_bind_int64(st, 4, c->seed);
    bind_text(st, 5, c->config_json);
    bind_text(st, 6, c->host);
    bind_text(st, 7, c->build);
    if (id)
      sqlite3_bind_int64(st, 9, id);
    else
      bind_text(st, 8, c->run_key);
    bind_text(st, 10, c->owner);
    bind_text(st, 11, c->arch_sha256);
    bind_text(st, 12, c->exe_sha256);
    if (id) sqlite3_bind_int(st, 13, archived);
    rc = step_done(st);
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_OK) *run_id = id ? id : sqlite3_last_insert_rowid(s->db);
  return rc;
}

/* Start time of process pid in clock ticks since boot (field 22 of
 * /proc/PID/stat), 0 when unknown: with the pid it names one process even
 * after the pid is reused. */
static unsigned long long proc_start(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  unsigned long long start = 0;
  if (p && sscanf(p + 1,
                  " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
                  "%*d %*d %*d %*d %llu",
                  &start) != 1)
    start = 0;
  return start;
}

static void host_name(char *buf, size_t len) {
  if (gethostname(buf, len) != 0) snprintf(buf, len, "unknown");
  buf[len - 1] = 0;
}

void eb_store_owner_self(char *buf, size_t len) {
  char host[256];
  host_name(host, sizeof host);
  long pid = (long)getpid();
  snprintf(buf, len, "%s:%ld:%llu", host, pid, proc_start(pid));
}

/* Whether the process named by owner ("host:pid:start") is gone. On this
 * host: no such pid (kill(pid, 0) fails with ESRCH), or the pid now belongs to
 * a process started at another time. On another host, which cannot be
 * asked: its heartbeat is older than stale_s. A running row without an owner
 * (written before claims existed, or by hand) is taken over. */
static int owner_gone(const char *owner, int64_t heartbeat_age, int stale_s) {
  if (!owner || !*owner) return 1;
  char host[256], me[256];
  const char *c2 = strrchr(owner, ':'), *c1 = NULL;
  for (const char *p = owner; c2 && p < c2; p++)
    if (*p == ':') c1 = p;
  if (!c1 || (size_t)(c1 - owner) >= sizeof host) return heartbeat_age > stale_s;
  memcpy(host, owner, (size_t)(c1 - owner));
  host[c1 - owner] = 0;
  host_name(me, sizeof me);
  if (strcmp(host, me) != 0) return heartbeat_age > stale_s;
  char *end;
  long pid = strtol(c1 + 1, &end, 10);
  unsigned long long start = strtoull(c2 + 1, NULL, 10);
  if (end != c2 || pid <= 0) return heartbeat_age > stale_s;
  if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return 1;
  unsigned long long now = proc_start(pid);
  return start && now && now != start; /* the pid was reused */
}

int eb_store_run_claim(eb_store *s, const eb_run_claim *c, int *outcome, int64_t *run_id,
                       char *holder, size_t holderlen, char *err, size_t errlen) {
  char what[200];
  snprintf(what, sizeof what, "claiming run %s (%s on %s, seed %lld)",
           c->run_key ? c->run_key : "(null)", c->arch ? c->arch : "?",
           c->task ? c->task : "?", (long long)c->seed);
  *outcome = EB_CLAIM_TAKEN;
  if (holderlen) holder[0] = 0;
  if (!c->run_key || !*c->run_key || !c->arch || !c->task) {
    snprintf(err, errlen, "%s: %s: run key, arch and task are required", s->path, what);
    return EB_INTERNAL;
  }
  TRY(begin(s, what, err, errlen));
  sqlite3_stmt *st = NULL;
  int64_t id = 0;
  int rc = sqlite3_prepare_v2(
      s->db,
      "SELECT id, status, owner, "
      "CAST((julianday('now') - julianday(coalesce(heartbeat_at, started_at))) * 86400 "
      "AS INTEGER), ?2 IS NOT NULL AND finished_at > ?2 FROM runs WHERE run_key=?1",
      -1, &st, NULL);
  if (rc == SQLITE_OK) {
    bind_text(st, 1, c->run_key);
    bind_text(st, 2, c->since);
    rc = step(st);
    if (rc == SQLITE_ROW) {
      id = sqlite3_column_int64(st, 0);
      const char *status = (const char *)sqlite3_column_text(st, 1);
      const char *owner = (const char *)sqlite3_column_text(st, 2);
      int64_t age = sqlite3_column_type(st, 3) == SQLITE_NULL
                        ? INT64_MAX
                        : sqlite3_column_int64(st, 3);
      int ended_since = sqlite3_column_int(st, 4);
      int stale = c->stale_s > 0 ? c->stale_s : EB_CLAIM_STALE_S;
      if (status && !strcmp(status, "running")) {
        if (!owner_gone(owner, age, stale)) *outcome = EB_CLAIM_BUSY;
        if (owner && holderlen) snprintf(holder, holderlen, "%s", owner);
      } else if (ended_since) {
        *outcome = EB_CLAIM_ENDED;
      } else if (status && !strcmp(status, "done") && !c->fresh) {
        *outcome = EB_CLAIM_DONE;
      }
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_OK && *outcome == EB_CLAIM_TAKEN) rc = write_running(s, id, c, run_id);
  if (rc != SQLITE_OK) return db_fail(s, rc, what, err, errlen);
  return commit(s, what, err, errlen);
}

int eb_store_run_begin(eb_store *s, int64_t suite_id, const char *run_key,
                       const char *arch, const char *task, int64_t seed,
                       const char *config_json, const char *host, const char *build,
                       int64_t *run_id, char *err, size_t errlen) {
  char what[200];
  snprintf(what, sizeof what, "starting run %s (%s on %s, seed %lld)",
           run_key ? run_key : "(null)", arch ? arch : "?", task ? task : "?",
           (long long)seed);
  if (!run_key || !*run_key || !arch || !task) {
    snprintf(err, errlen, "%s: %s: run key, arch and task are required", s->path, what);
    return EB_INTERNAL;
  }
  eb_run_claim c = {.suite_id = suite_id,
                    .run_key = run_key,
                    .arch = arch,
                    .task = task,
                    .seed = seed,
                    .config_json = config_json,
                    .host = host,
                    .build = build};
  TRY(begin(s, what, err, errlen));
  sqlite3_stmt *st = NULL;
  int64_t id = 0, rid = 0;
  int rc =
      sqlite3_prepare_v2(s->db, "SELECT id FROM runs WHERE run_key=?1", -1, &st, NULL);
  if (rc == SQLITE_OK) {
    bind_text(st, 1, run_key);
    rc = step(st);
    if (rc == SQLITE_ROW) {
      id = sqlite3_column_int64(st, 0);
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_OK) rc = write_running(s, id, &c, &rid);
  if (rc != SQLITE_OK) return db_fail(s, rc, what, err, errlen);
  TRY(commit(s, what, err, errlen));
  if (run_id) *run_id = rid;
  return 0;
}

int eb_store_run_machine(eb_store *s, int64_t run_id, const char *isa, int threads,
                         char *err, size_t errlen) {
  char what[96], cpu[256];
  snprintf(what, sizeof what, "recording the machine of run id %lld", (long long)run_id);
  cpu_model(cpu, sizeof cpu);
  TRY(begin(s, what, err, errlen));
  sqlite3_stmt *st = NULL;
  int rc =
      sqlite3_prepare_v2(s->db,
                         "UPDATE runs SET cpu_model=?1, isa=?2, cores=?3, threads=?4, "
                         "git_commit=?5, compiler=?6, c_flags=?7 WHERE id=?8",
                         -1, &st, NULL);
  if (rc == SQLITE_OK) {
    bind_text(st, 1, cpu);
    bind_text(st, 2, isa);
    bind_count(st, 3, sysconf(_SC_NPROCESSORS_ONLN));
    bind_count(st, 4, threads);
    bind_text(st, 5, EFFBENCH_GIT_COMMIT);
    bind_text(st, 6, EFFBENCH_COMPILER);
    bind_text(st, 7, EFFBENCH_C_FLAGS);
    sqlite3_bind_int64(st, 8, run_id);
    rc = step_done(st);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_OK) return db_fail(s, rc, what, err, errlen);
  return commit(s, what, err, errlen);
}

int eb_store_run_heartbeat(eb_store *s, int64_t run_id, const char *owner, char *err,
                           size_t errlen) {
  char what[96];
  snprintf(what, sizeof what, "updating the heartbeat of run id %lld", (long long)run_id);
  TRY(begin(s, what, err, errlen));
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db,
                              "UPDATE runs SET heartbeat_at=" NOW_SQL
                              " WHERE id=?1 AND owner IS ?2 AND status='running'",
                              -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, owner);
    rc = step_done(st);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_OK) return db_fail(s, rc, what, err, errlen);
  int held = sqlite3_changes(s->db) == 1;
  TRY(commit(s, what, err, errlen));
  if (!held)
    snprintf(err, errlen, "%s: run id %lld was taken over by another process", s->path,
             (long long)run_id);
  return held ? EB_OK : EB_BUSY;
}

static int valid_final_status(const char *st) {
  static const char *ok[] = {"done", "failed", "oom", "timeout", "diverged"};
  for (size_t i = 0; st && i < sizeof ok / sizeof ok[0]; i++)
    if (strcmp(st, ok[i]) == 0) return 1;
  return 0;
}

int eb_store_run_finish(eb_store *s, int64_t run_id, const eb_run_result_row *r,
                        char *err, size_t errlen) {
  char what[96];
  snprintf(what, sizeof what, "writing the results of run id %lld", (long long)run_id);
  if (!valid_final_status(r->status)) {
    snprintf(err, errlen,
             "%s: %s: status '%s' is not one of done, failed, oom, timeout, diverged",
             s->path, what, r->status ? r->status : "(null)");
    return EB_INTERNAL;
  }
  TRY(begin(s, what, err, errlen));
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(
      s->db,
      "UPDATE runs SET status=?1, error=?2, params_total=?3, params_active=?4, "
      "flops_train_step=?5, flops_infer_seq=?6, val_accuracy=?7, test_accuracy=?8, "
      "best_step=?9, steps_done=?10, train_seconds=?11, tokens_per_s=?12, "
      "padded_tokens_per_s=?13, infer_ms_per_batch=?14, train_ms_per_step=?15, "
      "peak_mem_bytes=?16, data_kind=?18, data_label=?19, data_source=?20, "
      "flops_train_token=?21, model_flops_train_step=?22, test_majority=?24, "
      "test_count=?25, finished_at=" NOW_SQL
      " WHERE id=?17 AND (?23 IS NULL OR (owner=?23 AND status='running'))",
      -1, &st, NULL);
  if (rc == SQLITE_OK) {
    bind_text(st, 1, r->status);
    bind_text(st, 2, r->error);
    bind_count(st, 3, r->params_total);
    bind_count(st, 4, r->params_active);
    bind_real(st, 5, r->flops_train_step);
    bind_real(st, 6, r->flops_infer_seq);
    bind_real(st, 7, r->val_accuracy);
    bind_real(st, 8, r->test_accuracy);
    bind_count(st, 9, r->best_step);
    bind_count(st, 10, r->steps_done);
    bind_real(st, 11, r->train_seconds);
    bind_real(st, 12, r->tokens_per_s);
    bind_real(st, 13, r->padded_tokens_per_s);
    bind_real(st, 14, r->infer_ms_per_batch);
    bind_real(st, 15, r->train_ms_per_step);
    bind_count(st, 16, r->peak_mem_bytes);
    sqlite3_bind_int64(st, 17, run_id);
    bind_text(st, 18, r->data_kind);
    bind_text(st, 19, r->data_label);
    bind_text(st, 20, r->data_source);
    bind_real(st, 21, r->flops_train_token);
    bind_real(st, 22, r->model_flops_train_step);
    bind_text(st, 23, r->owner);
    /* a row without a test split size (0) has no baseline either */
    bind_real(st, 24, r->test_count > 0 ? r->test_majority : NAN);
    bind_count(st, 25, r->test_count > 0 ? r->test_count : -1);
    rc = step_done(st);
  }
  sqlite3_finalize(st);
  st = NULL;
  if (rc == SQLITE_OK && sqlite3_changes(s->db) != 1) {
    rollback_if_open(s);
    s->writing = 0;
    if (r->owner) {
      snprintf(err, errlen,
               "%s: %s: the run was taken over by another process (this one was "
               "thought dead); its result was not written",
               s->path, what);
      return EB_BUSY;
    }
    snprintf(err, errlen, "%s: %s: no such run (run_begin it first); nothing was written",
             s->path, what);
    return EB_INTERNAL;
  }
  if (rc == SQLITE_OK && r->n_evals > 0) {
    rc = sqlite3_prepare_v2(s->db,
                            "INSERT INTO evals(run_id, step, split, loss, accuracy, "
                            "elapsed_s) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                            -1, &st, NULL);
    for (int i = 0; rc == SQLITE_OK && i < r->n_evals; i++) {
      const eb_eval_row *e = &r->evals[i];
      sqlite3_reset(st);
      sqlite3_bind_int64(st, 1, run_id);
      sqlite3_bind_int(st, 2, e->step);
      bind_text(st, 3, e->split);
      bind_real(st, 4, e->loss);
      bind_real(st, 5, e->accuracy);
      bind_real(st, 6, e->elapsed_s);
      rc = step_done(st);
    }
    sqlite3_finalize(st);
    st = NULL;
  }
  if (rc == SQLITE_OK && r->n_stats > 0) {
    rc = sqlite3_prepare_v2(
        s->db, "INSERT INTO run_stats(run_id, step, name, value) VALUES(?1, ?2, ?3, ?4)",
        -1, &st, NULL);
    for (int i = 0; rc == SQLITE_OK && i < r->n_stats; i++) {
      const eb_stat_row *x = &r->stats[i];
      sqlite3_reset(st);
      sqlite3_bind_int64(st, 1, run_id);
      sqlite3_bind_int(st, 2, x->step);
      bind_text(st, 3, x->name);
      bind_real(st, 4, x->value);
      rc = step_done(st);
    }
    sqlite3_finalize(st);
  }
  if (rc != SQLITE_OK) return db_fail(s, rc, what, err, errlen);
  return commit(s, what, err, errlen);
}

/* ------------------------------------------------------------- speed -- */

/* The speed rows of one point (parameters ?1 to ?7, bind_speed_point):
 * suite, arch, length, batch, mode, threads and, unless 0, the width */
#define SPEED_POINT_SQL                                                                  \
  "suite_id=?1 AND arch=?2 AND seq_len=?3 AND batch=?4 AND mode=?5 AND threads=?6 "      \
  "AND (?7 = 0 OR json_extract(config_json, '$.dim') = ?7)"

static void bind_speed_point(sqlite3_stmt *st, const eb_speed_claim *c) {
  sqlite3_bind_int64(st, 1, c->suite_id);
  bind_text(st, 2, c->arch);
  sqlite3_bind_int(st, 3, c->seq_len);
  sqlite3_bind_int(st, 4, c->batch);
  bind_text(st, 5, c->mode);
  sqlite3_bind_int(st, 6, c->threads);
  sqlite3_bind_int(st, 7, c->dim);
}

/* The key of a speed point in speed_claims: the fields SPEED_POINT_SQL matches */
static void speed_point(const eb_speed_claim *c, char *buf, size_t len) {
  snprintf(buf, len, "%s|%s|len %d|batch %d|threads %d|dim %d", c->arch, c->mode,
           c->seq_len, c->batch, c->threads, c->dim);
}

/* Runs sql, with ?1 = c's suite, ?2 = its point and ?3 = c->owner, to its
 * end; the sqlite rc. */
static int speed_claim_exec(eb_store *s, const char *sql, const eb_speed_claim *c) {
  char point[512];
  speed_point(c, point, sizeof point);
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, c->suite_id);
    bind_text(st, 2, point);
    bind_text(st, 3, c->owner);
    rc = step_done(st);
  }
  sqlite3_finalize(st);
  return rc;
}

/* Deletes c's claim row if c->owner holds it; the sqlite rc. */
static int speed_claim_release(eb_store *s, const eb_speed_claim *c) {
  return speed_claim_exec(
      s, "DELETE FROM speed_claims WHERE suite_id=?1 AND point=?2 AND owner=?3", c);
}

/* *outcome for claim c, read inside the claim's transaction (see
 * eb_store_speed_claim); the sqlite rc. */
static int speed_claim_read(eb_store *s, const eb_speed_claim *c, const char *point,
                            int *outcome, char *holder, size_t holderlen) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(
      s->db,
      "SELECT owner, CAST((julianday('now') - julianday(claimed_at)) * 86400 AS "
      "INTEGER) FROM speed_claims WHERE suite_id=?1 AND point=?2",
      -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, c->suite_id);
    bind_text(st, 2, point);
    rc = step(st);
    if (rc == SQLITE_ROW) {
      const char *owner = (const char *)sqlite3_column_text(st, 0);
      int64_t age = sqlite3_column_type(st, 1) == SQLITE_NULL
                        ? INT64_MAX
                        : sqlite3_column_int64(st, 1);
      const int stale = c->stale_s > 0 ? c->stale_s : EB_CLAIM_STALE_S;
      if (owner && strcmp(owner, c->owner) && !owner_gone(owner, age, stale)) {
        *outcome = EB_CLAIM_BUSY;
        if (holderlen) snprintf(holder, holderlen, "%s", owner);
      }
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_OK || *outcome != EB_CLAIM_TAKEN) return rc;
  /* rows of this point: one measured since c->since (ended elsewhere), or a
   * done one */
  rc = sqlite3_prepare_v2(
      s->db,
      "SELECT coalesce(max(?8 IS NOT NULL AND measured_at > ?8), 0), "
      "coalesce(max(status='done'), 0) FROM speed WHERE " SPEED_POINT_SQL,
      -1, &st, NULL);
  if (rc == SQLITE_OK) {
    bind_speed_point(st, c);
    bind_text(st, 8, c->since);
    rc = step(st);
    if (rc == SQLITE_ROW) {
      if (sqlite3_column_int(st, 0))
        *outcome = EB_CLAIM_ENDED;
      else if (sqlite3_column_int(st, 1) && !c->fresh)
        *outcome = EB_CLAIM_DONE;
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(st);
  return rc;
}

int eb_store_speed_claim(eb_store *s, const eb_speed_claim *c, int *outcome, char *holder,
                         size_t holderlen, char *err, size_t errlen) {
  *outcome = EB_CLAIM_TAKEN;
  if (holderlen) holder[0] = 0;
  char what[200];
  snprintf(what, sizeof what, "claiming speed point %s, %s, length %d",
           c->arch ? c->arch : "?", c->mode ? c->mode : "?", c->seq_len);
  if (c->suite_id <= 0 || !c->arch || !c->mode || !c->owner || !*c->owner) {
    snprintf(err, errlen, "%s: %s: suite, arch, mode and owner are required", s->path,
             what);
    return EB_INTERNAL;
  }
  char point[512];
  speed_point(c, point, sizeof point);
  TRY(begin(s, what, err, errlen));
  int rc = speed_claim_read(s, c, point, outcome, holder, holderlen);
  if (rc == SQLITE_OK && *outcome == EB_CLAIM_TAKEN)
    rc = speed_claim_exec(s,
                          "INSERT OR REPLACE INTO speed_claims(suite_id, point, owner, "
                          "claimed_at) VALUES(?1, ?2, ?3, " NOW_SQL ")",
                          c);
  if (rc != SQLITE_OK) return db_fail(s, rc, what, err, errlen);
  return commit(s, what, err, errlen);
}

int eb_store_speed(eb_store *s, const eb_speed_row *r, char *err, size_t errlen) {
  char what[160];
  snprintf(what, sizeof what, "writing a speed row (%s, %s, length %d)",
           r->arch ? r->arch : "?", r->mode ? r->mode : "?", r->seq_len);
  if (!r->arch || !r->mode || !r->status) {
    snprintf(err, errlen, "%s: %s: arch, mode and status are required", s->path, what);
    return EB_INTERNAL;
  }
  TRY(begin(s, what, err, errlen));
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(
      s->db,
      "INSERT INTO speed(suite_id, arch, task, seq_len, batch, mode, threads, "
      "step_ms_median, step_ms_min, tokens_per_s, gflops_per_s, peak_mem_bytes, status, "
      "config_json, model_flops_step, executed_flops_step, step_ms_n, step_ms_mean, "
      "step_ms_std, gemm_backend, host, cpu_model, cores, git_commit, compiler, c_flags, "
      "measured_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
      "?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, " NOW_SQL ")",
      -1, &st, NULL);
  if (rc == SQLITE_OK) {
    if (r->suite_id > 0)
      sqlite3_bind_int64(st, 1, r->suite_id);
    else
      sqlite3_bind_null(st, 1);
    bind_text(st, 2, r->arch);
    bind_text(st, 3, r->task);
    sqlite3_bind_int(st, 4, r->seq_len);
    sqlite3_bind_int(st, 5, r->batch);
    bind_text(st, 6, r->mode);
    bind_count(st, 7, r->threads);
    bind_real(st, 8, r->step_ms_median);
    bind_real(st, 9, r->step_ms_min);
    bind_real(st, 10, r->tokens_per_s);
    bind_real(st, 11, r->gflops_per_s);
    bind_count(st, 12, r->peak_mem_bytes);
    bind_text(st, 13, r->status);
    bind_text(st, 14, r->config_json);
    bind_real(st, 15, r->model_flops_step > 0 ? r->model_flops_step : NAN);
    bind_real(st, 16, r->executed_flops_step > 0 ? r->executed_flops_step : NAN);
    if (r->step_ms_n > 0)
      sqlite3_bind_int(st, 17, r->step_ms_n);
    else
      sqlite3_bind_null(st, 17);
    bind_real(st, 18, r->step_ms_n > 0 ? r->step_ms_mean : NAN);
    bind_real(st, 19, r->step_ms_n > 1 ? r->step_ms_std : NAN);
    bind_text(st, 20, r->gemm_backend && *r->gemm_backend ? r->gemm_backend : NULL);
    /* the process writing a speed row is the one that measured it */
    char host[256], cpu[256];
    host_name(host, sizeof host);
    cpu_model(cpu, sizeof cpu);
    bind_text(st, 21, host);
    bind_text(st, 22, cpu);
    bind_count(st, 23, sysconf(_SC_NPROCESSORS_ONLN));
    bind_text(st, 24, EFFBENCH_GIT_COMMIT);
    bind_text(st, 25, EFFBENCH_COMPILER);
    bind_text(st, 26, EFFBENCH_C_FLAGS);
    rc = step_done(st);
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_OK && r->claim) rc = speed_claim_release(s, r->claim);
  if (rc != SQLITE_OK) return db_fail(s, rc, what, err, errlen);
  return commit(s, what, err, errlen);
}
