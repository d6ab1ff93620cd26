/* The results database: schema and pragmas, run round trips, resume
 * semantics, refusal of foreign and newer files, and writes that fail
 * midway (constraint, full disk) leaving the previous state intact. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "store_internal.h"
#include "check.h"

static char dir[256];

static const char *tmp_path(const char *name) {
  static char p[8][512];
  static int k;
  k = (k + 1) % 8;
  snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
  return p[k];
}

/* One integer from a query on the store's connection, -999 on error. */
static long long q_int(eb_store *s, const char *sql) {
  sqlite3_stmt *st;
  long long v = -999;
  if (sqlite3_prepare_v2(eb_store_db(s), sql, -1, &st, NULL) != SQLITE_OK) return v;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static void q_text(eb_store *s, const char *sql, char *out, size_t len) {
  sqlite3_stmt *st;
  out[0] = 0;
  if (sqlite3_prepare_v2(eb_store_db(s), sql, -1, &st, NULL) != SQLITE_OK) return;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
}

/* EB_TEST_VERBOSE=1 shows the messages a user would see */
static void show(const char *err) {
  if (getenv("EB_TEST_VERBOSE")) fprintf(stderr, "  message: %s\n", err);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static long file_size(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return n;
}

static eb_run_result_row result(const char *status, double test_acc) {
  eb_run_result_row r = {0};
  r.status = status;
  r.params_total = 1000;
  r.params_active = 500;
  r.flops_train_step = 1e9;
  r.model_flops_train_step = 8e8;
  r.flops_infer_seq = 2e8;
  r.val_accuracy = test_acc + 0.01;
  r.test_accuracy = test_acc;
  r.best_step = 40;
  r.steps_done = 50;
  r.train_seconds = 12.5;
  r.tokens_per_s = 1234.5;
  r.padded_tokens_per_s = 2000;
  r.infer_ms_per_batch = 3.5;
  r.train_ms_per_step = 9.25;
  r.peak_mem_bytes = 1 << 20;
  return r;
}

static void test_schema(void) {
  char err[512];
  eb_store *s;
  const char *path = tmp_path("schema.db");
  CHECK(eb_store_open(path, &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  CHECK(eb_store_schema_version(s) == eb_store_schema_latest() &&
            eb_store_schema_latest() >= 2,
        "user_version %d", eb_store_schema_version(s));
  CHECK(q_int(s, "SELECT count(*) FROM pragma_table_info('runs') WHERE "
                 "name='flops_train_token'") == 1,
        "runs has no flops_train_token (the migration adding it did not run)");
  CHECK(eb_store_schema_latest() == eb_store_schema_version(s), "latest");
  char mode[32];
  q_text(s, "PRAGMA journal_mode", mode, sizeof mode);
  CHECK(strcmp(mode, "wal") == 0, "journal_mode %s", mode);
  CHECK(q_int(s, "PRAGMA foreign_keys") == 1, "foreign keys off");
  const char *tables[] = {"suites", "runs", "evals", "speed", "run_stats", "env"};
  for (int i = 0; i < 6; i++) {
    char sql[128];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'",
             tables[i]);
    CHECK(q_int(s, sql) == 1, "table %s missing", tables[i]);
  }
  /* every DESIGN §7 column plus the extras */
  const char *runs_cols[] = {"id",
                             "suite_id",
                             "run_key",
                             "arch",
                             "task",
                             "seed",
                             "config_json",
                             "status",
                             "error",
                             "params_total",
                             "params_active",
                             "flops_train_step",
                             "flops_infer_seq",
                             "val_accuracy",
                             "test_accuracy",
                             "best_step",
                             "steps_done",
                             "train_seconds",
                             "tokens_per_s",
                             "peak_mem_bytes",
                             "started_at",
                             "finished_at",
                             "host",
                             "build",
                             "padded_tokens_per_s",
                             "train_ms_per_step",
                             "infer_ms_per_batch",
                             "data_kind",
                             "data_label",
                             "data_source",
                             "model_flops_train_step"};
  for (size_t i = 0; i < sizeof runs_cols / sizeof runs_cols[0]; i++) {
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pragma_table_info('runs') WHERE name='%s'",
             runs_cols[i]);
    CHECK(q_int(s, sql) == 1, "runs.%s missing", runs_cols[i]);
  }
  const char *idx[] = {"runs", "evals", "run_stats"};
  for (int i = 0; i < 3; i++) {
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM sqlite_master WHERE type='index' AND tbl_name='%s' "
             "AND sql IS NOT NULL",
             idx[i]);
    CHECK(q_int(s, sql) >= 1, "no index on %s", idx[i]);
  }
  eb_store_close(s);
  /* reopening keeps the version and data; read-only open works */
  CHECK(eb_store_open(path, &s, err, sizeof err) == 0, "%s", err);
  if (s) CHECK(eb_store_schema_version(s) == eb_store_schema_latest(), "reopen version");
  eb_store_close(s);
  CHECK(eb_store_open_readonly(path, &s, err, sizeof err) == 0, "%s", err);
  if (s) {
    int64_t id;
    CHECK(eb_store_suite(s, "x", NULL, &id, err, sizeof err) != 0, "wrote read-only");
    CHECK(strstr(err, "read-only") != NULL, "%s", err);
    show(err);
  }
  eb_store_close(s);
}

static void test_round_trip(void) {
  char err[512];
  eb_store *s;
  CHECK(eb_store_open(tmp_path("rt.db"), &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  int64_t sid = 0, sid2 = 0, rid = 0;
  CHECK(eb_store_suite(s, "quick", "suite: quick\n", &sid, err, sizeof err) == 0, "%s",
        err);
  CHECK(eb_store_suite(s, "quick", "suite: quick # v2\n", &sid2, err, sizeof err) == 0,
        "%s", err);
  CHECK(sid > 0 && sid == sid2, "suite ids %lld %lld", (long long)sid, (long long)sid2);
  char y[160];
  q_text(s, "SELECT yaml FROM suites", y, sizeof y);
  CHECK(strcmp(y, "suite: quick # v2\n") == 0, "yaml %s", y);
  char created[64];
  q_text(s, "SELECT created_at FROM suites", created, sizeof created);
  CHECK(strlen(created) == 20 && created[10] == 'T' && created[19] == 'Z',
        "created_at '%s' not ISO-8601 UTC", created);

  CHECK(eb_store_run_begin(s, sid, "k1", "vanilla", "listops", 0, "{\"seed\":0}", "host1",
                           "0.1.0", &rid, err, sizeof err) == 0,
        "%s", err);
  char status[32];
  CHECK(eb_store_run_status(s, "k1", status, sizeof status, err, sizeof err) == 0, "%s",
        err);
  CHECK(strcmp(status, "running") == 0, "status %s", status);
  CHECK(eb_store_run_status(s, "nope", status, sizeof status, err, sizeof err) == 0, "%s",
        err);
  CHECK(status[0] == 0, "unknown key status '%s'", status);

  eb_eval_row ev[3] = {{10, "val", 1.5, 0.3, 1.0},
                       {20, "val", 1.2, 0.4, 2.0},
                       {20, "test", 1.25, 0.38, 2.1}};
  eb_stat_row stv[2] = {{10, "aux_loss", 0.01}, {20, "aux_loss", 0.02}};
  eb_run_result_row r = result("done", 0.38);
  r.val_accuracy = NAN; /* NaN is stored as NULL */
  r.evals = ev;
  r.n_evals = 3;
  r.stats = stv;
  r.n_stats = 2;
  r.data_kind = "official";
  r.data_label = "official ListOps TSV, sha256 0123abcd";
  r.data_source = "{\"root\":\"/d\",\"count\":3}";
  CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) == 0, "%s", err);
  q_text(s, "SELECT data_kind || '|' || data_label || '|' || data_source FROM runs", y,
         sizeof y);
  CHECK(!strcmp(y, "official|official ListOps TSV, sha256 0123abcd|{\"root\":\"/d\","
                   "\"count\":3}"),
        "data source %s", y);
  CHECK(eb_store_run_status(s, "k1", status, sizeof status, err, sizeof err) == 0, "%s",
        err);
  CHECK(strcmp(status, "done") == 0, "status %s", status);
  CHECK(q_int(s, "SELECT count(*) FROM evals WHERE run_id=1") == 3, "evals");
  CHECK(q_int(s, "SELECT count(*) FROM run_stats WHERE run_id=1") == 2, "stats");
  CHECK(q_int(s, "SELECT val_accuracy IS NULL FROM runs") == 1, "NaN not NULL");
  CHECK(q_int(s, "SELECT round(test_accuracy*100) FROM runs") == 38, "test acc");
  CHECK(q_int(s, "SELECT peak_mem_bytes FROM runs") == 1 << 20, "mem");
  CHECK(q_int(s, "SELECT round(train_ms_per_step*100) FROM runs") == 925, "ms/step");
  CHECK(q_int(s, "SELECT finished_at >= started_at FROM runs") == 1, "timestamps");

  /* resume: re-beginning the same key resets the row in place */
  int64_t rid2 = 0;
  CHECK(eb_store_run_begin(s, sid, "k1", "vanilla", "listops", 0, "{\"seed\":0}", "host2",
                           "0.1.1", &rid2, err, sizeof err) == 0,
        "%s", err);
  CHECK(rid2 == rid, "re-begin changed id %lld -> %lld", (long long)rid, (long long)rid2);
  CHECK(q_int(s, "SELECT count(*) FROM runs") == 1, "duplicate run row");
  CHECK(q_int(s, "SELECT count(*) FROM evals") == 0, "old evals kept");
  CHECK(q_int(s, "SELECT count(*) FROM run_stats") == 0, "old stats kept");
  CHECK(q_int(s, "SELECT test_accuracy IS NULL AND finished_at IS NULL FROM runs") == 1,
        "old results kept");
  CHECK(q_int(s, "SELECT data_kind IS NULL AND data_source IS NULL FROM runs") == 1,
        "old data source kept");
  q_text(s, "SELECT host || ' ' || status FROM runs", y, sizeof y);
  CHECK(strcmp(y, "host2 running") == 0, "row %s", y);

  /* a second run, failing */
  int64_t rid3;
  CHECK(eb_store_run_begin(s, sid, "k2", "linformer", "listops", 1, NULL, NULL, NULL,
                           &rid3, err, sizeof err) == 0,
        "%s", err);
  eb_run_result_row f = result("diverged", NAN);
  f.error = "loss is NaN at step 7";
  CHECK(eb_store_run_finish(s, rid3, &f, err, sizeof err) == 0, "%s", err);
  q_text(s, "SELECT status || ': ' || error FROM runs WHERE run_key='k2'", y, sizeof y);
  CHECK(strcmp(y, "diverged: loss is NaN at step 7") == 0, "row %s", y);

  /* speed rows, with and without a suite */
  eb_speed_row sp = {
      sid, "vanilla", "text", 1024, 8,      "train", 1, 120.0, 110.0, 68000,
      3.5, 1 << 24,   "done", "{}", 3.5e11, 4.2e11,  5, 121.5, 4.25,  "openblas:Haswell",
      NULL};
  CHECK(eb_store_speed(s, &sp, err, sizeof err) == 0, "%s", err);
  /* the step times' statistics and the GEMM backend, each in its column */
  CHECK(q_int(s, "SELECT count(*) FROM speed WHERE step_ms_n = 5 AND step_ms_mean = "
                 "121.5 AND step_ms_std = 4.25 AND step_ms_min = 110.0 AND "
                 "step_ms_median = 120.0 AND threads = 1 AND "
                 "gemm_backend = 'openblas:Haswell'") == 1,
        "speed statistics not stored");
  /* both kinds of FLOPs, each in its column */
  CHECK(q_int(s, "SELECT count(*) FROM speed WHERE model_flops_step = 3.5e11 AND "
                 "executed_flops_step = 4.2e11") == 1,
        "speed FLOPs not stored");
  CHECK(q_int(s, "SELECT count(*) FROM runs WHERE model_flops_train_step = 8e8 AND "
                 "flops_train_step = 1e9") >= 1,
        "run model FLOPs not stored");
  sp.suite_id = 0;
  sp.status = "oom";
  sp.step_ms_median = NAN;
  sp.step_ms_n = 0; /* no measurement: no statistics */
  CHECK(eb_store_speed(s, &sp, err, sizeof err) == 0, "%s", err);
  CHECK(q_int(s, "SELECT count(*) FROM speed WHERE status = 'oom' AND step_ms_n IS NULL "
                 "AND step_ms_mean IS NULL AND step_ms_std IS NULL") == 1,
        "an unmeasured speed row has statistics");
  CHECK(q_int(s, "SELECT count(*) FROM speed WHERE suite_id IS NULL AND "
                 "step_ms_median IS NULL") == 1,
        "speed rows");

  /* env */
  CHECK(eb_store_env_record(s, "9.9.9", "abc123", NULL, "-O3", err, sizeof err) == 0,
        "%s", err);
  CHECK(eb_store_env_set(s, "note", "hello", err, sizeof err) == 0, "%s", err);
  CHECK(eb_store_env_set(s, "note", "again", err, sizeof err) == 0, "%s", err);
  q_text(s, "SELECT value FROM env WHERE key='effbench_version'", y, sizeof y);
  CHECK(strcmp(y, "9.9.9") == 0, "version %s", y);
  q_text(s, "SELECT value FROM env WHERE key='note'", y, sizeof y);
  CHECK(strcmp(y, "again") == 0, "note %s", y);
  q_text(s, "SELECT value FROM env WHERE key='blas_coretype'", y, sizeof y);
  const char *ct = getenv("OPENBLAS_CORETYPE");
  if (ct) CHECK(strcmp(y, ct) == 0, "coretype %s", y);
  /* (the BLAS description is the harness's to add: results/ depends on SQLite only) */
  const char *keys[] = {"cpu_model",  "cores", "compiler",   "flags",
                        "git_commit", "os",    "recorded_at"};
  for (int i = 0; i < 7; i++) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT length(value) > 0 FROM env WHERE key='%s'",
             keys[i]);
    CHECK(q_int(s, sql) == 1, "env %s empty", keys[i]);
  }
  CHECK(q_int(s, "SELECT CAST(value AS INTEGER) FROM env WHERE key='cores'") >= 1,
        "cores");
  eb_store_close(s);
}

