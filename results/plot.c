/* Figures through gnuplot (see plot.h): each figure is a data file and a
 * self-contained script written into the output directory, then
 * `gnuplot NAME.gp` run there as a child process. */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fitruns.h"
#include "sources.h"
#include "store_internal.h"
#include "util.h"

/* ------------------------------------------------------------ helpers -- */

/* A gnuplot double-quoted string: \n breaks the line, " and \ escaped. */
static void sb_quote(eb_sbuf *b, const char *s) {
  eb_sb_add(b, "\"");
  for (; *s; s++) {
    if (*s == '\n')
      eb_sb_add(b, "\\n");
    else if (*s == '"' || *s == '\\')
      eb_sb_add(b, "\\%c", *s);
    else
      eb_sb_add(b, "%c", *s);
  }
  eb_sb_add(b, "\"");
}

/* A data-file string column: double quotes, which gnuplot reads as one field. */
static void sb_dat_str(eb_sbuf *b, const char *s) {
  eb_sb_add(b, "\"");
  for (; *s; s++)
    eb_sb_add(b, "%c", (*s == '"' || *s == '\n' || *s == '\r') ? '_' : *s);
  eb_sb_add(b, "\"");
}

static double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

/* "45.2 MiB" with 3 significant digits and no exponent. */
static void fmt_mib(char *out, size_t n, double m) {
  if (!(m > 0))
    snprintf(out, n, "n/a");
  else if (m < 10)
    snprintf(out, n, "%.2f MiB", m);
  else if (m < 100)
    snprintf(out, n, "%.1f MiB", m);
  else
    snprintf(out, n, "%.0f MiB", m);
}

/* A file-name-safe version of a task name. */
static void safe_name(char *out, size_t n, const char *prefix, const char *s) {
  size_t k = (size_t)snprintf(out, n, "%s", prefix);
  for (; *s && k + 1 < n; s++) {
    char c = *s;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || c == '.';
    out[k++] = ok ? c : '_';
  }
  out[k < n ? k : n - 1] = '\0';
}

/* ------------------------------------------------------------ context -- */

/* Arch styles: colour-blind-friendly Tableau 10 (yellow and grey last) and
 * distinct filled markers, so figures also read in grey scale. */
static const char *const PALETTE[] = {"4E79A7", "E15759", "59A14F", "F28E2B", "B07AA1",
                                      "76B7B2", "9C755F", "FF9DA7", "EDC948", "BAB0AC"};
#define N_PALETTE ((int)(sizeof PALETTE / sizeof PALETTE[0]))
/* the same hues darkened for text on white */
static const char *const LABEL_COLOR[] = {"2F5A85", "B8383A", "3C7A34", "B8600F",
                                          "82517A", "3E7F79", "6E5038", "C05A68",
                                          "8A7420", "6E6863"};
_Static_assert(sizeof LABEL_COLOR == sizeof PALETTE,
               "one label colour per palette colour");
static const int MARKERS[] = {7, 5, 9, 11, 13, 15};
#define N_MARKERS ((int)(sizeof MARKERS / sizeof MARKERS[0]))

typedef struct {
  eb_store *s;
  sqlite3 *db;
  char suite[256];
  int64_t suite_id;
  eb_plot_format fmt;
  const char *outdir;
  char gnuplot[4096];
  int pngcairo;
  names archs, tasks;
  int written;
  eb_sbuf notes;
  char *err;
  size_t errlen;
  eb_suite_sources src; /* data source of each task */
  eb_fit_metric fit_metric;
  const char *baseline; /* drawn first: the first colour and marker */
} pctx;

/* " (data source)" of a task for titles, "" when none was recorded */
static void src_suffix(const pctx *x, const char *task, char *out, size_t n) {
  const eb_task_source *ts = eb_suite_sources_find(&x->src, task);
  snprintf(out, n, ts ? " (%s)" : "", ts ? ts->text : "");
}

static int sql_fail(pctx *x, const char *what) {
  snprintf(x->err, x->errlen, "%s: %s failed (%s)", eb_store_path(x->s), what,
           sqlite3_errmsg(x->db));
  return sqlite3_errcode(x->db) == SQLITE_NOMEM ? EB_NOMEM : EB_DB;
}

static int oom_fail(pctx *x) {
  snprintf(x->err, x->errlen, "out of memory building the figures");
  return EB_NOMEM;
}

__attribute__((format(printf, 2, 3))) static void note(pctx *x, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  eb_sb_add(&x->notes, "%s%s", x->notes.n ? "; " : "", buf);
}

static const char *ext_of(eb_plot_format f) {
  return f == EB_PLOT_SVG ? "svg" : f == EB_PLOT_PDF ? "pdf" : "png";
}

/* ------------------------------------------------------------ process -- */

/* Runs argv (argv[0] an executable path) with cwd, stdin from /dev/null and
 * stdout+stderr collected into out (truncated to outcap). Returns the exit
 * status, 128+signal when killed, or -1 with err set when it cannot run. */
