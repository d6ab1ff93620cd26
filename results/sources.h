/* Data sources of a suite's task columns, for report and plot: which data
 * each task's runs were trained and tested on (runs.data_kind, data_label),
 * the text a table header or figure caption shows for it, and the refusal to
 * put runs of different kinds in one column unless asked (--mix-sources).
 *
 * A run counts when it recorded a source, or when it has a result (done or
 * timeout) without one: such runs (written before sources were recorded)
 * count as kind "unrecorded". Failed runs whose data never opened do not. */
#ifndef EFFBENCH_RESULTS_SOURCES_H
#define EFFBENCH_RESULTS_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#include "effbench/rc.h"

struct sqlite3;

typedef struct eb_task_source {
  char *task;
  int nkinds; /* distinct kinds: > 1 = mixed */
  char *text; /* for headers and captions: the label, labels joined by "; ",
                 or "mixed sources: A + B" */
} eb_task_source;

typedef struct eb_suite_sources {
  eb_task_source *v;
  int n;
  int mixed; /* some task mixes kinds (allowed by the caller) */
} eb_suite_sources;

/* Fills out for suite_id. Returns EB_OK; EB_DB / EB_NOMEM with err on a
 * failure; EB_INPUT when a task's runs have different kinds and allow_mix is
 * 0: err names the task and each source with its number of runs, and says how
 * to go on. */
int eb_suite_sources_load(struct sqlite3 *db, const char *dbpath, int64_t suite_id,
                          int allow_mix, eb_suite_sources *out, char *err, size_t errlen);
/* The entry of a task, NULL when none of its runs recorded a source (a
 * database written before sources were recorded: headers stay as they were). */
const eb_task_source *eb_suite_sources_find(const eb_suite_sources *s, const char *task);
void eb_suite_sources_free(eb_suite_sources *s);

#endif
