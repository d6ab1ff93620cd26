/* retrieval task: pair data (tokens2/mask2); generator -> new_aan_pairs TSVs
 * -> loader round trip; labels by construction (related pairs share topic
 * words); golden TSVs in tests/data/retrieval; malformed lines refused with
 * FILE:LINE and no crash; determinism by seed; disjoint splits; batches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "files.h"
#include "dataset.h"
#include "check.h"
#include "args.h"

extern const eb_task eb_task_retrieval;
int eb_retrieval_topic_oracle(const unsigned char *s, int n, int topics);

static char tmp[256], golden[1024];

static int open_retr(const char *const *kv, int n, uint64_t seed, eb_dataset **d,
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
  if (eb_argset_resolve(&as, "task 'retrieval'", eb_task_retrieval.params, n, k, v, err,
                        errlen))
    return -1;
  eb_task_info info;
  void *data = NULL;
  int rc = eb_task_retrieval.open(&as.args, seed, &data, &info, err, errlen);
  eb_argset_free(&as);
  *d = data;
  if (!rc)
    CHECK(info.vocab == 257 && info.classes == 2 && info.mode == EB_INPUT_PAIR,
          "info: vocab %d classes %d mode %d", info.vocab, info.classes, (int)info.mode);
  return rc;
}

static int same_split(const eb_split_data *a, const eb_split_data *b) {
  if (a->n != b->n || !a->pair || !b->pair) return 0;
  for (int64_t i = 0; i < a->n; i++) {
    if (a->len[i] != b->len[i] || a->len2[i] != b->len2[i] ||
        a->labels[i] != b->labels[i])
      return 0;
    for (int t = 0; t < a->max_len; t++)
      if (eb_split_token(a, i, t, 0) != eb_split_token(b, i, t, 0) ||
          eb_split_token(a, i, t, 1) != eb_split_token(b, i, t, 1))
        return 0;
  }
  return 1;
}

static int row_bytes(const eb_split_data *s, int64_t i, int second, unsigned char *buf) {
  int n = second ? s->len2[i] : s->len[i];
  for (int t = 0; t < n; t++)
    buf[t] = (unsigned char)(eb_split_token(s, i, t, second) - 1);
  buf[n] = '\0';
  return n;
}

/* Labels by construction: a pair is related exactly when both documents have
 * the same majority topic; labels balanced; documents valid UTF-8; splits
 * disjoint. */
static void test_generator(void) {
  char err[EB_ERR_LEN];
  const char *kv[] = {"train=300", "val=20", "test=20", "max_len=600"};
  eb_dataset *d;
  if (open_retr(kv, 4, 5, &d, err, sizeof err)) {
    CHECK(0, "open: %s", err);
    return;
  }
  const eb_split_data *s = &d->split[0];
  static unsigned char a[700], b[700];
  int ones = 0, bad = 0, wrong = 0;
  for (int64_t i = 0; i < s->n; i++) {
    int na = row_bytes(s, i, 0, a), nb = row_bytes(s, i, 1, b);
    bad += eb_utf8_invalid(a, (size_t)na) >= 0 || eb_utf8_invalid(b, (size_t)nb) >= 0 ||
           na < 200 || nb < 200;
    int ta = eb_retrieval_topic_oracle(a, na, 32),
        tb = eb_retrieval_topic_oracle(b, nb, 32);
    wrong += ta < 0 || tb < 0 || (ta == tb) != s->labels[i];
    ones += s->labels[i];
  }
  CHECK(wrong == 0, "%d of %lld labels disagree with the documents' topics", wrong,
        (long long)s->n);
  CHECK(ones > 110 && ones < 190, "%d of 300 labels are 1 (not balanced)", ones);
  CHECK(bad == 0, "%d pairs with invalid UTF-8 or too short documents", bad);
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
  CHECK(dup == 0, "%d val/test documents repeat train ones", dup);
  eb_task_retrieval.close(d);
}

