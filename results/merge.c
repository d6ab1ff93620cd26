/* effbench merge (merge.h): the union of results databases by run key. */
#include "merge.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "hash.h"
#include "strbuf.h"
#include "store_internal.h"

#define MAX_COLS 96

typedef struct cols {
  char name[MAX_COLS][64];
  int n;
} cols;

typedef struct ctx {
  sqlite3 *out, *in;
  const char *out_path, *in_path;
  char *err;
  size_t errlen;
  eb_rc rc; /* the kind of the failure (the steps below return -1 on one) */
} ctx;

static int fail(ctx *c, sqlite3 *db, const char *what) {
  snprintf(c->err, c->errlen, "%s: %s (%s)", db == c->in ? c->in_path : c->out_path, what,
           sqlite3_errmsg(db));
  c->rc = sqlite3_errcode(db) == SQLITE_NOMEM ? EB_NOMEM : EB_DB;
  return -1;
}

static int oom(ctx *c) {
  snprintf(c->err, c->errlen, "out of memory merging %s", c->in_path);
  c->rc = EB_NOMEM;
  return -1;
}

static int table_cols(ctx *c, sqlite3 *db, const char *table, cols *out) {
  char sql[96];
  snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
  sqlite3_stmt *st = NULL;
  out->n = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return fail(c, db, "reading the table layout");
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && out->n < MAX_COLS)
    snprintf(out->name[out->n++], sizeof out->name[0], "%s",
             (const char *)sqlite3_column_text(st, 1));
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return fail(c, db, "reading the table layout");
  return 0;
}

static int col_index(const cols *t, const char *name) {
  for (int i = 0; i < t->n; i++)
    if (!strcmp(t->name[i], name)) return i;
  return -1;
}

/* ------------------------------------------------------ fingerprint -- */

static void fnv(uint64_t *h, const void *p, size_t n) { *h = eb_fnv1a(*h, p, n); }

/* Hashes every column of every row of a prepared query, by type and bits. */
static int hash_rows(sqlite3_stmt *st, uint64_t *h) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    for (int i = 0; i < sqlite3_column_count(st); i++) {
      int t = sqlite3_column_type(st, i);
      fnv(h, &t, sizeof t);
      if (t == SQLITE_INTEGER) {
        int64_t v = sqlite3_column_int64(st, i);
        fnv(h, &v, sizeof v);
      } else if (t == SQLITE_FLOAT) {
        double v = sqlite3_column_double(st, i);
        fnv(h, &v, sizeof v);
      } else if (t != SQLITE_NULL) {
        const void *b = sqlite3_column_blob(st, i);
        int n = sqlite3_column_bytes(st, i);
        fnv(h, &n, sizeof n);
        if (n) fnv(h, b, (size_t)n);
      }
    }
    fnv(h, "\n", 1);
  }
  return rc == SQLITE_DONE ? 0 : rc;
}

/* The results of a run, not where or how fast it ran: status, sizes,
 * accuracies, and every eval and stat. */
static int fingerprint(ctx *c, sqlite3 *db, int64_t id, uint64_t *h) {
  static const char *const q[] = {
      "SELECT status, params_total, params_active, flops_train_step, best_step, "
      "steps_done, val_accuracy, test_accuracy FROM runs WHERE id=?1",
      "SELECT step, split, loss, accuracy FROM evals WHERE run_id=?1 "
      "ORDER BY split, step, rowid",
      "SELECT step, name, value FROM run_stats WHERE run_id=?1 ORDER BY name, step, "
      "rowid",
  };
  *h = EB_FNV_SEED;
  for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, q[i], -1, &st, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_bind_int64(st, 1, id);
      rc = hash_rows(st, h);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) return fail(c, db, "reading a run's results");
  }
  return 0;
}

/* ----------------------------------------------------------- suites -- */

typedef struct idmap {
  int64_t *from, *to;
  int n;
} idmap;

