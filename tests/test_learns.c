/* ctest-labels: e2e */
/* End to end: vanilla trained on the built-in synthetic task; the loss must
 * fall and test accuracy must end well above chance (4 classes: 25 %). */
#include <stdio.h>

#include "check.h"
#include "learn.h"

int main(void) {
  char err[EB_ERR_LEN];
  eb_registry *reg = eb_registry_create();
  if (eb_registry_add_builtins(reg, err, sizeof err))
    return fprintf(stderr, "%s\n", err), 1;
  eb_set_threads(1);
  eb_test_learns(reg, "vanilla", 0, NULL, NULL, 250);
  eb_registry_destroy(reg);
  return eb_test_done("test_learns");
}
