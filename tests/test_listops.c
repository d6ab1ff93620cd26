/* listops: generator rules, an independent evaluator for every label, round
 * trip through the official TSV format, determinism and the cache, disjoint
 * splits, golden files, and every malformed input rejected with FILE:LINE. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "args.h"
#include "effbench/plugin.h"
#include "dataset.h"

extern const eb_task eb_task_listops;

/* the documented token ids */
enum { D0 = 1, MIN = 11, MAX = 12, MED = 13, SM = 14, END = 15 };

static char tmp_root[256];

/* open listops with "k=v" settings (NULL-terminated); err filled on failure */
static eb_dataset *open_with(uint64_t seed, const char *const *kv, char *err,
                             size_t errlen) {
  const char *keys[16], *vals[16];
  char buf[16][256];
  int n = 0;
  for (; kv && kv[n]; n++) {
    snprintf(buf[n], sizeof buf[n], "%s", kv[n]);
    char *eq = strchr(buf[n], '=');
    *eq = '\0';
    keys[n] = buf[n];
    vals[n] = eq + 1;
  }
  eb_argset as = {0};
  if (eb_argset_resolve(&as, "task 'listops'", eb_task_listops.params, n, keys, vals, err,
                        errlen))
    return NULL;
  void *data = NULL;
  eb_task_info info;
  int rc = eb_task_listops.open(&as.args, seed, &data, &info, err, errlen);
  eb_argset_free(&as);
  if (rc) return NULL;
  eb_dataset *d = data;
  CHECK(info.vocab == 16 && info.classes == 10, "info vocab %d classes %d", info.vocab,
        info.classes);
  CHECK(info.n_train == d->split[0].n && info.n_test == d->split[2].n, "info sizes");
  return d;
}

static void close_ds(eb_dataset *d) {
  if (d) eb_task_listops.close(d);
}

static int tok(const eb_split_data *s, int64_t i, int t) {
  return eb_split_token(s, i, t, 0);
}

/* ---- independent evaluator: recursive descent, medians by sorting ---- */
typedef struct walk {
  const eb_split_data *s;
  int64_t row;
  int pos, n;
  int max_nest, max_args, min_args, bad;
} walk;

static int cmp_int(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

static int node(walk *w, int nest) {
  if (w->pos >= w->n) return w->bad = 1, 0;
  int t = tok(w->s, w->row, w->pos++);
  if (t >= D0 && t < D0 + 10) return t - D0;
  if (t < MIN || t > SM) return w->bad = 1, 0;
  if (nest + 1 > w->max_nest) w->max_nest = nest + 1;
  int args[4096], k = 0;
  while (!w->bad && w->pos < w->n && tok(w->s, w->row, w->pos) != END && k < 4096)
    args[k++] = node(w, nest + 1);
  if (w->pos >= w->n) return w->bad = 1, 0;
  w->pos++; /* ] */
  if (k > w->max_args) w->max_args = k;
  if (k < w->min_args) w->min_args = k;
  if (k == 0) return w->bad = 1, 0;
  qsort(args, (size_t)k, sizeof *args, cmp_int);
  int sum = 0;
  for (int i = 0; i < k; i++)
    sum += args[i];
  switch (t) {
  case MIN: return args[0];
  case MAX: return args[k - 1];
  case SM: return sum % 10;
  default: /* numpy: median = mean of the middle two, then int() */
    return k % 2 ? args[k / 2] : (int)((args[k / 2 - 1] + args[k / 2]) / 2.0);
  }
}

/* check every example of d against the rules; returns examples checked */
static int64_t check_rules(const eb_dataset *d, int min_len, int max_len, int max_depth,
                           int max_args) {
  int64_t checked = 0, ops[16] = {0};
  for (int sp = 0; sp < 3; sp++) {
    const eb_split_data *s = &d->split[sp];
    for (int64_t i = 0; i < s->n; i++) {
      int n = s->len[i];
      CHECK(n > min_len && n < max_len, "split %d row %lld length %d not in (%d, %d)", sp,
            (long long)i, n, min_len, max_len);
      walk w = {s, i, 0, n, 0, 0, 1 << 30, 0};
      int v = node(&w, 0);
      CHECK(!w.bad && w.pos == n, "split %d row %lld is not one expression", sp,
            (long long)i);
      CHECK(v == s->labels[i], "split %d row %lld: label %d, evaluator says %d", sp,
            (long long)i, s->labels[i], v);
      /* root depth 1; an operator needs depth < max_depth */
      CHECK(w.max_nest <= max_depth - 1, "row %lld nests %d operators (max_depth %d)",
            (long long)i, w.max_nest, max_depth);
      CHECK(w.max_args <= max_args && w.min_args >= 2,
            "row %lld has an operator with %d..%d arguments (max_args %d)", (long long)i,
            w.min_args, w.max_args, max_args);
      for (int t = n; t < s->max_len; t++)
        CHECK(tok(s, i, t) == 0, "row %lld not zero-padded at %d", (long long)i, t);
      for (int t = 0; t < n; t++)
        ops[tok(s, i, t)]++;
      checked++;
    }
  }
  CHECK(ops[0] == 0, "padding inside an expression");
  for (int t = MIN; t <= SM; t++)
    CHECK(ops[t] > 0, "operator id %d never generated", t);
  return checked;
}

static int same_split(const eb_split_data *a, const eb_split_data *b) {
  if (a->n != b->n) return 0;
  for (int64_t i = 0; i < a->n; i++) {
    if (a->len[i] != b->len[i] || a->labels[i] != b->labels[i]) return 0;
    for (int t = 0; t < a->len[i]; t++)
      if (tok(a, i, t) != tok(b, i, t)) return 0;
  }
  return 1;
}

static void set_cache(const char *name) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/%s", tmp_root, name);
  mkdir(dir, 0777);
  setenv("EFFBENCH_CACHE", dir, 1);
}