static int run_proc(pctx *x, char *const argv[], const char *cwd, char *out,
                    size_t outcap) {
  int pfd[2];
  if (pipe(pfd) != 0) {
    snprintf(x->err, x->errlen, "cannot run %s: pipe: %s", argv[0], strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(x->err, x->errlen, "cannot run %s: fork: %s", argv[0], strerror(errno));
    close(pfd[0]);
    close(pfd[1]);
    return -1;
  }
  if (pid == 0) { /* child: only async-signal-safe calls */
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    dup2(pfd[1], 1);
    dup2(pfd[1], 2);
    close(pfd[0]);
    close(pfd[1]);
    if (cwd && chdir(cwd) != 0) _exit(126);
    execv(argv[0], argv);
    _exit(127);
  }
  close(pfd[1]);
  size_t n = 0;
  char buf[4096];
  for (;;) {
    ssize_t r = read(pfd[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    size_t take = (size_t)r;
    if (outcap && n + take > outcap - 1) take = outcap - 1 - n;
    if (take) memcpy(out + n, buf, take);
    n += take;
  }
  if (outcap) out[n] = '\0';
  close(pfd[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) {
      snprintf(x->err, x->errlen, "cannot run %s: waitpid: %s", argv[0], strerror(errno));
      return -1;
    }
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

static int is_exec(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && access(p, X_OK) == 0;
}

/* Resolves the gnuplot binary ($EFFBENCH_GNUPLOT or `gnuplot` on PATH) and
 * checks which terminals it has. */
static int find_gnuplot(pctx *x) {
  const char *env = getenv("EFFBENCH_GNUPLOT");
  const char *name = env && *env ? env : "gnuplot";
  int found = 0;
  if (strchr(name, '/')) {
    found = is_exec(name);
    if (found) snprintf(x->gnuplot, sizeof x->gnuplot, "%s", name);
  } else {
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    while (!found && *path) {
      const char *end = strchr(path, ':');
      size_t len = end ? (size_t)(end - path) : strlen(path);
      if (len == 0)
        snprintf(x->gnuplot, sizeof x->gnuplot, "./%s", name);
      else
        snprintf(x->gnuplot, sizeof x->gnuplot, "%.*s/%s", (int)len, path, name);
      found = is_exec(x->gnuplot);
      path += len + (end ? 1 : 0);
    }
  }
  if (!found) {
    if (env && *env)
      snprintf(x->err, x->errlen,
               "gnuplot not found (EFFBENCH_GNUPLOT=%s): install the Debian package "
               "gnuplot-nox",
               env);
    else
      snprintf(x->err, x->errlen,
               "gnuplot not found: install the Debian package gnuplot-nox");
    return EB_UNSUPPORTED;
  }
  char opt[] = "-e", cmd[] = "set terminal";
  char *argv[] = {x->gnuplot, opt, cmd, NULL};
  char *out = malloc(65536);
  if (!out) return oom_fail(x);
  int rc = run_proc(x, argv, NULL, out, 65536);
  if (rc != 0) {
    if (rc > 0)
      snprintf(x->err, x->errlen, "%s does not run (exit %d): %.200s", x->gnuplot, rc,
               out);
    free(out);
    return EB_UNSUPPORTED;
  }
  x->pngcairo = strstr(out, "pngcairo") != NULL;
  int pdf = strstr(out, "pdfcairo") != NULL;
  free(out);
  if (x->fmt == EB_PLOT_PDF && !pdf) {
    snprintf(x->err, x->errlen,
             "%s has no pdfcairo terminal: install the Debian package gnuplot-nox",
             x->gnuplot);
    return EB_UNSUPPORTED;
  }
  return 0;
}

static int mkdir_p(pctx *x, const char *dir) {
  char p[4096];
  if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) {
    snprintf(x->err, x->errlen, "output directory name too long: %s", dir);
    return EB_IO;
  }
  for (char *c = p + 1;; c++) {
    if (*c == '/' || *c == '\0') {
      char keep = *c;
      *c = '\0';
      if (mkdir(p, 0777) != 0 && errno != EEXIST) {
        snprintf(x->err, x->errlen, "cannot create directory %s: %s", p, strerror(errno));
        return EB_IO;
      }
      *c = keep;
      if (!keep) break;
    }
  }
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    snprintf(x->err, x->errlen, "%s is not a directory", dir);
    return EB_IO;
  }
  return 0;
}

static int write_file(pctx *x, const char *name, const char *ext, const eb_sbuf *b) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.%s", x->outdir, name, ext);
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(x->err, x->errlen, "cannot write %s: %s", path, strerror(errno));
    return EB_IO;
  }
  size_t w = b->n ? fwrite(b->p, 1, b->n, f) : 0;
  int bad = w != b->n || ferror(f);
  if (fclose(f) != 0) bad = 1;
  if (bad) {
    snprintf(x->err, x->errlen, "cannot write %s: %s", path, strerror(errno));
    return EB_IO;
  }
  return 0;
}

/* Writes NAME.dat and NAME.gp, runs `gnuplot NAME.gp` in the output
 * directory and checks the image is there. */
static int emit(pctx *x, const char *name, const eb_sbuf *dat, const eb_sbuf *gp) {
  if (dat->oom || gp->oom) return oom_fail(x);
  int rc = write_file(x, name, "dat", dat);
  if (!rc) rc = write_file(x, name, "gp", gp);
  if (rc) return rc;
  char img[4096], script[512];
  snprintf(img, sizeof img, "%s/%s.%s", x->outdir, name, ext_of(x->fmt));
  snprintf(script, sizeof script, "%s.gp", name);
  remove(img);
  char *argv[] = {x->gnuplot, script, NULL};
  char out[2048];
  int st = run_proc(x, argv, x->outdir, out, sizeof out);
  if (st < 0) return EB_IO;
  if (st != 0) {
    size_t k = strlen(out);
    while (k && (out[k - 1] == '\n' || out[k - 1] == ' '))
      out[--k] = '\0';
    snprintf(x->err, x->errlen, "gnuplot %s failed in %s (exit %d): %s", script,
             x->outdir, st, st == 126 ? "cannot enter the directory" : out);
    return EB_IO;
  }
  struct stat sb;
  if (stat(img, &sb) != 0 || sb.st_size == 0) {
    snprintf(x->err, x->errlen, "gnuplot %s in %s wrote no image %s", script, x->outdir,
             img);
    return EB_IO;
  }
  x->written++;
  return 0;
}

/* ------------------------------------------------------------- script -- */

/* Terminal, output and the shared styles of every figure. PNG and SVG are
 * 1280x800 with ~21 px text; PDF is 6 x 3.75 in with 10 pt text, sized for
 * a paper's text width. */
static void gp_prelude(pctx *x, eb_sbuf *g, const char *name, const char *what) {
  eb_sb_add(g, "# effbench figure: %s, suite ", what);
  sb_quote(g, x->suite);
  eb_sb_add(g,
            "\n# Regenerate the image: cd to this directory and run `gnuplot %s.gp`.\n"
            "# Data: %s.dat (columns and units in its header).\n\n",
            name, name);
  switch (x->fmt) {
  case EB_PLOT_PNG:
    if (x->pngcairo)
      eb_sb_add(g, "set terminal pngcairo size 1280,800 enhanced font 'Sans,16' "
                   "linewidth 1.5 background '#ffffff'\n");
    else
      eb_sb_add(g, "set terminal png size 1280,800 enhanced font 'Sans,16' "
                   "background '#ffffff'\n");
    break;
  case EB_PLOT_SVG:
    eb_sb_add(g, "set terminal svg size 1280,800 dynamic enhanced font 'Sans,21' "
                 "linewidth 1.5 background '#ffffff'\n");
    break;
  case EB_PLOT_PDF:
    eb_sb_add(
        g,
        "set terminal pdfcairo size 6in,3.75in enhanced font 'Sans,10' linewidth 1.5\n");
    break;
  }
  eb_sb_add(g, "set output '%s.%s'\n", name, ext_of(x->fmt));
  /* terminals disagree on the size of a point: PS evens them out */
  eb_sb_add(g, "PS = %s  # point size scale for this terminal\n",
            x->fmt == EB_PLOT_SVG   ? "0.4"
            : x->fmt == EB_PLOT_PDF ? "0.45"
                                    : "1");
  eb_sb_add(g, "set encoding utf8\n"
               "set datafile missing 'NaN'\n"
               "set border 3 lw 1\n"
               "set tics nomirror out scale 0.7\n"
               "set style line 100 lc rgb '#e6e6e6' lw 1 dt solid\n"
               "set grid back ls 100, ls 100\n"
               "set key noenhanced\n\n"
               "# one linetype per arch, the same in every effbench figure\n");
  for (int i = 0; i < x->archs.n; i++)
    eb_sb_add(g, "set linetype %d lc rgb '#%s' lw 2 pt %d ps 1.4*PS  # %s\n", i + 1,
              PALETTE[i % N_PALETTE], MARKERS[i % N_MARKERS], x->archs.v[i]);
  eb_sb_add(g, "\n");
}

/* Fills the common "batch B, T threads" description of speed rows. */
static int speed_setting(pctx *x, const char *mode_filter, char *out, size_t n) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(
          x->db,
          "SELECT count(DISTINCT batch), min(batch), count(DISTINCT "
          "coalesce(threads,0)), min(threads) FROM speed WHERE suite_id=?1 "
          "AND (?2 IS NULL OR mode=?2)",
          -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading speed");
  sqlite3_bind_int64(st, 1, x->suite_id);
  if (mode_filter)
    sqlite3_bind_text(st, 2, mode_filter, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 2);
  out[0] = '\0';
  if (sqlite3_step(st) == SQLITE_ROW) {
    int nb = sqlite3_column_int(st, 0), nt = sqlite3_column_int(st, 2);
    int b = sqlite3_column_int(st, 1), t = sqlite3_column_int(st, 3);
    char bs[64], ts[64];
    if (nb == 1)
      snprintf(bs, sizeof bs, "batch %d", b);
    else
      snprintf(bs, sizeof bs, "batch varies");
    if (nt == 1 && t > 0)
      snprintf(ts, sizeof ts, ", %d thread%s", t, t == 1 ? "" : "s");
    else
      ts[0] = '\0';
    snprintf(out, n, "%s%s", bs, ts);
  }
  sqlite3_finalize(st);
  return 0;
}

/* Explicit tics for a log axis over [lo, hi]: mantissas 1, 1-3, 1-2-5 or
 * 1..9 per decade, the coarsest giving at least 4 labels (kept apart), so that a range
 * shorter than a decade is still labelled. Labels "%g", or with sci
 * "2×10^{12}" (enhanced text); with aslog the axis holds log10 values. Many
 * decades keep gnuplot's own tics. */
static void log_tics(eb_sbuf *g, const char *axis, double lo, double hi, int sci,
                     int aslog) {
  static const int LV[4][10] = {{1}, {1, 3}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
  if (!(lo > 0) || !(hi > lo)) return;
  int k0 = (int)floor(log10(lo)), k1 = (int)ceil(log10(hi)), level;
  if (k1 - k0 > 4) return;
  for (level = 0; level < 4; level++) {
    int n = 0;
    for (int k = k0; k <= k1; k++)
      for (int j = 0; j < 10 && LV[level][j]; j++) {
        double v = LV[level][j] * pow(10, k);
        n += v >= lo && v <= hi;
      }
    if (n >= 4) break;
  }
  if (level == 4) level = 3;
  /* decades first, then other mantissas that keep labels apart */
  int mk[64][2], n = 0;
  double gap = (log10(hi) - log10(lo)) / 7;
  for (int pass = 0; pass < 2; pass++)
    for (int k = k0; k <= k1; k++)
      for (int j = 0; j < 10 && LV[level][j] && n < 64; j++) {
        int m = LV[level][j];
        double v = m * pow(10, k);
        if ((m == 1) != (pass == 0) || v < lo || v > hi) continue;
        int ok = 1;
        for (int i = 0; i < n && ok; i++)
          ok = fabs(log10(v) - log10(mk[i][0] * pow(10, mk[i][1]))) >= gap;
        if (ok) {
          mk[n][0] = m;
          mk[n][1] = k;
          n++;
        }
      }
  eb_sb_add(g, "set %stics (", axis);
  for (int i = 0; i < n; i++) {
    int m = mk[i][0], k = mk[i][1];
    double v = m * pow(10, k), at = aslog ? log10(v) : v;
    if (!sci)
      eb_sb_add(g, "%s\"%g\" %.6g", i ? ", " : "", v, at);
    else if (m == 1)
      eb_sb_add(g, "%s\"10^{%d}\" %.6g", i ? ", " : "", k, at);
    else
      eb_sb_add(g, "%s\"%d×10^{%d}\" %.6g", i ? ", " : "", m, k, at);
  }
  eb_sb_add(g, ")\n");
}

/* ------------------------------------------------------------- bubble -- */

typedef struct {
  int arch;
  double sps, acc, mem; /* steps/s, accuracy %, MiB (NaN = unknown) */
  int ntasks;
  double u, v, r; /* position and radius in graph units (fractions of the plot) */
} bubble;

static int overlaps(double ax0, double ax1, double ay0, double ay1, double bx0,
                    double bx1, double by0, double by1) {
  return ax0 < bx1 && bx0 < ax1 && ay0 < by1 && by0 < ay1;
}

/* Speed (steps/s) and peak memory (bytes) of `arch` from the latest done
 * train-mode row at seq_len; 0 when there is none. */
static int speed_at(pctx *x, sqlite3_stmt *st, const char *arch, int len, double *sps,
                    double *mem) {
  sqlite3_reset(st);
  sqlite3_bind_int64(st, 1, x->suite_id);
  sqlite3_bind_text(st, 2, arch, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 3, len);
  int ok = 0;
  if (sqlite3_step(st) == SQLITE_ROW && strcmp(col_text(st, 2), "done") == 0) {
    double ms = col_real(st, 0);
    if (ms > 0) {
      *sps = 1000.0 / ms;
      *mem = col_real(st, 1);
      ok = 1;
    }
  }
  return ok;
}

/* The bubble figure as it is built, stage by stage (fig_bubble). */
typedef struct bubble_fig {
  bubble *b; /* the plotted archs */
  int nb;
  int len; /* the speed table's sequence length; 0: speeds from the runs */
  char xlabel[256], source[256];
  /* the axes: x in log10(steps/s) when logx, y in accuracy (%) */
  int logx;
  double lx0, lx1, y0, y1, maxmem;
} bubble_fig;

/* Bubbles are gnuplot circles (the same size in every terminal, unlike
 * points), radius in x-axis units (log10 of steps/s on a log axis, drawn
 * on a linear axis with log tics), area ∝ memory: radius = RMAX *
 * sqrt(MiB / MAXMEM), at least RMIN; as fractions of the plot width,
 * BUBBLE_FMAX and BUBBLE_FMIN. The plot area is about BUBBLE_ASPECT times
 * wider than high. */
static const double BUBBLE_FMAX = 0.05, BUBBLE_FMIN = 0.012, BUBBLE_ASPECT = 1.8;

/* Each arch's accuracy: the average over tasks of the per-task mean over
 * seeds, for the archs with results on every task. */
static int bubble_accuracy(pctx *x, bubble_fig *F) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(
          x->db,
          "SELECT avg(m), count(*) FROM (SELECT task, avg(test_accuracy) m "
          "FROM runs WHERE suite_id=?1 AND conflict_of IS NULL AND arch=?2 AND "
          "status IN ('done', 'timeout') AND "
          "test_accuracy IS NOT NULL GROUP BY task)",
          -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading runs");
  for (int a = 0; a < x->archs.n; a++) {
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, x->suite_id);
    sqlite3_bind_text(st, 2, x->archs.v[a], -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) continue;
    int k = sqlite3_column_int(st, 1);
    if (k == 0) continue;
    if (k < x->tasks.n) {
      note(x, "bubble: %s left out (results (done or timeout) on %d of %d tasks)",
           x->archs.v[a], k, x->tasks.n);
      continue;
    }
    bubble *b = &F->b[F->nb++];
    b->arch = a;
    b->acc = 100.0 * sqlite3_column_double(st, 0);
    b->ntasks = k;
  }
  sqlite3_finalize(st);
  if (F->nb == 0)
    note(x, "bubble skipped: no arch has results (done or timeout runs) with test "
            "accuracy on every task");
  return 0;
}

/* Speed and memory from the speed table: the longest length where every
 * plotted arch has a done train measurement (F->len; 0 when there is none). */
static int bubble_speed_table(pctx *x, bubble_fig *F) {
  sqlite3_stmt *lens = NULL, *st = NULL;
  if (sqlite3_prepare_v2(x->db,
                         "SELECT DISTINCT seq_len FROM speed WHERE suite_id=?1 AND "
                         "mode='train' ORDER BY seq_len DESC",
                         -1, &lens, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(
          x->db,
          "SELECT step_ms_median, peak_mem_bytes, status FROM speed WHERE "
          "suite_id=?1 AND arch=?2 AND seq_len=?3 AND mode='train' ORDER BY "
          "id DESC LIMIT 1",
          -1, &st, NULL) != SQLITE_OK) {
    sqlite3_finalize(lens);
    sqlite3_finalize(st);
    return sql_fail(x, "reading speed");
  }
  sqlite3_bind_int64(lens, 1, x->suite_id);
  while (!F->len && sqlite3_step(lens) == SQLITE_ROW) {
    int l = sqlite3_column_int(lens, 0), all = 1;
    for (int i = 0; i < F->nb && all; i++)
      all = speed_at(x, st, x->archs.v[F->b[i].arch], l, &F->b[i].sps, &F->b[i].mem);
    if (all) F->len = l;
  }
  sqlite3_finalize(lens);
  sqlite3_finalize(st);
  if (!F->len) return 0;
  char setting[128];
  int rc = speed_setting(x, "train", setting, sizeof setting);
  if (rc) return rc;
  snprintf(F->source, sizeof F->source, "speed table, train mode, sequence length %d, %s",
           F->len, setting);
  snprintf(F->xlabel, sizeof F->xlabel, "Training speed (steps/s at length %d, %s)",
           F->len, setting);
  return 0;
}

/* Without a speed table: speed and memory from the runs' training, the archs
 * without it left out. */
static int bubble_speed_runs(pctx *x, bubble_fig *F) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(
          x->db,
          "SELECT avg(train_ms_per_step), max(peak_mem_bytes) FROM runs "
          "WHERE suite_id=?1 AND conflict_of IS NULL AND arch=?2 AND status='done' AND "
          "train_ms_per_step > 0",
          -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading runs");
  int kept = 0;
  for (int i = 0; i < F->nb; i++) {
    bubble *b = F->b;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, x->suite_id);
    sqlite3_bind_text(st, 2, x->archs.v[b[i].arch], -1, SQLITE_TRANSIENT);
    double ms = NAN, mem = NAN;
    if (sqlite3_step(st) == SQLITE_ROW) {
      ms = col_real(st, 0);
      mem = col_real(st, 1);
    }
    if (!(ms > 0)) {
      note(x, "bubble: %s left out (no training speed measured)", x->archs.v[b[i].arch]);
      continue;
    }
    b[kept] = b[i];
    b[kept].sps = 1000.0 / ms;
    b[kept].mem = mem;
    kept++;
  }
  sqlite3_finalize(st);
  F->nb = kept;
  if (F->nb == 0) {
    note(x, "bubble skipped: no training speed in the speed table or the runs");
    return 0;
  }
  snprintf(F->source, sizeof F->source,
           "runs: 1000 / mean train_ms_per_step, max peak_mem_bytes over done runs");
  snprintf(F->xlabel, sizeof F->xlabel,
           "Training speed (steps/s, mean over the suite's runs)");
  return 0;
}

/* The axes (log x when speeds span more than a decade, margins around the
 * bubbles) and each bubble's place and radius in graph units. */
static void bubble_scales(bubble_fig *F) {
  bubble *b = F->b;
  double xmin = INFINITY, xmax = 0, ymin = INFINITY, ymax = -INFINITY, maxmem = 0;
  for (int i = 0; i < F->nb; i++) {
    b[i].mem = b[i].mem > 0 ? mib(b[i].mem) : NAN;
    if (b[i].sps < xmin) xmin = b[i].sps;
    if (b[i].sps > xmax) xmax = b[i].sps;
    if (b[i].acc < ymin) ymin = b[i].acc;
    if (b[i].acc > ymax) ymax = b[i].acc;
    if (b[i].mem > maxmem) maxmem = b[i].mem;
  }
  int logx = xmax / xmin > 10;
  double lx0 = logx ? log10(xmin) : xmin, lx1 = logx ? log10(xmax) : xmax;
  double span = lx1 - lx0;
  if (span <= 0) span = logx ? 0.5 : (xmax > 0 ? 0.5 * xmax : 1);
  lx0 -= 0.2 * span;
  lx1 += 0.2 * span;
  if (!logx && lx0 < 0) lx0 = 0;
  double yspan = ymax - ymin;
  if (yspan < 4) yspan = 4;
  double y0 = ymin - 0.22 * yspan, y1 = ymax + 0.22 * yspan;
  if (y0 < 0) y0 = 0;
  if (y1 > 100) y1 = 100;
  if (y1 - y0 < 1) y0 = y1 - 1;
  for (int i = 0; i < F->nb; i++) {
    double px = logx ? log10(b[i].sps) : b[i].sps;
    b[i].u = (px - lx0) / (lx1 - lx0);
    b[i].v = (b[i].acc - y0) / (y1 - y0);
    double f = b[i].mem > 0 ? BUBBLE_FMAX * sqrt(b[i].mem / maxmem) : BUBBLE_FMIN;
    b[i].r = f < BUBBLE_FMIN ? BUBBLE_FMIN : f; /* a fraction of the plot width */
  }
  F->logx = logx;
  F->lx0 = lx0;
  F->lx1 = lx1;
  F->y0 = y0;
  F->y1 = y1;
  F->maxmem = maxmem;
}

/* bubble.dat: a header saying where the numbers come from, then one block
 * (gnuplot index) per arch. */
static void bubble_data(pctx *x, const bubble_fig *F, eb_sbuf *dat) {
  eb_sb_add(dat, "# effbench bubble figure, suite ");
  sb_quote(dat, x->suite);
  eb_sb_add(dat, "\n# speed and memory source: %s\n", F->source);
  eb_sb_add(dat,
            "# accuracy: mean over tasks of the mean over seeds of done and timed-out "
            "runs' test "
            "accuracy\n");
  for (int k = 0; k < x->tasks.n; k++) {
    char sfx[600];
    src_suffix(x, x->tasks.v[k], sfx, sizeof sfx);
    eb_sb_add(dat, "# data of task %s:%s\n", x->tasks.v[k],
              *sfx ? sfx : " (not recorded)");
  }
  eb_sb_add(dat, "# one block (gnuplot index) per arch\n");
  eb_sb_add(dat, "# columns: steps_per_s[1/s] avg_test_accuracy[%%] peak_memory[MiB] "
                 "n_tasks arch\n");
  for (int i = 0; i < F->nb; i++) {
    const bubble *b = &F->b[i];
    eb_sb_add(dat, "%s%.6g %.6g %.6g %d ", i ? "\n\n" : "", b->sps, b->acc, b->mem,
              b->ntasks);
    sb_dat_str(dat, x->archs.v[b->arch]);
    eb_sb_add(dat, "\n");
  }
}

/* The script's head: title, axis labels and ranges, the bubble size. */
static void bubble_axes(pctx *x, bubble_fig *F, eb_sbuf *gp) {
  gp_prelude(x, gp, "bubble", "accuracy vs training speed, bubble area = peak memory");
  eb_sb_add(gp, "set title ");
  eb_sbuf t = {0};
  eb_sb_add(&t,
            "Average test accuracy vs training speed — suite '%s'\nbubble area ∝ peak "
            "training memory (%s)\ndata:",
            x->suite, F->len ? "speed table" : "runs");
  for (int k = 0; k < x->tasks.n; k++) {
    char sfx[600];
    src_suffix(x, x->tasks.v[k], sfx, sizeof sfx);
    eb_sb_add(&t, "%s %s%s", k ? ";" : "", x->tasks.v[k], sfx);
  }
  sb_quote(gp, t.p ? t.p : "");
  free(t.p);
  if (F->logx) {
    size_t k = strlen(F->xlabel);
    if (k > 1 && k + 12 < sizeof F->xlabel) memcpy(F->xlabel + k - 1, ", log scale)", 13);
  }
  eb_sb_add(gp, " noenhanced\nset xlabel ");
  sb_quote(gp, F->xlabel);
  eb_sb_add(gp, " noenhanced\nset ylabel 'Average test accuracy (%%)'\nunset key\n");
  if (F->logx) {
    eb_sb_add(gp,
              "# x is log10(steps/s) on a linear axis, labelled in steps/s\n"
              "xc(v) = log10(v)\nset xrange [%.6g:%.6g]\n",
              F->lx0, F->lx1);
    log_tics(gp, "x", pow(10, F->lx0), pow(10, F->lx1), 0, 1);
  } else {
    eb_sb_add(gp, "xc(v) = v\nset xrange [%.6g:%.6g]\n", F->lx0, F->lx1);
  }
  eb_sb_add(gp, "set yrange [%.6g:%.6g]\n", F->y0, F->y1);
  eb_sb_add(gp,
            "# bubble area proportional to peak memory: radius (x units) = "
            "RMAX*sqrt(MiB/MAXMEM)\n"
            "RMAX = %.6g\nRMIN = %.6g\nMAXMEM = %.6g\n"
            "bubble(m) = (m > 0 && RMAX*sqrt(m/MAXMEM) > RMIN) ? RMAX*sqrt(m/MAXMEM) : "
            "RMIN\n\n",
            BUBBLE_FMAX * (F->lx1 - F->lx0), BUBBLE_FMIN * (F->lx1 - F->lx0),
            F->maxmem > 0 ? F->maxmem : 1.0);
}

/* The labels, each at the first free spot of right, left, above, below and
 * the diagonals of its bubble (graph units: a character is CW wide and a
 * line LH high; PDF text is larger relative to its canvas, 10 pt on 6 in,
 * for papers). */
static int bubble_labels(pctx *x, const bubble_fig *F, eb_sbuf *gp) {
  const bubble *b = F->b;
  const int nb = F->nb;
  const double CW = x->fmt == EB_PLOT_PDF ? 1.0 / 68 : 1.0 / 95;
  const double LH = x->fmt == EB_PLOT_PDF ? 1.0 / 21 : 1.0 / 30;
  const double RX = 1, RY = BUBBLE_ASPECT;
  double(*boxes)[4] = calloc((size_t)nb, sizeof *boxes);
  if (!boxes) return oom_fail(x);
  eb_sb_add(gp, "# labels placed beside their bubbles, apart from each other\n");
  for (int i = 0; i < nb; i++) {
    char text[256], m[64];
    fmt_mib(m, sizeof m, b[i].mem);
    snprintf(text, sizeof text, "%s (%s)", x->archs.v[b[i].arch], m);
    double w = (0.9 * (double)strlen(text) + 0.5) * CW, h = 1.2 * LH;
    double rx = b[i].r * RX + 0.7 * CW, ry = b[i].r * RY + 0.7 * LH;
    /* candidate: offset (dx, dy) of the anchor and justification */
    const struct {
      double dx, dy;
      int just; /* -1 left-justified, 0 centred, 1 right-justified */
    } cand[] = {{rx, 0, -1},      {-rx, 0, 1},       {0, ry, 0},       {0, -ry, 0},
                {rx, ry, -1},     {rx, -ry, -1},     {-rx, ry, 1},     {-rx, -ry, 1},
                {rx, 2 * ry, -1}, {rx, -2 * ry, -1}, {-rx, 2 * ry, 1}, {-rx, -2 * ry, 1}};
    int nc = (int)(sizeof cand / sizeof cand[0]), best = 0;
    double best_cost = INFINITY;
    for (int c = 0; c < nc; c++) {
      double ax = b[i].u + cand[c].dx, ay = b[i].v + cand[c].dy;
      double bx0 = cand[c].just < 0 ? ax : cand[c].just > 0 ? ax - w : ax - w / 2;
      double bx1 = bx0 + w, by0 = ay - h / 2, by1 = ay + h / 2;
      double cost = c * 0.01; /* prefer earlier candidates */
      if (bx0 < 0 || bx1 > 1 || by0 < 0 || by1 > 1) cost += 100;
      for (int j = 0; j < i; j++)
        if (overlaps(bx0, bx1, by0, by1, boxes[j][0], boxes[j][1], boxes[j][2],
                     boxes[j][3]))
          cost += 10;
      for (int j = 0; j < nb; j++) {
        double r = b[j].r;
        if (overlaps(bx0, bx1, by0, by1, b[j].u - r * RX, b[j].u + r * RX,
                     b[j].v - r * RY, b[j].v + r * RY))
          cost += 5;
      }
      if (cost < best_cost) {
        best_cost = cost;
        best = c;
        boxes[i][0] = bx0;
        boxes[i][1] = bx1;
        boxes[i][2] = by0;
        boxes[i][3] = by1;
      }
    }
    eb_sb_add(gp, "set label %d ", i + 1);
    sb_quote(gp, text);
    eb_sb_add(
        gp,
        " at %.6g,%.6g %s offset graph %.4f, graph %.4f tc rgb '#%s' noenhanced front\n",
        F->logx ? log10(b[i].sps) : b[i].sps, b[i].acc,
        cand[best].just < 0   ? "left"
        : cand[best].just > 0 ? "right"
                              : "center",
        cand[best].dx, cand[best].dy, LABEL_COLOR[b[i].arch % N_PALETTE]);
  }
  free(boxes);
  return 0;
}

/* The plot command: one circle series per arch, in its colour. */
static void bubble_plot(const bubble_fig *F, eb_sbuf *gp) {
  eb_sb_add(gp, "\nplot \\\n");
  for (int i = 0; i < F->nb; i++) {
    const char *c = PALETTE[F->b[i].arch % N_PALETTE];
    eb_sb_add(gp,
              "  'bubble.dat' index %d using (xc($1)):2:(bubble($3)) with circles lc rgb "
              "'#%s' lw 1.5 fs transparent solid 0.45 border lc rgb '#%s' notitle%s\n",
              i, c, c, i + 1 < F->nb ? ", \\" : "");
  }
}

/* Accuracy vs training speed, bubble area = peak memory (LRA's Figure 3):
 * the archs with results on every task, speeds from the speed table or else
 * the runs. No figure (a note says why) when no arch has both. */
static int fig_bubble(pctx *x) {
  bubble_fig F = {.b = calloc((size_t)x->archs.n + 1, sizeof *F.b)};
  if (!F.b) return oom_fail(x);
  eb_sbuf dat = {0}, gp = {0};
  int rc = bubble_accuracy(x, &F);
  if (!rc && F.nb) rc = bubble_speed_table(x, &F);
  if (!rc && F.nb && !F.len) rc = bubble_speed_runs(x, &F);
  if (!rc && F.nb) {
    bubble_scales(&F);
    bubble_data(x, &F, &dat);
    bubble_axes(x, &F, &gp);
    rc = bubble_labels(x, &F, &gp);
    if (!rc) bubble_plot(&F, &gp);
    if (!rc) rc = emit(x, "bubble", &dat, &gp);
  }
  free(F.b);
  free(dat.p);
  free(gp.p);
  return rc;
}

/* ------------------------------------------------------------ scaling -- */

/* Writes the speed table of the suite (latest row per arch, mode and
 * length) to dat, one block per (arch, mode) with done rows; fills which
 * blocks exist and a list of oom/failed measurements. */
typedef struct {
  int arch;
  int infer;
} sblock;

typedef struct {
  double lo, hi;
} range;

static void range_add(range *r, double v) {
  if (!(v > 0)) return;
  if (v < r->lo) r->lo = v;
  if (v > r->hi) r->hi = v;
}

static int scaling_data(pctx *x, eb_sbuf *dat, sblock *blocks, int *nblocks,
                        eb_sbuf *missing, names *lens, int *has_infer, range rg[3]) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(
          x->db,
          "SELECT seq_len, step_ms_median, step_ms_min, peak_mem_bytes, tokens_per_s, "
          "batch, "
          "status FROM speed s WHERE suite_id=?1 AND arch=?2 AND mode=?3 AND id=(SELECT "
          "max(id) FROM speed t WHERE t.suite_id=s.suite_id AND t.arch=s.arch AND "
          "t.mode=s.mode AND t.seq_len=s.seq_len) ORDER BY seq_len",
          -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading speed");
  eb_sb_add(dat, "# effbench speed-scaling data, suite ");
  sb_quote(dat, x->suite);
  eb_sb_add(
      dat, "\n# latest measurement per arch, mode and sequence length; status done only\n"
           "# one block (gnuplot index) per arch and mode, named in the comment above "
           "it\n"
           "# columns: seq_len[tokens] step_ms_median[ms] step_ms_min[ms] "
           "peak_memory[MiB] tokens_per_s[1/s] batch\n");
  int nb = 0;
  for (int a = 0; a < x->archs.n; a++)
    for (int m = 0; m < 2; m++) {
      const char *mode = m ? "infer" : "train";
      sqlite3_reset(st);
      sqlite3_bind_int64(st, 1, x->suite_id);
      sqlite3_bind_text(st, 2, x->archs.v[a], -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 3, mode, -1, SQLITE_STATIC);
      int rows = 0, rc;
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int len = sqlite3_column_int(st, 0);
        char ls[32];
        snprintf(ls, sizeof ls, "%d", len);
        names_add(lens, ls);
        const char *status = col_text(st, 6);
        if (strcmp(status, "done") != 0 || !(col_real(st, 1) > 0)) {
          eb_sb_add(missing, "%s%s %s at %d (%s)", missing->n ? ", " : "", x->archs.v[a],
                    mode, len, status);
          continue;
        }
        if (!rows) {
          eb_sb_add(dat, "%s# %s %s\n", nb ? "\n\n" : "", x->archs.v[a], mode);
          blocks[nb].arch = a;
          blocks[nb].infer = m;
          nb++;
        }
        rows++;
        double mem = col_real(st, 3);
        range_add(&rg[0], len);
        range_add(&rg[1], col_real(st, 1));
        range_add(&rg[2], mib(mem));
        if (m) *has_infer = 1;
        eb_sb_add(dat, "%d %.6g %.6g %.6g %.6g %d\n", len, col_real(st, 1),
                  col_real(st, 2), mem > 0 ? mib(mem) : NAN, col_real(st, 4),
                  sqlite3_column_int(st, 5));
      }
      if (rc != SQLITE_DONE) {
        sqlite3_finalize(st);
        return sql_fail(x, "reading speed");
      }
    }
  sqlite3_finalize(st);
  *nblocks = nb;
  return lens->oom ? oom_fail(x) : 0;
}

