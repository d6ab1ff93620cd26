/* Small file helpers of the tasks' loaders and generators. */
#ifndef EFFBENCH_TASKS_FILES_H
#define EFFBENCH_TASKS_FILES_H

#include <stddef.h>

/* mkdir -p */
int eb_mkdirs(const char *path, char *err, size_t errlen);
int eb_is_dir(const char *path);
int eb_is_file(const char *path);
/* Whole file into a malloc'ed buffer (NUL-terminated; *n excludes the NUL). */
int eb_read_file(const char *path, unsigned char **buf, size_t *n, char *err,
                 size_t errlen);
int eb_write_file(const char *path, const void *buf, size_t n, char *err, size_t errlen);

#endif
