/* `effbench compare` (results/compare.c) on two synthetic databases: Welch's
 * p-value against closed forms of Student's t, and the verdicts: a known
 * accuracy regression and a known speed regression are flagged, differences
 * within the noise are not, n < 2 says "n too small", sweep variants stay
 * apart, memory growth and a NEW oom are regressions, one-sided rows are
 * listed but not flagged, a BASE of an older schema (median only) is read. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compare.h"
#include "store.h"
#include "check.h"

static char dir[256];

static void add_runs(eb_store *s, int64_t sid, const char *arch, const char *variant,
                     const char *task, const double *acc, int n, const char *status) {
  char err[512];
  for (int i = 0; i < n; i++) {
    char key[160], cfg[256];
    snprintf(key, sizeof key, "%lld/%s/%s/%s/%d", (long long)sid, arch, variant, task, i);
    snprintf(cfg, sizeof cfg, "{\"arch_params\":%s,\"seed\":%d}", variant, i);
    int64_t rid;
    CHECK(eb_store_run_begin(s, sid, key, arch, task, i, cfg, "h", "b", &rid, err,
                             sizeof err) == 0,
          "%s", err);
    eb_run_result_row r = {0};
    r.status = status;
    r.val_accuracy = r.test_accuracy = acc[i];
    r.flops_train_step = r.flops_infer_seq = r.train_seconds = NAN;
    r.tokens_per_s = r.padded_tokens_per_s = r.infer_ms_per_batch = NAN;
    r.train_ms_per_step = NAN;
    r.peak_mem_bytes = -1;
    CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) == 0, "%s", err);
  }
}

static void add_speed(eb_store *s, int64_t sid, int len, const char *mode, int n,
                      double mean, double std, double mib, const char *status) {
  char err[512];
  eb_speed_row r = {.suite_id = sid,
                    .arch = "vanilla",
                    .task = "",
                    .seq_len = len,
                    .batch = 4,
                    .mode = mode,
                    .threads = 1,
                    .step_ms_median = mean,
                    .step_ms_min = mean - std,
                    .tokens_per_s = NAN,
                    .gflops_per_s = NAN,
                    .peak_mem_bytes = (int64_t)(mib * 1048576),
                    .status = status,
                    .config_json = "{}",
                    .step_ms_n = n,
                    .step_ms_mean = mean,
                    .step_ms_std = std,
                    .gemm_backend = "openblas:Haswell"};
  CHECK(eb_store_speed(s, &r, err, sizeof err) == 0, "%s", err);
}

/* BASE: which = 0; NEW: which = 1 */
static eb_store *make_db(const char *name, int which) {
  char path[512], err[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  eb_store *s = NULL;
  CHECK(eb_store_open(path, &s, err, sizeof err) == 0, "%s", err);
  if (!s) return NULL;
  int64_t sid = 0, other = 0;
  CHECK(eb_store_suite(s, "cmp", NULL, &sid, err, sizeof err) == 0, "%s", err);
  CHECK(eb_store_suite(s, "other", NULL, &other, err, sizeof err) == 0, "%s", err);
  /* a known regression: 80% -> 60%, seeds agree to 1% */
  const double drop[2][4] = {{0.80, 0.81, 0.79, 0.80}, {0.60, 0.61, 0.59, 0.60}};
  add_runs(s, sid, "lin", "{\"k\":1}", "text", drop[which], 4, "done");
  /* the same arch and task, another sweep variant: unchanged, never pooled */
  const double same[2][4] = {{0.80, 0.81, 0.79, 0.80}, {0.80, 0.81, 0.79, 0.80}};
  add_runs(s, sid, "lin", "{\"k\":2}", "text", same[which], 4, "done");
  /* within noise: a 1-point move when seeds spread by 5 */
  const double noisy[2][3] = {{0.70, 0.75, 0.65}, {0.69, 0.74, 0.64}};
  add_runs(s, sid, "noisy", "{}", "text", noisy[which], 3, "done");
  /* a large drop on one seed: n too small, never flagged */
  const double one[2][1] = {{0.90}, {0.10}};
  add_runs(s, sid, "single", "{}", "text", one[which], 1, "done");
  /* diverged in NEW: a regression */
  const double div[2][2] = {{0.5, 0.5}, {NAN, NAN}};
  add_runs(s, sid, "fragile", "{}", "text", div[which], 2, which ? "diverged" : "done");
  /* only in NEW */
  if (which) add_runs(s, sid, "newarch", "{}", "text", one[0], 1, "done");
  /* another suite's rows are left out by --suite: a drop that must not count */
  add_runs(s, other, "lin", "{\"k\":1}", "text", drop[which], 4, "done");
  /* speed: a known regression (10 -> 13 ms, std 0.5 over 50 steps) */
  add_speed(s, sid, 64, "train", 50, which ? 13 : 10, 0.5, 100, "done");
  /* within noise: 10 -> 10.5 ms with std 3 over 5 steps; memory +50% */
  add_speed(s, sid, 128, "train", 5, which ? 10.5 : 10, 3, which ? 150 : 100, "done");
  /* one timed step: n too small */
  add_speed(s, sid, 64, "infer", 1, which ? 30 : 10, 0, 50, "done");
  /* oom in NEW */
  add_speed(s, sid, 256, "train", 5, 20, 1, 200, which ? "oom" : "done");
  return s;
}

static char out[1 << 16];

static int run_compare(eb_store *b, eb_store *n, eb_cmp_format f, const char *suite,
                       int *nreg) {
  char err[512] = "";
  FILE *fp = fmemopen(out, sizeof out - 1, "w");
  eb_cmp_opts o = {.suite = suite,
                   .format = f,
                   .alpha = 0.01,
                   .min_change = 0.02,
                   .base_label = "base.db",
                   .new_label = "new.db"};
  int rc = eb_compare(b, n, &o, fp, nreg, err, sizeof err);
  fclose(fp);
  if (rc) fprintf(stderr, "eb_compare: %s\n", err);
  return rc;
}

/* The CSV line of table/arch/variant-or-length starting with prefix. */
static const char *line(const char *prefix) {
  static char l[1024];
  for (const char *p = out; p && *p;) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (!strncmp(p, prefix, strlen(prefix)) && n < sizeof l) {
      memcpy(l, p, n);
      l[n] = 0;
      return l;
    }
    p = e ? e + 1 : NULL;
  }
  return "";
}