static int cmp_len(const void *a, const void *b) {
  long x = atol(*(char *const *)a), y = atol(*(char *const *)b);
  return (x > y) - (x < y);
}

static int fig_scaling(pctx *x) {
  sblock *blocks = calloc((size_t)x->archs.n * 2 + 1, sizeof *blocks);
  if (!blocks) return oom_fail(x);
  eb_sbuf dat = {0}, missing = {0};
  names lens = {0};
  int nblocks = 0, has_infer = 0;
  range rg[3] = {{INFINITY, 0}, {INFINITY, 0}, {INFINITY, 0}}; /* length, ms, MiB */
  int rc = scaling_data(x, &dat, blocks, &nblocks, &missing, &lens, &has_infer, rg);
  int has_mem = rg[2].hi > 0;
  if (rc) goto out;
  if (nblocks == 0) {
    note(x, "scaling skipped: no done speed measurements in suite '%s'", x->suite);
    goto out;
  }
  char setting[128];
  if ((rc = speed_setting(x, NULL, setting, sizeof setting))) goto out;
  qsort(lens.v, (size_t)lens.n, sizeof *lens.v, cmp_len);
  for (int fig = 0; fig < 2 && !rc; fig++) {
    const char *name = fig ? "scaling-memory" : "scaling-time";
    if (fig == 1 && !has_mem) {
      note(x, "scaling-memory skipped: no peak memory in the speed table");
      break;
    }
    eb_sbuf gp = {0};
    gp_prelude(x, &gp, name,
               fig ? "peak memory vs sequence length" : "step time vs sequence length");
    char t[512];
    snprintf(t, sizeof t, "%s vs sequence length — suite '%s' (%s)\n%s",
             fig ? "Peak memory" : "Step time", x->suite, setting,
             has_infer ? "training: solid lines, inference: dashed lines"
                       : "training step (forward + backward + optimizer)");
    eb_sb_add(&gp, "set title ");
    sb_quote(&gp, t);
    eb_sb_add(&gp, " noenhanced\n"
                   "set xlabel 'Sequence length (tokens, log scale)'\n");
    eb_sb_add(&gp, fig ? "set ylabel 'Peak memory (MiB, log scale)'\n"
                       : "set ylabel 'Median step time (ms, log scale)'\n");
    /* explicit ranges: log autoscaling would extend them to whole decades */
    range y = rg[fig ? 2 : 1];
    eb_sb_add(&gp, "set logscale xy\nset xrange [%.6g:%.6g]\nset yrange [%.6g:%.6g]\n",
              rg[0].lo / 1.25, rg[0].hi * 1.25, y.lo / 1.5, y.hi * 1.5);
    log_tics(&gp, "y", y.lo / 1.5, y.hi * 1.5, 0, 0);
    eb_sb_add(&gp, "set xtics (");
    for (int i = 0; i < lens.n; i++)
      eb_sb_add(&gp, "%s%s", i ? ", " : "", lens.v[i]);
    eb_sb_add(&gp, ")\nset key outside right top spacing 1.2\n");
    if (missing.n) {
      eb_sb_add(&gp, "set bmargin 6\nset label 1000 ");
      char m[1024];
      snprintf(m, sizeof m, "No point (out of memory or failed): %s", missing.p);
      sb_quote(&gp, m);
      eb_sb_add(
          &gp,
          " at screen 0.01, screen 0.025 left noenhanced font ',%d' tc rgb '#555555'\n",
          x->fmt == EB_PLOT_PDF ? 9 : 13);
    }
    eb_sb_add(&gp, "\nplot \\\n");
    for (int i = 0; i < nblocks; i++) {
      char title[256];
      snprintf(title, sizeof title, "%s%s", x->archs.v[blocks[i].arch],
               has_infer ? (blocks[i].infer ? " (infer)" : " (train)") : "");
      eb_sb_add(&gp, "  '%s.dat' index %d using 1:%d with linespoints lt %d%s title ",
                name, i, fig ? 4 : 2, blocks[i].arch + 1,
                blocks[i].infer ? " dt 2 pi -1" : "");
      sb_quote(&gp, title);
      eb_sb_add(&gp, "%s\n", i + 1 < nblocks ? ", \\" : "");
    }
    rc = emit(x, name, &dat, &gp);
    free(gp.p);
  }
out:
  free(blocks);
  free(dat.p);
  free(missing.p);
  names_free(&lens);
  return rc;
}