static int64_t map_id(const idmap *m, int64_t from) {
  for (int i = 0; i < m->n; i++)
    if (m->from[i] == from) return m->to[i];
  return 0;
}

static int merge_suites(ctx *c, idmap *m, eb_merge_summary *sum) {
  sqlite3_stmt *in = NULL, *up = NULL, *get = NULL;
  int rc = sqlite3_prepare_v2(c->in, "SELECT id, name, yaml, created_at FROM suites", -1,
                              &in, NULL);
  if (rc != SQLITE_OK) return fail(c, c->in, "reading the suites");
  int n = 0;
  while (sqlite3_step(in) == SQLITE_ROW)
    n++;
  sqlite3_reset(in);
  m->from = calloc((size_t)n + 1, sizeof *m->from);
  m->to = calloc((size_t)n + 1, sizeof *m->to);
  m->n = 0;
  if (!m->from || !m->to) {
    sqlite3_finalize(in);
    oom(c);
    return -1;
  }
  rc = sqlite3_prepare_v2(c->out,
                          "INSERT INTO suites(name, yaml, created_at) VALUES(?1, ?2, ?3) "
                          "ON CONFLICT(name) DO UPDATE SET "
                          "yaml=coalesce(suites.yaml, excluded.yaml)",
                          -1, &up, NULL);
  if (rc == SQLITE_OK)
    rc =
        sqlite3_prepare_v2(c->out, "SELECT id FROM suites WHERE name=?1", -1, &get, NULL);
  while (rc == SQLITE_OK && sqlite3_step(in) == SQLITE_ROW && m->n < n) {
    int before = sqlite3_total_changes(c->out);
    sqlite3_reset(up);
    sqlite3_bind_value(up, 1, sqlite3_column_value(in, 1));
    sqlite3_bind_value(up, 2, sqlite3_column_value(in, 2));
    sqlite3_bind_value(up, 3, sqlite3_column_value(in, 3));
    if (sqlite3_step(up) != SQLITE_DONE) {
      rc = SQLITE_ERROR;
      break;
    }
    sqlite3_reset(get);
    sqlite3_bind_value(get, 1, sqlite3_column_value(in, 1));
    if (sqlite3_step(get) != SQLITE_ROW) {
      rc = SQLITE_ERROR;
      break;
    }
    m->from[m->n] = sqlite3_column_int64(in, 0);
    m->to[m->n++] = sqlite3_column_int64(get, 0);
    int64_t created = sqlite3_last_insert_rowid(c->out);
    if (sqlite3_total_changes(c->out) > before && created == m->to[m->n - 1])
      sum->suites_added++;
  }
  sqlite3_finalize(in);
  sqlite3_finalize(up);
  sqlite3_finalize(get);
  return rc == SQLITE_OK ? 0 : fail(c, c->out, "merging the suites");
}

/* ------------------------------------------------------------- runs -- */

static int copy_children(ctx *c, int64_t from, int64_t to) {
  static const char *const q[][2] = {
      {"SELECT step, split, loss, accuracy, elapsed_s FROM evals WHERE run_id=?1 "
       "ORDER BY rowid",
       "INSERT INTO evals(run_id, step, split, loss, accuracy, elapsed_s) "
       "VALUES(?6, ?1, ?2, ?3, ?4, ?5)"},
      {"SELECT step, name, value FROM run_stats WHERE run_id=?1 ORDER BY rowid",
       "INSERT INTO run_stats(run_id, step, name, value) VALUES(?4, ?1, ?2, ?3)"},
  };
  for (size_t k = 0; k < 2; k++) {
    sqlite3_stmt *in = NULL, *ins = NULL;
    int rc = sqlite3_prepare_v2(c->in, q[k][0], -1, &in, NULL);
    if (rc != SQLITE_OK) return fail(c, c->in, "reading a run's evals and stats");
    rc = sqlite3_prepare_v2(c->out, q[k][1], -1, &ins, NULL);
    if (rc == SQLITE_OK) sqlite3_bind_int64(in, 1, from);
    while (rc == SQLITE_OK && sqlite3_step(in) == SQLITE_ROW) {
      int nc = sqlite3_column_count(in);
      sqlite3_reset(ins);
      for (int i = 0; i < nc; i++)
        sqlite3_bind_value(ins, i + 1, sqlite3_column_value(in, i));
      sqlite3_bind_int64(ins, nc + 1, to);
      if (sqlite3_step(ins) != SQLITE_DONE) rc = SQLITE_ERROR;
    }
    sqlite3_finalize(in);
    sqlite3_finalize(ins);
    if (rc != SQLITE_OK) return fail(c, c->out, "writing a run's evals and stats");
  }
  return 0;
}

