#include "hash.h"

#include <string.h>

uint64_t eb_fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * EB_FNV_PRIME;
  return h;
}

uint64_t eb_fnv1a_str(uint64_t h, const char *s) { return eb_fnv1a(h, s, strlen(s)); }

uint64_t eb_fnv1a_words(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, b + i, 8);
    h = (h ^ w) * EB_FNV_PRIME;
    h ^= h >> 29;
  }
  return eb_fnv1a(h, b + i, n - i);
}
