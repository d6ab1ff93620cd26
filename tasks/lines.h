/* Line-by-line reading of text files (the TSV data of the text and retrieval
 * tasks) with file:line positions. */
#ifndef EFFBENCH_TASKS_LINES_H
#define EFFBENCH_TASKS_LINES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Lines of a file, read with getline: the newline and a trailing CR are
 * stripped; a last line without a newline counts as a line. */
typedef struct eb_lines {
  FILE *f;
  const char *path;
  char *buf;
  size_t cap;
  long long line; /* 1-based number of the line last returned */
} eb_lines;

int eb_lines_open(eb_lines *L, const char *path, char *err, size_t errlen);
/* Length of the next line (>= 0) in L->buf, -1 at the end, -2 on a read
 * error (err filled). */
long long eb_lines_next(eb_lines *L, char *err, size_t errlen);
void eb_lines_close(eb_lines *L);
/* Number of lines of a file in the sense of eb_lines_next. */
int eb_count_lines(const char *path, int64_t *n, char *err, size_t errlen);

#endif
