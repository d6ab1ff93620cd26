/* Helpers of the fuzzing entry points (see fuzz.h). */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "fuzz.h"

#ifndef EB_FUZZ_DATA
#error "EB_FUZZ_DATA (the tests/data directory) must be defined"
#endif

int eb_fuzz_parts(const uint8_t *data, size_t size, const uint8_t **part, size_t *len,
                  int max) {
  const size_t sl = strlen(EB_FUZZ_SEP);
  int n = 0;
  size_t start = 0;
  for (size_t i = 0; n < max - 1 && i + sl <= size; i++)
    if (!memcmp(data + i, EB_FUZZ_SEP, sl)) {
      part[n] = data + start;
      len[n++] = i - start;
      start = i + sl;
      i = start - 1;
    }
  part[n] = data + start;
  len[n++] = size - start;
  return n;
}

void eb_fuzz_mkdir(char *dir, size_t len) {
  const char *t = getenv("TMPDIR");
  snprintf(dir, len, "%s/ebfuzz-XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    abort();
  }
  char cache[4200];
  snprintf(cache, sizeof cache, "%s/cache", dir);
  setenv("EFFBENCH_CACHE", cache, 1);
}

static void mkparents(char *path) {
  for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
    *p = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
      perror(path);
      abort();
    }
    *p = '/';
  }
}

void eb_fuzz_write(const char *dir, const char *rel, const void *data, size_t n) {
  char path[4400];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  mkparents(path);
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
    perror(path);
    abort();
  }
}

void eb_fuzz_fixture(const char *dir, const char *rel, const char *src) {
  char path[4400];
  snprintf(path, sizeof path, "%s/%s", EB_FUZZ_DATA, src);
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    abort();
  }
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  eb_fuzz_write(dir, rel, buf, n);
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)type;
  (void)ftw;
  return remove(path);
}

void eb_fuzz_rmdir(const char *dir) {
  if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
    perror(dir);
    abort();
  }
}

int eb_fuzz_error(const char *what, const char *err) {
  if (!err[0]) {
    fprintf(stderr, "%s: failed without a message\n", what);
    abort();
  }
  return 1;
}

int eb_fuzz_task(const eb_task *t, const char *const *kv) {
  const char *keys[16], *vals[16];
  char buf[16][4300], err[EB_ERR_LEN] = "";
  int n = 0;
  for (; kv[n] && n < 16; n++) {
    snprintf(buf[n], sizeof buf[n], "%s", kv[n]);
    char *eq = strchr(buf[n], '=');
    *eq = '\0';
    keys[n] = buf[n];
    vals[n] = eq + 1;
  }
  eb_argset as;
  memset(&as, 0, sizeof as);
  if (eb_argset_resolve(&as, t->name, t->params, n, keys, vals, err, sizeof err)) {
    fprintf(stderr, "fuzz harness: bad arguments for %s: %s\n", t->name, err);
    abort();
  }
  void *data = NULL;
  eb_task_info info;
  memset(&info, 0, sizeof info);
  int rc = t->open(&as.args, 1, &data, &info, err, sizeof err);
  eb_argset_free(&as);
  if (rc) return eb_fuzz_error(t->name, err);
  /* touch the data: a batch of 2 from each non-empty split */
  int N = info.max_len;
  if (N < 1 || info.vocab < 1 || info.classes < 1) {
    fprintf(stderr, "%s: loaded with max_len %d, vocab %d, classes %d\n", t->name, N,
            info.vocab, info.classes);
    abort();
  }
  size_t cells = 2 * (size_t)N;
  eb_batch b = {.B = 2, .N = N};
  b.tokens = calloc(cells, sizeof *b.tokens);
  b.mask = calloc(cells, 1);
  b.tokens2 = calloc(cells, sizeof *b.tokens2);
  b.mask2 = calloc(cells, 1);
  b.labels = calloc(2, sizeof *b.labels);
  if (!b.tokens || !b.mask || !b.tokens2 || !b.mask2 || !b.labels) abort();
  int64_t count[3] = {info.n_train, info.n_val, info.n_test};
  for (int s = 0; s < 3; s++) {
    if (count[s] < 1) continue;
    err[0] = '\0';
    if (t->batch(data, (eb_split)s, 0, 7, &b, err, sizeof err)) {
      eb_fuzz_error(t->name, err);
      continue;
    }
    for (size_t i = 0; i < cells; i++)
      if (b.mask[i] && (b.tokens[i] < 0 || b.tokens[i] >= info.vocab)) {
        fprintf(stderr, "%s: token %d outside the vocabulary %d\n", t->name, b.tokens[i],
                info.vocab);
        abort();
      }
    for (int i = 0; i < 2; i++)
      if (b.labels[i] < 0 || b.labels[i] >= info.classes) {
        fprintf(stderr, "%s: label %d outside [0, %d)\n", t->name, b.labels[i],
                info.classes);
        abort();
      }
  }
  free(b.tokens);
  free(b.mask);
  free(b.tokens2);
  free(b.mask2);
  free(b.labels);
  t->close(data);
  return 0;
}
