/* Declared parameters (eb_param_decl of the plugin ABI) and their values:
 * resolving user-given key=value settings against the declarations (the host's
 * side, core/host/args.h), and looking resolved values up by name (the
 * plugins' side, eb_args_* of effbench/plugin.h). */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *eb_type_name(eb_ptype t) {
  switch (t) {
  case EB_P_INT: return "int";
  case EB_P_FLOAT: return "float";
  case EB_P_BOOL: return "bool";
  case EB_P_STRING: return "string";
  default: return "?";
  }
}

int eb_parse_value(eb_ptype type, const char *text, eb_arg *out, char *why, size_t len) {
  char *end = NULL;
  errno = 0;
  out->type = type;
  out->s = text;
  switch (type) {
  case EB_P_INT: {
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || errno) {
      snprintf(why, len, "'%s' is not an integer", text);
      return -1;
    }
    out->i = v;
    out->f = (double)v;
    return 0;
  }
  case EB_P_FLOAT: {
    double v = strtod(text, &end);
    if (!*text || *end || errno || !isfinite(v)) {
      snprintf(why, len, "'%s' is not a finite number", text);
      return -1;
    }
    out->f = v;
    return 0;
  }
  case EB_P_BOOL:
    if (!strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "yes")) {
      out->i = 1;
      return 0;
    }
    if (!strcasecmp(text, "false") || !strcmp(text, "0") || !strcasecmp(text, "no")) {
      out->i = 0;
      return 0;
    }
    snprintf(why, len, "'%s' is not a boolean (true or false)", text);
    return -1;
  case EB_P_STRING: return 0;
  default: snprintf(why, len, "unsupported parameter type"); return -1;
  }
}

static int in_choices(const char *choices, const char *v) {
  size_t n = strlen(v);
  for (const char *p = choices; p && *p;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && strncmp(p, v, n) == 0) return 1;
    p = bar ? bar + 1 : NULL;
  }
  return 0;
}

/* An integer parameter whose choices include "auto" also takes the word auto,
 * stored as 0: the arch resolves it from the model settings (wide's heads). */
static int parse_decl(const eb_param_decl *d, const char *text, eb_arg *out, char *why,
                      size_t len) {
  if (d->type == EB_P_INT && d->choices && in_choices(d->choices, "auto") &&
      !strcmp(text, "auto")) {
    out->type = EB_P_INT;
    out->s = text;
    out->i = 0;
    out->f = 0;
    return 0;
  }
  return eb_parse_value(d->type, text, out, why, len);
}

static int count_decls(const eb_param_decl *d) {
  int n = 0;
  while (d && d[n].name)
    n++;
  return n;
}

static void list_names(const eb_param_decl *d, char *buf, size_t len) {
  size_t off = 0;
  buf[0] = '\0';
  for (int i = 0; d && d[i].name && off < len; i++)
    off += snprintf(buf + off, len - off, "%s%s", i ? ", " : "", d[i].name);
  if (!buf[0]) snprintf(buf, len, "none");
}

