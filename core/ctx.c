/* The per-step context: activation arena with high-water tracking, the
 * autograd tape, the FLOP counter and the last failure of the step (its kind
 * and message). */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effbench/core.h"
#include "internal.h"

#define ARENA_ALIGN 64

typedef struct chunk {
  struct chunk *next;
  size_t cap, used;
  char *base; /* aligned start inside the allocation */
} chunk;

struct eb_ctx {
  chunk *chunks;     /* current chunk first */
  size_t used;       /* bytes handed out since the last reset (all chunks) */
  size_t high_water; /* max of `used` since eb_ctx_reset_high_water */
  size_t chunk_default;
  eb_node *tape;
  size_t tape_len, tape_cap;
  int grad_enabled;
  int training;
  uint64_t seed, step;
  uint64_t op_counter; /* per-step op index for dropout streams */
  eb_flops flops;
  double recompute; /* of flops, recomputed forward work */
  double bytes;     /* memory traffic of the ops */
  /* GEMM FLOPs (2mnk of every matrix product run, from its own m, n, k), and
   * of them those recomputing forward work; atomic: an op's parallel loop may
   * count its tiles from several threads (integer sums: order-independent) */
  _Atomic int64_t gemm, gemm_recompute;
  eb_rc rc; /* kind of the failure in err; EB_OK: none since the last reset */
  char err[EB_ERR_LEN];
};

static chunk *chunk_new(size_t cap) {
  if (eb_mem_take(cap)) return NULL;
  chunk *c = malloc(sizeof *c);
  if (!c) {
    eb_mem_give(cap);
    return NULL;
  }
  void *mem = NULL;
  if (posix_memalign(&mem, ARENA_ALIGN, cap ? cap : ARENA_ALIGN) != 0) {
    free(c);
    eb_mem_give(cap);
    return NULL;
  }
  c->base = mem;
  c->cap = cap;
  c->used = 0;
  c->next = NULL;
  return c;
}

static void chunks_free(chunk *c) {
  while (c) {
    chunk *n = c->next;
    eb_mem_give(c->cap);
    free(c->base);
    free(c);
    c = n;
  }
}

eb_ctx *eb_ctx_create(size_t arena_bytes, uint64_t seed) {
  eb_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return NULL;
  ctx->chunk_default = arena_bytes < (1u << 20) ? (1u << 20) : arena_bytes;
  ctx->chunks = chunk_new(ctx->chunk_default);
  if (!ctx->chunks) {
    free(ctx);
    return NULL;
  }
  ctx->seed = seed;
  ctx->grad_enabled = 1;
  ctx->training = 1;
  return ctx;
}

void eb_ctx_destroy(eb_ctx *ctx) {
  if (!ctx) return;
  chunks_free(ctx->chunks);
  eb_mem_give(ctx->tape_cap * sizeof *ctx->tape);
  free(ctx->tape);
  free(ctx);
}

void eb_ctx_reset(eb_ctx *ctx) {
  /* If the step overflowed into several chunks, replace them by one chunk
   * big enough for the whole step, so later steps stay in one block. */
  if (ctx->chunks->next) {
    size_t total = 0;
    for (chunk *c = ctx->chunks; c; c = c->next)
      total += c->cap;
    chunk *one = chunk_new(total);
    if (one) {
      chunks_free(ctx->chunks);
      ctx->chunks = one;
    } else {
      chunks_free(ctx->chunks->next);
      ctx->chunks->next = NULL;
    }
  }
  ctx->chunks->used = 0;
  ctx->used = 0;
  ctx->tape_len = 0;
  ctx->op_counter = 0;
  ctx->rc = EB_OK;
  ctx->err[0] = '\0';
}

void eb_ctx_set_grad(eb_ctx *ctx, int enabled) { ctx->grad_enabled = enabled; }
void eb_ctx_set_training(eb_ctx *ctx, int training) { ctx->training = training; }
int eb_ctx_training(const eb_ctx *ctx) { return ctx->training; }
void eb_ctx_set_step(eb_ctx *ctx, uint64_t step) {
  ctx->step = step;
  ctx->op_counter = 0;
}

uint64_t eb_ctx_step(const eb_ctx *ctx) { return ctx->step; }

const char *eb_ctx_error(const eb_ctx *ctx) { return ctx->err; }
eb_rc eb_ctx_rc(const eb_ctx *ctx) { return ctx->rc; }

