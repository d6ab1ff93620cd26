/* Byte-level text for the text and retrieval tasks: strict UTF-8 checking,
 * byte tokenization (token = byte + 1, 0 = padding, vocabulary 257 as in
 * LRA), line-by-line reading of TSV files with file:line positions,
 * deterministic carving of a split out of another, small file helpers and a
 * random "word" maker for the offline generators.
 *
 * Tokens of valid UTF-8 never exceed 0xF4 + 1, so a split of checked text is
 * stored one byte per token even though the vocabulary is 257. */
#ifndef EFFBENCH_TASKS_BYTES_H
#define EFFBENCH_TASKS_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "effbench/rng.h"

#define EB_BYTE_VOCAB 257

/* Offset of the first byte that does not start a well-formed UTF-8 sequence
 * (overlong forms, surrogates, code points above U+10FFFF, stray or missing
 * continuation bytes), or -1 when all n bytes are valid. */
long long eb_utf8_invalid(const unsigned char *s, size_t n);

/* 0 when s is valid UTF-8, else -1 with "FILE:LINE:COL: invalid UTF-8" in err;
 * byte 0 of s is at line `line`, column `col0` of the file. */
int eb_check_utf8(const unsigned char *s, size_t n, const char *file, long long line,
                  long long col0, char *err, size_t errlen);

/* 1-based line and column of byte `off` of s. */
void eb_text_position(const unsigned char *s, size_t off, long long *line,
                      long long *col);

/* tok[t] = s[t] + 1 for the first min(n, max_len) bytes; returns that count. */
int eb_bytes_to_tokens(const unsigned char *s, size_t n, int32_t *tok, int max_len);

/* Lines of a file, read with getline: the newline and a trailing CR are
 * stripped; a last line without a newline counts as a line. */
typedef struct eb_lines {
  FILE *f;
  const char *path;
  char *buf;
  size_t cap;
  long long line; /* 1-based number of the line last returned */
} eb_lines;

int eb_lines_open(eb_lines *L, const char *path, char *err, size_t errlen);
/* Length of the next line (>= 0) in L->buf, -1 at the end, -2 on a read
 * error (err filled). */
long long eb_lines_next(eb_lines *L, char *err, size_t errlen);
void eb_lines_close(eb_lines *L);
/* Number of lines of a file in the sense of eb_lines_next. */
int eb_count_lines(const char *path, int64_t *n, char *err, size_t errlen);

/* Deterministic carving: among the items with dest[i] == from, the k with the
 * smallest hash of keys[i] (ties by index) get dest[i] = to. Returns -1 when
 * fewer than k + 1 items have dest == from (so `from` keeps at least one). */
int eb_carve(const uint64_t *keys, int64_t n, int64_t k, uint8_t *dest, uint8_t from,
             uint8_t to);
uint64_t eb_hash_str(uint64_t h, const char *s);

/* mkdir -p */
int eb_mkdirs(const char *path, char *err, size_t errlen);
int eb_is_dir(const char *path);
int eb_is_file(const char *path);
/* Whole file into a malloc'ed buffer (NUL-terminated; *n excludes the NUL). */
int eb_read_file(const char *path, unsigned char **buf, size_t *n, char *err,
                 size_t errlen);
int eb_write_file(const char *path, const void *buf, size_t n, char *err, size_t errlen);

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
