/* Random words and prose for the offline text generators. */
#ifndef EFFBENCH_TASKS_WORDS_H
#define EFFBENCH_TASKS_WORDS_H

#include "effbench/rng.h"

/* A random lowercase ASCII word of length in [lo, hi] into out (NUL-ended). */
int eb_random_word(eb_rng *r, char *out, int lo, int hi);
/* The same, but one word in 32 carries a two-byte UTF-8 letter (U+00E9), so
 * generated text exercises multi-byte sequences; out needs hi + 2 bytes. */
int eb_random_word_utf8(eb_rng *r, char *out, int lo, int hi);

/* Words rendered as prose: single spaces, ". " every 5 to 15 words, a final
 * "."; writes at most len + 2 bytes per word and returns the length. */
typedef struct eb_word {
  const char *s;
  int len;
} eb_word;
int eb_render_words(eb_rng *r, const eb_word *w, int n, unsigned char *out);

#endif
