/* Fuzz targets: MNIST-family IDX files, plain (eb_fuzz_idx) and gzip-compressed
 * (eb_fuzz_idxgz). Parts of the input (fuzz.h): train images, train labels,
 * test images, test labels. For .gz, a part that starts with the gzip magic is
 * written as it is (a hostile gzip stream), any other is compressed first (so
 * the IDX parser behind zlib is reached). */
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include "fuzz.h"

extern const eb_task eb_task_image;

static const char *const files[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

static void write_gz(const char *dir, const char *rel, const uint8_t *p, size_t n) {
  if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
    eb_fuzz_write(dir, rel, p, n);
    return;
  }
  char path[4400];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  gzFile g = gzopen(path, "wb");
  if (!g || (n && gzwrite(g, p, (unsigned)n) != (int)n) || gzclose(g) != Z_OK) {
    fprintf(stderr, "%s: cannot write\n", path);
    abort();
  }
}

static int idx(const uint8_t *data, size_t size, int gz) {
  const uint8_t *p[4];
  size_t n[4];
  int k = eb_fuzz_parts(data, size, p, n, 4);
  char dir[4096], rel[256], src[300], kv[4200];
  eb_fuzz_mkdir(dir, sizeof dir);
  for (int s = 0; s < 4; s++) {
    snprintf(rel, sizeof rel, "%s%s", files[s], gz ? ".gz" : "");
    snprintf(src, sizeof src, "image/%s/%s", gz ? "idxgz" : "idx", rel);
    if (s >= k)
      eb_fuzz_fixture(dir, rel, src);
    else if (gz)
      write_gz(dir, rel, p[s], n[s]);
    else
      eb_fuzz_write(dir, rel, p[s], n[s]);
  }
  snprintf(kv, sizeof kv, "path=%s", dir);
  const char *args[] = {"source=mnist-idx", kv, "val=1", NULL};
  int rc = eb_fuzz_task(&eb_task_image, args);
  eb_fuzz_rmdir(dir);
  return rc;
}

int eb_fuzz_idx(const uint8_t *data, size_t size) { return idx(data, size, 0); }
int eb_fuzz_idxgz(const uint8_t *data, size_t size) { return idx(data, size, 1); }

#if defined(EB_LIBFUZZER) && !defined(EB_FUZZ_GZ)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  eb_fuzz_idx(data, size);
  return 0;
}
#elif defined(EB_LIBFUZZER)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  eb_fuzz_idxgz(data, size);
  return 0;
}
#endif
