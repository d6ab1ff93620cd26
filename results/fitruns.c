/* From runs to scaling fits (see fitruns.h): one query, points grouped per
 * (arch, task), then eb_powfit_fit and the bootstrap per cell. */
#include "fitruns.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const METRIC_NAMES[] = {"loss", "error"};

const char *eb_fit_metric_name(eb_fit_metric m) {
  return (unsigned)m <= EB_FIT_ERROR ? METRIC_NAMES[m] : "?";
}

int eb_fit_metric_parse(const char *name, eb_fit_metric *m) {
  int i = name_index(name, METRIC_NAMES, 2);
  if (i >= 0) *m = (eb_fit_metric)i;
  return i < 0 ? -1 : 0;
}

typedef struct {
  int arch, task;
  int64_t seed;
  double C, y; /* NaN = left out */
} frow;

void eb_fit_set_free(eb_fit_set *s) {
  for (int i = 0; s && i < s->n; i++) {
    free(s->cell[i].arch);
    free(s->cell[i].task);
    free(s->cell[i].C);
    free(s->cell[i].y);
    free(s->cell[i].grp);
  }
  if (s) {
    free(s->cell);
    memset(s, 0, sizeof *s);
  }
}

/* The points of rows[] that belong to (a, t) into cell c, then its fit. */
static int fill_cell(eb_fit_cell *c, const frow *rows, int nrows, int a, int t,
                     int resamples) {
  int k = 0;
  for (int i = 0; i < nrows; i++)
    if (rows[i].arch == a && rows[i].task == t) k++;
  c->C = malloc((size_t)(k ? k : 1) * sizeof *c->C);
  c->y = malloc((size_t)(k ? k : 1) * sizeof *c->y);
  c->grp = malloc((size_t)(k ? k : 1) * sizeof *c->grp);
  int64_t *seeds = malloc((size_t)(k ? k : 1) * sizeof *seeds);
  if (!c->C || !c->y || !c->grp || !seeds) {
    free(seeds);
    return -1;
  }
  c->cmin = INFINITY;
  c->cmax = 0;
  for (int i = 0; i < nrows; i++) {
    const frow *r = &rows[i];
    if (r->arch != a || r->task != t) continue;
    c->runs++;
    if (!(r->C > 0) || isnan(r->y)) {
      c->left_out++;
      continue;
    }
    int g = 0;
    while (g < c->nseeds && seeds[g] != r->seed)
      g++;
    if (g == c->nseeds) seeds[c->nseeds++] = r->seed;
    c->C[c->n] = r->C;
    c->y[c->n] = r->y;
    c->grp[c->n++] = g;
    if (r->C < c->cmin) c->cmin = r->C;
    if (r->C > c->cmax) c->cmax = r->C;
  }
  free(seeds);
  c->rc = eb_powfit_fit(c->C, c->y, c->n, &c->fit, c->why, sizeof c->why);
  if (c->rc == EB_FIT_ERR_NOMEM) return -1;
  c->ci_rc = 1;
  memset(&c->ci, 0, sizeof c->ci);
  if (c->rc == 0 && resamples > 0) {
    c->ci_rc = eb_powfit_bootstrap(c->C, c->y, c->grp, c->n, c->nseeds, resamples,
                                   EB_FIT_RNG_SEED, &c->ci, c->ci_why, sizeof c->ci_why);
    if (c->ci_rc == EB_FIT_ERR_NOMEM) return -1;
  }
  return 0;
}

int eb_fit_set_load(sqlite3 *db, const char *db_path, int64_t suite_id,
                    const char *baseline, eb_fit_metric m, int resamples, eb_fit_set *out,
                    char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  static const char *sql =
      "SELECT r.arch, r.task, r.seed, r.model_flops_train_step * r.steps_done, "
      " r.test_accuracy, (SELECT e.loss FROM evals e WHERE e.run_id=r.id AND "
      " e.split='test' ORDER BY e.step DESC LIMIT 1) "
      "FROM runs r WHERE r.suite_id=?1 AND r.conflict_of IS NULL AND "
      "r.status IN ('done', 'timeout') ORDER BY r.id";
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "%s: reading runs for the fits failed (%s)", db_path,
             sqlite3_errmsg(db));
    return EB_DB;
  }
  sqlite3_bind_int64(st, 1, suite_id);
  names archs = {0}, tasks = {0};
  frow *rows = NULL;
  int nrows = 0, cap = 0, rc, ret = 0, oom = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (nrows == cap) {
      cap = cap ? 2 * cap : 64;
      frow *r = realloc(rows, (size_t)cap * sizeof *r);
      if (!r) {
        oom = 1;
        break;
      }
      rows = r;
    }
    frow *r = &rows[nrows];
    r->arch = names_add(&archs, col_text(st, 0));
    r->task = names_add(&tasks, col_text(st, 1));
    if (r->arch < 0 || r->task < 0) {
      oom = 1;
      break;
    }
    r->seed = sqlite3_column_int64(st, 2);
    r->C = col_real(st, 3);
    double acc = col_real(st, 4);
    r->y = m == EB_FIT_ERROR ? 1 - acc : col_real(st, 5);
    nrows++;
  }
  sqlite3_finalize(st);
  if (!oom && rc != SQLITE_DONE) {
    snprintf(err, errlen, "%s: reading runs for the fits failed (%s)", db_path,
             sqlite3_errmsg(db));
    ret = EB_DB;
    goto done;
  }
  if (oom || archs.oom || tasks.oom) goto nomem;
  /* the baseline first, then archs in order of appearance */
  int v = names_find(&archs, baseline ? baseline : "vanilla");
  for (int pass = 0; pass < 2; pass++)
    for (int a = 0; a < archs.n; a++) {
      if ((pass == 0) != (a == v)) continue;
      for (int t = 0; t < tasks.n; t++) {
        int any = 0;
        for (int i = 0; i < nrows && !any; i++)
          any = rows[i].arch == a && rows[i].task == t;
        if (!any) continue;
        eb_fit_cell *c2 = realloc(out->cell, (size_t)(out->n + 1) * sizeof *c2);
        if (!c2) goto nomem;
        out->cell = c2;
        eb_fit_cell *c = &out->cell[out->n++];
        memset(c, 0, sizeof *c);
        c->arch = strdup(archs.v[a]);
        c->task = strdup(tasks.v[t]);
        if (!c->arch || !c->task || fill_cell(c, rows, nrows, a, t, resamples))
          goto nomem;
      }
    }
  goto done;
nomem:
  snprintf(err, errlen, "out of memory fitting the scaling laws");
  ret = EB_NOMEM;
done:
  if (ret) eb_fit_set_free(out);
  free(rows);
  names_free(&archs);
  names_free(&tasks);
  return ret;
}
