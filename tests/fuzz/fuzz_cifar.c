/* Fuzz target: CIFAR-10 binary batches. Parts of the input (fuzz.h):
 * data_batch_1.bin, test_batch.bin, then data_batch_2.bin.. (optional). */
#include <stdio.h>

#include "fuzz.h"

extern const eb_task eb_task_image;

int eb_fuzz_cifar(const uint8_t *data, size_t size) {
  const uint8_t *p[6];
  size_t n[6];
  int k = eb_fuzz_parts(data, size, p, n, 6);
  char dir[4096], rel[256], kv[4200];
  eb_fuzz_mkdir(dir, sizeof dir);
  const char *first = "cifar-10-batches-bin/data_batch_1.bin",
             *test = "cifar-10-batches-bin/test_batch.bin";
  if (k > 0) eb_fuzz_write(dir, first, p[0], n[0]);
  if (k > 1)
    eb_fuzz_write(dir, test, p[1], n[1]);
  else
    eb_fuzz_fixture(dir, test, "image/cifar/test_batch.bin");
  for (int s = 2; s < k; s++) {
    snprintf(rel, sizeof rel, "cifar-10-batches-bin/data_batch_%d.bin", s);
    eb_fuzz_write(dir, rel, p[s], n[s]);
  }
  snprintf(kv, sizeof kv, "path=%s", dir);
  const char *args[] = {"source=cifar10", kv, "val=1", NULL};
  int rc = eb_fuzz_task(&eb_task_image, args);
  eb_fuzz_rmdir(dir);
  return rc;
}

#ifdef EB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  eb_fuzz_cifar(data, size);
  return 0;
}
#endif
