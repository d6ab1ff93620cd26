/* Deterministic carving of a split out of another (a validation split out of
 * the training data), keyed by hashes of the items. */
#ifndef EFFBENCH_TASKS_CARVE_H
#define EFFBENCH_TASKS_CARVE_H

#include <stdint.h>

/* Deterministic carving: among the items with dest[i] == from, the k with the
 * smallest hash of keys[i] (ties by index) get dest[i] = to. Returns -1 when
 * fewer than k + 1 items have dest == from (so `from` keeps at least one). */
int eb_carve(const uint64_t *keys, int64_t n, int64_t k, uint8_t *dest, uint8_t from,
             uint8_t to);
uint64_t eb_hash_str(uint64_t h, const char *s);

#endif
