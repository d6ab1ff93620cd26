/* Report tables from a synthetic database: exact Markdown for accuracy
 * (mean ± std (n), best marked, partial and failed cells, missing cells, Avg;
 * the standard error with EB_REPORT_SEM),
 * speed (ratios to vanilla, oom, latest measurement wins), another baseline
 * (first row, ratios, CSV column; one not in the suite refused), and the
 * stats table as archs declare it (MoE's, a fake arch's labels, units and
 * aggregations, an undeclared arch's stats by name); LaTeX
 * structure and escaping; CSV quoting, raw numbers and sem; the HTML document
 * (tables, escaping, no script or external resource, figures inline or a
 * note when gnuplot is missing); clear errors for an unknown suite, an empty
 * database and a missing file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "report.h"
#include "store.h"
#include "check.h"

static char dir[256];
static char path[512];

static void add_run(eb_store *s, int64_t sid, const char *arch, const char *task,
                    int seed, const char *status, double acc, const eb_stat_row *stats,
                    int nstats, int64_t ptot, int64_t pact) {
  char key[128], err[512];
  snprintf(key, sizeof key, "%s/%s/%d/%lld", arch, task, seed, (long long)sid);
  int64_t rid;
  CHECK(eb_store_run_begin(s, sid, key, arch, task, seed, "{}", "h", "b", &rid, err,
                           sizeof err) == 0,
        "%s", err);
  eb_run_result_row r = {0};
  r.status = status;
  r.params_total = ptot;
  r.params_active = pact;
  r.val_accuracy = acc;
  r.test_accuracy = acc;
  r.flops_train_step = r.flops_infer_seq = r.train_seconds = NAN;
  r.tokens_per_s = r.padded_tokens_per_s = r.infer_ms_per_batch = NAN;
  r.train_ms_per_step = NAN;
  r.peak_mem_bytes = -1;
  r.stats = stats;
  r.n_stats = nstats;
  CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) == 0, "%s", err);
}

static void add_speed(eb_store *s, int64_t sid, const char *arch, int len,
                      const char *mode, double ms, double mib, const char *status) {
  char err[512];
  eb_speed_row r = {sid,    arch, "text", len, 8,   mode,
                    1,      ms,   ms,     NAN, NAN, (int64_t)(mib * 1048576),
                    status, "{}", NAN,    NAN, 0,   NAN,
                    NAN,    NULL, NULL};
  if (isnan(mib)) r.peak_mem_bytes = -1;
  CHECK(eb_store_speed(s, &r, err, sizeof err) == 0, "%s", err);
}

static void fill(void) {
  char err[512];
  eb_store *s;
  CHECK(eb_store_open(path, &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  int64_t sid;
  CHECK(eb_store_suite(s, "lra-mini", "", &sid, err, sizeof err) == 0, "%s", err);
  /* performer appears first: vanilla must still lead the table */
  add_run(s, sid, "performer", "listops", 0, "done", 0.18, NULL, 0, 100, 100);
  add_run(s, sid, "performer", "listops", 1, "done", 0.20, NULL, 0, 100, 100);
  add_run(s, sid, "performer", "listops", 2, "timeout", NAN, NULL, 0, 100, 100);
  for (int i = 0; i < 3; i++) {
    add_run(s, sid, "vanilla", "listops", i, "done", 0.36 + 0.01 * i, NULL, 0, 100, 100);
    add_run(s, sid, "vanilla", "image", i, "done", 0.40 + 0.02 * i, NULL, 0, 100, 100);
    add_run(s, sid, "performer", "image", i, "done", 0.45 + 0.02 * i, NULL, 0, 100, 100);
  }
  /* wide_shallow: listops never finished, image never ran */
  add_run(s, sid, "wide_shallow", "listops", 0, "diverged", NAN, NULL, 0, 100, 100);
  add_run(s, sid, "wide_shallow", "listops", 1, "diverged", NAN, NULL, 0, 100, 100);
  add_run(s, sid, "wide_shallow", "listops", 2, "failed", NAN, NULL, 0, 100, 100);

  add_speed(s, sid, "performer", 1024, "train", 200, 400, "done"); /* stale, replaced */
  add_speed(s, sid, "vanilla", 1024, "train", 125, 850, "done");
  add_speed(s, sid, "vanilla", 2048, "train", NAN, NAN, "oom");
  add_speed(s, sid, "performer", 1024, "train", 100, 425, "done");
  add_speed(s, sid, "performer", 2048, "train", 110, 500, "done");
  add_speed(s, sid, "vanilla", 1024, "infer", 20, 100, "done");

  int64_t mid;
  CHECK(eb_store_suite(s, "moe-suite", "", &mid, err, sizeof err) == 0, "%s", err);
  eb_stat_row s0[] = {{10, "expert_load_max_over_mean", 1.4},
                      {20, "expert_load_max_over_mean", 1.6},
                      {20, "dropped_fraction", 0.02},
                      {20, "aux_loss", 0.010}};
  eb_stat_row s1[] = {{20, "expert_load_max_over_mean", 1.7},
                      {20, "dropped_fraction", 0.04},
                      {20, "aux_loss", 0.012}};
  add_run(s, mid, "moe", "listops", 0, "done", 0.30, s0, 4, 4000000, 1000000);
  add_run(s, mid, "moe", "listops", 1, "done", 0.32, s1, 3, 4000000, 1000000);
  add_run(s, mid, "moe", "listops", 2, "oom", NAN, NULL, 0, 4000000, 1000000);
  /* stopped by its time budget: its statistics up to then still count */
  eb_stat_row s2[] = {{10, "expert_load_max_over_mean", 2.5},
                      {10, "dropped_fraction", 0.10},
                      {10, "aux_loss", 0.020}};
  add_run(s, mid, "moe", "image", 0, "timeout", 0.50, s2, 3, 2000000, 500000);
  eb_store_close(s);
  /* the speed rows' machine is this one's: fixed here for the expected text */
  sqlite3 *db = NULL;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK &&
            sqlite3_exec(db,
                         "UPDATE speed SET cpu_model='Test CPU', cores=4, "
                         "git_commit='abc1234'",
                         NULL, NULL, NULL) == SQLITE_OK,
        "fixing the speed rows' machine: %s", sqlite3_errmsg(db));
  sqlite3_close(db);
}