/* The archived attempts of input run `from` (run_attempts and their
 * eval_attempts and run_stat_attempts, schema 9) copied to output run `to`,
 * in the columns both databases have. An attempt the output already holds
 * for that run (UNIQUE(run_id, attempt)) is kept as it is, so merging twice
 * changes nothing. An input from before attempts has none to copy. */
static int copy_attempts(ctx *c, int64_t from, int64_t to) {
  cols ic, oc;
  if (table_cols(c, c->in, "run_attempts", &ic) ||
      table_cols(c, c->out, "run_attempts", &oc))
    return -1;
  if (ic.n == 0 || oc.n == 0) return 0;
  eb_sbuf sb = {0}, ib = {0}; /* the SQL texts */
  char buf[160];
  eb_sb_add(&sb, "SELECT id");
  eb_sb_add(&ib, "INSERT OR IGNORE INTO run_attempts(run_id");
  int n = 0;
  for (int j = 0; j < oc.n; j++) {
    const char *name = oc.name[j];
    if (!strcmp(name, "id") || !strcmp(name, "run_id") || col_index(&ic, name) < 0)
      continue;
    snprintf(buf, sizeof buf, ", \"%s\"", name);
    eb_sb_add(&sb, "%s", buf);
    eb_sb_add(&ib, "%s", buf);
    n++;
  }
  eb_sb_add(&sb, " FROM run_attempts WHERE run_id=?1 ORDER BY attempt");
  eb_sb_add(&ib, ") VALUES(?1");
  for (int j = 0; j < n; j++) {
    snprintf(buf, sizeof buf, ", ?%d", j + 2);
    eb_sb_add(&ib, "%s", buf);
  }
  eb_sb_add(&ib, ")");
  char *sel = eb_sb_take(&sb), *ins = eb_sb_take(&ib);
  sqlite3_stmt *in = NULL, *put = NULL, *kin = NULL, *kput = NULL;
  int ret = 0;
  if (!sel || !ins) {
    oom(c);
    ret = -1;
  } else if (sqlite3_prepare_v2(c->in, sel, -1, &in, NULL) != SQLITE_OK) {
    ret = fail(c, c->in, "reading a run's archived attempts");
  } else if (sqlite3_prepare_v2(c->out, ins, -1, &put, NULL) != SQLITE_OK) {
    ret = fail(c, c->out, "preparing the merge of archived attempts");
  }
  free(sel);
  free(ins);
  static const char *const kids[][2] = {
      {"SELECT step, split, loss, accuracy, elapsed_s FROM eval_attempts "
       "WHERE attempt_id=?1 ORDER BY rowid",
       "INSERT INTO eval_attempts(attempt_id, step, split, loss, accuracy, elapsed_s) "
       "VALUES(?6, ?1, ?2, ?3, ?4, ?5)"},
      {"SELECT step, name, value FROM run_stat_attempts WHERE attempt_id=?1 "
       "ORDER BY rowid",
       "INSERT INTO run_stat_attempts(attempt_id, step, name, value) "
       "VALUES(?4, ?1, ?2, ?3)"},
  };
  int rc = SQLITE_ROW;
  if (!ret) sqlite3_bind_int64(in, 1, from);
  while (!ret && (rc = sqlite3_step(in)) == SQLITE_ROW) {
    sqlite3_reset(put);
    sqlite3_bind_int64(put, 1, to);
    for (int j = 0; j < n; j++)
      sqlite3_bind_value(put, j + 2, sqlite3_column_value(in, j + 1));
    if (sqlite3_step(put) != SQLITE_DONE) {
      ret = fail(c, c->out, "writing an archived attempt");
      break;
    }
    if (sqlite3_changes(c->out) == 0) continue; /* the output has this attempt */
    int64_t aid = sqlite3_last_insert_rowid(c->out);
    for (size_t k = 0; k < 2 && !ret; k++) {
      if (sqlite3_prepare_v2(c->in, kids[k][0], -1, &kin, NULL) != SQLITE_OK) {
        ret = fail(c, c->in, "reading an archived attempt's evals and stats");
      } else if (sqlite3_prepare_v2(c->out, kids[k][1], -1, &kput, NULL) != SQLITE_OK) {
        ret = fail(c, c->out, "writing an archived attempt's evals and stats");
      } else {
        sqlite3_bind_int64(kin, 1, sqlite3_column_int64(in, 0));
        int krc;
        while (!ret && (krc = sqlite3_step(kin)) == SQLITE_ROW) {
          int nc = sqlite3_column_count(kin);
          sqlite3_reset(kput);
          for (int i = 0; i < nc; i++)
            sqlite3_bind_value(kput, i + 1, sqlite3_column_value(kin, i));
          sqlite3_bind_int64(kput, nc + 1, aid);
          if (sqlite3_step(kput) != SQLITE_DONE)
            ret = fail(c, c->out, "writing an archived attempt's evals and stats");
        }
        if (!ret && krc != SQLITE_DONE)
          ret = fail(c, c->in, "reading an archived attempt's evals and stats");
      }
      sqlite3_finalize(kin);
      sqlite3_finalize(kput);
      kin = kput = NULL;
    }
  }
  if (!ret && rc != SQLITE_DONE)
    ret = fail(c, c->in, "reading a run's archived attempts");
  sqlite3_finalize(in);
  sqlite3_finalize(put);
  return ret;
}