/* the single cache file in $EFFBENCH_CACHE, read whole */
static char *read_cache(size_t *len) {
  const char *dir = getenv("EFFBENCH_CACHE");
  DIR *dd = opendir(dir);
  char path[1024] = "";
  int files = 0;
  for (struct dirent *e; dd && (e = readdir(dd));)
    if (strstr(e->d_name, ".ebds")) {
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      files++;
    }
  if (dd) closedir(dd);
  CHECK(files == 1, "%d cache files in %s", files, dir);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  rewind(f);
  char *b = malloc(*len);
  if (fread(b, 1, *len, f) != *len) *len = 0;
  fclose(f);
  return b;
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  fputs(text, f);
  fclose(f);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *b = calloc(1, 1 << 16);
  size_t n = fread(b, 1, (1 << 16) - 1, f);
  b[n] = '\0';
  fclose(f);
  return b;
}

static void test_generate_roundtrip(void) {
  set_cache("rt");
  const char *kv[] = {"train=200",   "val=20",      "test=20", "min_len=10",
                      "max_len=200", "max_depth=6", NULL};
  char err[1024] = "";
  eb_dataset *d = open_with(7, kv, err, sizeof err);
  CHECK(d, "open failed: %s", err);
  if (!d) return;
  CHECK(check_rules(d, 10, 200, 6, 10) == 240, "not 240 examples");
  CHECK(!d->split[0].wide, "listops should be stored as uint8");

  /* write -> load gives the same examples */
  char dir[512];
  snprintf(dir, sizeof dir, "%s/rt-out/nested", tmp_root);
  CHECK(eb_task_listops.write(d, dir, err, sizeof err) == 0, "write: %s", err);
  char pathkv[600];
  snprintf(pathkv, sizeof pathkv, "path=%s", dir);
  const char *kv2[] = {pathkv, "max_len=200", NULL};
  eb_dataset *e = open_with(999, kv2, err, sizeof err);
  CHECK(e, "load failed: %s", err);
  for (int s = 0; e && s < 3; s++)
    CHECK(same_split(&d->split[s], &e->split[s]), "split %d differs after round trip", s);
  close_ds(e);

  /* sizes cap the rows taken from files */
  const char *kv3[] = {pathkv, "max_len=200", "train=50", "val=100", NULL};
  e = open_with(0, kv3, err, sizeof err);
  CHECK(e && e->split[0].n == 50 && e->split[1].n == 20, "capped load: %s", err);
  if (e) {
    eb_split_data first = d->split[0];
    first.n = 50;
    CHECK(same_split(&first, &e->split[0]), "capped train is not the first 50 rows");
  }
  close_ds(e);

  /* batches: padding mask, real tokens, labels */
  int B = 4, N = 200;
  int32_t tokens[4 * 200], labels[4];
  uint8_t mask[4 * 200];
  eb_batch b = {B, N, tokens, mask, NULL, NULL, labels, 0};
  CHECK(eb_task_listops.batch(d, EB_SPLIT_TEST, 1, 0, &b, err, sizeof err) == 0,
        "batch: %s", err);
  int64_t real = 0;
  for (int i = 0; i < B; i++) {
    const eb_split_data *s = &d->split[EB_SPLIT_TEST];
    CHECK(labels[i] == s->labels[4 + i], "batch label %d", i);
    for (int t = 0; t < N; t++) {
      CHECK(mask[i * N + t] == (t < s->len[4 + i]), "mask row %d pos %d", i, t);
      CHECK(tokens[i * N + t] == tok(s, 4 + i, t), "token row %d pos %d", i, t);
      real += mask[i * N + t];
    }
  }
  CHECK(b.real_tokens == real, "real_tokens %lld != %lld", (long long)b.real_tokens,
        (long long)real);
  close_ds(d);

  /* other depth / arity settings obey their limits too */
  const char *kv4[] = {"train=300",  "val=10",      "test=10",    "min_len=5",
                       "max_len=60", "max_depth=4", "max_args=3", NULL};
  d = open_with(3, kv4, err, sizeof err);
  CHECK(d, "open small trees: %s", err);
  if (d) check_rules(d, 5, 60, 4, 3);
  close_ds(d);
}

