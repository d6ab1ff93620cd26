/* Lookup of resolved, declared parameters (eb_args) by name. */
#include <string.h>

#include "effbench/plugin.h"

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
