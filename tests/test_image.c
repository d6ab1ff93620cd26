/* image task: IDX (plain and .gz) and CIFAR-10 loaders on golden files,
 * tokenization (pixel p -> token p + 1), splits, the write() -> loader round
 * trip, write() into nested / non-empty directories, the disk cache (best
 * effort: damaged, foreign or unwritable caches), malformed files rejected with
 * file + record/offset, and the real Fashion-MNIST package (skipped with 77
 * when absent). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "args.h"
#include "effbench/plugin.h"

extern const eb_task eb_task_image;

static char golden[1024], tmp[1024];

typedef struct opened {
  void *data;
  eb_task_info info;
  eb_argset as;
} opened;

/* open the image task with "k=v" settings (NULL-terminated) */
static int topen(opened *o, const char *const *kv, char *err, size_t errlen) {
  const char *keys[16], *vals[16];
  char buf[16][4096];
  int n = 0;
  for (; kv[n]; n++) {
    snprintf(buf[n], sizeof buf[n], "%s", kv[n]);
    char *eq = strchr(buf[n], '=');
    *eq = '\0';
    keys[n] = buf[n];
    vals[n] = eq + 1;
  }
  memset(o, 0, sizeof *o);
  if (eb_argset_resolve(&o->as, "task 'image'", eb_task_image.params, n, keys, vals, err,
                        errlen))
    return -1;
  if (eb_task_image.open(&o->as.args, 1, &o->data, &o->info, err, errlen)) {
    eb_argset_free(&o->as);
    return -1;
  }
  return 0;
}

static void tclose(opened *o) {
  eb_task_image.close(o->data);
  eb_argset_free(&o->as);
}

/* example i of a split: tokens[N], label; checks the mask is all ones */
static int32_t example(opened *o, eb_split s, int64_t i, int32_t *tok) {
  int N = o->info.max_len;
  uint8_t *mask = malloc((size_t)N);
  int32_t label = -1;
  eb_batch b = {.B = 1, .N = N, .tokens = tok, .mask = mask, .labels = &label};
  char err[EB_ERR_LEN];
  int rc = eb_task_image.batch(o->data, s, i, 0, &b, err, sizeof err);
  CHECK(rc == 0, "batch: %s", err);
  CHECK(b.real_tokens == N, "real tokens %lld, expected %d (images have no padding)",
        (long long)b.real_tokens, N);
  free(mask);
  return label;
}

static void write_file(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  CHECK(f && fwrite(b, 1, n, f) == n, "cannot write %s", path);
  if (f) fclose(f);
}

static size_t read_file(const char *path, uint8_t *b, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(b, 1, cap, f);
  fclose(f);
  return n;
}

/* copy the golden IDX dir to DIR, then overwrite FILE with bytes */
static void make_idx_variant(const char *dir, const char *file, const void *b, size_t n) {
  static const char *names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  mkdir(dir, 0777);
  for (int k = 0; k < 4; k++) {
    char src[4096], dst[4096];
    uint8_t buf[256];
    snprintf(src, sizeof src, "%s/idx/%s", golden, names[k]);
    snprintf(dst, sizeof dst, "%s/%s", dir, names[k]);
    write_file(dst, buf, read_file(src, buf, sizeof buf));
  }
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  write_file(p, b, n);
}

/* opening must fail with an error containing every needle */
static void expect_reject(const char *what, const char *const *kv, const char *n1,
                          const char *n2) {
  opened o;
  char err[EB_ERR_LEN] = "";
  int rc = topen(&o, kv, err, sizeof err);
  CHECK(rc != 0, "%s: accepted", what);
  if (rc == 0) {
    tclose(&o);
    return;
  }
  CHECK(strstr(err, n1) != NULL, "%s: error '%s' does not name '%s'", what, err, n1);
  CHECK(!n2 || strstr(err, n2) != NULL, "%s: error '%s' lacks '%s'", what, err, n2);
}