/* env values of the input, the fallback for per-run machine columns of runs
 * written before those columns existed */
typedef struct envfb {
  const char *col, *key;
  char value[512];
  int has;
} envfb;

static void load_env(ctx *c, envfb *fb, int n) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(c->in, "SELECT value FROM env WHERE key=?1", -1, &st, NULL) !=
      SQLITE_OK)
    return;
  for (int i = 0; i < n; i++) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, fb[i].key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
      snprintf(fb[i].value, sizeof fb[i].value, "%s",
               (const char *)sqlite3_column_text(st, 0));
      fb[i].has = 1;
    }
  }
  sqlite3_finalize(st);
}

typedef struct runcopy {
  cols oc;           /* output runs columns; 0 is id */
  int src[MAX_COLS]; /* column of the input select per output column, -1 none */
  envfb fb[6];
  sqlite3_stmt *sel, *ins, *upd;
} runcopy;

/* Binds output column j of runs (ids, key and conflict_of aside) for the
 * current input row. */
static void bind_col(runcopy *r, sqlite3_stmt *st, int param, int j, const idmap *m,
                     const char *key, const char *conflict_of) {
  const char *name = r->oc.name[j];
  if (!strcmp(name, "suite_id")) {
    int64_t sid = sqlite3_column_type(r->sel, 1) == SQLITE_NULL
                      ? 0
                      : map_id(m, sqlite3_column_int64(r->sel, 1));
    if (sid)
      sqlite3_bind_int64(st, param, sid);
    else
      sqlite3_bind_null(st, param);
    return;
  }
  if (!strcmp(name, "run_key")) {
    sqlite3_bind_text(st, param, key, -1, SQLITE_TRANSIENT);
    return;
  }
  if (!strcmp(name, "conflict_of") && conflict_of) {
    sqlite3_bind_text(st, param, conflict_of, -1, SQLITE_TRANSIENT);
    return;
  }
  int s = r->src[j];
  if (s >= 0 && sqlite3_column_type(r->sel, s) != SQLITE_NULL) {
    sqlite3_bind_value(st, param, sqlite3_column_value(r->sel, s));
    return;
  }
  for (size_t f = 0; f < sizeof r->fb / sizeof r->fb[0]; f++)
    if (r->fb[f].has && !strcmp(r->fb[f].col, name)) {
      if (!strcmp(name, "cores"))
        sqlite3_bind_int64(st, param, atoll(r->fb[f].value));
      else
        sqlite3_bind_text(st, param, r->fb[f].value, -1, SQLITE_TRANSIENT);
      return;
    }
  sqlite3_bind_null(st, param);
}

