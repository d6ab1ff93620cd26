/* The HTML document of `effbench report --format html` (report_html.h):
 * head and CSS, figures inlined from gnuplot's SVG, end. The tables and the
 * suite details are report.c's. */
#include "report_html.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plot.h"
#include "util.h"

void eb_html_put(FILE *o, const char *s, size_t n) {
  for (size_t i = 0; i < n && s[i]; i++) {
    switch (s[i]) {
    case '&': fputs("&amp;", o); break;
    case '<': fputs("&lt;", o); break;
    case '>': fputs("&gt;", o); break;
    case '"': fputs("&quot;", o); break;
    case '\'': fputs("&#39;", o); break;
    default: fputc(s[i], o);
    }
  }
}

static void put_text(FILE *o, const char *s) { eb_html_put(o, s, s ? strlen(s) : 0); }

static const char CSS[] =
    "body{font-family:sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;"
    "color:#1b1b1b;background:#fff;line-height:1.4}\n"
    "h1{font-size:1.6em}h2{border-bottom:2px solid #ccc;margin-top:2em}"
    "h3{font-size:1.05em;margin-bottom:.3em}\n"
    "section.table{overflow-x:auto;margin-bottom:1.5em}\n"
    "table{border-collapse:collapse;font-size:.9em}\n"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\n"
    "th{background:#eef1f5}th.group{text-align:center}\n"
    ".r{text-align:right;font-variant-numeric:tabular-nums}\n"
    "table.runs,table.provenance{font-size:.8em}\n"
    "code,pre{font-family:monospace;font-size:.95em}\n"
    "table.provenance td code{word-break:break-all}\n"
    "pre.yaml{background:#f6f8fa;border:1px solid #ddd;padding:.8em;overflow-x:auto}\n"
    "p.note{color:#444;font-size:.9em;margin-top:0}p.empty{font-style:italic}\n"
    "figure{margin:1em 0 2em 0}figure svg{width:100%;max-width:1000px;height:auto;"
    "border:1px solid #eee}\n"
    "figcaption{font-size:.9em;color:#444}\n";

void eb_html_begin(FILE *o, const char *suite, const char *db_path) {
  char when[32] = "";
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>effbench report: suite ",
        o);
  put_text(o, suite);
  fprintf(o,
          "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>effbench report: suite "
          "<code>",
          CSS);
  put_text(o, suite);
  fputs("</code></h1>\n<p class=\"note\">From the results database <code>", o);
  put_text(o, db_path);
  fprintf(o,
          "</code>, written %s. Everything below is read from that file; "
          "<code>effbench report</code> and <code>effbench plot</code> give the same "
          "tables and figures.</p>\n"
          "<nav><a href=\"#tables\">Tables</a> · <a href=\"#figures\">Figures</a> · "
          "<a href=\"#suite\">Suite</a> · <a href=\"#runs\">Runs</a></nav>\n"
          "<h2 id=\"tables\">Tables</h2>\n",
          when);
}

void eb_html_end(FILE *o) { fputs("</body>\n</html>\n", o); }

/* ------------------------------------------------------------ figures -- */

/* Figure order: bubble, scaling (time, then memory), curves, pareto; by name
 * within a kind. */
static int fig_rank(const char *name) {
  static const char *const K[] = {"bubble", "scaling-time", "scaling", "curves",
                                  "pareto"};
  for (int i = 0; i < 5; i++)
    if (!strncmp(name, K[i], strlen(K[i]))) return i;
  return 5;
}

static int fig_cmp(const void *a, const void *b) {
  const char *x = *(const char *const *)a, *y = *(const char *const *)b;
  int d = fig_rank(x) - fig_rank(y);
  return d ? d : strcmp(x, y);
}

/* The SVG files in dir, sorted; NULL-free list in *out. */
static int list_svgs(const char *dir, names *out) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n > 4 && !strcmp(e->d_name + n - 4, ".svg")) names_add(out, e->d_name);
  }
  closedir(d);
  if (out->oom) return -1;
  if (out->n) qsort(out->v, (size_t)out->n, sizeof *out->v, fig_cmp);
  return 0;
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  eb_sbuf b = {0};
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    eb_sb_add(&b, "%.*s", (int)n, buf);
  int bad = ferror(f) || b.oom;
  fclose(f);
  if (bad) {
    free(b.p);
    return NULL;
  }
  return b.p ? b.p : strdup("");
}

