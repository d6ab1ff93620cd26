/* Report tables: query the database, aggregate in C, then render one small
 * in-memory table model as Markdown, LaTeX or HTML; CSV is written from the
 * aggregates directly so it carries raw numbers. The HTML document around
 * the tables (figures, suite YAML) is report_html.c.
 *
 * Cell text uses a tiny markup so one string renders in both formats:
 * PM = "±", DASH = "—", CODE_ON/CODE_OFF around a code span. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "report_html.h"
#include "sources.h"
#include "store_internal.h"
#include "util.h"

/* eb_report_opts, internally: the caller made the --attempt all views */
#define REPORT_IN_ATTEMPTS (1 << 16)

#define PM "\x01"
#define DASH "\x02"
#define CODE_ON "\x03"
#define CODE_OFF "\x04"

static const char *const TABLE_NAMES[] = {"accuracy", "speed", "stats", "fit", "all"};
static const char *const FORMAT_NAMES[] = {"md", "latex", "csv", "html"};
_Static_assert(sizeof TABLE_NAMES / sizeof TABLE_NAMES[0] == EB_TABLE_ALL + 1,
               "table names");
_Static_assert(sizeof FORMAT_NAMES / sizeof FORMAT_NAMES[0] == EB_FMT_HTML + 1,
               "format names");

const char *eb_table_name(eb_table t) {
  return (unsigned)t <= EB_TABLE_ALL ? TABLE_NAMES[t] : "?";
}
const char *eb_format_name(eb_format f) {
  return (unsigned)f <= EB_FMT_HTML ? FORMAT_NAMES[f] : "?";
}
int eb_table_parse(const char *name, eb_table *t) {
  int i = name_index(name, TABLE_NAMES, EB_TABLE_ALL + 1);
  if (i < 0 && name && !strcmp(name, "moe")) i = EB_TABLE_STATS; /* its earlier name */
  if (i >= 0) *t = (eb_table)i;
  return i < 0 ? -1 : 0;
}
int eb_format_parse(const char *name, eb_format *f) {
  int i = name_index(name, FORMAT_NAMES, EB_FMT_HTML + 1);
  if (i >= 0) *f = (eb_format)i;
  return i < 0 ? -1 : 0;
}

/* ------------------------------------------------------- name lists -- */

/* Moves the baseline arch to the front, keeping the others in order; returns
 * the permutation perm[new] = old in a caller array of size l->n. */
static void baseline_first(const names *l, const char *baseline, int *perm) {
  int k = 0, v = names_find(l, baseline);
  if (v >= 0) perm[k++] = v;
  for (int i = 0; i < l->n; i++)
    if (i != v) perm[k++] = i;
}

/* -------------------------------------------------------- statistics -- */

typedef struct {
  int n;
  double mean, m2; /* Welford */
} acc;

static void acc_add(acc *a, double x) {
  a->n++;
  double d = x - a->mean;
  a->mean += d / a->n;
  a->m2 += d * (x - a->mean);
}
static double acc_std(const acc *a) { return a->n >= 2 ? sqrt(a->m2 / (a->n - 1)) : NAN; }

/* Run statuses in the order they are listed when counts tie. */
static const char *const STATUSES[] = {"done",   "diverged", "oom",     "timeout",
                                       "failed", "running",  "pending", "no test result"};
#define N_STATUS ((int)(sizeof STATUSES / sizeof STATUSES[0]))
#define ST_DONE 0
#define ST_TIMEOUT 3
#define ST_NO_TEST 7

static int status_index(const char *s) {
  for (int i = 0; i < N_STATUS - 1; i++)
    if (s && strcmp(s, STATUSES[i]) == 0) return i;
  return 4; /* unknown: treat as failed */
}

typedef struct {
  int runs;
  int count[N_STATUS];
} statc;

/* Indices of statuses with a count, most frequent first. */
static int status_order(const statc *c, int *idx, int skip_done) {
  int k = 0;
  for (int i = 0; i < N_STATUS; i++)
    if (c->count[i] && !(skip_done && i == ST_DONE)) idx[k++] = i;
  for (int i = 1; i < k; i++)
    for (int j = i; j > 0 && c->count[idx[j]] > c->count[idx[j - 1]]; j--) {
      int t = idx[j];
      idx[j] = idx[j - 1];
      idx[j - 1] = t;
    }
  return k;
}

/* Cell text for a cell without a usable value: "diverged" when every run
 * has that status, else "diverged (2/3), failed (1/3)". */
static void status_text(eb_sbuf *b, const statc *c) {
  int idx[N_STATUS];
  int k = status_order(c, idx, 0);
  if (k == 1) {
    eb_sb_add(b, "%s", STATUSES[idx[0]]);
    return;
  }
  for (int i = 0; i < k; i++)
    eb_sb_add(b, "%s%s (%d/%d)", i ? ", " : "", STATUSES[idx[i]], c->count[idx[i]],
              c->runs);
}

/* Suffix naming the number of values of a cell: " (n=3)", or with fewer
 * runs than expected " (n=2; 1 timeout)"; nothing for a lone complete value. */
static void partial_text(eb_sbuf *b, const statc *c, int n, int expected) {
  if (n < 2 && n >= c->runs && n >= expected) return;
  eb_sb_add(b, " (n=%d", n);
  int idx[N_STATUS];
  int k = status_order(c, idx, 1);
  for (int i = 0; i < k; i++)
    eb_sb_add(b, "%s%d %s", i ? ", " : "; ", c->count[idx[i]], STATUSES[idx[i]]);
  eb_sb_add(b, ")");
}

/* CSV status: "3 done" or "2 done, 1 timeout". */
static void status_csv(eb_sbuf *b, const statc *c) {
  int idx[N_STATUS];
  int k = status_order(c, idx, 0);
  for (int i = 0; i < k; i++)
    eb_sb_add(b, "%s%d %s", i ? ", " : "", c->count[idx[i]], STATUSES[idx[i]]);
}

/* ------------------------------------------------------- table model -- */

typedef struct {
  int ncol, nrow, cap;
  char **head;  /* [ncol] */
  char **group; /* [ncol], NULL = no group; equal neighbours form one span */
  char *align;  /* [ncol+1] 'l' | 'r' */
  char **cell;  /* [cap*ncol] */
  unsigned char *bold;
  const char *cls; /* HTML class of the table, NULL = "result" */
  int oom;
} rtable;

static rtable *rt_new(int ncol) {
  rtable *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->ncol = ncol;
  t->head = calloc((size_t)ncol, sizeof *t->head);
  t->group = calloc((size_t)ncol, sizeof *t->group);
  t->align = calloc((size_t)ncol + 1, 1);
  if (!t->head || !t->group || !t->align) t->oom = 1;
  for (int c = 0; c < ncol && t->align; c++)
    t->align[c] = c ? 'r' : 'l';
  return t;
}

static void rt_free(rtable *t) {
  if (!t) return;
  for (int c = 0; c < t->ncol; c++) {
    if (t->head) free(t->head[c]);
    if (t->group) free(t->group[c]);
  }
  for (int i = 0; i < t->nrow * t->ncol; i++)
    free(t->cell[i]);
  free(t->head);
  free(t->group);
  free(t->align);
  free(t->cell);
  free(t->bold);
  free(t);
}

static char *xstrdup_or(rtable *t, const char *s) {
  char *c = strdup(s ? s : "");
  if (!c) t->oom = 1;
  return c;
}

static void rt_head(rtable *t, int c, const char *group, const char *text) {
  if (t->oom) return;
  t->head[c] = xstrdup_or(t, text);
  if (group) t->group[c] = xstrdup_or(t, group);
}

static int rt_row(rtable *t) {
  if (t->oom) return -1;
  if (t->nrow == t->cap) {
    int cap = t->cap ? 2 * t->cap : 8;
    char **cell = realloc(t->cell, (size_t)cap * t->ncol * sizeof *cell);
    if (!cell) {
      t->oom = 1;
      return -1;
    }
    t->cell = cell;
    unsigned char *bold = realloc(t->bold, (size_t)cap * t->ncol);
    if (!bold) {
      t->oom = 1;
      return -1;
    }
    t->bold = bold;
    t->cap = cap;
  }
  for (int c = 0; c < t->ncol; c++) {
    t->cell[t->nrow * t->ncol + c] = NULL;
    t->bold[t->nrow * t->ncol + c] = 0;
  }
  return t->nrow++;
}

/* Takes ownership of the builder's text. */
static void rt_set_sb(rtable *t, int r, int c, eb_sbuf *b, int bold) {
  if (t->oom || r < 0 || b->oom) {
    t->oom = 1;
    free(b->p);
    memset(b, 0, sizeof *b);
    return;
  }
  free(t->cell[r * t->ncol + c]);
  t->cell[r * t->ncol + c] = b->p ? b->p : xstrdup_or(t, "");
  t->bold[r * t->ncol + c] = (unsigned char)bold;
  memset(b, 0, sizeof *b);
}

static void rt_set(rtable *t, int r, int c, int bold, const char *fmt, ...) {
  eb_sbuf b = {0};
  va_list ap;
  va_start(ap, fmt);
  eb_sb_vadd(&b, fmt, ap);
  va_end(ap);
  rt_set_sb(t, r, c, &b, bold);
}

static void put_md(FILE *o, const char *s) {
  int code = 0;
  for (; s && *s; s++) {
    switch (*s) {
    case '\1': fputs("±", o); break;
    case '\2': fputs("—", o); break;
    case '\3':
    case '\4':
      fputc('`', o);
      code = *s == '\3';
      break;
    case '|': fputs("\\|", o); break;
    case '*':
    case '\\':
      if (!code) fputc('\\', o);
      fputc(*s, o);
      break;
    case '\n': fputc(' ', o); break;
    default: fputc(*s, o);
    }
  }
}

static void put_tex(FILE *o, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '\1': fputs("$\\pm$", o); break;
    case '\2': fputs("---", o); break;
    case '\3': fputs("\\texttt{", o); break;
    case '\4': fputc('}', o); break;
    case '_':
    case '%':
    case '&':
    case '#':
    case '$':
    case '{':
    case '}':
      fputc('\\', o);
      fputc(*s, o);
      break;
    case '\\': fputs("\\textbackslash{}", o); break;
    case '~': fputs("\\textasciitilde{}", o); break;
    case '^': fputs("\\textasciicircum{}", o); break;
    case '\n': fputc(' ', o); break;
    default: fputc(*s, o);
    }
  }
}

static void render_md(FILE *o, const char *title, const char *note, const rtable *t) {
  fputs("### ", o);
  put_md(o, title);
  fputs("\n\n", o);
  if (note && *note) {
    put_md(o, note);
    fputs("\n\n", o);
  }
  fputc('|', o);
  for (int c = 0; c < t->ncol; c++) {
    fputc(' ', o);
    if (t->group[c] && *t->group[c]) {
      put_md(o, t->group[c]);
      fputc(' ', o);
    }
    put_md(o, t->head[c]);
    fputs(" |", o);
  }
  fputs("\n|", o);
  for (int c = 0; c < t->ncol; c++)
    fputs(t->align[c] == 'r' ? "---:|" : "---|", o);
  fputc('\n', o);
  for (int r = 0; r < t->nrow; r++) {
    fputc('|', o);
    for (int c = 0; c < t->ncol; c++) {
      const char *x = t->cell[r * t->ncol + c];
      int b = t->bold[r * t->ncol + c] && x && *x;
      fputs(b ? " **" : " ", o);
      put_md(o, x);
      fputs(b ? "** |" : " |", o);
    }
    fputc('\n', o);
  }
  fputc('\n', o);
}