static void test_roundtrip_and_determinism(void) {
  char err[EB_ERR_LEN], out[512], kv[600];
  snprintf(out, sizeof out, "%s/rt", tmp);
  snprintf(kv, sizeof kv, "path=%s", out);
  const char *gen[] = {"train=20", "val=5", "test=6", "max_len=160", "topics=4"};
  const char *load[] = {kv, "max_len=160"};
  eb_dataset *a, *b, *c;
  if (open_retr(gen, 5, 2, &a, err, sizeof err)) {
    CHECK(0, "open: %s", err);
    return;
  }
  CHECK(eb_task_retrieval.write(a, out, err, sizeof err) == 0, "write: %s", err);
  if (open_retr(load, 2, 0, &b, err, sizeof err) == 0) {
    for (int k = 0; k < 3; k++)
      CHECK(same_split(&a->split[k], &b->split[k]), "split %d differs after write/load",
            k);
    eb_task_retrieval.close(b);
  } else
    CHECK(0, "load: %s", err);
  CHECK(eb_task_retrieval.write(a, out, err, sizeof err) != 0 && strstr(err, "not empty"),
        "second write: %s", err);
  /* same seed, same data, from a fresh cache */
  char c2[300];
  snprintf(c2, sizeof c2, "%s/cache2", tmp);
  setenv("EFFBENCH_CACHE", c2, 1);
  if (open_retr(gen, 5, 2, &c, err, sizeof err) == 0) {
    CHECK(c->map == NULL, "expected a fresh generation");
    for (int k = 0; k < 3; k++)
      CHECK(same_split(&a->split[k], &c->split[k]), "seed 2 gave different split %d", k);
    eb_task_retrieval.close(c);
  }
  if (open_retr(gen, 5, 3, &c, err, sizeof err) == 0) {
    CHECK(!same_split(&a->split[0], &c->split[0]), "seeds 2 and 3 gave the same data");
    eb_task_retrieval.close(c);
  }
  setenv("EFFBENCH_CACHE", tmp, 1);
  eb_task_retrieval.close(a);
}

static void expect_pair(const eb_split_data *s, int64_t i, const char *t1, const char *t2,
                        int label) {
  unsigned char a[256], b[256];
  row_bytes(s, i, 0, a);
  row_bytes(s, i, 1, b);
  CHECK(!strcmp((char *)a, t1) && !strcmp((char *)b, t2) && s->labels[i] == label,
        "pair %lld: '%s' / '%s' label %d, expected '%s' / '%s' label %d", (long long)i, a,
        b, s->labels[i], t1, t2, label);
}

static void test_golden(void) {
  char err[EB_ERR_LEN], kv[1200];
  snprintf(kv, sizeof kv, "path=%s", golden);
  const char *a[] = {kv, "max_len=64"};
  eb_dataset *d;
  if (open_retr(a, 2, 0, &d, err, sizeof err)) {
    CHECK(0, "golden: %s", err);
    return;
  }
  CHECK(d->split[0].n == 3 && d->split[1].n == 1 && d->split[2].n == 2,
        "sizes %lld/%lld/%lld", (long long)d->split[0].n, (long long)d->split[1].n,
        (long long)d->split[2].n);
  expect_pair(&d->split[0], 0, "We present a parser for dependency trees.",
              "Dependency parsing with trees.", 1);
  expect_pair(&d->split[0], 1, "Statistical machine translation.",
              "A study of bird song.", 0);
  expect_pair(&d->split[0], 2, "Caf\xc3\xa9 corpus of reviews.",
              "Review corpora and caf\xc3\xa9s.", 1);
  expect_pair(&d->split[1], 0, "Speech recognition.", "Graph theory.", 0);
  expect_pair(&d->split[2], 1, "Morphology.", "Topic models", 0); /* no final newline */
  eb_task_retrieval.close(d);
  /* batches carry both sequences and their masks */
  if (open_retr(a, 2, 0, &d, err, sizeof err) == 0) {
    int32_t t1[4 * 64], t2[4 * 64], lab[4];
    uint8_t m1[4 * 64], m2[4 * 64];
    eb_batch b = {.B = 4,
                  .N = 64,
                  .tokens = t1,
                  .mask = m1,
                  .tokens2 = t2,
                  .mask2 = m2,
                  .labels = lab};
    CHECK(eb_task_retrieval.batch(d, EB_SPLIT_TEST, 0, 0, &b, err, sizeof err) == 0, "%s",
          err);
    int64_t real = 0;
    int ok = 1;
    for (int i = 0; i < 4 * 64; i++) {
      real += m1[i] + m2[i];
      ok &= (m1[i] ? t1[i] > 0 : t1[i] == 0) && (m2[i] ? t2[i] > 0 : t2[i] == 0);
    }
    CHECK(ok, "tokens and masks disagree");
    CHECK(real == b.real_tokens, "real tokens %lld vs %lld", (long long)real,
          (long long)b.real_tokens);
    CHECK(lab[0] == 1 && lab[1] == 0 && lab[2] == 1 && lab[3] == 0,
          "test labels %d %d %d %d (wrapping)", lab[0], lab[1], lab[2], lab[3]);
    CHECK(t1[0] == 'N' + 1 && t2[0] == 'E' + 1, "first tokens %d %d", t1[0], t2[0]);
    eb_task_retrieval.close(d);
  }
}

static void put(const char *path, const char *bytes, size_t n) {
  char err[EB_ERR_LEN];
  CHECK(eb_write_file(path, bytes, n, err, sizeof err) == 0, "%s", err);
}

