/* The core API's version is honest (include/effbench/core.h; docs/engine.md,
 * "Versioning the core API"): the declarations of every header under
 * include/effbench/ digest to the EB_CORE_API_DIGEST recorded beside
 * EB_CORE_API_MAJOR/MINOR, so a change to them fails here until the version
 * is bumped and the new digest recorded. Also: the digest ignores what is no
 * declaration (comments, whitespace, include guards, #include lines, the
 * C++ wrappers, the order of top-level declarations and so the header each
 * one lives in) and sees what is (a signature, a struct member's place, a
 * macro's value); and the version encoding and compatibility rule of
 * plugin.h.
 *
 *   test_core_api --dump   prints the normalised declarations, one a line
 *                          (diff two dumps to see what changed) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "effbench/plugin.h"
#include "source.h" /* eb_sha256_hex */

#ifndef EB_INCLUDE_DIR
#error "EB_INCLUDE_DIR (the source tree's include/effbench) must be defined"
#endif

/* A growable list of strings (tokens, or normalised declarations). */
typedef struct strs {
  char **v;
  int n, cap;
} strs;

static int strs_add(strs *s, const char *p, size_t n) {
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    char **v = realloc(s->v, (size_t)cap * sizeof *v);
    if (!v) return -1;
    s->v = v;
    s->cap = cap;
  }
  char *c = malloc(n + 1);
  if (!c) return -1;
  memcpy(c, p, n);
  c[n] = '\0';
  s->v[s->n++] = c;
  return 0;
}

static void strs_free(strs *s) {
  for (int i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof *s);
}

/* Joins v[from, to) with single spaces into a new list entry. */
static int strs_join_into(strs *out, char *const *v, int from, int to) {
  size_t n = 0;
  for (int i = from; i < to; i++)
    n += strlen(v[i]) + 1;
  char *j = malloc(n + 1), *p = j;
  if (!j) return -1;
  for (int i = from; i < to; i++)
    p += sprintf(p, "%s%s", i > from ? " " : "", v[i]);
  int rc = strs_add(out, j, (size_t)(p - j));
  free(j);
  return rc;
}

/* Translation phases 2 and 3, roughly: lines spliced, each comment replaced
 * by a space (string and character literals kept as they are). */
static char *strip_comments(const char *src) {
  size_t n = strlen(src);
  char *out = malloc(n + 1), *o = out;
  if (!out) return NULL;
  for (size_t i = 0; i < n;) {
    if (src[i] == '\\' && src[i + 1] == '\n') {
      i += 2;
    } else if (src[i] == '/' && src[i + 1] == '*') {
      const char *end = strstr(src + i + 2, "*/");
      i = end ? (size_t)(end - src) + 2 : n;
      *o++ = ' ';
    } else if (src[i] == '/' && src[i + 1] == '/') {
      while (i < n && src[i] != '\n')
        i++;
    } else if (src[i] == '"' || src[i] == '\'') {
      char q = src[i];
      *o++ = src[i++];
      while (i < n && src[i] != q && src[i] != '\n') {
        if (src[i] == '\\' && i + 1 < n) *o++ = src[i++];
        *o++ = src[i++];
      }
      if (i < n && src[i] == q) *o++ = src[i++];
    } else {
      *o++ = src[i++];
    }
  }
  *o = '\0';
  return out;
}

/* C tokens of s[0, n), whitespace dropped: identifiers and numbers (a run of
 * [A-Za-z0-9_], with '.' inside a number), literals whole, anything else one
 * character each, so "int *f(void)" and "int* f( void )" give the same. */
static int tokenize(const char *s, size_t n, strs *out) {
  for (size_t i = 0; i < n;) {
    char c = s[i];
    size_t j = i + 1;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      i++;
      continue;
    }
    if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9')) {
      int number = c >= '0' && c <= '9';
      while (j < n && (s[j] == '_' || (s[j] >= 'a' && s[j] <= 'z') ||
                       (s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= '0' && s[j] <= '9') ||
                       (number && s[j] == '.')))
        j++;
    } else if (c == '"' || c == '\'') {
      while (j < n && s[j] != c)
        j += s[j] == '\\' ? 2 : 1;
      j = j < n ? j + 1 : n;
    }
    if (strs_add(out, s + i, j - i)) return -1;
    i = j;
  }
  return 0;
}

