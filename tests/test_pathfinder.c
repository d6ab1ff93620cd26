/* pathfinder / pathx: labels by construction (a flood fill joins the two dots
 * exactly for positives), batches equal the generator's images, determinism
 * by seed, disjoint splits, write() -> official PNG layout -> loader round
 * trip, malformed layouts rejected with file names and lines, the best-effort
 * cache (damaged or unwritable), a replaced PNG reread, split shares of a
 * loaded set, and write() into nested / non-empty directories. */
#include <dirent.h>
#include <fcntl.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "args.h"
#include "effbench/plugin.h"
#include "pathfinder.h"

extern const eb_task eb_task_pathfinder, eb_task_pathx;

static char tmp[1024];

typedef struct opened {
  const eb_task *t;
  void *data;
  eb_task_info info;
  eb_argset as;
} opened;

static int topen(opened *o, const eb_task *t, uint64_t seed, const char *const *kv,
                 char *err, size_t errlen) {
  const char *keys[16], *vals[16];
  char buf[16][2048];
  int n = 0;
  for (; kv[n]; n++) {
    snprintf(buf[n], sizeof buf[n], "%s", kv[n]);
    char *eq = strchr(buf[n], '=');
    *eq = '\0';
    keys[n] = buf[n];
    vals[n] = eq + 1;
  }
  memset(o, 0, sizeof *o);
  o->t = t;
  if (eb_argset_resolve(&o->as, t->name, t->params, n, keys, vals, err, errlen))
    return -1;
  if (t->open(&o->as.args, seed, &o->data, &o->info, err, errlen)) {
    eb_argset_free(&o->as);
    return -1;
  }
  return 0;
}

static void tclose(opened *o) {
  o->t->close(o->data);
  eb_argset_free(&o->as);
}

static int32_t example(opened *o, eb_split s, int64_t i, int32_t *tok) {
  int N = o->info.max_len;
  uint8_t *mask = malloc((size_t)N);
  int32_t label = -1;
  eb_batch b = {.B = 1, .N = N, .tokens = tok, .mask = mask, .labels = &label};
  char err[EB_ERR_LEN];
  CHECK(o->t->batch(o->data, s, i, 0, &b, err, sizeof err) == 0, "batch: %s", err);
  CHECK(b.real_tokens == N, "real tokens %lld != %d", (long long)b.real_tokens, N);
  free(mask);
  return label;
}

/* are the dots joined through bright pixels at most R apart (Chebyshev)? */
static int joined(const uint8_t *img, int S, int R, const int dots[4]) {
  uint8_t *seen = calloc((size_t)S * S, 1);
  int *q = malloc(sizeof(int) * (size_t)S * S), head = 0, tail = 0, hit = 0;
  int s0 = dots[1] * S + dots[0], goal = dots[3] * S + dots[2];
  if (!img[s0] || !img[goal]) {
    free(seen);
    free(q);
    return -1;
  }
  seen[s0] = 1;
  q[tail++] = s0;
  while (head < tail && !hit) {
    int p = q[head++], x = p % S, y = p / S;
    for (int dy = -R; dy <= R; dy++)
      for (int dx = -R; dx <= R; dx++) {
        int xx = x + dx, yy = y + dy;
        if (xx < 0 || yy < 0 || xx >= S || yy >= S) continue;
        int i = yy * S + xx;
        if (seen[i] || !img[i]) continue;
        seen[i] = 1;
        q[tail++] = i;
        if (i == goal) hit = 1;
      }
  }
  free(seen);
  free(q);
  return hit;
}