static void test_idx_golden(const char *sub) {
  char path[4096], err[EB_ERR_LEN];
  snprintf(path, sizeof path, "path=%s/%s", golden, sub);
  const char *kv[] = {"source=mnist-idx", path, "val=1", NULL};
  opened o;
  CHECK(topen(&o, kv, err, sizeof err) == 0, "%s: %s", sub, err);
  if (eb_test_failures) return;
  CHECK(o.info.vocab == 257 && o.info.classes == 10 && o.info.max_len == 4,
        "info vocab %d classes %d len %d", o.info.vocab, o.info.classes, o.info.max_len);
  CHECK(o.info.n_train == 2 && o.info.n_val == 1 && o.info.n_test == 2,
        "split sizes %lld/%lld/%lld, expected 2/1/2", (long long)o.info.n_train,
        (long long)o.info.n_val, (long long)o.info.n_test);
  /* pixel + 1; val = last image of the official train set */
  static const int32_t want[5][5] = {{0, 1, 2, 3, 0},
                                     {10, 20, 30, 40, 9},
                                     {255, 254, 253, 252, 5},
                                     {7, 7, 7, 7, 1},
                                     {100, 0, 100, 0, 2}};
  static const eb_split sp[5] = {EB_SPLIT_TRAIN, EB_SPLIT_TRAIN, EB_SPLIT_VAL,
                                 EB_SPLIT_TEST, EB_SPLIT_TEST};
  static const int idx[5] = {0, 1, 0, 0, 1};
  int seen[2] = {0, 0};
  for (int e = 0; e < 5; e++) {
    int32_t tok[4];
    int32_t lab = example(&o, sp[e], idx[e], tok);
    if (sp[e] == EB_SPLIT_TRAIN) {
      /* train order is shuffled per epoch: find which one it is */
      int which = tok[0] == 1 ? 0 : 1;
      seen[which]++;
      for (int t = 0; t < 4; t++)
        CHECK(tok[t] == want[which][t] + 1, "%s train token %d = %d, expected %d", sub, t,
              tok[t], want[which][t] + 1);
      CHECK(lab == want[which][4], "%s train label %d", sub, lab);
      continue;
    }
    for (int t = 0; t < 4; t++)
      CHECK(tok[t] == want[e][t] + 1, "%s example %d token %d = %d, expected %d", sub, e,
            t, tok[t], want[e][t] + 1);
    CHECK(lab == want[e][4], "%s example %d label %d, expected %d", sub, e, lab,
          want[e][4]);
  }
  CHECK(seen[0] == 1 && seen[1] == 1, "train epoch did not visit both images once");
  tclose(&o);
}

static void test_idx_roundtrip(void) {
  char path[4096], out[2048], err[EB_ERR_LEN];
  snprintf(path, sizeof path, "path=%s/idxgz", golden);
  snprintf(out, sizeof out, "%s/written", tmp);
  const char *kv[] = {"source=mnist-idx", path, "val=1", NULL};
  opened o;
  CHECK(topen(&o, kv, err, sizeof err) == 0, "%s", err);
  if (eb_test_failures) return;
  CHECK(eb_task_image.write(o.data, out, err, sizeof err) == 0, "write: %s", err);
  tclose(&o);
  /* train = train split + val split = the whole official train set again */
  static const char *names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  for (int k = 0; k < 4; k++) {
    char a[4096], b[4096];
    uint8_t ba[256], bb[256];
    snprintf(a, sizeof a, "%s/idx/%s", golden, names[k]);
    snprintf(b, sizeof b, "%s/%s", out, names[k]);
    size_t na = read_file(a, ba, sizeof ba), nb = read_file(b, bb, sizeof bb);
    CHECK(na > 0 && na == nb && memcmp(ba, bb, na) == 0, "written %s differs from golden",
          names[k]);
  }
}

