#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void eb_json_quote(eb_sbuf *b, const char *s) {
  eb_sb_put(b, "\"", 1);
  const unsigned char *p = (const unsigned char *)s, *run = p;
  for (; *p; p++) {
    if (*p != '"' && *p != '\\' && *p >= 0x20) continue;
    eb_sb_put(b, (const char *)run, (size_t)(p - run)); /* the plain bytes before */
    if (*p < 0x20)
      eb_sb_add(b, "\\u%04x", *p);
    else
      eb_sb_add(b, "\\%c", *p);
    run = p + 1;
  }
  eb_sb_put(b, (const char *)run, (size_t)(p - run));
  eb_sb_put(b, "\"", 1);
}

void eb_json_shortest(eb_sbuf *b, double v, int f32) {
  char t[40];
  for (int p = 1; p <= 17; p++) {
    snprintf(t, sizeof t, "%.*g", p, v);
    double back = strtod(t, NULL);
    if (f32 ? (float)back == (float)v : back == v) break;
  }
  eb_sb_add(b, "%s", t);
}

void eb_json_init(eb_json *w, eb_sbuf *b) { *w = (eb_json){.b = b}; }

/* before any value or key: the comma, unless it is the container's first
 * item or follows its key */
static void item(eb_json *w) {
  if (w->pending) {
    w->pending = 0;
    return;
  }
  if (!w->depth) return;
  if (w->items[w->depth - 1]) eb_sb_put(w->b, ",", 1);
  w->items[w->depth - 1] = 1;
}

void eb_json_next(eb_json *w) {
  item(w);
  w->pending = 1;
}

void eb_json_open(eb_json *w, char bracket) {
  item(w);
  if (w->depth == EB_JSON_DEPTH) {
    w->b->oom = 1;
    return;
  }
  eb_sb_put(w->b, bracket == '[' ? "[" : "{", 1);
  w->close[w->depth] = bracket == '[' ? ']' : '}';
  w->items[w->depth++] = 0;
}

void eb_json_close(eb_json *w) {
  if (!w->depth) return;
  w->depth--;
  eb_sb_put(w->b, &w->close[w->depth], 1);
  w->pending = 0;
}

void eb_json_key(eb_json *w, const char *key) {
  item(w);
  eb_json_quote(w->b, key);
  eb_sb_put(w->b, ":", 1);
  w->pending = 1;
}

void eb_json_string(eb_json *w, const char *s) {
  item(w);
  if (s)
    eb_json_quote(w->b, s);
  else
    eb_sb_put(w->b, "null", 4);
}

void eb_json_int(eb_json *w, long long v) {
  item(w);
  eb_sb_add(w->b, "%lld", v);
}

void eb_json_bool(eb_json *w, int v) {
  item(w);
  eb_sb_add(w->b, "%s", v ? "true" : "false");
}

void eb_json_null(eb_json *w) {
  item(w);
  eb_sb_put(w->b, "null", 4);
}

void eb_json_num(eb_json *w, const char *fmt, double v) {
  item(w);
  if (isfinite(v))
    eb_sb_add(w->b, fmt, v);
  else
    eb_sb_put(w->b, "null", 4);
}

void eb_json_real(eb_json *w, double v, int f32) {
  item(w);
  eb_json_shortest(w->b, v, f32);
}

void eb_json_rawf(eb_json *w, const char *fmt, ...) {
  item(w);
  va_list ap;
  va_start(ap, fmt);
  eb_sb_vadd(w->b, fmt, ap);
  va_end(ap);
}