/* The stats moe declares (archs/moe.c), as the harness hands them over. */
static const eb_report_stat MOE_STATS[] = {
    {"moe", "expert_load_max_over_mean", "load max/mean", NULL,
     "tokens routed to the busiest expert / mean tokens per expert (1 = balanced)",
     EB_AGG_MEAN},
    {"moe", "dropped_fraction", "dropped", "%", "tokens over capacity", EB_AGG_MEAN},
    {"moe", "aux_loss", "aux loss", NULL, "load-balancing loss", EB_AGG_MEAN},
};

/* Runs a report of database db into a string with options o; returns the
 * eb_report code. */
static int report_with(const char *db, const char *suite, eb_table t, eb_format f,
                       const eb_report_options *o, char **text, char *err,
                       size_t errlen) {
  eb_store *s;
  *text = NULL;
  if (eb_store_open_readonly(db, &s, err, errlen)) return -100;
  size_t len;
  FILE *out = open_memstream(text, &len);
  int rc = eb_report_opts(s, suite, t, f, o, out, err, errlen);
  fclose(out);
  eb_store_close(s);
  return rc;
}

/* The same with flags and moe's declarations. */
static int report_of(const char *db, const char *suite, eb_table t, eb_format f,
                     int flags, char **text, char *err, size_t errlen) {
  eb_report_options o = {.flags = flags, .stats = MOE_STATS, .nstats = 3};
  return report_with(db, suite, t, f, &o, text, err, errlen);
}

static int run_report(const char *suite, eb_table t, eb_format f, char **text, char *err,
                      size_t errlen) {
  return report_of(path, suite, t, f, 0, text, err, errlen);
}

static int count_of(const char *s, const char *what) {
  int n = 0;
  for (const char *p = s; p && (p = strstr(p, what)); p++)
    n++;
  return n;
}

static void expect_text(const char *what, const char *got, const char *want) {
  if (got && strcmp(got, want) == 0) return;
  CHECK(0, "%s differs:\n--- got ---\n%s\n--- want ---\n%s", what, got ? got : "(null)",
        want);
}

static void test_markdown(void) {
  char err[512], *out;
  CHECK(run_report("lra-mini", EB_TABLE_ACCURACY, EB_FMT_MD, &out, err, sizeof err) == 0,
        "%s", err);
  expect_text(
      "accuracy md", out,
      "### Test accuracy (%), suite `lra-mini`\n\n"
      "Mean ± sample std over seeds (n) of test accuracy at the best validation step; "
      "best per column in bold; a status instead of a number means no run of that "
      "cell finished; (timeout): stopped by the time budget, best result so far\n\n"
      "| arch | listops | image | Avg |\n"
      "|---|---:|---:|---:|\n"
      "| vanilla | **37.00 ± 1.00 (n=3)** | 42.00 ± 2.00 (n=3) | **39.50** |\n"
      "| performer | 19.00 ± 1.41 (n=2; 1 timeout) | **47.00 ± 2.00 (n=3)** | 33.00 |\n"
      "| wide_shallow | diverged (2/3), failed (1/3) |  | — |\n\n");
  free(out);

  CHECK(run_report("lra-mini", EB_TABLE_SPEED, EB_FMT_MD, &out, err, sizeof err) == 0,
        "%s", err);
  expect_text(
      "speed md", out,
      "### Training speed (steps/s) and peak memory (MiB) by sequence length, task "
      "text, suite `lra-mini`\n\n"
      "Batch 8, 1 thread; in parentheses the ratio to vanilla at the same length; "
      "measured on Test CPU (4 cores), commit abc1234\n\n"
      "| arch | steps/s 1024 | steps/s 2048 | MiB 1024 | MiB 2048 |\n"
      "|---|---:|---:|---:|---:|\n"
      "| vanilla | 8.00 | oom | 850.0 | oom |\n"
      "| performer | 10.0 (1.25x) | 9.09 | 425.0 (0.50x) | 500.0 |\n\n"
      "### Inference speed (steps/s) and peak memory (MiB) by sequence length, task "
      "text, suite `lra-mini`\n\n"
      "Batch 8, 1 thread; in parentheses the ratio to vanilla at the same length; "
      "measured on Test CPU (4 cores), commit abc1234\n\n"
      "| arch | steps/s 1024 | MiB 1024 |\n"
      "|---|---:|---:|\n"
      "| vanilla | 50.0 | 100.0 |\n\n");
  free(out);

  CHECK(run_report("lra-mini", EB_TABLE_STATS, EB_FMT_MD, &out, err, sizeof err) == 0,
        "%s", err);
  CHECK(out && strstr(out, "_No architecture statistics in this suite"),
        "empty stats: %s", out);
  free(out);

  /* NULL suite = the most recent one */
  CHECK(run_report(NULL, EB_TABLE_STATS, EB_FMT_MD, &out, err, sizeof err) == 0, "%s",
        err);
  CHECK(out && strstr(out, "### Architecture statistics, suite `moe-suite`\n\n"
                           "Parameters total vs active per token; load max/mean: tokens "
                           "routed to the busiest expert / mean tokens per expert (1 = "
                           "balanced); dropped: tokens over capacity; aux loss: "
                           "load-balancing loss; mean ± std over the seeds that finished "
                           "or timed out (their steps up to the budget) of each run's "
                           "mean over its recorded steps\n\n"),
        "latest suite, caption: %s", out);
  const char *head =
      "| arch | task | params | active params | active % | load max/mean | "
      "dropped (%) | aux loss | seeds |\n";
  CHECK(out && strstr(out, head), "moe header, want\n%s\ngot\n%s", head, out);
  const char *row =
      "| moe | listops | 4.00M | 1.00M | 25.0 | 1.60 ± 0.14 | 3.00 ± 1.41 | "
      "0.0110 ± 0.0014 | 2/3 |\n";
  CHECK(out && strstr(out, row), "moe row, want\n%s\ngot\n%s", row, out);
  row = "| moe | image | 2.00M | 500.0K | 25.0 | 2.50 | 10.00 | 0.0200 | 1 (timeout) |\n";
  CHECK(out && strstr(out, row), "timed-out moe row, want\n%s\ngot\n%s", row, out);
  free(out);

  /* the accuracy table of the MoE suite: no speed section, no vanilla */
  CHECK(run_report("moe-suite", EB_TABLE_ALL, EB_FMT_MD, &out, err, sizeof err) == 0,
        "%s", err);
  CHECK(
      out &&
          strstr(out,
                 "| moe | 31.00 ± 1.41 (n=2; 1 oom) | 50.00 (n=1; 1 timeout) | 40.50 |"),
      "%s", out);
  CHECK(out && strstr(out, "_No speed measurements in this suite"), "%s", out);
  free(out);
}

