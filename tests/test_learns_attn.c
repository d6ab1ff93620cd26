/* ctest-labels: e2e */
/* End to end: linformer, performer (both kernels) and wide trained on the
 * built-in synthetic `majority` task; the loss must fall and test accuracy
 * must end well above chance (4 classes: 25 %) within 250 steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "registry.h"
#include "train.h"

static void learns(eb_registry *reg, const char *arch, int nkv, const char *const *keys,
                   const char *const *vals) {
  char err[EB_ERR_LEN];
  const eb_task *t = eb_registry_find_task(reg, "majority");
  const eb_arch *a = eb_registry_find_arch(reg, arch);
  eb_argset targs, aargs;
  const char *tk[] = {"len"}, *tv[] = {"48"};
  if (eb_argset_resolve(&targs, "task", t->params, 1, tk, tv, err, sizeof err) ||
      eb_argset_resolve(&aargs, arch, a->params, nkv, keys, vals, err, sizeof err)) {
    CHECK(0, "%s: %s", arch, err);
    return;
  }
  void *data;
  eb_task_info info;
  if (t->open(&targs.args, 1, &data, &info, err, sizeof err)) {
    CHECK(0, "%s: %s", arch, err);
    return;
  }
  eb_model_config cfg = {.dim = 32, .depth = 2, .heads = 4, .ffn = 64, .dropout = 0.0f};
  eb_model m;
  if (eb_model_create(&m, a, &cfg, &aargs.args, info.vocab, info.classes, info.max_len, 0,
                      1, err, sizeof err)) {
    CHECK(0, "%s: %s", arch, err);
    t->close(data);
    return;
  }
  eb_train_cfg tc = eb_train_defaults();
  tc.steps = 250;
  tc.batch = 32;
  tc.warmup = 25;
  tc.lr = 2e-3f;
  tc.eval_every = 50;
  tc.seed = 1;
  eb_train_result r;
  int rc = eb_train_run(&m, t, data, &info, &tc, NULL, &r, err, sizeof err);
  CHECK(rc == 0, "%s: training failed: %s", arch, err);
  if (rc == 0) {
    double first = 0, last = 0;
    for (int i = 0; i < 20; i++) {
      first += r.losses[i] / 20.0;
      last += r.losses[r.steps_done - 20 + i] / 20.0;
    }
    printf(
        "%-10s %s%s: loss %.4f -> %.4f, val %.3f, test %.3f at step %d, %.0f tokens/s\n",
        arch, nkv ? keys[0] : "", nkv > 1 ? " ..." : "", first, last, r.val_accuracy,
        r.test_accuracy, r.best_step, r.tokens_per_s);
    CHECK(r.status == EB_RUN_DONE, "%s: status %s", arch, eb_run_status_name(r.status));
    CHECK(last < 0.6 * first, "%s: loss did not fall enough: %.4f -> %.4f", arch, first,
          last);
    CHECK(r.test_accuracy > 0.6, "%s: test accuracy %.3f is not well above chance (0.25)",
          arch, r.test_accuracy);
  }
  free(r.losses);
  eb_model_destroy(&m);
  t->close(data);
  eb_argset_free(&aargs);
  eb_argset_free(&targs);
}

int main(void) {
  char err[EB_ERR_LEN];
  eb_registry *reg = eb_registry_create();
  if (eb_registry_add_builtins(reg, err, sizeof err))
    return fprintf(stderr, "%s\n", err), 1;
  eb_set_threads(1);
  learns(reg, "linformer", 1, (const char *[]){"k"}, (const char *[]){"16"});
  learns(reg, "linformer", 2, (const char *[]){"k", "share"},
         (const char *[]){"16", "layer"});
  learns(reg, "performer", 1, (const char *[]){"features"}, (const char *[]){"32"});
  learns(reg, "performer", 3, (const char *[]){"features", "kernel", "redraw"},
         (const char *[]){"32", "relu", "100"});
  learns(reg, "wide", 1, (const char *[]){"heads"}, (const char *[]){"8"});
  eb_registry_destroy(reg);
  return eb_test_done("test_learns_attn");
}
