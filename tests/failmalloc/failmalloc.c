/* An LD_PRELOAD allocator for tests/malloc_fail.test.sh: counts every
 * malloc, calloc, realloc, aligned_alloc and posix_memalign of the process
 * (effbench's, SQLite's, libyaml's, the C++ runtime's of oneDNN) and makes
 * the N-th fail (FAIL_AT=N) as a real allocator does: NULL and errno ENOMEM.
 * FAIL_COUNT=FILE writes the number of allocations at exit, so a test can
 * spread N over a whole run; FAIL_TRACE=1 prints the failing call's stack
 * (function names where the binary exports them) to stderr. glibc only:
 * the real functions are glibc's __libc_* entry points, which need no dlsym
 * at start-up. */
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_long calls;
static long fail_at = -2; /* -2: not read yet; -1: never */

static int fail_now(void) {
  if (fail_at == -2) {
    const char *e = getenv("FAIL_AT");
    fail_at = e && *e ? atol(e) : -1;
  }
  long n = atomic_fetch_add(&calls, 1) + 1;
  if (n != fail_at) return 0;
  const char *trace = getenv("FAIL_TRACE");
  if (trace && *trace == '1') {
    void *frames[32];
    backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
  }
  errno = ENOMEM;
  return 1;
}

void *malloc(size_t n) { return fail_now() ? NULL : __libc_malloc(n); }
void *calloc(size_t a, size_t b) { return fail_now() ? NULL : __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { return fail_now() ? NULL : __libc_realloc(p, n); }
void *aligned_alloc(size_t al, size_t n) {
  return fail_now() ? NULL : __libc_memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n) {
  if (fail_now()) return ENOMEM;
  void *p = __libc_memalign(al, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

__attribute__((destructor)) static void report(void) {
  const char *path = getenv("FAIL_COUNT");
  if (!path || !*path) return;
  FILE *f = fopen(path, "w");
  if (!f) return;
  fprintf(f, "%ld\n", (long)atomic_load(&calls));
  fclose(f);
}
