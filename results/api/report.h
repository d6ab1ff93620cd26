/* Paper-style tables from the results database alone (DESIGN.md §8):
 *
 * - accuracy (LRA Table 1): rows = archs, columns = tasks + Avg, cells =
 *   mean ± sample std (n-1) over seeds of test accuracy x100 of `done` runs
 *   and the number of seeds it is over, "37.00 ± 1.00 (n=3)" (a single seed:
 *   the bare value; EB_REPORT_SEM puts the standard error std/sqrt(n) after
 *   the ±); the best value per column is bold (Markdown **x**, LaTeX
 *   \textbf{x}, HTML <strong>, CSV column best=1). A cell without a done run
 *   shows the statuses of its runs ("diverged", "diverged (2/3), failed
 *   (1/3)"); a cell with fewer done runs than seeds says so ("19.00 ± 1.41
 *   (n=2; 1 timeout)"); blank means no run exists. Avg is the mean of the
 *   row's task means, "—" unless every task has one.
 * - speed (LRA Table 2): one table per (mode, task) from the `speed` table,
 *   train before infer: steps/s (= 1000 / step_ms_median) per sequence length
 *   and peak memory (MiB), each cell of another arch with its ratio to the
 *   baseline (`vanilla` unless eb_report_options names another) at the same
 *   length ("9.30 (1.15x)"); oom/failed cells show their status.
 * - stats (alias moe): the architectures' own statistics (run_stats), as
 *   they declare them (eb_report_stat: the harness hands over each
 *   registered arch's eb_stat_decl table; this layer never names an arch).
 *   Rows (arch, task), in order of first appearance, for every arch of the
 *   suite that declares stats or recorded some; columns: total and active
 *   parameters, active %, one per declared stat ("LABEL (UNIT)"; unit "%":
 *   a fraction shown x100), seeds. A cell is the mean ± std over the runs
 *   that finished or timed out of each run's value, the declared aggregation
 *   (mean, last, sum, min, max) of what it recorded over its steps; blank
 *   where the row's arch does not declare that column. An arch that declares
 *   nothing (its plugin not loaded, or built against the older header) shows
 *   each stat it recorded by name, as the mean over steps (params_inactive
 *   is the active-parameter column).
 * - fit: scaling laws y = a C^-b + c per (arch, task), C = training model
 *   FLOPs of a run, y its test loss or error rate (fitruns.h, fit.h): a, b,
 *   c with 95 % bootstrap intervals over seeds, R², points, seeds and the
 *   compute budgets; a cell that cannot be fitted says why ("no fit: 3
 *   distinct compute budgets (at least 4 needed)"). `all` includes it only
 *   when some (arch, task) has at least 4 budgets. CSV metrics are
 *   METRIC_a, METRIC_a_lo, METRIC_a_hi, ... METRIC_r2, METRIC_budgets
 *   (METRIC = loss | error), or METRIC_fit with the reason in status.
 *
 * Row order (accuracy, speed, fit): the baseline first, then archs in order
 * of first appearance in the suite (run id order, which follows the suite
 * YAML). Columns: tasks in order of first appearance, sequence lengths
 * ascending.
 *
 * CSV is one tidy table for every --table choice, one header row:
 *   table,suite,arch,task,mode,seq_len,metric,value,std,n,runs,status,best,
 *   ratio_to_BASELINE,data_source,sem
 * (ratio_to_vanilla by default) with raw numbers (accuracy as a fraction,
 * memory in bytes, stats as recorded: no x100); sem = std / sqrt(n), empty
 * where std is. Stats rows: table "stats", metric the stat's name.
 *
 * HTML is one self-contained HTML5 document (inline CSS, no script, nothing
 * fetched): the chosen tables, every figure of the suite (eb_plot_ex, all
 * kinds, as SVG drawn into a temporary directory that is removed afterwards)
 * inline, the suite's YAML as stored, the data provenance of its runs and the
 * machine and commit of every run (report_html.c). Without gnuplot the
 * figures section says so and eb_report_ex succeeds with a warning in err. */
#ifndef EFFBENCH_REPORT_H
#define EFFBENCH_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "fitruns.h"
#include "store.h"

typedef enum {
  EB_TABLE_ACCURACY,
  EB_TABLE_SPEED,
  EB_TABLE_STATS,
  EB_TABLE_FIT,
  EB_TABLE_ALL
} eb_table;
typedef enum { EB_FMT_MD, EB_FMT_LATEX, EB_FMT_CSV, EB_FMT_HTML } eb_format;