/* no token sequence occurs twice, within or across splits */
static void test_disjoint(void) {
  set_cache("disjoint");
  const char *kv[] = {"train=2000", "val=300",    "test=300",
                      "min_len=4",  "max_len=12", NULL};
  char err[1024] = "";
  eb_dataset *d = open_with(11, kv, err, sizeof err);
  CHECK(d, "open failed: %s", err);
  if (!d) return;
  int64_t total = 2600, cap = 8192, dups = 0;
  uint64_t *seen = calloc((size_t)cap, sizeof *seen);
  for (int sp = 0; sp < 3; sp++)
    for (int64_t i = 0; i < d->split[sp].n; i++) {
      uint64_t h = 1469598103934665603ull;
      for (int t = 0; t < d->split[sp].len[i]; t++)
        h = (h ^ (uint64_t)tok(&d->split[sp], i, t)) * 1099511628211ull;
      h |= 1;
      int64_t p = (int64_t)(h % (uint64_t)cap);
      while (seen[p] && seen[p] != h)
        p = (p + 1) % cap;
      dups += seen[p] == h;
      seen[p] = h;
    }
  CHECK(dups == 0, "%lld repeated expressions among %lld", (long long)dups,
        (long long)total);
  free(seen);
  close_ds(d);
}

static void test_determinism_and_cache(void) {
  const char *kv[] = {"train=300",  "val=30",      "test=30",
                      "min_len=20", "max_len=150", NULL};
  char err[1024] = "";
  size_t la = 0, lb = 0, lc = 0;
  set_cache("detA");
  eb_dataset *a = open_with(5, kv, err, sizeof err);
  CHECK(a && !a->map, "first open should generate: %s", err);
  char *ca = read_cache(&la);
  set_cache("detB");
  eb_dataset *b = open_with(5, kv, err, sizeof err);
  char *cb = read_cache(&lb);
  CHECK(ca && cb && la == lb && la > 0 && memcmp(ca, cb, la) == 0,
        "same seed, different cache bytes (%zu vs %zu)", la, lb);
  set_cache("detC");
  eb_dataset *c = open_with(6, kv, err, sizeof err);
  char *cc = read_cache(&lc);
  CHECK(cc && !(lc == la && memcmp(ca, cc, la) == 0),
        "seeds 5 and 6 give the same bytes");
  CHECK(c && !same_split(&a->split[0], &c->split[0]),
        "seeds 5 and 6 give the same train");

  /* the second open maps the cache and sees the same data */
  set_cache("detA");
  eb_dataset *a2 = open_with(5, kv, err, sizeof err);
  CHECK(a2 && a2->map, "second open should map the cache: %s", err);
  for (int s = 0; a && a2 && s < 3; s++)
    CHECK(same_split(&a->split[s], &a2->split[s]), "cached split %d differs", s);

  /* a damaged cache is regenerated, not an error */
  close_ds(a2);
  DIR *dd = opendir(getenv("EFFBENCH_CACHE"));
  for (struct dirent *e; dd && (e = readdir(dd));)
    if (strstr(e->d_name, ".ebds")) {
      char path[1024];
      snprintf(path, sizeof path, "%s/%s", getenv("EFFBENCH_CACHE"), e->d_name);
      FILE *f = fopen(path, "r+b");
      fputs("garbage!", f);
      fclose(f);
    }
  if (dd) closedir(dd);
  a2 = open_with(5, kv, err, sizeof err);
  CHECK(a2 && a && same_split(&a->split[0], &a2->split[0]), "damaged cache: %s", err);

  /* test and val do not depend on the train size; a smaller train is a prefix */
  const char *kvsmall[] = {"train=100",  "val=30",      "test=30",
                           "min_len=20", "max_len=150", NULL};
  eb_dataset *s = open_with(5, kvsmall, err, sizeof err);
  CHECK(s && a && same_split(&s->split[1], &a->split[1]) &&
            same_split(&s->split[2], &a->split[2]),
        "val/test change with the train size");
  if (s && a) {
    eb_split_data pre = a->split[0];
    pre.n = 100;
    CHECK(same_split(&pre, &s->split[0]), "train=100 is not a prefix of train=300");
  }
  close_ds(s);
  close_ds(a);
  close_ds(a2);
  close_ds(b);
  close_ds(c);
  free(ca);
  free(cb);
  free(cc);
}