static void render_tex(FILE *o, const char *title, const char *note, const char *label,
                       const rtable *t) {
  fputs("% effbench report; needs \\usepackage{booktabs}\n", o);
  fputs("\\begin{table}[ht]\n\\centering\n\\caption{", o);
  put_tex(o, title);
  if (note && *note) {
    fputs(". ", o);
    put_tex(o, note);
  }
  fputs("}\n\\label{tab:", o);
  for (const char *p = label; *p; p++)
    fputc((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
              ? *p
              : '-',
          o);
  fprintf(o, "}\n\\begin{tabular}{%s}\n\\toprule\n", t->align);
  int any_group = 0;
  for (int c = 0; c < t->ncol; c++)
    any_group |= t->group[c] != NULL;
  if (any_group) {
    eb_sbuf rules = {0};
    for (int c = 0; c < t->ncol;) {
      int e = c + 1;
      while (e < t->ncol && t->group[c] && t->group[e] &&
             strcmp(t->group[c], t->group[e]) == 0)
        e++;
      if (c) fputs(" & ", o);
      if (t->group[c]) {
        fprintf(o, "\\multicolumn{%d}{c}{", e - c);
        put_tex(o, t->group[c]);
        fputc('}', o);
        eb_sb_add(&rules, "\\cmidrule(lr){%d-%d}", c + 1, e);
      }
      c = e;
    }
    fprintf(o, " \\\\\n%s\n", rules.p ? rules.p : "");
    free(rules.p);
  }
  for (int c = 0; c < t->ncol; c++) {
    if (c) fputs(" & ", o);
    put_tex(o, t->head[c]);
  }
  fputs(" \\\\\n\\midrule\n", o);
  for (int r = 0; r < t->nrow; r++) {
    for (int c = 0; c < t->ncol; c++) {
      const char *x = t->cell[r * t->ncol + c];
      int b = t->bold[r * t->ncol + c] && x && *x;
      if (c) fputs(" & ", o);
      if (b) fputs("\\textbf{", o);
      put_tex(o, x);
      if (b) fputc('}', o);
    }
    fputs(" \\\\\n", o);
  }
  fputs("\\bottomrule\n\\end{tabular}\n\\end{table}\n\n", o);
}

/* Cell markup to HTML; everything else escaped (report_html.h). */
static void put_html(FILE *o, const char *s) {
  static const char *const MARK[] = {"", "±", "—", "<code>", "</code>"};
  while (s && *s) {
    size_t n = strcspn(s, "\1\2\3\4");
    eb_html_put(o, s, n);
    s += n;
    if (*s) fputs(MARK[(unsigned char)*s++], o);
  }
}

/* The table label as an HTML id: letters, digits and '-'. */
static void put_html_id(FILE *o, const char *label) {
  for (const char *p = label; *p; p++)
    fputc((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
              ? *p
              : '-',
          o);
}

/* The group header row, spans of equal neighbours joined; none without
 * groups. */
static void html_groups(FILE *o, const rtable *t) {
  int any = 0;
  for (int c = 0; c < t->ncol; c++)
    any |= t->group[c] != NULL;
  if (!any) return;
  fputs("<tr>", o);
  for (int c = 0; c < t->ncol;) {
    int e = c + 1;
    while (e < t->ncol && t->group[c] && t->group[e] && !strcmp(t->group[c], t->group[e]))
      e++;
    fprintf(o, "<th colspan=\"%d\" class=\"group\">", e - c);
    put_html(o, t->group[c]);
    fputs("</th>", o);
    c = e;
  }
  fputs("</tr>\n", o);
}

static void render_html(FILE *o, const char *title, const char *note, const char *label,
                        const rtable *t) {
  fputs("<section class=\"table\" id=\"", o);
  put_html_id(o, label);
  fputs("\">\n<h3>", o);
  put_html(o, title);
  fputs("</h3>\n", o);
  if (note && *note) {
    fputs("<p class=\"note\">", o);
    put_html(o, note);
    fputs("</p>\n", o);
  }
  fprintf(o, "<table class=\"%s\">\n<thead>\n", t->cls ? t->cls : "result");
  html_groups(o, t);
  fputs("<tr>", o);
  for (int c = 0; c < t->ncol; c++) {
    fputs(t->align[c] == 'r' ? "<th class=\"r\">" : "<th>", o);
    put_html(o, t->head[c]);
    fputs("</th>", o);
  }
  fputs("</tr>\n</thead>\n<tbody>\n", o);
  for (int r = 0; r < t->nrow; r++) {
    fputs("<tr>", o);
    for (int c = 0; c < t->ncol; c++) {
      const char *x = t->cell[r * t->ncol + c];
      int b = t->bold[r * t->ncol + c] && x && *x;
      fputs(t->align[c] == 'r' ? "<td class=\"r\">" : "<td>", o);
      if (b) fputs("<strong>", o);
      put_html(o, x);
      fputs(b ? "</strong></td>" : "</td>", o);
    }
    fputs("</tr>\n", o);
  }
  fputs("</tbody>\n</table>\n</section>\n", o);
}

static void render_empty(FILE *o, eb_format f, const char *title, const char *msg) {
  if (f == EB_FMT_MD) {
    fputs("### ", o);
    put_md(o, title);
    fputs("\n\n_", o);
    put_md(o, msg);
    fputs("_\n\n", o);
  } else if (f == EB_FMT_LATEX) {
    fputs("% ", o);
    put_tex(o, title);
    fputs(": ", o);
    put_tex(o, msg);
    fputs("\n\n", o);
  } else if (f == EB_FMT_HTML) {
    fputs("<section class=\"table\">\n<h3>", o);
    put_html(o, title);
    fputs("</h3>\n<p class=\"empty\">", o);
    put_html(o, msg);
    fputs("</p>\n</section>\n", o);
  }
}

static void render(FILE *o, eb_format f, const char *title, const char *note,
                   const char *label, const rtable *t) {
  if (f == EB_FMT_MD)
    render_md(o, title, note, t);
  else if (f == EB_FMT_HTML)
    render_html(o, title, note, label, t);
  else
    render_tex(o, title, note, label, t);
}

/* ----------------------------------------------------------------- CSV -- */

static void csv_field(FILE *o, const char *s) {
  if (!s) s = "";
  if (strpbrk(s, ",\"\r\n")) {
    fputc('"', o);
    for (; *s; s++) {
      if (*s == '"') fputc('"', o);
      fputc(*s, o);
    }
    fputc('"', o);
  } else {
    fputs(s, o);
  }
}

/* The header row; the ratio column is named for the baseline. */
static void csv_header(FILE *o, const char *baseline) {
  fputs("table,suite,arch,task,mode,seq_len,metric,value,std,n,runs,status,best,", o);
  char name[300];
  snprintf(name, sizeof name, "ratio_to_%s", baseline);
  csv_field(o, name);
  fputs(",data_source,sem\r\n", o);
}

typedef struct {
  const char *table, *suite, *arch, *task, *mode;
  int seq_len; /* 0 = none */
  const char *metric;
  double value, std; /* NaN = empty */
  int n, runs;       /* -1 = empty */
  const char *status;
  int best;           /* -1 = empty */
  double ratio;       /* NaN = empty */
  const char *source; /* data source of the task column, "" = none */
} csv_row;

static csv_row csv_start(const char *table, const char *suite, const char *arch,
                         const char *task, const char *metric) {
  csv_row r = {table, suite, arch, task, "", 0,   metric, NAN,
               NAN,   -1,    -1,   "",   -1, NAN, ""};
  return r;
}

static void csv_num(FILE *o, double x) {
  if (!isnan(x)) fprintf(o, "%.10g", x);
}

static void csv_put(FILE *o, const csv_row *r) {
  const char *text[] = {r->table, r->suite, r->arch, r->task, r->mode};
  for (int i = 0; i < 5; i++) {
    csv_field(o, text[i]);
    fputc(',', o);
  }
  if (r->seq_len > 0) fprintf(o, "%d", r->seq_len);
  fputc(',', o);
  csv_field(o, r->metric);
  fputc(',', o);
  csv_num(o, r->value);
  fputc(',', o);
  csv_num(o, r->std);
  fputc(',', o);
  if (r->n >= 0) fprintf(o, "%d", r->n);
  fputc(',', o);
  if (r->runs >= 0) fprintf(o, "%d", r->runs);
  fputc(',', o);
  csv_field(o, r->status);
  fputc(',', o);
  if (r->best >= 0) fprintf(o, "%d", r->best);
  fputc(',', o);
  csv_num(o, r->ratio);
  fputc(',', o);
  csv_field(o, r->source);
  fputc(',', o);
  /* the standard error of the mean, wherever a std over n values is given */
  if (!isnan(r->std) && r->n >= 2) csv_num(o, r->std / sqrt(r->n));
  fputs("\r\n", o);
}

/* ---------------------------------------------------------- context -- */

typedef struct {
  eb_store *s;
  sqlite3 *db;
  const char *suite;
  int64_t suite_id;
  eb_format f;
  FILE *o;
  char *err;
  size_t errlen;
  eb_suite_sources src; /* data source of each task column */
  int flags;            /* EB_REPORT_* */
  eb_report_fit_opts fit;
  const char *baseline; /* first row, speed ratios: never NULL */
  const eb_report_stat *stats;
  int nstats;
} rctx;

static int sql_fail(rctx *x, const char *what) {
  snprintf(x->err, x->errlen, "%s: %s failed (%s)", eb_store_path(x->s), what,
           sqlite3_errmsg(x->db));
  return sqlite3_errcode(x->db) == SQLITE_NOMEM ? EB_NOMEM : EB_DB;
}

static int oom_fail(rctx *x) {
  snprintf(x->err, x->errlen, "out of memory building the report");
  return EB_NOMEM;
}

/* Fills suite_id from name, or the most recently active suite when NULL. */
static int resolve_suite(rctx *x, const char *name, char *found, size_t flen) {
  int r = find_suite(x->db, eb_store_path(x->s), name, &x->suite_id, found, flen, x->err,
                     x->errlen);
  return r < 0 ? sql_fail(x, "listing suites") : r ? EB_OK : EB_NOTFOUND;
}

/* ----------------------------------------------------- accuracy table -- */

typedef struct {
  statc st;
  acc a; /* test accuracy x100 over done runs and timed-out runs with a result */
  acc raw;
  int timeouts; /* timed-out runs among a: stopped by their budget, best so far */
} acell;

/* A matched suite (`match: params|flops`) trains each arch at its own width:
 * the note says which, per arch (and task when there are several). Appends
 * nothing for an unmatched suite; 0, or a report error. */
static int matched_widths(rctx *x, int ntasks, eb_sbuf *note) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(
          x->db,
          "SELECT arch, task, json_extract(config_json, '$.match.by'), "
          "json_extract(config_json, '$.match.ref'), "
          "json_extract(config_json, '$.model.dim'), "
          "json_extract(config_json, '$.model.ffn'), "
          "max(json_extract(config_json, '$.match.gap')), min(id) FROM runs "
          "WHERE suite_id=?1 AND conflict_of IS NULL AND "
          "json_extract(config_json, '$.match') IS NOT NULL "
          "GROUP BY arch, task, 5, 6 ORDER BY arch = ?2 DESC, 8",
          -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading matched widths");
  sqlite3_bind_int64(st, 1, x->suite_id);
  sqlite3_bind_text(st, 2, x->baseline, -1, SQLITE_STATIC);
  char last[128] = "";
  double gap = 0;
  eb_sbuf list = {0};
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *arch = col_text(st, 0), *task = col_text(st, 1);
    if (!list.p || !list.p[0])
      eb_sb_add(note, ". Matched models: each arch's width chosen to match %s's %s",
                col_text(st, 3),
                strcmp(col_text(st, 2), "flops") ? "parameter count"
                                                 : "training FLOPs per token");
    int same = !strcmp(last, arch);
    eb_sb_add(&list, "%s%s%s dim %d ffn %d",
              same     ? ", "
              : list.p ? "; "
                       : "",
              same ? "" : arch, same ? "" : ":", sqlite3_column_int(st, 4),
              sqlite3_column_int(st, 5));
    if (ntasks > 1) eb_sb_add(&list, " (%s)", task);
    snprintf(last, sizeof last, "%s", arch);
    if (sqlite3_column_double(st, 6) > gap) gap = sqlite3_column_double(st, 6);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    free(list.p);
    return sql_fail(x, "reading matched widths");
  }
  if (list.p) eb_sb_add(note, " (largest gap %.1f%%): %s.", 100 * gap, list.p);
  free(list.p);
  return 0;
}

#define MAJORITY_ROW "majority class"

/* Per task of the table: the majority-class rate of its test split (%) and
 * the accuracy a cell must pass to be clearly above it, that rate plus 3
 * standard errors sqrt(p(1-p)/n); NaN where no run recorded them (databases
 * before schema 11). The runs of one task share their data, so they agree;
 * the largest rate and smallest split are taken should they not. */
static int majority_baselines(rctx *x, const names *tasks, double **maj, double **thr) {
  *maj = malloc((size_t)(tasks->n + 1) * sizeof **maj);
  *thr = malloc((size_t)(tasks->n + 1) * sizeof **thr);
  if (!*maj || !*thr) return oom_fail(x);
  for (int k = 0; k < tasks->n; k++)
    (*maj)[k] = (*thr)[k] = NAN;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(x->db,
                         "SELECT count(*) FROM pragma_table_info('runs') "
                         "WHERE name='test_majority'",
                         -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading the runs table's columns");
  int rc = sqlite3_step(st);
  int have = rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) return sql_fail(x, "reading the runs table's columns");
  if (!have) return 0;
  if (sqlite3_prepare_v2(x->db,
                         "SELECT task, max(test_majority), min(test_count) FROM runs "
                         "WHERE suite_id=?1 AND conflict_of IS NULL AND test_majority IS "
                         "NOT NULL AND test_count > 0 GROUP BY task",
                         -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading the majority-class rates");
  sqlite3_bind_int64(st, 1, x->suite_id);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int k = names_find(tasks, col_text(st, 0));
    if (k < 0) continue;
    double p = sqlite3_column_double(st, 1);
    double n = (double)sqlite3_column_int64(st, 2);
    (*maj)[k] = 100.0 * p;
    (*thr)[k] = 100.0 * (p + 3.0 * sqrt(p * (1.0 - p) / n));
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : sql_fail(x, "reading the majority-class rates");
}

static int report_accuracy(rctx *x) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(x->db,
                         "SELECT arch, task, status, test_accuracy FROM runs "
                         "WHERE suite_id=?1 AND conflict_of IS NULL ORDER BY id",
                         -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading runs");
  sqlite3_bind_int64(st, 1, x->suite_id);
  names archs = {0}, tasks = {0};
  acell *cells = NULL;
  int cap_a = 0, cap_t = 0, rc, ret = 0;
  rtable *t = NULL;
  int *perm = NULL;
  double *best = NULL, *avg = NULL;
  int *nnum = NULL; /* numeric cells per column */
  int at_chance = 0;
  double *maj = NULL, *thr = NULL; /* per task: majority-class %, chance + 3 SE */
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int a = names_add(&archs, col_text(st, 0));
    int k = names_add(&tasks, col_text(st, 1));
    if (a < 0 || k < 0) break;
    if (a >= cap_a || k >= cap_t) { /* grow the [arch][task] grid */
      int na = archs.cap, nt = tasks.cap;
      acell *c = calloc((size_t)na * nt, sizeof *c);
      if (!c) {
        archs.oom = 1;
        break;
      }
      for (int i = 0; i < cap_a; i++)
        for (int j = 0; j < cap_t; j++)
          c[i * nt + j] = cells[i * cap_t + j];
      free(cells);
      cells = c;
      cap_a = na;
      cap_t = nt;
    }
    acell *c = &cells[a * cap_t + k];
    int si = status_index(col_text(st, 2));
    double v = col_real(st, 3);
    if (si == ST_DONE && isnan(v)) si = ST_NO_TEST;
    c->st.runs++;
    c->st.count[si]++;
    /* a run stopped by its time budget still reports the test accuracy of its
     * best validation step so far: it counts, and the cell says so */
    if (si == ST_DONE || (si == ST_TIMEOUT && !isnan(v))) {
      acc_add(&c->a, 100.0 * v);
      acc_add(&c->raw, v);
      if (si == ST_TIMEOUT) c->timeouts++;
    }
  }
  sqlite3_finalize(st);
  if (archs.oom || tasks.oom) {
    ret = oom_fail(x);
    goto out;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    ret = sql_fail(x, "reading runs");
    goto out;
  }
  char title[1024];
  snprintf(title, sizeof title, "Test accuracy (%%), suite " CODE_ON "%s" CODE_OFF,
           x->suite);
  if (archs.n == 0) {
    if (x->f != EB_FMT_CSV)
      render_empty(x->o, x->f, title, "No training runs in this suite.");
    goto out;
  }
  int nt = tasks.n, expected = 0;
  perm = malloc((size_t)archs.n * sizeof *perm);
  best = malloc((size_t)(nt + 1) * sizeof *best);
  nnum = calloc((size_t)nt + 1, sizeof *nnum);
  avg = malloc((size_t)archs.n * sizeof *avg);
  if (!perm || !best || !nnum || !avg) {
    ret = oom_fail(x);
    goto out;
  }
  if ((ret = majority_baselines(x, &tasks, &maj, &thr))) goto out;
  baseline_first(&archs, x->baseline, perm);
  for (int a = 0; a < archs.n; a++)
    for (int k = 0; k < nt; k++)
      if (cells[a * cap_t + k].st.runs > expected)
        expected = cells[a * cap_t + k].st.runs;

  /* best per column (tasks, then Avg), compared as displayed */
  for (int k = 0; k <= nt; k++)
    best[k] = -INFINITY;
  for (int a = 0; a < archs.n; a++) {
    double sum = 0;
    int have = 0;
    for (int k = 0; k < nt; k++) {
      const acell *c = &cells[a * cap_t + k];
      if (c->a.n == 0) continue;
      double r = round(c->a.mean * 100) / 100;
      if (r > best[k]) best[k] = r;
      nnum[k]++;
      sum += c->a.mean;
      have++;
    }
    avg[a] = have == nt ? sum / nt : NAN;
    if (!isnan(avg[a])) nnum[nt]++;
    if (!isnan(avg[a]) && round(avg[a] * 100) / 100 > best[nt])
      best[nt] = round(avg[a] * 100) / 100;
  }
  /* a lone number is not "best" of anything */
  for (int k = 0; k <= nt; k++)
    if (nnum[k] < 2) best[k] = INFINITY;
#define IS_BEST(v, k) (round((v)*100) / 100 >= best[k])

  if (x->f == EB_FMT_CSV) {
    for (int i = 0; i < archs.n; i++) {
      int a = perm[i];
      for (int k = 0; k < nt; k++) {
        const acell *c = &cells[a * cap_t + k];
        if (c->st.runs == 0) continue;
        eb_sbuf sb = {0};
        status_csv(&sb, &c->st);
        csv_row r =
            csv_start("accuracy", x->suite, archs.v[a], tasks.v[k], "test_accuracy");
        const eb_task_source *ts = eb_suite_sources_find(&x->src, tasks.v[k]);
        if (ts) r.source = ts->text;
        r.value = c->raw.n ? c->raw.mean : NAN;
        r.std = acc_std(&c->raw);
        r.n = c->raw.n;
        r.runs = c->st.runs;
        r.status = sb.p;
        r.best = c->a.n ? IS_BEST(c->a.mean, k) : -1;
        csv_put(x->o, &r);
        free(sb.p);
      }
      csv_row r = csv_start("accuracy", x->suite, archs.v[a], "Avg", "test_accuracy_avg");
      r.value = isnan(avg[a]) ? NAN : avg[a] / 100;
      r.best = isnan(avg[a]) ? -1 : IS_BEST(avg[a], nt);
      csv_put(x->o, &r);
    }
    for (int k = 0; k < nt; k++) {
      if (isnan(maj[k])) continue;
      csv_row r =
          csv_start("accuracy", x->suite, MAJORITY_ROW, tasks.v[k], "majority_class");
      r.value = maj[k] / 100;
      r.best = -1;
      csv_put(x->o, &r);
    }
    goto out;
  }

  /* several runs of one (arch, task, seed): a sweep pooled into one cell */
  int pooled = 0;
  if (sqlite3_prepare_v2(
          x->db,
          "SELECT EXISTS(SELECT 1 FROM runs WHERE suite_id=?1 AND conflict_of IS NULL "
          "GROUP BY arch, task, seed HAVING count(*) > 1)",
          -1, &st, NULL) != SQLITE_OK) {
    ret = sql_fail(x, "reading runs");
    goto out;
  }
  sqlite3_bind_int64(st, 1, x->suite_id);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) pooled = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) {
    ret = sql_fail(x, "reading runs");
    goto out;
  }

  t = rt_new(nt + 2);
  if (!t) {
    ret = oom_fail(x);
    goto out;
  }
  rt_head(t, 0, NULL, "arch");
  for (int k = 0; k < nt; k++) { /* "task (data source)" */
    const eb_task_source *ts = eb_suite_sources_find(&x->src, tasks.v[k]);
    eb_sbuf h = {0};
    eb_sb_add(&h, ts ? "%s (%s)" : "%s", tasks.v[k], ts ? ts->text : "");
    rt_head(t, k + 1, NULL, h.p ? h.p : tasks.v[k]);
    free(h.p);
  }
  rt_head(t, nt + 1, NULL, "Avg");
  for (int i = 0; i < archs.n; i++) {
    int a = perm[i];
    int r = rt_row(t);
    rt_set(t, r, 0, 0, "%s", archs.v[a]);
    for (int k = 0; k < nt; k++) {
      const acell *c = &cells[a * cap_t + k];
      eb_sbuf b = {0};
      int bold = 0;
      if (c->a.n > 0) {
        eb_sb_add(&b, "%.2f", c->a.mean);
        double sd = acc_std(&c->a);
        if (c->a.n >= 2)
          eb_sb_add(&b, " " PM " %.2f",
                    x->flags & EB_REPORT_SEM ? sd / sqrt(c->a.n) : sd);
        partial_text(&b, &c->st, c->a.n, expected);
        /* from two values on partial_text names the timeouts with n */
        if (c->timeouts && c->a.n < 2 && c->a.n >= c->st.runs && c->a.n >= expected)
          eb_sb_add(&b, c->timeouts == c->a.n ? " (timeout)" : " (%d timeout)",
                    c->timeouts);
        bold = IS_BEST(c->a.mean, k);
        if (!isnan(thr[k]) && c->a.mean <= thr[k]) {
          eb_sb_add(&b, " (chance)");
          at_chance = 1;
        }
      } else if (c->st.runs > 0) {
        status_text(&b, &c->st);
      }
      rt_set_sb(t, r, k + 1, &b, bold);
    }
    if (isnan(avg[a]))
      rt_set(t, r, nt + 1, 0, DASH);
    else
      rt_set(t, r, nt + 1, IS_BEST(avg[a], nt), "%.2f", avg[a]);
  }
  int any_maj = 0;
  for (int k = 0; k < nt; k++)
    any_maj |= !isnan(maj[k]);
  if (any_maj) { /* the baseline every column is judged against */
    int r = rt_row(t);
    rt_set(t, r, 0, 0, MAJORITY_ROW);
    for (int k = 0; k < nt; k++)
      if (isnan(maj[k]))
        rt_set(t, r, k + 1, 0, DASH);
      else
        rt_set(t, r, k + 1, 0, "%.2f", maj[k]);
    rt_set(t, r, nt + 1, 0, DASH);
  }
#undef IS_BEST
  if (t->oom) {
    ret = oom_fail(x);
    goto out;
  }
  char label[1024];
  snprintf(label, sizeof label, "effbench-accuracy-%s", x->suite);
  eb_sbuf note = {0};
  eb_sb_add(&note,
            "Mean " PM " %s over seeds (n) of test accuracy at the best "
            "validation step; best per column in bold; a status instead of a "
            "number means no run of that cell finished; (timeout): stopped by the "
            "time budget, best result so far",
            x->flags & EB_REPORT_SEM ? "standard error (sample std / sqrt(n))"
                                     : "sample std");
  if (x->src.n) eb_sb_add(&note, ". Each task column names the data source of its runs");
  if (any_maj)
    eb_sb_add(&note,
              ". " MAJORITY_ROW ": the share of the test split's most frequent label "
              "(what always answering it scores)");
  if (at_chance)
    eb_sb_add(&note,
              "; (chance): the mean is not above that share by more than 3 standard "
              "errors of it, 3 sqrt(p(1 - p) / n) over the n test examples");
  if (pooled)
    eb_sb_add(&note,
              ". Warning: some cells pool several runs of the same seed (a sweep or "
              "changed settings)");
  if (x->src.mixed)
    eb_sb_add(&note, ". Warning: columns marked \"mixed sources\" average runs on "
                     "different kinds of data (--mix-sources)");
  if ((ret = matched_widths(x, nt, &note)) == 0) {
    if (note.oom)
      ret = oom_fail(x);
    else
      render(x->o, x->f, title, note.p, label, t);
  }
  free(note.p);
out:
  rt_free(t);
  free(perm);
  free(best);
  free(nnum);
  free(avg);
  free(maj);
  free(thr);
  free(cells);
  names_free(&archs);
  names_free(&tasks);
  return ret;
}

