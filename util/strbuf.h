/* A growing string: printf-style and byte appends, always NUL-terminated.
 * The one string builder of effbench (internal, not installed).
 *
 *   eb_sbuf b = {0};
 *   eb_sb_add(&b, "%d runs", n);
 *   char *s = eb_sb_take(&b);   (NULL when an allocation failed; free(s))
 *
 * A failed allocation sets oom, and every later append does nothing, so a
 * caller checks once at the end and never uses a truncated string. */
#ifndef EFFBENCH_UTIL_STRBUF_H
#define EFFBENCH_UTIL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct eb_sbuf {
  char *p;       /* the text so far, NUL-terminated; NULL until the first append */
  size_t n, cap; /* length (without the NUL) and allocated bytes */
  int oom;       /* an allocation (or a format) failed: later appends do nothing */
} eb_sbuf;

/* Appends n bytes of s. */
void eb_sb_put(eb_sbuf *b, const char *s, size_t n);
/* Appends printf(fmt, ...). */
__attribute__((format(printf, 2, 3))) void eb_sb_add(eb_sbuf *b, const char *fmt, ...);
void eb_sb_vadd(eb_sbuf *b, const char *fmt, va_list ap);
/* The built string, owned by the caller: NULL (and nothing left to free)
 * when an allocation failed on the way, and NULL when nothing was appended. */
char *eb_sb_take(eb_sbuf *b);

#endif
