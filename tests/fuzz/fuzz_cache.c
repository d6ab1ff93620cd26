/* Fuzz target: the data cache file (tasks/dataset.c). The input is the file;
 * when its size allows (a multiple of 64 bytes, at least a header), its
 * checksum is recomputed first (eb_dataset_reseal), so mutations reach the
 * structural checks behind it instead of all stopping at the checksum. A
 * loaded cache gets a batch of each non-empty split. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "fuzz.h"

int eb_fuzz_cache(const uint8_t *data, size_t size) {
  char dir[4096], path[4200], err[EB_ERR_LEN] = "";
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) abort();
  memcpy(copy, data, size);
  eb_dataset_reseal(copy, size);
  eb_fuzz_mkdir(dir, sizeof dir);
  eb_fuzz_write(dir, "x.ebds", copy, size);
  free(copy);
  snprintf(path, sizeof path, "%s/x.ebds", dir);
  eb_dataset d;
  int rc = eb_dataset_load(&d, path, err, sizeof err);
  if (rc) {
    rc = eb_fuzz_error("cache", err);
  } else {
    for (int s = 0; s < 3; s++) {
      const eb_split_data *sp = &d.split[s];
      if (sp->n < 1 || sp->max_len > 4096) continue;
      size_t cells = 2 * (size_t)sp->max_len;
      int32_t *tok = calloc(cells, 4), *tok2 = calloc(cells, 4), lab[2];
      uint8_t *mask = calloc(cells, 1), *mask2 = calloc(cells, 1);
      if (!tok || !tok2 || !mask || !mask2) abort();
      eb_batch b = {.B = 2,
                    .N = sp->max_len,
                    .tokens = tok,
                    .mask = mask,
                    .tokens2 = tok2,
                    .mask2 = mask2,
                    .labels = lab};
      err[0] = '\0';
      if (eb_dataset_batch(&d, (eb_split)s, 0, 3, &b, err, sizeof err))
        eb_fuzz_error("cache batch", err);
      free(tok);
      free(tok2);
      free(mask);
      free(mask2);
    }
    eb_dataset_free(&d);
  }
  eb_fuzz_rmdir(dir);
  return rc;
}

#ifdef EB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  eb_fuzz_cache(data, size);
  return 0;
}
#endif
