/* Task data sets: storage, batching with per-epoch shuffling, the on-disk
 * cache (round trip through mmap, damaged files refused by name) and cache
 * keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "check.h"

static void fill(eb_dataset *d, int wide, int pair) {
  char err[EB_ERR_LEN];
  const int64_t n[3] = {10, 4, 3};
  for (int k = 0; k < 3; k++) {
    CHECK(eb_split_alloc(&d->split[k], n[k], 6, wide, pair, err, sizeof err) == 0, "%s",
          err);
    for (int64_t i = 0; i < n[k]; i++) {
      int32_t t[8], t2[8];
      int len = 1 + (int)((i + k) % 6);
      for (int j = 0; j < 8; j++) {
        t[j] = (int32_t)(wide ? 300 + 100 * k + i + j : 1 + 10 * k + i + j);
        t2[j] = t[j] + 1;
      }
      eb_split_set(&d->split[k], i, t, len, t2, len > 1 ? len - 1 : 1, (int32_t)(i % 3));
    }
  }
  d->info.vocab = wide ? 1000 : 200;
  d->info.classes = 3;
  d->info.max_len = 6;
  d->info.mode = pair ? EB_INPUT_PAIR : EB_INPUT_SINGLE;
}

static int same_split(const eb_split_data *a, const eb_split_data *b) {
  if (a->n != b->n || a->max_len != b->max_len || a->wide != b->wide ||
      a->pair != b->pair)
    return 0;
  for (int64_t i = 0; i < a->n; i++) {
    if (a->len[i] != b->len[i] || a->labels[i] != b->labels[i]) return 0;
    if (a->pair && a->len2[i] != b->len2[i]) return 0;
    for (int t = 0; t < a->max_len; t++) {
      if (eb_split_token(a, i, t, 0) != eb_split_token(b, i, t, 0)) return 0;
      if (a->pair && eb_split_token(a, i, t, 1) != eb_split_token(b, i, t, 1)) return 0;
    }
  }
  return 1;
}

static void roundtrip(const char *dir, int wide, int pair) {
  char err[EB_ERR_LEN], path[512];
  eb_dataset d, e;
  memset(&d, 0, sizeof d);
  fill(&d, wide, pair);
  snprintf(path, sizeof path, "%s/ds-%d-%d.ebds", dir, wide, pair);
  CHECK(eb_dataset_save(&d, path, err, sizeof err) == 0, "save: %s", err);
  CHECK(eb_dataset_load(&e, path, err, sizeof err) == 0, "load: %s", err);
  for (int k = 0; k < 3; k++)
    CHECK(same_split(&d.split[k], &e.split[k]),
          "split %d differs after the cache round trip "
          "(wide %d, pair %d)",
          k, wide, pair);
  CHECK(e.info.vocab == d.info.vocab && e.info.mode == d.info.mode &&
            e.info.n_train == 10,
        "info differs after load");
  /* a batch: tokens, mask, labels; val keeps file order */
  eb_batch b;
  memset(&b, 0, sizeof b);
  int32_t tok[3 * 6], tok2[3 * 6], lab[3];
  uint8_t mask[3 * 6], mask2[3 * 6];
  b.B = 3;
  b.N = 6;
  b.tokens = tok;
  b.mask = mask;
  b.labels = lab;
  b.tokens2 = tok2;
  b.mask2 = mask2;
  CHECK(eb_dataset_batch(&e, EB_SPLIT_VAL, 1, 0, &b, err, sizeof err) == 0, "batch: %s",
        err);
  /* val rows 3, 0 (wrap), 1 */
  CHECK(lab[0] == 0 && lab[1] == 0 && lab[2] == 1, "val labels %d %d %d", lab[0], lab[1],
        lab[2]);
  int len3 = 1 + (3 + 1) % 6;
  for (int t = 0; t < 6; t++)
    CHECK(mask[t] == (t < len3) &&
              (t < len3 ? tok[t] == eb_split_token(&e.split[1], 3, t, 0) : tok[t] == 0),
          "val row 3 token %d", t);
  eb_dataset_free(&e);
  eb_dataset_free(&d);
}

