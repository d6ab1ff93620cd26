/* Small helpers shared by the op files (core/ops_*.c); not public API. */
#ifndef EFFBENCH_CORE_OPS_UTIL_H
#define EFFBENCH_CORE_OPS_UTIL_H

#include <stdio.h>
#include <string.h>

#include "effbench/core.h"
#include "internal.h"

/* OpenMP pragmas that vanish (without -Wunknown-pragmas noise) when the
 * compiler has no OpenMP. Every parallel loop in the ops writes disjoint
 * outputs, so results do not depend on the thread count. */
#ifdef _OPENMP
#define EB_OMP(x) _Pragma(x)
#else
#define EB_OMP(x)
#endif

/* Below this many elements a loop stays serial (thread start-up costs more). */
#define EB_PAR_MIN 32768

/* "[2,3,4]" into buf (at least 64 bytes). */
static inline const char *eb__shape_str(const eb_tensor *t, char *buf) {
  int n = snprintf(buf, 64, "[");
  for (int i = 0; i < t->ndim && n < 60; i++)
    n += snprintf(buf + n, (size_t)(64 - n), i ? ",%d" : "%d", t->shape[i]);
  snprintf(buf + n, (size_t)(64 - n), "]");
  return buf;
}
/* A shape string usable as a printf argument within the calling statement. */
#define EB_SHAPE(t) eb__shape_str((t), (char[64]){0})

static inline int eb__same_shape(const eb_tensor *a, const eb_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

/* b's shape equals the trailing dims of a's shape (includes b == a). */
static inline int eb__is_trailing(const eb_tensor *a, const eb_tensor *b) {
  if (b->ndim > a->ndim) return 0;
  for (int i = 0; i < b->ndim; i++)
    if (b->shape[i] != a->shape[a->ndim - b->ndim + i]) return 0;
  return 1;
}

/* Gradient buffer of t when it needs one, else NULL; *fail is set when the
 * allocation failed (the arena already wrote the error). */
static inline float *eb__grad_if(eb_ctx *ctx, eb_tensor *t, int *fail) {
  if (!t || !t->requires_grad) return NULL;
  float *g = eb_tensor_grad(ctx, t);
  if (!g) *fail = 1;
  return g;
}

#endif