static void test_failed_writes(void) {
  char err[512];
  eb_store *s;
  CHECK(eb_store_open(tmp_path("fail.db"), &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  int64_t sid, rid;
  CHECK(eb_store_suite(s, "q", NULL, &sid, err, sizeof err) == 0, "%s", err);
  CHECK(eb_store_run_begin(s, sid, "k", "vanilla", "t", 0, NULL, NULL, NULL, &rid, err,
                           sizeof err) == 0,
        "%s", err);

  /* no such run: refused, nothing written */
  eb_run_result_row r = result("done", 0.5);
  eb_eval_row ev[2] = {{1, "val", 1, 0.5, 1}, {2, "val", 1, 0.5, 1}};
  r.evals = ev;
  r.n_evals = 2;
  CHECK(eb_store_run_finish(s, rid + 100, &r, err, sizeof err) != 0, "finish of no run");
  CHECK(strstr(err, "no such run") && strstr(err, "fail.db"), "%s", err);
  show(err);
  CHECK(q_int(s, "SELECT count(*) FROM evals") == 0, "evals written for no run");

  /* a constraint failing after the runs row was updated: all rolled back */
  ev[1].split = NULL;
  CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) != 0, "NULL split accepted");
  CHECK(strstr(err, "rejected") && strstr(err, "intact"), "%s", err);
  show(err);
  char status[32];
  CHECK(eb_store_run_status(s, "k", status, sizeof status, err, sizeof err) == 0, "%s",
        err);
  CHECK(strcmp(status, "running") == 0, "half-written run: status %s", status);
  CHECK(q_int(s, "SELECT count(*) FROM evals") == 0, "half-written evals");
  CHECK(q_int(s, "SELECT test_accuracy IS NULL FROM runs") == 1, "half-written result");

  /* a bad status is refused up front */
  eb_run_result_row bad = result("finished", 0.5);
  CHECK(eb_store_run_finish(s, rid, &bad, err, sizeof err) != 0, "bad status accepted");
  CHECK(strstr(err, "finished"), "%s", err);
  show(err);

  /* the disk fills up mid-transaction: rolled back, said so, still usable */
  ev[1].split = "val";
  r.n_evals = 0;
  CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) == 0, "%s", err);
  enum { N = 20000 };
  eb_eval_row *many = calloc(N, sizeof *many);
  for (int i = 0; i < N; i++)
    many[i] = (eb_eval_row){i, "train", 1.0, 0.5, i * 0.1};
  long long pages = q_int(s, "PRAGMA page_count");
  char pragma[64];
  snprintf(pragma, sizeof pragma, "PRAGMA max_page_count=%lld", pages + 2);
  sqlite3_exec(eb_store_db(s), pragma, NULL, NULL, NULL);
  int64_t rid2;
  CHECK(eb_store_run_begin(s, sid, "k2", "vanilla", "t", 1, NULL, NULL, NULL, &rid2, err,
                           sizeof err) == 0,
        "%s", err);
  eb_run_result_row big = result("done", 0.6);
  big.evals = many;
  big.n_evals = N;
  CHECK(eb_store_run_finish(s, rid2, &big, err, sizeof err) != 0,
        "disk full not reported");
  CHECK(strstr(err, "disk full") && strstr(err, "fail.db") && strstr(err, "intact"), "%s",
        err);
  show(err);
  CHECK(q_int(s, "SELECT count(*) FROM evals") == 0, "partial evals after disk full");
  CHECK(eb_store_run_status(s, "k2", status, sizeof status, err, sizeof err) == 0, "%s",
        err);
  CHECK(strcmp(status, "running") == 0, "k2 status after disk full: %s", status);
  CHECK(eb_store_run_status(s, "k", status, sizeof status, err, sizeof err) == 0, "%s",
        err);
  CHECK(strcmp(status, "done") == 0, "k status after disk full: %s", status);
  /* space again: the same write now succeeds */
  sqlite3_exec(eb_store_db(s), "PRAGMA max_page_count=1073741823", NULL, NULL, NULL);
  CHECK(eb_store_run_finish(s, rid2, &big, err, sizeof err) == 0, "%s", err);
  CHECK(q_int(s, "SELECT count(*) FROM evals") == N, "evals after retry");
  free(many);
  eb_store_close(s);
}

