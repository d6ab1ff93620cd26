/* Temporary names for files and directories written whole then renamed into
 * place (cache files, checkpoints, `effbench data --out`), and the removal of
 * those a killed writer left: NAME.tmp.HOST.PID, so that a writer on this
 * host whose process is gone is recognised (one on another host sharing the
 * directory is left alone). */
#ifndef EFFBENCH_TMPNAME_H
#define EFFBENCH_TMPNAME_H

#include <stddef.h>

/* PATH.tmp.HOST.PID into buf; -1 when it does not fit. */
int eb_tmp_name(const char *path, char *buf, size_t len);

/* Removes, in dir, the temporaries of dead writers of this host whose names
 * start with prefix (NULL: any), directories with their contents. Returns the
 * number removed. */
int eb_tmp_clean(const char *dir, const char *prefix);

/* Removes path, a file or a directory with its contents. */
void eb_tmp_remove(const char *path);

/* 1 when dir is a directory holding nothing. */
int eb_dir_empty(const char *dir);

#endif