static void golden_dir(char *buf, size_t len) {
  snprintf(buf, len, "%s", __FILE__);
  char *slash = strrchr(buf, '/');
  if (slash)
    snprintf(slash, len - (size_t)(slash - buf), "/data/listops");
  else
    snprintf(buf, len, "tests/data/listops");
}

static void test_golden(void) {
  char dir[1024], err[1024] = "", pathkv[1100];
  golden_dir(dir, sizeof dir);
  snprintf(pathkv, sizeof pathkv, "path=%s", dir);
  const char *kv[] = {pathkv, NULL};
  eb_dataset *d = open_with(0, kv, err, sizeof err);
  CHECK(d, "golden files do not load: %s", err);
  if (!d) return;
  /* labels worked out by hand (MED of 1 7 2 8 = int(4.5) = 4) */
  static const int want_train[] = {9, 2, 4, 1, 4}, want_val[] = {3, 3},
                   want_test[] = {4, 7};
  static const int len_train[] = {4, 4, 6, 5, 7};
  CHECK(d->split[0].n == 5 && d->split[1].n == 2 && d->split[2].n == 2, "golden sizes");
  for (int i = 0; i < 5 && i < d->split[0].n; i++) {
    CHECK(d->split[0].labels[i] == want_train[i], "train row %d label %d", i,
          d->split[0].labels[i]);
    CHECK(d->split[0].len[i] == len_train[i], "train row %d length %d", i,
          d->split[0].len[i]);
  }
  for (int i = 0; i < 2; i++) {
    CHECK(d->split[1].labels[i] == want_val[i], "val row %d", i);
    CHECK(d->split[2].labels[i] == want_test[i], "test row %d", i);
  }
  /* "( ( ( [MAX 2 ) 9 ) ] )" is [MAX 2 9 ] */
  static const int first[] = {MAX, D0 + 2, D0 + 9, END};
  for (int t = 0; t < 4; t++)
    CHECK(tok(&d->split[0], 0, t) == first[t], "train row 0 token %d", t);
  CHECK(d->split[2].len[1] == 1 && tok(&d->split[2], 1, 0) == D0 + 7, "lone digit");
  check_rules(d, 0, 2000, 10, 10);

  /* write() reproduces the hand-written official text byte for byte */
  char out[512];
  snprintf(out, sizeof out, "%s/golden-out", tmp_root);
  CHECK(eb_task_listops.write(d, out, err, sizeof err) == 0, "write: %s", err);
  static const char *names[] = {"basic_train.tsv", "basic_val.tsv"};
  for (int i = 0; i < 2; i++) {
    char p1[1200], p2[1200];
    snprintf(p1, sizeof p1, "%s/%s", dir, names[i]);
    snprintf(p2, sizeof p2, "%s/%s", out, names[i]);
    char *a = slurp(p1), *b = slurp(p2);
    CHECK(a && b && strcmp(a, b) == 0, "%s written differently:\n%s\nvs golden\n%s",
          names[i], b ? b : "(none)", a ? a : "(none)");
    free(a);
    free(b);
  }
  close_ds(d);
}

