/* Random words and prose for the offline text generators: words.h. */
#include "words.h"

#include <string.h>

int eb_random_word(eb_rng *r, char *out, int lo, int hi) {
  int len = lo + (int)eb_rng_below(r, hi - lo + 1);
  for (int i = 0; i < len; i++)
    out[i] = (char)('a' + eb_rng_below(r, 26));
  out[len] = '\0';
  return len;
}

int eb_random_word_utf8(eb_rng *r, char *out, int lo, int hi) {
  int len = eb_random_word(r, out, lo, hi);
  if (eb_rng_below(r, 32) != 0) return len;
  int at = (int)eb_rng_below(r, len);
  memmove(out + at + 2, out + at + 1, (size_t)(len - at));
  out[at] = (char)0xC3;
  out[at + 1] = (char)0xA9;
  return len + 1;
}

int eb_render_words(eb_rng *r, const eb_word *w, int n, unsigned char *out) {
  int k = 0, left = 5 + (int)eb_rng_below(r, 11);
  for (int j = 0; j < n; j++) {
    memcpy(out + k, w[j].s, (size_t)w[j].len);
    k += w[j].len;
    if (j == n - 1 || --left == 0) {
      out[k++] = '.';
      left = 5 + (int)eb_rng_below(r, 11);
    }
    if (j < n - 1) out[k++] = ' ';
  }
  return k;
}
