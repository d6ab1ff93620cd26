/* Small helpers shared by the report and plot writers (internal, not
 * installed): an ordered list of unique names and NULL-safe SQLite column
 * readers. The string builder is util/strbuf.h. */
#ifndef EFFBENCH_RESULTS_UTIL_H
#define EFFBENCH_RESULTS_UTIL_H

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

/* ---------------------------------------------------------- name lists -- */
typedef struct {
  char **v;
  int n, cap;
  int oom;
} names;

/* Index of name in a fixed table of n names (an option value), -1 if absent. */
static inline int name_index(const char *name, const char *const *table, int n) {
  for (int i = 0; name && i < n; i++)
    if (strcmp(name, table[i]) == 0) return i;
  return -1;
}

static inline int names_find(const names *l, const char *s) {
  for (int i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0) return i;
  return -1;
}

/* Index of s, appended when new; -1 (and oom set) on allocation failure. */
static inline int names_add(names *l, const char *s) {
  int i = names_find(l, s);
  if (i >= 0) return i;
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 8;
    char **v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) {
      l->oom = 1;
      return -1;
    }
    l->v = v;
    l->cap = cap;
  }
  char *c = strdup(s);
  if (!c) {
    l->oom = 1;
    return -1;
  }
  l->v[l->n] = c;
  return l->n++;
}

static inline void names_free(names *l) {
  for (int i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

/* ------------------------------------------------------------- columns -- */
static inline const char *col_text(sqlite3_stmt *st, int i) {
  const unsigned char *v = sqlite3_column_text(st, i);
  return v ? (const char *)v : "";
}

/* NULL reads as NaN */
static inline double col_real(sqlite3_stmt *st, int i) {
  return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static inline int names_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The suite to report or plot: `name`, or the most recently active one when
 * NULL (suites with runs or speed rows, latest activity first). 1 with *id and
 * found set; 0 when there is none, with err naming db_path and the suites
 * there are (alphabetically); -1 on an SQL failure (sqlite3_errmsg(db) says
 * why). */
static inline int find_suite(sqlite3 *db, const char *db_path, const char *name,
                             int64_t *id, char *found, size_t flen, char *err,
                             size_t errlen) {
  static const char *sql =
      "SELECT s.id, s.name FROM suites s WHERE EXISTS(SELECT 1 FROM runs r WHERE "
      "r.suite_id=s.id) OR EXISTS(SELECT 1 FROM speed p WHERE p.suite_id=s.id) "
      "ORDER BY max(coalesce((SELECT max(started_at) FROM runs r WHERE r.suite_id=s.id),"
      "''), coalesce((SELECT max(measured_at) FROM speed p WHERE p.suite_id=s.id), ''), "
      "s.created_at) DESC, s.id DESC";
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
  names all = {0};
  int rc, hit = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *n = col_text(st, 1);
    if (!hit && (!name || strcmp(n, name) == 0)) {
      *id = sqlite3_column_int64(st, 0);
      snprintf(found, flen, "%s", n);
      hit = 1;
    }
    names_add(&all, n);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE || hit) {
    names_free(&all);
    return rc != SQLITE_DONE ? -1 : 1;
  }
  if (all.n) qsort(all.v, (size_t)all.n, sizeof *all.v, names_cmp);
  eb_sbuf b = {0};
  for (int i = 0; i < all.n; i++)
    eb_sb_add(&b, "%s%s", i ? ", " : "", all.v[i]);
  if (name)
    snprintf(err, errlen, "no runs for suite '%s' in %s (suites: %s)", name, db_path,
             all.n ? b.p : "none");
  else
    snprintf(err, errlen, "no runs in %s (suites: none): run a suite first", db_path);
  free(b.p);
  names_free(&all);
  return 0;
}

/* The reference arch of a report or figure (--baseline) must be one of the
 * suite's: its runs (main.runs, past any temporary view) or speed rows. 1
 * when it is; 0 when not, with err naming the suite, db_path and the archs
 * there are (alphabetically); -1 on an SQL failure (sqlite3_errmsg(db) says
 * why). */
static inline int find_baseline(sqlite3 *db, const char *db_path, int64_t suite_id,
                                const char *suite, const char *baseline, char *err,
                                size_t errlen) {
  static const char *sql =
      "SELECT arch FROM main.runs WHERE suite_id=?1 AND conflict_of IS NULL "
      "UNION SELECT arch FROM main.speed WHERE suite_id=?1 ORDER BY 1";
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
  sqlite3_bind_int64(st, 1, suite_id);
  eb_sbuf b = {0};
  int rc, hit = 0, n = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *a = col_text(st, 0);
    hit |= strcmp(a, baseline) == 0;
    eb_sb_add(&b, "%s%s", n++ ? ", " : "", a);
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE && !hit)
    snprintf(err, errlen, "baseline '%s' is not an arch of suite '%s' in %s (archs: %s)",
             baseline, suite, db_path, n && b.p ? b.p : "none");
  free(b.p);
  return rc != SQLITE_DONE ? -1 : hit;
}

#endif
