#include "safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effbench/rc.h"

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static void put(sbuf *s, const char *txt, size_t n) {
  if (s->oom) return;
  if (s->len + n + 1 > s->cap) {
    size_t cap = (s->cap ? s->cap * 2 : 1024) + n;
    char *q = realloc(s->p, cap);
    if (!q) {
      s->oom = 1;
      return;
    }
    s->p = q;
    s->cap = cap;
  }
  memcpy(s->p + s->len, txt, n);
  s->len += n;
  s->p[s->len] = '\0';
}

static void puts_(sbuf *s, const char *txt) { put(s, txt, strlen(txt)); }

static void put_json_string(sbuf *s, const char *txt) {
  puts_(s, "\"");
  for (const unsigned char *c = (const unsigned char *)txt; *c; c++) {
    char tmp[8];
    if (*c == '"' || *c == '\\') {
      tmp[0] = '\\';
      tmp[1] = (char)*c;
      put(s, tmp, 2);
    } else if (*c < 0x20) {
      snprintf(tmp, sizeof tmp, "\\u%04x", *c);
      puts_(s, tmp);
    } else {
      put(s, (const char *)c, 1);
    }
  }
  puts_(s, "\"");
}

int eb_safetensors_write(const char *path, const eb_st_entry *e, int n,
                         const char *config_json, char *err, size_t errlen) {
  sbuf h = {0};
  puts_(&h, "{");
  if (config_json) {
    puts_(&h, "\"__metadata__\":{\"config\":");
    put_json_string(&h, config_json);
    puts_(&h, "}");
  }
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    char tmp[256];
    if (i || config_json) puts_(&h, ",");
    put_json_string(&h, e[i].name);
    snprintf(tmp, sizeof tmp, ":{\"dtype\":\"%s\",\"shape\":[", e[i].dtype);
    puts_(&h, tmp);
    for (int d = 0; d < e[i].ndim; d++) {
      snprintf(tmp, sizeof tmp, "%s%lld", d ? "," : "", (long long)e[i].shape[d]);
      puts_(&h, tmp);
    }
    snprintf(tmp, sizeof tmp, "],\"data_offsets\":[%zu,%zu]}", off, off + e[i].bytes);
    puts_(&h, tmp);
    off += e[i].bytes;
  }
  puts_(&h, "}");
  while (!h.oom && h.len % 8)
    puts_(&h, " "); /* data starts 8-byte aligned */
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
  uint64_t hl = h.len;
  for (int i = 0; i < 8; i++)
    len8[i] = (unsigned char)(hl >> (8 * i));
  int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h.p, 1, h.len, f) == h.len;
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