/* the kind and the message of one failure, always together: a later failure
 * replaces both (an op fed the NULL of a failed one records nothing, so a
 * chain of ops keeps its cause) */
static void ctx_vfail(eb_ctx *ctx, eb_rc rc, const char *fmt, va_list ap) {
  ctx->rc = rc != EB_OK ? rc : EB_INTERNAL;
  vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
}

void eb_ctx_fail(eb_ctx *ctx, eb_rc rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ctx_vfail(ctx, rc, fmt, ap);
  va_end(ap);
}

void eb_ctx_set_error(eb_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ctx_vfail(ctx, EB_INTERNAL, fmt, ap);
  va_end(ap);
}

eb_flops eb_ctx_flops(const eb_ctx *ctx) { return ctx->flops; }
void eb_ctx_reset_flops(eb_ctx *ctx) {
  ctx->flops.forward = ctx->flops.backward = 0;
  ctx->recompute = ctx->bytes = 0;
  atomic_store(&ctx->gemm, 0);
  atomic_store(&ctx->gemm_recompute, 0);
}
double eb_ctx_gemm_flops(const eb_ctx *ctx) {
  return (double)atomic_load(&((eb_ctx *)ctx)->gemm);
}
double eb_ctx_gemm_recompute(const eb_ctx *ctx) {
  return (double)atomic_load(&((eb_ctx *)ctx)->gemm_recompute);
}
void eb__ctx_count_gemm(eb_ctx *ctx, int64_t flops, int64_t recompute) {
  if (!ctx) return;
  atomic_fetch_add_explicit(&ctx->gemm, flops, memory_order_relaxed);
  if (recompute)
    atomic_fetch_add_explicit(&ctx->gemm_recompute, recompute, memory_order_relaxed);
}
void eb_ctx_add_recompute(eb_ctx *ctx, double flops) { ctx->recompute += flops; }
double eb_ctx_recompute(const eb_ctx *ctx) { return ctx->recompute; }
void eb_ctx_add_bytes(eb_ctx *ctx, double bytes) { ctx->bytes += bytes; }
double eb_ctx_bytes(const eb_ctx *ctx) { return ctx->bytes; }
void eb_ctx_add_flops(eb_ctx *ctx, double forward, double backward) {
  ctx->flops.forward += forward;
  ctx->flops.backward += backward;
}

size_t eb_ctx_arena_used(const eb_ctx *ctx) { return ctx->used; }
size_t eb_ctx_arena_high_water(const eb_ctx *ctx) { return ctx->high_water; }
void eb_ctx_reset_high_water(eb_ctx *ctx) { ctx->high_water = ctx->used; }

uint64_t eb__ctx_next_stream(eb_ctx *ctx) {
  return eb_rng_hash(ctx->seed, ctx->step, ctx->op_counter++);
}

void *eb_alloc(eb_ctx *ctx, size_t bytes) {
  size_t need = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (need == 0) need = ARENA_ALIGN;
  chunk *c = ctx->chunks;
  if (c->cap - c->used < need) {
    size_t cap = need > ctx->chunk_default ? need : ctx->chunk_default;
    chunk *n = chunk_new(cap);
    if (!n) {
      eb_ctx_fail(ctx, EB_NOMEM, "out of memory: arena could not grow by %zu bytes", cap);
      return NULL;
    }
    n->next = c;
    ctx->chunks = n;
    c = n;
  }
  void *p = c->base + c->used;
  c->used += need;
  ctx->used += need;
  if (ctx->used > ctx->high_water) ctx->high_water = ctx->used;
  return p;
}

static eb_tensor *tensor_header(eb_ctx *ctx, int ndim, const int *shape) {
  if (ndim < 1 || ndim > EB_MAX_DIMS) {
    eb_ctx_fail(ctx, EB_SHAPE, "tensor rank %d outside 1..%d", ndim, EB_MAX_DIMS);
    return NULL;
  }
  eb_tensor *t = eb_alloc(ctx, sizeof *t);
  if (!t) return NULL;
  memset(t, 0, sizeof *t);
  t->ndim = ndim;
  t->size = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 1) {
      eb_ctx_fail(ctx, EB_SHAPE, "tensor dim %d has size %d", i, shape[i]);
      return NULL;
    }
    t->shape[i] = shape[i];
    t->size *= shape[i];
  }
  return t;
}

