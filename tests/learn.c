#include "args.h"
#include "learn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train.h"

static void print_stat(void *user, const char *name, double value) {
  if (strncmp(name, "load_e", 6) != 0)
    printf("  %s %s = %.4g\n", (const char *)user, name, value);
}

void eb_test_learns(eb_registry *reg, const char *arch, int nkv, const char *const *keys,
                    const char *const *vals, int steps) {
  char err[EB_ERR_LEN];
  const eb_task *t = eb_registry_find_task(reg, "majority");
  const eb_arch *a = eb_registry_find_arch(reg, arch);
  eb_argset targs, aargs;
  const char *tk[] = {"len"}, *tv[] = {"48"};
  if (!t || !a) {
    CHECK(0, "%s or majority is not registered", arch);
    return;
  }
  if (eb_argset_resolve(&targs, "task", t->params, 1, tk, tv, err, sizeof err)) {
    CHECK(0, "%s: %s", arch, err);
    return;
  }
  if (eb_argset_resolve(&aargs, arch, a->params, nkv, keys, vals, err, sizeof err)) {
    CHECK(0, "%s: %s", arch, err);
    eb_argset_free(&targs);
    return;
  }
  void *data = NULL;
  eb_task_info info;
  eb_model m;
  memset(&m, 0, sizeof m);
  if (t->open(&targs.args, 1, &data, &info, err, sizeof err) ||
      eb_model_create(
          &m, a, &(eb_model_config){.dim = 32, .depth = 2, .heads = 4, .ffn = 64},
          &aargs.args, info.vocab, info.classes, info.max_len, 0, 1, err, sizeof err)) {
    CHECK(0, "%s: %s", arch, err);
    goto out;
  }
  eb_train_cfg tc = eb_train_defaults();
  tc.steps = steps;
  tc.batch = 32;
  tc.warmup = 25;
  tc.lr = 2e-3f;
  tc.eval_every = 50;
  tc.seed = 1;
  eb_train_result r;
  const double t0 = eb_now();
  int rc = eb_train_run(&m, t, data, &info, &tc, NULL, &r, err, sizeof err);
  CHECK(rc == 0, "%s: training failed: %s", arch, err);
  if (rc == 0) {
    double first = 0, last = 0;
    for (int i = 0; i < 20; i++) {
      first += r.losses[i] / 20.0;
      last += r.losses[r.steps_done - 20 + i] / 20.0;
    }
    printf("%-10s %s%s: loss %.4f -> %.4f, val %.3f, test %.3f at step %d, %.1f s, "
           "%.0f tokens/s\n",
           arch, nkv ? keys[0] : "", nkv > 1 ? " ..." : "", first, last, r.val_accuracy,
           r.test_accuracy, r.best_step, eb_now() - t0, r.tokens_per_s);
    if (a->stats) {
      eb_stat_sink sink = {(void *)arch, print_stat};
      a->stats(m.impl, &sink);
    }
    CHECK(r.status == EB_RUN_DONE, "%s: status %s", arch, eb_run_status_name(r.status));
    CHECK(last < 0.6 * first, "%s: loss did not fall enough: %.4f -> %.4f", arch, first,
          last);
    CHECK(r.test_accuracy > 0.6, "%s: test accuracy %.3f is not well above chance (0.25)",
          arch, r.test_accuracy);
  }
  free(r.losses);
out:
  if (m.P) eb_model_destroy(&m);
  if (data) t->close(data);
  eb_argset_free(&aargs);
  eb_argset_free(&targs);
}