static void test_cifar(void) {
  char path[4096], out[2048], err[EB_ERR_LEN];
  snprintf(path, sizeof path, "path=%s/cifar", golden);
  const char *kv[] = {"source=cifar10", path, "val=0", NULL};
  opened o;
  CHECK(topen(&o, kv, err, sizeof err) == 0, "cifar: %s", err);
  if (eb_test_failures) return;
  CHECK(o.info.max_len == 1024 && o.info.n_train == 2 && o.info.n_test == 2,
        "cifar info len %d, %lld train, %lld test", o.info.max_len,
        (long long)o.info.n_train, (long long)o.info.n_test);
  int32_t tok[1024];
  /* LRA grayscale: red 255 -> 76, green -> 149, blue -> 29 (token = gray + 1) */
  for (int i = 0; i < 2; i++) {
    int32_t lab = example(&o, EB_SPLIT_TRAIN, i, tok);
    if (lab == 3)
      CHECK(tok[0] == 77 && tok[1023] == 77, "red: token %d, expected 77", tok[0]);
    else {
      CHECK(lab == 9, "cifar train label %d", lab);
      for (int p = 0; p < 1024; p++)
        if (tok[p] != p % 256 + 1) {
          CHECK(0, "gray ramp pixel %d: token %d, expected %d", p, tok[p], p % 256 + 1);
          break;
        }
    }
  }
  CHECK(example(&o, EB_SPLIT_TEST, 0, tok) == 0 && tok[5] == 150, "green: token %d",
        tok[5]);
  CHECK(example(&o, EB_SPLIT_TEST, 1, tok) == 7 && tok[5] == 30, "blue: token %d",
        tok[5]);
  /* write IDX (32x32) and read it back as mnist-idx */
  snprintf(out, sizeof out, "%s/cifar-idx", tmp);
  CHECK(eb_task_image.write(o.data, out, err, sizeof err) == 0, "write: %s", err);
  snprintf(path, sizeof path, "path=%s", out);
  const char *kv2[] = {"source=mnist-idx", path, "val=0", NULL};
  opened b;
  CHECK(topen(&b, kv2, err, sizeof err) == 0, "reload: %s", err);
  if (!eb_test_failures) {
    CHECK(b.info.max_len == 1024, "reloaded length %d", b.info.max_len);
    for (int i = 0; i < 2; i++) {
      int32_t t1[1024], t2[1024];
      int32_t l1 = example(&o, EB_SPLIT_TEST, i, t1),
              l2 = example(&b, EB_SPLIT_TEST, i, t2);
      CHECK(l1 == l2 && memcmp(t1, t2, sizeof t1) == 0, "cifar round trip differs at %d",
            i);
    }
    tclose(&b);
  }
  tclose(&o);
}

