/* ctest-labels: e2e */
/* End to end: poolformer, mamba (uni- and bidirectional) and moe trained on
 * the built-in synthetic `majority` task (4 classes, chance 25 %) must reach
 * test accuracy > 0.6 within 300 steps; the MoE run reports its routing stats. */
#include <stdio.h>

#include "check.h"
#include "learn.h"

int main(void) {
  char err[EB_ERR_LEN];
  eb_registry *reg = eb_registry_create();
  if (eb_registry_add_builtins(reg, err, sizeof err))
    return fprintf(stderr, "%s\n", err), 1;
  eb_set_threads(1);
  eb_test_learns(reg, "poolformer", 0, NULL, NULL, 300);
  /* state 8 instead of 16: the scan dominates the run time (time box < 60 s) */
  eb_test_learns(reg, "mamba", 1, (const char *[]){"state"}, (const char *[]){"8"}, 300);
  eb_test_learns(reg, "mamba", 2, (const char *[]){"bidirectional", "state"},
                 (const char *[]){"true", "8"}, 300);
  eb_test_learns(reg, "moe", 0, NULL, NULL, 300);
  eb_registry_destroy(reg);
  return eb_test_done("test_learns_ssm");
}
