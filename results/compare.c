#include "compare.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "json.h"
#include "util.h"

/* -------------------------------------------------------- statistics ---- */

/* Continued fraction of the incomplete beta function (modified Lentz). */
static double beta_cf(double a, double b, double x) {
  const double tiny = 1e-300;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  if (fabs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 500; m++) {
    double m2 = 2.0 * m;
    double num = m * (b - m) * x / ((a - 1 + m2) * (a + m2));
    d = 1 + num * d;
    c = 1 + num / c;
    if (fabs(d) < tiny) d = tiny;
    if (fabs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1 + m2));
    d = 1 + num * d;
    c = 1 + num / c;
    if (fabs(d) < tiny) d = tiny;
    if (fabs(c) < tiny) c = tiny;
    d = 1 / d;
    double step = d * c;
    h *= step;
    if (fabs(step - 1) < 1e-15) break;
  }
  return h;
}

/* Regularized incomplete beta I_x(a, b). */
static double inc_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * beta_cf(a, b, x) / a;
  return 1 - front * beta_cf(b, a, 1 - x) / b;
}

double eb_welch_p(double m1, double s1, int n1, double m2, double s2, int n2) {
  if (n1 < 2 || n2 < 2 || isnan(m1) || isnan(m2) || isnan(s1) || isnan(s2)) return NAN;
  double v1 = s1 * s1 / n1, v2 = s2 * s2 / n2, se2 = v1 + v2;
  if (se2 <= 0) return m1 == m2 ? 1.0 : 0.0;
  double t = (m2 - m1) / sqrt(se2);
  double df = se2 * se2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1));
  /* two-sided tail of Student's t with df degrees of freedom */
  return inc_beta(df / 2, 0.5, df / (df + t * t));
}

/* ------------------------------------------------------------ groups ---- */

typedef struct side {
  int present; /* the database has rows of this group */
  int runs;    /* accuracy: runs of any status */
  int n;       /* accuracy: done runs; speed: timed steps (0: unknown) */
  double mean, m2, std;
  double median;   /* speed: the row's median step time */
  char status[16]; /* speed: the latest row's */
  int batch, threads;
  double mem; /* bytes; NaN: unknown */
} side;

typedef struct group {
  int speed; /* 0: accuracy (arch, variant, task); 1: speed (arch, task, len, mode) */
  char *arch, *variant, *task;
  int len;
  char mode[8];
  side s[2]; /* 0 = BASE, 1 = NEW */
  /* derived */
  double ratio, p;
  const char *verdict;
  char why[96];
  int regression;
  double mem_ratio;
  const char *mem_verdict;
  int mem_regression;
} group;

typedef struct glist {
  group *v;
  int n, cap;
} glist;

static void glist_free(glist *l) {
  for (int i = 0; i < l->n; i++) {
    free(l->v[i].arch);
    free(l->v[i].variant);
    free(l->v[i].task);
  }
  free(l->v);
}

static group *find_group(glist *l, int speed, const char *arch, const char *variant,
                         const char *task, int len, const char *mode) {
  for (int i = 0; i < l->n; i++) {
    group *g = &l->v[i];
    if (g->speed == speed && !strcmp(g->arch, arch) && !strcmp(g->variant, variant) &&
        !strcmp(g->task, task) && g->len == len && !strcmp(g->mode, mode))
      return g;
  }
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    group *v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) return NULL;
    l->v = v;
    l->cap = cap;
  }
  group *g = &l->v[l->n];
  memset(g, 0, sizeof *g);
  g->speed = speed;
  g->arch = strdup(arch);
  g->variant = strdup(variant);
  g->task = strdup(task);
  g->len = len;
  snprintf(g->mode, sizeof g->mode, "%s", mode);
  if (!g->arch || !g->variant || !g->task) {
    free(g->arch);
    free(g->variant);
    free(g->task);
    return NULL;
  }
  l->n++;
  return g;
}