/* build function for the cache test: fill() and count the builds */
static int builds;
static int build_fill(void *user, eb_dataset *d, char *err, size_t errlen) {
  builds++;
  fill(d, *(const int *)user, 0);
  return 0;
}

static int same_file_size(const char *path, long want) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return n == want;
}

/* A cache corrupted in place (same size, a few flipped bytes in the payload
 * or the header's vocabulary) is detected, reported as a warning naming the
 * file, rebuilt from the source and replaced; never used silently. */
static void corrupt_cache(const char *dir) {
  char err[EB_ERR_LEN], path[600];
  eb_arg av[1] = {{"len", EB_P_INT, 6, 6, "6"}};
  eb_args args = {1, av};
  eb_dataset want;
  memset(&want, 0, sizeof want);
  fill(&want, 1, 0);
  setenv("EFFBENCH_CACHE", dir, 1);
  CHECK(eb_cache_path("corrupt", &args, 7, "v1", path, sizeof path, err, sizeof err) == 0,
        "%s", err);
  /* where to damage: the first label of the test split, a token of train, the
   * header's vocabulary (byte 8), the last byte of the file */
  for (int where = 0; where < 4; where++) {
    remove(path);
    int wide = 1;
    eb_dataset d;
    builds = 0;
    CHECK(eb_dataset_cached("corrupt", &args, 7, "v1", &d, build_fill, &wide, err,
                            sizeof err) == 0 &&
              builds == 1,
          "first build: %s", err);
    eb_dataset_free(&d);
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL, "no cache file %s", path);
    if (!f) break;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long at = where == 0   ? size - 64 /* labels of test: last section */
              : where == 1 ? 128 + 5   /* a train token */
              : where == 2 ? 8         /* vocab */
                           : size - 1;
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x21, f);
    fclose(f);
    CHECK(same_file_size(path, size), "size changed");
    builds = 0;
    const char *before = eb_dataset_last_warning();
    char prev[EB_ERR_LEN];
    snprintf(prev, sizeof prev, "%s", before);
    CHECK(eb_dataset_cached("corrupt", &args, 7, "v1", &d, build_fill, &wide, err,
                            sizeof err) == 0,
          "load after corruption: %s", err);
    CHECK(builds == 1, "corruption at byte %ld not detected: the cache was used", at);
    const char *w = eb_dataset_last_warning();
    CHECK(strstr(w, path) && strstr(w, "corrupt") && strstr(w, "rebuilding"),
          "no warning naming the corrupt cache: '%s'", w);
    for (int k = 0; k < 3; k++)
      CHECK(same_split(&d.split[k], &want.split[k]), "split %d differs after rebuild", k);
    CHECK(d.info.vocab == want.info.vocab, "vocab %d after rebuild", d.info.vocab);
    eb_dataset_free(&d);
    /* the rebuilt cache replaced the corrupt one and loads without a build */
    builds = 0;
    CHECK(eb_dataset_cached("corrupt", &args, 7, "v1", &d, build_fill, &wide, err,
                            sizeof err) == 0 &&
              builds == 0 && d.map,
          "rebuilt cache not reused (builds %d): %s", builds, err);
    for (int k = 0; k < 3; k++)
      CHECK(same_split(&d.split[k], &want.split[k]), "split %d differs from the cache",
            k);
    eb_dataset_free(&d);
  }
  eb_dataset_free(&want);
}