static void expect(const char *prefix, const char *verdict, int flagged) {
  const char *l = line(prefix);
  char tail[128];
  snprintf(tail, sizeof tail, ",%s,%d", verdict, flagged);
  size_t n = strlen(l), t = strlen(tail);
  CHECK(n >= t && !strcmp(l + n - t, tail), "%s: want '%s', got '%s'", prefix, tail, l);
}

int main(void) {
  /* Welch's p against closed forms: n = 2 and 2 with equal spreads gives
   * df = 2, P(|T| > t) = 1 - t / sqrt(2 + t^2); one side without spread gives
   * df = 1 (Cauchy), P(|T| > 1) = 1/2; a large df approaches the normal */
  double p = eb_welch_p(0, 1, 2, 1, 1, 2);
  CHECK(fabs(p - (1 - 1 / sqrt(3))) < 1e-9, "df 2: p %.12g", p);
  p = eb_welch_p(0, 3, 2, 2.5, 3, 2);
  double t = 2.5 / 3;
  CHECK(fabs(p - (1 - t / sqrt(2 + t * t))) < 1e-9, "df 2, t %g: p %.12g", t, p);
  p = eb_welch_p(0, 1, 2, sqrt(0.5), 0, 2);
  CHECK(fabs(p - 0.5) < 1e-9, "df 1: p %.12g", p);
  p = eb_welch_p(0, 1, 100000, 1.959964 * sqrt(2.0 / 100000), 1, 100000);
  CHECK(fabs(p - 0.05) < 2e-4, "normal limit: p %.12g", p);
  CHECK(isnan(eb_welch_p(0, 1, 1, 1, 1, 5)), "n 1 gives a p-value");
  CHECK(eb_welch_p(3, 0, 4, 3, 0, 4) == 1 && eb_welch_p(3, 0, 4, 4, 0, 4) == 0,
        "no spread");

  snprintf(dir, sizeof dir, "/tmp/eb_test_compare_XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  eb_store *b = make_db("base.db", 0), *n = make_db("new.db", 1);
  if (!b || !n) return eb_test_done("test_compare");
  int nreg = -1;
  CHECK(run_compare(b, n, EB_CMP_CSV, "cmp", &nreg) == 0, "csv");
  expect("accuracy,lin,\"{\"\"k\"\":1}\",text", "regression", 1);
  expect("accuracy,lin,\"{\"\"k\"\":2}\",text", "within noise", 0);
  expect("accuracy,noisy,", "within noise", 0);
  expect("accuracy,single,", "n too small", 0);
  expect("accuracy,fragile,", "NEW: no done run", 1);
  expect("accuracy,newarch,", "only in NEW", 0);
  expect("speed,vanilla,,,64,train", "regression", 1);
  expect("speed,vanilla,,,128,train", "within noise", 0);
  expect("speed,vanilla,,,64,infer", "n too small", 0);
  expect("speed,vanilla,,,256,train", "NEW: oom", 1);
  expect("memory,vanilla,,,128,train", "regression", 1);
  expect("memory,vanilla,,,64,train", "same", 0);
  /* the regression's numbers: n, mean, std on each side, ratio */
  CHECK(strstr(line("speed,vanilla,,,64,train"), ",50,10,0.5,50,13,0.5,1.3,"),
        "speed numbers: %s", line("speed,vanilla,,,64,train"));
  CHECK(nreg == 5, "regressions %d, want 5:\n%s", nreg, out);

  /* Markdown flags the same rows in bold and counts them */
  CHECK(run_compare(b, n, EB_CMP_MD, "cmp", &nreg) == 0, "md");
  CHECK(strstr(out, "| lin | {\"k\":1} | text | 80.00 ± 0.82 | 4 | 60.00 ± 0.82 | 4 | "
                    "0.750 |"),
        "md accuracy row:\n%s", out);
  CHECK(strstr(out, "**regression**") && strstr(out, "\n5 regressions\n"), "md:\n%s",
        out);

  /* JSON: no NaN anywhere, the count */
  CHECK(run_compare(b, n, EB_CMP_JSON, "cmp", &nreg) == 0, "json");
  CHECK(!strstr(out, "nan") && strstr(out, "\"regressions\":5"), "json:\n%s", out);

  /* a database against itself: nothing flagged; no suite given: every row */
  CHECK(run_compare(b, b, EB_CMP_CSV, NULL, &nreg) == 0 && nreg == 0,
        "self-compare flagged %d:\n%s", nreg, out);
  /* a suite in neither: bad input */
  char err[512];
  FILE *fp = fmemopen(out, sizeof out - 1, "w");
  eb_cmp_opts o = {.suite = "nope",
                   .alpha = 0.01,
                   .min_change = 0.02,
                   .base_label = "b",
                   .new_label = "n"};
  CHECK(eb_compare(b, n, &o, fp, &nreg, err, sizeof err) == EB_NOTFOUND &&
            strstr(err, "nope"),
        "unknown suite: %s", err);
  fclose(fp);
  eb_store_close(b);
  eb_store_close(n);

  /* a BASE of schema 4 (no statistics columns), opened as it is: medians
   * compared, n too small, and the file left at version 4 */
  char path[512];
  snprintf(path, sizeof path, "%s/base.db", dir);
  sqlite3 *db;
  sqlite3_open(path, &db);
  int rc = sqlite3_exec(db,
                        "ALTER TABLE speed DROP COLUMN step_ms_n;"
                        "ALTER TABLE speed DROP COLUMN step_ms_mean;"
                        "ALTER TABLE speed DROP COLUMN step_ms_std;"
                        "ALTER TABLE speed DROP COLUMN gemm_backend;"
                        "PRAGMA user_version=4",
                        NULL, NULL, NULL);
  CHECK(rc == SQLITE_OK, "making a v4 db: %s", sqlite3_errmsg(db));
  sqlite3_close(db);
  CHECK(eb_store_open_input(path, &b, err, sizeof err) == 0, "%s", err);
  snprintf(path, sizeof path, "%s/new.db", dir);
  CHECK(eb_store_open_input(path, &n, err, sizeof err) == 0, "%s", err);
  if (b && n) {
    CHECK(run_compare(b, n, EB_CMP_CSV, "cmp", &nreg) == 0, "v4 base");
    expect("speed,vanilla,,,64,train", "n too small", 0);
    expect("accuracy,lin,\"{\"\"k\"\":1}\",text", "regression", 1);
    CHECK(strstr(line("speed,vanilla,,,64,train"), ",1.3,"), "medians: %s",
          line("speed,vanilla,,,64,train"));
    CHECK(eb_store_schema_version(b) == 4, "the old BASE was migrated");
  }
  if (b) eb_store_close(b);
  if (n) eb_store_close(n);
  int ret = eb_test_done("test_compare");
  if (!ret) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  }
  return ret;
}