static int load(eb_store *st, int which, const char *suite, glist *l, char *err,
                size_t errlen) {
  sqlite3 *db = eb_store_db(st);
  /* speed statistics exist from schema 6; an older BASE has the median only */
  int stats = eb_store_schema_version(st) >= 5;
  const char *sql[2] = {
      "SELECT r.arch, r.task, coalesce(json_extract(r.config_json, '$.arch_params'), "
      "'{}'), r.status, r.test_accuracy FROM runs r LEFT JOIN suites s ON "
      "s.id = r.suite_id WHERE ?1 IS NULL OR s.name = ?1 ORDER BY r.id",
      stats ? "SELECT p.arch, coalesce(p.task, ''), p.seq_len, p.mode, p.status, "
              "p.batch, p.threads, p.step_ms_n, p.step_ms_mean, p.step_ms_std, "
              "p.peak_mem_bytes, p.step_ms_median FROM speed p LEFT "
              "JOIN suites s ON s.id = p.suite_id WHERE ?1 IS NULL OR s.name = ?1 "
              "ORDER BY p.id"
            : "SELECT p.arch, coalesce(p.task, ''), p.seq_len, p.mode, p.status, "
              "p.batch, p.threads, NULL, NULL, NULL, p.peak_mem_bytes, "
              "p.step_ms_median FROM speed p LEFT JOIN suites s ON s.id = p.suite_id "
              "WHERE ?1 IS NULL "
              "OR s.name = ?1 ORDER BY p.id"};
  for (int k = 0; k < 2; k++) {
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, sql[k], -1, &q, NULL);
    if (rc == SQLITE_OK && suite) sqlite3_bind_text(q, 1, suite, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
      if ((rc = sqlite3_step(q)) != SQLITE_ROW) break;
      group *g;
      if (k == 0)
        g = find_group(l, 0, col_text(q, 0), col_text(q, 2), col_text(q, 1), 0, "");
      else
        g = find_group(l, 1, col_text(q, 0), "", col_text(q, 1), sqlite3_column_int(q, 2),
                       col_text(q, 3));
      if (!g) {
        sqlite3_finalize(q);
        snprintf(err, errlen, "out of memory comparing %s", eb_store_path(st));
        return EB_NOMEM;
      }
      side *s = &g->s[which];
      s->present = 1;
      if (k == 0) {
        s->runs++;
        double acc = col_real(q, 4);
        if (!strcmp(col_text(q, 3), "done") && !isnan(acc)) { /* Welford */
          s->n++;
          double d = acc - s->mean;
          s->mean += d / s->n;
          s->m2 += d * (acc - s->mean);
        }
        s->std = s->n > 1 ? sqrt(s->m2 / (s->n - 1)) : NAN;
      } else { /* the latest row wins */
        snprintf(s->status, sizeof s->status, "%s", col_text(q, 4));
        s->batch = sqlite3_column_int(q, 5);
        s->threads = sqlite3_column_int(q, 6);
        s->n = sqlite3_column_int(q, 7); /* NULL (before schema 6) reads 0 */
        s->mean = col_real(q, 8);
        s->std = col_real(q, 9);
        s->mem = col_real(q, 10);
        s->median = col_real(q, 11);
      }
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
      snprintf(err, errlen, "%s: reading %s failed (%s)", eb_store_path(st),
               k ? "speed rows" : "runs", sqlite3_errmsg(db));
      return EB_DB;
    }
  }
  return EB_OK;
}

/* ----------------------------------------------------------- verdicts ---- */

static void judge_test(group *g, const eb_cmp_opts *o, int higher_is_worse) {
  const side *b = &g->s[0], *n = &g->s[1];
  g->ratio = b->mean != 0 ? n->mean / b->mean : NAN;
  if (b->n < 2 || n->n < 2) {
    g->verdict = "n too small";
    return;
  }
  g->p = eb_welch_p(b->mean, b->std, b->n, n->mean, n->std, n->n);
  double change = b->mean != 0 ? fabs(n->mean - b->mean) / fabs(b->mean)
                               : (n->mean != b->mean ? INFINITY : 0);
  if (!(g->p < o->alpha) || change < o->min_change) {
    g->verdict = "within noise";
    return;
  }
  int worse = higher_is_worse ? n->mean > b->mean : n->mean < b->mean;
  g->verdict = worse ? "regression" : "improvement";
  g->regression = worse;
}