/* expect opening DIR (with train file `train`) to fail with `want` in err */
static void expect_bad(const char *name, const char *train, const char *want,
                       const char *extra) {
  char dir[512], pathkv[600], err[1024] = "";
  snprintf(dir, sizeof dir, "%s/bad-%s", tmp_root, name);
  mkdir(dir, 0777);
  const char *good = "Source\tTarget\n( ( ( [MAX 2 ) 9 ) ] )\t9\n";
  if (train) write_file(dir, "basic_train.tsv", train);
  write_file(dir, "basic_val.tsv", good);
  write_file(dir, "basic_test.tsv", good);
  snprintf(pathkv, sizeof pathkv, "path=%s", dir);
  const char *kv[] = {pathkv, "max_len=20", extra, NULL};
  eb_dataset *d = open_with(0, kv, err, sizeof err);
  char full[700];
  snprintf(full, sizeof full, "%s/%s", dir, want);
  CHECK(!d, "%s: loaded", name);
  CHECK(strstr(err, full) != NULL, "%s: error '%s' lacks '%s'", name, err, full);
  close_ds(d);
}

static void test_malformed(void) {
  const char *h = "Source\tTarget\n", *ok = "( ( ( [MAX 2 ) 9 ) ] )\t9\n";
  char t[4096];
#define BAD(name, want, ...)                                                             \
  do {                                                                                   \
    snprintf(t, sizeof t, __VA_ARGS__);                                                  \
    expect_bad(name, t, want, NULL);                                                     \
  } while (0)
  BAD("truncated", "basic_train.tsv:3: line has no end", "%s%s( ( ( [MIN 2 ) ", h, ok);
  BAD("cut-after-tab", "basic_train.tsv:3: line has no end",
      "%s%s( ( ( [MIN 2 ) 3 ) ] )\t", h, ok);
  BAD("no-tab", "basic_train.tsv:2: expected 'Source<TAB>Target', found no tab",
      "%s( ( ( [MAX 2 ) 9 ) ] ) 9\n", h);
  BAD("three-fields", "basic_train.tsv:3: expected 2 tab-separated fields", "%s%s%s\t1\n",
      h, ok, "( ( ( [MAX 2 ) 9 ) ] )\t9");
  BAD("header", "basic_train.tsv:1: expected the header", "Input\tLabel\n%s", ok);
  BAD("empty", "basic_train.tsv:1: empty file", "%s", "");
  BAD("label11", "basic_train.tsv:3: label '11' is not an integer 0-9",
      "%s%s( ( ( [MAX 2 ) 9 ) ] )\t11\n", h, ok);
  BAD("labelx", "basic_train.tsv:2: label 'x' is not an integer 0-9",
      "%s( ( ( [MAX 2 ) 9 ) ] )\tx\n", h);
  BAD("label-empty", "basic_train.tsv:2: label '' is not", "%s( ( ( [MAX 2 ) 9 ) ] )\t\n",
      h);
  BAD("token", "basic_train.tsv:4: unknown token '[FIRST'",
      "%s%s%s( ( ( [FIRST 2 ) 9 ) ] )\t2\n", h, ok, ok);
  BAD("token10", "basic_train.tsv:2: unknown token '10'",
      "%s( ( ( [MAX 10 ) 9 ) ] )\t9\n", h);
  BAD("unclosed", "basic_train.tsv:2: malformed expression: an operator without its",
      "%s( ( [MAX 2 ) 9 )\t9\n", h);
  BAD("extra-close", "basic_train.tsv:2: malformed expression",
      "%s( ( ( [MAX 2 ) 9 ) ] ) ]\t9\n", h);
  BAD("no-args", "basic_train.tsv:2: malformed expression: an operator without arguments",
      "%s( [SM ] )\t0\n", h);
  BAD("two-exprs", "basic_train.tsv:2: malformed expression: tokens after the end",
      "%s3 4\t3\n", h);
  BAD("empty-expr", "basic_train.tsv:2: malformed expression: an empty expression",
      "%s( )\t3\n", h);
  BAD("mismatch", "basic_train.tsv:3: label 4 differs from the expression's value 9",
      "%s%s( ( ( [MAX 2 ) 9 ) ] )\t4\n", h, ok);
  BAD("blank-line", "basic_train.tsv:3: expected 'Source<TAB>Target'", "%s%s\n%s", h, ok,
      ok);
  BAD("header-only", "basic_train.tsv: no examples after the header", "%s", h);
  BAD("too-long", "basic_train.tsv:2: expression longer than max_len (20 tokens)",
      "%s[SM 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 ]\t1\n", h);
#undef BAD
  expect_bad("missing", NULL, "basic_train.tsv: cannot open", NULL);
  /* verify=false accepts a label that disagrees, but not a bad one */
  char dir[512], pathkv[600], err[1024] = "";
  snprintf(dir, sizeof dir, "%s/bad-mismatch", tmp_root);
  snprintf(pathkv, sizeof pathkv, "path=%s", dir);
  const char *kv[] = {pathkv, "verify=false", NULL};
  eb_dataset *d = open_with(0, kv, err, sizeof err);
  CHECK(d && d->split[0].labels[1] == 4, "verify=false: %s", err);
  close_ds(d);
  snprintf(t, sizeof t, "%s( ( ( [MAX 2 ) 9 ) ] )\t12\n", h);
  expect_bad("label12-noverify", t, "basic_train.tsv:2: label '12'", "verify=false");
}