/* ------------------------------------------------------------- curves -- */

static int fig_curves(pctx *x) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(
          x->db,
          "SELECT e.step, avg(e.accuracy), min(e.accuracy), max(e.accuracy), "
          "count(*) FROM evals e JOIN runs r ON r.id=e.run_id WHERE "
          "r.suite_id=?1 AND r.arch=?2 AND r.task=?3 AND r.status IN ('done', 'timeout') "
          "AND "
          "e.split='val' AND e.accuracy IS NOT NULL GROUP BY e.step ORDER BY "
          "e.step",
          -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading evals");
  int rc = 0;
  int *blk = calloc((size_t)x->archs.n + 1, sizeof *blk);
  int *npts = calloc((size_t)x->archs.n + 1, sizeof *npts);
  if (!blk || !npts) {
    rc = oom_fail(x);
    goto out;
  }
  for (int t = 0; t < x->tasks.n && !rc; t++) {
    const char *task = x->tasks.v[t];
    eb_sbuf dat = {0}, gp = {0};
    eb_sb_add(&dat, "# effbench training curves, suite ");
    sb_quote(&dat, x->suite);
    eb_sb_add(&dat, ", task ");
    sb_quote(&dat, task);
    eb_sb_add(
        &dat,
        "\n# validation accuracy over the seeds of done and timed-out runs at each step\n"
        "# one block (gnuplot index) per arch, named in the comment above it\n"
        "# columns: step mean_val_accuracy[%%] min[%%] max[%%] n_seeds\n");
    int nb = 0, multi = 0;
    for (int a = 0; a < x->archs.n; a++) {
      sqlite3_reset(st);
      sqlite3_bind_int64(st, 1, x->suite_id);
      sqlite3_bind_text(st, 2, x->archs.v[a], -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 3, task, -1, SQLITE_TRANSIENT);
      int rows = 0, r;
      while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (!rows) eb_sb_add(&dat, "%s# %s\n", nb ? "\n\n" : "", x->archs.v[a]);
        rows++;
        int n = sqlite3_column_int(st, 4);
        if (n > 1) multi = 1;
        eb_sb_add(&dat, "%d %.6g %.6g %.6g %d\n", sqlite3_column_int(st, 0),
                  100 * col_real(st, 1), 100 * col_real(st, 2), 100 * col_real(st, 3), n);
      }
      if (r != SQLITE_DONE) {
        rc = sql_fail(x, "reading evals");
        break;
      }
      if (rows) {
        blk[nb] = a;
        npts[nb] = rows;
        nb++;
      }
    }
    if (!rc && nb == 0)
      note(x, "curves for task '%s' skipped: no validation evals of done runs", task);
    if (!rc && nb > 0) {
      char name[300];
      safe_name(name, sizeof name, "curves-", task);
      gp_prelude(x, &gp, name, "validation accuracy during training");
      char t[1024], sfx[600];
      src_suffix(x, task, sfx, sizeof sfx);
      snprintf(t, sizeof t,
               "Validation accuracy during training — task '%s'%s, suite '%s'%s", task,
               sfx, x->suite,
               multi ? "\nlines: mean over seeds, bands: min–max over seeds" : "");
      eb_sb_add(&gp, "set title ");
      sb_quote(&gp, t);
      eb_sb_add(
          &gp, " noenhanced\nset xlabel 'Training step'\n"
               "set ylabel 'Validation accuracy (%%)'\n"
               "set key outside right top spacing 1.2\nset offsets 0, 0, graph 0.05, "
               "graph 0.05\nset style fill transparent solid 0.15 noborder\n\nplot \\\n");
      for (int i = 0; i < nb; i++) {
        int a = blk[i];
        int pi = npts[i] > 15 ? (npts[i] + 11) / 12 : 1; /* about 12 markers a line */
        if (multi)
          eb_sb_add(&gp,
                    "  '%s.dat' index %d using 1:3:4 with filledcurves lc rgb '#%s' "
                    "notitle, \\\n",
                    name, i, PALETTE[a % N_PALETTE]);
        eb_sb_add(&gp,
                  "  '%s.dat' index %d using 1:2 with linespoints lt %d pi %d title ",
                  name, i, a + 1, pi);
        sb_quote(&gp, x->archs.v[a]);
        eb_sb_add(&gp, "%s\n", i + 1 < nb ? ", \\" : "");
      }
      rc = emit(x, name, &dat, &gp);
    }
    free(dat.p);
    free(gp.p);
  }
