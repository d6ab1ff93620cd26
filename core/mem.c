/* Engine memory accounting: a limit on the bytes the engine holds at once
 * (train.max_memory) and failure injection for tests (EFFBENCH_FAIL_ALLOC),
 * over the engine's allocations of any size: the parameter block (values,
 * gradients, Adam moments), activation arena chunks, the autograd tape, and
 * the trainer's own buffers (harness/train.c). A refused take is reported by
 * its caller as EB_NOMEM ("out of memory", the size asked), like a failed
 * malloc. */
#include <stdatomic.h>

#include "effbench/core.h"

static _Atomic size_t in_use, limit;
static _Atomic long takes, fail_at;

void eb_mem_set_limit(size_t bytes) { atomic_store(&limit, bytes); }
size_t eb_mem_limit(void) { return atomic_load(&limit); }
size_t eb_mem_in_use(void) { return atomic_load(&in_use); }

void eb_mem_fail_at(long n) {
  atomic_store(&takes, 0);
  atomic_store(&fail_at, n > 0 ? n : 0);
}

long eb_mem_takes(void) { return atomic_load(&takes); }

int eb_mem_take(size_t bytes) {
  long n = atomic_fetch_add(&takes, 1) + 1;
  long f = atomic_load(&fail_at);
  if (f > 0 && n == f) return -1;
  size_t lim = atomic_load(&limit);
  size_t now = atomic_fetch_add(&in_use, bytes) + bytes;
  if (lim > 0 && (now > lim || now < bytes)) {
    atomic_fetch_sub(&in_use, bytes);
    return -1;
  }
  return 0;
}

void eb_mem_give(size_t bytes) { atomic_fetch_sub(&in_use, bytes); }