static void judge(group *g, const eb_cmp_opts *o) {
  side *b = &g->s[0], *n = &g->s[1];
  g->ratio = g->p = g->mem_ratio = NAN;
  g->verdict = g->mem_verdict = NULL;
  for (int k = 0; k < 2 && !g->speed; k++)
    if (!g->s[k].n) g->s[k].mean = NAN; /* no done run: no accuracy */
  if (!b->present || !n->present) {
    g->verdict = g->mem_verdict = b->present ? "only in BASE" : "only in NEW";
    return;
  }
  if (!g->speed) {
    if (!b->n && !n->n)
      g->verdict = "no done run";
    else if (!n->n) {
      g->verdict = "NEW: no done run";
      g->regression = 1;
    } else if (!b->n)
      g->verdict = "BASE: no done run";
    else
      judge_test(g, o, 0);
    return;
  }
  int bd = !strcmp(b->status, "done"), nd = !strcmp(n->status, "done");
  if (!bd || !nd) {
    snprintf(g->why, sizeof g->why, "%s%s%s%s", bd ? "" : "BASE: ", bd ? "" : b->status,
             !bd && !nd ? ", " : "", nd ? "" : "NEW: ");
    if (!nd)
      snprintf(g->why + strlen(g->why), sizeof g->why - strlen(g->why), "%s", n->status);
    g->verdict = g->mem_verdict = g->why;
    g->regression = bd && !nd; /* counted once, on the speed row */
    return;
  }
  if (b->batch != n->batch || b->threads != n->threads) {
    snprintf(g->why, sizeof g->why, "not comparable (batch %d vs %d, threads %d vs %d)",
             b->batch, n->batch, b->threads, n->threads);
    g->verdict = g->mem_verdict = g->why;
    return;
  }
  if (b->n < 1 || n->n < 1 || isnan(b->mean) || isnan(n->mean))
    for (int k = 0; k < 2; k++) { /* a row without statistics (before schema 6):
                                     compare medians, like for like */
      g->s[k].mean = g->s[k].median;
      g->s[k].std = NAN;
    }
  judge_test(g, o, 1);
  if (isnan(b->mem) || isnan(n->mem) || b->mem <= 0) {
    g->mem_verdict = "unknown";
    return;
  }
  g->mem_ratio = n->mem / b->mem;
  if (g->mem_ratio > 1 + o->min_change) {
    g->mem_verdict = "regression";
    g->mem_regression = 1;
  } else if (g->mem_ratio < 1 - o->min_change)
    g->mem_verdict = "improvement";
  else
    g->mem_verdict = "same";
}

/* ------------------------------------------------------------ writers ---- */

static void md_num(FILE *f, const char *fmt, double v, double scale) {
  if (isnan(v))
    fputs(" —", f);
  else {
    fputc(' ', f);
    fprintf(f, fmt, v * scale);
  }
}

static void md_cell(FILE *f, const side *s, double scale, const char *fmt) {
  fputs(" |", f);
  if (!s->present || isnan(s->mean)) {
    fputs(" —", f);
    return;
  }
  md_num(f, fmt, s->mean, scale);
  if (!isnan(s->std)) {
    fputs(" ±", f);
    md_num(f, fmt, s->std, scale);
  }
}

static void md_n(FILE *f, const side *s) {
  if (s->present && s->n > 0)
    fprintf(f, " | %d", s->n);
  else
    fputs(" | —", f);
}

static void write_md(FILE *f, const glist *l, const eb_cmp_opts *o, int nreg) {
  fprintf(f, "# effbench compare\n\nBASE: %s  \nNEW: %s  \n", o->base_label,
          o->new_label);
  if (o->suite) fprintf(f, "suite: %s  \n", o->suite);
  fprintf(f,
          "regression: NEW worse than BASE by Welch's t-test (two-sided p < %g) and by "
          "at least %g%% of BASE; n < 2 on either side: \"n too small\"; memory: more "
          "than %g%% larger\n",
          o->alpha, 100 * o->min_change, 100 * o->min_change);
  int any = 0;
  for (int i = 0; i < l->n; i++)
    any |= !l->v[i].speed;
  if (any) {
    fputs("\n## Accuracy (test %, mean ± std over seeds)\n\n"
          "| arch | variant | task | BASE | n | NEW | n | NEW/BASE | p | verdict |\n"
          "|---|---|---|---|---|---|---|---|---|---|\n",
          f);
    for (int i = 0; i < l->n; i++) {
      const group *g = &l->v[i];
      if (g->speed) continue;
      fprintf(f, "| %s | %s | %s", g->arch, strcmp(g->variant, "{}") ? g->variant : "",
              g->task);
      md_cell(f, &g->s[0], 100, "%.2f");
      md_n(f, &g->s[0]);
      md_cell(f, &g->s[1], 100, "%.2f");
      md_n(f, &g->s[1]);
      fputs(" |", f);
      md_num(f, "%.3f", g->ratio, 1);
      fputs(" |", f);
      md_num(f, "%.3g", g->p, 1);
      fprintf(f, " | %s%s%s |\n", g->regression ? "**" : "", g->verdict,
              g->regression ? "**" : "");
    }
  }
  any = 0;
  for (int i = 0; i < l->n; i++)
    any |= l->v[i].speed;
  if (any) {
    fputs(
        "\n## Speed (ms per step, mean ± std over timed steps)\n\n"
        "| arch | task | length | mode | BASE | n | NEW | n | NEW/BASE | p | verdict |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n",
        f);
    for (int i = 0; i < l->n; i++) {
      const group *g = &l->v[i];
      if (!g->speed) continue;
      fprintf(f, "| %s | %s | %d | %s", g->arch, g->task, g->len, g->mode);
      md_cell(f, &g->s[0], 1, "%.4g");
      md_n(f, &g->s[0]);
      md_cell(f, &g->s[1], 1, "%.4g");
      md_n(f, &g->s[1]);
      fputs(" |", f);
      md_num(f, "%.3f", g->ratio, 1);
      fputs(" |", f);
      md_num(f, "%.3g", g->p, 1);
      fprintf(f, " | %s%s%s |\n", g->regression ? "**" : "", g->verdict,
              g->regression ? "**" : "");
    }
    fputs("\n## Memory (peak MiB)\n\n"
          "| arch | task | length | mode | BASE | NEW | NEW/BASE | verdict |\n"
          "|---|---|---|---|---|---|---|---|\n",
          f);
    for (int i = 0; i < l->n; i++) {
      const group *g = &l->v[i];
      if (!g->speed) continue;
      fprintf(f, "| %s | %s | %d | %s |", g->arch, g->task, g->len, g->mode);
      md_num(f, "%.2f", g->s[0].present ? g->s[0].mem : NAN, 1.0 / 1048576);
      fputs(" |", f);
      md_num(f, "%.2f", g->s[1].present ? g->s[1].mem : NAN, 1.0 / 1048576);
      fputs(" |", f);
      md_num(f, "%.3f", g->mem_ratio, 1);
      fprintf(f, " | %s%s%s |\n", g->mem_regression ? "**" : "", g->mem_verdict,
              g->mem_regression ? "**" : "");
    }
  }
  fprintf(f, "\n%d regression%s\n", nreg, nreg == 1 ? "" : "s");
}

