/* Paper-style figures from the results database alone (DESIGN.md §8),
 * drawn by gnuplot launched as a process.
 *
 * Every figure NAME is three files in OUTDIR (created if missing):
 *   NAME.dat  whitespace table, a header comment naming columns and units,
 *             one block per arch separated by two blank lines (gnuplot
 *             `index`), strings in quotes;
 *   NAME.gp   self-contained script: `cd OUTDIR && gnuplot NAME.gp`
 *             regenerates the image, so a user can restyle it;
 *   NAME.png | NAME.svg | NAME.pdf  the image.
 *
 * Figures (arch colours and markers are the same in every figure: the
 * baseline, `vanilla` unless eb_plot_opts names another, first, then archs in
 * order of first appearance in the suite):
 *
 * - bubble (LRA Fig. 3): x = training steps/s, y = average test accuracy
 *   (%) over tasks, bubble area proportional to peak memory, one labelled
 *   bubble per arch. Accuracy: per task the mean over seeds of `done` runs,
 *   then the mean over tasks; archs without a done run on every task are
 *   left out (and named in the notes). Speed and memory come from the
 *   `speed` table, mode=train, status done, at the longest sequence length
 *   at which every plotted arch has such a measurement (the latest row
 *   wins); when there is no such length, from the runs: 1000 / mean
 *   runs.train_ms_per_step and max runs.peak_mem_bytes over the arch's done
 *   runs. The axis label says which source was used.
 * - scaling-time, scaling-memory: median step time (ms) and peak memory
 *   (MiB) vs sequence length, log-log, one line per arch from the `speed`
 *   table (latest row per arch, mode and length; train solid, infer
 *   dashed). Lengths whose latest measurement is oom/failed have no point;
 *   they are listed under the plot.
 * - curves-TASK, one per task: validation accuracy (%) vs training step,
 *   mean over the seeds of done runs, one line per arch, with a shaded
 *   min-max band over seeds when there are several.
 * - pareto-TASK, one per task: test accuracy (%) of every done run vs its
 *   training FLOPs (flops_train_step x steps_done, log axis), points per
 *   arch, and the Pareto front (fewest FLOPs for a given accuracy) as a
 *   staircase. One per task because accuracies of different tasks are not
 *   comparable.
 * - fit-TASK, one per task with at least one fitted arch: test loss (or,
 *   with EB_PLOT_FIT_ERROR, test error rate) of every done or timed-out run
 *   vs its training model FLOPs on log-log axes, points per arch, and each
 *   arch's fitted y = a C^-b + c (fitruns.h) over its range of C, in the
 *   arch's colour; the key gives b, or "no fit". `all` draws them silently
 *   only where a fit exists; `fit` notes the tasks it skipped and why.
 * - sweep-TASK, one per task whose finished runs differ in a numeric task
 *   parameter: mean test accuracy (min-max bars over seeds) against that
 *   parameter (len or max_len when swept), one line per arch and value of
 *   the other swept parameters, and the majority-class rate.
 *
 * A figure without data is skipped, not an error; eb_plot fails only when
 * no figure of the requested kind can be made. Nothing here prints. */
#ifndef EFFBENCH_PLOT_H
#define EFFBENCH_PLOT_H

#include <stddef.h>

#include "store.h"

typedef enum {
  EB_PLOT_BUBBLE,
  EB_PLOT_SCALING,
  EB_PLOT_CURVES,
  EB_PLOT_PARETO,
  EB_PLOT_FIT,
  EB_PLOT_SWEEP,
  EB_PLOT_ALL
} eb_plot_kind;
typedef enum { EB_PLOT_PNG, EB_PLOT_SVG, EB_PLOT_PDF } eb_plot_format;

/* eb_plot_ex flags: draw runs on different kinds of data source as one task
 * (titles say "mixed sources: ..."; a note warns). */
#define EB_PLOT_MIX_SOURCES 1
/* eb_plot_ex flags: the fit figures plot the test error rate (1 - test
 * accuracy) instead of the test loss. */
#define EB_PLOT_FIT_ERROR 2

/* Draws the figures of `kind` for `suite` (NULL = the suite with the most
 * recent run or speed measurement) into outdir. *written (may be NULL) gets
 * the number of images written.
 *
 * Returns EB_OK, or the kind with a message in err:
 *   EB_NOTFOUND, no such suite or nothing to plot: "no runs for suite 'x' in
 *     FILE (suites: a, b)";
 *   EB_UNSUPPORTED, gnuplot (or its pdfcairo terminal) is not installed:
 *     "gnuplot not found: install the Debian package gnuplot-nox";
 *   EB_IO, a file or gnuplot failed: "gnuplot bubble.gp failed in DIR (exit
 *     1): <its stderr>"; EB_DB, EB_NOMEM;
 *   EB_INPUT, runs of one task on mixed data sources (eb_plot_ex).
 * On success err holds notes about figures or archs that were skipped, joined
 * by "; " (empty when none), for the caller to show as warnings.
 *
 * The gnuplot binary is `gnuplot` from PATH, or $EFFBENCH_GNUPLOT when set. */
int eb_plot(eb_store *s, const char *suite, eb_plot_kind kind, eb_plot_format fmt,
            const char *outdir, int *written, char *err, size_t errlen);
/* The same with flags (EB_PLOT_MIX_SOURCES). Titles name each task's data
 * source (results/sources.h): curves and pareto "task 'image' (Fashion-MNIST
 * substitute, sha256 1a2b3c4d)", bubble one "data:" line over its tasks; the
 * bubble .dat file lists them in its header. Without EB_PLOT_MIX_SOURCES a
 * task whose runs come from different kinds of source is refused
 * (EB_INPUT) before any figure is drawn (scaling, from the speed
 * table alone, does not look at sources). */
int eb_plot_ex(eb_store *s, const char *suite, eb_plot_kind kind, eb_plot_format fmt,
               int flags, const char *outdir, int *written, char *err, size_t errlen);
/* The same with the baseline arch drawn first (the first colour and marker):
 * NULL = `vanilla` where the suite has it; a name given must be an arch of the
 * suite (runs or speed rows), else EB_INPUT. */
int eb_plot_opts(eb_store *s, const char *suite, eb_plot_kind kind, eb_plot_format fmt,
                 int flags, const char *baseline, const char *outdir, int *written,
                 char *err, size_t errlen);

/* Names for the CLI: "bubble", "scaling", "curves", "pareto", "fit", "all" and
 * "png", "svg", "pdf" (also the file extension). Parsers return -1 for an
 * unknown name. */
const char *eb_plot_kind_name(eb_plot_kind k);
const char *eb_plot_format_name(eb_plot_format f);
int eb_plot_kind_parse(const char *name, eb_plot_kind *k);
int eb_plot_format_parse(const char *name, eb_plot_format *f);

#endif