/* The top-level declarations of C text (no directives left): each ends with
 * its ';' at brace and parenthesis depth 0, or with the '}' closing a
 * function body; one list entry each, its tokens joined by spaces. */
static int split_declarations(const char *text, strs *out) {
  strs t = {0};
  int rc = tokenize(text, strlen(text), &t);
  int start = 0, depth = 0, body = 0;
  for (int i = 0; !rc && i < t.n; i++) {
    const char *k = t.v[i];
    int end = 0;
    if (!strcmp(k, "{") || !strcmp(k, "(")) {
      if (depth == 0 && k[0] == '{') body = i > 0 && !strcmp(t.v[i - 1], ")");
      depth++;
    } else if (!strcmp(k, "}") || !strcmp(k, ")")) {
      depth--;
      end = depth == 0 && k[0] == '}' && body;
    } else if (!strcmp(k, ";")) {
      end = depth == 0;
    }
    if (end) {
      rc = strs_join_into(out, t.v, start, i + 1);
      start = i + 1;
      body = 0;
    }
  }
  if (!rc && start < t.n) rc = strs_join_into(out, t.v, start, t.n);
  strs_free(&t);
  return rc;
}

static const char *skip_space(const char *p) {
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* Whether line (a directive) is "#WORD" and, if so, where its operand starts. */
static const char *directive(const char *line, const char *word) {
  const char *p = skip_space(skip_space(line) + 1);
  size_t n = strlen(word);
  if (strncmp(p, word, n) || (p[n] && p[n] != ' ' && p[n] != '\t')) return NULL;
  return skip_space(p + n);
}

/* The identifier at p, copied into name[len]. */
static void ident(const char *p, char *name, size_t len) {
  size_t n = 0;
  while (n + 1 < len && (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') ||
                         (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9')))
    n++;
  memcpy(name, p, n);
  name[n] = '\0';
}

/* One directive as a declaration, its tokens joined by spaces:
 * "#define NAME (fn ( x ) ( x + 1 )" for a function-like macro,
 * "#define NAME ( x )" for an object-like one, "# pragma once" for others. */
static int directive_item(const char *line, strs *out) {
  strs t = {0};
  const char *op = directive(line, "define");
  int rc;
  if (op) {
    char name[128];
    ident(op, name, sizeof name);
    size_t n = strlen(name);
    rc = strs_add(&t, "#define", 7) || strs_add(&t, name, n) ||
         (op[n] == '(' && strs_add(&t, "(fn", 3)) || tokenize(op + n, strlen(op + n), &t);
  } else {
    const char *p = skip_space(line) + 1;
    rc = strs_add(&t, "#", 1) || tokenize(p, strlen(p), &t);
  }
  if (!rc) rc = strs_join_into(out, t.v, 0, t.n);
  strs_free(&t);
  return rc;
}

/* The next line at or after *pos that is not blank, as [start, start + *len);
 * NULL at the end. */
static const char *next_line(const char *text, size_t *pos, size_t *len) {
  while (text[*pos]) {
    const char *s = text + *pos, *e = strchr(s, '\n');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    *pos += n + (e ? 1 : 0);
    for (size_t i = 0; i < n; i++)
      if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f') {
        *len = n;
        return s;
      }
  }
  return NULL;
}

enum { COND_KEEP, COND_GUARD, COND_DROP };

/* The declarations of one header's text, normalised, appended to out: the
 * directives (each one entry, except #include, the include guard, the
 * EB_CORE_API_DIGEST line and everything under #ifdef __cplusplus) and the C
 * declarations between them. A declaration under another conditional is
 * kept but not tied to it (none is today). */
static int header_declarations(const char *src, strs *out) {
  char *text = strip_comments(src);
  if (!text) return -1;
  size_t tn = strlen(text), cn = 0, pos = 0, len;
  char *code = malloc(tn + 1), line[4096];
  int stack[32], depth = 0, rc = code ? 0 : -1;
  for (const char *s; !rc && (s = next_line(text, &pos, &len)) != NULL;) {
    int dropping = 0;
    for (int i = 0; i < depth; i++)
      dropping |= stack[i] == COND_DROP;
    if (*skip_space(s) != '#') {
      if (!dropping) {
        memcpy(code + cn, s, len);
        code[cn + len] = '\n';
        cn += len + 1;
      }
      continue;
    }
    snprintf(line, sizeof line, "%.*s", (int)len, s);
    const char *op;
    if (directive(line, "if") || directive(line, "ifdef") || directive(line, "ifndef")) {
      int kind = dropping ? COND_DROP : COND_KEEP;
      char name[128] = "";
      if ((op = directive(line, "ifdef")) != NULL) ident(op, name, sizeof name);
      if (!strcmp(name, "__cplusplus")) kind = COND_DROP;
      if (!dropping && (op = directive(line, "ifndef")) != NULL) {
        /* an include guard: #ifndef X then #define X with nothing after */
        char guard[128], def[4096], defined[128];
        size_t p2 = pos, l2;
        const char *d = next_line(text, &p2, &l2), *dop;
        ident(op, guard, sizeof guard);
        snprintf(def, sizeof def, "%.*s", d ? (int)l2 : 0, d ? d : "");
        if (d && (dop = directive(def, "define")) != NULL) {
          ident(dop, defined, sizeof defined);
          if (!strcmp(defined, guard) && !*skip_space(dop + strlen(defined))) {
            kind = COND_GUARD;
            pos = p2;
          }
        }
      }
      if (depth == (int)(sizeof stack / sizeof *stack)) rc = -1;
      if (!rc) stack[depth++] = kind;
      if (!rc && kind == COND_KEEP) rc = directive_item(line, out);
    } else if (directive(line, "endif")) {
      int kind = depth ? stack[--depth] : COND_KEEP;
      if (kind == COND_KEEP && !dropping) rc = directive_item(line, out);
    } else if (dropping || directive(line, "include")) {
      continue;
    } else if ((op = directive(line, "define")) != NULL &&
               !strncmp(op, "EB_CORE_API_DIGEST", 18) &&
               (op[18] == ' ' || op[18] == '\t' || !op[18])) {
      continue; /* the digest itself */
    } else if ((directive(line, "else") || directive(line, "elif")) && depth &&
               stack[depth - 1] != COND_KEEP) {
      continue;
    } else {
      rc = directive_item(line, out);
    }
  }
  if (!rc) {
    code[cn] = '\0';
    rc = split_declarations(code, out);
  }
  free(code);
  free(text);
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* SHA-256 (hex) of the declarations of n header texts: normalised, sorted,
 * one a line. The sorted list stays in decls when it is not NULL. */
static int api_digest(int n, const char *const *texts, char hex[65], strs *decls) {
  strs d = {0};
  int rc = 0;
  for (int i = 0; !rc && i < n; i++)
    rc = header_declarations(texts[i], &d);
  if (!rc) {
    qsort(d.v, (size_t)d.n, sizeof *d.v, cmp_str);
    size_t len = 0;
    for (int i = 0; i < d.n; i++)
      len += strlen(d.v[i]) + 1;
    char *all = malloc(len + 1), *p = all;
    rc = all ? 0 : -1;
    for (int i = 0; all && i < d.n; i++)
      p += sprintf(p, "%s\n", d.v[i]);
    if (all) eb_sha256_hex(all, len, hex);
    free(all);
  }
  if (decls && !rc)
    *decls = d;
  else
    strs_free(&d);
  return rc;
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += r;
    if (n == cap) {
      char *b = realloc(buf, 2 * cap + 1);
      if (!b) free(buf);
      buf = b;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf) buf[n] = '\0';
  return buf;
}

/* The texts of every *.h under EB_INCLUDE_DIR, in name order; their count,
 * or -1. */
static int read_headers(char **names, char **texts, int max) {
  DIR *dir = opendir(EB_INCLUDE_DIR);
  int n = 0;
  if (!dir) return -1;
  for (struct dirent *e; (e = readdir(dir)) != NULL && n < max;) {
    size_t l = strlen(e->d_name);
    if (l > 2 && !strcmp(e->d_name + l - 2, ".h")) names[n++] = strdup(e->d_name);
  }
  closedir(dir);
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  for (int i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", EB_INCLUDE_DIR, names[i]);
    texts[i] = read_all(path);
    if (!texts[i]) return -1;
  }
  return n;
}

static void digest_of(const char *text, char hex[65]) {
  CHECK(api_digest(1, &text, hex, NULL) == 0, "digest of a sample failed");
}

/* The normaliser on samples: what must not change the digest, and what must. */
static void check_normaliser(void) {
  static const char *base =
      "/* header */\n#ifndef A_H\n#define A_H\n#include <stdint.h>\n"
      "#ifdef __cplusplus\nextern \"C\" {\n#endif\n"
      "#define M 4\n#define F(x) ((x) + 1)\n"
      "typedef struct s { int a; float b; } s; // trailing\n"
      "int f(int x, const char *y); /* why */\n"
      "#define EB_CORE_API_DIGEST \"abc\"\n"
      "#ifdef __cplusplus\n}\n#endif\n#endif\n";
  char want[65], got[65];
  strs d = {0};
  const char *one[] = {base};
  CHECK(api_digest(1, one, want, &d) == 0, "digest of the base sample");
  static const char *const want_decls[] = {
      "#define F (fn ( x ) ( ( x ) + 1 )", "#define M 4",
      "int f ( int x , const char * y ) ;", "typedef struct s { int a ; float b ; } s ;"};
  CHECK(d.n == 4, "the base sample has %d declarations, not 4", d.n);
  for (int i = 0; i < 4 && i < d.n; i++)
    CHECK(!strcmp(d.v[i], want_decls[i]), "declaration %d: '%s', not '%s'", i, d.v[i],
          want_decls[i]);
  strs_free(&d);

  /* no declaration changes: layout, comments, order, guards, the digest line */
  digest_of("int  f( int x,const char*y );\n#define M    4 /* four */\n"
            "typedef struct s {\n  int a;\n  float b;\n} s;\n#define F(x) ((x)+1)\n",
            got);
  CHECK(!strcmp(got, want), "reformatting, reordering or guards changed the digest");
  /* split over two headers (one including the other): the same declarations */
  const char *two[] = {"#ifndef B_H\n#define B_H\n#include \"a.h\"\n#define M 4\n"
                       "int f(int x, const char *y);\n#endif\n",
                       "#define F(x) ((x) + 1)\ntypedef struct s { int a; float b; } s;\n"
                       "#define EB_CORE_API_DIGEST \"another\"\n"};
  CHECK(api_digest(2, two, got, NULL) == 0 && !strcmp(got, want),
        "splitting a header into two changed the digest");

  /* every real change does */
  const char *changed[] = {
      "#define M 4\n#define F(x) ((x) + 1)\ntypedef struct s { int a; float b; } s;\n"
      "int f(long x, const char *y);\n", /* a signature */
      "#define M 4\n#define F(x) ((x) + 1)\ntypedef struct s { float b; int a; } s;\n"
      "int f(int x, const char *y);\n", /* a struct's layout */
      "#define M 5\n#define F(x) ((x) + 1)\ntypedef struct s { int a; float b; } s;\n"
      "int f(int x, const char *y);\n", /* a macro's value */
      "#define M 4\n#define F (x) ((x) + 1)\ntypedef struct s { int a; float b; } s;\n"
      "int f(int x, const char *y);\n", /* a function-like macro made object-like */
      "#define M 4\n#define F(x) ((x) + 1)\ntypedef struct s { int a; float b; } s;\n"
      "int f(int x, const char *y);\nint g(void);\n", /* an addition */
      "#define M 4\n#define F(x) ((x) + 1)\ntypedef struct s { int a; float b; } s;\n"
      "int f(int x, const char *y); static inline int h(void) { return 1; }\n",
  };
  for (size_t i = 0; i < sizeof changed / sizeof *changed; i++) {
    digest_of(changed[i], got);
    CHECK(strcmp(got, want), "change #%zu left the digest as it was", i);
  }
  /* a function body in a header is one declaration, ended by its '}' */
  CHECK(api_digest(1,
                   (const char *[]){"static inline int h(void) { return 1; }\nint "
                                    "g(void);\n"},
                   got, &d) == 0 &&
            d.n == 2 && !strcmp(d.v[1], "static inline int h ( void ) { return 1 ; }"),
        "function body: %d declarations", d.n);
  strs_free(&d);
}

/* The version numbers and the rule of plugin.h. */
static void check_versions(void) {
  CHECK(EB_CORE_API_VERSION == EB_CORE_API_MAJOR * 1000 + EB_CORE_API_MINOR,
        "EB_CORE_API_VERSION %d", EB_CORE_API_VERSION);
  CHECK(EB_CORE_API_MAJOR >= 1 && EB_CORE_API_MINOR >= 0 && EB_CORE_API_MINOR < 1000 &&
            EB_CORE_API_MAJOR < 1000,
        "core API %d.%d out of the encoding's range", EB_CORE_API_MAJOR,
        EB_CORE_API_MINOR);
  CHECK(EB_ABI_GENERATION(EFFBENCH_ABI_VERSION) == EB_PLUGIN_ABI &&
            EB_ABI_CORE_MAJOR(EFFBENCH_ABI_VERSION) == EB_CORE_API_MAJOR &&
            EB_ABI_CORE_MINOR(EFFBENCH_ABI_VERSION) == EB_CORE_API_MINOR,
        "EFFBENCH_ABI_VERSION %d does not decode to %d, %d.%d", EFFBENCH_ABI_VERSION,
        EB_PLUGIN_ABI, EB_CORE_API_MAJOR, EB_CORE_API_MINOR);
  CHECK(EB_ABI_ENCODE(2, 1, 0) == 2001000 && EB_ABI_ENCODE(2, 3, 17) == 2003017,
        "encoding");
  const int host = EB_ABI_ENCODE(2, 3, 4);
  const struct {
    int built, ok;
  } cases[] = {
      {EB_ABI_ENCODE(2, 3, 4), 1}, /* the same */
      {EB_ABI_ENCODE(2, 3, 0), 1}, /* an older minor */
      {EB_ABI_ENCODE(2, 3, 5), 0}, /* a newer minor */
      {EB_ABI_ENCODE(2, 2, 9), 0}, /* an older major */
      {EB_ABI_ENCODE(2, 4, 0), 0}, /* a newer major */
      {EB_ABI_ENCODE(3, 3, 4), 0}, /* another generation */
      {1, 0},                      /* generation 1: no core version */
      {0, 0},
      {-1, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    CHECK((!!EB_ABI_COMPATIBLE(host, cases[i].built)) == cases[i].ok,
          "EB_ABI_COMPATIBLE(%d, %d) is not %d", host, cases[i].built, cases[i].ok);
}

int main(int argc, char **argv) {
  char *names[64] = {0}, *texts[64] = {0}, hex[65];
  int n = read_headers(names, texts, 64);
  CHECK(n >= 3, "cannot read the headers under %s", EB_INCLUDE_DIR);
  int core = 0;
  for (int i = 0; i < n; i++)
    core |= !strcmp(names[i], "core.h");
  CHECK(core, "no core.h under %s", EB_INCLUDE_DIR);
  strs decls = {0};
  if (n > 0 && api_digest(n, (const char *const *)texts, hex, &decls) == 0) {
    if (argc > 1 && !strcmp(argv[1], "--dump")) {
      for (int i = 0; i < decls.n; i++)
        printf("%s\n", decls.v[i]);
    } else {
      CHECK(!strcmp(hex, EB_CORE_API_DIGEST),
            "core API changed: bump EB_CORE_API_VERSION (major if a signature or struct "
            "layout changed) and record the new digest in include/effbench/core.h: "
            "#define EB_CORE_API_DIGEST \"%s\" (was \"%s\" for core API %d.%d; "
            "`test_core_api --dump` lists the declarations it covers)",
            hex, EB_CORE_API_DIGEST, EB_CORE_API_MAJOR, EB_CORE_API_MINOR);
      CHECK(decls.n > 100, "only %d declarations found in the public headers", decls.n);
    }
  } else {
    CHECK(0, "the public headers' digest could not be computed");
  }
  strs_free(&decls);
  for (int i = 0; i < n && i < 64; i++) {
    free(names[i]);
    free(texts[i]);
  }
  check_normaliser();
  check_versions();
  return eb_test_done("test_core_api");
}