static void csv_str(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\n")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void csv_num(FILE *f, double v) {
  fputc(',', f);
  if (!isnan(v)) fprintf(f, "%.9g", v);
}

/* One output row: a table (accuracy, speed, memory) of a group. */
typedef struct orow {
  const char *table;
  double bm, bs, nm, ns; /* means and stds (NaN: none) */
  int bn, nn;            /* n (0: none) */
  double ratio, p;
  const char *verdict;
  int regression;
} orow;

static int rows_of(const group *g, orow out[2]) {
  const side *b = &g->s[0], *n = &g->s[1];
  if (!g->speed) {
    out[0] = (orow){"accuracy",
                    b->present ? b->mean : NAN,
                    b->present ? b->std : NAN,
                    n->present ? n->mean : NAN,
                    n->present ? n->std : NAN,
                    b->n,
                    n->n,
                    g->ratio,
                    g->p,
                    g->verdict,
                    g->regression};
    return 1;
  }
  out[0] = (orow){"speed",
                  b->present ? b->mean : NAN,
                  b->present ? b->std : NAN,
                  n->present ? n->mean : NAN,
                  n->present ? n->std : NAN,
                  b->n,
                  n->n,
                  g->ratio,
                  g->p,
                  g->verdict,
                  g->regression};
  out[1] = (orow){"memory",
                  b->present ? b->mem : NAN,
                  NAN,
                  n->present ? n->mem : NAN,
                  NAN,
                  0,
                  0,
                  g->mem_ratio,
                  NAN,
                  g->mem_verdict,
                  g->mem_regression};
  return 2;
}

static void write_csv(FILE *f, const glist *l) {
  fputs("table,arch,variant,task,seq_len,mode,base_n,base_mean,base_std,new_n,new_mean,"
        "new_std,ratio,p,verdict,regression\n",
        f);
  for (int i = 0; i < l->n; i++) {
    const group *g = &l->v[i];
    orow r[2];
    int k = rows_of(g, r);
    for (int j = 0; j < k; j++) {
      fprintf(f, "%s,", r[j].table);
      csv_str(f, g->arch);
      fputc(',', f);
      csv_str(f, g->speed ? "" : g->variant);
      fputc(',', f);
      csv_str(f, g->task);
      if (g->speed)
        fprintf(f, ",%d,%s", g->len, g->mode);
      else
        fputs(",,", f);
      fputc(',', f);
      if (r[j].bn) fprintf(f, "%d", r[j].bn);
      csv_num(f, r[j].bm);
      csv_num(f, r[j].bs);
      fputc(',', f);
      if (r[j].nn) fprintf(f, "%d", r[j].nn);
      csv_num(f, r[j].nm);
      csv_num(f, r[j].ns);
      csv_num(f, r[j].ratio);
      csv_num(f, r[j].p);
      fputc(',', f);
      csv_str(f, r[j].verdict);
      fprintf(f, ",%d\n", r[j].regression);
    }
  }
}