/* eb_report_ex flags: put runs of different data-source kinds in one task
 * column (the header says "mixed sources: ...", the caption warns). */
#define EB_REPORT_MIX_SOURCES 1
/* eb_report_ex flags: every attempt of every run (runs.attempt and the
 * archived ones in run_attempts), each a row of its own labelled
 * "ARCH (attempt N)"; without it, the latest attempt only (the runs table). */
#define EB_REPORT_ALL_ATTEMPTS 2

/* eb_report_ex flags: the spread after an accuracy cell's ± is the standard
 * error of the mean (std / sqrt(n)) instead of the sample std. */
#define EB_REPORT_SEM 4

/* Writes the chosen table(s) of `suite` (NULL = the suite with the most
 * recent run or speed measurement) to out. Returns EB_OK, or the kind with a
 * message in err: EB_NOTFOUND for no such suite, e.g.
 *   "no runs for suite 'x' in FILE (suites: a, b)",
 * EB_DB, EB_IO (writing out), EB_NOMEM; EB_INPUT for an unknown table or
 * format and for runs of mixed data sources (eb_report_ex).
 * On success err holds warnings for the caller to show (HTML: figures that
 * could not be drawn, e.g. gnuplot missing), empty when none. */
int eb_report(eb_store *s, const char *suite, eb_table t, eb_format f, FILE *out,
              char *err, size_t errlen);
/* The same with flags (EB_REPORT_MIX_SOURCES). Every accuracy column header
 * names its data source (sources.h): "image (Fashion-MNIST substitute,
 * sha256 1a2b3c4d)", "text (generated, seed 7)"; the CSV rows carry it in the
 * data_source column. Without EB_REPORT_MIX_SOURCES, a task whose runs come
 * from different kinds of source is refused (EB_INPUT) before anything is
 * written. */
int eb_report_ex(eb_store *s, const char *suite, eb_table t, eb_format f, int flags,
                 FILE *out, char *err, size_t errlen);

/* Options of the fit table: which y, how many bootstrap resamples (0 = no
 * intervals). NULL in eb_report_opts = loss, EB_FIT_DEFAULT_RESAMPLES. */
typedef struct {
  eb_fit_metric metric;
  int resamples;
} eb_report_fit_opts;

/* How a run's recorded values of one stat become its number: plugin.h's
 * eb_stat_agg, in this layer's words (results/ does not include the plugin
 * ABI; the harness translates). */
typedef enum {
  EB_AGG_MEAN, /* mean over the run's recorded steps */
  EB_AGG_LAST, /* the value at its last recorded step */
  EB_AGG_SUM,
  EB_AGG_MIN,
  EB_AGG_MAX
} eb_report_agg;

/* One stat an architecture declares: a column of the stats table. */
typedef struct {
  const char *arch;  /* the declaring arch's name */
  const char *name;  /* run_stats.name */
  const char *label; /* column header; NULL = name */
  const char *unit;  /* NULL or "" = none; "%": a fraction, shown x100 */
  const char *help;  /* for the caption; NULL = none */
  eb_report_agg agg;
} eb_report_stat;

typedef struct {
  int flags;                     /* EB_REPORT_* */
  const eb_report_fit_opts *fit; /* NULL = loss, EB_FIT_DEFAULT_RESAMPLES */
  /* the reference arch: first row, the speed table's ratios, the figures'
   * first colour. NULL = `vanilla` (a suite without it has no ratios); a
   * name given must be an arch of the suite, else EB_INPUT. */
  const char *baseline;
  /* the declared stats of every arch the caller knows, in declaration order
   * per arch; NULL/0: every arch shows its recorded stats by name */
  const eb_report_stat *stats;
  int nstats;
} eb_report_options;

/* eb_report_ex with options (NULL = eb_report_ex's defaults). */
int eb_report_opts(eb_store *s, const char *suite, eb_table t, eb_format f,
                   const eb_report_options *o, FILE *out, char *err, size_t errlen);

/* Name tables for the CLI: "accuracy", "speed", "stats", "fit", "all" and
 * "md", "latex", "csv", "html"; the table parser also takes "moe", the stats
 * table's earlier name. Parsers return -1 for an unknown name. */
const char *eb_table_name(eb_table t);
const char *eb_format_name(eb_format f);
int eb_table_parse(const char *name, eb_table *t);
int eb_format_parse(const char *name, eb_format *f);

#endif
