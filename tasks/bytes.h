/* Byte-level text for the text and retrieval tasks: strict UTF-8 checking and
 * byte tokenization (token = byte + 1, 0 = padding, vocabulary 257 as in
 * LRA). Lines of files are in lines.h, carving in carve.h, file helpers in
 * files.h, the generators' words in words.h.
 *
 * Tokens of valid UTF-8 never exceed 0xF4 + 1, so a split of checked text is
 * stored one byte per token even though the vocabulary is 257. */
#ifndef EFFBENCH_TASKS_BYTES_H
#define EFFBENCH_TASKS_BYTES_H

#include <stddef.h>
#include <stdint.h>

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

#endif