/* generated images of a task carry their label by construction */
static void check_labels(const eb_task *t, const char *const *kv, int per_split) {
  char err[EB_ERR_LEN];
  eb_argset as;
  const char *keys[8], *vals[8];
  char buf[8][256];
  int n = 0;
  for (; kv[n]; n++) {
    snprintf(buf[n], sizeof buf[n], "%s", kv[n]);
    char *eq = strchr(buf[n], '=');
    *eq = '\0';
    keys[n] = buf[n];
    vals[n] = eq + 1;
  }
  CHECK(eb_argset_resolve(&as, t->name, t->params, n, keys, vals, err, sizeof err) == 0,
        "%s", err);
  eb_pf_config c;
  CHECK(eb_pf_resolve(&as.args, &c, err, sizeof err) == 0, "%s", err);
  int S = c.size, R = eb_pf_link_radius(&c), count[2] = {0, 0};
  uint8_t *img = malloc((size_t)S * S);
  for (int s = 0; s < 3; s++)
    for (int i = 0; i < per_split; i++) {
      int dots[4];
      int label = eb_pf_example(&c, 7, s, i, img, dots);
      CHECK(label == 0 || label == 1, "%s %dx%d: no layout for split %d example %d",
            t->name, S, S, s, i);
      if (label < 0) continue;
      count[label]++;
      int j = joined(img, S, R, dots);
      CHECK(j == label, "%s %dx%d split %d example %d: label %d but flood fill says %d",
            t->name, S, S, s, i, label, j);
      int bright = 0;
      for (int p = 0; p < S * S; p++) {
        CHECK(img[p] == 0 || img[p] == 255, "pixel value %d", img[p]);
        bright += img[p] != 0;
      }
      CHECK(bright > 2 * c.contour_length * c.paddle_length / 2,
            "%s: only %d bright pixels", t->name, bright);
    }
  CHECK(count[0] > per_split / 2 && count[1] > per_split / 2,
        "%s: labels unbalanced: %d negatives, %d positives", t->name, count[0], count[1]);
  free(img);
  eb_argset_free(&as);
}

static uint64_t hash_row(const int32_t *t, int n) {
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < n; i++)
    h = (h ^ (uint64_t)t[i]) * 1099511628211ull;
  return h;
}

static void set_cache(const char *name) {
  char c[2048];
  snprintf(c, sizeof c, "%s/%s", tmp, name);
  setenv("EFFBENCH_CACHE", c, 1);
}

/* the task's batches are the generator's images, deterministic by seed,
 * splits disjoint */
static void check_task(void) {
  const char *kv[] = {"train=64", "val=16", "test=16", NULL};
  opened a, b, c;
  char err[EB_ERR_LEN];
  set_cache("c1");
  CHECK(topen(&a, &eb_task_pathfinder, 3, kv, err, sizeof err) == 0, "%s", err);
  set_cache("c2"); /* generated afresh */
  CHECK(topen(&b, &eb_task_pathfinder, 3, kv, err, sizeof err) == 0, "%s", err);
  CHECK(topen(&c, &eb_task_pathfinder, 4, kv, err, sizeof err) == 0, "%s", err);
  if (eb_test_failures) return;
  CHECK(a.info.max_len == 1024 && a.info.vocab == 257 && a.info.classes == 2 &&
            a.info.n_train == 64 && a.info.n_val == 16 && a.info.n_test == 16,
        "info: len %d vocab %d classes %d sizes %lld/%lld/%lld", a.info.max_len,
        a.info.vocab, a.info.classes, (long long)a.info.n_train, (long long)a.info.n_val,
        (long long)a.info.n_test);
  eb_pf_config cfg;
  CHECK(eb_pf_resolve(&a.as.args, &cfg, err, sizeof err) == 0, "%s", err);
  uint64_t hashes[96];
  int nh = 0, differ = 0;
  int32_t ta[1024], tb[1024], tc[1024];
  uint8_t img[1024];
  for (int s = 1; s < 3; s++) /* val/test keep order: compare with the generator */
    for (int i = 0; i < 16; i++) {
      int la = example(&a, (eb_split)s, i, ta), lb = example(&b, (eb_split)s, i, tb);
      int lc = example(&c, (eb_split)s, i, tc), dots[4];
      CHECK(la == lb && memcmp(ta, tb, sizeof ta) == 0,
            "same seed, split %d example %d differs", s, i);
      differ += memcmp(ta, tc, sizeof ta) != 0 || la != lc;
      int lg = eb_pf_example(&cfg, 3, s, i, img, dots);
      CHECK(lg == la, "label %d, generator says %d", la, lg);
      for (int p = 0; p < 1024; p++)
        if (ta[p] != img[p] + 1) {
          CHECK(0, "split %d example %d pixel %d: token %d, intensity %d", s, i, p, ta[p],
                img[p]);
          break;
        }
      hashes[nh++] = hash_row(ta, 1024);
    }
  CHECK(differ > 24, "seeds 3 and 4 give the same images (%d of 32 differ)", differ);
  for (int i = 0; i < 64; i++) {
    int la = example(&a, EB_SPLIT_TRAIN, i, ta);
    CHECK(example(&b, EB_SPLIT_TRAIN, i, tb) == la && !memcmp(ta, tb, sizeof ta),
          "train example %d differs between two opens", i);
    hashes[nh++] = hash_row(ta, 1024);
  }
  for (int i = 0; i < nh; i++)
    for (int j = i + 1; j < nh; j++)
      CHECK(hashes[i] != hashes[j], "images %d and %d are identical (splits overlap)", i,
            j);
  tclose(&a);
  tclose(&b);
  tclose(&c);
}