/* -------------------------------------------------------- speed table -- */

typedef struct {
  int present;
  char status[16];
  double step_ms;
  double mem; /* bytes, NaN = unknown */
} scell;

/* 3 significant digits without an exponent: 8.10, 0.0512, 123 */
static void fmt_sig(eb_sbuf *b, double v) {
  int d = 2;
  if (v > 0) d = 2 - (int)floor(log10(v));
  if (d < 0) d = 0;
  if (d > 4) d = 4;
  eb_sb_add(b, "%.*f", d, v);
}

/* The machines and builds a speed block was measured on (speed rows'
 * cpu_model, cores, gemm_backend and git_commit, version 10), appended to
 * its caption: "; measured on CPU (N cores), GEMM B, commit C", or each
 * distinct one when they differ (a merged database). Rows from before
 * version 10 know only their GEMM backend. */
static int speed_machines(rctx *x, const char *mode, const char *task, eb_sbuf *nb) {
  int has = 0;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(x->db,
                         "SELECT count(*) FROM pragma_table_info('speed') "
                         "WHERE name='cpu_model'",
                         -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading the speed layout");
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) has = sqlite3_column_int(st, 0) > 0;
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) return sql_fail(x, "reading the speed layout");
  if (sqlite3_prepare_v2(
          x->db,
          has ? "SELECT cpu_model, cores, gemm_backend, git_commit, count(*) FROM speed "
                "WHERE suite_id=?1 AND mode=?2 AND coalesce(task,'')=?3 "
                "GROUP BY 1, 2, 3, 4 ORDER BY min(id)"
              : "SELECT NULL, NULL, gemm_backend, NULL, count(*) FROM speed "
                "WHERE suite_id=?1 AND mode=?2 AND coalesce(task,'')=?3 "
                "GROUP BY 3 ORDER BY min(id)",
          -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading the speed rows' machines");
  sqlite3_bind_int64(st, 1, x->suite_id);
  sqlite3_bind_text(st, 2, mode, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, task, -1, SQLITE_TRANSIENT);
  int n = 0;
  eb_sbuf m = {0};
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *cpu = col_text(st, 0), *gemm = col_text(st, 2), *commit = col_text(st, 3);
    eb_sb_add(&m, "%s", n++ ? "; " : "");
    size_t before = m.n;
    if (*cpu) eb_sb_add(&m, "%s", cpu);
    if (sqlite3_column_type(st, 1) != SQLITE_NULL)
      eb_sb_add(&m, " (%d cores)", sqlite3_column_int(st, 1));
    if (*gemm) eb_sb_add(&m, "%sGEMM %s", m.n > before ? ", " : "", gemm);
    if (*commit) eb_sb_add(&m, "%scommit %s", m.n > before ? ", " : "", commit);
    if (m.n == before) eb_sb_add(&m, "unknown");
    eb_sb_add(&m, " (%d row%s)", sqlite3_column_int(st, 4),
              sqlite3_column_int(st, 4) == 1 ? "" : "s");
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    free(m.p);
    return sql_fail(x, "reading the speed rows' machines");
  }
  if (n == 1) { /* one machine: without the row count */
    char *paren = m.p ? strrchr(m.p, '(') : NULL;
    if (paren && paren > m.p) paren[-1] = '\0';
  }
  if (n)
    eb_sb_add(nb, "; measured on %s%s", n > 1 ? "several machines or builds: " : "", m.p);
  free(m.p);
  return m.oom ? oom_fail(x) : 0;
}

