/* Parameters: declared one by one by an architecture, then laid out in one
 * allocation holding data, gradients and the optimizer's two moments. Each
 * parameter starts on a 64-byte boundary (16 floats). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effbench/core.h"

typedef struct pinfo {
  eb_tensor t;
  char *name;
  eb_init init;
  float scale;
  float *values;  /* eb_param_init_values: copied at declaration, or NULL */
  int64_t offset; /* in floats, within each of the four regions */
  int decay;      /* eb_param_set_decay: 1, 0, or -1 = unset (decay iff ndim >= 2) */
} pinfo;

struct eb_params {
  pinfo **p;
  int n, cap;
  int64_t numel;  /* real weights */
  int64_t padded; /* floats per region, with alignment padding */
  float *block;   /* 4 * padded floats: data | grad | m | v */
  int finalized;
};

eb_params *eb_params_create(void) { return calloc(1, sizeof(eb_params)); }

void eb_params_destroy(eb_params *P) {
  if (!P) return;
  for (int i = 0; i < P->n; i++) {
    free(P->p[i]->name);
    free(P->p[i]->values);
    free(P->p[i]);
  }
  free(P->p);
  if (P->block) eb_mem_give((size_t)(4 * P->padded) * sizeof(float));
  free(P->block);
  free(P);
}

eb_tensor *eb_param_buffer(eb_params *P, const char *name, int ndim, const int *shape,
                           eb_init init, float scale) {
  eb_tensor *t = eb_param(P, name, ndim, shape, init, scale);
  if (t) t->requires_grad = 0;
  return t;
}

eb_tensor *eb_param(eb_params *P, const char *name, int ndim, const int *shape,
                    eb_init init, float scale) {
  if (!P || P->finalized || !name || ndim < 1 || ndim > EB_MAX_DIMS) return NULL;
  if (eb_params_find(P, name)) return NULL;
  pinfo *pi = calloc(1, sizeof *pi);
  if (!pi) return NULL;
  pi->name = strdup(name);
  if (!pi->name) {
    free(pi);
    return NULL;
  }
  pi->t.ndim = ndim;
  pi->t.size = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 1) {
      free(pi->name);
      free(pi);
      return NULL;
    }
    pi->t.shape[i] = shape[i];
    pi->t.size *= shape[i];
  }
  pi->t.requires_grad = 1;
  pi->t.is_param = 1;
  pi->t.name = pi->name;
  pi->init = init;
  pi->scale = scale;
  pi->decay = -1;
  if (P->n == P->cap) {
    int cap = P->cap ? P->cap * 2 : 32;
    pinfo **np = realloc(P->p, (size_t)cap * sizeof *np);
    if (!np) {
      free(pi->name);
      free(pi);
      return NULL;
    }
    P->p = np;
    P->cap = cap;
  }
  P->p[P->n++] = pi;
  return &pi->t;
}

int eb_param_init_values(eb_params *P, eb_tensor *t, const float *values) {
  if (!P || P->finalized || !t || !values) return -1;
  for (int i = 0; i < P->n; i++) {
    pinfo *pi = P->p[i];
    if (&pi->t != t) continue;
    float *v = malloc((size_t)t->size * sizeof *v);
    if (!v) return -1;
    memcpy(v, values, (size_t)t->size * sizeof *v);
    free(pi->values);
    pi->values = v;
    return 0;
  }
  return -1;
}

static pinfo *find_info(const eb_params *P, const eb_tensor *t) {
  for (int i = 0; P && t && i < P->n; i++)
    if (&P->p[i]->t == t) return P->p[i];
  return NULL;
}

int eb_param_set_decay(eb_params *P, eb_tensor *t, int decay) {
  pinfo *pi = find_info(P, t);
  if (!pi) return -1;
  pi->decay = decay != 0;
  return 0;
}

int eb_params_decays(const eb_params *P, int i) {
  if (!P || i < 0 || i >= P->n) return -1;
  const pinfo *pi = P->p[i];
  return pi->decay >= 0 ? pi->decay : pi->t.ndim >= 2;
}

