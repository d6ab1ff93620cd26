#include "sources.h"

#include "util.h"

typedef struct srow {
  char *task, *kind, *label;
  int runs;
} srow;

static void rows_free(srow *r, int n) {
  for (int i = 0; i < n; i++) {
    free(r[i].task);
    free(r[i].kind);
    free(r[i].label);
  }
  free(r);
}

static char *dup_or_null(const char *s) {
  char *d = malloc(strlen(s) + 1);
  if (d) strcpy(d, s);
  return d;
}

void eb_suite_sources_free(eb_suite_sources *s) {
  for (int i = 0; i < s->n; i++) {
    free(s->v[i].task);
    free(s->v[i].text);
  }
  free(s->v);
  memset(s, 0, sizeof *s);
}

const eb_task_source *eb_suite_sources_find(const eb_suite_sources *s, const char *task) {
  for (int i = 0; s && task && i < s->n; i++)
    if (!strcmp(s->v[i].task, task)) return &s->v[i];
  return NULL;
}

int eb_suite_sources_load(sqlite3 *db, const char *dbpath, int64_t suite_id,
                          int allow_mix, eb_suite_sources *out, char *err,
                          size_t errlen) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = NULL;
  /* one row per (task, kind, label) in order of first appearance */
  if (sqlite3_prepare_v2(
          db,
          "SELECT task, coalesce(data_kind, 'unrecorded'), "
          "coalesce(data_label, 'source not recorded'), count(*), min(id) FROM runs "
          "WHERE suite_id=?1 AND conflict_of IS NULL AND (data_kind IS NOT NULL OR "
          "status IN ('done','timeout')) "
          "GROUP BY task, 2, 3 ORDER BY 5",
          -1, &st, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "%s: reading the data sources of runs failed (%s)", dbpath,
             sqlite3_errmsg(db));
    return EB_DB;
  }
  sqlite3_bind_int64(st, 1, suite_id);
  srow *rows = NULL;
  int n = 0, cap = 0, rc, oom = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == cap) {
      int nc = cap ? 2 * cap : 16;
      srow *r = realloc(rows, (size_t)nc * sizeof *r);
      if (!r) {
        oom = 1;
        break;
      }
      rows = r;
      cap = nc;
    }
    srow *r = &rows[n++];
    r->task = dup_or_null(col_text(st, 0));
    r->kind = dup_or_null(col_text(st, 1));
    r->label = dup_or_null(col_text(st, 2));
    r->runs = sqlite3_column_int(st, 3);
    if (!r->task || !r->kind || !r->label) oom = 1;
  }
  sqlite3_finalize(st);
  if (!oom && rc != SQLITE_DONE) {
    rows_free(rows, n);
    snprintf(err, errlen, "%s: reading the data sources of runs failed (%s)", dbpath,
             sqlite3_errmsg(db));
    return EB_DB;
  }
  int ret = EB_OK;
  for (int i = 0; !oom && !ret && i < n; i++) {
    if (eb_suite_sources_find(out, rows[i].task)) continue; /* done */
    /* every row of this task: distinct kinds and labels */
    int nk = 0;
    eb_sbuf text = {0}, why = {0};
    for (int j = i; j < n; j++) {
      if (strcmp(rows[j].task, rows[i].task)) continue;
      int seen = 0;
      for (int k = i; k < j; k++)
        if (!strcmp(rows[k].task, rows[i].task) && !strcmp(rows[k].kind, rows[j].kind))
          seen = 1;
      nk += !seen;
    }
    int first = 1;
    for (int j = i; j < n; j++) {
      if (strcmp(rows[j].task, rows[i].task)) continue;
      eb_sb_add(&text, "%s%s",
                first ? (nk > 1 ? "mixed sources: " : "") : (nk > 1 ? " + " : "; "),
                rows[j].label);
      eb_sb_add(&why, "%s%s (%s; %d run%s)", first ? "" : ", ", rows[j].kind,
                rows[j].label, rows[j].runs, rows[j].runs == 1 ? "" : "s");
      first = 0;
    }
    if (nk > 1 && !allow_mix) {
      snprintf(err, errlen,
               "task '%s': its runs come from %d kinds of data source, which one column "
               "would average together: %s. Report them apart (one suite or database "
               "per source), or pass --mix-sources to put them in one column anyway",
               rows[i].task, nk, why.p ? why.p : "?");
      ret = EB_INPUT;
    }
    free(why.p);
    if (ret) {
      free(text.p);
      break;
    }
    if (nk == 1 && !strcmp(rows[i].kind, "unrecorded")) { /* an older database */
      free(text.p);
      continue;
    }
    eb_task_source *v = realloc(out->v, (size_t)(out->n + 1) * sizeof *v);
    char *t = eb_sb_take(&text), *task = dup_or_null(rows[i].task);
    if (!v || !t || !task) {
      if (v) out->v = v;
      free(t);
      free(task);
      oom = 1;
      break;
    }
    out->v = v;
    out->v[out->n++] = (eb_task_source){task, nk, t};
    if (nk > 1) out->mixed = 1;
  }
  rows_free(rows, n);
  if (oom) {
    eb_suite_sources_free(out);
    snprintf(err, errlen, "out of memory reading the data sources of runs");
    return EB_NOMEM;
  }
  if (ret) eb_suite_sources_free(out);
  return ret;
}