out:
  sqlite3_finalize(st);
  free(blk);
  free(npts);
  return rc;
}

/* ------------------------------------------------------------- pareto -- */

typedef struct {
  double flops, acc;
  int arch;
} ppoint;

static int cmp_ppoint(const void *a, const void *b) {
  const ppoint *p = a, *q = b;
  if (p->flops != q->flops) return p->flops < q->flops ? -1 : 1;
  return (p->acc < q->acc) - (p->acc > q->acc); /* higher accuracy first */
}

/* x axis: model FLOPs (no recompute: what the architecture costs, the fair
 * measure between archs whose kernels recompute differently); runs stored
 * before model FLOPs were recorded (NULL) are left out, with a note. */
static int fig_pareto(pctx *x) {
  sqlite3_stmt *st = NULL, *old = NULL;
  if (sqlite3_prepare_v2(
          x->db,
          "SELECT arch, model_flops_train_step * steps_done, test_accuracy, seed, "
          "steps_done FROM runs WHERE suite_id=?1 AND conflict_of IS NULL AND task=?2 "
          "AND "
          "status IN ('done', 'timeout') AND test_accuracy IS NOT NULL AND "
          "model_flops_train_step > 0 AND steps_done > 0 ORDER BY id",
          -1, &st, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(x->db,
                         "SELECT count(*) FROM runs WHERE suite_id=?1 AND conflict_of IS "
                         "NULL AND task=?2 AND "
                         "status IN ('done', 'timeout') AND test_accuracy IS NOT NULL "
                         "AND model_flops_train_step IS NULL AND flops_train_step > 0",
                         -1, &old, NULL) != SQLITE_OK) {
    sqlite3_finalize(st);
    return sql_fail(x, "reading runs");
  }
  int rc = 0;
  for (int t = 0; t < x->tasks.n && !rc; t++) {
    const char *task = x->tasks.v[t];
    ppoint *p = NULL;
    int n = 0, cap = 0, r;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, x->suite_id);
    sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
      if (n == cap) {
        cap = cap ? 2 * cap : 16;
        ppoint *q = realloc(p, (size_t)cap * sizeof *q);
        if (!q) {
          rc = oom_fail(x);
          break;
        }
        p = q;
      }
      p[n].arch = names_find(&x->archs, col_text(st, 0));
      p[n].flops = col_real(st, 1);
      p[n].acc = 100 * col_real(st, 2);
      n++;
    }
    if (!rc && r != SQLITE_DONE) rc = sql_fail(x, "reading runs");
    sqlite3_reset(old);
    sqlite3_bind_int64(old, 1, x->suite_id);
    sqlite3_bind_text(old, 2, task, -1, SQLITE_TRANSIENT);
    if (!rc && sqlite3_step(old) == SQLITE_ROW && sqlite3_column_int64(old, 0) > 0)
      note(x,
           "pareto for task '%s': %lld run(s) left out, stored before model FLOPs were "
           "recorded (only executed FLOPs; re-run them to include them)",
           task, (long long)sqlite3_column_int64(old, 0));
    if (!rc && n == 0)
      note(x,
           "pareto for task '%s' skipped: no done runs with test accuracy and model "
           "FLOPs",
           task);
    if (rc || n == 0) {
      free(p);
      continue;
    }
    /* the data file: one block per arch (in arch order), then the front */
    eb_sbuf dat = {0}, gp = {0};
    eb_sb_add(&dat, "# effbench accuracy vs training compute, suite ");
    sb_quote(&dat, x->suite);
    eb_sb_add(&dat, ", task ");
    sb_quote(&dat, task);
    eb_sb_add(&dat,
              "\n# one point per done run; training model FLOPs (no recompute) = "
              "model_flops_train_step x steps_done\n# one block (gnuplot index) per "
              "arch, named in the comment above it; the last block is the Pareto front\n"
              "# columns: train_model_flops[FLOP] test_accuracy[%%]\n");
    int *blk = calloc((size_t)x->archs.n + 1, sizeof *blk), nb = 0;
    if (!blk) {
      free(p);
      rc = oom_fail(x);
      break;
    }
    double fmin = INFINITY, fmax = 0, amin = INFINITY, amax = -INFINITY;
    for (int a = 0; a < x->archs.n; a++) {
      int any = 0;
      for (int i = 0; i < n; i++) {
        if (p[i].arch != a) continue;
        if (!any) eb_sb_add(&dat, "%s# %s\n", nb ? "\n\n" : "", x->archs.v[a]);
        any = 1;
        eb_sb_add(&dat, "%.6g %.6g\n", p[i].flops, p[i].acc);
        if (p[i].flops < fmin) fmin = p[i].flops;
        if (p[i].flops > fmax) fmax = p[i].flops;
        if (p[i].acc < amin) amin = p[i].acc;
        if (p[i].acc > amax) amax = p[i].acc;
      }
      if (any) blk[nb++] = a;
    }
    qsort(p, (size_t)n, sizeof *p, cmp_ppoint);
    eb_sb_add(&dat,
              "\n\n# Pareto front (no other run has more accuracy for fewer FLOPs)\n");
    double best = -INFINITY;
    for (int i = 0; i < n; i++)
      if (p[i].acc > best) {
        best = p[i].acc;
        eb_sb_add(&dat, "%.6g %.6g\n", p[i].flops, p[i].acc);
      }
    char name[300];
    safe_name(name, sizeof name, "pareto-", task);
    gp_prelude(x, &gp, name, "test accuracy vs training model FLOPs with Pareto front");
    char tt[1024], sfx[600];
    src_suffix(x, task, sfx, sizeof sfx);
    snprintf(
        tt, sizeof tt,
        "Test accuracy vs training compute — task '%s'%s, suite '%s'\none point per run "
        "(seed); staircase: Pareto front",
        task, sfx, x->suite);
    eb_sb_add(&gp, "set title ");
    sb_quote(&gp, tt);
    double l0 = log10(fmin), l1 = log10(fmax), sp = l1 - l0;
    if (sp < 0.5) {
      double c = 0.5 * (l0 + l1);
      l0 = c - 0.25;
      l1 = c + 0.25;
      sp = 0.5;
    }
    double ay = amax - amin;
    if (ay < 4) ay = 4;
    double y0 = amin - 0.12 * ay, y1 = amax + 0.12 * ay;
    if (y0 < 0) y0 = 0;
    if (y1 > 100) y1 = 100;
    double xl = pow(10, l0 - 0.1 * sp), xh = pow(10, l1 + 0.1 * sp);
    eb_sb_add(
        &gp,
        " noenhanced\nset xlabel 'Training compute (model FLOPs, no recompute: per step "
        "× steps, log scale)'\n"
        "set ylabel 'Test accuracy (%%)'\nset logscale x 10\n"
        "set xrange [%.6g:%.6g]\nset yrange [%.6g:%.6g]\n",
        xl, xh, y0, y1);
    log_tics(&gp, "x", xl, xh, 1, 0);
    eb_sb_add(&gp, "set key outside right top spacing 1.2\n\nplot \\\n");
    for (int i = 0; i < nb; i++) {
      eb_sb_add(&gp, "  '%s.dat' index %d using 1:2 with points lt %d ps 1.8*PS title ",
                name, i, blk[i] + 1);
      sb_quote(&gp, x->archs.v[blk[i]]);
      eb_sb_add(&gp, ", \\\n");
    }
    eb_sb_add(
        &gp,
        "  '%s.dat' index %d using 1:2 with steps lc rgb '#333333' lw 1.5 dt 1 "
        "title 'Pareto front', \\\n"
        "  '%s.dat' index %d using 1:2 with points pt 6 ps 2.6*PS lc rgb '#333333' lw "
        "1.2 "
        "notitle\n",
        name, nb, name, nb);
    rc = emit(x, name, &dat, &gp);
    free(blk);
    free(p);
    free(dat.p);
    free(gp.p);
  }
  sqlite3_finalize(st);
  sqlite3_finalize(old);
  return rc;
}