static int speed_block(rctx *x, const char *mode, const char *task, int *blocks) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(
          x->db,
          "SELECT arch, seq_len, batch, threads, step_ms_median, "
          "peak_mem_bytes, status FROM speed WHERE suite_id=?1 AND mode=?2 "
          "AND coalesce(task,'')=?3 ORDER BY id",
          -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading speed rows");
  sqlite3_bind_int64(st, 1, x->suite_id);
  sqlite3_bind_text(st, 2, mode, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, task, -1, SQLITE_TRANSIENT);
  names archs = {0};
  int lens[64], nlen = 0, batch = -2, threads = -2, rc, ret = 0, oom = 0;
  scell *cells = NULL; /* [arch cap][64] */
  int cap_a = 0;
  rtable *t = NULL;
  int *perm = NULL;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int a = names_add(&archs, col_text(st, 0));
    if (a < 0) {
      oom = 1;
      break;
    }
    int len = sqlite3_column_int(st, 1), li = 0;
    while (li < nlen && lens[li] != len)
      li++;
    if (li == nlen) {
      if (nlen == 64) continue; /* more lengths than any paper table */
      lens[nlen++] = len;
    }
    int bt = sqlite3_column_int(st, 2), th = sqlite3_column_int(st, 3);
    batch = batch == -2 || batch == bt ? bt : -1;
    threads = threads == -2 || threads == th ? th : -1;
    if (a >= cap_a) {
      scell *c = realloc(cells, (size_t)archs.cap * 64 * sizeof *c);
      if (!c) {
        oom = 1;
        break;
      }
      memset(c + (size_t)cap_a * 64, 0, (size_t)(archs.cap - cap_a) * 64 * sizeof *c);
      cells = c;
      cap_a = archs.cap;
    }
    scell *c = &cells[a * 64 + li]; /* later rows replace earlier ones */
    c->present = 1;
    snprintf(c->status, sizeof c->status, "%s", col_text(st, 6));
    c->step_ms = col_real(st, 4);
    c->mem = col_real(st, 5);
  }
  sqlite3_finalize(st);
  if (oom || archs.oom) {
    ret = oom_fail(x);
    goto out;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    ret = sql_fail(x, "reading speed rows");
    goto out;
  }
  if (archs.n == 0) goto out;
  (*blocks)++;
  /* lengths ascending, carrying their cell column */
  int order[64];
  for (int i = 0; i < nlen; i++)
    order[i] = i;
  for (int i = 1; i < nlen; i++)
    for (int j = i; j > 0 && lens[order[j]] < lens[order[j - 1]]; j--) {
      int tmp = order[j];
      order[j] = order[j - 1];
      order[j - 1] = tmp;
    }
  perm = malloc((size_t)archs.n * sizeof *perm);
  if (!perm) {
    ret = oom_fail(x);
    goto out;
  }
  baseline_first(&archs, x->baseline, perm);
  int van = names_find(&archs, x->baseline);
#define DONE(c) ((c)->present && strcmp((c)->status, "done") == 0)

  if (x->f == EB_FMT_CSV) {
    for (int i = 0; i < archs.n; i++) {
      int a = perm[i];
      for (int j = 0; j < nlen; j++) {
        int li = order[j];
        const scell *c = &cells[a * 64 + li];
        if (!c->present) continue;
        const scell *v = van >= 0 ? &cells[van * 64 + li] : NULL;
        int ok = DONE(c), vok = v && DONE(v);
        double sps = ok && c->step_ms > 0 ? 1000.0 / c->step_ms : NAN;
        double vsps = vok && v->step_ms > 0 ? 1000.0 / v->step_ms : NAN;
        csv_row r = csv_start("speed", x->suite, archs.v[a], task, "steps_per_s");
        r.mode = mode;
        r.seq_len = lens[li];
        r.value = sps;
        r.status = c->status;
        r.ratio = sps / vsps;
        csv_put(x->o, &r);
        r.metric = "step_ms_median";
        r.value = ok ? c->step_ms : NAN;
        r.ratio = vok ? r.value / v->step_ms : NAN;
        csv_put(x->o, &r);
        r.metric = "peak_mem_bytes";
        r.value = ok ? c->mem : NAN;
        r.ratio = vok ? r.value / v->mem : NAN;
        csv_put(x->o, &r);
      }
    }
    goto out;
  }

  t = rt_new(1 + 2 * nlen);
  if (!t) {
    ret = oom_fail(x);
    goto out;
  }
  rt_head(t, 0, NULL, "arch");
  for (int j = 0; j < nlen; j++) {
    char h[32];
    snprintf(h, sizeof h, "%d", lens[order[j]]);
    rt_head(t, 1 + j, "steps/s", h);
    rt_head(t, 1 + nlen + j, "MiB", h);
  }
  for (int i = 0; i < archs.n; i++) {
    int a = perm[i];
    int r = rt_row(t);
    rt_set(t, r, 0, 0, "%s", archs.v[a]);
    for (int j = 0; j < nlen; j++) {
      int li = order[j];
      const scell *c = &cells[a * 64 + li];
      const scell *v = van >= 0 && a != van ? &cells[van * 64 + li] : NULL;
      int vok = v && DONE(v);
      eb_sbuf sp = {0}, mem = {0};
      if (DONE(c)) {
        if (c->step_ms > 0) {
          fmt_sig(&sp, 1000.0 / c->step_ms);
          if (vok && v->step_ms > 0) eb_sb_add(&sp, " (%.2fx)", v->step_ms / c->step_ms);
        } else {
          eb_sb_add(&sp, "n/a");
        }
        if (!isnan(c->mem)) {
          eb_sb_add(&mem, "%.1f", c->mem / 1048576.0);
          if (vok && v->mem > 0) eb_sb_add(&mem, " (%.2fx)", c->mem / v->mem);
        } else {
          eb_sb_add(&mem, "n/a");
        }
      } else if (c->present) {
        eb_sb_add(&sp, "%s", c->status);
        eb_sb_add(&mem, "%s", c->status);
      }
      rt_set_sb(t, r, 1 + j, &sp, 0);
      rt_set_sb(t, r, 1 + nlen + j, &mem, 0);
    }
  }
#undef DONE
  if (t->oom) {
    ret = oom_fail(x);
    goto out;
  }
  char title[1024], note[2048], label[1024];
  snprintf(title, sizeof title,
           "%s speed (steps/s) and peak memory (MiB) by sequence length, %s%s%s"
           "suite " CODE_ON "%s" CODE_OFF,
           strcmp(mode, "train") == 0 ? "Training" : "Inference", *task ? "task " : "",
           *task ? task : "", *task ? ", " : "", x->suite);
  eb_sbuf nb = {0};
  if (batch >= 0) eb_sb_add(&nb, "Batch %d", batch);
  if (threads >= 0)
    eb_sb_add(&nb, "%s%d thread%s", nb.n ? ", " : "", threads, threads == 1 ? "" : "s");
  eb_sb_add(&nb, "%sin parentheses the ratio to %s at the same length", nb.n ? "; " : "",
            x->baseline);
  if ((ret = speed_machines(x, mode, task, &nb)) != 0) {
    free(nb.p);
    goto out;
  }
  snprintf(note, sizeof note, "%s", nb.p ? nb.p : "");
  free(nb.p);
  snprintf(label, sizeof label, "effbench-speed-%s-%s-%s", mode, task, x->suite);
  render(x->o, x->f, title, note, label, t);
out:
  rt_free(t);
  free(perm);
  free(cells);
  names_free(&archs);
  return ret;
}

static int report_speed(rctx *x) {
  /* one block per (mode, task): train first, tasks by first appearance */
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(x->db,
                         "SELECT mode, coalesce(task,'') FROM speed WHERE suite_id=?1 "
                         "GROUP BY mode, coalesce(task,'') "
                         "ORDER BY mode='infer', min(id)",
                         -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading speed rows");
  sqlite3_bind_int64(st, 1, x->suite_id);
  names modes = {0}, tasks = {0};
  int rc, ret = 0, n = 0, blocks = 0;
  int *mi = NULL, *ti = NULL;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int *m2 = realloc(mi, (size_t)(n + 1) * sizeof *m2);
    if (m2) mi = m2;
    int *t2 = realloc(ti, (size_t)(n + 1) * sizeof *t2);
    if (t2) ti = t2;
    if (!m2 || !t2) {
      modes.oom = 1;
      break;
    }
    mi[n] = names_add(&modes, col_text(st, 0));
    ti[n] = names_add(&tasks, col_text(st, 1));
    n++;
  }
  sqlite3_finalize(st);
  if (modes.oom || tasks.oom)
    ret = oom_fail(x);
  else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    ret = sql_fail(x, "reading speed rows");
  for (int i = 0; !ret && i < n; i++)
    ret = speed_block(x, modes.v[mi[i]], tasks.v[ti[i]], &blocks);
  if (!ret && blocks == 0 && x->f != EB_FMT_CSV) {
    char title[1024];
    snprintf(title, sizeof title, "Speed and peak memory, suite " CODE_ON "%s" CODE_OFF,
             x->suite);
    render_empty(x->o, x->f, title,
                 "No speed measurements in this suite (add a speed: section to the "
                 "suite, or run effbench bench --db).");
  }
  free(mi);
  free(ti);
  names_free(&modes);
  names_free(&tasks);
  return ret;
}

