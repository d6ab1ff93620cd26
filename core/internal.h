/* Engine internals shared between core/ files; not part of the public API. */
#ifndef EFFBENCH_CORE_INTERNAL_H
#define EFFBENCH_CORE_INTERNAL_H

#include "effbench/core.h"

/* Dropout stream id for the next random op of this step. */
uint64_t eb__ctx_next_stream(eb_ctx *ctx);
/* A tensor header sharing x's data (for views); NULL if sizes differ. */
eb_tensor *eb__tensor_view(eb_ctx *ctx, eb_tensor *x, int ndim, const int *shape);

/* Gradient buffer of t; a new buffer is left uninitialised and *fresh set to 1
 * (the caller must overwrite all of it), an existing one gives *fresh = 0. */
float *eb__grad_acc(eb_ctx *ctx, eb_tensor *t, int *fresh);

/* Backward of a fused op's residual add y = res + f(...): dres (+)= dy. res
 * takes dy's buffer when it has no gradient yet (as eb_add's backward does), so
 * call it after the op's other gradients have read dy and after any write to
 * a gradient buffer res may share (res may be one of the op's inputs). */
void eb__residual_backward(eb_ctx *ctx, eb_tensor *res, const eb_tensor *y);

/* Adds flops to the context's GEMM counter (eb_ctx_gemm_flops), of which
 * recompute (<= flops) redo forward work in a backward. Called with the
 * m, n, k of each matrix product as it runs (2mnk), by eb__gemm and
 * eb__gemm_tile (ops_util.h) and by the attention kernels' block products;
 * thread-safe, and a NULL ctx (a benchmark outside any step) counts nothing. */
void eb__ctx_count_gemm(eb_ctx *ctx, int64_t flops, int64_t recompute);

/* Selective scan checkpoint spacing in steps; 0 = automatic (tests use it to
 * cross many chunks on short sequences). Not thread-safe: set before use. */
void eb__scan_set_chunk(int chunk);

/* Shape helpers for ops. */
static inline int eb__last(const eb_tensor *t) { return t->shape[t->ndim - 1]; }
static inline int64_t eb__rows(const eb_tensor *t) { return t->size / eb__last(t); }

#endif