static void test_malformed(void) {
  char dir[2048], path[4096];
  uint8_t img[28], lab[11];
  char gp[2048];
  snprintf(gp, sizeof gp, "%s/idx/train-images-idx3-ubyte", golden);
  read_file(gp, img, sizeof img);
  snprintf(gp, sizeof gp, "%s/idx/train-labels-idx1-ubyte", golden);
  read_file(gp, lab, sizeof lab);
  struct {
    const char *name, *file;
    const uint8_t *bytes;
    size_t n;
    const char *needle;
    int patch_at, patch_val;
  } cases[] = {
      {"truncated", "train-images-idx3-ubyte", img, 27, "truncated", -1, 0},
      {"header only", "train-images-idx3-ubyte", img, 10, "truncated", -1, 0},
      {"bad magic", "train-images-idx3-ubyte", img, 28, "magic 0x00000903", 2, 9},
      {"labels magic", "train-labels-idx1-ubyte", lab, 11, "wrong header", 3, 3},
      {"zero rows", "train-images-idx3-ubyte", img, 28, "image size", 11, 0},
      {"count mismatch", "train-labels-idx1-ubyte", lab, 10, "header declares", -1, 0},
      {"label 10", "train-labels-idx1-ubyte", lab, 11, "record 2 (byte offset 10)", 10,
       10},
      {"count vs images", "t10k-labels-idx1-ubyte", NULL, 0, "3 labels", -1, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    snprintf(dir, sizeof dir, "%s/bad%zu", tmp, c);
    uint8_t b[64];
    size_t n = cases[c].n;
    if (cases[c].bytes)
      memcpy(b, cases[c].bytes, n);
    else { /* labels file declaring 3 labels where the images have 2 */
      static const uint8_t l3[11] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3};
      memcpy(b, l3, sizeof l3);
      n = sizeof l3;
    }
    if (cases[c].patch_at >= 0) b[cases[c].patch_at] = (uint8_t)cases[c].patch_val;
    make_idx_variant(dir, cases[c].file, b, n);
    snprintf(path, sizeof path, "path=%s", dir);
    const char *kv[] = {"source=mnist-idx", path, "val=1", NULL};
    expect_reject(cases[c].name, kv, cases[c].file, cases[c].needle);
  }

  /* a damaged .gz */
  snprintf(dir, sizeof dir, "%s/badgz", tmp);
  mkdir(dir, 0777);
  static const char *gz[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
  for (int k = 0; k < 4; k++) {
    uint8_t buf[256];
    char s[4096], d[4096];
    snprintf(s, sizeof s, "%s/idxgz/%s", golden, gz[k]);
    snprintf(d, sizeof d, "%s/%s", dir, gz[k]);
    size_t n = read_file(s, buf, sizeof buf);
    write_file(d, buf, k == 0 ? n - 12 : n); /* cut the gzip trailer + some data */
  }
  snprintf(path, sizeof path, "path=%s", dir);
  const char *kvgz[] = {"source=mnist-idx", path, "val=1", NULL};
  expect_reject("truncated gzip", kvgz, gz[0], NULL);
  /* a missing file and a missing path */
  snprintf(path, sizeof path, "path=%s/nowhere", tmp);
  const char *kvm[] = {"source=mnist-idx", path, NULL};
  expect_reject("missing dir", kvm, "nowhere", "train-images-idx3-ubyte");
  const char *kvp[] = {"source=cifar10", NULL};
  expect_reject("cifar without path", kvp, "path", NULL);

  /* CIFAR: wrong size, bad label in record 1, missing test batch */
  uint8_t rec[2 * 3073];
  snprintf(gp, sizeof gp, "%s/cifar/data_batch_1.bin", golden);
  read_file(gp, rec, sizeof rec);
  uint8_t test[2 * 3073];
  snprintf(gp, sizeof gp, "%s/cifar/test_batch.bin", golden);
  read_file(gp, test, sizeof test);
  for (int c = 0; c < 3; c++) {
    snprintf(dir, sizeof dir, "%s/badcifar%d", tmp, c);
    mkdir(dir, 0777);
    char f[4096];
    snprintf(f, sizeof f, "%s/data_batch_1.bin", dir);
    uint8_t b[2 * 3073];
    memcpy(b, rec, sizeof b);
    if (c == 1) b[3073] = 10;
    write_file(f, b, c == 0 ? sizeof b - 100 : sizeof b);
    snprintf(f, sizeof f, "%s/test_batch.bin", dir);
    if (c != 2) write_file(f, test, sizeof test);
    snprintf(path, sizeof path, "path=%s", dir);
    const char *kv[] = {"source=cifar10", path, "val=0", NULL};
    static const char *needle[3] = {"record 1 at byte offset 3073",
                                    "record 1 (byte offset 3073): bad label 10",
                                    "test_batch.bin"};
    expect_reject("cifar", kv, c == 2 ? dir : "data_batch_1.bin", needle[c]);
  }
}

/* the same settings open the same data, first built then from the cache */
static void test_cache(void) {
  char path[4096], err[EB_ERR_LEN];
  snprintf(path, sizeof path, "path=%s/cifar", golden);
  const char *kv[] = {"source=cifar10", path, "val=1", NULL};
  opened a, b;
  CHECK(topen(&a, kv, err, sizeof err) == 0, "%s", err);
  CHECK(topen(&b, kv, err, sizeof err) == 0, "%s", err);
  if (eb_test_failures) return;
  for (int s = 0; s < 3; s++) {
    int64_t n = s == 0 ? a.info.n_train : s == 1 ? a.info.n_val : a.info.n_test;
    for (int64_t i = 0; i < n; i++) {
      int32_t t1[1024], t2[1024];
      int32_t l1 = example(&a, (eb_split)s, i, t1), l2 = example(&b, (eb_split)s, i, t2);
      CHECK(l1 == l2 && memcmp(t1, t2, sizeof t1) == 0, "split %d example %lld differs",
            s, (long long)i);
    }
  }
  /* val (the last train image, label 9) is not in train */
  int32_t t[1024];
  CHECK(a.info.n_train == 1 && example(&a, EB_SPLIT_TRAIN, 0, t) == 3 &&
            example(&a, EB_SPLIT_VAL, 0, t) == 9,
        "train/val carve wrong");
  tclose(&a);
  tclose(&b);
}

/* same data in every split (tokens and labels, train in file order: the
 * shuffle is seeded the same way for both) */
static void same_data(opened *a, opened *b, const char *what) {
  CHECK(a->info.max_len == b->info.max_len && a->info.n_train == b->info.n_train &&
            a->info.n_val == b->info.n_val && a->info.n_test == b->info.n_test,
        "%s: shapes differ (%d/%d pixels)", what, a->info.max_len, b->info.max_len);
  if (a->info.max_len != b->info.max_len || a->info.max_len > 1024) return;
  for (int s = 0; s < 3; s++) {
    int64_t n = s == 0 ? a->info.n_train : s == 1 ? a->info.n_val : a->info.n_test;
    for (int64_t i = 0; i < n; i++) {
      int32_t t1[1024], t2[1024];
      int32_t l1 = example(a, (eb_split)s, i, t1), l2 = example(b, (eb_split)s, i, t2);
      CHECK(l1 == l2 && !memcmp(t1, t2, sizeof(int32_t) * (size_t)a->info.max_len),
            "%s: split %d example %lld differs", what, s, (long long)i);
    }
  }
}

/* the cache is best effort: a damaged or foreign cache file is rebuilt and
 * replaced, an unwritable cache directory is skipped */
static void test_cache_best_effort(void) {
  char path[4096], cifar[4096], err[EB_ERR_LEN], dir[2048], cf[4096], cf2[4096];
  snprintf(path, sizeof path, "path=%s/idx", golden);
  snprintf(cifar, sizeof cifar, "path=%s/cifar", golden);
  const char *kv[] = {"source=mnist-idx", path, "val=1", NULL},
             *kvc[] = {"source=cifar10", cifar, "val=1", NULL};
  snprintf(dir, sizeof dir, "%s/cache-be", tmp);
  setenv("EFFBENCH_CACHE", dir, 1);
  opened ref, o;
  int rc = topen(&ref, kv, err, sizeof err);
  CHECK(rc == 0, "first open: %s", err);
  if (rc) return;
  CHECK(eb_test_cache_file(dir, "image", cf, sizeof cf) == 0,
        "no single image cache file in %s", dir);
  long long good = eb_test_file_size(cf);
  /* damaged: garbage, then truncated */
  for (int k = 0; k < 2; k++) {
    if (k == 0)
      write_file(cf, "not a cache at all", 18);
    else
      CHECK(truncate(cf, good - 7) == 0, "truncate %s", cf);
    err[0] = '\0';
    rc = topen(&o, kv, err, sizeof err);
    CHECK(rc == 0, "damaged cache (%s) not rebuilt: %s", k ? "truncated" : "garbage",
          err);
    if (rc) continue;
    same_data(&ref, &o, "rebuilt from a damaged cache");
    tclose(&o);
    CHECK(eb_test_file_size(cf) == good,
          "damaged cache file not replaced (%lld bytes, want %lld)",
          eb_test_file_size(cf), good);
  }
  /* foreign: a well-formed cache of other (1024-pixel CIFAR) images in its place */
  char dir2[2048];
  snprintf(dir2, sizeof dir2, "%s/cache-cifar", tmp);
  setenv("EFFBENCH_CACHE", dir2, 1);
  rc = topen(&o, kvc, err, sizeof err);
  CHECK(rc == 0, "cifar: %s", err);
  if (rc == 0) {
    tclose(&o);
    CHECK(eb_test_cache_file(dir2, "image", cf2, sizeof cf2) == 0, "no cifar cache file");
    char cmd[8200 + 16];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", cf2, cf);
    CHECK(system(cmd) == 0, "%s", cmd);
    setenv("EFFBENCH_CACHE", dir, 1);
    err[0] = '\0';
    rc = topen(&o, kv, err, sizeof err);
    CHECK(rc == 0, "foreign cache not rebuilt: %s", err);
    if (rc == 0) {
      CHECK(o.info.max_len == 4, "foreign cache used: %d pixels", o.info.max_len);
      same_data(&ref, &o, "rebuilt from a foreign cache");
      tclose(&o);
    }
    CHECK(eb_test_file_size(cf) == good, "foreign cache file not replaced");
  }
  /* unwritable: below a regular file (cannot be created), and a regular file */
  char file[2048], below[4096];
  snprintf(file, sizeof file, "%s/plain-file", tmp);
  write_file(file, "x", 1);
  snprintf(below, sizeof below, "%s/cache", file);
  for (int k = 0; k < 2; k++) {
    setenv("EFFBENCH_CACHE", k ? file : below, 1);
    err[0] = '\0';
    rc = topen(&o, kv, err, sizeof err);
    CHECK(rc == 0, "unwritable cache %s stops the run: %s", k ? file : below, err);
    if (rc) continue;
    same_data(&ref, &o, "without a cache");
    tclose(&o);
  }
  tclose(&ref);
  char cache[2048];
  snprintf(cache, sizeof cache, "%s/cache", tmp);
  setenv("EFFBENCH_CACHE", cache, 1);
}

/* write() creates the whole --out path and refuses a non-empty directory */
static void test_write_dirs(void) {
  char path[4096], out[2048], err[EB_ERR_LEN];
  snprintf(path, sizeof path, "path=%s/idx", golden);
  const char *kv[] = {"source=mnist-idx", path, "val=1", NULL};
  opened o;
  int rc = topen(&o, kv, err, sizeof err);
  CHECK(rc == 0, "%s", err);
  if (rc) return;
  snprintf(out, sizeof out, "%s/nested/a/b", tmp);
  CHECK(eb_task_image.write(o.data, out, err, sizeof err) == 0, "nested write: %s", err);
  char f[4096];
  snprintf(f, sizeof f, "%s/t10k-labels-idx1-ubyte", out);
  CHECK(eb_test_file_size(f) == 10, "nested write: %s has %lld bytes", f,
        eb_test_file_size(f));
  /* again into the same directory: refused, nothing overwritten */
  truncate(f, 9);
  err[0] = '\0';
  CHECK(eb_task_image.write(o.data, out, err, sizeof err) != 0,
        "writing into a non-empty directory accepted");
  CHECK(strstr(err, "not empty") && strstr(err, "nested/a/b"), "error '%s'", err);
  CHECK(eb_test_file_size(f) == 9, "existing file overwritten");
  /* an existing empty directory is fine */
  snprintf(out, sizeof out, "%s/nested/a/empty", tmp);
  mkdir(out, 0777);
  CHECK(eb_task_image.write(o.data, out, err, sizeof err) == 0, "empty dir: %s", err);
  tclose(&o);
}

/* the real Fashion-MNIST; returns 0 when the package is absent */
static int test_fashion(void) {
  struct stat st;
  if (stat("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", &st) != 0) {
    fprintf(stderr, "test_image: dataset-fashion-mnist is not installed: Fashion-MNIST "
                    "checks skipped (scripts/install-deps installs it)\n");
    return 0;
  }
  const char *kv[] = {"val=5000", NULL};
  opened o;
  char err[EB_ERR_LEN];
  CHECK(topen(&o, kv, err, sizeof err) == 0, "fashion-mnist: %s", err);
  if (eb_test_failures) return 1;
  CHECK(o.info.max_len == 784 && o.info.vocab == 257 && o.info.classes == 10,
        "fashion info %d %d %d", o.info.max_len, o.info.vocab, o.info.classes);
  CHECK(o.info.n_train + o.info.n_val == 60000 && o.info.n_val == 5000 &&
            o.info.n_test == 10000,
        "fashion sizes %lld/%lld/%lld", (long long)o.info.n_train,
        (long long)o.info.n_val, (long long)o.info.n_test);
  enum { B = 500 };
  int32_t *tok = malloc(sizeof(int32_t) * B * 784), lab[B];
  uint8_t *mask = malloc(B * 784);
  eb_batch b = {.B = B, .N = 784, .tokens = tok, .mask = mask, .labels = lab};
  int64_t counts[3][10] = {{0}};
  int lo = 1000, hi = -1;
  for (int s = 0; s < 3; s++) {
    int64_t n = s == 0 ? o.info.n_train : s == 1 ? o.info.n_val : o.info.n_test;
    for (int64_t i = 0; i < n / B; i++) {
      CHECK(eb_task_image.batch(o.data, (eb_split)s, i, 0, &b, err, sizeof err) == 0,
            "%s", err);
      for (int k = 0; k < B; k++) {
        CHECK(lab[k] >= 0 && lab[k] < 10, "label %d", lab[k]);
        if (lab[k] >= 0 && lab[k] < 10) counts[s][lab[k]]++;
      }
      for (int k = 0; k < B * 784; k++) {
        lo = tok[k] < lo ? tok[k] : lo;
        hi = tok[k] > hi ? tok[k] : hi;
      }
    }
  }
  CHECK(lo == 1 && hi == 256, "token range %d..%d, expected 1..256", lo, hi);
  /* Fashion-MNIST is balanced: 6000 per class in train, 1000 in test */
  for (int c = 0; c < 10; c++) {
    CHECK(counts[0][c] + counts[1][c] == 6000, "class %d: %lld train+val", c,
          (long long)(counts[0][c] + counts[1][c]));
    CHECK(counts[2][c] == 1000, "class %d: %lld test", c, (long long)counts[2][c]);
  }
  free(tok);
  free(mask);
  tclose(&o);
  return 1;
}

int main(void) {
  snprintf(golden, sizeof golden, "%s", __FILE__);
  char *slash = strrchr(golden, '/');
  snprintf(slash ? slash + 1 : golden,
           sizeof golden - (size_t)(slash ? slash + 1 - golden : 0), "data/image");
  snprintf(tmp, sizeof tmp, "/tmp/eb-test-image-XXXXXX");
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  char cache[2048];
  snprintf(cache, sizeof cache, "%s/cache", tmp);
  setenv("EFFBENCH_CACHE", cache, 1);

  test_idx_golden("idx");
  test_idx_golden("idxgz");
  test_idx_roundtrip();
  test_cifar();
  test_malformed();
  test_cache();
  test_cache_best_effort();
  test_write_dirs();
  int fashion = test_fashion();

  char cmd[2048];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  int rc = eb_test_done("image");
  return rc == 0 && !fashion ? 77 : rc;
}
