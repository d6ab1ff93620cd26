/* ctest-labels: e2e */
/* End to end: vanilla trained on the built-in synthetic task; the loss must
 * fall and test accuracy must end well above chance (4 classes: 25 %). */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "registry.h"
#include "train.h"

int main(void) {
  char err[EB_ERR_LEN];
  eb_registry *reg = eb_registry_create();
  if (eb_registry_add_builtins(reg, err, sizeof err))
    return fprintf(stderr, "%s\n", err), 1;
  eb_set_threads(1);
  const eb_task *t = eb_registry_find_task(reg, "majority");
  const eb_arch *a = eb_registry_find_arch(reg, "vanilla");
  eb_argset targs, aargs;
  const char *tk[] = {"len"}, *tv[] = {"48"};
  eb_argset_resolve(&targs, "task", t->params, 1, tk, tv, err, sizeof err);
  eb_argset_resolve(&aargs, "arch", a->params, 0, NULL, NULL, err, sizeof err);
  void *data;
  eb_task_info info;
  if (t->open(&targs.args, 1, &data, &info, err, sizeof err))
    return fprintf(stderr, "%s\n", err), 1;
  eb_model_config cfg = {.dim = 32, .depth = 2, .heads = 4, .ffn = 64, .dropout = 0.0f};
  eb_model m;
  if (eb_model_create(&m, a, &cfg, &aargs.args, info.vocab, info.classes, info.max_len, 0,
                      1, err, sizeof err))
    return fprintf(stderr, "%s\n", err), 1;
  eb_train_cfg tc = eb_train_defaults();
  tc.steps = 250;
  tc.batch = 32;
  tc.warmup = 25;
  tc.lr = 2e-3f;
  tc.eval_every = 50;
  tc.seed = 1;
  eb_train_result r;
  int rc = eb_train_run(&m, t, data, &info, &tc, NULL, &r, err, sizeof err);
  CHECK(rc == 0, "training failed: %s", err);
  if (rc == 0) {
    double first = 0, last = 0;
    for (int i = 0; i < 20; i++) {
      first += r.losses[i] / 20.0;
      last += r.losses[r.steps_done - 20 + i] / 20.0;
    }
    printf("loss %.4f -> %.4f, val %.3f, test %.3f at step %d, %.0f tokens/s\n", first,
           last, r.val_accuracy, r.test_accuracy, r.best_step, r.tokens_per_s);
    CHECK(r.status == EB_RUN_DONE, "status %s", eb_run_status_name(r.status));
    CHECK(last < 0.6 * first, "loss did not fall enough: %.4f -> %.4f", first, last);
    CHECK(r.test_accuracy > 0.6, "test accuracy %.3f is not well above chance (0.25)",
          r.test_accuracy);
  }
  free(r.losses);
  eb_model_destroy(&m);
  t->close(data);
  eb_argset_free(&aargs);
  eb_argset_free(&targs);
  eb_registry_destroy(reg);
  return eb_test_done("test_learns");
}
