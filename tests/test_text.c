/* text task: strict UTF-8 checking; generator -> aclImdb layout -> loader
 * round trip; labels by construction (sentiment and recall rules); the
 * golden aclImdb tree and label<TAB>text files in tests/data/text; malformed
 * inputs refused with FILE:LINE and no crash; determinism by seed (identical
 * cache bytes); disjoint splits; batches. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "files.h"
#include "dataset.h"
#include "check.h"
#include "args.h"

extern const eb_task eb_task_text;
int eb_text_sentiment_oracle(const unsigned char *s, int n, int anagram, int *npos,
                             int *nneg);

static char tmp[256], golden[1024];

/* Opens the text task with "k=v" settings; returns 0 or -1 with err. */
static int open_text(const char *const *kv, int n, uint64_t seed, eb_dataset **d,
                     char *err, size_t errlen) {
  char keys[16][64];
  const char *k[16], *v[16];
  for (int i = 0; i < n; i++) {
    const char *eq = strchr(kv[i], '=');
    snprintf(keys[i], sizeof keys[i], "%.*s", (int)(eq - kv[i]), kv[i]);
    k[i] = keys[i];
    v[i] = eq + 1;
  }
  eb_argset as = {0};
  if (eb_argset_resolve(&as, "task 'text'", eb_task_text.params, n, k, v, err, errlen))
    return -1;
  eb_task_info info;
  void *data = NULL;
  int rc = eb_task_text.open(&as.args, seed, &data, &info, err, errlen);
  eb_argset_free(&as);
  *d = data;
  if (!rc) {
    CHECK(info.vocab == 257 && info.mode == EB_INPUT_SINGLE, "info: vocab %d mode %d",
          info.vocab, (int)info.mode);
    CHECK(info.n_train == (*d)->split[0].n && info.n_test == (*d)->split[2].n,
          "info sizes");
  }
  return rc;
}

static int same_split(const eb_split_data *a, const eb_split_data *b) {
  if (a->n != b->n) return 0;
  for (int64_t i = 0; i < a->n; i++) {
    if (a->len[i] != b->len[i] || a->labels[i] != b->labels[i]) return 0;
    for (int t = 0; t < a->len[i]; t++)
      if (eb_split_token(a, i, t, 0) != eb_split_token(b, i, t, 0)) return 0;
  }
  return 1;
}

static int row_bytes(const eb_split_data *s, int64_t i, unsigned char *buf) {
  for (int t = 0; t < s->len[i]; t++)
    buf[t] = (unsigned char)(eb_split_token(s, i, t, 0) - 1);
  return s->len[i];
}

static void test_utf8(void) {
  static const struct {
    const char *s;
    int n;
    long long bad;
  } v[] = {
      {"plain ascii", 11, -1},
      {"caf\xc3\xa9", 5, -1},
      {"\xe2\x82\xac euro", 8, -1},
      {"\xf0\x9f\x98\x80", 4, -1}, /* U+1F600 */
      {"\xf4\x8f\xbf\xbf", 4, -1}, /* U+10FFFF */
      {"\xed\x9f\xbf", 3, -1},     /* U+D7FF, last before surrogates */
      {"a\x80", 2, 1},             /* stray continuation */
      {"\xc0\x80", 2, 0},          /* overlong NUL */
      {"\xc1\xbf", 2, 0},          /* overlong */
      {"\xe0\x80\xaf", 3, 0},      /* overlong '/' */
      {"\xf0\x8f\xbf\xbf", 4, 0},  /* overlong */
      {"ab\xed\xa0\x80", 5, 2},    /* surrogate U+D800 */
      {"\xf4\x90\x80\x80", 4, 0},  /* above U+10FFFF */
      {"\xf5\x80\x80\x80", 4, 0},  /* F5 never valid */
      {"\xff", 1, 0},              /* FF never valid */
      {"ok \xe2\x82", 5, 3},       /* truncated at the end */
      {"\xc3(", 2, 0},             /* bad continuation */
      {"\xe2\x28\xa1", 3, 0},      /* bad continuation */
  };
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    long long got = eb_utf8_invalid((const unsigned char *)v[i].s, (size_t)v[i].n);
    CHECK(got == v[i].bad, "utf8 case %zu: invalid at %lld, expected %lld", i, got,
          v[i].bad);
  }
}