static void test_latex(void) {
  char err[512], *out;
  CHECK(run_report("lra-mini", EB_TABLE_ALL, EB_FMT_LATEX, &out, err, sizeof err) == 0,
        "%s", err);
  if (!out) return;
  const char *want[] = {
      "\\toprule",
      "\\midrule",
      "\\bottomrule",
      "\\begin{tabular}{lrrr}",
      "\\caption{Test accuracy (\\%), suite \\texttt{lra-mini}.",
      "vanilla & \\textbf{37.00 $\\pm$ 1.00 (n=3)} & 42.00 $\\pm$ 2.00 (n=3)",
      "wide\\_shallow & diverged (2/3), failed (1/3) &  & --- \\\\",
      "\\multicolumn{2}{c}{steps/s} & \\multicolumn{2}{c}{MiB}",
      "\\cmidrule(lr){2-3}\\cmidrule(lr){4-5}",
      "\\label{tab:effbench-accuracy-lra-mini}"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    CHECK(strstr(out, want[i]) != NULL, "latex lacks '%s':\n%s", want[i], out);
  }
  for (const char *p = out; (p = strchr(p, '_')); p++)
    CHECK(p > out && p[-1] == '\\', "unescaped underscore at: %.30s", p - 10);
  CHECK(strstr(out, "±") == NULL && strstr(out, "—") == NULL, "non-ASCII in LaTeX");
  int tables = 0;
  for (const char *p = out; (p = strstr(p, "\\begin{table}")); p++)
    tables++;
  CHECK(tables == 3, "%d tables (accuracy, train speed, infer speed)", tables);
  free(out);
}

/* RFC 4180 parse: fields of each record; returns records, fills counts. */
static int csv_parse(const char *s, int *nfields, char cells[][16][64], int maxrec) {
  int rec = 0, f = 0, k = 0;
  int q = 0;
  while (*s && rec < maxrec) {
    char ch = *s++;
    if (q) {
      if (ch == '"' && *s == '"') {
        cells[rec][f][k++] = '"';
        s++;
      } else if (ch == '"') {
        q = 0;
      } else {
        cells[rec][f][k++] = ch;
      }
    } else if (ch == '"') {
      q = 1;
    } else if (ch == ',') {
      cells[rec][f][k] = 0;
      f++;
      k = 0;
    } else if (ch == '\r' && *s == '\n') {
      s++;
      cells[rec][f][k] = 0;
      nfields[rec++] = f + 1;
      f = k = 0;
    } else {
      cells[rec][f][k++] = ch;
    }
    if (k >= 63) k = 62;
    if (f >= 16) f = 15;
  }
  return rec;
}

