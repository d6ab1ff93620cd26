/* ctest-labels: slow */
/* listops at LRA scale: generating the default 96,000 / 2,000 / 2,000 set
 * (500 < length < 2000) takes seconds, reopening maps the cache at once, and
 * the labels and lengths look like the official data (printed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "args.h"
#include "effbench/plugin.h"
#include "dataset.h"

extern const eb_task eb_task_listops;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static eb_dataset *open_default(double *seconds) {
  eb_argset as = {0};
  char err[1024] = "";
  if (eb_argset_resolve(&as, "task 'listops'", eb_task_listops.params, 0, NULL, NULL, err,
                        sizeof err)) {
    CHECK(0, "%s", err);
    return NULL;
  }
  void *data = NULL;
  eb_task_info info;
  double t0 = now();
  int rc = eb_task_listops.open(&as.args, 0, &data, &info, err, sizeof err);
  *seconds = now() - t0;
  eb_argset_free(&as);
  CHECK(rc == 0, "open: %s", err);
  return rc ? NULL : data;
}

int main(void) {
  char dir[] = "/tmp/eb-listops-speed-XXXXXX";
  if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
  setenv("EFFBENCH_CACHE", dir, 1);
  double gen_s = 0, load_s = 0;
  eb_dataset *d = open_default(&gen_s);
  printf("generate 96,000 + 2,000 + 2,000 examples (and write the cache): %.2f s\n",
         gen_s);
  CHECK(gen_s < 60.0, "generation took %.1f s", gen_s);
  if (d) {
    CHECK(d->split[0].n == 96000 && d->split[1].n == 2000 && d->split[2].n == 2000,
          "sizes %lld/%lld/%lld", (long long)d->split[0].n, (long long)d->split[1].n,
          (long long)d->split[2].n);
    int64_t hist[10] = {0}, lmin = 1 << 30, lmax = 0;
    double lsum = 0;
    for (int64_t i = 0; i < d->split[0].n; i++) {
      hist[d->split[0].labels[i]]++;
      int l = d->split[0].len[i];
      lmin = l < lmin ? l : lmin;
      lmax = l > lmax ? l : lmax;
      lsum += l;
    }
    printf("train lengths: min %lld, mean %.0f, max %lld\nlabel shares:", (long long)lmin,
           lsum / 96000.0, (long long)lmax);
    int64_t top = 0;
    for (int c = 0; c < 10; c++) {
      printf(" %d:%.1f%%", c, 100.0 * (double)hist[c] / 96000.0);
      top = hist[c] > top ? hist[c] : top;
    }
    printf("\n");
    CHECK(lmin > 500 && lmax < 2000, "lengths %lld..%lld", (long long)lmin,
          (long long)lmax);
    /* LRA: majority class about 17 %, every class present */
    CHECK(top < 96000 / 4, "majority class %.1f%%", 100.0 * (double)top / 96000.0);
    for (int c = 0; c < 10; c++)
      CHECK(hist[c] > 96000 / 100, "class %d only %lld times", c, (long long)hist[c]);
    eb_task_listops.close(d);
  }
  eb_dataset *e = open_default(&load_s);
  printf("reopen from the cache: %.3f s\n", load_s);
  CHECK(e && e->map, "the second open did not map the cache");
  CHECK(load_s < 5.0, "reopening took %.1f s", load_s);
  if (e) eb_task_listops.close(e);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return eb_test_done("listops_speed");
}
