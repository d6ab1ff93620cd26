/* Synthetic probes mqar and selective_copy: every label re-derived from the
 * tokens alone, the layout rules, determinism by seed, batches, and parameter
 * errors naming the task and parameter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "args.h"
#include "effbench/plugin.h"
#include "dataset.h"

extern const eb_task eb_task_mqar, eb_task_selective_copy;

static eb_dataset *open_with(const eb_task *t, uint64_t seed, const char *const *kv,
                             eb_task_info *info, char *err, size_t errlen) {
  const char *keys[16], *vals[16];
  char buf[16][128];
  int n = 0;
  for (; kv && kv[n]; n++) {
    snprintf(buf[n], sizeof buf[n], "%s", kv[n]);
    char *eq = strchr(buf[n], '=');
    *eq = '\0';
    keys[n] = buf[n];
    vals[n] = eq + 1;
  }
  char owner[64];
  snprintf(owner, sizeof owner, "task '%s'", t->name);
  eb_argset as = {0};
  if (eb_argset_resolve(&as, owner, t->params, n, keys, vals, err, errlen)) return NULL;
  void *data = NULL;
  int rc = t->open(&as.args, seed, &data, info, err, errlen);
  eb_argset_free(&as);
  return rc ? NULL : data;
}

static int tok(const eb_split_data *s, int64_t i, int t) {
  return eb_split_token(s, i, t, 0);
}

static int same(const eb_dataset *a, const eb_dataset *b) {
  for (int s = 0; s < 3; s++) {
    const eb_split_data *x = &a->split[s], *y = &b->split[s];
    if (x->n != y->n) return 0;
    for (int64_t i = 0; i < x->n; i++) {
      if (x->labels[i] != y->labels[i] || x->len[i] != y->len[i]) return 0;
      for (int t = 0; t < x->max_len; t++)
        if (tok(x, i, t) != tok(y, i, t)) return 0;
    }
  }
  return 1;
}

/* label of an mqar row from its tokens: find the queried key among the pairs */
static void check_mqar(const eb_dataset *d, int len, int vocab, int pairs) {
  int K = (vocab - 3) / 2, V = vocab - 3 - K, key0 = 3, val0 = 3 + K;
  CHECK(d->info.classes == V && d->info.vocab == vocab && d->info.max_len == len,
        "mqar info: classes %d vocab %d len %d", d->info.classes, d->info.vocab,
        d->info.max_len);
  int64_t hist[4096] = {0}, total = 0;
  for (int sp = 0; sp < 3; sp++) {
    const eb_split_data *s = &d->split[sp];
    for (int64_t i = 0; i < s->n; i++) {
      CHECK(s->len[i] == len, "mqar row %lld length %d", (long long)i, s->len[i]);
      int q = tok(s, i, len - 1), found = -1, dup = 0;
      CHECK(tok(s, i, len - 2) == 2, "mqar row %lld: no query marker", (long long)i);
      CHECK(q >= key0 && q < val0, "mqar row %lld: query %d is not a key", (long long)i,
            q);
      for (int p = 0; p < pairs; p++) {
        int k = tok(s, i, 2 * p), v = tok(s, i, 2 * p + 1);
        CHECK(k >= key0 && k < val0 && v >= val0 && v < vocab,
              "mqar row %lld pair %d: %d %d", (long long)i, p, k, v);
        for (int p2 = 0; p2 < p; p2++)
          dup += tok(s, i, 2 * p2) == k;
        if (k == q) found = v - val0;
      }
      for (int t = 2 * pairs; t < len - 2; t++)
        CHECK(tok(s, i, t) == 1, "mqar row %lld pos %d is not filler", (long long)i, t);
      CHECK(!dup, "mqar row %lld repeats a key", (long long)i);
      CHECK(found >= 0 && found == s->labels[i], "mqar row %lld: label %d, tokens say %d",
            (long long)i, s->labels[i], found);
      if (found >= 0 && found < 4096) hist[found]++;
      total++;
    }
  }
  for (int c = 0; total >= 30 * V && c < V && c < 4096; c++) /* every class occurs */
    CHECK(hist[c] > total / V / 3, "mqar class %d only %lld of %lld", c,
          (long long)hist[c], (long long)total);
}

/* label of a selective_copy row from its tokens: the j-th data token */
static void check_sc(const eb_dataset *d, int len, int vocab, int T) {
  int data0 = T + 2, D = vocab - T - 2;
  CHECK(d->info.classes == D && d->info.vocab == vocab && d->info.max_len == len,
        "selective_copy info: classes %d vocab %d len %d", d->info.classes, d->info.vocab,
        d->info.max_len);
  int64_t first_pos = 0, rows = 0, qhist[64] = {0};
  for (int sp = 0; sp < 3; sp++) {
    const eb_split_data *s = &d->split[sp];
    for (int64_t i = 0; i < s->n; i++) {
      int j = tok(s, i, len - 1) - 1, seen = 0, want = -1;
      CHECK(j >= 1 && j <= T, "selective_copy row %lld: query %d", (long long)i, j);
      if (j >= 1 && j < 64) qhist[j]++;
      for (int t = 0; t < len - 1; t++) {
        int x = tok(s, i, t);
        CHECK(x == 1 || (x >= data0 && x < vocab), "row %lld pos %d: token %d",
              (long long)i, t, x);
        if (x >= data0) {
          if (!seen) first_pos += t;
          if (++seen == j) want = x - data0;
        }
      }
      CHECK(seen == T, "selective_copy row %lld has %d data tokens", (long long)i, seen);
      CHECK(want == s->labels[i], "selective_copy row %lld: label %d, tokens say %d",
            (long long)i, s->labels[i], want);
      rows++;
    }
  }
  for (int j = 1; j <= T && j < 64; j++)
    CHECK(qhist[j] > rows / T / 3, "query Q%d only %lld times", j, (long long)qhist[j]);
  /* positions are spread over the body, not packed at the start */
  double mean_first = (double)first_pos / (double)rows;
  CHECK(2 * T > len - 1 || mean_first > 0.5 * (len - 1) / (T + 1),
        "first data token at %.1f on average", mean_first);
}