static void test_csv(void) {
  char err[512], *out;
  CHECK(run_report("lra-mini", EB_TABLE_ALL, EB_FMT_CSV, &out, err, sizeof err) == 0,
        "%s", err);
  if (!out) return;
  static char cells[200][16][64];
  static int nf[200];
  int n = csv_parse(out, nf, cells, 200);
  /* header + 5 accuracy cells + 3 Avg + speed 5 cells x 3 metrics */
  CHECK(n == 1 + 5 + 3 + 15, "%d records:\n%s", n, out);
  for (int i = 0; i < n; i++)
    CHECK(nf[i] == 16, "record %d has %d fields", i, nf[i]);
  const char *head = "table,suite,arch,task,mode,seq_len,metric,value,std,n,runs,status,"
                     "best,ratio_to_vanilla,data_source,sem\r\n";
  CHECK(strncmp(out, head, strlen(head)) == 0, "header: %.90s", out);
  int seen = 0;
  for (int i = 1; i < n; i++) {
    char(*c)[64] = cells[i];
    if (!strcmp(c[2], "vanilla") && !strcmp(c[3], "listops")) {
      seen++;
      CHECK(fabs(atof(c[7]) - 0.37) < 1e-9 && fabs(atof(c[8]) - 0.01) < 1e-9,
            "vanilla listops %s %s", c[7], c[8]);
      CHECK(!strcmp(c[6], "test_accuracy") && !strcmp(c[9], "3") && !strcmp(c[10], "3") &&
                !strcmp(c[11], "3 done") && !strcmp(c[12], "1"),
            "vanilla listops row");
      CHECK(fabs(atof(c[15]) - 0.01 / sqrt(3)) < 1e-9, "vanilla listops sem %s", c[15]);
    }
    if (!strcmp(c[2], "wide_shallow") && !strcmp(c[3], "listops")) {
      seen++;
      CHECK(!strcmp(c[11], "2 diverged, 1 failed") && c[7][0] == 0 && c[12][0] == 0,
            "wide listops status '%s' value '%s'", c[11], c[7]);
    }
    if (!strcmp(c[0], "speed") && !strcmp(c[2], "performer") && !strcmp(c[5], "1024") &&
        !strcmp(c[6], "steps_per_s")) {
      seen++;
      CHECK(!strcmp(c[7], "10") && !strcmp(c[13], "1.25") && !strcmp(c[4], "train") &&
                c[15][0] == 0,
            "performer speed %s ratio %s sem %s", c[7], c[13], c[15]);
    }
    if (!strcmp(c[0], "speed") && !strcmp(c[2], "vanilla") && !strcmp(c[5], "2048") &&
        !strcmp(c[6], "peak_mem_bytes")) {
      seen++;
      CHECK(!strcmp(c[11], "oom") && c[7][0] == 0, "vanilla 2048 %s", c[11]);
    }
    if (!strcmp(c[3], "Avg") && !strcmp(c[2], "wide_shallow")) {
      seen++;
      CHECK(c[7][0] == 0 && c[12][0] == 0, "wide avg");
    }
  }
  CHECK(seen == 5, "found %d of 5 checked rows", seen);
  CHECK(strstr(out, "\"2 diverged, 1 failed\""), "quoting");
  free(out);

  CHECK(run_report("moe-suite", EB_TABLE_STATS, EB_FMT_CSV, &out, err, sizeof err) == 0,
        "%s", err);
  CHECK(out && strstr(out, "stats,moe-suite,moe,listops,,,params_active,1000000,0,2,3,"
                           "\"2 done, 1 oom\",,,,0\r\n"),
        "%s", out);
  /* raw values: a fraction stays a fraction */
  CHECK(out && strstr(out, "stats,moe-suite,moe,image,,,dropped_fraction,0.1,,1,1,"
                           "1 timeout,,,,\r\n"),
        "%s", out);
  free(out);
}