/* ------------------------------------------------------- stats table -- */

/* The architectures' own statistics, as they declare them (report.h). */

/* A column: a declared stat, or a stat recorded by an arch that declares none
 * (label = name, mean over steps). Archs that declare an equal stat share it. */
typedef struct {
  const char *name, *label, *unit, *help; /* borrowed: x->stats or b->snames */
  eb_report_agg agg;
} scol;

/* A row, (arch, task): its runs' statuses and, over the runs that count, the
 * parameters and each column's per-run value. */
typedef struct {
  int arch, task;
  statc st;
  acc ptot, pact;
  acc *col; /* [ncol] */
} srow;

typedef struct {
  int64_t id;
  int row, counted; /* counted: done or timed out, its numbers count */
} srun;

typedef struct {
  names archs, tasks, snames; /* snames: stat names recorded */
  srun *runs;                 /* in id order */
  int nrun, caprun;
  srow *rows;
  int nrow;
  scol *cols;
  int ncol;
  unsigned char *has;  /* [arch * ncol + col]: the arch shows that column */
  unsigned char *show; /* [arch]: declares stats or recorded some */
  int undeclared;      /* an arch declares none: its recorded stats by name */
} stab;

static void stab_free(stab *b) {
  for (int i = 0; i < b->nrow; i++)
    free(b->rows[i].col);
  free(b->rows);
  free(b->runs);
  free(b->cols);
  free(b->has);
  free(b->show);
  names_free(&b->archs);
  names_free(&b->tasks);
  names_free(&b->snames);
}

/* Whether row label `label` is arch `arch`: "moe", or "moe (attempt 2)" under
 * report --attempt all. */
static int arch_is(const char *label, const char *arch) {
  size_t n = strlen(arch);
  return !strncmp(label, arch, n) && (!label[n] || !strncmp(label + n, " (attempt ", 10));
}

static const char *agg_words(eb_report_agg a) {
  switch (a) {
  case EB_AGG_LAST: return "last recorded value";
  case EB_AGG_SUM: return "sum over its recorded steps";
  case EB_AGG_MIN: return "smallest recorded value";
  case EB_AGG_MAX: return "largest recorded value";
  default: return "mean over its recorded steps";
  }
}

/* Decimals of a stat cell: two, more below 1 to keep three significant digits
 * (at most four): 1.60, 12.50, 0.0110. */
static int stat_decimals(double v) {
  v = fabs(v);
  int d = v > 0 ? 2 - (int)floor(log10(v)) : 2;
  return d < 2 ? 2 : d > 4 ? 4 : d;
}

static int srun_cmp(const void *k, const void *e) {
  int64_t a = *(const int64_t *)k, b = ((const srun *)e)->id;
  return a < b ? -1 : a > b;
}

/* Adds a row for (a, k) if new; its index, -1 when out of memory. */
static int stats_row(stab *b, int a, int k) {
  for (int i = 0; i < b->nrow; i++)
    if (b->rows[i].arch == a && b->rows[i].task == k) return i;
  srow *r = realloc(b->rows, (size_t)(b->nrow + 1) * sizeof *r);
  if (!r) return -1;
  b->rows = r;
  memset(&r[b->nrow], 0, sizeof *r);
  r[b->nrow].arch = a;
  r[b->nrow].task = k;
  return b->nrow++;
}

/* The suite's runs, in id order, each in its (arch, task) row. */
static int stats_runs(rctx *x, stab *b) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(
          x->db,
          "SELECT id, arch, task, status, params_total, params_active "
          "FROM runs WHERE suite_id=?1 AND conflict_of IS NULL ORDER BY id",
          -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading runs");
  sqlite3_bind_int64(st, 1, x->suite_id);
  int rc, oom = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int a = names_add(&b->archs, col_text(st, 1));
    int k = names_add(&b->tasks, col_text(st, 2));
    int i = a < 0 || k < 0 ? -1 : stats_row(b, a, k);
    if (i >= 0 && b->nrun == b->caprun) {
      int cap = b->caprun ? 2 * b->caprun : 64;
      srun *u = realloc(b->runs, (size_t)cap * sizeof *u);
      if (u) {
        b->runs = u;
        b->caprun = cap;
      }
    }
    if (i < 0 || b->nrun == b->caprun) {
      oom = 1;
      break;
    }
    srow *m = &b->rows[i];
    int si = status_index(col_text(st, 3));
    m->st.runs++;
    m->st.count[si]++;
    /* a timed-out run trained and measured up to its budget: its numbers count */
    const int counted = si == ST_DONE || si == ST_TIMEOUT;
    b->runs[b->nrun++] = (srun){sqlite3_column_int64(st, 0), i, counted};
    double v;
    if (counted && !isnan(v = col_real(st, 4))) acc_add(&m->ptot, v);
    if (counted && !isnan(v = col_real(st, 5))) acc_add(&m->pact, v);
  }
  sqlite3_finalize(st);
  if (oom || b->archs.oom || b->tasks.oom) return oom_fail(x);
  return rc == SQLITE_DONE ? 0 : sql_fail(x, "reading runs");
}

/* Column c's index (an equal column is shared), -1 when out of memory. */
static int stats_col(stab *b, scol c) {
  for (int j = 0; j < b->ncol; j++) {
    const scol *o = &b->cols[j];
    if (!strcmp(o->name, c.name) && !strcmp(o->label, c.label) &&
        !strcmp(o->unit, c.unit) && o->agg == c.agg)
      return j;
  }
  scol *c2 = realloc(b->cols, (size_t)(b->ncol + 1) * sizeof *c2);
  if (!c2) return -1;
  b->cols = c2;
  b->cols[b->ncol] = c;
  return b->ncol++;
}

/* The columns, archs in order of appearance: each arch's declared stats in
 * declaration order; for an arch that declares none, the stats it recorded
 * by name (params_inactive aside: it is the active-parameter column). Fills
 * has[][] and show[]. */
static int stats_columns(rctx *x, stab *b) {
  const int na = b->archs.n;
  int *pair = NULL, npair = 0; /* (arch, column) */
  unsigned char *recorded = calloc((size_t)na + 1, 1);
  b->show = calloc((size_t)na + 1, 1);
  sqlite3_stmt *st = NULL;
  int rc = SQLITE_NOMEM;
  if (!recorded || !b->show) goto done;
  if (sqlite3_prepare_v2(x->db,
                         "SELECT r.arch, s.name FROM run_stats s JOIN runs r "
                         "ON r.id=s.run_id WHERE r.suite_id=?1 AND r.conflict_of IS NULL "
                         "GROUP BY r.arch, s.name ORDER BY s.name",
                         -1, &st, NULL) != SQLITE_OK) {
    rc = SQLITE_ERROR;
    goto done;
  }
  sqlite3_bind_int64(st, 1, x->suite_id);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int a = names_find(&b->archs, col_text(st, 0));
    if (a < 0) continue;
    recorded[a] = 1;
    if (!strcmp(col_text(st, 1), "params_inactive")) continue;
    int k = names_add(&b->snames, col_text(st, 1));
    int *p2 = k < 0 ? NULL : realloc(pair, (size_t)(npair + 1) * 2 * sizeof *p2);
    if (!p2) {
      rc = SQLITE_NOMEM;
      goto done;
    }
    pair = p2;
    pair[2 * npair] = a;
    pair[2 * npair + 1] = -1 - k; /* a recorded name, not yet a column */
    npair++;
  }
  if (rc != SQLITE_DONE) goto done;
  sqlite3_finalize(st);
  st = NULL;
  /* recorded names become columns only for archs that declare nothing */
  int nrec = npair;
  for (int a = 0; a < na; a++) {
    int declared = 0;
    for (int i = 0; i < x->nstats; i++) {
      const eb_report_stat *d = &x->stats[i];
      if (!d->arch || !d->name || !arch_is(b->archs.v[a], d->arch)) continue;
      declared = 1;
      int j = stats_col(b, (scol){d->name, d->label && *d->label ? d->label : d->name,
                                  d->unit ? d->unit : "", d->help, d->agg});
      int *p2 = j < 0 ? NULL : realloc(pair, (size_t)(npair + 1) * 2 * sizeof *p2);
      if (!p2) {
        rc = SQLITE_NOMEM;
        goto done;
      }
      pair = p2;
      pair[2 * npair] = a;
      pair[2 * npair + 1] = j;
      npair++;
    }
    b->show[a] = declared || recorded[a];
    if (declared || !recorded[a]) continue;
    b->undeclared = 1;
    for (int i = 0; i < nrec; i++) {
      if (pair[2 * i] != a) continue;
      const char *n = b->snames.v[-1 - pair[2 * i + 1]];
      int j = stats_col(b, (scol){n, n, "", NULL, EB_AGG_MEAN});
      if (j < 0) {
        rc = SQLITE_NOMEM;
        goto done;
      }
      pair[2 * i + 1] = j;
    }
  }
  b->has = calloc((size_t)na * (size_t)b->ncol + 1, 1);
  if (!b->has) {
    rc = SQLITE_NOMEM;
    goto done;
  }
  for (int i = 0; i < npair; i++)
    if (pair[2 * i + 1] >= 0) b->has[pair[2 * i] * b->ncol + pair[2 * i + 1]] = 1;
  for (int i = 0; i < b->nrow; i++)
    if (!(b->rows[i].col = calloc((size_t)b->ncol + 1, sizeof *b->rows[i].col))) {
      rc = SQLITE_NOMEM;
      goto done;
    }
  rc = SQLITE_DONE;
done:
  sqlite3_finalize(st);
  free(recorded);
  free(pair);
  if (rc == SQLITE_NOMEM || b->snames.oom) return oom_fail(x);
  return rc == SQLITE_DONE ? 0 : sql_fail(x, "reading the recorded stats");
}

/* Column j's value per run (its aggregation over the run's recorded steps),
 * added to the run's row where the run counts and its arch shows column j. */