/* Generated documents: labels balanced and true by construction, valid UTF-8,
 * never truncated. */
static void test_generator(const char *rule) {
  char err[EB_ERR_LEN], r[64];
  snprintf(r, sizeof r, "rule=%s", rule);
  const char *kv[] = {"train=200", "val=20", "test=20", "max_len=300", r};
  eb_dataset *d;
  if (open_text(kv, 5, 7, &d, err, sizeof err)) {
    CHECK(0, "open %s: %s", rule, err);
    return;
  }
  unsigned char buf[400];
  int ones = 0, wrong = 0, bad_utf8 = 0, long_docs = 0;
  const eb_split_data *s = &d->split[0];
  for (int64_t i = 0; i < s->n; i++) {
    int n = row_bytes(s, i, buf);
    ones += s->labels[i];
    bad_utf8 += eb_utf8_invalid(buf, (size_t)n) >= 0;
    long_docs += n < 40 || n > 300 || buf[n - 1] != '.';
    int want;
    if (!strcmp(rule, "recall")) {
      /* "KEY w" early, "ASK q?" late: label = (w == q) */
      buf[n] = '\0';
      char *k = strstr((char *)buf, "KEY "), *q = strstr((char *)buf, "ASK ");
      char kw[32] = "", qw[32] = "";
      if (k) sscanf(k + 4, "%31[a-z]", kw);
      if (q) sscanf(q + 4, "%31[a-z]", qw);
      want = k && q && k < q ? !strcmp(kw, qw) : -1;
      if (k && q && (k - (char *)buf > n / 4 || q - (char *)buf < n / 2)) want = -1;
    } else {
      int np, nn, anagram = !strcmp(rule, "anagram");
      want = eb_text_sentiment_oracle(buf, n, anagram, &np, &nn);
      /* sentiment: the majority is at least 3/4 of the sentiment words;
       * anagram: a margin of 1 to 3 */
      int hi = np > nn ? np : nn, lo = np > nn ? nn : np;
      if (anagram ? hi - lo > 3 : 4 * lo > hi + lo || hi + lo < 2) want = -1;
    }
    if (want != s->labels[i]) wrong++;
  }
  CHECK(wrong == 0, "%s: %d of %lld labels disagree with the documents", rule, wrong,
        (long long)s->n);
  CHECK(ones > 70 && ones < 130, "%s: %d of 200 labels are 1 (not balanced)", rule, ones);
  CHECK(bad_utf8 == 0, "%s: %d documents are not valid UTF-8", rule, bad_utf8);
  CHECK(long_docs == 0, "%s: %d documents outside [max_len/4, max_len] or cut", rule,
        long_docs);
  /* splits disjoint: no document of val or test is also in train */
  int dup = 0;
  for (int k = 1; k < 3; k++)
    for (int64_t i = 0; i < d->split[k].n; i++)
      for (int64_t j = 0; j < s->n; j++) {
        if (d->split[k].len[i] != s->len[j]) continue;
        int same = 1;
        for (int t = 0; same && t < s->len[j]; t++)
          same = eb_split_token(&d->split[k], i, t, 0) == eb_split_token(s, j, t, 0);
        dup += same;
      }
  CHECK(dup == 0, "%s: %d val/test documents repeat train ones", rule, dup);
  eb_task_text.close(d);
}