/* Writes the <svg> element of a gnuplot SVG file (the XML declaration and
 * doctype before it dropped), every id and reference to one prefixed with
 * "f<fig>-": several figures in one page must not share gnuplot's ids. */
static void put_svg(FILE *o, const char *svg, int fig) {
  static const char *const REF[] = {" id=\"", " id='", "href=\"#", "href='#", "url(#"};
  const char *p = strstr(svg, "<svg");
  if (!p) return;
  while (*p) {
    size_t best = strlen(p), len = 0;
    for (int i = 0; i < 5; i++) {
      const char *q = strstr(p, REF[i]);
      if (q && (size_t)(q - p) < best) {
        best = (size_t)(q - p);
        len = strlen(REF[i]);
      }
    }
    fwrite(p, 1, best + len, o);
    if (!len) break;
    fprintf(o, "f%d-", fig);
    p += best + len;
  }
}

static void rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
        unlink(path);
    }
    closedir(d);
  }
  rmdir(dir);
}

/* Each SVG of dir as a <figure>; -1 with err when one cannot be read. */
static int embed_all(const char *dir, FILE *o, char *err, size_t errlen) {
  names figs = {0};
  if (list_svgs(dir, &figs)) {
    snprintf(err, errlen, "%s: cannot list the figures: %s", dir, strerror(errno));
    names_free(&figs);
    return -1;
  }
  int ret = 0;
  for (int i = 0; i < figs.n && !ret; i++) {
    char path[4096];
    int pn = snprintf(path, sizeof path, "%s/%s", dir, figs.v[i]);
    char *svg = pn < (int)sizeof path ? read_all(path) : NULL;
    if (!svg || !strstr(svg, "<svg")) {
      snprintf(err, errlen, "%s: cannot read the figure gnuplot wrote", path);
      ret = -1;
    } else {
      size_t n = strlen(figs.v[i]) - 4; /* the name without ".svg" */
      fputs("<figure id=\"fig-", o);
      eb_html_put(o, figs.v[i], n);
      fputs("\">\n", o);
      put_svg(o, svg, i + 1);
      fputs("\n<figcaption>", o);
      eb_html_put(o, figs.v[i], n);
      fputs(" (<code>effbench plot --kind ", o);
      eb_html_put(o, figs.v[i], strcspn(figs.v[i], "-."));
      fputs("</code>)</figcaption>\n</figure>\n", o);
    }
    free(svg);
  }
  names_free(&figs);
  return ret;
}

int eb_html_figures(eb_store *s, const char *suite, int plot_flags, const char *baseline,
                    FILE *o, char *warn, size_t wlen, char *err, size_t errlen) {
  fputs("<h2 id=\"figures\">Figures</h2>\n", o);
  const char *tmp = getenv("TMPDIR");
  char dir[4096], perr[4096] = "";
  snprintf(dir, sizeof dir, "%s/effbench-html-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    snprintf(err, errlen, "%s: cannot create a temporary directory for the figures: %s",
             dir, strerror(errno));
    return EB_IO;
  }
  int written = 0, ret = EB_OK;
  int prc = eb_plot_opts(s, suite, EB_PLOT_ALL, EB_PLOT_SVG, plot_flags, baseline, dir,
                         &written, perr, sizeof perr);
  if (prc == EB_OK) {
    ret = embed_all(dir, o, err, errlen) ? EB_IO : EB_OK;
    if (!ret && perr[0]) {
      fputs("<p class=\"note\">Notes from the figures: ", o);
      put_text(o, perr);
      fputs("</p>\n", o);
    }
  } else if (prc != EB_UNSUPPORTED && prc != EB_NOTFOUND && prc != EB_INPUT) {
    snprintf(err, errlen, "figures: %s", perr);
    ret = prc;
  } else { /* no gnuplot, no data, mixed sources: the report stands without */
    fputs("<p class=\"empty\">No figures: ", o);
    put_text(o, perr);
    fputs("</p>\n", o);
    if (prc != EB_NOTFOUND) snprintf(warn, wlen, "figures left out: %s", perr);
  }
  rm_tree(dir);
  return ret;
}
