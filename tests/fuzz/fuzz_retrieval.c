/* Fuzz target: the AAN retrieval TSV (new_aan_pairs.{train,eval,test}.tsv);
 * parts of the input (fuzz.h) are train, eval, test. */
#include <stdio.h>

#include "fuzz.h"

extern const eb_task eb_task_retrieval;

int eb_fuzz_retrieval(const uint8_t *data, size_t size) {
  static const char *const files[3] = {
      "new_aan_pairs.train.tsv", "new_aan_pairs.eval.tsv", "new_aan_pairs.test.tsv"};
  const uint8_t *p[3];
  size_t n[3];
  int k = eb_fuzz_parts(data, size, p, n, 3);
  char dir[4096], src[256], kv[4200];
  eb_fuzz_mkdir(dir, sizeof dir);
  for (int s = 0; s < 3; s++) {
    snprintf(src, sizeof src, "retrieval/%s", files[s]);
    if (s < k)
      eb_fuzz_write(dir, files[s], p[s], n[s]);
    else
      eb_fuzz_fixture(dir, files[s], src);
  }
  snprintf(kv, sizeof kv, "path=%s", dir);
  const char *args[] = {kv, "max_len=160", NULL};
  int rc = eb_fuzz_task(&eb_task_retrieval, args);
  eb_fuzz_rmdir(dir);
  return rc;
}

#ifdef EB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  eb_fuzz_retrieval(data, size);
  return 0;
}
#endif