/* generate -> write (aclImdb layout) -> load with path=DIR: same examples */
static void test_roundtrip(const char *rule) {
  char err[EB_ERR_LEN], out[512], pathkv[600], r[64];
  snprintf(out, sizeof out, "%s/rt-%s", tmp, rule);
  snprintf(pathkv, sizeof pathkv, "path=%s", out);
  snprintf(r, sizeof r, "rule=%s", rule);
  const char *gen[] = {"train=30", "val=6", "test=7", "max_len=200", r};
  const char *load[] = {pathkv, "max_len=200"};
  eb_dataset *a, *b;
  if (open_text(gen, 5, 3, &a, err, sizeof err)) {
    CHECK(0, "open: %s", err);
    return;
  }
  CHECK(eb_task_text.write(a, out, err, sizeof err) == 0, "write: %s", err);
  if (open_text(load, 2, 99, &b, err, sizeof err) == 0) {
    for (int k = 0; k < 3; k++)
      CHECK(same_split(&a->split[k], &b->split[k]),
            "%s split %d differs after write/load", rule, k);
    eb_task_text.close(b);
  } else
    CHECK(0, "load %s: %s", out, err);
  /* writing again into the same folder is refused, not mixed */
  CHECK(eb_task_text.write(a, out, err, sizeof err) != 0 && strstr(err, "not empty"),
        "second write: %s", err);
  eb_task_text.close(a);
}

static int only_file(const char *dir, char *path, size_t len) {
  DIR *D = opendir(dir);
  struct dirent *e;
  int n = 0;
  while (D && (e = readdir(D)))
    if (strstr(e->d_name, ".ebds") &&
        snprintf(path, len, "%s/%s", dir, e->d_name) < (int)len)
      n++;
  if (D) closedir(D);
  return n;
}

/* same seed, same bytes: two fresh caches hold identical files */
static void test_determinism(void) {
  char err[EB_ERR_LEN], c[3][300], f[3][1024];
  const char *kv[] = {"train=50", "val=5", "test=5", "max_len=128"};
  for (int k = 0; k < 3; k++) {
    snprintf(c[k], sizeof c[k], "%s/cache%d", tmp, k);
    mkdir(c[k], 0777);
    setenv("EFFBENCH_CACHE", c[k], 1);
    eb_dataset *d;
    if (open_text(kv, 4, k == 2 ? 12 : 11, &d, err, sizeof err)) {
      CHECK(0, "open: %s", err);
      return;
    }
    eb_task_text.close(d);
    CHECK(only_file(c[k], f[k], sizeof f[k]) == 1, "cache %s: expected one file", c[k]);
  }
  unsigned char *x, *y, *z;
  size_t nx, ny, nz;
  if (eb_read_file(f[0], &x, &nx, err, sizeof err) ||
      eb_read_file(f[1], &y, &ny, err, sizeof err) ||
      eb_read_file(f[2], &z, &nz, err, sizeof err)) {
    CHECK(0, "%s", err);
    return;
  }
  CHECK(nx == ny && !memcmp(x, y, nx), "same seed, different cache bytes");
  CHECK(nx != nz || memcmp(x, z, nx), "different seeds, same cache bytes");
  free(x);
  free(y);
  free(z);
  /* a second open reads the cache and gives the same data */
  setenv("EFFBENCH_CACHE", c[0], 1);
  eb_dataset *a, *b;
  if (!open_text(kv, 4, 11, &a, err, sizeof err)) {
    CHECK(a->map != NULL, "second open did not use the cache");
    setenv("EFFBENCH_CACHE", c[1], 1);
    unlink(f[1]);
    if (!open_text(kv, 4, 11, &b, err, sizeof err)) {
      CHECK(b->map == NULL, "expected a fresh generation");
      for (int k = 0; k < 3; k++)
        CHECK(same_split(&a->split[k], &b->split[k]), "cached split %d differs", k);
      eb_task_text.close(b);
    }
    eb_task_text.close(a);
  }
  setenv("EFFBENCH_CACHE", tmp, 1);
}

static void expect_doc(const eb_split_data *s, int64_t i, const char *text, int label) {
  unsigned char buf[256];
  int n = row_bytes(s, i, buf);
  CHECK(n == (int)strlen(text) && !memcmp(buf, text, (size_t)n) && s->labels[i] == label,
        "row %lld: '%.*s' label %d, expected '%s' label %d", (long long)i, n, buf,
        s->labels[i], text, label);
}

