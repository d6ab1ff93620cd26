/* util/: the string builder, FNV-1a against its published test vectors, and
 * the JSON writer's escaping, numbers and nesting. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hash.h"
#include "json.h"
#include "strbuf.h"

static void strbuf(void) {
  eb_sbuf b = {0};
  CHECK(eb_sb_take(&b) == NULL, "an empty builder holds a string");
  for (int i = 0; i < 1000; i++)
    eb_sb_add(&b, "%d,", i % 10);
  eb_sb_put(&b, "xyz", 2);
  CHECK(b.n == 2002 && strlen(b.p) == 2002 && !strcmp(b.p + 1996, "8,9,xy"),
        "appends: n %zu, tail %s", b.n, b.p ? b.p + 1996 : "(null)");
  char *s = eb_sb_take(&b);
  free(s);

  eb_sbuf f = {0};
  eb_sb_add(&f, "kept");
  f.oom = 1; /* as after a failed allocation */
  eb_sb_add(&f, "%s", "lost");
  eb_sb_put(&f, "lost", 4);
  CHECK(f.n == 4, "appended after a failure");
  CHECK(eb_sb_take(&f) == NULL && f.p == NULL, "a failed builder gave its string");
}

static void fnv(void) {
  /* the FNV-1a 64-bit test vectors of the reference implementation */
  static const struct {
    const char *s;
    uint64_t h;
  } v[] = {{"", 0xcbf29ce484222325ull},
           {"a", 0xaf63dc4c8601ec8cull},
           {"foobar", 0x85944171f73967e8ull}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    CHECK(eb_fnv1a_str(EB_FNV_OFFSET, v[i].s) == v[i].h, "fnv1a(\"%s\")", v[i].s);
    CHECK(eb_fnv1a(EB_FNV_OFFSET, v[i].s, strlen(v[i].s)) == v[i].h, "fnv1a bytes");
  }
  CHECK(eb_fnv1a_str(eb_fnv1a_str(EB_FNV_OFFSET, "foo"), "bar") == 0x85944171f73967e8ull,
        "fnv1a does not continue across calls");
  /* the word-wise variant: whole words mixed, a tail byte by byte */
  unsigned char d[13];
  for (int i = 0; i < 13; i++)
    d[i] = (unsigned char)(i * 37 + 1);
  uint64_t w, h = EB_FNV_OFFSET;
  memcpy(&w, d, 8);
  h = (h ^ w) * EB_FNV_PRIME;
  h ^= h >> 29;
  h = eb_fnv1a(h, d + 8, 5);
  CHECK(eb_fnv1a_words(EB_FNV_OFFSET, d, 13) == h, "word-wise fnv1a");
  CHECK(eb_fnv1a_words(EB_FNV_OFFSET, d, 5) == eb_fnv1a(EB_FNV_OFFSET, d, 5),
        "a short tail is plain fnv1a");
}

static void expect(eb_sbuf *b, const char *want, const char *what) {
  char *s = eb_sb_take(b);
  CHECK(s && !strcmp(s, want), "%s: %s, want %s", what, s ? s : "(failed)", want);
  free(s);
  *b = (eb_sbuf){0};
}

static void json(void) {
  eb_sbuf b = {0};
  eb_json_quote(&b, "a\"b\\c\n\x01\x1f\xc3\xa9 d");
  expect(&b, "\"a\\\"b\\\\c\\u000a\\u0001\\u001f\xc3\xa9 d\"", "escaping");
  eb_json_quote(&b, "");
  expect(&b, "\"\"", "empty string");

  /* the shortest decimal that reads back: to a float for f32 values */
  eb_json_shortest(&b, 0.001, 0);
  eb_sb_add(&b, " ");
  eb_json_shortest(&b, (float)0.001, 1);
  eb_sb_add(&b, " ");
  eb_json_shortest(&b, (float)0.001, 0); /* the float's exact value as a double */
  eb_sb_add(&b, " ");
  eb_json_shortest(&b, 90, 0);
  eb_sb_add(&b, " ");
  eb_json_shortest(&b, 1.0 / 3, 0);
  expect(&b, "0.001 0.001 0.0010000000474974513 9e+01 0.3333333333333333",
         "shortest decimals");

  eb_json w;
  eb_json_init(&w, &b);
  eb_json_open(&w, '{');
  eb_json_key(&w, "s");
  eb_json_string(&w, "x");
  eb_json_key(&w, "none");
  eb_json_string(&w, NULL);
  eb_json_key(&w, "a");
  eb_json_open(&w, '[');
  eb_json_int(&w, -3);
  eb_json_bool(&w, 1);
  eb_json_null(&w);
  eb_json_num(&w, "%.3f", 1.5);
  eb_json_num(&w, "%.3f", NAN);
  eb_json_num(&w, "%.3f", INFINITY);
  eb_json_open(&w, '{');
  eb_json_close(&w);
  eb_json_open(&w, '[');
  eb_json_close(&w);
  eb_json_close(&w);
  eb_json_key(&w, "r");
  eb_json_real(&w, 0.1f, 1);
  eb_json_key(&w, "raw");
  eb_json_rawf(&w, "%.17g", 0.1);
  eb_json_close(&w);
  expect(&b,
         "{\"s\":\"x\",\"none\":null,\"a\":[-3,true,null,1.500,null,null,{},[]],"
         "\"r\":0.1,\"raw\":0.10000000000000001}",
         "writer");

  /* eb_json_next: the comma first, then raw text, then the item */
  eb_json_init(&w, &b);
  eb_json_open(&w, '[');
  for (int i = 0; i < 3; i++) {
    eb_json_next(&w);
    eb_sb_add(&b, "\n");
    eb_json_int(&w, i);
  }
  eb_sb_add(&b, "\n");
  eb_json_close(&w);
  expect(&b, "[\n0,\n1,\n2\n]", "items on their own lines");

  /* too deep: the buffer fails as on an allocation failure */
  eb_json_init(&w, &b);
  for (int i = 0; i < EB_JSON_DEPTH + 1; i++)
    eb_json_open(&w, '[');
  CHECK(b.oom && eb_sb_take(&b) == NULL, "nesting beyond EB_JSON_DEPTH accepted");
}

int main(void) {
  strbuf();
  fnv();
  json();
  return eb_test_done("test_util");
}