static int stats_values(rctx *x, stab *b, int j) {
  const scol *c = &b->cols[j];
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(
          x->db,
          "SELECT s.run_id, s.value FROM run_stats s JOIN runs r "
          "ON r.id=s.run_id WHERE r.suite_id=?1 AND r.conflict_of IS NULL "
          "AND s.name=?2 AND s.value IS NOT NULL ORDER BY s.run_id, s.step",
          -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading the recorded stats");
  sqlite3_bind_int64(st, 1, x->suite_id);
  sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
  int64_t cur = 0;
  int n = 0, rc;
  double v = 0;
  for (;;) {
    rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (n && (rc != SQLITE_ROW || id != cur)) { /* run cur is complete */
      const srun *u = bsearch(&cur, b->runs, (size_t)b->nrun, sizeof *b->runs, srun_cmp);
      if (u && u->counted && b->has[b->rows[u->row].arch * b->ncol + j])
        acc_add(&b->rows[u->row].col[j], c->agg == EB_AGG_MEAN ? v / n : v);
      n = 0;
    }
    if (rc != SQLITE_ROW) break;
    double y = sqlite3_column_double(st, 1);
    cur = id;
    if (n == 0 || c->agg == EB_AGG_LAST)
      v = y;
    else if (c->agg == EB_AGG_MIN)
      v = fmin(v, y);
    else if (c->agg == EB_AGG_MAX)
      v = fmax(v, y);
    else
      v += y; /* mean, sum */
    n++;
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : sql_fail(x, "reading the recorded stats");
}

static void fmt_count(eb_sbuf *b, double v) {
  if (v >= 1e9)
    eb_sb_add(b, "%.2fG", v / 1e9);
  else if (v >= 1e6)
    eb_sb_add(b, "%.2fM", v / 1e6);
  else if (v >= 1e3)
    eb_sb_add(b, "%.1fK", v / 1e3);
  else
    eb_sb_add(b, "%.0f", v);
}

static void stats_csv(rctx *x, const stab *b) {
  for (int i = 0; i < b->nrow; i++) {
    const srow *m = &b->rows[i];
    if (!b->show[m->arch]) continue;
    eb_sbuf sb = {0};
    status_csv(&sb, &m->st);
    for (int j = -2; j < b->ncol; j++) {
      if (j >= 0 && !b->has[m->arch * b->ncol + j]) continue;
      const acc *a = j == -2 ? &m->ptot : j == -1 ? &m->pact : &m->col[j];
      csv_row r = csv_start("stats", x->suite, b->archs.v[m->arch], b->tasks.v[m->task],
                            j == -2   ? "params_total"
                            : j == -1 ? "params_active"
                                      : b->cols[j].name);
      r.value = a->n ? a->mean : NAN;
      r.std = acc_std(a);
      r.n = a->n;
      r.runs = m->st.runs;
      r.status = sb.p;
      csv_put(x->o, &r);
    }
    free(sb.p);
  }
}

/* "mean ± std" of a stat cell, fractions of unit "%" as percentages. */
static void stat_cell(eb_sbuf *o, const scol *c, const acc *a) {
  if (!a->n) {
    eb_sb_add(o, "n/a");
    return;
  }
  const double scale = !strcmp(c->unit, "%") ? 100.0 : 1.0;
  const int d = stat_decimals(scale * a->mean);
  eb_sb_add(o, "%.*f", d, scale * a->mean);
  if (a->n >= 2) eb_sb_add(o, " " PM " %.*f", d, scale * acc_std(a));
}

/* The caption: what the columns mean and how a cell is aggregated. */
static void stats_note(const stab *b, eb_sbuf *nb) {
  eb_sb_add(nb, "Parameters total vs active per token");
  for (int j = 0; j < b->ncol; j++)
    if (b->cols[j].help && *b->cols[j].help)
      eb_sb_add(nb, "; %s: %s", b->cols[j].label, b->cols[j].help);
  eb_sb_add(nb,
            "; mean " PM " std over the seeds that finished or timed out (their steps up "
            "to the budget) of each run's ");
  int mixed = 0;
  for (int j = 1; j < b->ncol; j++)
    mixed |= b->cols[j].agg != b->cols[0].agg;
  if (!mixed) {
    eb_sb_add(nb, "%s", agg_words(b->ncol ? b->cols[0].agg : EB_AGG_MEAN));
  } else {
    eb_sb_add(nb, "value:");
    for (int g = EB_AGG_MEAN; g <= EB_AGG_MAX; g++) {
      int k = 0;
      for (int j = 0; j < b->ncol; j++)
        if ((int)b->cols[j].agg == g)
          eb_sb_add(nb, "%s%s",
                    k++                ? ", "
                    : g == EB_AGG_MEAN ? " "
                                       : "; ",
                    b->cols[j].label);
      if (k) eb_sb_add(nb, " its %s", agg_words((eb_report_agg)g));
    }
  }
  if (b->undeclared)
    eb_sb_add(nb,
              ". Archs that declare no stats (their plugin not loaded, or built against "
              "an older header) show what they recorded, by name");
}

static int report_stats(rctx *x) {
  stab b = {0};
  rtable *t = NULL;
  int ret = stats_runs(x, &b);
  if (!ret) ret = stats_columns(x, &b);
  for (int j = 0; !ret && j < b.ncol; j++)
    ret = stats_values(x, &b, j);
  if (ret) goto out;
  int shown = 0;
  for (int i = 0; i < b.nrow; i++)
    shown += b.show[b.rows[i].arch];
  char title[1024];
  snprintf(title, sizeof title, "Architecture statistics, suite " CODE_ON "%s" CODE_OFF,
           x->suite);
  if (shown == 0) {
    if (x->f != EB_FMT_CSV)
      render_empty(x->o, x->f, title,
                   "No architecture statistics in this suite (no run of an arch that "
                   "declares stats or recorded some).");
    goto out;
  }
  if (x->f == EB_FMT_CSV) {
    stats_csv(x, &b);
    goto out;
  }
  const int nc = 6 + b.ncol;
  if (!(t = rt_new(nc))) {
    ret = oom_fail(x);
    goto out;
  }
  static const char *const heads[] = {"arch", "task", "params", "active params",
                                      "active %"};
  for (int c = 0; c < 5; c++)
    rt_head(t, c, NULL, heads[c]);
  for (int j = 0; j < b.ncol; j++) {
    eb_sbuf h = {0};
    eb_sb_add(&h, *b.cols[j].unit ? "%s (%s)" : "%s", b.cols[j].label, b.cols[j].unit);
    rt_head(t, 5 + j, NULL, h.p ? h.p : b.cols[j].label);
    free(h.p);
  }
  rt_head(t, nc - 1, NULL, "seeds");
  t->align[1] = 'l';
  for (int i = 0; i < b.nrow; i++) {
    const srow *m = &b.rows[i];
    if (!b.show[m->arch]) continue;
    int r = rt_row(t);
    rt_set(t, r, 0, 0, "%s", b.archs.v[m->arch]);
    rt_set(t, r, 1, 0, "%s", b.tasks.v[m->task]);
    int ntime = m->st.count[ST_TIMEOUT], ndone = m->st.count[ST_DONE] + ntime;
    for (int c = 2; c < nc - 1; c++) {
      eb_sbuf o = {0};
      const int j = c - 5;
      if (j >= 0 && !b.has[m->arch * b.ncol + j]) {
        /* not this arch's stat: blank */
      } else if (ndone == 0) {
        status_text(&o, &m->st);
      } else if (c == 2 || c == 3) {
        const acc *a = c == 2 ? &m->ptot : &m->pact;
        if (a->n)
          fmt_count(&o, a->mean);
        else
          eb_sb_add(&o, "n/a");
      } else if (c == 4) {
        if (m->ptot.n && m->pact.n && m->ptot.mean > 0)
          eb_sb_add(&o, "%.1f", 100.0 * m->pact.mean / m->ptot.mean);
        else
          eb_sb_add(&o, "n/a");
      } else {
        stat_cell(&o, &b.cols[j], &m->col[j]);
      }
      rt_set_sb(t, r, c, &o, 0);
    }
    eb_sbuf o = {0};
    if (ndone == m->st.runs)
      eb_sb_add(&o, "%d", ndone);
    else
      eb_sb_add(&o, "%d/%d", ndone, m->st.runs);
    if (ntime) eb_sb_add(&o, ntime == ndone ? " (timeout)" : " (%d timeout)", ntime);
    rt_set_sb(t, r, nc - 1, &o, 0);
  }
  eb_sbuf nb = {0};
  stats_note(&b, &nb);
  if (t->oom || nb.oom) {
    free(nb.p);
    ret = oom_fail(x);
    goto out;
  }
  char label[1024];
  snprintf(label, sizeof label, "effbench-stats-%s", x->suite);
  render(x->o, x->f, title, nb.p, label, t);
  free(nb.p);
out:
  rt_free(t);
  stab_free(&b);
  return ret;
}

/* ------------------------------------------------------ scaling fits -- */

/* "0.312 [0.281, 0.347]": the estimate and its bootstrap interval */
static void fit_num(eb_sbuf *b, const eb_fit_cell *c, int j, double v) {
  eb_sb_add(b, "%.3g", v);
  if (c->ci_rc == 0) eb_sb_add(b, " [%.3g, %.3g]", c->ci.lo[j], c->ci.hi[j]);
}

static void fit_csv(rctx *x, const eb_fit_cell *c, const char *metric, const char *what,
                    double v, const char *status) {
  char name[64];
  snprintf(name, sizeof name, "%s_%s", metric, what);
  csv_row r = csv_start("fit", x->suite, c->arch, c->task, name);
  r.value = v;
  r.n = c->n;
  r.runs = c->runs;
  r.status = status;
  csv_put(x->o, &r);
}

static int report_fit(rctx *x, int in_all) {
  eb_fit_set fs;
  int frc = eb_fit_set_load(x->db, eb_store_path(x->s), x->suite_id, x->baseline,
                            x->fit.metric, x->fit.resamples, &fs, x->err, x->errlen);
  if (frc) return frc;
  int fittable = 0;
  for (int i = 0; i < fs.n; i++)
    fittable |= fs.cell[i].fit.budgets >= EB_FIT_MIN_BUDGETS;
  const char *metric = eb_fit_metric_name(x->fit.metric);
  const char *what = x->fit.metric == EB_FIT_ERROR ? "test error rate" : "test loss";
  char title[1024];
  snprintf(title, sizeof title,
           "Scaling fits, %s = a" CODE_ON "C^-b" CODE_OFF " + c, suite " CODE_ON
           "%s" CODE_OFF,
           what, x->suite);
  rtable *t = NULL;
  int ret = 0;
  if (in_all && !fittable) goto out; /* nothing measured at several budgets */
  if (fs.n == 0) {
    if (x->f != EB_FMT_CSV)
      render_empty(x->o, x->f, title, "No finished training runs in this suite.");
    goto out;
  }
  if (x->f == EB_FMT_CSV) {
    for (int i = 0; i < fs.n; i++) {
      const eb_fit_cell *c = &fs.cell[i];
      if (c->rc) {
        char why[300];
        snprintf(why, sizeof why, "no fit: %s", c->why);
        fit_csv(x, c, metric, "fit", NAN, why);
        continue;
      }
      const double est[3] = {c->fit.a, c->fit.b, c->fit.c};
      const char *pn[3] = {"a", "b", "c"};
      for (int j = 0; j < 3; j++) {
        char lo[8], hi[8];
        snprintf(lo, sizeof lo, "%s_lo", pn[j]);
        snprintf(hi, sizeof hi, "%s_hi", pn[j]);
        fit_csv(x, c, metric, pn[j], est[j], "ok");
        const char *cs = c->ci_rc == 0   ? "ok"
                         : c->ci_rc == 1 ? "no bootstrap"
                                         : c->ci_why;
        fit_csv(x, c, metric, lo, c->ci_rc == 0 ? c->ci.lo[j] : NAN, cs);
        fit_csv(x, c, metric, hi, c->ci_rc == 0 ? c->ci.hi[j] : NAN, cs);
      }
      fit_csv(x, c, metric, "r2", c->fit.r2, "ok");
      fit_csv(x, c, metric, "budgets", c->fit.budgets, "ok");
    }
    goto out;
  }
  t = rt_new(10);
  if (!t) {
    ret = oom_fail(x);
    goto out;
  }
  const char *heads[] = {"arch", "task", "a",     "b",       "c",
                         "R2",   "runs", "seeds", "budgets", "interval"};
  for (int c = 0; c < 10; c++)
    rt_head(t, c, NULL, heads[c]);
  t->align[1] = 'l';
  t->align[9] = 'l';
  int left_out = 0;
  for (int i = 0; i < fs.n; i++) {
    const eb_fit_cell *c = &fs.cell[i];
    int r = rt_row(t);
    rt_set(t, r, 0, 0, "%s", c->arch);
    rt_set(t, r, 1, 0, "%s", c->task);
    if (c->rc) {
      rt_set(t, r, 2, 0, "no fit: %s", c->why);
      for (int k = 3; k <= 5; k++)
        rt_set(t, r, k, 0, DASH);
    } else {
      const double est[3] = {c->fit.a, c->fit.b, c->fit.c};
      for (int j = 0; j < 3; j++) {
        eb_sbuf b = {0};
        fit_num(&b, c, j, est[j]);
        rt_set_sb(t, r, 2 + j, &b, 0);
      }
      rt_set(t, r, 5, 0, "%.3f", c->fit.r2);
    }
    eb_sbuf b = {0};
    eb_sb_add(&b, "%d", c->n);
    if (c->left_out) eb_sb_add(&b, " (+%d left out)", c->left_out);
    left_out += c->left_out;
    rt_set_sb(t, r, 6, &b, 0);
    rt_set(t, r, 7, 0, "%d", c->nseeds);
    int nb = c->n ? eb_fit_budgets(c->C, c->n) : 0;
    if (nb > 1)
      rt_set(t, r, 8, 0, "%d (%.2g to %.2g)", nb, c->cmin, c->cmax);
    else if (nb == 1)
      rt_set(t, r, 8, 0, "1 (%.2g)", c->cmin);
    else
      rt_set(t, r, 8, 0, "0");
    if (c->rc)
      rt_set(t, r, 9, 0, DASH);
    else if (c->ci_rc == 0)
      rt_set(t, r, 9, 0, "%d/%d resamples", c->ci.fitted, c->ci.resamples);
    else if (c->ci_rc == 1)
      rt_set(t, r, 9, 0, "none (0 resamples)");
    else
      rt_set(t, r, 9, 0, "none: %s", c->ci_why);
  }
  if (t->oom) {
    ret = oom_fail(x);
    goto out;
  }
  char label[1024];
  snprintf(label, sizeof label, "effbench-fit-%s-%s", metric, x->suite);
  eb_sbuf note = {0};
  eb_sb_add(
      &note,
      "Least-squares fit of %s = a" CODE_ON "C^-b" CODE_OFF
      " + c (b > 0, c >= 0) per arch and task; C = training model FLOPs of a run (per "
      "step, no recompute, times steps done); %s; one point per finished run; ",
      what,
      x->fit.metric == EB_FIT_ERROR
          ? "y = 1 - test accuracy at the best validation step"
          : "y = test cross-entropy at the best validation step");
  if (x->fit.resamples > 0)
    eb_sb_add(&note,
              "[lo, hi]: 2.5 and 97.5 percentiles of refits on %d bootstrap resamples of "
              "the seeds (all runs of a drawn seed go in); ",
              x->fit.resamples);
  else
    eb_sb_add(&note, "no intervals (0 bootstrap resamples); ");
  eb_sb_add(&note, "budgets: distinct C (at least %d needed) and their range in FLOPs",
            EB_FIT_MIN_BUDGETS);
  if (left_out)
    eb_sb_add(&note, "; left out: runs stored without model FLOPs or a test result");
  if (note.oom)
    ret = oom_fail(x);
  else
    render(x->o, x->f, title, note.p, label, t);
  free(note.p);
out:
  rt_free(t);
  eb_fit_set_free(&fs);
  return ret;
}

/* --------------------------------------------------------- conflicts -- */

/* Run keys that `effbench merge` found with different results in different
 * databases (another machine or commit) and kept twice: every version, so a
 * reader sees the disagreement; the other tables use the version merged
 * first (conflict_of NULL). Nothing when there is none. */
static int report_conflicts(rctx *x) {
  static const char *sql =
      "WITH c AS (SELECT DISTINCT conflict_of AS k FROM runs "
      "           WHERE suite_id=?1 AND conflict_of IS NOT NULL) "
      "SELECT c.k, r.arch, r.task, r.seed, r.status, r.test_accuracy, "
      " coalesce(r.host, '?'), coalesce(r.git_commit, r.build, '?'), "
      " coalesce(r.cpu_model, '?'), r.conflict_of IS NULL, r.finished_at "
      "FROM c JOIN runs r ON r.run_key=c.k OR r.conflict_of=c.k "
      "ORDER BY c.k, r.conflict_of IS NOT NULL, r.id";
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading conflicting runs");
  sqlite3_bind_int64(st, 1, x->suite_id);
  rtable *t = x->f == EB_FMT_CSV ? NULL : rt_new(10);
  if (x->f != EB_FMT_CSV && !t) {
    sqlite3_finalize(st);
    return oom_fail(x);
  }
  const char *heads[] = {"run key", "arch",   "task", "seed",   "version",
                         "status",  "test %", "host", "commit", "finished"};
  for (int c = 0; t && c < 10; c++)
    rt_head(t, c, NULL, heads[c]);
  int rc, n = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    n++;
    int first = sqlite3_column_int(st, 9);
    double acc =
        sqlite3_column_type(st, 5) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 5);
    if (!t) {
      char src[1024];
      snprintf(src, sizeof src, "conflict: run key %s, %s, on %s (%s) at %s",
               col_text(st, 0), first ? "in the tables" : "kept beside", col_text(st, 6),
               col_text(st, 8), col_text(st, 7));
      csv_row r = csv_start("conflicts", x->suite, col_text(st, 1), col_text(st, 2),
                            "test_accuracy");
      r.value = acc;
      r.n = 1;
      r.status = col_text(st, 4);
      r.source = src;
      csv_put(x->o, &r);
      continue;
    }
    int r = rt_row(t);
    rt_set(t, r, 0, 0, CODE_ON "%.12s" CODE_OFF, col_text(st, 0));
    rt_set(t, r, 1, 0, "%s", col_text(st, 1));
    rt_set(t, r, 2, 0, "%s", col_text(st, 2));
    rt_set(t, r, 3, 0, "%lld", (long long)sqlite3_column_int64(st, 3));
    rt_set(t, r, 4, 0, "%s", first ? "in the tables" : "kept beside");
    rt_set(t, r, 5, 0, "%s", col_text(st, 4));
    if (isnan(acc))
      rt_set(t, r, 6, 0, DASH);
    else
      rt_set(t, r, 6, 0, "%.2f", 100 * acc);
    rt_set(t, r, 7, 0, "%s (%s)", col_text(st, 6), col_text(st, 8));
    rt_set(t, r, 8, 0, "%s", col_text(st, 7));
    rt_set(t, r, 9, 0, "%s", col_text(st, 10));
  }
  sqlite3_finalize(st);
  int ret = 0;
  if (rc != SQLITE_DONE) {
    ret = sql_fail(x, "reading conflicting runs");
  } else if (t && t->oom) {
    ret = oom_fail(x);
  } else if (t && n) {
    for (int c = 1; c < 10; c++)
      t->align[c] = c == 3 || c == 6 ? 'r' : 'l';
    char title[1024], label[1024];
    snprintf(title, sizeof title, "Conflicting results, suite " CODE_ON "%s" CODE_OFF,
             x->suite);
    snprintf(label, sizeof label, "effbench-conflicts-%s", x->suite);
    render(x->o, x->f, title,
           "The same run key with different results in merged databases (another "
           "machine or commit): the other tables use the version in the tables; " CODE_ON
           "effbench merge --prefer newest|first" CODE_OFF " keeps one",
           label, t);
  }
  rt_free(t);
  return ret;
}

