#include "safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effbench/rc.h"
#include "json.h"

int eb_safetensors_write(const char *path, const eb_st_entry *e, int n,
                         const char *config_json, char *err, size_t errlen) {
  eb_sbuf h = {0};
  eb_json w;
  eb_json_init(&w, &h);
  eb_json_open(&w, '{');
  if (config_json) {
    eb_json_key(&w, "__metadata__");
    eb_json_open(&w, '{');
    eb_json_key(&w, "config");
    eb_json_string(&w, config_json);
    eb_json_close(&w);
  }
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    eb_json_key(&w, e[i].name);
    eb_json_open(&w, '{');
    eb_json_key(&w, "dtype");
    eb_json_string(&w, e[i].dtype);
    eb_json_key(&w, "shape");
    eb_json_open(&w, '[');
    for (int d = 0; d < e[i].ndim; d++)
      eb_json_int(&w, (long long)e[i].shape[d]);
    eb_json_close(&w);
    eb_json_key(&w, "data_offsets");
    eb_json_open(&w, '[');
    eb_json_rawf(&w, "%zu", off);
    eb_json_rawf(&w, "%zu", off + e[i].bytes);
    eb_json_close(&w);
    eb_json_close(&w);
    off += e[i].bytes;
  }
  eb_json_close(&w);
  while (!h.oom && h.n % 8)
    eb_sb_put(&h, " ", 1); /* data starts 8-byte aligned */
  if (h.oom) {
    free(h.p);
    snprintf(err, errlen, "out of memory building the safetensors header");
    return EB_NOMEM;
  }
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    free(h.p);
    return EB_IO;
  }
  unsigned char len8[8];
  uint64_t hl = h.n;
  for (int i = 0; i < 8; i++)
    len8[i] = (unsigned char)(hl >> (8 * i));
  int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h.p, 1, h.n, f) == h.n;
  for (int i = 0; ok && i < n; i++)
    ok = e[i].bytes == 0 || fwrite(e[i].data, 1, e[i].bytes, f) == e[i].bytes;
  free(h.p);
  if (fclose(f) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) {
    snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
    remove(tmp);
    return EB_IO;
  }
  return EB_OK;
}