int main(void) {
  char dir[] = "/tmp/eb-dataset-XXXXXX";
  if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
  char err[EB_ERR_LEN], path[512];
  roundtrip(dir, 0, 0);
  roundtrip(dir, 1, 0);
  roundtrip(dir, 0, 1);
  corrupt_cache(dir);

  /* shuffling: every epoch visits every train example once, epochs differ */
  eb_dataset d;
  memset(&d, 0, sizeof d);
  fill(&d, 0, 0);
  int32_t tok[2 * 6], lab[2];
  uint8_t mask[2 * 6];
  eb_batch b = {.B = 2, .N = 6, .tokens = tok, .mask = mask, .labels = lab};
  int firsts[2][10];
  for (int epoch = 0; epoch < 2; epoch++) {
    int seen[10] = {0};
    for (int i = 0; i < 5; i++) {
      CHECK(eb_dataset_batch(&d, EB_SPLIT_TRAIN, epoch * 5 + i, 42, &b, err,
                             sizeof err) == 0,
            "%s", err);
      for (int r = 0; r < 2; r++) { /* the first token identifies the row: 1 + i */
        int row = tok[r * 6] - 1;
        CHECK(row >= 0 && row < 10, "bad row %d", row);
        if (row >= 0 && row < 10) seen[row]++;
        firsts[epoch][i * 2 + r] = row;
      }
    }
    for (int i = 0; i < 10; i++)
      CHECK(seen[i] == 1, "epoch %d saw row %d %d times", epoch, i, seen[i]);
  }
  CHECK(memcmp(firsts[0], firsts[1], sizeof firsts[0]) != 0,
        "two epochs in the same order");
  b.N = 5;
  CHECK(eb_dataset_batch(&d, EB_SPLIT_TRAIN, 0, 1, &b, err, sizeof err) != 0 &&
            strstr(err, "length 5"),
        "wrong batch length accepted: %s", err);

  /* damaged caches are refused with the file name */
  snprintf(path, sizeof path, "%s/bad.ebds", dir);
  CHECK(eb_dataset_save(&d, path, err, sizeof err) == 0, "%s", err);
  CHECK(truncate(path, 100) == 0, "truncate");
  eb_dataset e;
  CHECK(eb_dataset_load(&e, path, err, sizeof err) != 0 && strstr(err, path),
        "truncated cache accepted: %s", err);
  FILE *f = fopen(path, "wb");
  for (int i = 0; i < 20; i++)
    fputs("not a data cache, but long enough for a header. ", f);
  fclose(f);
  CHECK(eb_dataset_load(&e, path, err, sizeof err) != 0 && strstr(err, "damaged"),
        "foreign file accepted: %s", err);
  eb_dataset_free(&d);

  /* a cache whose checksum matches but whose content lies outside its header
   * (written so by another build, or damaged before it was sealed) is refused */
  static const char *const want[4] = {"val example 2: label 3",
                                      "train example 1: token 250",
                                      "test example 0: length 7", "header: vocab 1"};
  for (int c = 0; c < 4; c++) {
    eb_dataset bad;
    memset(&bad, 0, sizeof bad);
    fill(&bad, 0, c == 0);
    if (c == 0) bad.split[1].labels[2] = 3; /* classes 3 */
    if (c == 1) {
      int32_t t[6] = {1, 2, 250, 4, 5, 6}; /* vocab 200 */
      eb_split_set(&bad.split[0], 1, t, 6, NULL, 0, 0);
    }
    if (c == 2) bad.split[2].len[0] = 7; /* max_len 6 */
    if (c == 3) bad.info.vocab = 1;
    snprintf(path, sizeof path, "%s/content-%d.ebds", dir, c);
    CHECK(eb_dataset_save(&bad, path, err, sizeof err) == 0, "%s", err);
    CHECK(eb_dataset_load(&e, path, err, sizeof err) != 0 && strstr(err, path) &&
              strstr(err, want[c]) && strstr(err, "damaged or foreign"),
          "cache content case %d accepted or unclear: %s", c, err);
    eb_dataset_free(&bad);
  }

  /* cache keys: stable, and different when anything changes */
  setenv("EFFBENCH_CACHE", dir, 1);
  eb_arg av[2] = {{"len", EB_P_INT, 64, 64, "64"}, {"mode", EB_P_STRING, 0, 0, "a"}};
  eb_args args = {2, av};
  char p1[600], p2[600], p3[600], p4[600];
  eb_cache_path("t", &args, 1, "v1", p1, sizeof p1, err, sizeof err);
  eb_cache_path("t", &args, 1, "v1", p2, sizeof p2, err, sizeof err);
  eb_cache_path("t", &args, 2, "v1", p3, sizeof p3, err, sizeof err);
  av[1].s = "b";
  eb_cache_path("t", &args, 1, "v1", p4, sizeof p4, err, sizeof err);
  CHECK(strcmp(p1, p2) == 0 && strncmp(p1, dir, strlen(dir)) == 0, "unstable key %s", p1);
  CHECK(strcmp(p1, p3) && strcmp(p1, p4), "key ignores seed or a parameter");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return eb_test_done("test_dataset");
}
