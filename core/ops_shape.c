/* Shape ops: reshape (a view), transpose, concat/slice on the last dim and the
 * sequence reversal. Forward moves data only (0 FLOPs); backward counts one
 * add per accumulated gradient element. */
#include "ops_util.h"

/* ------------------------------------------------------------ reshape ---- */
static void reshape_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *y = n->out;
  if (!x->requires_grad) return;
  if (!x->grad) { /* first gradient of x: share the buffer, no copy */
    x->grad = y->grad;
    return;
  }
  int64_t size = x->size;
  EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
  for (int64_t i = 0; i < size; i++)
    x->grad[i] += y->grad[i];
  eb_ctx_add_flops(ctx, 0, (double)size);
  eb__moved(ctx, 3.0 * size);
}

/* x[...] -> [shape] with the same number of elements, sharing x's data */
eb_tensor *eb_reshape(eb_ctx *ctx, eb_tensor *x, int ndim, const int *shape) {
  if (!x) return NULL;
  if (!shape || ndim < 1 || ndim > EB_MAX_DIMS) {
    eb_ctx_fail(ctx, EB_SHAPE, "reshape: x %s to rank %d", EB_SHAPE(x), ndim);
    return NULL;
  }
  eb_tensor *y = eb__tensor_view(ctx, x, ndim, shape);
  if (!y) {
    char want[64] = "[";
    int n = 1;
    for (int i = 0; i < ndim && n < 56; i++)
      n += snprintf(want + n, sizeof want - (size_t)n, i ? ",%d" : "%d", shape[i]);
    snprintf(want + n, sizeof want - (size_t)n, "]");
    eb_ctx_fail(ctx, EB_SHAPE, "reshape: x %s cannot become %s", EB_SHAPE(x), want);
    return NULL;
  }
  eb_tape_record(ctx, reshape_backward, y, 1, &x);
  return y;
}

/* ---------------------------------------------------------- transpose ---- */
/* Shapes padded to 4 dims; out[i0,i1,i2,i3] = x at the index with d0, d1 swapped. */
typedef struct tr_plan {
  int os[4];        /* output shape */
  int64_t xstep[4]; /* x stride for a unit step along each output dim */
} tr_plan;

static tr_plan tr_make(const eb_tensor *x, int d0, int d1) {
  tr_plan p;
  int off = 4 - x->ndim, xs[4];
  int64_t st[4];
  for (int i = 0; i < 4; i++)
    xs[i] = i < off ? 1 : x->shape[i - off];
  st[3] = 1;
  for (int i = 2; i >= 0; i--)
    st[i] = st[i + 1] * xs[i + 1];
  for (int i = 0; i < 4; i++) {
    p.os[i] = xs[i];
    p.xstep[i] = st[i];
  }
  int a = d0 + off, b = d1 + off;
  p.os[a] = xs[b];
  p.os[b] = xs[a];
  p.xstep[a] = st[b];
  p.xstep[b] = st[a];
  return p;
}

/* One element: forward dst[o] = src[xi]; backward src is dy (out order), dst
 * is dx (x order), accumulated (1) or written (2). */
#define TR_MOVE(mode, dst, src, o, xi)                                                   \
  do {                                                                                   \
    if ((mode) == 0)                                                                     \
      (dst)[o] = (src)[xi];                                                              \
    else if ((mode) == 1)                                                                \
      (dst)[xi] += (src)[o];                                                             \
    else                                                                                 \
      (dst)[xi] = (src)[o];                                                              \
  } while (0)

/* Rows i2 in [r0, r1) of output slab ij, the innermost dim contiguous on
 * both sides (x's last dim stays last: a head split or merge): row copies. */
static void tr_rows(int mode, const float *src, float *dst, int64_t o, int64_t xb,
                    int64_t s2, int r0, int r1, int C) {
  for (int i2 = r0; i2 < r1; i2++) {
    const int64_t oo = o + (int64_t)i2 * C, xi = xb + i2 * s2;
    if (mode == 0)
      memcpy(dst + oo, src + xi, (size_t)C * sizeof(float));
    else if (mode == 1)
      for (int c = 0; c < C; c++)
        dst[xi + c] += src[oo + c];
    else
      memcpy(dst + xi, src + oo, (size_t)C * sizeof(float));
  }
}

/* The same rows when the innermost dims swap (x strided along C): in tiles
 * of TR_TILE x TR_TILE, each read and written while it is in cache. */
#define TR_TILE 16
static void tr_tiles(int mode, const float *src, float *dst, int64_t o, int64_t xb,
                     int64_t s2, int64_t s3, int r0, int r1, int C) {
  for (int c0 = 0; c0 < C; c0 += TR_TILE) {
    const int c1 = c0 + TR_TILE < C ? c0 + TR_TILE : C;
    for (int i2 = r0; i2 < r1; i2++) {
      const int64_t oo = o + (int64_t)i2 * C, xr = xb + i2 * s2;
      for (int c = c0; c < c1; c++)
        TR_MOVE(mode, dst, src, oo + c, xr + c * s3);
    }
  }
}

