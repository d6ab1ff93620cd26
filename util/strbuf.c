#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* room for n more bytes and the NUL; 0, or -1 with oom set */
static int reserve(eb_sbuf *b, size_t n) {
  if (b->oom) return -1;
  if (b->n + n + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->n + n + 1)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void eb_sb_put(eb_sbuf *b, const char *s, size_t n) {
  if (reserve(b, n)) return;
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

void eb_sb_vadd(eb_sbuf *b, const char *fmt, va_list ap) {
  if (b->oom) return;
  va_list ap2;
  va_copy(ap2, ap);
  int k = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (k < 0) {
    b->oom = 1;
    return;
  }
  if (reserve(b, (size_t)k)) return;
  vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
  b->n += (size_t)k;
}

void eb_sb_add(eb_sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  eb_sb_vadd(b, fmt, ap);
  va_end(ap);
}

char *eb_sb_take(eb_sbuf *b) {
  if (b->oom) {
    free(b->p);
    b->p = NULL;
  }
  return b->p;
}