/* two configurations of the same (arch, task, seed) pooled: the table says so */
static void test_sweep_note(void) {
  char err[512], p2[600];
  snprintf(p2, sizeof p2, "%s/sweep.db", dir);
  eb_store *s;
  CHECK(eb_store_open(p2, &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  int64_t sid, r1, r2;
  CHECK(eb_store_suite(s, "sweep", "", &sid, err, sizeof err) == 0, "%s", err);
  CHECK(eb_store_run_begin(s, sid, "lr1", "vanilla", "t", 0, NULL, NULL, NULL, &r1, err,
                           sizeof err) == 0,
        "%s", err);
  CHECK(eb_store_run_begin(s, sid, "lr2", "vanilla", "t", 0, NULL, NULL, NULL, &r2, err,
                           sizeof err) == 0,
        "%s", err);
  size_t len;
  char *out = NULL;
  FILE *o = open_memstream(&out, &len);
  CHECK(eb_report(s, "sweep", EB_TABLE_ACCURACY, EB_FMT_MD, o, err, sizeof err) == 0,
        "%s", err);
  fclose(o);
  CHECK(out && strstr(out, "Warning: some cells pool several runs of the same seed"),
        "%s", out);
  CHECK(out && strstr(out, "| vanilla | running |"), "%s", out);
  free(out);
  eb_store_close(s);
}

/* --spread sem: the standard error after the ±, and the note says so */
static void test_sem(void) {
  char err[512], *out;
  CHECK(report_of(path, "lra-mini", EB_TABLE_ACCURACY, EB_FMT_MD, EB_REPORT_SEM, &out,
                  err, sizeof err) == 0,
        "%s", err);
  CHECK(out && strstr(out, "| vanilla | **37.00 ± 0.58 (n=3)** | 42.00 ± 1.15 (n=3) |"),
        "sem cells: %s", out);
  CHECK(out && strstr(out, "Mean ± standard error (sample std / sqrt(n)) over seeds (n)"),
        "sem note: %s", out);
  free(out);
}

/* the majority-class row and the (chance) mark: p = 0.5 on 400 test
 * examples puts the bar at 50 + 3 * 2.5 = 57.5 %; 56 % is not clearly above
 * it, 58 % is, and a database without the baseline shows neither */
static void test_majority(void) {
  char err[512], p2[600];
  snprintf(p2, sizeof p2, "%s/majority.db", dir);
  eb_store *s;
  CHECK(eb_store_open(p2, &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  int64_t sid;
  CHECK(eb_store_suite(s, "maj", "", &sid, err, sizeof err) == 0, "%s", err);
  const char *archs[] = {"vanilla", "mamba", "poolformer"};
  const double accs[] = {0.56, 0.58, 0.575};
  for (int a = 0; a < 3; a++) {
    char key[32];
    int64_t rid;
    snprintf(key, sizeof key, "k%d", a);
    CHECK(eb_store_run_begin(s, sid, key, archs[a], "text", 0, "{}", "h", "b", &rid, err,
                             sizeof err) == 0,
          "%s", err);
    eb_run_result_row r = {0};
    r.status = "done";
    r.val_accuracy = r.test_accuracy = accs[a];
    r.flops_train_step = r.flops_infer_seq = r.train_seconds = NAN;
    r.tokens_per_s = r.padded_tokens_per_s = r.infer_ms_per_batch = NAN;
    r.train_ms_per_step = NAN;
    r.peak_mem_bytes = -1;
    r.test_majority = 0.5;
    r.test_count = 400;
    CHECK(eb_store_run_finish(s, rid, &r, err, sizeof err) == 0, "%s", err);
  }
  size_t len;
  char *out = NULL;
  FILE *o = open_memstream(&out, &len);
  CHECK(eb_report(s, "maj", EB_TABLE_ACCURACY, EB_FMT_MD, o, err, sizeof err) == 0, "%s",
        err);
  fclose(o);
  CHECK(out && strstr(out, "| vanilla | 56.00 (chance) |"), "at chance: %s", out);
  CHECK(out && strstr(out, "| mamba | **58.00** |"), "above chance: %s", out);
  CHECK(out && strstr(out, "| poolformer | 57.50 (chance) |"), "on the bar: %s", out);
  CHECK(out && strstr(out, "| majority class | 50.00 | — |"), "baseline row: %s", out);
  CHECK(out && strstr(out, "3 sqrt(p(1 - p) / n)"), "note: %s", out);
  free(out);
  out = NULL;
  o = open_memstream(&out, &len);
  CHECK(eb_report(s, "maj", EB_TABLE_ACCURACY, EB_FMT_CSV, o, err, sizeof err) == 0, "%s",
        err);
  fclose(o);
  CHECK(out && strstr(out, "accuracy,maj,majority class,text,,,majority_class,0.5,"),
        "csv baseline: %s", out);
  free(out);
  eb_store_close(s);
  /* the report on the other database (no baseline recorded): no row, no mark */
  CHECK(report_of(path, "lra-mini", EB_TABLE_ACCURACY, EB_FMT_MD, 0, &out, err,
                  sizeof err) == 0,
        "%s", err);
  CHECK(out && !strstr(out, "majority class") && !strstr(out, "(chance)"), "%s", out);
  free(out);
}

/* rows of the <table class="cls"> in html, header row included */
static int table_rows(const char *html, const char *cls) {
  char open[64];
  snprintf(open, sizeof open, "<table class=\"%s\">", cls);
  const char *p = html ? strstr(html, open) : NULL;
  const char *e = p ? strstr(p, "</table>") : NULL;
  int n = 0;
  for (const char *q = p; q && e && (q = strstr(q, "<tr>")) && q < e; q++)
    n++;
  return n;
}

static void test_html_no_gnuplot(void) {
  char err[512], *out;
  setenv("EFFBENCH_GNUPLOT", "/nonexistent/gnuplot", 1);
  CHECK(run_report("lra-mini", EB_TABLE_ALL, EB_FMT_HTML, &out, err, sizeof err) == 0,
        "%s", err);
  unsetenv("EFFBENCH_GNUPLOT");
  CHECK(strstr(err, "figures left out: gnuplot not found"), "warning: '%s'", err);
  if (!out) return;
  CHECK(!strncmp(out, "<!DOCTYPE html>\n<html lang=\"en\">", 31), "start: %.60s", out);
  size_t n = strlen(out);
  CHECK(n > 16 && !strcmp(out + n - 16, "</body>\n</html>\n"), "end: %s", out + n - 30);
  CHECK(count_of(out, "<table class=\"result\">") == 3,
        "%d result tables (accuracy, "
        "train and infer speed)",
        count_of(out, "<table class=\"result\">"));
  CHECK(table_rows(out, "runs") == 1 + 15, "runs table: %d rows",
        table_rows(out, "runs"));
  CHECK(
      strstr(out, "<th class=\"r\">cores</th><th class=\"r\">threads</th><th>GEMM</th>"),
      "runs table header");
  /* one row per task and source: listops and image, neither recorded */
  CHECK(table_rows(out, "provenance") == 1 + 2, "provenance: %d rows",
        table_rows(out, "provenance"));
  CHECK(strstr(out, "<tr><td>listops</td><td>unrecorded</td>"), "provenance row");
  CHECK(strstr(out, "<td class=\"r\"><strong>37.00 ± 1.00 (n=3)</strong></td>"),
        "bold accuracy cell");
  CHECK(strstr(out, "<th colspan=\"2\" class=\"group\">steps/s</th>"), "group header");
  CHECK(strstr(out, "<p class=\"empty\">No figures: gnuplot not found"),
        "no-figure note");
  CHECK(!strstr(out, "<svg") && !strstr(out, "<script") && !strstr(out, "<img"),
        "svg, script or img without gnuplot");
  CHECK(strstr(out, "<p class=\"empty\">No suite file stored"), "empty yaml note");
  free(out);
}

/* every text from the database escaped: suite name, YAML, arch names */
static void test_html_escaping(void) {
  char err[512], p2[600], *out;
  snprintf(p2, sizeof p2, "%s/escape.db", dir);
  eb_store *s;
  CHECK(eb_store_open(p2, &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  int64_t sid, rid;
  CHECK(eb_store_suite(s, "<b>\"q\"&'s'", "x: \"</pre><script>alert(1)</script>\"\n",
                       &sid, err, sizeof err) == 0,
        "%s", err);
  CHECK(eb_store_run_begin(s, sid, "k", "a<i>", "t&u", 0, NULL, NULL, NULL, &rid, err,
                           sizeof err) == 0,
        "%s", err);
  eb_store_close(s);
  setenv("EFFBENCH_GNUPLOT", "/nonexistent/gnuplot", 1);
  CHECK(report_of(p2, NULL, EB_TABLE_ALL, EB_FMT_HTML, 0, &out, err, sizeof err) == 0,
        "%s", err);
  unsetenv("EFFBENCH_GNUPLOT");
  CHECK(out && strstr(out, "<title>effbench report: suite "
                           "&lt;b&gt;&quot;q&quot;&amp;&#39;s&#39;</title>"),
        "title: %.400s", out);
  CHECK(out && strstr(out, "x: &quot;&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
        "yaml: %s", out);
  CHECK(out && strstr(out, "<td>a&lt;i&gt;</td><td>t&amp;u</td>"), "run row: %s", out);
  CHECK(out && !strstr(out, "<script") && !strstr(out, "<b>") && !strstr(out, "a<i>"),
        "unescaped text: %s", out);
  free(out);
}

/* with gnuplot: every figure inline as SVG, ids unique per figure, and the
 * temporary directory gone */
static void test_html_figures(void) {
  if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
    fprintf(stderr, "test_report: gnuplot not installed, inline figures not tested\n");
    return;
  }
  char err[512], tmp[600], *out;
  snprintf(tmp, sizeof tmp, "%s/tmpdir", dir);
  CHECK(mkdir(tmp, 0700) == 0, "mkdir %s", tmp);
  setenv("TMPDIR", tmp, 1);
  int rc = run_report("lra-mini", EB_TABLE_ALL, EB_FMT_HTML, &out, err, sizeof err);
  unsetenv("TMPDIR");
  CHECK(rc == 0 && err[0] == 0, "rc %d: %s", rc, err);
  if (!out) return;
  /* lra-mini: bubble, scaling-time, scaling-memory, curves and pareto of
   * listops and image (no evals: no curves) */
  int figs = count_of(out, "<figure id=\"fig-");
  CHECK(figs >= 3 && count_of(out, "<svg") == figs && count_of(out, "</svg>") == figs,
        "%d figures, %d <svg>", figs, count_of(out, "<svg"));
  CHECK(strstr(out, "<figure id=\"fig-bubble\">") &&
            strstr(out, "<figure id=\"fig-scaling-time\">"),
        "bubble and scaling figures");
  CHECK(strstr(out, "id=\"f1-gnuplot_canvas\"") &&
            strstr(out, "id=\"f2-gnuplot_canvas\""),
        "figure ids not prefixed");
  CHECK(!strstr(out, "<?xml") && !strstr(out, "<script") && !strstr(out, "<!DOCTYPE svg"),
        "xml declaration, doctype or script inlined");
  CHECK(rmdir(tmp) == 0, "temporary figure directory left in %s", tmp);
  free(out);
}

/* --baseline: the named arch leads the rows and is what the speed table's
 * ratios (and the CSV's ratio column) are to; one not in the suite is refused,
 * naming the archs there are. */
static void test_baseline(void) {
  char err[700], *out;
  eb_report_options o = {.baseline = "performer"};
  CHECK(report_with(path, "lra-mini", EB_TABLE_ACCURACY, EB_FMT_MD, &o, &out, err,
                    sizeof err) == 0,
        "%s", err);
  const char *rows =
      "| performer | 19.00 ± 1.41 (n=2; 1 timeout) | **47.00 ± 2.00 (n=3)** | 33.00 |\n"
      "| vanilla | **37.00 ± 1.00 (n=3)** | 42.00 ± 2.00 (n=3) | **39.50** |\n"
      "| wide_shallow |";
  CHECK(out && strstr(out, rows), "performer first, want\n%s\ngot\n%s", rows, out);
  free(out);
  CHECK(report_with(path, "lra-mini", EB_TABLE_SPEED, EB_FMT_MD, &o, &out, err,
                    sizeof err) == 0,
        "%s", err);
  const char *speed = "Batch 8, 1 thread; in parentheses the ratio to performer at the "
                      "same length; measured on Test CPU (4 cores), commit abc1234\n\n"
                      "| arch | steps/s 1024 | steps/s 2048 | MiB 1024 | MiB 2048 |\n"
                      "|---|---:|---:|---:|---:|\n"
                      "| performer | 10.0 | 9.09 | 425.0 | 500.0 |\n"
                      "| vanilla | 8.00 (0.80x) | oom | 850.0 (2.00x) | oom |\n\n";
  CHECK(out && strstr(out, speed), "speed against performer, want\n%s\ngot\n%s", speed,
        out);
  free(out);
  CHECK(report_with(path, "lra-mini", EB_TABLE_SPEED, EB_FMT_CSV, &o, &out, err,
                    sizeof err) == 0,
        "%s", err);
  CHECK(out &&
            !strncmp(out,
                     "table,suite,arch,task,mode,seq_len,metric,value,std,n,runs,"
                     "status,best,ratio_to_performer,data_source,sem\r\n",
                     100) &&
            strstr(out, "speed,lra-mini,vanilla,text,train,1024,step_ms_median,125,,,,"
                        "done,,1.25,,\r\n"),
        "csv against performer: %s", out);
  free(out);

  /* not an arch of the suite: refused before anything is written */
  o.baseline = "linformer";
  int rc =
      report_with(path, "lra-mini", EB_TABLE_ALL, EB_FMT_MD, &o, &out, err, sizeof err);
  CHECK(rc == EB_INPUT, "unknown baseline: rc %d", rc);
  char want[700];
  snprintf(want, sizeof want,
           "baseline 'linformer' is not an arch of suite 'lra-mini' in %s (archs: "
           "performer, vanilla, wide_shallow)",
           path);
  CHECK(!strcmp(err, want), "got '%s'\nwant '%s'", err, want);
  CHECK(out && !out[0], "output before the refusal: %s", out);
  free(out);
  /* vanilla by default need not be there; named, it must */
  o.baseline = NULL;
  CHECK(report_with(path, "moe-suite", EB_TABLE_ALL, EB_FMT_MD, &o, &out, err,
                    sizeof err) == 0,
        "%s", err);
  free(out);
  o.baseline = "vanilla";
  CHECK(report_with(path, "moe-suite", EB_TABLE_ALL, EB_FMT_MD, &o, &out, err,
                    sizeof err) == EB_INPUT,
        "vanilla named for a suite without it");
  CHECK(strstr(err, "(archs: moe)"), "%s", err);
  free(out);
}

static void add_stats_run(eb_store *s, int64_t sid, const char *arch, int seed,
                          const char *status, const eb_stat_row *st, int n) {
  add_run(s, sid, arch, "t", seed, status, 0.5, st, n, 1000, 1000);
}

/* The stats table from declarations alone: a fake arch's labels, units and
 * each aggregation; an arch that declares nothing shows its recorded stats by
 * name; an arch with neither is not a row. */
static void test_stats_generic(void) {
  char err[700], p2[600], *out;
  snprintf(p2, sizeof p2, "%s/stats.db", dir);
  eb_store *s;
  CHECK(eb_store_open(p2, &s, err, sizeof err) == 0, "%s", err);
  if (!s) return;
  int64_t sid;
  CHECK(eb_store_suite(s, "gen", "", &sid, err, sizeof err) == 0, "%s", err);
  /* fake: steps 1..3 of lat (last: 7, 9), share (mean: 0.25, 0.35), tok (sum),
   * lo (min), hi (max); one run failed: it does not count */
  eb_stat_row f0[] = {{1, "lat", 5},     {2, "lat", 6},     {3, "lat", 7},
                      {1, "share", 0.2}, {2, "share", 0.3}, {1, "tok", 10},
                      {2, "tok", 20},    {1, "lo", 4},      {2, "lo", 2},
                      {1, "hi", 4},      {2, "hi", 8},      {1, "noise", 99}};
  eb_stat_row f1[] = {
      {1, "lat", 9}, {1, "share", 0.35}, {1, "tok", 40}, {1, "lo", 3}, {1, "hi", 6}};
  eb_stat_row f2[] = {{1, "lat", 1000}};
  add_stats_run(s, sid, "fake", 0, "done", f0, 12);
  add_stats_run(s, sid, "vanilla", 0, "done", NULL, 0);
  add_stats_run(s, sid, "fake", 1, "done", f1, 5);
  add_stats_run(s, sid, "fake", 2, "failed", f2, 1);
  eb_stat_row m0[] = {{4, "foo", 2}, {8, "foo", 4}, {8, "params_inactive", 250}};
  add_stats_run(s, sid, "mystery", 0, "done", m0, 3);
  eb_store_close(s);

  static const eb_report_stat decl[] = {
      {"fake", "lat", "latency", "ms", "time of the last step", EB_AGG_LAST},
      {"fake", "share", "share", "%", NULL, EB_AGG_MEAN},
      {"fake", "tok", "seen", "tokens", NULL, EB_AGG_SUM},
      {"fake", "lo", "low", NULL, NULL, EB_AGG_MIN},
      {"fake", "hi", NULL, NULL, NULL, EB_AGG_MAX},
      {"nothere", "x", "X", NULL, NULL, EB_AGG_MEAN},
  };
  eb_report_options o = {.stats = decl, .nstats = 6};
  CHECK(report_with(p2, "gen", EB_TABLE_STATS, EB_FMT_MD, &o, &out, err, sizeof err) == 0,
        "%s", err);
  expect_text(
      "generic stats md", out,
      "### Architecture statistics, suite `gen`\n\n"
      "Parameters total vs active per token; latency: time of the last step; mean ± std "
      "over the seeds that finished or timed out (their steps up to the budget) of each "
      "run's value: share, foo its mean over its recorded steps; latency its last "
      "recorded value; seen its sum over its recorded steps; low its smallest "
      "recorded value; hi its largest recorded value. Archs that declare no stats "
      "(their plugin not loaded, or built against an older header) show what they "
      "recorded, by name\n\n"
      "| arch | task | params | active params | active % | latency (ms) | share (%) | "
      "seen (tokens) | low | hi | foo | seeds |\n"
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
      "| fake | t | 1.0K | 1.0K | 100.0 | 8.00 ± 1.41 | 30.00 ± 7.07 | 35.00 ± 7.07 | "
      "2.50 ± 0.71 | 7.00 ± 1.41 |  | 2/3 |\n"
      "| mystery | t | 1.0K | 1.0K | 100.0 |  |  |  |  |  | 3.00 | 1 |\n\n");
  free(out);
  /* without declarations every arch shows what it recorded, by name */
  o.nstats = 0;
  CHECK(report_with(p2, "gen", EB_TABLE_STATS, EB_FMT_MD, &o, &out, err, sizeof err) == 0,
        "%s", err);
  const char *head = "| arch | task | params | active params | active % | hi | lat | lo "
                     "| noise | share | tok | foo | seeds |\n";
  CHECK(out && strstr(out, head), "undeclared header, want\n%s\ngot\n%s", head, out);
  free(out);
  /* a failed query is an error naming the file and the reason, never "no rows" */
  sqlite3 *db = NULL;
  CHECK(sqlite3_open(p2, &db) == SQLITE_OK &&
            sqlite3_exec(db, "DROP TABLE run_stats", NULL, NULL, NULL) == SQLITE_OK,
        "dropping run_stats: %s", sqlite3_errmsg(db));
  sqlite3_close(db);
  o.nstats = 6;
  int rc = report_with(p2, "gen", EB_TABLE_STATS, EB_FMT_MD, &o, &out, err, sizeof err);
  CHECK(rc == EB_DB && strstr(err, p2) && strstr(err, "no such table"), "rc %d: %s", rc,
        err);
  free(out);
}

static void test_errors(void) {
  char err[512], *out;
  int rc = run_report("nope", EB_TABLE_ALL, EB_FMT_MD, &out, err, sizeof err);
  CHECK(rc == EB_NOTFOUND, "rc %d", rc);
  char want[700];
  snprintf(want, sizeof want,
           "no runs for suite 'nope' in %s (suites: lra-mini, moe-suite)", path);
  CHECK(strcmp(err, want) == 0, "got '%s'\nwant '%s'", err, want);
  CHECK(out && out[0] == 0, "output on error: %s", out);
  free(out);

  /* an effbench database without runs */
  char empty[600];
  snprintf(empty, sizeof empty, "%s/empty.db", dir);
  eb_store *s;
  CHECK(eb_store_open(empty, &s, err, sizeof err) == 0, "%s", err);
  int64_t sid;
  CHECK(eb_store_suite(s, "declared-only", "", &sid, err, sizeof err) == 0, "%s", err);
  eb_store_close(s);
  CHECK(eb_store_open_readonly(empty, &s, err, sizeof err) == 0, "%s", err);
  if (s) {
    FILE *o = tmpfile();
    CHECK(eb_report(s, NULL, EB_TABLE_ALL, EB_FMT_MD, o, err, sizeof err) == EB_NOTFOUND,
          "empty db");
    CHECK(strstr(err, "no runs in") && strstr(err, "empty.db") && strstr(err, "none"),
          "%s", err);
    CHECK(eb_report(s, "declared-only", EB_TABLE_ALL, EB_FMT_MD, o, err, sizeof err) ==
              EB_NOTFOUND,
          "suite without runs");
    CHECK(strstr(err, "suites: none"), "%s", err);
    fclose(o);
    eb_store_close(s);
  }
  /* a missing file */
  char missing[600];
  snprintf(missing, sizeof missing, "%s/missing.db", dir);
  CHECK(eb_store_open_readonly(missing, &s, err, sizeof err) == EB_NOTFOUND,
        "missing opened");
  CHECK(strstr(err, "no database at") && strstr(err, "missing.db"), "%s", err);

  eb_table t;
  eb_format f;
  CHECK(eb_table_parse("speed", &t) == 0 && t == EB_TABLE_SPEED, "parse speed");
  CHECK(eb_format_parse("latex", &f) == 0 && f == EB_FMT_LATEX, "parse latex");
  CHECK(eb_format_parse("html", &f) == 0 && f == EB_FMT_HTML, "parse html");
  CHECK(eb_table_parse("speeds", &t) != 0 && eb_format_parse("htm", &f) != 0,
        "parse bad");
  CHECK(!strcmp(eb_table_name(EB_TABLE_STATS), "stats") &&
            !strcmp(eb_format_name(EB_FMT_CSV), "csv"),
        "names");
  /* the stats table's earlier name still parses */
  CHECK(eb_table_parse("moe", &t) == 0 && t == EB_TABLE_STATS, "parse moe");
  CHECK(eb_table_parse("stats", &t) == 0 && t == EB_TABLE_STATS, "parse stats");
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/eb_test_report_XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(path, sizeof path, "%s/results.db", dir);
  fill();
  if (getenv("EB_TEST_VERBOSE")) { /* show every rendering */
    for (int f = EB_FMT_MD; f <= EB_FMT_CSV; f++) {
      char err[512], *out;
      for (int k = 0; k < 2; k++) {
        run_report(k ? "moe-suite" : "lra-mini", EB_TABLE_ALL, (eb_format)f, &out, err,
                   sizeof err);
        fprintf(stderr, "%s", out ? out : err);
        free(out);
      }
    }
  }
  test_markdown();
  test_latex();
  test_csv();
  test_errors();
  test_baseline();
  test_stats_generic();
  test_sweep_note();
  test_sem();
  test_majority();
  test_html_no_gnuplot();
  test_html_escaping();
  test_html_figures();
  if (!eb_test_failures) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  } else {
    fprintf(stderr, "kept %s for inspection\n", dir);
  }
  return eb_test_done("test_report");
}
