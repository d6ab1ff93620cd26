#define _XOPEN_SOURCE 700
#include "tmpname.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void host(char *buf, size_t len) {
  if (gethostname(buf, len - 1) != 0 || !buf[0]) snprintf(buf, len, "unknown");
  buf[len - 1] = '\0';
  for (char *p = buf; *p; p++) /* a name part, whatever the host says */
    if (*p == '/') *p = '_';
}

int eb_tmp_name(const char *path, char *buf, size_t len) {
  char h[256];
  host(h, sizeof h);
  int n = snprintf(buf, len, "%s.tmp.%s.%ld", path, h, (long)getpid());
  return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st;
  (void)flag;
  (void)f;
  remove(p);
  return 0;
}

int eb_tmp_clean(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  char h[256];
  host(h, sizeof h);
  const size_t hl = strlen(h), pl = prefix ? strlen(prefix) : 0;
  int removed = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *name = e->d_name;
    if (prefix && strncmp(name, prefix, pl)) continue;
    /* the last ".tmp.": HOST.PID follow */
    const char *t = NULL;
    for (const char *s = strstr(name, ".tmp."); s; s = strstr(s + 1, ".tmp."))
      t = s;
    if (!t || strncmp(t + 5, h, hl) || t[5 + hl] != '.') continue;
    char *end;
    errno = 0;
    long pid = strtol(t + 6 + hl, &end, 10);
    if (*end || errno || pid <= 0) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours */
    char p[4096];
    if (snprintf(p, sizeof p, "%s/%s", dir, name) >= (int)sizeof p) continue;
    if (nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0) removed++;
  }
  closedir(d);
  return removed;
}

void eb_tmp_remove(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

int eb_dir_empty(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int empty = 1;
  struct dirent *e;
  while (empty && (e = readdir(d)))
    empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
  closedir(d);
  return empty;
}