/* ------------------------------------------------ HTML: suite details -- */

/* A table straight from a query of this suite (?1): one column per result
 * column, NULL shown as a dash; spec[c] is 'l' or 'r' (alignment) or 'c'
 * (left, in code type). Renders it, or `empty` when the query has no row. */
static int query_table(rctx *x, const char *sql, const char *const *heads,
                       const char *spec, const char *cls, const char *title,
                       const char *note, const char *label, const char *empty) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, label);
  sqlite3_bind_int64(st, 1, x->suite_id);
  int ncol = (int)strlen(spec), rc;
  rtable *t = rt_new(ncol);
  if (!t) {
    sqlite3_finalize(st);
    return oom_fail(x);
  }
  t->cls = cls;
  for (int c = 0; c < ncol; c++) {
    rt_head(t, c, NULL, heads[c]);
    t->align[c] = spec[c] == 'r' ? 'r' : 'l';
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int r = rt_row(t);
    for (int c = 0; c < ncol; c++) {
      if (sqlite3_column_type(st, c) == SQLITE_NULL)
        rt_set(t, r, c, 0, DASH);
      else
        rt_set(t, r, c, 0, spec[c] == 'c' ? CODE_ON "%s" CODE_OFF : "%s",
               col_text(st, c));
    }
  }
  sqlite3_finalize(st);
  int ret = 0;
  if (rc != SQLITE_DONE)
    ret = sql_fail(x, label);
  else if (t->oom)
    ret = oom_fail(x);
  else if (t->nrow == 0)
    render_empty(x->o, x->f, title, empty);
  else
    render(x->o, x->f, title, note, label, t);
  rt_free(t);
  return ret;
}

/* Where each task's data came from: one row per distinct source. */
static int report_provenance(rctx *x) {
  static const char *const heads[] = {"task", "kind", "label", "runs", "source"};
  static const char *sql =
      "SELECT task, coalesce(data_kind, 'unrecorded'), data_label, count(*), "
      "data_source FROM runs WHERE suite_id=?1 AND conflict_of IS NULL "
      "GROUP BY task, data_kind, data_label, data_source ORDER BY min(id)";
  char title[1024], label[1024];
  snprintf(title, sizeof title, "Data provenance, suite " CODE_ON "%s" CODE_OFF,
           x->suite);
  snprintf(label, sizeof label, "effbench-provenance-%s", x->suite);
  return query_table(x, sql, heads, "lllrc", "provenance", title,
                     "The data each task's runs trained and tested on: generator, rule "
                     "and seed, or every file read with its size and SHA-256 "
                     "(docs/schema.md, runs.data_source)",
                     label, "No training runs in this suite.");
}

/* Every run of the suite with the machine and build that ran it. */
static int report_runs(rctx *x) {
  static const char *const heads[] = {
      "run", "arch",  "task",    "seed", "status", "test %",   "data",    "host",
      "CPU", "cores", "threads", "GEMM", "commit", "compiler", "finished"};
  static const char *sql =
      "SELECT id, arch, task, seed, status || CASE WHEN conflict_of IS NULL THEN '' "
      " ELSE ' (conflict)' END, CASE WHEN test_accuracy IS NULL THEN NULL "
      " ELSE printf('%.2f', 100 * test_accuracy) END, data_label, host, cpu_model, "
      " cores, threads, isa, coalesce(git_commit, build), compiler, finished_at "
      "FROM runs WHERE suite_id=?1 ORDER BY id";
  char title[1024], label[1024];
  snprintf(title, sizeof title,
           "Runs, machines and commits, suite " CODE_ON "%s" CODE_OFF, x->suite);
  snprintf(label, sizeof label, "effbench-runs-%s", x->suite);
  return query_table(
      x, sql, heads, "rllrlrlllrrlcll", "runs", title,
      "Every run with the machine (host, CPU model, online cores, worker "
      "threads, GEMM kernel ISA) and the effbench commit and compiler that "
      "ran it; a dash: not recorded (runs before schema 5)",
      label, "No training runs in this suite.");
}

/* The suite file as last run (suites.yaml), verbatim. */
static int report_yaml(rctx *x) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(x->db, "SELECT coalesce(yaml, '') FROM suites WHERE id=?1", -1,
                         &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading the suite YAML");
  sqlite3_bind_int64(st, 1, x->suite_id);
  int rc = sqlite3_step(st);
  const char *yaml = rc == SQLITE_ROW ? col_text(st, 0) : "";
  fputs("<h2 id=\"suite\">Suite</h2>\n", x->o);
  if (*yaml) {
    fputs("<p class=\"note\">The suite file as it was last run "
          "(<code>suites.yaml</code>).</p>\n",
          x->o);
    fputs("<pre class=\"yaml\">", x->o);
    eb_html_put(x->o, yaml, strlen(yaml));
    fputs("</pre>\n", x->o);
  } else {
    fputs("<p class=\"empty\">No suite file stored: these rows come from "
          "<code>effbench bench --db</code>.</p>\n",
          x->o);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                               : sql_fail(x, "reading the suite YAML");
}

/* Everything the HTML document adds after the tables. */
static int report_html_rest(rctx *x, char *warn, size_t wlen) {
  int ret = eb_html_figures(x->s, x->suite, x->flags & EB_REPORT_MIX_SOURCES, x->baseline,
                            x->o, warn, wlen, x->err, x->errlen);
  if (ret) return ret;
  if (!(ret = report_yaml(x))) {
    fputs("<h2 id=\"runs\">Runs</h2>\n", x->o);
    ret = report_provenance(x);
  }
  if (!ret) ret = report_runs(x);
  if (!ret) eb_html_end(x->o);
  return ret;
}

/* -------------------------------------------------------------- entry -- */

int eb_report(eb_store *s, const char *suite, eb_table t, eb_format f, FILE *out,
              char *err, size_t errlen) {
  return eb_report_ex(s, suite, t, f, 0, out, err, errlen);
}

/* Sweep variants: runs of one arch that differ in their configuration
 * (a sweep, or settings changed between runs) besides the seed, the task and
 * its parameters. Fills the temporary table run_variant(id, label) with, for
 * each such run of the suite, the keys that differ within its (arch, task)
 * and its values, e.g. "attention=naive" or "feature=relu, train.lr=0.001"
 * (arch_params' keys without their prefix, others as their path in
 * config_json). *any is set when one run has a label. */
static int variant_labels(rctx *x, int *any) {
  *any = 0;
  if (sqlite3_exec(x->db,
                   "DROP TABLE IF EXISTS temp.run_variant;"
                   "CREATE TEMP TABLE run_variant(id INTEGER PRIMARY KEY, label TEXT)",
                   NULL, NULL, NULL) != SQLITE_OK)
    return sql_fail(x, "labelling sweep variants");
  static const char sql[] =
      "WITH sr AS (SELECT id, arch, task, config_json FROM main.runs "
      "WHERE suite_id=?1 AND conflict_of IS NULL AND json_valid(config_json)), "
      "kv AS (SELECT * FROM (SELECT sr.id, sr.arch, sr.task, "
      "substr(replace(t.fullkey, '\"', ''), 3) AS k, quote(t.atom) AS q, t.atom AS v "
      "FROM sr, json_tree(sr.config_json) t WHERE t.type NOT IN ('object', 'array')) "
      "WHERE k NOT IN ('seed', 'data_seed', 'task', 'arch')), "
      "grp AS (SELECT arch, task, count(*) AS n FROM sr GROUP BY arch, task), "
      /* a key that varies within a task column labels the arch's runs in
       * every column (a train.lr sweep is one row across tasks); a task
       * parameter only that task's runs (mqar.len: rows of the mqar column) */
      "vk AS (SELECT DISTINCT kv.arch, CASE WHEN kv.k LIKE 'task^_params.%' ESCAPE '^' "
      "THEN kv.task END AS tk, kv.k FROM kv JOIN grp ON grp.arch=kv.arch "
      "AND grp.task=kv.task GROUP BY kv.arch, kv.task, kv.k "
      "HAVING count(DISTINCT kv.q) > 1 OR count(*) < max(grp.n)) "
      "SELECT kv.id, CASE WHEN kv.k LIKE 'arch^_params.%' ESCAPE '^' THEN substr(kv.k, "
      "13) WHEN kv.k LIKE 'task^_params.%' ESCAPE '^' THEN kv.task || '.' || "
      "substr(kv.k, 13) ELSE kv.k END, ifnull(kv.v, 'null') FROM kv JOIN vk ON "
      "vk.arch=kv.arch AND vk.k=kv.k AND (vk.tk IS NULL OR vk.tk=kv.task) "
      "ORDER BY kv.id, kv.k";
  sqlite3_stmt *st = NULL, *put = NULL;
  if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(x->db, "INSERT INTO temp.run_variant(id, label) VALUES(?1, ?2)",
                         -1, &put, NULL) != SQLITE_OK) {
    sqlite3_finalize(st);
    return sql_fail(x, "labelling sweep variants");
  }
  sqlite3_bind_int64(st, 1, x->suite_id);
  eb_sbuf lab = {0};
  int64_t cur = 0;
  int rc, ret = 0;
  for (;;) {
    rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (cur && id != cur) { /* the previous run's label is whole */
      if (lab.oom) {
        ret = oom_fail(x);
        break;
      }
      sqlite3_reset(put);
      sqlite3_bind_int64(put, 1, cur);
      sqlite3_bind_text(put, 2, lab.p, -1, SQLITE_TRANSIENT);
      if (sqlite3_step(put) != SQLITE_DONE) {
        ret = sql_fail(x, "labelling sweep variants");
        break;
      }
      *any = 1;
      free(lab.p);
      lab = (eb_sbuf){0};
    }
    if (rc != SQLITE_ROW) break;
    eb_sb_add(&lab, "%s%s=%s", id == cur ? ", " : "",
              (const char *)sqlite3_column_text(st, 1),
              (const char *)sqlite3_column_text(st, 2));
    cur = id;
  }
  if (!ret && rc != SQLITE_DONE) ret = sql_fail(x, "labelling sweep variants");
  free(lab.p);
  sqlite3_finalize(st);
  sqlite3_finalize(put);
  return ret;
}