static int prepare_runs(ctx *c, runcopy *r) {
  cols ic;
  if (table_cols(c, c->out, "runs", &r->oc) || table_cols(c, c->in, "runs", &ic))
    return -1;
  eb_sbuf sb = {0}, ib = {0}, ub = {0}; /* the SQL texts */
  eb_sb_add(&sb, "SELECT id, suite_id, run_key, status, finished_at");
  eb_sb_add(&ib, "INSERT INTO runs(");
  eb_sb_add(&ub, "UPDATE runs SET ");
  int nsel = 5;
  char buf[160];
  for (int j = 1; j < r->oc.n; j++) { /* 0 is id */
    const char *name = r->oc.name[j];
    r->src[j] = -1;
    if (col_index(&ic, name) >= 0) {
      snprintf(buf, sizeof buf, ", \"%s\"", name);
      eb_sb_add(&sb, "%s", buf);
      r->src[j] = nsel++;
    }
    snprintf(buf, sizeof buf, "%s\"%s\"", j > 1 ? ", " : "", name);
    eb_sb_add(&ib, "%s", buf);
    snprintf(buf, sizeof buf, "%s\"%s\"=?%d", j > 1 ? ", " : "", name, j);
    eb_sb_add(&ub, "%s", buf);
  }
  eb_sb_add(&sb, " FROM runs ORDER BY id");
  eb_sb_add(&ib, ") VALUES(");
  for (int j = 1; j < r->oc.n; j++) {
    snprintf(buf, sizeof buf, "%s?%d", j > 1 ? ", " : "", j);
    eb_sb_add(&ib, "%s", buf);
  }
  eb_sb_add(&ib, ")");
  snprintf(buf, sizeof buf, " WHERE id=?%d", r->oc.n);
  eb_sb_add(&ub, "%s", buf);
  char *sel = eb_sb_take(&sb), *ins = eb_sb_take(&ib), *upd = eb_sb_take(&ub);
  int rc = sel && ins && upd ? SQLITE_OK : SQLITE_NOMEM;
  if (rc == SQLITE_OK && sqlite3_prepare_v2(c->in, sel, -1, &r->sel, NULL) != SQLITE_OK)
    rc = fail(c, c->in, "reading the runs");
  else if (rc == SQLITE_OK &&
           (sqlite3_prepare_v2(c->out, ins, -1, &r->ins, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(c->out, upd, -1, &r->upd, NULL) != SQLITE_OK))
    rc = fail(c, c->out, "preparing the merge of runs");
  else if (rc == SQLITE_NOMEM)
    oom(c);
  free(sel);
  free(ins);
  free(upd);
  static const char *const fbk[][2] = {
      {"host", "host"},         {"cpu_model", "cpu_model"},
      {"cores", "cores"},       {"git_commit", "git_commit"},
      {"compiler", "compiler"}, {"c_flags", "flags"}};
  for (int f = 0; f < 6; f++) {
    r->fb[f].col = fbk[f][0];
    r->fb[f].key = fbk[f][1];
    r->fb[f].has = 0;
  }
  load_env(c, r->fb, 6);
  return rc == SQLITE_OK ? 0 : -1;
}

/* Writes the current input row as a new output row (key, conflict_of) or
 * over output row `over`, with its evals and stats. */
static int put_run(ctx *c, runcopy *r, const idmap *m, int64_t over, const char *key,
                   const char *conflict_of) {
  sqlite3_stmt *st = over ? r->upd : r->ins;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  for (int j = 1; j < r->oc.n; j++)
    bind_col(r, st, j, j, m, key, conflict_of);
  if (over) {
    sqlite3_bind_int64(st, r->oc.n, over);
    sqlite3_stmt *del = NULL;
    int rc = SQLITE_OK;
    for (int k = 0; rc == SQLITE_OK && k < 2; k++) {
      rc = sqlite3_prepare_v2(c->out,
                              k ? "DELETE FROM run_stats WHERE run_id=?1"
                                : "DELETE FROM evals WHERE run_id=?1",
                              -1, &del, NULL);
      if (rc == SQLITE_OK) {
        sqlite3_bind_int64(del, 1, over);
        rc = sqlite3_step(del) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
      }
      sqlite3_finalize(del);
    }
    if (rc != SQLITE_OK) return fail(c, c->out, "replacing a run");
  }
  if (sqlite3_step(st) != SQLITE_DONE) return fail(c, c->out, "writing a run");
  int64_t to = over ? over : sqlite3_last_insert_rowid(c->out);
  int64_t from = sqlite3_column_int64(r->sel, 0);
  return copy_children(c, from, to) || copy_attempts(c, from, to) ? -1 : 0;
}

static int is_unfinished(const unsigned char *status) {
  return status && (!strcmp((const char *)status, "running") ||
                    !strcmp((const char *)status, "pending"));
}

static int merge_runs(ctx *c, const idmap *m, eb_merge_prefer prefer,
                      eb_merge_summary *sum) {
  runcopy *r = calloc(1, sizeof *r);
  if (!r) {
    oom(c);
    return -1;
  }
  sqlite3_stmt *find = NULL;
  int ret = prepare_runs(c, r);
  if (!ret && sqlite3_prepare_v2(
                  c->out, "SELECT id, status, finished_at FROM runs WHERE run_key=?1", -1,
                  &find, NULL) != SQLITE_OK)
    ret = fail(c, c->out, "reading the runs");
  int rc = SQLITE_ROW;
  while (!ret && (rc = sqlite3_step(r->sel)) == SQLITE_ROW) {
    char key[256];
    snprintf(key, sizeof key, "%s", (const char *)sqlite3_column_text(r->sel, 2));
    const unsigned char *in_status = sqlite3_column_text(r->sel, 3);
    sqlite3_reset(find);
    sqlite3_bind_text(find, 1, key, -1, SQLITE_TRANSIENT);
    int frc = sqlite3_step(find);
    if (frc == SQLITE_DONE) { /* new key */
      ret = put_run(c, r, m, 0, key, NULL);
      sum->runs_added++;
      continue;
    }
    if (frc != SQLITE_ROW) {
      ret = fail(c, c->out, "reading the runs");
      break;
    }
    int64_t oid = sqlite3_column_int64(find, 0);
    int out_unfinished = is_unfinished(sqlite3_column_text(find, 1));
    char out_finished[40] = "";
    if (sqlite3_column_text(find, 2))
      snprintf(out_finished, sizeof out_finished, "%s",
               (const char *)sqlite3_column_text(find, 2));
    sqlite3_reset(find);
    if (is_unfinished(in_status) && !out_unfinished) {
      sum->runs_unfinished++;
      continue;
    }
    uint64_t hin, hout;
    if (fingerprint(c, c->in, sqlite3_column_int64(r->sel, 0), &hin) ||
        fingerprint(c, c->out, oid, &hout)) {
      ret = -1;
      break;
    }
    if (hin == hout) { /* the same results: the input's history may add attempts */
      ret = copy_attempts(c, sqlite3_column_int64(r->sel, 0), oid);
      sum->runs_same++;
      continue;
    }
    if (out_unfinished) {
      ret = put_run(c, r, m, oid, key, NULL);
      sum->runs_replaced++;
      continue;
    }
    if (prefer == EB_PREFER_FIRST) {
      sum->runs_resolved++;
      continue;
    }
    if (prefer == EB_PREFER_NEWEST) {
      const unsigned char *fin = sqlite3_column_text(r->sel, 4);
      if (fin && strcmp((const char *)fin, out_finished) > 0) {
        ret = put_run(c, r, m, oid, key, NULL);
        sum->runs_replaced++;
      }
      sum->runs_resolved++;
      continue;
    }
    /* a conflict: kept beside, under a key of its own results */
    char alt[300];
    snprintf(alt, sizeof alt, "%s~%016llx", key, (unsigned long long)hin);
    sqlite3_bind_text(find, 1, alt, -1, SQLITE_TRANSIENT);
    frc = sqlite3_step(find);
    sqlite3_reset(find);
    if (frc == SQLITE_ROW) { /* this version is already kept */
      sum->runs_same++;
      continue;
    }
    ret = put_run(c, r, m, 0, alt, key);
    sum->runs_conflicts++;
  }
  if (!ret && rc != SQLITE_DONE) ret = fail(c, c->in, "reading the runs");
  sqlite3_finalize(find);
  sqlite3_finalize(r->sel);
  sqlite3_finalize(r->ins);
  sqlite3_finalize(r->upd);
  free(r);
  return ret;
}

/* ------------------------------------------------------------ speed -- */

static int merge_speed(ctx *c, const idmap *m, eb_merge_summary *sum) {
  cols oc, ic;
  if (table_cols(c, c->out, "speed", &oc) || table_cols(c, c->in, "speed", &ic))
    return -1;
  eb_sbuf sb = {0}, ib = {0}; /* the SQL texts */
  char buf[200];
  eb_sb_add(&sb, "SELECT suite_id");
  eb_sb_add(&ib, "INSERT INTO speed(suite_id");
  int n = 1; /* parameters: 1 is suite_id */
  for (int j = 0; j < oc.n; j++) {
    const char *name = oc.name[j];
    if (!strcmp(name, "id") || !strcmp(name, "suite_id") || col_index(&ic, name) < 0)
      continue;
    snprintf(buf, sizeof buf, ", \"%s\"", name);
    eb_sb_add(&sb, "%s", buf);
    eb_sb_add(&ib, "%s", buf);
    n++;
  }
  eb_sb_add(&sb, " FROM speed ORDER BY id");
  eb_sb_add(&ib, ") SELECT ?1");
  for (int p = 2; p <= n; p++) {
    snprintf(buf, sizeof buf, ", ?%d", p);
    eb_sb_add(&ib, "%s", buf);
  }
  eb_sb_add(&ib, " WHERE NOT EXISTS(SELECT 1 FROM speed WHERE suite_id IS ?1");
  int p = 2;
  for (int j = 0; j < oc.n; j++) {
    const char *name = oc.name[j];
    if (!strcmp(name, "id") || !strcmp(name, "suite_id") || col_index(&ic, name) < 0)
      continue;
    snprintf(buf, sizeof buf, " AND \"%s\" IS ?%d", name, p++);
    eb_sb_add(&ib, "%s", buf);
  }
  eb_sb_add(&ib, ")");
  char *sel = eb_sb_take(&sb), *ins = eb_sb_take(&ib);
  sqlite3_stmt *in = NULL, *out = NULL;
  int ret = 0;
  if (!sel || !ins) {
    oom(c);
    ret = -1;
  } else if (sqlite3_prepare_v2(c->in, sel, -1, &in, NULL) != SQLITE_OK) {
    ret = fail(c, c->in, "reading the speed rows");
  } else if (sqlite3_prepare_v2(c->out, ins, -1, &out, NULL) != SQLITE_OK) {
    ret = fail(c, c->out, "preparing the merge of speed rows");
  }
  int rc = SQLITE_ROW;
  while (!ret && (rc = sqlite3_step(in)) == SQLITE_ROW) {
    sqlite3_reset(out);
    int64_t sid = sqlite3_column_type(in, 0) == SQLITE_NULL
                      ? 0
                      : map_id(m, sqlite3_column_int64(in, 0));
    if (sid)
      sqlite3_bind_int64(out, 1, sid);
    else
      sqlite3_bind_null(out, 1);
    for (int k = 1; k < n; k++)
      sqlite3_bind_value(out, k + 1, sqlite3_column_value(in, k));
    if (sqlite3_step(out) != SQLITE_DONE) {
      ret = fail(c, c->out, "writing a speed row");
      break;
    }
    if (sqlite3_changes(c->out) > 0)
      sum->speed_added++;
    else
      sum->speed_same++;
  }
  if (!ret && rc != SQLITE_DONE) ret = fail(c, c->in, "reading the speed rows");
  sqlite3_finalize(in);
  sqlite3_finalize(out);
  free(sel);
  free(ins);
  return ret;
}

static int merge_env(ctx *c) {
  sqlite3_stmt *in = NULL, *out = NULL;
  int ret = 0;
  if (sqlite3_prepare_v2(c->in, "SELECT key, value FROM env ORDER BY key", -1, &in,
                         NULL) != SQLITE_OK)
    return fail(c, c->in, "reading the env table");
  if (sqlite3_prepare_v2(c->out, "INSERT OR IGNORE INTO env(key, value) VALUES(?1, ?2)",
                         -1, &out, NULL) != SQLITE_OK)
    ret = fail(c, c->out, "writing the env table");
  while (!ret && sqlite3_step(in) == SQLITE_ROW) {
    sqlite3_reset(out);
    sqlite3_bind_value(out, 1, sqlite3_column_value(in, 0));
    sqlite3_bind_value(out, 2, sqlite3_column_value(in, 1));
    if (sqlite3_step(out) != SQLITE_DONE) ret = fail(c, c->out, "writing the env table");
  }
  sqlite3_finalize(in);
  sqlite3_finalize(out);
  return ret;
}

int eb_merge(eb_store *out, eb_store *const *in, int nin, eb_merge_prefer prefer,
             eb_merge_summary *sum, char *err, size_t errlen) {
  memset(sum, 0, sizeof *sum);
  ctx c = {eb_store_db(out), NULL, eb_store_path(out), NULL, err, errlen, EB_DB};
  if (sqlite3_exec(c.out, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
    fail(&c, c.out, "starting the merge");
    return c.rc;
  }
  int ret = 0;
  for (int i = 0; !ret && i < nin; i++) {
    c.in = eb_store_db(in[i]);
    c.in_path = eb_store_path(in[i]);
    /* one snapshot of each input for the whole of its copy */
    if (sqlite3_exec(c.in, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
      ret = fail(&c, c.in, "reading the database");
      break;
    }
    idmap m = {NULL, NULL, 0};
    ret = merge_suites(&c, &m, sum);
    if (!ret) ret = merge_runs(&c, &m, prefer, sum);
    if (!ret) ret = merge_speed(&c, &m, sum);
    if (!ret) ret = merge_env(&c);
    free(m.from);
    free(m.to);
    sqlite3_exec(c.in, "COMMIT", NULL, NULL, NULL);
  }
  if (!ret && sqlite3_exec(c.out, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    ret = fail(&c, c.out, "committing the merge");
  if (ret) {
    char keep[1024];
    snprintf(keep, sizeof keep, "%s", err);
    sqlite3_exec(c.out, "ROLLBACK", NULL, NULL, NULL);
    snprintf(err, errlen, "%s; nothing was merged, %s is as it was", keep, c.out_path);
  }
  return ret ? c.rc : EB_OK;
}
