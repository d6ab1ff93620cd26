/* Lines of a text file with their numbers (TSV data of the text and retrieval
 * tasks): lines.h. */
#include "lines.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int eb_lines_open(eb_lines *L, const char *path, char *err, size_t errlen) {
  memset(L, 0, sizeof *L);
  L->path = path;
  L->f = fopen(path, "rb");
  if (!L->f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

long long eb_lines_next(eb_lines *L, char *err, size_t errlen) {
  errno = 0;
  ssize_t n = getline(&L->buf, &L->cap, L->f);
  if (n < 0) {
    if (ferror(L->f)) {
      snprintf(err, errlen, "%s:%lld: read error: %s", L->path, L->line + 1,
               strerror(errno));
      return -2;
    }
    return -1;
  }
  L->line++;
  if (n > 0 && L->buf[n - 1] == '\n') n--;
  if (n > 0 && L->buf[n - 1] == '\r') n--;
  L->buf[n] = '\0';
  return (long long)n;
}

void eb_lines_close(eb_lines *L) {
  if (L->f) fclose(L->f);
  free(L->buf);
  memset(L, 0, sizeof *L);
}

int eb_count_lines(const char *path, int64_t *n, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  char buf[1 << 16];
  size_t got;
  int64_t lines = 0;
  int last = '\n';
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < got; i++)
      lines += buf[i] == '\n';
    last = (unsigned char)buf[got - 1];
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    snprintf(err, errlen, "%s: read error", path);
    return -1;
  }
  *n = lines + (last != '\n');
  return 0;
}
