/* ctest-labels: e2e */
/* effbench plot end to end: a database of 3 archs x 2 tasks x 2 seeds with
 * training curves and speed rows at 3 lengths (one oom) is drawn in PNG,
 * SVG and PDF; every figure's image, data file and script must exist, and rerunning
 * `gnuplot NAME.gp` in the output directory must succeed. Skipped (77) when
 * gnuplot is not installed. Set EB_PLOT_KEEP=1 to keep the output directory
 * for a look at the figures. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "plot.h"
#include "store.h"

static const char *ARCHS[] = {"vanilla", "linformer", "performer"};
static const char *TASKS[] = {"listops", "text"};
/* final test accuracy per arch and task; the curves rise towards it */
static const double ACC[3][2] = {{0.376, 0.641}, {0.352, 0.622}, {0.368, 0.648}};
static const double FLOPS[3] = {2.1e9, 1.2e9, 1.4e9};
/* training step ms and peak MiB per arch at lengths 256, 512, 1024 (0 = oom) */
static const int LENS[3] = {256, 512, 1024};
static const double STEP_MS[3][3] = {
    {11.5, 41.0, 0}, {7.9, 15.2, 29.8}, {9.1, 17.6, 34.0}};
static const double MEM_MIB[3][3] = {{118, 430, 0}, {61, 112, 215}, {72, 135, 262}};

static int build_db(const char *path, char *err, size_t errlen) {
  eb_store *s = NULL;
  if (eb_store_open(path, &s, err, errlen)) return -1;
  int64_t suite = 0, other = 0;
  /* first, so that lra-mini is the latest suite: speed rows only, so
   * scaling can be drawn and curves cannot */
  int rc = eb_store_suite(s, "speed-only", "suite: speed-only\n", &other, err, errlen);
  for (int l = 0; l < 2 && !rc; l++) {
    eb_speed_row sp = {.suite_id = other,
                       .arch = "vanilla",
                       .task = "listops",
                       .seq_len = LENS[l],
                       .batch = 4,
                       .mode = "train",
                       .threads = 2,
                       .step_ms_median = 10.0 * (l + 1),
                       .step_ms_min = 9.0 * (l + 1),
                       .tokens_per_s = 1000,
                       .gflops_per_s = 1,
                       .peak_mem_bytes = 1 << 26,
                       .status = "done",
                       .config_json = "{}"};
    rc = eb_store_speed(s, &sp, err, errlen);
  }
  if (!rc) rc = eb_store_suite(s, "lra-mini", "suite: lra-mini\n", &suite, err, errlen);
  for (int a = 0; a < 3 && !rc; a++)
    for (int t = 0; t < 2 && !rc; t++)
      for (int seed = 0; seed < 2 && !rc; seed++) {
        char key[128];
        snprintf(key, sizeof key, "%s-%s-%d", ARCHS[a], TASKS[t], seed);
        int64_t id = 0;
        rc = eb_store_run_begin(s, suite, key, ARCHS[a], TASKS[t], seed, "{}", "host",
                                "test", &id, err, errlen);
        if (rc) break;
        eb_eval_row ev[12];
        int ne = 0;
        double fin = ACC[a][t] + (seed ? 0.006 : -0.006);
        for (int step = 0; step <= 1000; step += 100) {
          double k = 1 - exp(-(step + 50) / (250.0 + 60 * a));
          ev[ne++] = (eb_eval_row){step, "val", 2.0 - k,
                                   0.1 + (fin - 0.1) * k + 0.004 * seed, step * 0.05};
        }
        ev[ne++] = (eb_eval_row){1000, "test", 1.0, fin, 50};
        int steps = a == 2 && seed == 1 ? 900 : 1000;
        eb_run_result_row r = {
            .status = "done",
            .params_total = 200000,
            .params_active = 200000,
            .flops_train_step = FLOPS[a] * (t ? 2 : 1),
            /* model = 0.9 executed; one run of the text task
             * as stored before model FLOPs existed (NULL) */
            .model_flops_train_step =
                a == 1 && t == 1 && seed == 1 ? NAN : 0.9 * FLOPS[a] * (t ? 2 : 1),
            .flops_infer_seq = FLOPS[a] / 3,
            .val_accuracy = fin + 0.01,
            .test_accuracy = fin,
            .best_step = 1000,
            .steps_done = steps,
            .train_seconds = 50,
            .tokens_per_s = 1e5,
            .padded_tokens_per_s = 1.2e5,
            .infer_ms_per_batch = 5,
            .train_ms_per_step = STEP_MS[a][1],
            .peak_mem_bytes = (int64_t)(MEM_MIB[a][1] * 1048576),
            .evals = ev,
            .n_evals = ne};
        rc = eb_store_run_finish(s, id, &r, err, errlen);
      }
  for (int a = 0; a < 3 && !rc; a++)
    for (int l = 0; l < 3 && !rc; l++)
      for (int m = 0; m < 2 && !rc; m++) {
        int oom = STEP_MS[a][l] == 0;
        double ms = oom ? NAN : STEP_MS[a][l] * (m ? 0.3 : 1);
        eb_speed_row sp = {.suite_id = suite,
                           .arch = ARCHS[a],
                           .task = "listops",
                           .seq_len = LENS[l],
                           .batch = 8,
                           .mode = m ? "infer" : "train",
                           .threads = 1,
                           .step_ms_median = ms,
                           .step_ms_min = ms * 0.97,
                           .tokens_per_s = oom ? NAN : 8 * LENS[l] * 1000 / ms,
                           .gflops_per_s = oom ? NAN : 10,
                           .peak_mem_bytes =
                               oom ? -1
                                   : (int64_t)(MEM_MIB[a][l] * (m ? 0.4 : 1) * 1048576),
                           .status = oom ? "oom" : "done",
                           .config_json = "{}"};
        rc = eb_store_speed(s, &sp, err, errlen);
      }
  eb_store_close(s);
  return rc ? -1 : 0;
}