static void test_task(const eb_task *t, const char *const *kv, int len, int vocab,
                      int k) {
  eb_task_info info;
  char err[512] = "";
  eb_dataset *a = open_with(t, 1, kv, &info, err, sizeof err);
  CHECK(a, "%s: %s", t->name, err);
  if (!a) return;
  eb_dataset *b = open_with(t, 1, kv, &info, err, sizeof err);
  eb_dataset *c = open_with(t, 2, kv, &info, err, sizeof err);
  CHECK(b && same(a, b), "%s: seed 1 twice differs", t->name);
  CHECK(c && !same(a, c), "%s: seeds 1 and 2 agree", t->name);
  if (t == &eb_task_mqar)
    check_mqar(a, len, vocab, k);
  else
    check_sc(a, len, vocab, k);
  CHECK(a->split[0].wide == (vocab > 256), "%s: storage width", t->name);
  /* batches: no padding, every token real */
  int B = 3;
  int32_t *tokens = malloc(sizeof(int32_t) * (size_t)(B * len)), labels[3];
  uint8_t *mask = malloc((size_t)(B * len));
  eb_batch batch = {B, len, tokens, mask, NULL, NULL, labels, 0};
  CHECK(t->batch(a, EB_SPLIT_VAL, 2, 0, &batch, err, sizeof err) == 0, "%s batch: %s",
        t->name, err);
  CHECK(batch.real_tokens == (int64_t)B * len, "%s: real tokens %lld", t->name,
        (long long)batch.real_tokens);
  for (int i = 0; i < B; i++)
    CHECK(labels[i] == a->split[1].labels[6 + i], "%s: batch label %d", t->name, i);
  CHECK(t->batch(a, EB_SPLIT_TRAIN, 0, 7, &batch, err, sizeof err) == 0, "%s train: %s",
        t->name, err);
  free(tokens);
  free(mask);
  t->close(a);
  if (b) t->close(b);
  if (c) t->close(c);
}

static void expect_error(const eb_task *t, const char *const *kv, const char *want) {
  eb_task_info info;
  char err[512] = "";
  eb_dataset *d = open_with(t, 0, kv, &info, err, sizeof err);
  CHECK(!d, "%s: accepted, expected '%s'", t->name, want);
  char owner[64];
  snprintf(owner, sizeof owner, "task '%s'", t->name);
  CHECK(strstr(err, owner) && strstr(err, want), "error '%s' lacks '%s'", err, want);
  if (d) t->close(d);
}

int main(void) {
  const char *mq_def[] = {"train=2000", "val=200", "test=200", NULL};
  test_task(&eb_task_mqar, mq_def, 64, 64, 8);
  const char *mq_big[] = {"len=300", "vocab=1000", "pairs=100", "train=200",
                          "val=20",  "test=20",    NULL};
  test_task(&eb_task_mqar, mq_big, 300, 1000, 100);
  const char *mq_tight[] = {"len=6", "vocab=7", "pairs=2", "train=300", NULL};
  test_task(&eb_task_mqar, mq_tight, 6, 7, 2);

  const char *sc_def[] = {"train=2000", "val=200", "test=200", NULL};
  test_task(&eb_task_selective_copy, sc_def, 64, 16, 4);
  const char *sc_big[] = {"len=512", "vocab=300", "tokens=16", "train=300",
                          "val=20",  "test=20",   NULL};
  test_task(&eb_task_selective_copy, sc_big, 512, 300, 16);
  const char *sc_full[] = {"len=5", "vocab=8", "tokens=4", "train=300", NULL};
  test_task(&eb_task_selective_copy, sc_full, 5, 8, 4);

  const char *e1[] = {"pairs=40", NULL};
  expect_error(&eb_task_mqar, e1, "pairs must be in [1, 30]");
  const char *e2[] = {"pairs=8", "len=17", NULL};
  expect_error(&eb_task_mqar, e2, "len must be in [2 * pairs + 2 = 18");
  const char *e3[] = {"vocab=6", NULL};
  expect_error(&eb_task_mqar, e3, "vocab must be in [7, 65536]");
  const char *e4[] = {"test=0", NULL};
  expect_error(&eb_task_mqar, e4, "test must be in [1,");
  const char *e5[] = {"tokens=64", NULL};
  expect_error(&eb_task_selective_copy, e5, "tokens must be in [1, len - 1 = 63]");
  const char *e6[] = {"tokens=13", NULL};
  expect_error(&eb_task_selective_copy, e6, "vocab must be in [tokens + 4 = 17");
  const char *e7[] = {"len=1", NULL};
  expect_error(&eb_task_selective_copy, e7, "len must be in [2,");
  const char *e8[] = {"train=-5", NULL};
  expect_error(&eb_task_selective_copy, e8, "train must be in [1,");
  return eb_test_done("probes");
}
