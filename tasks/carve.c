/* Deterministic carving of a split out of another: carve.h. */
#include "carve.h"

#include <stdlib.h>

#include "hash.h"

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

/* the tasks' name for util's FNV-1a (hash.h) */
uint64_t eb_hash_str(uint64_t h, const char *s) { return eb_fnv1a_str(h, s); }

typedef struct carve_item {
  uint64_t h;
  int64_t i;
} carve_item;

static int carve_cmp(const void *a, const void *b) {
  const carve_item *x = a, *y = b;
  if (x->h != y->h) return x->h < y->h ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

int eb_carve(const uint64_t *keys, int64_t n, int64_t k, uint8_t *dest, uint8_t from,
             uint8_t to) {
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    m += dest[i] == from;
  if (k < 0 || k >= m) return -1;
  if (k == 0) return 0;
  carve_item *it = malloc((size_t)m * sizeof *it);
  if (!it) return -1;
  m = 0;
  for (int64_t i = 0; i < n; i++)
    if (dest[i] == from) it[m++] = (carve_item){mix(keys[i]), i};
  qsort(it, (size_t)m, sizeof *it, carve_cmp);
  for (int64_t j = 0; j < k; j++)
    dest[it[j].i] = to;
  free(it);
  return 0;
}