static void test_refusals(void) {
  char err[512];
  eb_store *s = NULL;

  /* missing file, read-only */
  CHECK(eb_store_open_readonly(tmp_path("missing.db"), &s, err, sizeof err) ==
            EB_NOTFOUND,
        "missing db opened");
  CHECK(strstr(err, "no database at") && strstr(err, "missing.db") &&
            strstr(err, "run a suite first"),
        "%s", err);
  show(err);
  CHECK(access(tmp_path("missing.db"), F_OK) != 0, "read-only open created a file");

  /* not SQLite at all: refused by name, file untouched */
  const char *txt = tmp_path("notes.txt");
  write_file(txt, "these are my notes, not a database\n");
  long before = file_size(txt);
  CHECK(eb_store_open(txt, &s, err, sizeof err) == EB_INPUT, "text file opened");
  CHECK(strstr(err, "not an SQLite database") && strstr(err, "notes.txt"), "%s", err);
  show(err);
  CHECK(file_size(txt) == before, "text file changed");
  CHECK(eb_store_open_readonly(txt, &s, err, sizeof err) == EB_INPUT,
        "text file opened ro");

  /* an SQLite file of another program */
  const char *other = tmp_path("other.db");
  sqlite3 *db;
  sqlite3_open(other, &db);
  sqlite3_exec(db, "CREATE TABLE contacts(name TEXT); INSERT INTO contacts VALUES('ann')",
               NULL, NULL, NULL);
  sqlite3_close(db);
  CHECK(eb_store_open(other, &s, err, sizeof err) == EB_INPUT, "foreign db opened");
  CHECK(strstr(err, "not an effbench") && strstr(err, "other.db"), "%s", err);
  show(err);
  sqlite3_open(other, &db);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db,
                     "SELECT (SELECT count(*) FROM sqlite_master), "
                     "(SELECT count(*) FROM contacts)",
                     -1, &st, NULL);
  CHECK(sqlite3_step(st) == SQLITE_ROW, "foreign db unreadable");
  CHECK(sqlite3_column_int(st, 0) == 1 && sqlite3_column_int(st, 1) == 1,
        "foreign db changed");
  sqlite3_finalize(st);
  char jm[16] = "";
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
  if (sqlite3_step(st) == SQLITE_ROW)
    snprintf(jm, sizeof jm, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  CHECK(strcmp(jm, "delete") == 0, "foreign db switched to %s", jm);
  sqlite3_close(db);

  /* an effbench database from a newer effbench */
  const char *newer = tmp_path("newer.db");
  CHECK(eb_store_open(newer, &s, err, sizeof err) == 0, "%s", err);
  eb_store_close(s);
  sqlite3_open(newer, &db);
  sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL);
  sqlite3_close(db);
  CHECK(eb_store_open(newer, &s, err, sizeof err) == EB_INPUT, "newer db opened");
  CHECK(strstr(err, "newer effbench") && strstr(err, "99") && strstr(err, "newer.db"),
        "%s", err);
  show(err);
  CHECK(eb_store_open_readonly(newer, &s, err, sizeof err) == EB_INPUT,
        "newer db opened ro");

  /* a negative schema version (a hostile header) is refused on open, read-write
   * (it would index the migrations), read-only and as a merge input alike */
  sqlite3_open(newer, &db);
  sqlite3_exec(db, "PRAGMA user_version=-5", NULL, NULL, NULL);
  sqlite3_close(db);
  CHECK(eb_store_open(newer, &s, err, sizeof err) == EB_INPUT, "negative version opened");
  CHECK(strstr(err, "schema version -5 is not one effbench writes") &&
            strstr(err, "newer.db"),
        "%s", err);
  CHECK(eb_store_open_readonly(newer, &s, err, sizeof err) == EB_INPUT,
        "negative version opened ro");
  CHECK(eb_store_open_input(newer, &s, err, sizeof err) == EB_INPUT &&
            strstr(err, "schema version -5 is not one effbench writes"),
        "negative version opened as a merge input: %s", err);

  /* an empty file is a fine new database; read-only it says it is empty */
  const char *empty = tmp_path("empty.db");
  write_file(empty, "");
  CHECK(eb_store_open_readonly(empty, &s, err, sizeof err) == EB_INPUT,
        "empty opened ro");
  CHECK(strstr(err, "empty database"), "%s", err);
  show(err);
  CHECK(eb_store_open(empty, &s, err, sizeof err) == 0, "%s", err);
  eb_store_close(s);

  /* a directory that does not exist */
  CHECK(eb_store_open(tmp_path("no/such/dir.db"), &s, err, sizeof err) == EB_DB,
        "bad dir");
  CHECK(strstr(err, "dir.db") && strstr(err, "cannot open"), "%s", err);
  show(err);
}

