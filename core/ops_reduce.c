/* Reductions and scans along one axis (sum, mean, max, cumulative sum) and the
 * row mask. A tensor is seen as [outer, L, inner] around the axis (L its
 * length); every output element is computed by one loop iteration that runs
 * along the axis in index order, so results do not depend on the thread
 * count. FLOP and byte counts are in docs/flops.md. */
#include "ops_util.h"

/* inner elements per parallel work item */
#define RD_CHUNK 256

enum { RD_SUM, RD_MEAN, RD_MAX };

typedef struct rd_dims {
  int64_t outer, L, inner;
} rd_dims;

/* axis in [-ndim, ndim) into [0, ndim), or -1 when out of range */
static int norm_axis(const eb_tensor *x, int axis) {
  if (axis < 0) axis += x->ndim;
  return axis >= 0 && axis < x->ndim ? axis : -1;
}

static rd_dims rd_split(const eb_tensor *x, int axis) {
  rd_dims d = {1, x->shape[axis], 1};
  for (int i = 0; i < axis; i++)
    d.outer *= x->shape[i];
  for (int i = axis + 1; i < x->ndim; i++)
    d.inner *= x->shape[i];
  return d;
}

/* work item k of outer * ceil(inner / RD_CHUNK): outer index o, columns [i0, i1) */
static void rd_item(const rd_dims *d, int64_t k, int64_t *o, int64_t *i0, int64_t *i1) {
  int64_t nc = (d->inner + RD_CHUNK - 1) / RD_CHUNK;
  *o = k / nc;
  *i0 = (k % nc) * RD_CHUNK;
  *i1 = *i0 + RD_CHUNK < d->inner ? *i0 + RD_CHUNK : d->inner;
}
static int64_t rd_items(const rd_dims *d) {
  return d->outer * ((d->inner + RD_CHUNK - 1) / RD_CHUNK);
}

static void reduce_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *y = n->out;
  const int op = n->iarg[0];
  const rd_dims d = rd_split(x, n->iarg[1]);
  const float *dy = y->grad, *X = x->data;
  int fail = 0, fresh = 0;
  float *dx;
  if (op == RD_MAX) { /* zero except at each maximum: a zeroed buffer, += */
    dx = eb__grad_if(ctx, x, &fail);
    if (fail || !dx) return;
    const int32_t *arg = n->saved;
    const int64_t nout = d.outer * d.inner;
    EB_OMP("omp parallel for schedule(static) if (nout > EB_PAR_MIN)")
    for (int64_t r = 0; r < nout; r++) {
      int64_t o = r / d.inner, i = r % d.inner;
      dx[(o * d.L + arg[r]) * d.inner + i] += dy[r];
    }
    eb_ctx_add_flops(ctx, 0, (double)nout);
    eb__moved(ctx, 3.0 * nout); /* dy read, the routed dx read and written */
    return;
  }
  dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail || !dx) return;
  const int acc = !fresh;
  const float s = op == RD_MEAN ? 1.0f / (float)d.L : 1.0f;
  const int64_t items = rd_items(&d);
  (void)X;
  EB_OMP("omp parallel for schedule(static) if (x->size > EB_PAR_MIN)")
  for (int64_t k = 0; k < items; k++) {
    int64_t o, i0, i1;
    rd_item(&d, k, &o, &i0, &i1);
    const float *g = dy + o * d.inner;
    for (int64_t l = 0; l < d.L; l++) {
      float *dr = dx + (o * d.L + l) * d.inner;
      for (int64_t i = i0; i < i1; i++) {
        float v = op == RD_MEAN ? g[i] * s : g[i];
        dr[i] = acc ? dr[i] + v : v;
      }
    }
  }
  eb_ctx_add_flops(ctx, 0, (double)x->size);
  eb__moved(ctx, (double)y->size + (1.0 + acc) * x->size);
}