eb_tensor *eb_tensor_new(eb_ctx *ctx, int ndim, const int *shape) {
  eb_tensor *t = tensor_header(ctx, ndim, shape);
  if (!t) return NULL;
  t->data = eb_alloc(ctx, (size_t)t->size * sizeof(float));
  return t->data ? t : NULL;
}

eb_tensor *eb_tensor_zeros(eb_ctx *ctx, int ndim, const int *shape) {
  eb_tensor *t = eb_tensor_new(ctx, ndim, shape);
  if (t) memset(t->data, 0, (size_t)t->size * sizeof(float));
  return t;
}

eb_tensor *eb__tensor_view(eb_ctx *ctx, eb_tensor *x, int ndim, const int *shape) {
  eb_tensor *t = tensor_header(ctx, ndim, shape);
  if (!t) return NULL;
  if (t->size != x->size) {
    eb_ctx_fail(ctx, EB_SHAPE, "reshape: %lld elements cannot view %lld",
                (long long)t->size, (long long)x->size);
    return NULL;
  }
  t->data = x->data;
  return t;
}

float *eb_tensor_grad(eb_ctx *ctx, eb_tensor *t) {
  if (!t->grad) {
    t->grad = eb_alloc(ctx, (size_t)t->size * sizeof(float));
    if (t->grad) memset(t->grad, 0, (size_t)t->size * sizeof(float));
  }
  return t->grad;
}

float *eb__grad_acc(eb_ctx *ctx, eb_tensor *t, int *fresh) {
  *fresh = 0;
  if (!t->grad) {
    t->grad = eb_alloc(ctx, (size_t)t->size * sizeof(float));
    *fresh = t->grad != NULL;
  }
  return t->grad;
}

eb_node *eb_tape_record(eb_ctx *ctx, eb_backward_fn fn, eb_tensor *out, int nin,
                        eb_tensor *const *in) {
  if (!ctx->grad_enabled) return NULL;
  int need = 0;
  for (int i = 0; i < nin; i++)
    if (in[i] && in[i]->requires_grad) need = 1;
  if (!need) return NULL;
  if (ctx->tape_len == ctx->tape_cap) {
    size_t cap = ctx->tape_cap ? ctx->tape_cap * 2 : 256;
    const size_t more = (cap - ctx->tape_cap) * sizeof *ctx->tape;
    const int refused = eb_mem_take(more);
    eb_node *t = refused ? NULL : realloc(ctx->tape, cap * sizeof *t);
    if (!t && !refused) eb_mem_give(more);
    if (!t) {
      eb_ctx_fail(ctx, EB_NOMEM,
                  "out of memory: the autograd tape could not grow to %zu nodes "
                  "(%zu bytes)",
                  cap, cap * sizeof *t);
      return NULL;
    }
    ctx->tape = t;
    ctx->tape_cap = cap;
  }
  eb_node *n = &ctx->tape[ctx->tape_len++];
  memset(n, 0, sizeof *n);
  n->backward = fn;
  n->out = out;
  for (int i = 0; i < nin && i < EB_NODE_MAX_IN; i++)
    n->in[i] = in[i];
  out->requires_grad = 1;
  return n;
}

int eb_backward(eb_ctx *ctx, eb_tensor *loss) {
  if (!loss) return ctx->rc != EB_OK ? ctx->rc : EB_INTERNAL;
  if (ctx->rc != EB_OK)
    return ctx->rc; /* the forward pass already failed (e.g. tape
                       growth) */
  if (loss->size != 1) {
    eb_ctx_fail(ctx, EB_SHAPE, "backward: loss must be a scalar, has %lld elements",
                (long long)loss->size);
    return ctx->rc;
  }
  if (!loss->requires_grad) {
    eb_ctx_fail(ctx, EB_INTERNAL, "backward: loss does not depend on any parameter");
    return ctx->rc;
  }
  float *g = eb_tensor_grad(ctx, loss);
  if (!g) return ctx->rc;
  g[0] = 1.0f;
  for (size_t i = ctx->tape_len; i-- > 0;) {
    eb_node *n = &ctx->tape[i];
    if (!n->out->grad) continue; /* output never reached the loss */
    n->backward(ctx, n);
    if (ctx->rc != EB_OK) return ctx->rc;
  }
  return EB_OK;
}
