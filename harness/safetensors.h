/* Minimal safetensors writer (https://github.com/huggingface/safetensors
 * format: u64 LE header size, JSON header, raw little-endian data). */
#ifndef EFFBENCH_SAFETENSORS_H
#define EFFBENCH_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef struct eb_st_entry {
  const char *name;
  const char *dtype; /* "F32", "I32", "U8" */
  int ndim;
  int64_t shape[4];
  const void *data;
  size_t bytes;
} eb_st_entry;

/* Writes atomically (temp file + rename). `config_json` goes into
 * __metadata__.config as a string (may be NULL). EB_OK, or EB_NOMEM / EB_IO
 * with err. */
int eb_safetensors_write(const char *path, const eb_st_entry *e, int n,
                         const char *config_json, char *err, size_t errlen);

#endif