static void tr_copy(const tr_plan *p, const float *src, float *dst, int accumulate_back) {
  /* forward: dst (out order) = src (x order); backward: src is dy (out order),
   * dst is dx (x order), accumulated (1) or written (2). Work items: a slab
   * (i0, i1) cut into runs of TR_TILE rows, so a transpose of one large
   * matrix still spreads over the threads. Each item writes its own
   * elements: the same result for any thread count. */
  const int n01 = p->os[0] * p->os[1], R = p->os[2], C = p->os[3];
  const int nr = (R + TR_TILE - 1) / TR_TILE, mode = accumulate_back;
  const int64_t items = (int64_t)n01 * nr, total = (int64_t)n01 * R * C;
  const int64_t s2 = p->xstep[2], s3 = p->xstep[3];
  EB_OMP("omp parallel for schedule(static) if (total > EB_PAR_MIN)")
  for (int64_t it = 0; it < items; it++) {
    const int ij = (int)(it / nr), r0 = (int)(it % nr) * TR_TILE;
    const int r1 = r0 + TR_TILE < R ? r0 + TR_TILE : R;
    const int i0 = ij / p->os[1], i1 = ij % p->os[1];
    const int64_t o = (int64_t)ij * R * C;
    const int64_t xb = i0 * p->xstep[0] + i1 * p->xstep[1];
    if (s3 == 1)
      tr_rows(mode, src, dst, o, xb, s2, r0, r1, C);
    else
      tr_tiles(mode, src, dst, o, xb, s2, s3, r0, r1, C);
  }
}

static void transpose_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0];
  int fail = 0, fresh = 0;
  float *dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail || !dx) return;
  tr_plan p = tr_make(x, n->iarg[0], n->iarg[1]);
  tr_copy(&p, n->out->grad, dx, fresh ? 2 : 1);
  eb_ctx_add_flops(ctx, 0, (double)x->size);
  eb__moved(ctx, (fresh ? 2.0 : 3.0) * x->size);
}

/* x[..., d0 ..., d1, ...] -> copy with dims d0 and d1 swapped (rank <= 4) */
eb_tensor *eb_transpose(eb_ctx *ctx, eb_tensor *x, int d0, int d1) {
  if (!x) return NULL;
  if (d0 < 0 || d1 < 0 || d0 >= x->ndim || d1 >= x->ndim) {
    eb_ctx_fail(ctx, EB_SHAPE, "transpose: dims %d,%d of x %s", d0, d1, EB_SHAPE(x));
    return NULL;
  }
  int shape[EB_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[d0] = x->shape[d1];
  shape[d1] = x->shape[d0];
  eb_tensor *y = eb_tensor_new(ctx, x->ndim, shape);
  if (!y) return NULL;
  tr_plan p = tr_make(x, d0, d1);
  tr_copy(&p, x->data, y->data, 0);
  eb__moved(ctx, 2.0 * x->size);
  eb_node *node = eb_tape_record(ctx, transpose_backward, y, 1, &x);
  if (node) {
    node->iarg[0] = d0;
    node->iarg[1] = d1;
  }
  return y;
}

/* ------------------------------------------------------------- concat ---- */
static void concat_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *const *xs = n->saved;
  int count = n->iarg[0], Dout = eb__last(n->out);
  int64_t R = eb__rows(n->out);
  double fl = 0;
  for (int k = 0, off = 0; k < count; off += eb__last(xs[k]), k++) {
    int fail = 0;
    float *dx = eb__grad_if(ctx, xs[k], &fail);
    if (fail) return;
    if (!dx) continue;
    int D = eb__last(xs[k]);
    for (int64_t r = 0; r < R; r++)
      for (int j = 0; j < D; j++)
        dx[r * D + j] += n->out->grad[r * Dout + off + j];
    fl += (double)xs[k]->size;
  }
  eb_ctx_add_flops(ctx, 0, fl);
  eb__moved(ctx, 3.0 * fl); /* per input: its part of dy read, dx read and written */
}

