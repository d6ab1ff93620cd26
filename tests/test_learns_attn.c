/* ctest-labels: e2e */
/* End to end: linformer, performer (both kernels) and wide trained on the
 * built-in synthetic `majority` task; the loss must fall and test accuracy
 * must end well above chance (4 classes: 25 %) within 250 steps. */
#include <stdio.h>

#include "check.h"
#include "learn.h"

int main(void) {
  char err[EB_ERR_LEN];
  eb_registry *reg = eb_registry_create();
  if (eb_registry_add_builtins(reg, err, sizeof err))
    return fprintf(stderr, "%s\n", err), 1;
  eb_set_threads(1);
  eb_test_learns(reg, "linformer", 1, (const char *[]){"k"}, (const char *[]){"16"}, 250);
  eb_test_learns(reg, "linformer", 2, (const char *[]){"k", "share"},
                 (const char *[]){"16", "layer"}, 250);
  eb_test_learns(reg, "performer", 1, (const char *[]){"features"},
                 (const char *[]){"32"}, 250);
  eb_test_learns(reg, "performer", 3, (const char *[]){"features", "kernel", "redraw"},
                 (const char *[]){"32", "relu", "100"}, 250);
  eb_test_learns(reg, "wide", 1, (const char *[]){"heads"}, (const char *[]){"8"}, 250);
  eb_registry_destroy(reg);
  return eb_test_done("test_learns_attn");
}