/* Temporary views named runs and run_stats, which shadow the tables of the
 * same names for every query of this connection (SQLite looks in temp
 * first). Nothing is written to the database file.
 * - attempts (--attempt all): the latest attempts and the archived ones
 *   (run_attempts, run_stat_attempts); a row's arch is labelled
 *   "ARCH (attempt N)" so attempts are rows of their own, never pooled; its
 *   id is runs.id * 65536 + attempt, keeping the suite's order.
 * - variants (the accuracy table): a run with a label in run_variant
 *   (variant_labels) is "ARCH [LABEL]", so sweep variants are rows of their
 *   own too.
 * Neither: the views are dropped. */
#define ATTEMPT_ID "*65536+attempt"
#define VARIANT_OF(ID)                                                                   \
  "ifnull(' [' || (SELECT v.label FROM temp.run_variant v WHERE v.id=" ID ") || ']', "   \
  "'')"
static void attempt_views_drop(sqlite3 *db);
static int runs_views(rctx *x, int attempts, int variants) {
  attempt_views_drop(x->db);
  if (!attempts && !variants) return 0;
  sqlite3_stmt *st = NULL;
  char acols[96][64];
  int na = 0, rc;
  if (attempts) {
    if (sqlite3_prepare_v2(x->db, "PRAGMA main.table_info(run_attempts)", -1, &st,
                           NULL) != SQLITE_OK)
      return sql_fail(x, "reading the archived attempts");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && na < 96)
      snprintf(acols[na++], 64, "%s", (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    if (na == 0) attempts = 0; /* a database before attempts: only latest ones exist */
  }
  if (!attempts && !variants) return 0;
  const char *vcur = variants ? VARIANT_OF("runs.id") : "''";
  const char *vold = variants ? VARIANT_OF("run_attempts.run_id") : "''";
  eb_sbuf cur = {0}, old = {0};
  eb_sb_add(&cur, "CREATE TEMP VIEW runs AS SELECT ");
  eb_sb_add(&old, " UNION ALL SELECT ");
  if (sqlite3_prepare_v2(x->db, "PRAGMA main.table_info(runs)", -1, &st, NULL) !=
      SQLITE_OK)
    return sql_fail(x, "reading the runs layout");
  int n = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *c = (const char *)sqlite3_column_text(st, 1);
    const char *sep = n++ ? ", " : "";
    if (!strcmp(c, "id") && attempts) {
      eb_sb_add(&cur, "%sid" ATTEMPT_ID " AS id", sep);
      eb_sb_add(&old, "%srun_id" ATTEMPT_ID " AS id", sep);
    } else if (!strcmp(c, "arch")) {
      eb_sb_add(&cur, "%sarch || %s%s AS arch", sep, vcur,
                attempts ? " || ' (attempt ' || attempt || ')'" : "");
      eb_sb_add(&old, "%sarch || %s || ' (attempt ' || attempt || ')' AS arch", sep,
                vold);
    } else {
      int have = 0;
      for (int j = 0; j < na && !have; j++)
        have = !strcmp(acols[j], c);
      eb_sb_add(&cur, "%s\"%s\"", sep, c);
      if (have)
        eb_sb_add(&old, "%s\"%s\"", sep, c);
      else
        eb_sb_add(&old, "%sNULL", sep);
    }
  }
  sqlite3_finalize(st);
  eb_sb_add(&old, " FROM main.run_attempts");
  eb_sb_add(&cur, " FROM main.runs%s", attempts && old.p ? old.p : "");
  int ret = 0;
  if (!cur.p || !old.p || cur.oom || old.oom)
    ret = oom_fail(x);
  else if (rc != SQLITE_DONE ||
           sqlite3_exec(x->db, cur.p, NULL, NULL, NULL) != SQLITE_OK ||
           (attempts &&
            sqlite3_exec(
                x->db,
                "CREATE TEMP VIEW run_stats AS SELECT r.id" ATTEMPT_ID
                " AS run_id, s.step, s.name, s.value FROM main.run_stats s "
                "JOIN main.runs r ON r.id=s.run_id UNION ALL SELECT a.run_id*65536"
                "+a.attempt, x.step, x.name, x.value FROM main.run_stat_attempts x "
                "JOIN main.run_attempts a ON a.id=x.attempt_id",
                NULL, NULL, NULL) != SQLITE_OK))
    ret = sql_fail(x, attempts ? "reading every attempt" : "labelling sweep variants");
  free(cur.p);
  free(old.p);
  return ret;
}

static void attempt_views_drop(sqlite3 *db) {
  sqlite3_exec(db, "DROP VIEW IF EXISTS temp.runs; DROP VIEW IF EXISTS temp.run_stats",
               NULL, NULL, NULL);
}

int eb_report_ex(eb_store *s, const char *suite, eb_table t, eb_format f, int flags,
                 FILE *out, char *err, size_t errlen) {
  eb_report_options o = {.flags = flags};
  return eb_report_opts(s, suite, t, f, &o, out, err, errlen);
}

/* A baseline named by the caller must be an arch of the suite. */
static int check_baseline(rctx *x, const char *named) {
  if (!named) return 0;
  int b = find_baseline(x->db, eb_store_path(x->s), x->suite_id, x->suite, named, x->err,
                        x->errlen);
  return b < 0 ? sql_fail(x, "reading the suite's archs") : b ? EB_OK : EB_INPUT;
}

int eb_report_opts(eb_store *s, const char *suite, eb_table t, eb_format f,
                   const eb_report_options *o, FILE *out, char *err, size_t errlen) {
  const eb_report_options none = {0};
  if (!o) o = &none;
  const int flags = o->flags;
  if (flags & EB_REPORT_ALL_ATTEMPTS) {
    rctx v = {
        .s = s, .db = eb_store_db(s), .f = f, .o = out, .err = err, .errlen = errlen};
    int vrc = runs_views(&v, 1, 0);
    if (vrc) {
      attempt_views_drop(v.db);
      return vrc;
    }
    eb_report_options inner = *o;
    inner.flags = (flags & ~EB_REPORT_ALL_ATTEMPTS) | REPORT_IN_ATTEMPTS;
    int ret = eb_report_opts(s, suite, t, f, &inner, out, err, errlen);
    attempt_views_drop(v.db);
    return ret;
  }
  if ((unsigned)t > EB_TABLE_ALL || (unsigned)f > EB_FMT_HTML) {
    snprintf(err, errlen, "unknown report table or format");
    return EB_INPUT;
  }
  if (errlen) err[0] = '\0';
  char name[256], warn[2048] = "";
  rctx x = {.s = s,
            .db = eb_store_db(s),
            .suite = name,
            .f = f,
            .o = out,
            .err = err,
            .errlen = errlen,
            .flags = flags,
            .fit = {EB_FIT_LOSS, EB_FIT_DEFAULT_RESAMPLES},
            .baseline = o->baseline ? o->baseline : "vanilla",
            .stats = o->stats,
            .nstats = o->stats ? o->nstats : 0};
  if (o->fit) x.fit = *o->fit;
  /* one read transaction: every table sees the same snapshot even while a
   * suite is still writing */
  if (sqlite3_exec(x.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    return sql_fail(&x, "starting a read transaction");
  int ret = resolve_suite(&x, suite, name, sizeof name);
  if (!ret) ret = check_baseline(&x, o->baseline);
  if (!ret && (t == EB_TABLE_ACCURACY || t == EB_TABLE_ALL)) {
    /* before anything is written: a refused mix leaves no half report */
    ret = eb_suite_sources_load(x.db, eb_store_path(s), x.suite_id,
                                flags & EB_REPORT_MIX_SOURCES, &x.src, err, errlen);
  }
  if (!ret && f == EB_FMT_CSV) csv_header(out, x.baseline);
  if (!ret && f == EB_FMT_HTML) eb_html_begin(out, name, eb_store_path(s));
  if (!ret) ret = report_conflicts(&x);
  if (!ret && (t == EB_TABLE_ACCURACY || t == EB_TABLE_ALL)) {
    /* sweep variants are rows of their own in this table only: the fit pools
     * an arch's budgets on purpose, speed rows are not runs */
    const int att = flags & REPORT_IN_ATTEMPTS;
    int variants = 0;
    ret = variant_labels(&x, &variants);
    if (!ret && variants) ret = runs_views(&x, att, 1);
    if (!ret) ret = report_accuracy(&x);
    if (variants) {
      int vrc = runs_views(&x, att, 0);
      if (!ret) ret = vrc;
    }
    sqlite3_exec(x.db, "DROP TABLE IF EXISTS temp.run_variant", NULL, NULL, NULL);
  }
  if (!ret && (t == EB_TABLE_SPEED || t == EB_TABLE_ALL)) ret = report_speed(&x);
  if (!ret && (t == EB_TABLE_STATS || t == EB_TABLE_ALL)) ret = report_stats(&x);
  if (!ret && (t == EB_TABLE_FIT || t == EB_TABLE_ALL))
    ret = report_fit(&x, t == EB_TABLE_ALL);
  if (!ret && f == EB_FMT_HTML) ret = report_html_rest(&x, warn, sizeof warn);
  sqlite3_exec(x.db, "COMMIT", NULL, NULL, NULL);
  eb_suite_sources_free(&x.src);
  if (!ret && (fflush(out) != 0 || ferror(out))) {
    snprintf(err, errlen, "error writing the report: %s", strerror(errno));
    ret = EB_IO;
  }
  if (!ret) snprintf(err, errlen, "%s", warn);
  return ret;
}
