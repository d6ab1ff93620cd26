/* effbench merge: the union of several results databases in one.
 *
 * Runs are matched by run key. A key found once is copied with its evals and
 * run_stats; the same key with the same results (status, counts, accuracies,
 * every eval's loss and accuracy, every stat: not timings or host) collapses
 * into the row already there; an unfinished row (pending, running) gives way
 * to a finished one. The same key with different results is a conflict: by
 * default both are kept, the later one under run_key KEY~FINGERPRINT with
 * conflict_of = KEY, and report lists it; a preference keeps one instead.
 * Speed rows are added unless an identical row is there, suites by name, env
 * keys the output lacks. Everything is one transaction on the output; inputs
 * are only read. Merging the same inputs again changes nothing. */
#ifndef EFFBENCH_MERGE_H
#define EFFBENCH_MERGE_H

#include "store.h"

typedef enum eb_merge_prefer {
  EB_PREFER_NONE,   /* keep both versions of a conflicting run, flagged */
  EB_PREFER_FIRST,  /* keep the one already in the output (or the earlier input) */
  EB_PREFER_NEWEST, /* keep the one with the later finished_at */
} eb_merge_prefer;

typedef struct eb_merge_summary {
  int runs_added;      /* keys new to the output */
  int runs_same;       /* collapsed: identical results already there */
  int runs_replaced;   /* an unfinished row finished, or --prefer newest */
  int runs_conflicts;  /* kept beside the other version, flagged */
  int runs_resolved;   /* conflicts decided by the preference (one kept) */
  int runs_unfinished; /* unfinished incoming rows a row already there covers */
  int speed_added, speed_same;
  int suites_added;
} eb_merge_summary;

/* Merges the inputs (opened with eb_store_open_input) into out (opened with
 * eb_store_open), in order, in one transaction: on an error (EB_DB, EB_NOMEM,
 * with err) nothing of the merge is in out. */
int eb_merge(eb_store *out, eb_store *const *in, int nin, eb_merge_prefer prefer,
             eb_merge_summary *sum, char *err, size_t errlen);

#endif
