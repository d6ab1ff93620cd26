/* Fuzz target: suite YAML, through eb_suite_load (parse, validate, expand)
 * with the built-in architectures and tasks. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "registry.h"
#include "suite.h"

int eb_fuzz_yaml(const uint8_t *data, size_t size) {
  static eb_registry *reg;
  char err[EB_ERR_LEN] = "";
  if (!reg) {
    reg = eb_registry_create();
    if (!reg || eb_registry_add_builtins(reg, err, sizeof err)) {
      fprintf(stderr, "registry: %s\n", err);
      abort();
    }
  }
  char dir[4096], path[4200];
  eb_fuzz_mkdir(dir, sizeof dir);
  eb_fuzz_write(dir, "suite.yaml", data, size);
  snprintf(path, sizeof path, "%s/suite.yaml", dir);
  eb_suite s;
  int rc = eb_suite_load(path, reg, &s, err, sizeof err);
  if (rc == 0)
    eb_suite_free(&s);
  else
    rc = eb_fuzz_error("suite", err);
  eb_fuzz_rmdir(dir);
  return rc;
}

#ifdef EB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  eb_fuzz_yaml(data, size);
  return 0;
}
#endif