/* ---------------------------------------------------------------- fit -- */

/* fit-TASK: y (test loss or error rate) of every finished run vs its training
 * model FLOPs on log-log axes, points per arch, and each arch's fitted
 * y = a C^-b + c (fitruns.h) as a line of the same colour across the arch's
 * range of C. A task is drawn when at least one arch could be fitted; archs
 * without a fit show their points only ("no fit" in the key). Points with
 * y <= 0 (an error rate of 0) cannot sit on a log axis: left out, noted. */
static int fig_fit(pctx *x, int quiet) {
  eb_fit_set fs;
  int frc = eb_fit_set_load(x->db, eb_store_path(x->s), x->suite_id, x->baseline,
                            x->fit_metric, 0, &fs, x->err, x->errlen);
  if (frc) return frc;
  const char *metric = eb_fit_metric_name(x->fit_metric);
  const char *what = x->fit_metric == EB_FIT_ERROR ? "test error rate" : "test loss";
  int rc = 0;
  for (int t = 0; t < x->tasks.n && !rc; t++) {
    const char *task = x->tasks.v[t];
    int nfit = 0, npts = 0, nonpos = 0;
    eb_sbuf why = {0};
    for (int i = 0; i < fs.n; i++) {
      const eb_fit_cell *c = &fs.cell[i];
      if (strcmp(c->task, task)) continue;
      npts += c->n;
      if (c->rc == 0)
        nfit++;
      else
        eb_sb_add(&why, "%s%s: %s", why.n ? ", " : "", c->arch, c->why);
    }
    if (nfit == 0) {
      if (!quiet && npts)
        note(x, "fit for task '%s' skipped: no arch could be fitted (%s)", task,
             why.p ? why.p : "");
      free(why.p);
      continue;
    }
    free(why.p);
    eb_sbuf dat = {0}, gp = {0};
    eb_sb_add(&dat, "# effbench scaling fits, suite ");
    sb_quote(&dat, x->suite);
    eb_sb_add(&dat, ", task ");
    sb_quote(&dat, task);
    eb_sb_add(
        &dat,
        "\n# %s = a * C^-b + c per arch; C = training model FLOPs (per step, no "
        "recompute, times steps done)\n# blocks (gnuplot index): first the points of "
        "each arch, then the fitted curve of each fitted arch, named in the comment "
        "above them\n# columns: train_model_flops[FLOP] %s\n",
        what, metric);
    double fmin = INFINITY, fmax = 0, ymin = INFINITY, ymax = 0;
    int nb = 0;
    eb_sbuf plot = {0};
    char name[300];
    safe_name(name, sizeof name, "fit-", task);
    for (int i = 0; i < fs.n; i++) { /* points */
      const eb_fit_cell *c = &fs.cell[i];
      if (strcmp(c->task, task) || c->n == 0) continue;
      int lt = names_find(&x->archs, c->arch) + 1;
      eb_sb_add(&dat, "%s# %s: points\n", nb ? "\n\n" : "", c->arch);
      for (int k = 0; k < c->n; k++) {
        if (!(c->y[k] > 0)) {
          nonpos++;
          continue;
        }
        eb_sb_add(&dat, "%.6g %.6g\n", c->C[k], c->y[k]);
        if (c->C[k] < fmin) fmin = c->C[k];
        if (c->C[k] > fmax) fmax = c->C[k];
        if (c->y[k] < ymin) ymin = c->y[k];
        if (c->y[k] > ymax) ymax = c->y[k];
      }
      char title[300];
      if (c->rc == 0)
        snprintf(title, sizeof title, "%s (b = %.3g)", c->arch, c->fit.b);
      else
        snprintf(title, sizeof title, "%s (no fit)", c->arch);
      eb_sb_add(&plot, "  '%s.dat' index %d using 1:2 with points lt %d ps 1.6*PS title ",
                name, nb, lt);
      sb_quote(&plot, title);
      eb_sb_add(&plot, ", \\\n");
      nb++;
    }
    for (int i = 0; i < fs.n; i++) { /* curves */
      const eb_fit_cell *c = &fs.cell[i];
      if (strcmp(c->task, task) || c->rc) continue;
      int lt = names_find(&x->archs, c->arch) + 1;
      eb_sb_add(&dat, "\n\n# %s: fit a=%.6g b=%.6g c=%.6g\n", c->arch, c->fit.a, c->fit.b,
                c->fit.c);
      double l0 = log(c->cmin), l1 = log(c->cmax);
      for (int k = 0; k <= 64; k++) {
        double C = exp(l0 + (l1 - l0) * k / 64), y = eb_powfit_eval(&c->fit, C);
        eb_sb_add(&dat, "%.6g %.6g\n", C, y);
        if (y > 0 && y < ymin) ymin = y;
        if (y > ymax) ymax = y;
      }
      eb_sb_add(&plot,
                "  '%s.dat' index %d using 1:2 with lines lt %d lw 2 notitle, \\\n", name,
                nb, lt);
      nb++;
    }
    if (nonpos)
      note(x, "fit for task '%s': %d point(s) with %s 0 left off the log axis", task,
           nonpos, metric);
    gp_prelude(x, &gp, name, "scaling fits: metric vs training model FLOPs");
    char tt[1024], sfx[600];
    src_suffix(x, task, sfx, sizeof sfx);
    snprintf(tt, sizeof tt,
             "Scaling fits — task '%s'%s, suite '%s'\n%s = a·C^-b + c per arch; points: "
             "runs",
             task, sfx, x->suite, what);
    eb_sb_add(&gp, "set title ");
    sb_quote(&gp, tt);
    if (!(fmax > fmin)) { /* one C only: widen so the axis has a range */
      fmin /= 2;
      fmax *= 2;
    }
    if (!(ymax > ymin)) {
      ymin /= 1.5;
      ymax *= 1.5;
    }
    double xs = log10(fmax / fmin), ys = log10(ymax / ymin);
    double xl = fmin / pow(10, 0.08 * xs), xh = fmax * pow(10, 0.08 * xs);
    double yl = ymin / pow(10, 0.1 * ys), yh = ymax * pow(10, 0.1 * ys);
    eb_sb_add(
        &gp,
        " noenhanced\nset xlabel 'Training compute C (model FLOPs, no recompute: per "
        "step × steps, log scale)'\n"
        "set ylabel '%s (log scale)'\nset logscale xy 10\n"
        "set xrange [%.6g:%.6g]\nset yrange [%.6g:%.6g]\n",
        x->fit_metric == EB_FIT_ERROR ? "Test error rate" : "Test loss (nats)", xl, xh,
        yl, yh);
    log_tics(&gp, "x", xl, xh, 1, 0);
    log_tics(&gp, "y", yl, yh, 0, 0);
    eb_sb_add(&gp, "set key outside right top spacing 1.2\n\nplot \\\n");
    if (plot.p) eb_sb_add(&gp, "%s", plot.p);
    /* the last entry ends ", \": end the command instead */
    if (gp.p && gp.n >= 4 && !strcmp(gp.p + gp.n - 4, ", \\\n")) {
      gp.n -= 4;
      gp.p[gp.n] = '\0';
      eb_sb_add(&gp, "\n");
    }
    if (plot.oom) gp.oom = 1;
    rc = emit(x, name, &dat, &gp);
    free(plot.p);
    free(dat.p);
    free(gp.p);
  }
  eb_fit_set_free(&fs);
  return rc;
}

