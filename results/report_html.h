/* The one-file HTML report around the tables of report.c: the document's
 * head and inline CSS, the figures (drawn by plot.c as SVG into a temporary
 * directory, embedded inline, the directory removed), its end. Internal to
 * results/: eb_report_ex(..., EB_FMT_HTML, ...) is the public entry.
 *
 * The document is self-contained HTML5: no script, nothing fetched (no
 * external src or href); every text from the database is escaped. */
#ifndef EFFBENCH_REPORT_HTML_H
#define EFFBENCH_REPORT_HTML_H

#include <stddef.h>
#include <stdio.h>

#include "store.h"

/* Writes n bytes of s with &, <, >, " and ' escaped. */
void eb_html_put(FILE *o, const char *s, size_t n);

/* Doctype, head with the CSS, the title naming suite and database, the
 * contents and the "Tables" heading. */
void eb_html_begin(FILE *o, const char *suite, const char *db_path);

/* The "Figures" section: every figure eb_plot_opts (all kinds, SVG; flags
 * EB_PLOT_MIX_SOURCES; baseline as the report's, already checked, NULL =
 * vanilla) draws for suite, inline, ids made unique per figure.
 * Without gnuplot, or when a figure cannot be drawn for want of data, the
 * section says why instead; gnuplot missing also sets warn. Returns EB_OK, or
 * the kind with err set (EB_IO: a temporary directory or file error, gnuplot
 * failing; eb_plot_opts's EB_DB, EB_NOMEM). */
int eb_html_figures(eb_store *s, const char *suite, int plot_flags, const char *baseline,
                    FILE *o, char *warn, size_t wlen, char *err, size_t errlen);

void eb_html_end(FILE *o);

#endif
