/* JSON text into an eb_sbuf: the one JSON writer of effbench (internal, not
 * installed). Every JSON effbench writes (run configurations and keys, list
 * --json, report --json, compare --format json, run's events, data
 * provenance, safetensors headers, export and speed-row configurations)
 * escapes strings and prints numbers here.
 *
 *   eb_json w;
 *   eb_json_init(&w, &b);
 *   eb_json_open(&w, '{');
 *   eb_json_key(&w, "arch");
 *   eb_json_string(&w, "vanilla");
 *   eb_json_key(&w, "lr");
 *   eb_json_real(&w, 1e-3, 1);
 *   eb_json_close(&w);          b holds {"arch":"vanilla","lr":0.001}
 *
 * The writer places the commas between the items of an object or array and
 * closes what was opened. Nesting deeper than EB_JSON_DEPTH marks the buffer
 * failed (b->oom), as an allocation failure does. */
#ifndef EFFBENCH_UTIL_JSON_H
#define EFFBENCH_UTIL_JSON_H

#include "strbuf.h"

/* ------------------------------------------------------- pieces ---- */
/* s as a JSON string literal, quoted: '"' and '\' backslashed, bytes below
 * 0x20 as \u00XX, everything else (UTF-8 included) as it is. */
void eb_json_quote(eb_sbuf *b, const char *s);
/* v as the shortest decimal ("%.Ng", N = 1..17) that reads back to the same
 * double, or to the same float when f32: 0.001, not 0.00100000005. A value
 * that is not finite comes out as C prints it ("nan", "inf"): callers write
 * null for those where they can occur. */
void eb_json_shortest(eb_sbuf *b, double v, int f32);

/* ------------------------------------------------------- writer ---- */
#define EB_JSON_DEPTH 16

typedef struct eb_json {
  eb_sbuf *b;
  int depth;                 /* containers open */
  char close[EB_JSON_DEPTH]; /* '}' or ']' for each */
  char items[EB_JSON_DEPTH]; /* 1 once a container holds an item */
  int pending;               /* a key (or eb_json_next) was written: no comma */
} eb_json;

void eb_json_init(eb_json *w, eb_sbuf *b);
/* Opens an object ('{') or an array ('['): a value in its own right. */
void eb_json_open(eb_json *w, char bracket);
void eb_json_close(eb_json *w);
/* "key": in the open object; the next call writes its value. */
void eb_json_key(eb_json *w, const char *key);
/* Writes the comma that separates the next item from the last one now, so
 * raw text (a newline) may come between them: ",\n{" rather than "\n,{". */
void eb_json_next(eb_json *w);

/* Values. */
void eb_json_string(eb_json *w, const char *s); /* NULL: null */
void eb_json_int(eb_json *w, long long v);
void eb_json_bool(eb_json *w, int v);
void eb_json_null(eb_json *w);
/* printf(fmt, v) ("%.9g", "%.3f"), null when v is not finite */
void eb_json_num(eb_json *w, const char *fmt, double v);
/* eb_json_shortest */
void eb_json_real(eb_json *w, double v, int f32);
/* A value written by the caller: JSON text already (an object built
 * elsewhere), or a number in a fixed format. */
__attribute__((format(printf, 2, 3))) void eb_json_rawf(eb_json *w, const char *fmt, ...);

#endif