static int sh(const char *fmt, const char *a, const char *b) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, fmt, a, b);
  return system(cmd);
}

static void write_png(const char *path, int w, int h, int format) {
  png_image im;
  memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  im.width = (png_uint_32)w;
  im.height = (png_uint_32)h;
  im.format = (png_uint_32)format;
  uint8_t *px = calloc((size_t)w * h * 3, 1);
  CHECK(png_image_write_to_file(&im, path, 0, px, 0, NULL), "cannot write %s", path);
  free(px);
}

static void round_trip_and_malformed(void) {
  char err[EB_ERR_LEN], good[2048], path[4096];
  set_cache("c3");
  snprintf(good, sizeof good, "%s/good", tmp);
  const char *kv[] = {"train=8", "val=1", "test=1", "contour_length=9", NULL};
  opened a, b;
  CHECK(topen(&a, &eb_task_pathfinder, 5, kv, err, sizeof err) == 0, "%s", err);
  if (eb_test_failures) return;
  CHECK(eb_task_pathfinder.write(a.data, good, err, sizeof err) == 0, "write: %s", err);
  /* the loader splits 80/10/10 by default, which is 8/1/1 here */
  snprintf(path, sizeof path, "path=%s", good);
  const char *kv2[] = {path, "contour_length=9", NULL};
  CHECK(topen(&b, &eb_task_pathfinder, 99, kv2, err, sizeof err) == 0, "load: %s", err);
  if (eb_test_failures) return;
  CHECK(b.info.n_train == 8 && b.info.n_val == 1 && b.info.n_test == 1,
        "loaded sizes %lld/%lld/%lld", (long long)b.info.n_train, (long long)b.info.n_val,
        (long long)b.info.n_test);
  for (int s = 0; s < 3; s++)
    for (int i = 0; i < (s ? 1 : 8); i++) {
      int32_t t1[1024], t2[1024];
      int l1 = example(&a, (eb_split)s, i, t1), l2 = example(&b, (eb_split)s, i, t2);
      CHECK(l1 == l2 && !memcmp(t1, t2, sizeof t1), "round trip: split %d example %d", s,
            i);
    }
  tclose(&a);
  tclose(&b);

  /* malformed copies of the good layout */
  const char *curv = "curv_contour_length_9";
  struct {
    const char *what, *edit, *needle1, *needle2;
  } cases[] = {
      {"3 fields", "printf 'imgs/0 sample_0.png 0\\n' > %s/%s/metadata/0.npy",
       "metadata/0.npy:1", "expected 4 fields"},
      {"bad label", "sed -i '2s/ [01]$/ 2/' %s/%s/metadata/0.npy", "metadata/0.npy:2",
       "bad label '2'"},
      {"missing png", "rm %s/%s/imgs/0/sample_3.png", "sample_3.png", "0.npy:4"},
      {"truncated png", "truncate -s 60 %s/%s/imgs/0/sample_5.png", "sample_5.png",
       "0.npy:6"},
      {"no metadata", "rm -r %s/%s/metadata", "metadata: cannot open", NULL},
      {"wrong size", "", "sample_1.png", "16x16"},
      {"colour", "", "sample_2.png", "non-grayscale"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    char bad[2048], png[4096];
    snprintf(bad, sizeof bad, "%s/bad%zu", tmp, k);
    CHECK(sh("cp -r '%s' '%s'", good, bad) == 0, "cp failed");
    if (*cases[k].edit)
      CHECK(sh(cases[k].edit, bad, curv) == 0, "edit %s", cases[k].edit);
    if (k == 5 || k == 6) {
      snprintf(png, sizeof png, "%s/%s/imgs/0/sample_%zu.png", bad, curv, k - 4);
      write_png(png, k == 5 ? 16 : 32, k == 5 ? 16 : 32,
                k == 5 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB);
    }
    char p[4096];
    snprintf(p, sizeof p, "path=%s", bad);
    const char *kvb[] = {p, "contour_length=9", NULL};
    opened o;
    err[0] = '\0';
    int rc = topen(&o, &eb_task_pathfinder, 0, kvb, err, sizeof err);
    CHECK(rc != 0, "%s: accepted", cases[k].what);
    if (rc == 0) {
      tclose(&o);
      continue;
    }
    CHECK(strstr(err, cases[k].needle1) != NULL, "%s: error '%s' lacks '%s'",
          cases[k].what, err, cases[k].needle1);
    CHECK(!cases[k].needle2 || strstr(err, cases[k].needle2) != NULL,
          "%s: error '%s' lacks '%s'", cases[k].what, err, cases[k].needle2);
  }
}

/* the golden official layout (tests/data/pathfinder), 80/10/10 split */
static void check_golden(const char *dir) {
  char path[2048], err[EB_ERR_LEN];
  snprintf(path, sizeof path, "path=%s", dir);
  const char *by_len[] = {path, "contour_length=6", NULL},
             *by_name[] = {path, "curv=curv_baseline", NULL};
  for (int v = 0; v < 2; v++) {
    opened o;
    set_cache(v ? "g1" : "g0");
    CHECK(topen(&o, &eb_task_pathfinder, 0, v ? by_name : by_len, err, sizeof err) == 0,
          "golden: %s", err);
    if (eb_test_failures) return;
    CHECK(o.info.n_train == 8 && o.info.n_val == 1 && o.info.n_test == 1,
          "golden sizes %lld/%lld/%lld", (long long)o.info.n_train,
          (long long)o.info.n_val, (long long)o.info.n_test);
    int32_t t[1024];
    int seen = 0;
    for (int k = 0; k < 10; k++) {
      eb_split s = k < 8 ? EB_SPLIT_TRAIN : k == 8 ? EB_SPLIT_VAL : EB_SPLIT_TEST;
      int label = example(&o, s, k < 8 ? k : 0, t);
      int g = k < 8 ? -1 : k;
      for (int c = 0; c < 8 && g < 0; c++) /* train is shuffled: identify it */
        if (t[31 - c] == 20 * c + 2) g = c;
      CHECK(g >= 0 && g < 10, "golden example %d not recognised", k);
      if (g < 0 || g > 9) continue;
      seen |= 1 << g;
      CHECK(t[g * 32 + g] == 256, "golden %d: pixel (%d,%d) token %d", g, g, g,
            t[g * 32 + g]);
      CHECK(t[31 - g] == 20 * g + 2, "golden %d: corner token %d, expected %d", g,
            t[31 - g], 20 * g + 2);
      CHECK(label == g % 2, "golden %d: label %d", g, label);
    }
    CHECK(seen == 0x3FF, "golden images seen: mask 0x%x", seen);
    tclose(&o);
  }
}

/* open, counting a failure as a failed check; 0 when open */
static int must_open(opened *o, const eb_task *t, uint64_t seed, const char *const *kv) {
  char err[EB_ERR_LEN] = "";
  int rc = topen(o, t, seed, kv, err, sizeof err);
  CHECK(rc == 0, "%s: %s", t->name, err);
  return rc;
}

/* same tokens and labels in every split (train in the same seeded order) */
static void same_data(opened *a, opened *b, const char *what) {
  CHECK(a->info.max_len == b->info.max_len && a->info.n_train == b->info.n_train &&
            a->info.n_val == b->info.n_val && a->info.n_test == b->info.n_test,
        "%s: shapes differ", what);
  if (a->info.max_len != b->info.max_len || a->info.max_len > 1024) return;
  for (int s = 0; s < 3; s++) {
    int64_t n = s == 0 ? a->info.n_train : s == 1 ? a->info.n_val : a->info.n_test;
    for (int64_t i = 0; i < n; i++) {
      int32_t t1[1024], t2[1024];
      int l1 = example(a, (eb_split)s, i, t1), l2 = example(b, (eb_split)s, i, t2);
      CHECK(l1 == l2 && !memcmp(t1, t2, sizeof(int32_t) * (size_t)a->info.max_len),
            "%s: split %d example %lld differs", what, s, (long long)i);
    }
  }
}

/* a damaged cache file is rebuilt (same data) and replaced; an unwritable
 * cache is skipped, for pathfinder and pathx */
static void check_cache_best_effort(void) {
  const char *kv[] = {"train=16", "val=4", "test=4", NULL};
  char err[EB_ERR_LEN], dir[2048], cf[4096];
  opened ref, o;
  set_cache("be");
  snprintf(dir, sizeof dir, "%s/be", tmp);
  if (must_open(&ref, &eb_task_pathfinder, 3, kv)) return;
  CHECK(eb_test_cache_file(dir, "pathfinder", cf, sizeof cf) == 0, "no cache file in %s",
        dir);
  long long good = eb_test_file_size(cf);
  for (int k = 0; k < 2; k++) {
    if (k == 0) {
      FILE *f = fopen(cf, "w");
      CHECK(f && fputs("garbage", f) >= 0, "cannot damage %s", cf);
      if (f) fclose(f);
    } else {
      CHECK(truncate(cf, good / 2) == 0, "truncate %s", cf);
    }
    err[0] = '\0';
    int rc = topen(&o, &eb_task_pathfinder, 3, kv, err, sizeof err);
    CHECK(rc == 0, "damaged cache (%s) not rebuilt: %s", k ? "truncated" : "garbage",
          err);
    if (rc) continue;
    same_data(&ref, &o, "rebuilt from a damaged cache");
    tclose(&o);
    CHECK(eb_test_file_size(cf) == good,
          "damaged cache not replaced: %lld bytes, want %lld", eb_test_file_size(cf),
          good);
  }
  char plain[2048], below[4096];
  snprintf(plain, sizeof plain, "%s/plain-file", tmp);
  FILE *f = fopen(plain, "w");
  if (f) fclose(f);
  snprintf(below, sizeof below, "%s/cache", plain);
  for (int k = 0; k < 2; k++) {
    setenv("EFFBENCH_CACHE", k ? plain : below, 1);
    err[0] = '\0';
    int rc = topen(&o, &eb_task_pathfinder, 3, kv, err, sizeof err);
    CHECK(rc == 0, "unwritable cache %s stops pathfinder: %s", k ? plain : below, err);
    if (rc == 0) {
      same_data(&ref, &o, "without a cache");
      tclose(&o);
    }
    const char *kvx[] = {"size=32", "train=4", "val=1", "test=1", NULL};
    rc = topen(&o, &eb_task_pathx, 3, kvx, err, sizeof err);
    CHECK(rc == 0, "unwritable cache %s stops pathx: %s", k ? plain : below, err);
    if (rc == 0) tclose(&o);
  }
  tclose(&ref);
  set_cache("c1");
}

/* generate with seed 5 and write the layout to dir; 0 when done */
static int write_layout(const char *dir, const char *const *kv) {
  opened a;
  char err[EB_ERR_LEN];
  if (must_open(&a, &eb_task_pathfinder, 5, kv)) return -1;
  int rc = eb_task_pathfinder.write(a.data, dir, err, sizeof err);
  CHECK(rc == 0, "write %s: %s", dir, err);
  tclose(&a);
  return rc;
}

/* replacing a PNG (new file renamed over it, or rewritten in place) without
 * touching the metadata changes the loaded data, cache or not */
static void check_png_replaced(void) {
  char dir[2048], path[2200], img[2300], other[2300], cmd[4 * 2300 + 64];
  const char *kvw[] = {"train=8", "val=1", "test=1", "contour_length=9", NULL};
  set_cache("rp");
  snprintf(dir, sizeof dir, "%s/replaced", tmp);
  if (write_layout(dir, kvw)) return;
  snprintf(path, sizeof path, "path=%s", dir);
  const char *kv[] = {path, "contour_length=9", NULL};
  opened o;
  int32_t val[1024], t[1024], test[1024];
  if (must_open(&o, &eb_task_pathfinder, 0, kv)) return;
  int lval = example(&o, EB_SPLIT_VAL, 0, val),
      ltest = example(&o, EB_SPLIT_TEST, 0, test);
  tclose(&o);
  CHECK(memcmp(val, test, sizeof val) != 0, "val and test images are the same");
  /* 1: the val image (sample_8) replaced by a copy of the test image, renamed */
  snprintf(img, sizeof img, "%s/curv_contour_length_9/imgs/0/sample_8.png", dir);
  snprintf(other, sizeof other, "%s/curv_contour_length_9/imgs/0/sample_9.png", dir);
  snprintf(cmd, sizeof cmd, "cp '%s' '%s.new' && mv '%s.new' '%s'", other, img, img, img);
  CHECK(system(cmd) == 0, "%s", cmd);
  if (must_open(&o, &eb_task_pathfinder, 0, kv)) return;
  int l = example(&o, EB_SPLIT_VAL, 0, t);
  CHECK(!memcmp(t, test, sizeof t) && l == lval, "renamed PNG: stale val image");
  tclose(&o);
  /* 2: rewritten in place (same inode) with the old val image's pixels, mtime set */
  png_image im;
  memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  im.width = im.height = 32;
  im.format = PNG_FORMAT_GRAY;
  uint8_t px[1024];
  for (int p = 0; p < 1024; p++)
    px[p] = (uint8_t)(val[p] - 1);
  FILE *f = fopen(img, "r+b");
  CHECK(f && ftruncate(fileno(f), 0) == 0 &&
            png_image_write_to_stdio(&im, f, 0, px, 0, NULL),
        "rewrite %s", img);
  if (f) fclose(f);
  struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
  CHECK(utimensat(AT_FDCWD, img, ts, 0) == 0, "utimensat");
  if (must_open(&o, &eb_task_pathfinder, 0, kv)) return;
  l = example(&o, EB_SPLIT_VAL, 0, t);
  CHECK(!memcmp(t, val, sizeof t), "PNG rewritten in place: stale val image");
  CHECK(example(&o, EB_SPLIT_TEST, 0, t) == ltest && !memcmp(t, test, sizeof t),
        "test image changed");
  tclose(&o);
}

/* a 0 count takes its share of a loaded set (80/10/10) beside explicit ones */
static void check_split_shares(void) {
  char err[EB_ERR_LEN], dir[2048], path[2200];
  const char *kvw[] = {"train=8", "val=1", "test=1", "contour_length=9", NULL};
  set_cache("sh");
  snprintf(dir, sizeof dir, "%s/shares", tmp);
  if (write_layout(dir, kvw)) return;
  snprintf(path, sizeof path, "path=%s", dir);
  struct {
    const char *a, *b;
    int64_t n[3]; /* expected, or {-1} for an error */
    const char *needle1, *needle2;
  } cases[] = {
      {"train=6", NULL, {6, 1, 1}, NULL, NULL},
      {"train=7", "val=2", {7, 2, 1}, NULL, NULL},
      {"train=7", "test=2", {7, 1, 2}, NULL, NULL},
      {"val=2", NULL, {-1}, "val 2, test 1 (0 = 10 %)", "more than there are"},
      {"train=10", NULL, {-1}, "train 10, val 1 (0 = 10 %)", "more than there are"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    const char *kv[] = {path, "contour_length=9", cases[k].a, cases[k].b, NULL};
    opened o;
    err[0] = '\0';
    int rc = topen(&o, &eb_task_pathfinder, 0, kv, err, sizeof err);
    if (cases[k].n[0] < 0) {
      CHECK(rc != 0, "%s %s: accepted", cases[k].a, cases[k].b ? cases[k].b : "");
      CHECK(rc == 0 || (strstr(err, cases[k].needle1) && strstr(err, cases[k].needle2) &&
                        strstr(err, "10 images")),
            "%s: error '%s'", cases[k].a, err);
      if (rc == 0) tclose(&o);
      continue;
    }
    CHECK(rc == 0, "%s %s: %s", cases[k].a, cases[k].b ? cases[k].b : "", err);
    if (rc) continue;
    CHECK(o.info.n_train == cases[k].n[0] && o.info.n_val == cases[k].n[1] &&
              o.info.n_test == cases[k].n[2],
          "%s %s: sizes %lld/%lld/%lld", cases[k].a, cases[k].b ? cases[k].b : "",
          (long long)o.info.n_train, (long long)o.info.n_val, (long long)o.info.n_test);
    tclose(&o);
  }
}

/* write() creates the whole path; refuses a non-empty curv_X directory, while
 * another difficulty may join the same DIR */
static void check_write_dirs(void) {
  char err[EB_ERR_LEN], dir[2048], f[4096];
  const char *kv9[] = {"train=2", "val=1", "test=1", "contour_length=9", NULL},
             *kv6[] = {"train=2", "val=1", "test=1", "contour_length=6", NULL};
  set_cache("wd");
  snprintf(dir, sizeof dir, "%s/nest/a/b", tmp);
  write_layout(dir, kv9);
  snprintf(f, sizeof f, "%s/curv_contour_length_9/metadata/0.npy", dir);
  CHECK(eb_test_file_size(f) > 0, "nested write: no %s", f);
  opened o;
  if (must_open(&o, &eb_task_pathfinder, 5, kv9)) return;
  CHECK(truncate(f, 3) == 0, "truncate");
  err[0] = '\0';
  CHECK(eb_task_pathfinder.write(o.data, dir, err, sizeof err) != 0,
        "writing over an earlier set accepted");
  CHECK(strstr(err, "curv_contour_length_9: not empty"), "error '%s'", err);
  CHECK(eb_test_file_size(f) == 3, "earlier metadata overwritten");
  tclose(&o);
  write_layout(dir, kv6);
  snprintf(f, sizeof f, "%s/curv_baseline/metadata/0.npy", dir);
  CHECK(eb_test_file_size(f) > 0, "second difficulty: no %s", f);
}

int main(void) {
  snprintf(tmp, sizeof tmp, "/tmp/eb-test-pathfinder-XXXXXX");
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  const char *k32[] = {NULL}, *k64[] = {"size=64", NULL},
             *k6[] = {"contour_length=6", NULL};
  check_labels(&eb_task_pathfinder, k32, 200);
  check_labels(&eb_task_pathfinder, k6, 100);
  check_labels(&eb_task_pathfinder, k64, 40);
  check_labels(&eb_task_pathx, k32, 20);
  check_task();
  char golden[1024];
  snprintf(golden, sizeof golden, "%s", __FILE__);
  char *slash = strrchr(golden, '/');
  if (slash)
    snprintf(slash, sizeof golden - (size_t)(slash - golden), "/data/pathfinder");
  check_golden(golden);
  round_trip_and_malformed();
  check_cache_best_effort();
  check_png_replaced();
  check_split_shares();
  check_write_dirs();
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return eb_test_done("pathfinder");
}
