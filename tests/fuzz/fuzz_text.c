/* Fuzz target: text classification files, label<TAB>text lines. One part:
 * a single file (test and val carved out of it); two or three parts: a folder
 * of train.tsv, test.tsv and val.tsv. */
#include <stdio.h>

#include "fuzz.h"

extern const eb_task eb_task_text;

int eb_fuzz_text(const uint8_t *data, size_t size) {
  static const char *const files[3] = {"train.tsv", "test.tsv", "val.tsv"};
  const uint8_t *p[3];
  size_t n[3];
  int k = eb_fuzz_parts(data, size, p, n, 3);
  char dir[4096], kv[4200];
  eb_fuzz_mkdir(dir, sizeof dir);
  if (k == 1) {
    eb_fuzz_write(dir, "reviews.tsv", p[0], n[0]);
    snprintf(kv, sizeof kv, "path=%s/reviews.tsv", dir);
  } else {
    for (int s = 0; s < k; s++)
      eb_fuzz_write(dir, files[s], p[s], n[s]);
    snprintf(kv, sizeof kv, "path=%s", dir);
  }
  const char *args[] = {kv, "val=1", "test=1", "classes=3", "max_len=64", NULL};
  int rc = eb_fuzz_task(&eb_task_text, args);
  eb_fuzz_rmdir(dir);
  return rc;
}

#ifdef EB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  eb_fuzz_text(data, size);
  return 0;
}
#endif