/* A schema-3 database (before model FLOPs: made here by dropping the columns
 * migrations 4 to 6 add) gains them on open, NULL, with its rows intact. */
/* Takes a database of the latest schema back to version 4 (before the
 * per-run machine columns); the caller sets user_version. */
#define DROP_V5                                                                          \
  "DROP INDEX runs_conflict_of;"                                                         \
  "ALTER TABLE runs DROP COLUMN cpu_model; ALTER TABLE runs DROP COLUMN isa;"            \
  "ALTER TABLE runs DROP COLUMN cores; ALTER TABLE runs DROP COLUMN threads;"            \
  "ALTER TABLE runs DROP COLUMN git_commit; ALTER TABLE runs DROP COLUMN compiler;"      \
  "ALTER TABLE runs DROP COLUMN c_flags; ALTER TABLE runs DROP COLUMN conflict_of;"
/* ... version 7 back to 6 (before claims) ... */
#define DROP_V7                                                                          \
  "DROP INDEX evals_unique; ALTER TABLE runs DROP COLUMN owner;"                         \
  "ALTER TABLE runs DROP COLUMN heartbeat_at;"
/* ... the code columns (runs.arch_sha256, exe_sha256) off ... */
#define DROP_CODE                                                                        \
  "ALTER TABLE runs DROP COLUMN arch_sha256; ALTER TABLE runs DROP COLUMN exe_sha256;"
/* ... the attempts' archive (reruns keep history) removed ... */
/* ... the speed rows' machine columns off ... */
#define DROP_SPEED_MACHINE                                                               \
  "ALTER TABLE speed DROP COLUMN host; ALTER TABLE speed DROP COLUMN cpu_model;"         \
  "ALTER TABLE speed DROP COLUMN cores; ALTER TABLE speed DROP COLUMN git_commit;"       \
  "ALTER TABLE speed DROP COLUMN compiler; ALTER TABLE speed DROP COLUMN c_flags;"
/* ... version 12 back to 11 (before speed claims) */
#define DROP_SPEED_CLAIMS "DROP TABLE speed_claims;"
/* ... version 11 back to 10 (before the majority-class baseline) */
#define DROP_MAJORITY                                                                    \
  "ALTER TABLE runs DROP COLUMN test_majority; ALTER TABLE runs DROP COLUMN test_count;"
#define DROP_ATTEMPTS                                                                    \
  "DROP TABLE run_stat_attempts; DROP TABLE eval_attempts; DROP TABLE run_attempts;"     \
  "ALTER TABLE runs DROP COLUMN attempt;"
/* ... and version 6 back to 5 (before the speed rows' statistics) */
#define DROP_V6                                                                          \
  "ALTER TABLE speed DROP COLUMN step_ms_n; ALTER TABLE speed DROP COLUMN step_ms_mean;" \
  "ALTER TABLE speed DROP COLUMN step_ms_std; ALTER TABLE speed DROP COLUMN "            \
  "gemm_backend;"