static eb_tensor *reduce(eb_ctx *ctx, eb_tensor *x, int axis, int keepdim, int op) {
  static const char *names[] = {"sum_axis", "mean_axis", "max_axis"};
  if (!x) return NULL;
  const int ax = norm_axis(x, axis);
  if (ax < 0) {
    eb_ctx_fail(ctx, EB_SHAPE, "%s: axis %d outside x %s", names[op], axis, EB_SHAPE(x));
    return NULL;
  }
  int shape[EB_MAX_DIMS], nd = 0;
  for (int i = 0; i < x->ndim; i++) {
    if (i != ax)
      shape[nd++] = x->shape[i];
    else if (keepdim)
      shape[nd++] = 1;
  }
  if (nd == 0) shape[nd++] = 1; /* a 1-D x reduced without keepdim: [1] */
  eb_tensor *y = eb_tensor_new(ctx, nd, shape);
  if (!y) return NULL;
  const rd_dims d = rd_split(x, ax);
  int32_t *arg = NULL;
  if (op == RD_MAX) {
    arg = eb_alloc(ctx, (size_t)y->size * sizeof *arg);
    if (!arg) return NULL;
  }
  const float *X = x->data;
  float *Y = y->data;
  const int64_t items = rd_items(&d);
  EB_OMP("omp parallel for schedule(static) if (x->size > EB_PAR_MIN)")
  for (int64_t k = 0; k < items; k++) {
    int64_t o, i0, i1;
    rd_item(&d, k, &o, &i0, &i1);
    float *yr = Y + o * d.inner;
    const float *xr = X + o * d.L * d.inner;
    for (int64_t i = i0; i < i1; i++)
      yr[i] = xr[i];
    if (op == RD_MAX) {
      int32_t *ar = arg + o * d.inner;
      for (int64_t i = i0; i < i1; i++)
        ar[i] = 0;
      /* strictly greater: ties keep the first (lowest index) maximum */
      for (int64_t l = 1; l < d.L; l++)
        for (int64_t i = i0; i < i1; i++)
          if (xr[l * d.inner + i] > yr[i]) {
            yr[i] = xr[l * d.inner + i];
            ar[i] = (int32_t)l;
          }
    } else {
      for (int64_t l = 1; l < d.L; l++)
        for (int64_t i = i0; i < i1; i++)
          yr[i] += xr[l * d.inner + i];
      if (op == RD_MEAN)
        for (int64_t i = i0; i < i1; i++)
          yr[i] /= (float)d.L;
    }
  }
  eb_ctx_add_flops(ctx, (double)x->size + (op == RD_MEAN ? (double)y->size : 0), 0);
  eb__moved(ctx, (double)x->size + (double)y->size);
  eb_node *n = eb_tape_record(ctx, reduce_backward, y, 1, &x);
  if (n) {
    n->iarg[0] = op;
    n->iarg[1] = ax;
    n->saved = arg;
  }
  return y;
}

eb_tensor *eb_sum_axis(eb_ctx *ctx, eb_tensor *x, int axis, int keepdim) {
  return reduce(ctx, x, axis, keepdim, RD_SUM);
}
eb_tensor *eb_mean_axis(eb_ctx *ctx, eb_tensor *x, int axis, int keepdim) {
  return reduce(ctx, x, axis, keepdim, RD_MEAN);
}
eb_tensor *eb_max_axis(eb_ctx *ctx, eb_tensor *x, int axis, int keepdim) {
  return reduce(ctx, x, axis, keepdim, RD_MAX);
}

/* ------------------------------------------------------------- cumsum ---- */
/* y[o,l,i] = sum_{l' <= l} x[o,l',i] (reverse = 0) or sum_{l' >= l} (reverse =
 * 1), running along the axis in order; src and dst may not alias. */
static void cumsum_run(const rd_dims *d, const float *src, float *dst, int reverse,
                       int acc) {
  const int64_t items = rd_items(d);
  EB_OMP("omp parallel for schedule(static) if (d->outer * d->L * d->inner > EB_PAR_MIN)")
  for (int64_t k = 0; k < items; k++) {
    int64_t o, i0, i1;
    rd_item(d, k, &o, &i0, &i1);
    float run[RD_CHUNK];
    for (int64_t i = i0; i < i1; i++)
      run[i - i0] = 0.0f;
    for (int64_t s = 0; s < d->L; s++) {
      int64_t l = reverse ? d->L - 1 - s : s;
      const float *sr = src + (o * d->L + l) * d->inner;
      float *dr = dst + (o * d->L + l) * d->inner;
      for (int64_t i = i0; i < i1; i++) {
        run[i - i0] += sr[i];
        dr[i] = acc ? dr[i] + run[i - i0] : run[i - i0];
      }
    }
  }
}