/* xs[k][...,D_k] (equal leading dims) -> [...,sum_k D_k] */
eb_tensor *eb_concat_last(eb_ctx *ctx, int n, eb_tensor *const *xs) {
  if (n < 1 || !xs) {
    eb_ctx_fail(ctx, EB_SHAPE, "concat_last: %d inputs", n);
    return NULL;
  }
  for (int k = 0; k < n; k++)
    if (!xs[k]) return NULL;
  int nd = xs[0]->ndim, Dout = 0;
  for (int k = 0; k < n; k++) {
    int ok = xs[k]->ndim == nd;
    for (int i = 0; ok && i < nd - 1; i++)
      ok = xs[k]->shape[i] == xs[0]->shape[i];
    if (!ok) {
      eb_ctx_fail(ctx, EB_SHAPE, "concat_last: input %d %s does not match input 0 %s", k,
                  EB_SHAPE(xs[k]), EB_SHAPE(xs[0]));
      return NULL;
    }
    Dout += eb__last(xs[k]);
  }
  int shape[EB_MAX_DIMS];
  memcpy(shape, xs[0]->shape, sizeof shape);
  shape[nd - 1] = Dout;
  eb_tensor *y = eb_tensor_new(ctx, nd, shape);
  if (!y) return NULL;
  int64_t R = eb__rows(y);
  for (int k = 0, off = 0; k < n; off += eb__last(xs[k]), k++) {
    int D = eb__last(xs[k]);
    for (int64_t r = 0; r < R; r++)
      memcpy(y->data + r * Dout + off, xs[k]->data + r * D, (size_t)D * sizeof(float));
  }
  eb__moved(ctx, 2.0 * y->size);
  /* the node keeps only EB_NODE_MAX_IN inputs; the full list goes in `saved` */
  eb_node *node = eb_tape_record(ctx, concat_backward, y, n, xs);
  if (node) {
    eb_tensor **copy = eb_alloc(ctx, (size_t)n * sizeof *copy);
    if (!copy) return NULL;
    memcpy(copy, xs, (size_t)n * sizeof *copy);
    node->saved = copy;
    node->iarg[0] = n;
  }
  return y;
}

/* -------------------------------------------------------------- slice ---- */
static void slice_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *y = n->out;
  int fail = 0;
  float *dx = eb__grad_if(ctx, x, &fail);
  if (fail || !dx) return;
  int start = n->iarg[0], len = eb__last(y), D = eb__last(x);
  int64_t R = eb__rows(x);
  const float *dy = y->grad;
  EB_OMP("omp parallel for schedule(static) if (y->size > EB_PAR_MIN)")
  for (int64_t r = 0; r < R; r++)
    for (int j = 0; j < len; j++)
      dx[r * D + start + j] += dy[r * len + j];
  eb_ctx_add_flops(ctx, 0, (double)y->size);
  eb__moved(ctx, 3.0 * y->size); /* only the slice's columns of dx */
}

/* x[...,D] -> [...,len] = x[..., start:start+len] */
eb_tensor *eb_slice_last(eb_ctx *ctx, eb_tensor *x, int start, int len) {
  if (!x) return NULL;
  int D = eb__last(x);
  if (start < 0 || len < 1 || start > D - len) {
    eb_ctx_fail(ctx, EB_SHAPE, "slice_last: [%d,%d) outside last dim of x %s", start,
                start + len, EB_SHAPE(x));
    return NULL;
  }
  int shape[EB_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = len;
  eb_tensor *y = eb_tensor_new(ctx, x->ndim, shape);
  if (!y) return NULL;
  int64_t R = eb__rows(x);
  EB_OMP("omp parallel for schedule(static) if (y->size > EB_PAR_MIN)")
  for (int64_t r = 0; r < R; r++)
    memcpy(y->data + r * len, x->data + r * D + start, (size_t)len * sizeof(float));
  eb__moved(ctx, 2.0 * y->size);
  eb_node *node = eb_tape_record(ctx, slice_backward, y, 1, &x);
  if (node) node->iarg[0] = start;
  return y;
}

/* -------------------------------------------------------- reverse seq ---- */
static void reverse_seq_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *y = n->out;
  int fail = 0;
  float *dx = eb__grad_if(ctx, x, &fail);
  if (fail || !dx) return;
  int B = x->shape[0], N = x->shape[1], D = x->shape[2];
  for (int b = 0; b < B; b++)
    for (int t = 0; t < N; t++) {
      float *d = dx + ((int64_t)b * N + t) * D;
      const float *g = y->grad + ((int64_t)b * N + (N - 1 - t)) * D;
      for (int j = 0; j < D; j++)
        d[j] += g[j];
    }
  eb_ctx_add_flops(ctx, 0, (double)x->size);
  eb__moved(ctx, 3.0 * x->size);
}

/* x[B,N,D] -> [B,N,D] with y[b,t] = x[b,N-1-t] */
eb_tensor *eb_reverse_seq(eb_ctx *ctx, eb_tensor *x) {
  if (!x) return NULL;
  if (x->ndim != 3) {
    eb_ctx_fail(ctx, EB_SHAPE, "reverse_seq: x %s, want [B,N,D]", EB_SHAPE(x));
    return NULL;
  }
  int B = x->shape[0], N = x->shape[1], D = x->shape[2];
  eb_tensor *y = eb_tensor_new(ctx, 3, x->shape);
  if (!y) return NULL;
  for (int b = 0; b < B; b++)
    for (int t = 0; t < N; t++)
      memcpy(y->data + ((int64_t)b * N + t) * D,
             x->data + ((int64_t)b * N + (N - 1 - t)) * D, (size_t)D * sizeof(float));
  eb__moved(ctx, 2.0 * x->size);
  eb_tape_record(ctx, reverse_seq_backward, y, 1, &x);
  return y;
}