/* -------------------------------------------------------------- suite -- */

/* -------------------------------------------------------------- sweep -- */

/* The numeric task parameters whose values differ among the finished runs
 * of one task (a `sweep:` over them), in name order, into keys (names). */
static int sweep_keys(pctx *x, const char *task, names *keys) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(x->db,
                         "SELECT j.key FROM runs r, json_each(r.config_json, "
                         "'$.task_params') j WHERE r.suite_id=?1 AND r.task=?2 AND "
                         "r.conflict_of IS NULL AND r.status IN ('done', 'timeout') AND "
                         "r.test_accuracy IS NOT NULL AND json_valid(r.config_json) AND "
                         "j.type IN ('integer', 'real') GROUP BY j.key "
                         "HAVING count(DISTINCT j.atom) > 1 ORDER BY j.key",
                         -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading swept task parameters");
  sqlite3_bind_int64(st, 1, x->suite_id);
  sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW)
    if (names_add(keys, col_text(st, 0)) < 0) break;
  sqlite3_finalize(st);
  if (keys->oom) return oom_fail(x);
  return r == SQLITE_DONE ? 0 : sql_fail(x, "reading swept task parameters");
}

/* A task parameter name is a plain identifier (the task declares it); one
 * that is not is left out of the SQL built from it. */
static int plain_key(const char *k) {
  if (!*k) return 0;
  for (const char *c = k; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
          (*c >= '0' && *c <= '9') || *c == '_'))
      return 0;
  return 1;
}

/* sweep-TASK: test accuracy against the swept task parameter (len or
 * max_len when swept, else the first by name), one line per arch and value
 * of the other swept parameters, the majority-class rate as a grey line. */
static int fig_sweep_task(pctx *x, const char *task, const names *keys) {
  int xi = names_find(keys, "len");
  if (xi < 0) xi = names_find(keys, "max_len");
  if (xi < 0) xi = 0;
  const char *xk = keys->v[xi];
  if (!plain_key(xk)) {
    note(x, "sweep figure for task '%s' skipped: parameter name '%s'", task, xk);
    return 0;
  }
  eb_sbuf q = {0}, lab = {0};
  /* the other swept parameters, as a label "pairs=4, ..." */
  for (int i = 0, n = 0; i < keys->n; i++) {
    if (i == xi || !plain_key(keys->v[i])) continue;
    const char *sep = n ? ", " : "";
    eb_sb_add(&lab, "%s'%s%s=' || json_extract(config_json, '$.task_params.%s')",
              n ? " || " : "", sep, keys->v[i], keys->v[i]);
    n++;
  }
  eb_sb_add(
      &q,
      "SELECT arch, %s, json_extract(config_json, '$.task_params.%s') AS xv, "
      "avg(test_accuracy), min(test_accuracy), max(test_accuracy), count(*), "
      "avg(test_majority) FROM runs WHERE suite_id=?1 AND task=?2 AND conflict_of IS "
      "NULL AND status IN ('done', 'timeout') AND test_accuracy IS NOT NULL AND "
      "json_valid(config_json) AND xv IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
      lab.p ? lab.p : "''", xk);
  free(lab.p);
  if (q.oom) {
    free(q.p);
    return oom_fail(x);
  }
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(x->db, q.p, -1, &st, NULL) != SQLITE_OK
               ? sql_fail(x, "reading runs")
               : 0;
  free(q.p);
  if (rc) return rc;
  sqlite3_bind_int64(st, 1, x->suite_id);
  sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
  char name[300];
  safe_name(name, sizeof name, "sweep-", task);
  eb_sbuf dat = {0}, gp = {0}, plot = {0}, base = {0};
  eb_sb_add(&dat, "# effbench test accuracy against a swept task parameter, suite ");
  sb_quote(&dat, x->suite);
  eb_sb_add(&dat, ", task ");
  sb_quote(&dat, task);
  eb_sb_add(&dat,
            "\n# one block (gnuplot index) per arch and value of the other swept "
            "parameters, named in the comment above it; the last block is the "
            "majority-class rate\n# columns: %s mean_test_accuracy[%%] min[%%] max[%%] "
            "n_seeds\n",
            xk);
  char prev[512] = "";
  int nb = 0, multi = 0, r, lt = 0, dt = 0, lastarch = -1;
  double xmin = INFINITY, xmax = -INFINITY;
  typedef struct {
    double x, maj;
    int n;
  } mpt;
  mpt *mp = NULL;
  int nm = 0, cm = 0;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *arch = col_text(st, 0), *other = col_text(st, 1);
    char cur[512];
    snprintf(cur, sizeof cur, "%s%s%s%s", arch, *other ? " [" : "", other,
             *other ? "]" : "");
    if (strcmp(cur, prev)) { /* a new line */
      int a = names_find(&x->archs, arch);
      dt = a == lastarch ? dt + 1 : 1;
      lastarch = a;
      lt = a + 1;
      eb_sb_add(&dat, "%s# %s\n", nb ? "\n\n" : "", cur);
      eb_sb_add(&plot,
                "  '%s.dat' index %d using 1:2:3:4 with yerrorlines lt %d dt %d title ",
                name, nb, lt, dt);
      sb_quote(&plot, cur);
      eb_sb_add(&plot, ", \\\n");
      snprintf(prev, sizeof prev, "%s", cur);
      nb++;
    }
    double xv = sqlite3_column_double(st, 2);
    int n = sqlite3_column_int(st, 6);
    if (n > 1) multi = 1;
    if (xv < xmin) xmin = xv;
    if (xv > xmax) xmax = xv;
    eb_sb_add(&dat, "%.9g %.6g %.6g %.6g %d\n", xv, 100 * col_real(st, 3),
              100 * col_real(st, 4), 100 * col_real(st, 5), n);
    double maj = col_real(st, 7);
    if (!isnan(maj)) { /* the baseline at this x: the largest rate seen */
      int i = 0;
      while (i < nm && mp[i].x != xv)
        i++;
      if (i == nm) {
        if (nm == cm) {
          cm = cm ? 2 * cm : 8;
          mpt *g = realloc(mp, (size_t)cm * sizeof *g);
          if (!g) {
            rc = oom_fail(x);
            break;
          }
          mp = g;
        }
        mp[nm++] = (mpt){xv, maj, 1};
      } else if (maj > mp[i].maj) {
        mp[i].maj = maj;
      }
    }
  }
  sqlite3_finalize(st);
  if (!rc && r != SQLITE_DONE) rc = sql_fail(x, "reading runs");
  if (!rc && nb > 0) {
    if (nm > 0) { /* sorted by x: a handful of points */
      for (int i = 1; i < nm; i++)
        for (int j = i; j > 0 && mp[j - 1].x > mp[j].x; j--) {
          mpt t = mp[j];
          mp[j] = mp[j - 1];
          mp[j - 1] = t;
        }
      eb_sb_add(&dat, "\n\n# majority class\n");
      for (int i = 0; i < nm; i++)
        eb_sb_add(&dat, "%.9g %.6g\n", mp[i].x, 100 * mp[i].maj);
      eb_sb_add(&base,
                "  '%s.dat' index %d using 1:2 with lines lc rgb '#999999' dt 2 lw 2 "
                "title 'majority class', \\\n",
                name, nb);
    }
    gp_prelude(x, &gp, name, "test accuracy against a swept task parameter");
    char t[1024], sfx[600];
    src_suffix(x, task, sfx, sizeof sfx);
    snprintf(t, sizeof t, "Test accuracy against %s — task '%s'%s, suite '%s'%s", xk,
             task, sfx, x->suite,
             multi ? "\npoints: mean over seeds, bars: min–max" : "");
    eb_sb_add(&gp, "set title ");
    sb_quote(&gp, t);
    eb_sb_add(&gp, " noenhanced\nset xlabel ");
    char xl[300];
    snprintf(xl, sizeof xl, "%s.%s", task, xk);
    sb_quote(&gp, xl);
    eb_sb_add(&gp, " noenhanced\nset ylabel 'Test accuracy (%%)'\n");
    if (xmin > 0 && xmax >= 4 * xmin) eb_sb_add(&gp, "set logscale x 2\n");
    eb_sb_add(&gp, "set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\n"
                   "set key outside right top spacing 1.2\n\nplot \\\n");
    eb_sb_add(&gp, "%s%s", plot.p, base.p ? base.p : "");
    gp.n -= 4; /* the last ", \\\n" */
    gp.p[gp.n] = '\0';
    eb_sb_add(&gp, "\n");
    rc = plot.oom || base.oom ? oom_fail(x) : emit(x, name, &dat, &gp);
  }
  free(mp);
  free(dat.p);
  free(gp.p);
  free(plot.p);
  free(base.p);
  return rc;
}