int eb_argset_resolve(eb_argset *out, const char *owner, const eb_param_decl *decls,
                      int n, const char *const *keys, const char *const *vals, char *err,
                      size_t errlen) {
  memset(out, 0, sizeof *out);
  int nd = count_decls(decls);
  size_t strbytes = 0;
  for (int i = 0; i < nd; i++)
    strbytes += strlen(decls[i].def ? decls[i].def : "") + 1;
  for (int i = 0; i < n; i++)
    strbytes += strlen(vals[i]) + 1;
  out->v = calloc(nd ? nd : 1, sizeof *out->v);
  out->strings = malloc(strbytes + 1);
  if (!out->v || !out->strings) {
    snprintf(err, errlen, "out of memory");
    eb_argset_free(out);
    return EB_NOMEM;
  }
  char *sp = out->strings;
  char why[256];
  for (int i = 0; i < nd; i++) {
    const char *def = decls[i].def ? decls[i].def : "";
    strcpy(sp, def);
    if (parse_decl(&decls[i], sp, &out->v[i], why, sizeof why)) {
      snprintf(err, errlen, "%s: default of parameter '%s' is invalid: %s", owner,
               decls[i].name, why);
      eb_argset_free(out);
      return EB_INPUT;
    }
    out->v[i].name = decls[i].name;
    sp += strlen(sp) + 1;
  }
  for (int k = 0; k < n; k++) {
    int found = -1;
    for (int i = 0; i < nd; i++)
      if (strcmp(decls[i].name, keys[k]) == 0) found = i;
    if (found < 0) {
      char names[1024];
      list_names(decls, names, sizeof names);
      const char *cands[256];
      for (int i = 0; i < nd && i < 256; i++)
        cands[i] = decls[i].name;
      const char *near = eb_nearest(keys[k], cands, nd < 256 ? nd : 256);
      snprintf(err, errlen, "%s has no parameter '%s'%s%s%s (parameters: %s)", owner,
               keys[k], near ? "; did you mean '" : "", near ? near : "",
               near ? "'?" : "", names);
      eb_argset_free(out);
      return EB_INPUT;
    }
    strcpy(sp, vals[k]);
    if (parse_decl(&decls[found], sp, &out->v[found], why, sizeof why)) {
      snprintf(err, errlen, "%s parameter '%s': %s%s", owner, keys[k], why,
               decls[found].type == EB_P_INT && in_choices(decls[found].choices, "auto")
                   ? " (nor auto)"
                   : "");
      eb_argset_free(out);
      return EB_INPUT;
    }
    if (decls[found].type == EB_P_STRING && decls[found].choices &&
        !in_choices(decls[found].choices, sp)) {
      snprintf(err, errlen, "%s parameter '%s': '%s' is not one of %s", owner, keys[k],
               sp, decls[found].choices);
      eb_argset_free(out);
      return EB_INPUT;
    }
    out->v[found].name = decls[found].name;
    sp += strlen(sp) + 1;
  }
  out->args.n = nd;
  out->args.v = out->v;
  return EB_OK;
}

void eb_argset_free(eb_argset *a) {
  free(a->v);
  free(a->strings);
  memset(a, 0, sizeof *a);
}

static int edit_distance(const char *a, const char *b) {
  int la = (int)strlen(a), lb = (int)strlen(b);
  if (la > 63 || lb > 63) return 99;
  int d[64][64];
  for (int i = 0; i <= la; i++)
    d[i][0] = i;
  for (int j = 0; j <= lb; j++)
    d[0][j] = j;
  for (int i = 1; i <= la; i++)
    for (int j = 1; j <= lb; j++) {
      int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
      d[i][j] = c;
    }
  return d[la][lb];
}

const char *eb_nearest(const char *word, const char *const *cands, int n) {
  const char *best = NULL;
  int bd = 99;
  for (int i = 0; i < n; i++) {
    int d = edit_distance(word, cands[i]);
    if (d < bd) {
      bd = d;
      best = cands[i];
    }
  }
  int limit = (int)strlen(word) / 3 + 1;
  return bd <= limit ? best : NULL;
}

/* ----------------------------------------------- lookups (plugin.h) ---- */
static const eb_arg *find(const eb_args *a, const char *name) {
  if (!a) return NULL;
  for (int i = 0; i < a->n; i++)
    if (strcmp(a->v[i].name, name) == 0) return &a->v[i];
  return NULL;
}

int64_t eb_args_int(const eb_args *a, const char *name, int64_t fallback) {
  const eb_arg *v = find(a, name);
  return v && (v->type == EB_P_INT || v->type == EB_P_BOOL) ? v->i : fallback;
}

double eb_args_float(const eb_args *a, const char *name, double fallback) {
  const eb_arg *v = find(a, name);
  if (!v) return fallback;
  if (v->type == EB_P_FLOAT) return v->f;
  if (v->type == EB_P_INT) return (double)v->i;
  return fallback;
}

const char *eb_args_str(const eb_args *a, const char *name, const char *fallback) {
  const eb_arg *v = find(a, name);
  return v && v->s ? v->s : fallback;
}
