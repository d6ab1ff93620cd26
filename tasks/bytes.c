/* Byte-level text: UTF-8 checking and byte tokens (bytes.h). */
#include "bytes.h"

#include <stdio.h>

long long eb_utf8_invalid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    /* length and the allowed range of the second byte (RFC 3629 table) */
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
      len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0; /* overlong */
      if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90; /* overlong */
      if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else
      return (long long)i; /* continuation byte, C0/C1 overlong, F5..FF */
    if (i + (size_t)len > n) return (long long)i; /* truncated sequence */
    if (s[i + 1] < lo || s[i + 1] > hi) return (long long)i;
    for (int k = 2; k < len; k++)
      if ((s[i + k] & 0xC0) != 0x80) return (long long)i;
    i += (size_t)len;
  }
  return -1;
}

int eb_check_utf8(const unsigned char *s, size_t n, const char *file, long long line,
                  long long col0, char *err, size_t errlen) {
  long long bad = eb_utf8_invalid(s, n);
  if (bad < 0) return 0;
  long long l, c;
  eb_text_position(s, (size_t)bad, &l, &c);
  snprintf(err, errlen, "%s:%lld:%lld: invalid UTF-8 (byte 0x%02X)", file, line + l - 1,
           l == 1 ? col0 + c - 1 : c, s[bad]);
  return -1;
}

void eb_text_position(const unsigned char *s, size_t off, long long *line,
                      long long *col) {
  long long l = 1;
  size_t start = 0;
  for (size_t i = 0; i < off; i++)
    if (s[i] == '\n') {
      l++;
      start = i + 1;
    }
  *line = l;
  *col = (long long)(off - start) + 1;
}

int eb_bytes_to_tokens(const unsigned char *s, size_t n, int32_t *tok, int max_len) {
  int m = n < (size_t)max_len ? (int)n : max_len;
  for (int t = 0; t < m; t++)
    tok[t] = (int32_t)s[t] + 1;
  return m;
}