static void test_migrate_model_flops(void) {
  char err[512];
  eb_store *s;
  const char *path = tmp_path("v3.db");
  CHECK(eb_store_open(path, &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  int64_t sid = 0, rid = 0;
  CHECK(eb_store_suite(s, "old", NULL, &sid, err, sizeof err) == 0, "%s", err);
  CHECK(eb_store_run_begin(s, sid, "k-old", "vanilla", "text", 0, "{}", "h", "b", &rid,
                           err, sizeof err) == 0,
        "%s", err);
  eb_run_result_row r = result("done", 0.5);
  CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) == 0, "%s", err);
  eb_speed_row sp = {.suite_id = sid,
                     .arch = "vanilla",
                     .task = "",
                     .seq_len = 64,
                     .batch = 2,
                     .mode = "train",
                     .threads = 1,
                     .step_ms_median = 9.5,
                     .status = "done",
                     .config_json = "{}"};
  CHECK(eb_store_speed(s, &sp, err, sizeof err) == 0, "%s", err);
  eb_store_close(s);
  sqlite3 *db;
  sqlite3_open(path, &db);
  int rc = sqlite3_exec(db,
                        DROP_SPEED_CLAIMS DROP_MAJORITY DROP_SPEED_MACHINE DROP_ATTEMPTS
                            DROP_CODE DROP_V7 DROP_V6 DROP_V5
                        "ALTER TABLE runs DROP COLUMN model_flops_train_step;"
                        "ALTER TABLE speed DROP COLUMN model_flops_step;"
                        "ALTER TABLE speed DROP COLUMN executed_flops_step;"
                        "PRAGMA user_version=3",
                        NULL, NULL, NULL);
  CHECK(rc == SQLITE_OK, "making a v3 db: %s", sqlite3_errmsg(db));
  sqlite3_close(db);
  CHECK(eb_store_open(path, &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  CHECK(eb_store_schema_version(s) == eb_store_schema_latest(), "not migrated: %d",
        eb_store_schema_version(s));
  CHECK(q_int(s, "SELECT count(*) FROM runs WHERE run_key='k-old' AND "
                 "flops_train_step = 1e9 AND test_accuracy = 0.5 AND "
                 "model_flops_train_step IS NULL") == 1,
        "v3 run lost or changed by the migration");
  /* the code columns exist, NULL in the old run: read back as unknown */
  CHECK(q_int(s, "SELECT count(*) FROM runs WHERE run_key='k-old' AND arch_sha256 IS "
                 "NULL AND exe_sha256 IS NULL") == 1,
        "old run lacks NULL code columns after the migration");
  eb_run_code code;
  CHECK(eb_store_run_code(s, "k-old", &code, err, sizeof err) == 0, "%s", err);
  CHECK(!strcmp(code.status, "done") && !code.arch_sha256[0] && !code.exe_sha256[0],
        "old run's code: status '%s' arch '%s' exe '%s'", code.status, code.arch_sha256,
        code.exe_sha256);
  CHECK(q_int(s, "SELECT count(*) FROM pragma_table_info('speed') WHERE name IN "
                 "('model_flops_step', 'executed_flops_step')") == 2,
        "speed FLOP columns missing after migration");
  CHECK(q_int(s, "SELECT count(*) FROM speed WHERE step_ms_median = 9.5 AND "
                 "step_ms_n IS NULL AND step_ms_mean IS NULL AND step_ms_std IS NULL "
                 "AND gemm_backend IS NULL") == 1,
        "v3 speed row lost or the statistics columns missing after migration");
  eb_store_close(s);
}

/* A database on a network file system (the override stands in for statfs's
 * answer) uses rollback journaling; elsewhere WAL. */
static void test_network_fs(void) {
  char err[512], mode[32];
  eb_store *s;
  setenv("EFFBENCH_TEST_NETWORK_FS", "1", 1);
  CHECK(eb_store_on_network_fs(tmp_path("nfs.db")) == 1, "override 1 ignored");
  CHECK(eb_store_open(tmp_path("nfs.db"), &s, err, sizeof err) == 0, "%s", err);
  if (s) {
    q_text(s, "PRAGMA journal_mode", mode, sizeof mode);
    CHECK(strcmp(mode, "delete") == 0, "network fs: journal_mode %s, want delete", mode);
    int64_t sid = 0;
    CHECK(eb_store_suite(s, "nfs", NULL, &sid, err, sizeof err) == 0, "%s", err);
    CHECK(access(tmp_path("nfs.db-wal"), F_OK) != 0, "network fs: a -wal file exists");
    eb_store_close(s);
  }
  /* a database made WAL elsewhere is switched when opened on a network fs */
  unsetenv("EFFBENCH_TEST_NETWORK_FS");
  CHECK(eb_store_open(tmp_path("was_wal.db"), &s, err, sizeof err) == 0, "%s", err);
  eb_store_close(s);
  setenv("EFFBENCH_TEST_NETWORK_FS", "1", 1);
  CHECK(eb_store_open(tmp_path("was_wal.db"), &s, err, sizeof err) == 0, "%s", err);
  if (s) {
    q_text(s, "PRAGMA journal_mode", mode, sizeof mode);
    CHECK(strcmp(mode, "delete") == 0, "reopened on network fs: journal_mode %s", mode);
    eb_store_close(s);
  }
  setenv("EFFBENCH_TEST_NETWORK_FS", "0", 1);
  CHECK(eb_store_on_network_fs(tmp_path("nfs.db")) == 0, "override 0 ignored");
  CHECK(eb_store_open(tmp_path("local.db"), &s, err, sizeof err) == 0, "%s", err);
  if (s) {
    q_text(s, "PRAGMA journal_mode", mode, sizeof mode);
    CHECK(strcmp(mode, "wal") == 0, "local fs: journal_mode %s, want wal", mode);
    eb_store_close(s);
  }
  unsetenv("EFFBENCH_TEST_NETWORK_FS");
  /* the test's directory is under /tmp, a local file system on every machine
   * these tests run on */
  CHECK(eb_store_on_network_fs(tmp_path("nfs.db")) == 0, "/tmp taken for a network fs");
}

/* Machine and build recorded per run (what merge keeps per row). */
static void test_run_machine(void) {
  char err[512];
  eb_store *s;
  CHECK(eb_store_open(tmp_path("machine.db"), &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  int64_t sid = 0, rid = 0;
  CHECK(eb_store_suite(s, "m", NULL, &sid, err, sizeof err) == 0, "%s", err);
  CHECK(eb_store_run_begin(s, sid, "k-m", "vanilla", "text", 0, "{}", "h", "b", &rid, err,
                           sizeof err) == 0,
        "%s", err);
  CHECK(eb_store_run_machine(s, rid, "isa-x", 3, err, sizeof err) == 0, "%s", err);
  CHECK(q_int(s, "SELECT count(*) FROM runs WHERE run_key='k-m' AND isa='isa-x' AND "
                 "threads=3 AND cores>0 AND length(cpu_model)>0 AND git_commit IS NOT "
                 "NULL AND compiler IS NOT NULL AND c_flags IS NOT NULL AND conflict_of "
                 "IS NULL") == 1,
        "per-run machine columns not recorded");
  eb_store_close(s);
}

/* A merge input of an older schema opens read-only as it is: never
 * migrated, the file unchanged; a report's read-only open refuses it. */
static void test_open_input(void) {
  char err[512];
  eb_store *s;
  const char *path = tmp_path("input_v4.db");
  CHECK(eb_store_open(path, &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  eb_store_close(s);
  sqlite3 *db;
  sqlite3_open(path, &db);
  int rc = sqlite3_exec(db,
                        DROP_SPEED_CLAIMS DROP_MAJORITY DROP_SPEED_MACHINE DROP_ATTEMPTS
                            DROP_CODE DROP_V7 DROP_V6 DROP_V5
                        "PRAGMA journal_mode=DELETE; PRAGMA user_version=4",
                        NULL, NULL, NULL);
  CHECK(rc == SQLITE_OK, "making an older db: %s", sqlite3_errmsg(db));
  sqlite3_close(db);
  long before = file_size(path);
  CHECK(eb_store_open_readonly(path, &s, err, sizeof err) == EB_INPUT,
        "read-only open of v4");
  CHECK(eb_store_open_input(path, &s, err, sizeof err) == 0, "%s", err);
  if (s) {
    CHECK(eb_store_schema_version(s) == 4, "input migrated to %d",
          eb_store_schema_version(s));
    eb_store_close(s);
  }
  CHECK(file_size(path) == before, "input file changed size");
  /* one version back (no speed_claims, which readers never use): read-only
   * opens take it as it is, unchanged */
  const char *prev = tmp_path("prev.db");
  CHECK(eb_store_open(prev, &s, err, sizeof err) == 0, "%s", err);
  if (s) eb_store_close(s);
  sqlite3_open(prev, &db);
  rc = sqlite3_exec(db, DROP_SPEED_CLAIMS "PRAGMA user_version=11", NULL, NULL, NULL);
  CHECK(rc == SQLITE_OK, "making a v11 db: %s", sqlite3_errmsg(db));
  sqlite3_close(db);
  CHECK(eb_store_open_readonly(prev, &s, err, sizeof err) == 0, "v11 refused: %s", err);
  if (s) {
    CHECK(eb_store_schema_version(s) == 11, "v11 read as %d", eb_store_schema_version(s));
    eb_store_close(s);
  }
  sqlite3_open(path, &db);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
  CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 4,
        "input's user_version changed");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static int claim(eb_store *s, const char *owner, const char *since, int fresh,
                 int64_t *rid) {
  char err[512], holder[320];
  int outcome = -1;
  eb_run_claim c = {.run_key = "kc",
                    .arch = "vanilla",
                    .task = "t",
                    .owner = owner,
                    .since = since,
                    .fresh = fresh};
  CHECK(eb_store_run_claim(s, &c, &outcome, rid, holder, sizeof holder, err,
                           sizeof err) == 0,
        "%s", err);
  return outcome;
}

static void set_sql(eb_store *s, const char *sql) {
  CHECK(sqlite3_exec(eb_store_db(s), sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql,
        sqlite3_errmsg(eb_store_db(s)));
}

/* Claims: a run is taken once; a live owner keeps it, a dead one (no such
 * pid, a reused pid, another host's stale heartbeat) loses it. */
static void test_claims(void) {
  char err[512], me[320], other[320], host[256];
  eb_store *s;
  CHECK(eb_store_open(tmp_path("claims.db"), &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  eb_store_owner_self(me, sizeof me);
  gethostname(host, sizeof host);
  host[sizeof host - 1] = 0;
  int64_t rid = 0, rid2 = 0;
  CHECK(claim(s, me, NULL, 0, &rid) == EB_CLAIM_TAKEN && rid > 0, "absent run not taken");
  /* a live owner on this host (this process, seen from another owner) */
  snprintf(other, sizeof other, "%s:%ld:0", host, (long)getppid());
  CHECK(claim(s, other, NULL, 0, &rid2) == EB_CLAIM_BUSY, "a live owner's run taken");
  CHECK(eb_store_run_heartbeat(s, rid, me, err, sizeof err) == 0, "%s", err);
  CHECK(eb_store_run_heartbeat(s, rid, other, err, sizeof err) == EB_BUSY,
        "a heartbeat by a non-owner was accepted");
  /* the same pid started at another time: the pid was reused, the owner is gone */
  snprintf(other, sizeof other, "%s:%ld:1", host, (long)getpid());
  char sql[512];
  snprintf(sql, sizeof sql, "UPDATE runs SET owner='%s'", other);
  set_sql(s, sql);
  CHECK(claim(s, me, NULL, 0, &rid2) == EB_CLAIM_TAKEN && rid2 == rid,
        "a reused pid's claim not taken over");
  /* a pid that no longer exists */
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, NULL, 0);
  snprintf(sql, sizeof sql, "UPDATE runs SET owner='%s:%ld:5'", host, (long)child);
  set_sql(s, sql);
  CHECK(claim(s, me, NULL, 0, &rid2) == EB_CLAIM_TAKEN, "a dead pid's claim not taken");
  /* the result of a lost claim is not written */
  eb_run_result_row r = result("done", 0.5);
  r.owner = other;
  CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) == EB_BUSY,
        "a lost claim wrote: %s", err);
  CHECK(strstr(err, "taken over"), "%s", err);
  /* another host: alive while its heartbeat is fresh, gone when it is stale */
  set_sql(s, "UPDATE runs SET owner='elsewhere.example:1:1', heartbeat_at="
             "strftime('%Y-%m-%dT%H:%M:%SZ','now','-60 seconds')");
  CHECK(claim(s, me, NULL, 0, &rid2) == EB_CLAIM_BUSY, "a fresh remote claim taken");
  set_sql(s, "UPDATE runs SET heartbeat_at=strftime('%Y-%m-%dT%H:%M:%SZ','now','-31 "
             "minutes')");
  CHECK(claim(s, me, NULL, 0, &rid2) == EB_CLAIM_TAKEN, "a stale remote claim kept");
  /* a legacy running row without an owner is taken */
  set_sql(s, "UPDATE runs SET owner=NULL");
  CHECK(claim(s, me, NULL, 0, &rid2) == EB_CLAIM_TAKEN, "an ownerless claim kept");
  /* done: skipped, taken with fresh, but not when it ended after `since` */
  r.owner = me;
  CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) == 0, "%s", err);
  CHECK(claim(s, me, NULL, 0, &rid2) == EB_CLAIM_DONE, "a done run taken");
  CHECK(claim(s, me, "2000-01-01T00:00:00Z", 1, &rid2) == EB_CLAIM_ENDED,
        "a run ended by another process since taken");
  CHECK(claim(s, me, "2999-01-01T00:00:00Z", 1, &rid2) == EB_CLAIM_TAKEN,
        "--fresh did not take a done run");
  r = result("failed", 0.1);
  r.owner = me;
  CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) == 0, "%s", err);
  CHECK(claim(s, me, "2000-01-01T00:00:00Z", 0, &rid2) == EB_CLAIM_ENDED,
        "a run failed by another process since retried");
  CHECK(claim(s, me, NULL, 0, &rid2) == EB_CLAIM_TAKEN, "a failed run not retried");
  eb_store_close(s);
}

/* The code identity of a run: written by the claim, read back by
 * eb_store_run_code, replaced when a fresh claim re-runs it (as `run
 * --rerun-changed` does), and unknown ("") for a key never run. */
static void test_run_code(void) {
  char err[512], holder[320], me[320];
  eb_store *s;
  CHECK(eb_store_open(tmp_path("code.db"), &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  eb_store_owner_self(me, sizeof me);
  const char *a1 = "1111111111111111111111111111111111111111111111111111111111111111",
             *a2 = "2222222222222222222222222222222222222222222222222222222222222222",
             *ex = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
  eb_run_claim c = {.run_key = "kcode",
                    .arch = "plug",
                    .task = "t",
                    .owner = me,
                    .arch_sha256 = a1,
                    .exe_sha256 = ex};
  int outcome = -1;
  int64_t rid = 0;
  eb_run_code code;
  CHECK(eb_store_run_code(s, "kcode", &code, err, sizeof err) == 0, "%s", err);
  CHECK(!code.status[0] && !code.arch_sha256[0], "unknown key has a code");
  CHECK(eb_store_run_claim(s, &c, &outcome, &rid, holder, sizeof holder, err,
                           sizeof err) == 0 &&
            outcome == EB_CLAIM_TAKEN,
        "%s", err);
  CHECK(eb_store_run_machine(s, rid, "isa", 1, err, sizeof err) == 0, "%s", err);
  eb_run_result_row r = result("done", 0.5);
  r.owner = me;
  CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) == 0, "%s", err);
  CHECK(eb_store_run_code(s, "kcode", &code, err, sizeof err) == 0, "%s", err);
  CHECK(!strcmp(code.status, "done") && !strcmp(code.arch_sha256, a1) &&
            !strcmp(code.exe_sha256, ex) && code.git_commit[0] && code.finished_at[0],
        "recorded code: status '%s' arch '%s' exe '%s' commit '%s' finished '%s'",
        code.status, code.arch_sha256, code.exe_sha256, code.git_commit,
        code.finished_at);
  /* a done run is not taken again without fresh; a fresh claim records the
   * new code */
  c.arch_sha256 = a2;
  CHECK(eb_store_run_claim(s, &c, &outcome, &rid, holder, sizeof holder, err,
                           sizeof err) == 0 &&
            outcome == EB_CLAIM_DONE,
        "done run claimed without fresh (%d) %s", outcome, err);
  CHECK(eb_store_run_code(s, "kcode", &code, err, sizeof err) == 0 &&
            !strcmp(code.arch_sha256, a1),
        "an unclaimed done run's code changed to '%s'", code.arch_sha256);
  c.fresh = 1;
  CHECK(eb_store_run_claim(s, &c, &outcome, &rid, holder, sizeof holder, err,
                           sizeof err) == 0 &&
            outcome == EB_CLAIM_TAKEN,
        "fresh claim not taken (%d) %s", outcome, err);
  CHECK(eb_store_run_code(s, "kcode", &code, err, sizeof err) == 0 &&
            !strcmp(code.status, "running") && !strcmp(code.arch_sha256, a2),
        "re-run: status '%s' code '%s'", code.status, code.arch_sha256);
  /* eb_store_run_begin knows no code: the reset row's is unknown */
  CHECK(eb_store_run_begin(s, 0, "kcode", "plug", "t", 0, "{}", "h", "b", &rid, err,
                           sizeof err) == 0,
        "%s", err);
  CHECK(eb_store_run_code(s, "kcode", &code, err, sizeof err) == 0 &&
            !code.arch_sha256[0] && !code.exe_sha256[0],
        "run_begin kept the code '%s'", code.arch_sha256);
  eb_store_close(s);
}

/* Migration 7 on a database whose evals were doubled by two writers: one row
 * per (run, step, split) is kept, then the unique index refuses a double. */
/* Reruns keep history: a run that ended and is claimed again (--fresh, or a
 * retry of a failure) is archived with its evals and stats, runs keeps the
 * latest attempt under the same id and key; a killed `running` attempt is
 * not archived. */
static void test_attempts(void) {
  char err[512], me[320], y[256];
  eb_store *s;
  CHECK(eb_store_open(tmp_path("attempts.db"), &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  eb_store_owner_self(me, sizeof me);
  /* every runs column has its place in the archive (a migration adding one
   * to runs must add it to run_attempts too) */
  CHECK(q_int(s, "SELECT count(*) FROM pragma_table_info('runs') WHERE name NOT IN "
                 "(SELECT name FROM pragma_table_info('run_attempts'))") == 0,
        "runs columns missing from run_attempts");
  int64_t rid = 0, rid2 = 0;
  CHECK(claim(s, me, NULL, 0, &rid) == EB_CLAIM_TAKEN, "first claim");
  CHECK(q_int(s, "SELECT attempt FROM runs") == 1, "first attempt not 1");
  eb_eval_row ev[2] = {{10, "val", 1.0, 0.5, 1.0}, {20, "test", 0.9, 0.6, 2.0}};
  eb_stat_row st[1] = {{50, "aux_loss", 0.25}};
  eb_run_result_row r = result("done", 0.5);
  r.evals = ev;
  r.n_evals = 2;
  r.stats = st;
  r.n_stats = 1;
  r.owner = me;
  r.data_kind = "generated";
  CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) == 0, "%s", err);
  /* done: not taken again without --fresh, nothing archived */
  CHECK(claim(s, me, NULL, 0, &rid2) == EB_CLAIM_DONE, "done run taken");
  CHECK(q_int(s, "SELECT count(*) FROM run_attempts") == 0, "archived without a rerun");
  /* --fresh: attempt 1 archived whole, the row is attempt 2 under the same id */
  CHECK(claim(s, me, NULL, 1, &rid2) == EB_CLAIM_TAKEN && rid2 == rid, "fresh claim");
  CHECK(q_int(s, "SELECT count(*) FROM runs") == 1, "a second runs row");
  CHECK(q_int(s, "SELECT attempt FROM runs") == 2, "attempt not 2: %lld",
        q_int(s, "SELECT attempt FROM runs"));
  q_text(
      s,
      "SELECT run_id || '|' || attempt || '|' || run_key || '|' || status || '|' || "
      "test_accuracy || '|' || steps_done || '|' || data_kind || '|' || owner || '|' || "
      "(archived_at >= finished_at) FROM run_attempts",
      y, sizeof y);
  char want[400];
  snprintf(want, sizeof want, "%lld|1|kc|done|0.5|50|generated|%s|1", (long long)rid, me);
  CHECK(!strcmp(y, want), "archived row %s, want %s", y, want);
  CHECK(q_int(s,
              "SELECT count(*) FROM eval_attempts e JOIN run_attempts a ON "
              "a.id=e.attempt_id WHERE a.attempt=1 AND ((e.step=10 AND e.split='val' "
              "AND e.accuracy=0.5) OR (e.step=20 AND e.split='test' AND e.loss=0.9))") ==
            2,
        "archived evals");
  CHECK(q_int(s, "SELECT count(*) FROM run_stat_attempts WHERE name='aux_loss' AND "
                 "value=0.25 AND step=50") == 1,
        "archived stats");
  CHECK(q_int(s, "SELECT count(*) FROM evals") == 0 &&
            q_int(s, "SELECT count(*) FROM run_stats") == 0,
        "the new attempt starts with old evals or stats");
  CHECK(q_int(s, "SELECT test_accuracy IS NULL AND status='running' FROM runs") == 1,
        "the new attempt kept old results");
  /* a failure is retried without --fresh: attempt 2 archived, row is 3 */
  r = result("failed", 0.1);
  r.owner = me;
  CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) == 0, "%s", err);
  CHECK(claim(s, me, NULL, 0, &rid2) == EB_CLAIM_TAKEN, "failed run not retried");
  CHECK(q_int(s, "SELECT attempt FROM runs") == 3, "attempt not 3");
  CHECK(
      q_int(s, "SELECT count(*) FROM run_attempts WHERE attempt=2 AND status='failed'") ==
          1,
      "failed attempt not archived");
  CHECK(q_int(s, "SELECT count(*) FROM eval_attempts e JOIN run_attempts a ON "
                 "a.id=e.attempt_id WHERE a.attempt=2") == 0,
        "evals of attempt 1 copied to attempt 2");
  /* a killed attempt (left running, owner gone) ended nothing: not archived */
  set_sql(s, "UPDATE runs SET owner=NULL");
  CHECK(claim(s, me, NULL, 0, &rid2) == EB_CLAIM_TAKEN, "ownerless running not taken");
  CHECK(q_int(s, "SELECT attempt FROM runs") == 3, "a killed attempt counted");
  CHECK(q_int(s, "SELECT count(*) FROM run_attempts") == 2, "a killed attempt archived");
  /* deleting a run deletes its history */
  set_sql(s, "DELETE FROM runs");
  CHECK(q_int(s, "SELECT count(*) FROM run_attempts") == 0 &&
            q_int(s, "SELECT count(*) FROM eval_attempts") == 0 &&
            q_int(s, "SELECT count(*) FROM run_stat_attempts") == 0,
        "archived attempts outlive their run");
  eb_store_close(s);
}

