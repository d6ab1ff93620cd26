/* Small file helpers of the tasks' loaders and generators: files.h. */
#include "files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int eb_mkdirs(const char *path, char *err, size_t errlen) {
  char p[4096];
  snprintf(p, sizeof p, "%s", path);
  for (char *c = p + 1; *c; c++) {
    if (*c != '/') continue;
    *c = '\0';
    int rc = mkdir(p, 0777);
    *c = '/';
    if (rc != 0 && errno != EEXIST) {
      snprintf(err, errlen, "%s: cannot create directory: %s", p, strerror(errno));
      return -1;
    }
  }
  if (mkdir(p, 0777) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "%s: cannot create directory: %s", p, strerror(errno));
    return -1;
  }
  if (!eb_is_dir(p)) {
    snprintf(err, errlen, "%s: not a directory", p);
    return -1;
  }
  return 0;
}

int eb_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int eb_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int eb_read_file(const char *path, unsigned char **buf, size_t *n, char *err,
                 size_t errlen) {
  *buf = NULL;
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, len = 0;
  unsigned char *b = malloc(cap);
  while (b) {
    if (len + 1 >= cap) {
      unsigned char *nb = realloc(b, cap * 2);
      if (!nb) {
        free(b);
        b = NULL;
        break;
      }
      b = nb;
      cap *= 2;
    }
    size_t got = fread(b + len, 1, cap - 1 - len, f);
    len += got;
    if (got == 0) break;
  }
  const char *why = !b ? "out of memory" : ferror(f) ? "read error" : NULL;
  fclose(f);
  if (why) {
    free(b);
    snprintf(err, errlen, "%s: %s", path, why);
    return -1;
  }
  b[len] = '\0';
  *buf = b;
  *n = len;
  return 0;
}

int eb_write_file(const char *path, const void *buf, size_t n, char *err, size_t errlen) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    return -1;
  }
  int ok = fwrite(buf, 1, n, f) == n;
  if (fclose(f) != 0) ok = 0;
  if (!ok) {
    snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}