static void expect_param_error(const char *const *kv, const char *want) {
  char err[1024] = "";
  eb_dataset *d = open_with(0, kv, err, sizeof err);
  CHECK(!d, "parameters accepted, expected '%s'", want);
  CHECK(strstr(err, "task 'listops'") && strstr(err, want), "error '%s' lacks '%s'", err,
        want);
  close_ds(d);
}

static void test_params(void) {
  set_cache("params");
  const char *a[] = {"min_len=300", "max_len=200", NULL};
  expect_param_error(a, "min_len (300)");
  const char *b[] = {"min_len=199", "max_len=200", NULL};
  expect_param_error(b, "min_len (199)");
  const char *c[] = {"max_args=1", NULL};
  expect_param_error(c, "max_args must be in [2,");
  const char *e[] = {"max_depth=1", NULL};
  expect_param_error(e, "max_depth must be in [2, 64]");
  const char *f[] = {"train=0", NULL};
  expect_param_error(f, "train must be in [1,");
  const char *g[] = {"max_len=1", NULL};
  expect_param_error(g, "max_len must be in [2,");
  const char *i[] = {"max_depth=3", "max_args=4", "min_len=100", "max_len=200", NULL};
  expect_param_error(i, "no expression is longer than min_len 100 (the longest has 26");
  const char *j[] = {"max_len=abc", NULL};
  expect_param_error(j, "'max_len'");
  /* only 4 * 10^2 distinct expressions of length 4: asking for more is an error */
  const char *k[] = {"min_len=3", "max_len=5", "train=500", "val=1", "test=1", NULL};
  expect_param_error(k, "found only 400 of 502 distinct expressions");
}

int main(void) {
  snprintf(tmp_root, sizeof tmp_root, "/tmp/eb-listops-XXXXXX");
  if (!mkdtemp(tmp_root)) {
    perror("mkdtemp");
    return 1;
  }
  test_generate_roundtrip();
  test_disjoint();
  test_determinism_and_cache();
  test_golden();
  test_malformed();
  test_params();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
  return eb_test_done("listops");
}
