#include "bytes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

long long eb_utf8_invalid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    /* length and the allowed range of the second byte (RFC 3629 table) */
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
      len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0; /* overlong */
      if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90; /* overlong */
      if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else
      return (long long)i; /* continuation byte, C0/C1 overlong, F5..FF */
    if (i + (size_t)len > n) return (long long)i; /* truncated sequence */
    if (s[i + 1] < lo || s[i + 1] > hi) return (long long)i;
    for (int k = 2; k < len; k++)
      if ((s[i + k] & 0xC0) != 0x80) return (long long)i;
    i += (size_t)len;
  }
  return -1;
}

int eb_check_utf8(const unsigned char *s, size_t n, const char *file, long long line,
                  long long col0, char *err, size_t errlen) {
  long long bad = eb_utf8_invalid(s, n);
  if (bad < 0) return 0;
  long long l, c;
  eb_text_position(s, (size_t)bad, &l, &c);
  snprintf(err, errlen, "%s:%lld:%lld: invalid UTF-8 (byte 0x%02X)", file, line + l - 1,
           l == 1 ? col0 + c - 1 : c, s[bad]);
  return -1;
}

void eb_text_position(const unsigned char *s, size_t off, long long *line,
                      long long *col) {
  long long l = 1;
  size_t start = 0;
  for (size_t i = 0; i < off; i++)
    if (s[i] == '\n') {
      l++;
      start = i + 1;
    }
  *line = l;
  *col = (long long)(off - start) + 1;
}

int eb_bytes_to_tokens(const unsigned char *s, size_t n, int32_t *tok, int max_len) {
  int m = n < (size_t)max_len ? (int)n : max_len;
  for (int t = 0; t < m; t++)
    tok[t] = (int32_t)s[t] + 1;
  return m;
}

int eb_lines_open(eb_lines *L, const char *path, char *err, size_t errlen) {
  memset(L, 0, sizeof *L);
  L->path = path;
  L->f = fopen(path, "rb");
  if (!L->f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

long long eb_lines_next(eb_lines *L, char *err, size_t errlen) {
  errno = 0;
  ssize_t n = getline(&L->buf, &L->cap, L->f);
  if (n < 0) {
    if (ferror(L->f)) {
      snprintf(err, errlen, "%s:%lld: read error: %s", L->path, L->line + 1,
               strerror(errno));
      return -2;
    }
    return -1;
  }
  L->line++;
  if (n > 0 && L->buf[n - 1] == '\n') n--;
  if (n > 0 && L->buf[n - 1] == '\r') n--;
  L->buf[n] = '\0';
  return (long long)n;
}

void eb_lines_close(eb_lines *L) {
  if (L->f) fclose(L->f);
  free(L->buf);
  memset(L, 0, sizeof *L);
}

int eb_count_lines(const char *path, int64_t *n, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  char buf[1 << 16];
  size_t got;
  int64_t lines = 0;
  int last = '\n';
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < got; i++)
      lines += buf[i] == '\n';
    last = (unsigned char)buf[got - 1];
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    snprintf(err, errlen, "%s: read error", path);
    return -1;
  }
  *n = lines + (last != '\n');
  return 0;
}

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

uint64_t eb_hash_str(uint64_t h, const char *s) {
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

typedef struct carve_item {
  uint64_t h;
  int64_t i;
} carve_item;

static int carve_cmp(const void *a, const void *b) {
  const carve_item *x = a, *y = b;
  if (x->h != y->h) return x->h < y->h ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

int eb_carve(const uint64_t *keys, int64_t n, int64_t k, uint8_t *dest, uint8_t from,
             uint8_t to) {
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    m += dest[i] == from;
  if (k < 0 || k >= m) return -1;
  if (k == 0) return 0;
  carve_item *it = malloc((size_t)m * sizeof *it);
  if (!it) return -1;
  m = 0;
  for (int64_t i = 0; i < n; i++)
    if (dest[i] == from) it[m++] = (carve_item){mix(keys[i]), i};
  qsort(it, (size_t)m, sizeof *it, carve_cmp);
  for (int64_t j = 0; j < k; j++)
    dest[it[j].i] = to;
  free(it);
  return 0;
}

int eb_mkdirs(const char *path, char *err, size_t errlen) {
  char p[4096];
  snprintf(p, sizeof p, "%s", path);
  for (char *c = p + 1; *c; c++) {
    if (*c != '/') continue;
    *c = '\0';
    int rc = mkdir(p, 0777);
    *c = '/';
    if (rc != 0 && errno != EEXIST) {
      snprintf(err, errlen, "%s: cannot create directory: %s", p, strerror(errno));
      return -1;
    }
  }
  if (mkdir(p, 0777) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "%s: cannot create directory: %s", p, strerror(errno));
    return -1;
  }
  if (!eb_is_dir(p)) {
    snprintf(err, errlen, "%s: not a directory", p);
    return -1;
  }
  return 0;
}

int eb_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int eb_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int eb_read_file(const char *path, unsigned char **buf, size_t *n, char *err,
                 size_t errlen) {
  *buf = NULL;
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, len = 0;
  unsigned char *b = malloc(cap);
  while (b) {
    if (len + 1 >= cap) {
      unsigned char *nb = realloc(b, cap * 2);
      if (!nb) {
        free(b);
        b = NULL;
        break;
      }
      b = nb;
      cap *= 2;
    }
    size_t got = fread(b + len, 1, cap - 1 - len, f);
    len += got;
    if (got == 0) break;
  }
  const char *why = !b ? "out of memory" : ferror(f) ? "read error" : NULL;
  fclose(f);
  if (why) {
    free(b);
    snprintf(err, errlen, "%s: %s", path, why);
    return -1;
  }
  b[len] = '\0';
  *buf = b;
  *n = len;
  return 0;
}

int eb_write_file(const char *path, const void *buf, size_t n, char *err, size_t errlen) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    return -1;
  }
  int ok = fwrite(buf, 1, n, f) == n;
  if (fclose(f) != 0) ok = 0;
  if (!ok) {
    snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

int eb_random_word(eb_rng *r, char *out, int lo, int hi) {
  int len = lo + (int)eb_rng_below(r, hi - lo + 1);
  for (int i = 0; i < len; i++)
    out[i] = (char)('a' + eb_rng_below(r, 26));
  out[len] = '\0';
  return len;
}

int eb_random_word_utf8(eb_rng *r, char *out, int lo, int hi) {
  int len = eb_random_word(r, out, lo, hi);
  if (eb_rng_below(r, 32) != 0) return len;
  int at = (int)eb_rng_below(r, len);
  memmove(out + at + 2, out + at + 1, (size_t)(len - at));
  out[at] = (char)0xC3;
  out[at + 1] = (char)0xA9;
  return len + 1;
}

int eb_render_words(eb_rng *r, const eb_word *w, int n, unsigned char *out) {
  int k = 0, left = 5 + (int)eb_rng_below(r, 11);
  for (int j = 0; j < n; j++) {
    memcpy(out + k, w[j].s, (size_t)w[j].len);
    k += w[j].len;
    if (j == n - 1 || --left == 0) {
      out[k++] = '.';
      left = 5 + (int)eb_rng_below(r, 11);
    }
    if (j < n - 1) out[k++] = ' ';
  }
  return k;
}
