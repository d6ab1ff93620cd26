/* effbench result codes: one enum for every function that can fail, in
 * SQLite's spirit. A function returns EB_OK (0) or the kind of its failure,
 * and writes the message for a person into the caller's error buffer beside
 * it. The kind decides what happens next (a run's status `oom`, the process's
 * exit status); the message never does: no code reads a kind back out of a
 * message's text.
 *
 * Kinds are only ever appended (before EB_RC_COUNT), so a value keeps its
 * meaning across versions. docs/engine.md, "Errors and exit statuses", maps
 * each kind to the exit status of `effbench`. */
#ifndef EFFBENCH_RC_H
#define EFFBENCH_RC_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum eb_rc {
  EB_OK = 0,
  EB_NOMEM,       /* an allocation failed or a memory limit refused it */
  EB_INPUT,       /* bad input from the user: a file, YAML, an option, a parameter */
  EB_NOTFOUND,    /* what the user named does not exist (a file, a suite, data) */
  EB_IO,          /* reading or writing a file, a pipe or a process failed */
  EB_DB,          /* the results database failed (SQLite) */
  EB_SHAPE,       /* tensors, or indices into them, that do not fit an op */
  EB_UNSUPPORTED, /* a capability this machine or build lacks (gnuplot, a format) */
  EB_INTERNAL,    /* a bug, or a plugin that failed without saying why */
  EB_BUSY,        /* another process owns it now (a run's claim was taken over) */
  EB_FAILED,      /* the work ran and its outcome is a failure: a run diverged or
                     timed out, a check failed, a regression was flagged */
  EB_RC_COUNT     /* number of kinds; not a kind */
} eb_rc;

/* "ok", "nomem", "input", ...: the kind's name (for logs and tests); "?" for
 * a value that is no kind. */
const char *eb_rc_name(int rc);

#ifdef __cplusplus
}
#endif
#endif
