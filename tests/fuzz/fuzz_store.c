/* Fuzz target: the database opener on a hostile file: the input is the file,
 * opened as an input database (eb_store_open_input: older schemas read as
 * they are, as merge and compare do), then for writing (eb_store_open:
 * migrates it to the latest schema), then read-only (which refuses a schema
 * older than the build's, so it comes after the migration), each closed
 * again. The valid seed is deliberately an older schema: the migrations are
 * fuzzed too. */
#include <stdio.h>

#include "fuzz.h"
#include "store.h"

static int opened(int (*open)(const char *, eb_store **, char *, size_t),
                  const char *path) {
  char err[EB_ERR_LEN] = "";
  eb_store *s = NULL;
  if (open(path, &s, err, sizeof err)) return eb_fuzz_error("store", err);
  if (eb_store_schema_version(s) < 0) {
    fprintf(stderr, "%s: opened with a negative schema version\n", path);
  }
  eb_store_close(s);
  return 0;
}

int eb_fuzz_store(const uint8_t *data, size_t size) {
  char dir[4096], path[4200];
  eb_fuzz_mkdir(dir, sizeof dir);
  eb_fuzz_write(dir, "results.db", data, size);
  snprintf(path, sizeof path, "%s/results.db", dir);
  int rc = opened(eb_store_open_input, path);
  rc |= opened(eb_store_open, path);
  rc |= opened(eb_store_open_readonly, path);
  eb_fuzz_rmdir(dir);
  return rc;
}

#ifdef EB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  eb_fuzz_store(data, size);
  return 0;
}
#endif