static int fig_sweep(pctx *x, int quiet) {
  int rc = 0, drawn = 0;
  for (int t = 0; t < x->tasks.n && !rc; t++) {
    names keys = {0};
    rc = sweep_keys(x, x->tasks.v[t], &keys);
    if (!rc && keys.n > 0) {
      rc = fig_sweep_task(x, x->tasks.v[t], &keys);
      drawn++;
    }
    names_free(&keys);
  }
  if (!rc && !drawn && !quiet)
    note(x, "sweep figures skipped: no numeric task parameter differs between the runs "
            "of one task");
  return rc;
}

static int resolve_suite(pctx *x, const char *name) {
  int r = find_suite(x->db, eb_store_path(x->s), name, &x->suite_id, x->suite,
                     sizeof x->suite, x->err, x->errlen);
  return r < 0 ? sql_fail(x, "listing suites") : r ? EB_OK : EB_NOTFOUND;
}

/* Archs: the baseline first, then in order of first appearance (runs, then
 * speed rows); tasks in order of first appearance in the runs. */
static int load_names(pctx *x) {
  static const char *sql =
      "SELECT arch, task FROM (SELECT arch, task, 0 AS src, id FROM runs WHERE "
      "suite_id=?1 AND conflict_of IS NULL UNION ALL SELECT arch, NULL, 1, id FROM speed "
      "WHERE suite_id=?1) "
      "ORDER BY src, id";
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK)
    return sql_fail(x, "reading runs");
  sqlite3_bind_int64(st, 1, x->suite_id);
  int rc, has_baseline = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *a = col_text(st, 0);
    if (strcmp(a, x->baseline) == 0) has_baseline = 1;
    if (sqlite3_column_type(st, 1) != SQLITE_NULL) names_add(&x->tasks, col_text(st, 1));
  }
  if (rc != SQLITE_DONE) {
    sqlite3_finalize(st);
    return sql_fail(x, "reading runs");
  }
  sqlite3_reset(st);
  if (has_baseline) names_add(&x->archs, x->baseline);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    names_add(&x->archs, col_text(st, 0));
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return sql_fail(x, "reading runs");
  if (x->archs.oom || x->tasks.oom) return oom_fail(x);
  return 0;
}

/* --------------------------------------------------------------- API -- */

int eb_plot(eb_store *s, const char *suite, eb_plot_kind kind, eb_plot_format fmt,
            const char *outdir, int *written, char *err, size_t errlen) {
  return eb_plot_ex(s, suite, kind, fmt, 0, outdir, written, err, errlen);
}

int eb_plot_ex(eb_store *s, const char *suite, eb_plot_kind kind, eb_plot_format fmt,
               int flags, const char *outdir, int *written, char *err, size_t errlen) {
  return eb_plot_opts(s, suite, kind, fmt, flags, NULL, outdir, written, err, errlen);
}

int eb_plot_opts(eb_store *s, const char *suite, eb_plot_kind kind, eb_plot_format fmt,
                 int flags, const char *baseline, const char *outdir, int *written,
                 char *err, size_t errlen) {
  if (written) *written = 0;
  if (errlen) err[0] = '\0';
  if (!s || !outdir || !*outdir || kind < EB_PLOT_BUBBLE || kind > EB_PLOT_ALL ||
      fmt < EB_PLOT_PNG || fmt > EB_PLOT_PDF) {
    snprintf(err, errlen, "eb_plot: bad arguments");
    return EB_INTERNAL;
  }
  pctx x = {0};
  x.s = s;
  x.db = eb_store_db(s);
  x.fmt = fmt;
  x.outdir = outdir;
  x.err = err;
  x.errlen = errlen;
  x.fit_metric = flags & EB_PLOT_FIT_ERROR ? EB_FIT_ERROR : EB_FIT_LOSS;
  x.baseline = baseline ? baseline : "vanilla";
  int rc = resolve_suite(&x, suite);
  if (!rc && baseline) { /* named: it must be there (vanilla by default may not be) */
    int b =
        find_baseline(x.db, eb_store_path(s), x.suite_id, x.suite, baseline, err, errlen);
    rc = b < 0 ? sql_fail(&x, "reading the suite's archs") : b ? EB_OK : EB_INPUT;
  }
  if (!rc) rc = load_names(&x);
  if (!rc && kind != EB_PLOT_SCALING) { /* before any figure is drawn */
    rc = eb_suite_sources_load(x.db, eb_store_path(s), x.suite_id,
                               flags & EB_PLOT_MIX_SOURCES, &x.src, err, errlen);
    if (!rc && x.src.mixed)
      note(&x, "some tasks mix kinds of data source (--mix-sources): their titles say "
               "\"mixed sources\"");
  }
  if (!rc) rc = find_gnuplot(&x);
  if (!rc) rc = mkdir_p(&x, outdir);
  if (!rc && (kind == EB_PLOT_BUBBLE || kind == EB_PLOT_ALL)) rc = fig_bubble(&x);
  if (!rc && (kind == EB_PLOT_SCALING || kind == EB_PLOT_ALL)) rc = fig_scaling(&x);
  if (!rc && (kind == EB_PLOT_CURVES || kind == EB_PLOT_ALL)) rc = fig_curves(&x);
  if (!rc && (kind == EB_PLOT_PARETO || kind == EB_PLOT_ALL)) rc = fig_pareto(&x);
  if (!rc && (kind == EB_PLOT_FIT || kind == EB_PLOT_ALL))
    rc = fig_fit(&x, kind == EB_PLOT_ALL);
  if (!rc && (kind == EB_PLOT_SWEEP || kind == EB_PLOT_ALL))
    rc = fig_sweep(&x, kind == EB_PLOT_ALL);
  if (!rc && x.notes.oom) rc = oom_fail(&x);
  if (!rc) {
    if (x.written == 0) {
      snprintf(err, errlen, "nothing to plot (%s) for suite '%s' in %s: %s",
               eb_plot_kind_name(kind), x.suite, eb_store_path(s),
               x.notes.n ? x.notes.p : "no data");
      rc = EB_NOTFOUND;
    } else {
      snprintf(err, errlen, "%s", x.notes.n ? x.notes.p : "");
    }
  }
  if (written) *written = x.written;
  names_free(&x.archs);
  names_free(&x.tasks);
  free(x.notes.p);
  eb_suite_sources_free(&x.src);
  return rc;
}

static const char *const KIND_NAMES[] = {"bubble", "scaling", "curves", "pareto",
                                         "fit",    "sweep",   "all"};
static const char *const FORMAT_NAMES[] = {"png", "svg", "pdf"};
_Static_assert(sizeof KIND_NAMES / sizeof KIND_NAMES[0] == EB_PLOT_ALL + 1,
               "one name per plot kind");
_Static_assert(sizeof FORMAT_NAMES / sizeof FORMAT_NAMES[0] == EB_PLOT_PDF + 1,
               "one name per plot format");

const char *eb_plot_kind_name(eb_plot_kind k) {
  return k >= EB_PLOT_BUBBLE && k <= EB_PLOT_ALL ? KIND_NAMES[k] : "?";
}

const char *eb_plot_format_name(eb_plot_format f) {
  return f >= EB_PLOT_PNG && f <= EB_PLOT_PDF ? FORMAT_NAMES[f] : "?";
}

int eb_plot_kind_parse(const char *name, eb_plot_kind *k) {
  int i = name_index(name, KIND_NAMES, EB_PLOT_ALL + 1);
  if (i >= 0) *k = (eb_plot_kind)i;
  return i < 0 ? -1 : 0;
}

int eb_plot_format_parse(const char *name, eb_plot_format *f) {
  int i = name_index(name, FORMAT_NAMES, EB_PLOT_PDF + 1);
  if (i >= 0) *f = (eb_plot_format)i;
  return i < 0 ? -1 : 0;
}