static long file_size(const char *dir, const char *name, const char *ext) {
  char p[1024];
  snprintf(p, sizeof p, "%s/%s.%s", dir, name, ext);
  struct stat sb;
  return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

static int file_has(const char *dir, const char *name, const char *ext,
                    const char *needle, size_t nlen) {
  char p[1024];
  snprintf(p, sizeof p, "%s/%s.%s", dir, name, ext);
  FILE *f = fopen(p, "rb");
  if (!f) return 0;
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  if (!nlen) return strstr(buf, needle) != NULL;
  return n >= nlen && memcmp(buf, needle, nlen) == 0;
}

static const char *FIGS[] = {"bubble",         "scaling-time", "scaling-memory",
                             "curves-listops", "curves-text",  "pareto-listops",
                             "pareto-text"};
#define N_FIGS 7

static void check_figures(const char *dir, const char *ext) {
  for (int i = 0; i < N_FIGS; i++) {
    const char *f = FIGS[i];
    CHECK(file_size(dir, f, ext) > 0, "%s/%s.%s missing or empty", dir, f, ext);
    CHECK(file_size(dir, f, "dat") > 0, "%s/%s.dat missing or empty", dir, f);
    CHECK(file_size(dir, f, "gp") > 0, "%s/%s.gp missing or empty", dir, f);
    CHECK(file_has(dir, f, "dat", "# columns:", 0), "%s.dat has no column header", f);
    if (strcmp(ext, "png") == 0)
      CHECK(file_has(dir, f, "png", "\x89PNG\r\n\x1a\n", 8),
            "%s.png has no PNG signature", f);
    else
      CHECK(file_has(dir, f, "svg", "<svg", 0), "%s.svg has no <svg element", f);
    /* the script regenerates the image by itself */
    char img[1536], cmd[2048];
    snprintf(img, sizeof img, "%s/%s.%s", dir, f, ext);
    remove(img);
    snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot '%s.gp' >/dev/null 2>&1", dir, f);
    CHECK(system(cmd) == 0, "rerunning gnuplot %s.gp in %s failed", f, dir);
    CHECK(file_size(dir, f, ext) > 0, "gnuplot %s.gp did not regenerate %s", f, img);
  }
}

int main(void) {
  char dir[] = "/tmp/eb_test_plot_XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  char db[256], out_png[256], out_svg[256], out_one[256], out_speed[256];
  snprintf(db, sizeof db, "%s/results.db", dir);
  snprintf(out_png, sizeof out_png, "%s/fig-png", dir);
  snprintf(out_svg, sizeof out_svg, "%s/nested/fig-svg", dir);
  snprintf(out_one, sizeof out_one, "%s/fig-one", dir);
  snprintf(out_speed, sizeof out_speed, "%s/fig-speed", dir);
  char err[2048];
  if (build_db(db, err, sizeof err)) {
    fprintf(stderr, "building the test database failed: %s\n", err);
    return 1;
  }
  eb_store *s = NULL;
  if (eb_store_open_readonly(db, &s, err, sizeof err)) {
    fprintf(stderr, "reopening the test database failed: %s\n", err);
    return 1;
  }

  /* a gnuplot that is not there gives the install hint */
  setenv("EFFBENCH_GNUPLOT", "/nonexistent/gnuplot", 1);
  int written = -1;
  int rc = eb_plot(s, NULL, EB_PLOT_ALL, EB_PLOT_PNG, out_png, &written, err, sizeof err);
  CHECK(rc == EB_UNSUPPORTED, "missing gnuplot: rc %d (%s)", rc, err);
  CHECK(strstr(err, "install the Debian package gnuplot-nox") != NULL,
        "missing gnuplot message: %s", err);
  unsetenv("EFFBENCH_GNUPLOT");

  rc = eb_plot(s, "lra-mini", EB_PLOT_ALL, EB_PLOT_PNG, out_png, &written, err,
               sizeof err);
  if (rc == EB_UNSUPPORTED) {
    printf("test_plot: skipped: %s\n", err);
    eb_store_close(s);
    return 77;
  }
  CHECK(rc == 0, "plot all png: rc %d: %s", rc, err);
  /* pareto's x axis is model FLOPs (0.9 x executed here), and says so; the
   * run without model FLOPs is left out, with a note */
  CHECK(file_has(out_png, "pareto-listops", "dat", "1.89e+12 ", 0) &&
            !file_has(out_png, "pareto-listops", "dat", "2.1e+12 ", 0),
        "pareto-listops.dat does not plot model FLOPs (0.9 x 2.1e9 x 1000 steps)");
  CHECK(file_has(out_png, "pareto-listops", "gp", "model FLOPs, no recompute", 0),
        "pareto-listops.gp's x axis does not say model FLOPs");
  CHECK(strstr(err, "pareto for task 'text': 1 run(s) left out") != NULL,
        "no note about the run without model FLOPs: '%s'", err);
  CHECK(written == N_FIGS, "plot all png wrote %d figures, want %d", written, N_FIGS);
  check_figures(out_png, "png");
  /* vanilla is oom at 1024, so the bubble speeds come from length 512 */
  CHECK(file_has(out_png, "bubble", "dat", "sequence length 512", 0),
        "bubble.dat does not name the common length 512");
  CHECK(file_has(out_png, "scaling-time", "gp", "vanilla train at 1024 (oom)", 0),
        "scaling-time.gp does not list the oom measurement");

  /* latest suite by default, SVG into a directory that does not exist yet */
  rc = eb_plot(s, NULL, EB_PLOT_ALL, EB_PLOT_SVG, out_svg, &written, err, sizeof err);
  CHECK(rc == 0, "plot all svg: rc %d: %s", rc, err);
  CHECK(written == N_FIGS, "plot all svg wrote %d figures, want %d", written, N_FIGS);
  check_figures(out_svg, "svg");

  /* PDF through pdfcairo */
  char out_pdf[256];
  snprintf(out_pdf, sizeof out_pdf, "%s/fig-pdf", dir);
  rc = eb_plot(s, "lra-mini", EB_PLOT_ALL, EB_PLOT_PDF, out_pdf, &written, err,
               sizeof err);
  CHECK(rc == 0 && written == N_FIGS, "plot all pdf: rc %d, %d written: %s", rc, written,
        err);
  for (int i = 0; i < N_FIGS; i++)
    CHECK(file_has(out_pdf, FIGS[i], "pdf", "%PDF", 4), "%s.pdf has no PDF signature",
          FIGS[i]);

  /* one kind only */
  rc = eb_plot(s, "lra-mini", EB_PLOT_BUBBLE, EB_PLOT_PNG, out_one, &written, err,
               sizeof err);
  CHECK(rc == 0 && written == 1, "plot bubble: rc %d, %d written: %s", rc, written, err);
  CHECK(file_size(out_one, "scaling-time", "png") < 0, "plot bubble also drew scaling");

  /* a suite of speed rows only: curves cannot be drawn, all draws scaling
   * and says what it skipped */
  rc = eb_plot(s, "speed-only", EB_PLOT_CURVES, EB_PLOT_PNG, out_speed, &written, err,
               sizeof err);
  CHECK(rc == EB_NOTFOUND && written == 0, "curves of speed-only: rc %d (%s)", rc, err);
  rc = eb_plot(s, "speed-only", EB_PLOT_ALL, EB_PLOT_PNG, out_speed, &written, err,
               sizeof err);
  CHECK(rc == 0 && written == 2, "all of speed-only: rc %d, %d written (%s)", rc, written,
        err);
  CHECK(strstr(err, "bubble skipped") != NULL, "no note about the skipped bubble: '%s'",
        err);

  rc = eb_plot(s, "nope", EB_PLOT_ALL, EB_PLOT_PNG, out_speed, &written, err, sizeof err);
  CHECK(rc == EB_NOTFOUND && strstr(err, "no runs for suite 'nope'") &&
            strstr(err, "lra-mini"),
        "unknown suite: rc %d (%s)", rc, err);

  eb_plot_kind k;
  eb_plot_format f;
  CHECK(eb_plot_kind_parse("pareto", &k) == 0 && k == EB_PLOT_PARETO, "parse pareto");
  CHECK(eb_plot_kind_parse("pie", &k) == -1, "parse pie");
  CHECK(eb_plot_format_parse("pdf", &f) == 0 && f == EB_PLOT_PDF, "parse pdf");
  CHECK(strcmp(eb_plot_format_name(EB_PLOT_SVG), "svg") == 0, "svg name");
  eb_store_close(s);

  if (getenv("EB_PLOT_KEEP")) {
    printf("test_plot: figures kept in %s\n", dir);
  } else {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  }
  return eb_test_done("test_plot");
}