static void test_golden(void) {
  char err[EB_ERR_LEN], kv[1200];
  eb_dataset *d;
  /* aclImdb tree: val carved out of train, test read in name order */
  snprintf(kv, sizeof kv, "path=%s/aclImdb", golden);
  const char *acl[] = {kv, "val=1"};
  if (open_text(acl, 2, 0, &d, err, sizeof err) == 0) {
    CHECK(d->split[0].n == 3 && d->split[1].n == 1 && d->split[2].n == 3,
          "aclImdb sizes %lld/%lld/%lld", (long long)d->split[0].n,
          (long long)d->split[1].n, (long long)d->split[2].n);
    expect_doc(&d->split[2], 0, "Terrible dialogue, wooden acting.", 0);
    expect_doc(&d->split[2], 1, "Brilliant! I laughed and cried.", 1);
    expect_doc(&d->split[2], 2, "Not even the soundtrack could save it.", 0);
    int ones = d->split[1].labels[0];
    for (int64_t i = 0; i < d->split[0].n; i++)
      ones += d->split[0].labels[i];
    CHECK(ones == 2, "train+val hold %d positive reviews, expected 2", ones);
    eb_task_text.close(d);
  } else
    CHECK(0, "golden aclImdb: %s", err);
  /* the same carve every time, whatever the seed */
  eb_dataset *e;
  if (open_text(acl, 2, 0, &d, err, sizeof err) == 0) {
    if (open_text(acl, 2, 5, &e, err, sizeof err) == 0) {
      CHECK(same_split(&d->split[1], &e->split[1]), "val carve depends on the seed");
      eb_task_text.close(e);
    }
    eb_task_text.close(d);
  }
  /* one label<TAB>text file: test and val carved out; tab kept inside text */
  snprintf(kv, sizeof kv, "path=%s/reviews.tsv", golden);
  const char *one[] = {kv, "val=1", "test=2", "classes=3", "max_len=64"};
  if (open_text(one, 5, 0, &d, err, sizeof err) == 0) {
    CHECK(d->split[0].n == 3 && d->split[1].n == 1 && d->split[2].n == 2,
          "reviews.tsv sizes %lld/%lld/%lld", (long long)d->split[0].n,
          (long long)d->split[1].n, (long long)d->split[2].n);
    int found = 0;
    for (int k = 0; k < 3; k++)
      for (int64_t i = 0; i < d->split[k].n; i++) {
        unsigned char buf[128];
        int n = row_bytes(&d->split[k], i, buf);
        const char *l3 = "It was fine, I guess\twith a tab.";
        if (n == (int)strlen(l3) && !memcmp(buf, l3, strlen(l3))) {
          found++;
          CHECK(d->split[k].labels[i] == 2, "label of line 3");
        }
      }
    CHECK(found == 1, "line 3 found %d times", found);
    CHECK(d->info.classes == 3, "classes %d", d->info.classes);
    eb_task_text.close(d);
  } else
    CHECK(0, "golden reviews.tsv: %s", err);
  /* a folder of train.tsv/test.tsv, val carved from train */
  snprintf(kv, sizeof kv, "path=%s/tsv", golden);
  const char *dir[] = {kv, "val=1"};
  if (open_text(dir, 2, 0, &d, err, sizeof err) == 0) {
    CHECK(d->split[0].n == 3 && d->split[1].n == 1 && d->split[2].n == 2,
          "tsv/ sizes %lld/%lld/%lld", (long long)d->split[0].n, (long long)d->split[1].n,
          (long long)d->split[2].n);
    expect_doc(&d->split[2], 0, "superb", 1);
    expect_doc(&d->split[2], 1, "dreadful", 0);
    eb_task_text.close(d);
  } else
    CHECK(0, "golden tsv/: %s", err);
}

static void put(const char *path, const char *bytes, size_t n) {
  char err[EB_ERR_LEN];
  CHECK(eb_write_file(path, bytes, n, err, sizeof err) == 0, "%s", err);
}