int eb_params_finalize(eb_params *P, uint64_t seed, char *err, size_t errlen) {
  if (P->finalized) return 0;
  int64_t off = 0, numel = 0;
  for (int i = 0; i < P->n; i++) {
    P->p[i]->offset = off;
    off += (P->p[i]->t.size + 15) & ~(int64_t)15;
    if (P->p[i]->t.requires_grad) numel += P->p[i]->t.size;
  }
  if (off == 0) off = 16;
  void *mem = NULL;
  const size_t bytes = (size_t)(4 * off) * sizeof(float);
  if (eb_mem_take(bytes) == 0) {
    if (posix_memalign(&mem, 64, bytes) == 0) {
      P->block = mem;
      memset(P->block, 0, bytes);
    } else {
      eb_mem_give(bytes);
    }
  }
  if (!P->block) {
    snprintf(
        err, errlen,
        "out of memory allocating %lld parameters (%lld bytes asked for their values, "
        "gradients and two optimizer moments)",
        (long long)numel, (long long)(4 * off * (int64_t)sizeof(float)));
    return EB_NOMEM;
  }
  P->padded = off;
  P->numel = numel;
  for (int i = 0; i < P->n; i++) {
    pinfo *pi = P->p[i];
    pi->t.data = P->block + pi->offset;
    pi->t.grad = P->block + off + pi->offset;
    eb_rng r = eb_rng_make(seed, 0x5EED0000ull + (uint64_t)i);
    if (pi->values) {
      memcpy(pi->t.data, pi->values, (size_t)pi->t.size * sizeof(float));
      continue;
    }
    if (pi->init == EB_INIT_ORTHOGONAL) {
      int cols = pi->t.shape[pi->t.ndim - 1];
      eb_rng_orthogonal(&r, pi->t.data, (int)(pi->t.size / cols), cols);
      continue;
    }
    for (int64_t j = 0; j < pi->t.size; j++) {
      float v = 0.0f;
      switch (pi->init) {
      case EB_INIT_ZEROS: v = 0.0f; break;
      case EB_INIT_ONES: v = 1.0f; break;
      case EB_INIT_NORMAL: v = pi->scale * eb_rng_normal(&r); break;
      case EB_INIT_UNIFORM: v = pi->scale * (2.0f * eb_rng_uniform(&r) - 1.0f); break;
      case EB_INIT_ORTHOGONAL: break; /* handled above */
      }
      pi->t.data[j] = v;
    }
  }
  P->finalized = 1;
  return 0;
}

int eb_params_count(const eb_params *P) { return P->n; }
eb_tensor *eb_params_get(const eb_params *P, int i) {
  return (i >= 0 && i < P->n) ? &P->p[i]->t : NULL;
}
eb_tensor *eb_params_find(const eb_params *P, const char *name) {
  for (int i = 0; i < P->n; i++)
    if (strcmp(P->p[i]->name, name) == 0) return &P->p[i]->t;
  return NULL;
}
int64_t eb_params_numel(const eb_params *P) {
  if (P->finalized) return P->numel;
  int64_t n = 0;
  for (int i = 0; i < P->n; i++)
    if (P->p[i]->t.requires_grad) n += P->p[i]->t.size;
  return n;
}
size_t eb_params_bytes(const eb_params *P) {
  return (size_t)(4 * P->padded) * sizeof(float);
}
void eb_params_zero_grad(eb_params *P) {
  if (P->block) memset(P->block + P->padded, 0, (size_t)P->padded * sizeof(float));
}
int64_t eb_params_padded(const eb_params *P) { return P->padded; }
float *eb_params_data(eb_params *P) { return P->block; }
float *eb_params_grads(eb_params *P) { return P->block ? P->block + P->padded : NULL; }
float *eb_params_opt_state(eb_params *P) {
  return P->block ? P->block + 2 * P->padded : NULL;
}