#define GOOD "1\ta\tb\tsome text\tother text\n"
/* a folder whose eval file is `content` must be refused with FILE:`want` */
static void bad_eval(const char *name, const char *content, size_t n, const char *want) {
  char dir[512], p[700], err[EB_ERR_LEN] = "", kv[600];
  snprintf(dir, sizeof dir, "%s/%s", tmp, name);
  CHECK(eb_mkdirs(dir, err, sizeof err) == 0, "%s", err);
  snprintf(p, sizeof p, "%s/new_aan_pairs.train.tsv", dir);
  put(p, GOOD GOOD, sizeof(GOOD GOOD) - 1);
  snprintf(p, sizeof p, "%s/new_aan_pairs.test.tsv", dir);
  put(p, GOOD, sizeof GOOD - 1);
  snprintf(p, sizeof p, "%s/new_aan_pairs.eval.tsv", dir);
  put(p, content, n);
  snprintf(kv, sizeof kv, "path=%s", dir);
  const char *a[] = {kv};
  eb_dataset *d = NULL;
  int rc = open_retr(a, 1, 0, &d, err, sizeof err);
  char where[800];
  snprintf(where, sizeof where, "%s:%s", p, want);
  CHECK(rc != 0 && strstr(err, where), "%s: expected '%s', got rc %d '%s'", name, where,
        rc, err);
  if (!rc) eb_task_retrieval.close(d);
}

static void test_malformed(void) {
#define S(x) x, sizeof(x) - 1
  bad_eval("few", S(GOOD "1\ta\tb\tonly one text\n"), "2: expected 5 tab-separated");
  bad_eval("trunc", S(GOOD "0\ta\tb"),
           "2: expected 5 tab-separated fields (label, id1, "
           "id2, text1, text2), found 3");
  bad_eval("many", S("1\ta\tb\tx\ty\tz\n"), "1: expected 5 tab-separated");
  bad_eval("label2", S(GOOD "2\ta\tb\tx\ty\n"), "2: bad label '2'");
  bad_eval("labelyes", S("yes\ta\tb\tx\ty\n"), "1: bad label 'yes'");
  bad_eval("label05", S("0.5\ta\tb\tx\ty\n"), "1: bad label '0.5'");
  bad_eval("header", S("label\tid1\tid2\ttext1\ttext2\n" GOOD), "1: bad label 'label'");
  bad_eval("emptyline", S(GOOD "\n" GOOD), "2: expected 5 tab-separated");
  bad_eval("emptytext", S(GOOD GOOD "1\ta\tb\t\ty\n"), "3: empty text1");
  bad_eval("emptyid", S("1\t\tb\tx\ty\n"), "1: empty id1");
  bad_eval("utf8", S(GOOD "1\ta\tb\tok\tbad \xe2\x28\xa1\n"), "2:14: invalid UTF-8");
  bad_eval("overlong", S("1\ta\tb\t\xc0\xaf\ty\n"), "1:7: invalid UTF-8");
  bad_eval("cututf8", S("1\ta\tb\tx\tend \xf0\x9f\x98"), "1:13: invalid UTF-8");
  bad_eval("empty", S(""), " empty file");
  /* missing file */
  char dir[512], p[700], err[EB_ERR_LEN], kv[600];
  snprintf(dir, sizeof dir, "%s/few", tmp);
  snprintf(p, sizeof p, "%s/new_aan_pairs.eval.tsv", dir);
  unlink(p);
  snprintf(kv, sizeof kv, "path=%s", dir);
  const char *a[] = {kv};
  eb_dataset *d;
  int rc = open_retr(a, 1, 0, &d, err, sizeof err);
  CHECK(rc != 0 && strstr(err, p), "missing eval file: '%s'", err);
  /* last line without a newline, CRLF line ends, float labels: fine */
  put(p, S("1.0\ta\tb\tx\ty\r\n0.0\tc\td\tz\tw"));
  rc = open_retr(a, 1, 0, &d, err, sizeof err);
  CHECK(rc == 0, "good eval file refused: %s", err);
  if (!rc) {
    CHECK(d->split[1].n == 2 && d->split[1].labels[0] == 1 &&
              d->split[1].labels[1] == 0 && d->split[1].len2[0] == 1,
          "eval split read wrong");
    eb_task_retrieval.close(d);
  }
  const char *none[] = {"path=/nonexistent/aan"};
  rc = open_retr(none, 1, 0, &d, err, sizeof err);
  CHECK(rc != 0 && strstr(err, "/nonexistent/aan"), "missing dir: '%s'", err);
#undef S
}

int main(void) {
  snprintf(tmp, sizeof tmp, "/tmp/eb_retr_XXXXXX");
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  setenv("EFFBENCH_CACHE", tmp, 1);
  snprintf(golden, sizeof golden, "%s", __FILE__);
  char *slash = strrchr(golden, '/');
  snprintf(slash ? slash + 1 : golden,
           sizeof golden - (size_t)(slash ? slash + 1 - golden : 0), "data/retrieval");
  test_generator();
  test_roundtrip_and_determinism();
  test_golden();
  test_malformed();
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return eb_test_done("retrieval");
}