static void cumsum_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *y = n->out;
  int fail = 0, fresh = 0;
  float *dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail || !dx) return;
  const rd_dims d = rd_split(x, n->iarg[0]);
  cumsum_run(&d, y->grad, dx, 1, !fresh); /* dx = reverse cumsum of dy */
  eb_ctx_add_flops(ctx, 0, (double)x->size);
  eb__moved(ctx, (2.0 + !fresh) * x->size);
}

eb_tensor *eb_cumsum(eb_ctx *ctx, eb_tensor *x, int axis) {
  if (!x) return NULL;
  const int ax = norm_axis(x, axis);
  if (ax < 0) {
    eb_ctx_fail(ctx, EB_SHAPE, "cumsum: axis %d outside x %s", axis, EB_SHAPE(x));
    return NULL;
  }
  eb_tensor *y = eb_tensor_new(ctx, x->ndim, x->shape);
  if (!y) return NULL;
  const rd_dims d = rd_split(x, ax);
  cumsum_run(&d, x->data, y->data, 0, 0);
  eb_ctx_add_flops(ctx, (double)x->size, 0);
  eb__moved(ctx, 2.0 * x->size);
  eb_node *n = eb_tape_record(ctx, cumsum_backward, y, 1, &x);
  if (n) n->iarg[0] = ax;
  return y;
}

/* ---------------------------------------------------------- mask rows ---- */
/* x[B,N,...], keep[B*N] (a copy in the arena): y = x where keep, else 0 */
static void mask_rows_apply(const uint8_t *keep, int64_t rows, int64_t inner,
                            const float *src, float *dst, int acc) {
  EB_OMP("omp parallel for schedule(static) if (rows * inner > EB_PAR_MIN)")
  for (int64_t r = 0; r < rows; r++) {
    const float *s = src + r * inner;
    float *t = dst + r * inner;
    if (keep[r])
      for (int64_t i = 0; i < inner; i++)
        t[i] = acc ? t[i] + s[i] : s[i];
    else if (!acc)
      memset(t, 0, (size_t)inner * sizeof(float));
  }
}

static void mask_rows_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *y = n->out;
  int fail = 0, fresh = 0;
  float *dx;
  if (x->requires_grad && !x->is_param && !x->grad) {
    /* dx takes dy's buffer, masked in place: y's gradient is complete here
     * and nothing later reads it (as eb_add's backward shares it) */
    x->grad = y->grad;
    dx = x->grad;
    fresh = 1;
  } else {
    dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  }
  if (fail || !dx) return;
  const int64_t rows = (int64_t)x->shape[0] * x->shape[1], inner = x->size / rows;
  mask_rows_apply(n->saved, rows, inner, y->grad, dx, !fresh);
  eb_ctx_add_flops(ctx, 0, (double)x->size);
  eb__moved(ctx, (2.0 + !fresh) * x->size + (double)rows / 4);
}

eb_tensor *eb_mask_rows(eb_ctx *ctx, eb_tensor *x, const uint8_t *mask) {
  if (!x) return NULL;
  if (x->ndim < 2) {
    eb_ctx_fail(ctx, EB_SHAPE, "mask_rows: x %s, want [B,N,...]", EB_SHAPE(x));
    return NULL;
  }
  if (!mask) return x;
  const int64_t rows = (int64_t)x->shape[0] * x->shape[1], inner = x->size / rows;
  uint8_t *keep = eb_alloc(ctx, (size_t)rows);
  eb_tensor *y = keep ? eb_tensor_new(ctx, x->ndim, x->shape) : NULL;
  if (!y) return NULL;
  for (int64_t r = 0; r < rows; r++)
    keep[r] = mask[r] != 0;
  mask_rows_apply(keep, rows, inner, x->data, y->data, 0);
  eb_ctx_add_flops(ctx, (double)x->size, 0);
  eb__moved(ctx, 2.0 * x->size + (double)rows / 4); /* the mask: 1 byte per row */
  eb_node *n = eb_tape_record(ctx, mask_rows_backward, y, 1, &x);
  if (n) n->saved = keep;
  return y;
}