/* a side's n (0: none, null), mean and std */
static void json_side(eb_json *w, const char *side, int n, double mean, double std) {
  eb_json_key(w, side);
  eb_json_open(w, '{');
  eb_json_key(w, "n");
  eb_json_num(w, "%.9g", n ? n : NAN);
  eb_json_key(w, "mean");
  eb_json_num(w, "%.9g", mean);
  eb_json_key(w, "std");
  eb_json_num(w, "%.9g", std);
  eb_json_close(w);
}

/* EB_OK, or EB_NOMEM */
static int write_json(FILE *f, const glist *l, const eb_cmp_opts *o, int nreg) {
  eb_sbuf b = {0};
  eb_json w;
  eb_json_init(&w, &b);
  eb_json_open(&w, '{');
  eb_json_key(&w, "base");
  eb_json_string(&w, o->base_label);
  eb_json_key(&w, "new");
  eb_json_string(&w, o->new_label);
  eb_json_key(&w, "suite");
  eb_json_string(&w, o->suite); /* NULL: null */
  eb_json_key(&w, "alpha");
  eb_json_rawf(&w, "%g", o->alpha);
  eb_json_key(&w, "min_change");
  eb_json_rawf(&w, "%g", o->min_change);
  eb_json_key(&w, "regressions");
  eb_json_int(&w, nreg);
  eb_json_key(&w, "rows");
  eb_json_open(&w, '[');
  for (int i = 0; i < l->n; i++) {
    const group *g = &l->v[i];
    orow r[2];
    int k = rows_of(g, r);
    for (int j = 0; j < k; j++) {
      eb_json_next(&w); /* one row a line */
      eb_sb_add(&b, "\n");
      eb_json_open(&w, '{');
      eb_json_key(&w, "table");
      eb_json_string(&w, r[j].table);
      eb_json_key(&w, "arch");
      eb_json_string(&w, g->arch);
      if (!g->speed) {
        eb_json_key(&w, "variant");
        eb_json_string(&w, g->variant);
      }
      eb_json_key(&w, "task");
      eb_json_string(&w, g->task);
      if (g->speed) {
        eb_json_key(&w, "seq_len");
        eb_json_int(&w, g->len);
        eb_json_key(&w, "mode");
        eb_json_string(&w, g->mode);
      }
      json_side(&w, "base", r[j].bn, r[j].bm, r[j].bs);
      json_side(&w, "new", r[j].nn, r[j].nm, r[j].ns);
      eb_json_key(&w, "ratio");
      eb_json_num(&w, "%.9g", r[j].ratio);
      eb_json_key(&w, "p");
      eb_json_num(&w, "%.9g", r[j].p);
      eb_json_key(&w, "verdict");
      eb_json_string(&w, r[j].verdict);
      eb_json_key(&w, "regression");
      eb_json_bool(&w, r[j].regression);
      eb_json_close(&w);
    }
  }
  eb_sb_add(&b, "\n");
  eb_json_close(&w);
  eb_json_close(&w);
  eb_sb_add(&b, "\n");
  char *text = eb_sb_take(&b);
  if (!text) return EB_NOMEM;
  fputs(text, f);
  free(text);
  return EB_OK;
}

int eb_compare(eb_store *base, eb_store *new_, const eb_cmp_opts *o, FILE *out,
               int *regressions, char *err, size_t errlen) {
  glist l = {0};
  *regressions = 0;
  int rc = load(base, 0, o->suite, &l, err, errlen);
  if (!rc) rc = load(new_, 1, o->suite, &l, err, errlen);
  if (!rc && l.n == 0) {
    snprintf(err, errlen, "no runs or speed rows%s%s%s in %s or %s",
             o->suite ? " of suite '" : "", o->suite ? o->suite : "", o->suite ? "'" : "",
             eb_store_path(base), eb_store_path(new_));
    rc = EB_NOTFOUND;
  }
  if (!rc) {
    for (int i = 0; i < l.n; i++) {
      judge(&l.v[i], o);
      *regressions += l.v[i].regression + l.v[i].mem_regression;
    }
    if (o->format == EB_CMP_CSV)
      write_csv(out, &l);
    else if (o->format == EB_CMP_JSON) {
      if (write_json(out, &l, o, *regressions)) {
        snprintf(err, errlen, "out of memory writing the comparison");
        rc = EB_NOMEM;
      }
    } else
      write_md(out, &l, o, *regressions);
    if (ferror(out)) {
      snprintf(err, errlen, "writing the comparison failed");
      rc = EB_IO;
    }
  }
  glist_free(&l);
  return rc;
}