/* a label<TAB>text file `content` must be refused with `want` in the message */
static void bad_tsv(const char *name, const char *content, size_t n, const char *want) {
  char err[EB_ERR_LEN] = "", path[512], kv[600];
  snprintf(path, sizeof path, "%s/%s", tmp, name);
  put(path, content, n);
  snprintf(kv, sizeof kv, "path=%s", path);
  const char *a[] = {kv, "val=1", "test=1"};
  eb_dataset *d = NULL;
  int rc = open_text(a, 3, 0, &d, err, sizeof err);
  char where[600];
  snprintf(where, sizeof where, "%s:%s", path, want);
  CHECK(rc != 0 && strstr(err, where), "%s: expected '%s', got rc %d '%s'", name, where,
        rc, err);
  if (!rc) eb_task_text.close(d);
}

static void test_malformed(void) {
#define S(x) x, sizeof(x) - 1
  bad_tsv("badlabel.tsv", S("1\tok\n0\tok\nx\tbad\n1\tok\n"), "3: bad label 'x'");
  bad_tsv("header.tsv", S("label\ttext\n1\tok\n0\tok\n1\tok\n"), "1: bad label 'label'");
  bad_tsv("range.tsv", S("1\tok\n2\tno\n0\tok\n1\tok\n"), "2: bad label '2'");
  bad_tsv("neg.tsv", S("1\tok\n-1\tno\n0\tok\n1\tok\n"), "2: bad label '-1'");
  bad_tsv("notab.tsv", S("1\tok\n0\tok\n1 missing tab\n1\tok\n"), "3: expected LABEL");
  bad_tsv("emptyline.tsv", S("1\tok\n\n0\tok\n1\tok\n"), "2: expected LABEL");
  bad_tsv("emptytext.tsv", S("1\tok\n0\t\n0\tok\n1\tok\n"), "2: empty text");
  bad_tsv("utf8.tsv", S("1\tok\n0\tok\n1\tok\n0\tbad \xc3\x28 byte\n"),
          "4:7: invalid UTF-8");
  bad_tsv("overlong.tsv", S("1\tok\n0\t\xc0\xaf\n0\tok\n1\tok\n"), "2:3: invalid UTF-8");
  bad_tsv("surrogate.tsv", S("1\tok\n0\tok\n0\tx\xed\xa0\x80\n1\tok\n"),
          "3:4: invalid UTF-8");
  bad_tsv("truncutf8.tsv", S("1\tok\n0\tok\n0\tok\n1\tend \xe2\x82"),
          "4:7: invalid UTF-8");
  bad_tsv("empty.tsv", S(""), " empty file");
  /* a last line without a newline is fine */
  {
    char err[EB_ERR_LEN], path[512], kv[600];
    snprintf(path, sizeof path, "%s/nonl.tsv", tmp);
    put(path, S("1\tok\n0\tok\n1\tlast"));
    snprintf(kv, sizeof kv, "path=%s", path);
    const char *a[] = {kv, "val=1", "test=1"};
    eb_dataset *d;
    if (open_text(a, 3, 0, &d, err, sizeof err) == 0) {
      CHECK(d->split[0].n + d->split[1].n + d->split[2].n == 3, "3 lines");
      eb_task_text.close(d);
    } else
      CHECK(0, "no final newline refused: %s", err);
  }
  /* aclImdb trees */
  char root[512], p[700], err[EB_ERR_LEN], kv[600];
  const char *sub[] = {"train/pos", "train/neg", "test/pos", "test/neg"};
  snprintf(root, sizeof root, "%s/acl", tmp);
  for (int i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s/%s", root, sub[i]);
    CHECK(eb_mkdirs(p, err, sizeof err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/%s/%d_5.txt", root, sub[i], i);
    put(p, S("fine review"));
  }
  snprintf(p, sizeof p, "%s/%s/%d_5.txt", root, sub[0], 7);
  put(p, S("fine review"));
  snprintf(kv, sizeof kv, "path=%s", root);
  const char *a[] = {kv, "val=1"};
  eb_dataset *d;
  int rc = open_text(a, 2, 0, &d, err, sizeof err);
  CHECK(rc == 0, "good tree refused: %s", err);
  if (!rc) eb_task_text.close(d);
  /* invalid UTF-8 on line 2 of a review */
  snprintf(p, sizeof p, "%s/test/neg/9_2.txt", root);
  put(p, S("first line\nsecond \xff line"));
  char want[800];
  snprintf(want, sizeof want, "%s:2:8: invalid UTF-8", p);
  rc = open_text(a, 2, 0, &d, err, sizeof err);
  CHECK(rc != 0 && strstr(err, want), "expected '%s', got '%s'", want, err);
  unlink(p);
  /* an empty review */
  put(p, "", 0);
  snprintf(want, sizeof want, "%s:1: empty review", p);
  rc = open_text(a, 2, 0, &d, err, sizeof err);
  CHECK(rc != 0 && strstr(err, want), "expected '%s', got '%s'", want, err);
  unlink(p);
  /* an empty split */
  for (int i = 2; i < 4; i++) {
    snprintf(p, sizeof p, "%s/%s/%d_5.txt", root, sub[i], i);
    unlink(p);
  }
  rc = open_text(a, 2, 0, &d, err, sizeof err);
  CHECK(rc != 0 && strstr(err, "/test: no reviews"), "empty split: '%s'", err);
  /* a missing folder */
  snprintf(p, sizeof p, "%s/test/neg", root);
  rmdir(p);
  rc = open_text(a, 2, 0, &d, err, sizeof err);
  CHECK(rc != 0 && strstr(err, "/test/neg: missing"), "missing folder: '%s'", err);
  /* val larger than train */
  const char *big[] = {kv, "val=5"};
  rc = open_text(big, 2, 0, &d, err, sizeof err);
  CHECK(rc != 0, "val larger than train accepted");
  /* a path that does not exist */
  const char *none[] = {"path=/nonexistent/imdb"};
  rc = open_text(none, 1, 0, &d, err, sizeof err);
  CHECK(rc != 0 && strstr(err, "/nonexistent/imdb"), "missing path: '%s'", err);
#undef S
}

static void test_batch(void) {
  char err[EB_ERR_LEN];
  const char *kv[] = {"train=16", "val=4", "test=4", "max_len=128"};
  eb_dataset *d;
  if (open_text(kv, 4, 1, &d, err, sizeof err)) {
    CHECK(0, "open: %s", err);
    return;
  }
  int32_t tok[4 * 128], lab[4];
  uint8_t mask[4 * 128];
  eb_batch b = {.B = 4, .N = 128, .tokens = tok, .mask = mask, .labels = lab};
  CHECK(eb_task_text.batch(d, EB_SPLIT_TRAIN, 0, 5, &b, err, sizeof err) == 0, "%s", err);
  int64_t real = 0;
  int ok = 1;
  for (int i = 0; i < 4 * 128; i++) {
    real += mask[i];
    ok &= mask[i] ? tok[i] >= 1 && tok[i] <= 256 : tok[i] == 0;
  }
  CHECK(ok, "tokens and padding mask disagree");
  CHECK(real == b.real_tokens && real > 0, "real tokens %lld vs %lld", (long long)real,
        (long long)b.real_tokens);
  eb_task_text.close(d);
}

int main(void) {
  snprintf(tmp, sizeof tmp, "/tmp/eb_text_XXXXXX");
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  setenv("EFFBENCH_CACHE", tmp, 1);
  snprintf(golden, sizeof golden, "%s", __FILE__);
  char *slash = strrchr(golden, '/');
  snprintf(slash ? slash + 1 : golden,
           sizeof golden - (size_t)(slash ? slash + 1 - golden : 0), "data/text");
  test_utf8();
  test_generator("sentiment");
  test_generator("anagram");
  test_generator("recall");
  test_roundtrip("sentiment");
  test_roundtrip("recall");
  test_roundtrip("anagram");
  test_determinism();
  test_golden();
  test_malformed();
  test_batch();
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return eb_test_done("text");
}