static void test_migrate_claims(void) {
  char err[512];
  eb_store *s;
  const char *path = tmp_path("v4.db");
  CHECK(eb_store_open(path, &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  int64_t rid = 0;
  CHECK(eb_store_run_begin(s, 0, "k", "vanilla", "t", 0, "{}", "h", "b", &rid, err,
                           sizeof err) == 0,
        "%s", err);
  eb_eval_row ev[2] = {{10, "val", 1.0, 0.5, 1.0}, {20, "val", 0.9, 0.6, 2.0}};
  eb_run_result_row r = result("done", 0.5);
  r.evals = ev;
  r.n_evals = 2;
  CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) == 0, "%s", err);
  eb_store_close(s);
  sqlite3 *db;
  sqlite3_open(path, &db);
  int rc = sqlite3_exec(
      db,
      DROP_SPEED_CLAIMS DROP_MAJORITY DROP_SPEED_MACHINE DROP_ATTEMPTS DROP_CODE
      "DROP INDEX evals_unique;"
      "ALTER TABLE runs DROP COLUMN owner;"
      "ALTER TABLE runs DROP COLUMN heartbeat_at;"
      "INSERT INTO evals SELECT * FROM evals;"
      "PRAGMA user_version=6",
      NULL, NULL, NULL);
  CHECK(rc == SQLITE_OK, "making a v6 db: %s", sqlite3_errmsg(db));
  sqlite3_close(db);
  CHECK(eb_store_open(path, &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  CHECK(q_int(s, "SELECT count(*) FROM evals") == 2, "duplicates kept: %lld",
        q_int(s, "SELECT count(*) FROM evals"));
  CHECK(q_int(s, "SELECT count(*) FROM runs WHERE run_key='k' AND status='done'") == 1,
        "run lost by the migration");
  CHECK(q_int(s, "SELECT attempt FROM runs WHERE run_key='k'") == 1,
        "a run written before attempts is not attempt 1");
  CHECK(q_int(s, "SELECT count(*) FROM run_attempts") == 0, "archived attempts invented");
  CHECK(sqlite3_exec(eb_store_db(s),
                     "INSERT INTO evals(run_id, step, split) SELECT run_id, step, split "
                     "FROM evals LIMIT 1",
                     NULL, NULL, NULL) == SQLITE_CONSTRAINT,
        "a duplicate eval row was accepted");
  eb_store_close(s);
}

/* Speed points are claimed as runs are: a live owner's point is left to it,
 * a dead owner's taken over, a done point skipped (taken with fresh), a point
 * measured since `since` not measured again; writing the row releases the
 * claim in the same transaction. */
static int speed_claim(eb_store *s, const eb_speed_claim *c) {
  char err[512], holder[320];
  int outcome = -1;
  CHECK(eb_store_speed_claim(s, c, &outcome, holder, sizeof holder, err, sizeof err) == 0,
        "%s", err);
  if (outcome == EB_CLAIM_BUSY) CHECK(holder[0], "a busy point without its holder");
  return outcome;
}

static void test_speed_claims(void) {
  char err[512], me[320], other[320], host[256], sql[512];
  eb_store *s;
  CHECK(eb_store_open(tmp_path("speed_claims.db"), &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  eb_store_owner_self(me, sizeof me);
  gethostname(host, sizeof host);
  host[sizeof host - 1] = 0;
  snprintf(other, sizeof other, "%s:%ld:0", host, (long)getppid()); /* alive */
  int64_t sid;
  CHECK(eb_store_suite(s, "sc", "", &sid, err, sizeof err) == 0, "%s", err);
  eb_speed_claim c = {.suite_id = sid,
                      .arch = "vanilla",
                      .mode = "train",
                      .seq_len = 512,
                      .batch = 4,
                      .threads = 1,
                      .dim = 32,
                      .owner = me};
  CHECK(speed_claim(s, &c) == EB_CLAIM_TAKEN, "an unclaimed point not taken");
  CHECK(q_int(s, "SELECT count(*) FROM speed_claims") == 1, "no claim row");
  CHECK(speed_claim(s, &c) == EB_CLAIM_TAKEN, "its own claim refused to the owner");
  eb_speed_claim o = c;
  o.owner = other;
  CHECK(speed_claim(s, &o) == EB_CLAIM_BUSY, "a live owner's point taken");
  /* another point (other width) is free */
  eb_speed_claim w = o;
  w.dim = 48;
  CHECK(speed_claim(s, &w) == EB_CLAIM_TAKEN, "another width's point busy");
  /* a dead owner's claim is taken over */
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, NULL, 0);
  snprintf(sql, sizeof sql,
           "UPDATE speed_claims SET owner='%s:%ld:5' WHERE point LIKE '%%dim 32'", host,
           (long)child);
  set_sql(s, sql);
  CHECK(speed_claim(s, &o) == EB_CLAIM_TAKEN, "a dead owner's point not taken over");
  /* another host: alive while the claim is young, gone when it is stale */
  set_sql(s, "UPDATE speed_claims SET owner='elsewhere.example:1:1', claimed_at="
             "strftime('%Y-%m-%dT%H:%M:%SZ','now','-60 seconds')");
  CHECK(speed_claim(s, &c) == EB_CLAIM_BUSY, "a young remote claim taken");
  set_sql(s,
          "UPDATE speed_claims SET claimed_at=strftime('%Y-%m-%dT%H:%M:%SZ','now','-31 "
          "minutes')");
  CHECK(speed_claim(s, &c) == EB_CLAIM_TAKEN, "a stale remote claim kept");
  /* the row ends its owner's claim, in the same write; another's stays */
  eb_speed_row sp = {.suite_id = sid,
                     .arch = "vanilla",
                     .task = "",
                     .seq_len = 512,
                     .batch = 4,
                     .mode = "train",
                     .threads = 1,
                     .step_ms_median = 10,
                     .step_ms_min = 9,
                     .peak_mem_bytes = 1,
                     .status = "done",
                     .config_json = "{\"dim\":32}",
                     .claim = &c};
  CHECK(eb_store_speed(s, &sp, err, sizeof err) == 0, "%s", err);
  CHECK(q_int(s, "SELECT count(*) FROM speed_claims WHERE point LIKE '%dim 32'") == 0,
        "the row left its claim behind");
  CHECK(q_int(s, "SELECT count(*) FROM speed_claims") == 1, "another point's claim lost");
  /* done: skipped; taken with fresh; not when it was measured since `since` */
  CHECK(speed_claim(s, &c) == EB_CLAIM_DONE, "a done point taken");
  c.fresh = 1;
  c.since = "2999-01-01T00:00:00Z";
  CHECK(speed_claim(s, &c) == EB_CLAIM_TAKEN, "fresh did not take a done point");
  c.since = "2000-01-01T00:00:00Z";
  CHECK(speed_claim(s, &c) == EB_CLAIM_ENDED, "a point measured since taken again");
  /* an oom row is not done: measured again (unless since) */
  sp.seq_len = c.seq_len = 1024;
  sp.status = "oom";
  c.fresh = 0;
  c.since = NULL;
  CHECK(eb_store_speed(s, &sp, err, sizeof err) == 0, "%s", err);
  CHECK(speed_claim(s, &c) == EB_CLAIM_TAKEN, "an oom point not measured again");
  /* bad arguments are the caller's bug */
  int outcome;
  c.owner = NULL;
  CHECK(eb_store_speed_claim(s, &c, &outcome, NULL, 0, err, sizeof err) == EB_INTERNAL,
        "a claim without an owner accepted");
  eb_store_close(s);
}

/* What `run` resumes of a speed section: a claim finds a point done only by
 * a done row of the same measurement; a read that fails is an error naming
 * the file and SQLite's reason, never "not done". */
static void test_speed_done(void) {
  char err[512], me[320], holder[320];
  eb_store_owner_self(me, sizeof me);
  eb_store *s;
  const char *path = tmp_path("speed_done.db");
  CHECK(eb_store_open(path, &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  int64_t sid, other;
  CHECK(eb_store_suite(s, "sd", "", &sid, err, sizeof err) == 0, "%s", err);
  CHECK(eb_store_suite(s, "sd2", "", &other, err, sizeof err) == 0, "%s", err);
  eb_speed_row sp = {.suite_id = sid,
                     .arch = "vanilla",
                     .task = "",
                     .seq_len = 1024,
                     .batch = 8,
                     .mode = "train",
                     .threads = 2,
                     .step_ms_median = 10,
                     .step_ms_min = 9,
                     .peak_mem_bytes = 1,
                     .status = "done",
                     .config_json = "{\"dim\":48}"};
  CHECK(eb_store_speed(s, &sp, err, sizeof err) == 0, "%s", err);
  sp.seq_len = 2048;
  sp.status = "oom";
  CHECK(eb_store_speed(s, &sp, err, sizeof err) == 0, "%s", err);
  static const struct {
    int suite; /* 0: sd, 1: sd2 */
    const char *arch;
    int len, batch;
    const char *mode;
    int threads, dim, want; /* dim 0: any width */
  } q[] = {
      {0, "vanilla", 1024, 8, "train", 2, 0, 1},
      {0, "vanilla", 2048, 8, "train", 2, 0, 0},
      {0, "vanilla", 1024, 8, "infer", 2, 0, 0},
      {0, "vanilla", 1024, 4, "train", 2, 0, 0},
      {0, "vanilla", 1024, 8, "train", 1, 0, 0},
      {0, "performer", 1024, 8, "train", 2, 0, 0},
      {1, "vanilla", 1024, 8, "train", 2, 0, 0},
      {0, "vanilla", 1024, 8, "train", 2, 48, 1},
      {0, "vanilla", 1024, 8, "train", 2, 56, 0},
  };
  for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
    eb_speed_claim c = {.suite_id = q[i].suite ? other : sid,
                        .arch = q[i].arch,
                        .mode = q[i].mode,
                        .seq_len = q[i].len,
                        .batch = q[i].batch,
                        .threads = q[i].threads,
                        .dim = q[i].dim,
                        .owner = me};
    int outcome = -1;
    CHECK(eb_store_speed_claim(s, &c, &outcome, holder, sizeof holder, err, sizeof err) ==
              0,
          "%s", err);
    const int done = outcome == EB_CLAIM_DONE;
    CHECK(done == q[i].want && (done || outcome == EB_CLAIM_TAKEN),
          "speed point #%zu: outcome %d, want %s", i, outcome,
          q[i].want ? "done" : "taken");
  }
  /* a failed read (here: the table is gone) is an error, not "not done" */
  CHECK(sqlite3_exec(eb_store_db(s), "DROP TABLE speed", NULL, NULL, NULL) == SQLITE_OK,
        "%s", sqlite3_errmsg(eb_store_db(s)));
  eb_speed_claim c = {.suite_id = sid,
                      .arch = "vanilla",
                      .mode = "train",
                      .seq_len = 1024,
                      .batch = 8,
                      .threads = 2,
                      .owner = me};
  int outcome = -1;
  err[0] = 0;
  CHECK(eb_store_speed_claim(s, &c, &outcome, holder, sizeof holder, err, sizeof err) ==
            EB_DB,
        "a failed read reads as a result");
  CHECK(outcome != EB_CLAIM_DONE, "done after a failed read");
  CHECK(strstr(err, path) && strstr(err, "no such table: speed"),
        "the message names neither the file nor the reason: %s", err);
  show(err);
  eb_store_close(s);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/eb_test_store_XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_schema();
  test_round_trip();
  test_failed_writes();
  test_refusals();
  test_migrate_model_flops();
  test_network_fs();
  test_run_machine();
  test_open_input();
  test_claims();
  test_speed_claims();
  test_migrate_claims();
  test_run_code();
  test_attempts();
  test_speed_done();
  if (!eb_test_failures) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  } else {
    fprintf(stderr, "kept %s for inspection\n", dir);
  }
  return eb_test_done("test_store");
}
