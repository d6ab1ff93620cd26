/* Fuzz target: the official Pathfinder layout (metadata/<b>.npy text lines
 * and imgs/<b>/sample_<i>.png). Parts of the input (fuzz.h), each replacing
 * the fixture file of tests/data/pathfinder/curv_baseline: metadata/2.npy,
 * imgs/2/sample_0..5.png, metadata/10.npy, imgs/10/sample_0..3.png. */
#include <stdio.h>

#include "fuzz.h"

extern const eb_task eb_task_pathfinder;

int eb_fuzz_pathfinder(const uint8_t *data, size_t size) {
  const uint8_t *p[12];
  size_t n[12];
  int k = eb_fuzz_parts(data, size, p, n, 12);
  char dir[4096], rel[256], src[300], kv[4200];
  eb_fuzz_mkdir(dir, sizeof dir);
  for (int f = 0; f < 12; f++) {
    if (f == 0)
      snprintf(rel, sizeof rel, "metadata/2.npy");
    else if (f <= 6)
      snprintf(rel, sizeof rel, "imgs/2/sample_%d.png", f - 1);
    else if (f == 7)
      snprintf(rel, sizeof rel, "metadata/10.npy");
    else
      snprintf(rel, sizeof rel, "imgs/10/sample_%d.png", f - 8);
    snprintf(src, sizeof src, "pathfinder/curv_baseline/%s", rel);
    if (f < k)
      eb_fuzz_write(dir, rel, p[f], n[f]);
    else
      eb_fuzz_fixture(dir, rel, src);
  }
  snprintf(kv, sizeof kv, "path=%s", dir);
  const char *args[] = {kv, NULL};
  int rc = eb_fuzz_task(&eb_task_pathfinder, args);
  eb_fuzz_rmdir(dir);
  return rc;
}

#ifdef EB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  eb_fuzz_pathfinder(data, size);
  return 0;
}
#endif
