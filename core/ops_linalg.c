/* Linear algebra ops: the dense layer and batched matmul, both on the engine's
 * sgemm (single-threaded backend calls of gemm.h, parallelised by eb__gemm).
 * FLOP conventions are in docs/flops.md (GEMM M x N x K = 2MNK). */
#include "ops_util.h"

/* The host's view of eb__gemm (gemm.h): bench --peak times the engine's own
 * threaded split. */
void eb_gemm_threaded(int M, int N, int K, const float *A, const float *B, float *C) {
  eb__gemm(NULL, 0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
}

/* ------------------------------------------------------------- linear ---- */
/* x[...,I], w[O,I], b[O] or NULL -> y[...,O] = x w^T + b; rows M = x->size / I.
 * Backward: dx[M,I] += dy[M,O] w; dw[O,I] += dy^T x; db[O] += colsum dy.
 * (I and O are spelled Din, Dout in code: <complex.h> owns the macro I.) */
static void linear_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2], *y = n->out;
  int M = (int)eb__rows(x), Din = eb__last(x), Dout = w->shape[0];
  const float *dy = y->grad;
  int fail = 0, fresh = 0;
  double mnk = 2.0 * M * Dout * Din, fl = 0;
  float *dw = eb__grad_if(ctx, w, &fail);
  if (fail) return;
  if (dw) { /* dw[O,I] += dy^T x */
    eb__gemm(ctx, 1, 0, Dout, Din, M, 1.0f, dy, Dout, x->data, Din, 1.0f, dw, Din);
    fl += mnk;
  }
  float *db = eb__grad_if(ctx, b, &fail);
  if (fail) return;
  if (db) {
    /* columns in parallel, rows summed in order: the same for any thread count */
    EB_OMP("omp parallel for schedule(static) if ((int64_t)M * Dout > EB_PAR_MIN)")
    for (int o0 = 0; o0 < Dout; o0 += 16) {
      int o1 = o0 + 16 < Dout ? o0 + 16 : Dout;
      for (int r = 0; r < M; r++)
        for (int o = o0; o < o1; o++)
          db[o] += dy[(int64_t)r * Dout + o];
    }
    fl += (double)M * Dout;
  }
  float *dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail) return;
  if (dx) { /* dx[M,I] (+)= dy w */
    eb__gemm(ctx, 0, 0, M, Din, Dout, 1.0f, dy, Dout, w->data, Din, fresh ? 0.0f : 1.0f,
             dx, Din);
    fl += mnk;
  }
  eb_ctx_add_flops(ctx, 0, fl);
  /* dy read; dw: x read, dw read and written; db read and written; dx: w
   * read, dx written (and read when accumulating) */
  const double xs = (double)M * Din, ws = (double)Dout * Din;
  eb__moved(ctx, (double)M * Dout + (dw ? xs + 2 * ws : 0) + (db ? 2.0 * Dout : 0) +
                     (dx ? ws + (fresh ? 1 : 2) * xs : 0));
}

eb_tensor *eb_linear(eb_ctx *ctx, eb_tensor *x, eb_tensor *w, eb_tensor *b) {
  if (!x || !w) return NULL;
  int Din = eb__last(x);
  if (w->ndim != 2 || w->shape[1] != Din ||
      (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))) {
    eb_ctx_fail(ctx, EB_SHAPE, "linear: x %s, w %s, b %s: want x[...,I], w[O,I], b[O]",
                EB_SHAPE(x), EB_SHAPE(w), b ? EB_SHAPE(b) : "none");
    return NULL;
  }
  int M = (int)eb__rows(x), Dout = w->shape[0];
  int shape[EB_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = Dout;
  eb_tensor *y = eb_tensor_new(ctx, x->ndim, shape);
  if (!y) return NULL;
  eb__gemm(ctx, 0, 1, M, Dout, Din, 1.0f, x->data, Din, w->data, Din, 0.0f, y->data,
           Dout);
  double fl = 2.0 * M * Dout * Din;
  if (b) {
    EB_OMP("omp parallel for schedule(static) if ((int64_t)M * Dout > EB_PAR_MIN)")
    for (int r = 0; r < M; r++)
      for (int o = 0; o < Dout; o++)
        y->data[(int64_t)r * Dout + o] += b->data[o];
    fl += (double)M * Dout;
  }
  eb_ctx_add_flops(ctx, fl, 0);
  /* x, w (and b) read, y written */
  eb__moved(ctx,
            (double)M * Din + (double)Dout * Din + (double)M * Dout + (b ? Dout : 0));
  eb_tensor *in[3] = {x, w, b};
  eb_tape_record(ctx, linear_backward, y, 3, in);
  return y;
}

/* --------------------------------------------------------- linear_add ---- */
/* see internal.h; shared with eb_avgpool1d_sub */
void eb__residual_backward(eb_ctx *ctx, eb_tensor *res, const eb_tensor *y) {
  if (!res->requires_grad) return;
  const int64_t size = y->size;
  eb_ctx_add_flops(ctx, 0, 2.0 * (double)size); /* eb_add's backward, both inputs */
  if (!res->grad && !res->is_param) {
    res->grad = y->grad;
    return;
  }
  int fail = 0, fresh = 0;
  float *dr = eb__grad_acc_if(ctx, res, &fresh, &fail);
  if (fail) return;
  const float *dy = y->grad;
  const int acc = !fresh;
  EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
  for (int64_t i = 0; i < size; i++)
    dr[i] = acc ? dr[i] + dy[i] : dy[i];
  eb__moved(ctx, (1.0 + acc) * size); /* dy is counted by the fused op's other part */
}

/* x[...,I], w[O,I], b[O] or NULL, res[...,O] -> dx, dw, db as linear; dres
 * (+)= dy */
static void linear_add_backward(eb_ctx *ctx, eb_node *n) {
  linear_backward(ctx, n); /* first: it reads dy, which res may come to share */
  eb__residual_backward(ctx, n->in[3], n->out);
}

/* x[...,I], w[O,I], b[O] or NULL, res[...,O] -> y[...,O] = res + x w^T + b:
 * a residual branch's output layer and the residual add in one pass (y starts
 * as res + b, the GEMM accumulates into it). Equals eb_add(res, eb_linear(x,
 * w, b)) up to rounding. */
eb_tensor *eb_linear_add(eb_ctx *ctx, eb_tensor *x, eb_tensor *w, eb_tensor *b,
                         eb_tensor *res) {
  if (!x || !w || !res) return NULL;
  const int Din = eb__last(x);
  int ok = w->ndim == 2 && w->shape[1] == Din &&
           (!b || (b->ndim == 1 && b->shape[0] == w->shape[0]));
  ok = ok && res->ndim == x->ndim && eb__last(res) == w->shape[0];
  for (int i = 0; ok && i < x->ndim - 1; i++)
    ok = res->shape[i] == x->shape[i];
  if (!ok) {
    eb_ctx_fail(ctx, EB_SHAPE,
                "linear_add: x %s, w %s, b %s, res %s: want x[...,I], w[O,I], b[O], "
                "res[...,O]",
                EB_SHAPE(x), EB_SHAPE(w), b ? EB_SHAPE(b) : "none", EB_SHAPE(res));
    return NULL;
  }
  const int M = (int)eb__rows(x), Dout = w->shape[0];
  eb_tensor *y = eb_tensor_new(ctx, res->ndim, res->shape);
  if (!y) return NULL;
  const float *R = res->data, *Bv = b ? b->data : NULL;
  float *Y = y->data;
  EB_OMP("omp parallel for schedule(static) if ((int64_t)M * Dout > EB_PAR_MIN)")
  for (int r = 0; r < M; r++) {
    const float *rr = R + (int64_t)r * Dout;
    float *yr = Y + (int64_t)r * Dout;
    if (Bv)
      for (int o = 0; o < Dout; o++)
        yr[o] = rr[o] + Bv[o];
    else
      memcpy(yr, rr, (size_t)Dout * sizeof(float));
  }
  eb__gemm(ctx, 0, 1, M, Dout, Din, 1.0f, x->data, Din, w->data, Din, 1.0f, Y, Dout);
  /* linear's FLOPs plus the residual add's */
  const double mo = (double)M * Dout;
  eb_ctx_add_flops(ctx, 2.0 * mo * Din + (b ? mo : 0) + mo, 0);
  /* res (and b) read, y written, x and w read (y's GEMM pass is counted once) */
  eb__moved(ctx, 2.0 * mo + (b ? Dout : 0) + (double)M * Din + (double)Dout * Din);
  eb_tensor *in[4] = {x, w, b, res};
  eb_tape_record(ctx, linear_add_backward, y, 4, in);
  return y;
}

/* ------------------------------------------------------------- matmul ---- */
/* One batch entry of C[M,N] (+)= op(A) op(B) with the stored layouts
 * A [M,K] (or [K,M] if ta), B [K,N] (or [N,K] if tb). */
typedef struct mm_dims {
  int M, N, K, ta, tb;
  int64_t batch;
} mm_dims;

static void matmul_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *a = n->in[0], *b = n->in[1], *c = n->out;
  mm_dims d = {n->iarg[0], n->iarg[1], n->iarg[2], n->iarg[3], n->iarg[4], 0};
  d.batch = c->size / ((int64_t)d.M * d.N);
  int fail = 0;
  float *da = eb__grad_if(ctx, a, &fail);
  float *db = eb__grad_if(ctx, b, &fail);
  if (fail) return;
  int M = d.M, N = d.N, K = d.K;
  int lda = d.ta ? M : K, ldb = d.tb ? K : N;
  int64_t sa = (int64_t)M * K, sb = (int64_t)K * N, sc = (int64_t)M * N;
  eb__blas_serial();
  EB_OMP("omp parallel for schedule(static) if (d.batch > 1)")
  for (int64_t i = 0; i < d.batch; i++) {
    const float *A = a->data + i * sa, *B = b->data + i * sb, *dC = c->grad + i * sc;
    if (da) {
      if (!d.ta) /* dA[M,K] = dC op(B)^T */
        eb__gemm(ctx, 0, !d.tb, M, K, N, 1.0f, dC, N, B, ldb, 1.0f, da + i * sa, lda);
      else /* dA[K,M] = op(B) dC^T */
        eb__gemm(ctx, d.tb, 1, K, M, N, 1.0f, B, ldb, dC, N, 1.0f, da + i * sa, lda);
    }
    if (db) {
      if (!d.tb) /* dB[K,N] = op(A)^T dC */
        eb__gemm(ctx, !d.ta, 0, K, N, M, 1.0f, A, lda, dC, N, 1.0f, db + i * sb, ldb);
      else /* dB[N,K] = dC^T op(A) */
        eb__gemm(ctx, 1, d.ta, N, K, M, 1.0f, dC, N, A, lda, 1.0f, db + i * sb, ldb);
    }
  }
  double g = 2.0 * (double)d.batch * M * N * K;
  eb_ctx_add_flops(ctx, 0, (da ? g : 0) + (db ? g : 0));
  /* dC read; da: b read, da read and written; db: a read, db read and written */
  eb__moved(ctx, (double)d.batch *
                     ((double)sc + (da ? sb + 2.0 * sa : 0) + (db ? sa + 2.0 * sb : 0)));
}

/* a[...,M,K] (ta: [...,K,M]) @ b[...,K,N] (tb: [...,N,K]) -> [...,M,N];
 * the leading (batch) dims of a and b must be equal. */
eb_tensor *eb_matmul(eb_ctx *ctx, eb_tensor *a, eb_tensor *b, int ta, int tb) {
  if (!a || !b) return NULL;
  int nd = a->ndim, ok = nd >= 2 && b->ndim == nd;
  for (int i = 0; ok && i < nd - 2; i++)
    ok = a->shape[i] == b->shape[i];
  int M = 0, K = 0, N = 0;
  if (ok) {
    M = a->shape[nd - (ta ? 1 : 2)];
    K = a->shape[nd - (ta ? 2 : 1)];
    N = b->shape[nd - (tb ? 2 : 1)];
    ok = b->shape[nd - (tb ? 1 : 2)] == K;
  }
  if (!ok) {
    eb_ctx_fail(ctx, EB_SHAPE, "matmul: a %s (ta=%d) and b %s (tb=%d) do not multiply",
                EB_SHAPE(a), ta, EB_SHAPE(b), tb);
    return NULL;
  }
  int shape[EB_MAX_DIMS];
  memcpy(shape, a->shape, sizeof shape);
  shape[nd - 2] = M;
  shape[nd - 1] = N;
  eb_tensor *c = eb_tensor_new(ctx, nd, shape);
  if (!c) return NULL;
  int64_t batch = c->size / ((int64_t)M * N);
  int lda = ta ? M : K, ldb = tb ? K : N;
  /* batch entries in parallel (one GEMM per entry; a single entry is split
   * by eb__gemm): every output element comes from one serial sgemm call */
  eb__blas_serial();
  EB_OMP("omp parallel for schedule(static) if (batch > 1)")
  for (int64_t i = 0; i < batch; i++)
    eb__gemm(ctx, ta, tb, M, N, K, 1.0f, a->data + i * M * (int64_t)K, lda,
             b->data + i * K * (int64_t)N, ldb, 0.0f, c->data + i * M * (int64_t)N, N);
  eb_ctx_add_flops(ctx, 2.0 * (double)batch * M * N * K, 0);
  eb__moved(ctx, (double)batch * ((double)M * K + (double)K * N + (double)M * N));
  eb_tensor *in[2] = {a, b};
  eb_node *node = eb_tape_record(ctx, matmul_backward, c, 2, in);
  if (node) {
    node->iarg[0] = M;
    node->iarg[1] = N;
    node->iarg[2] = K;
    node->iarg[3] = ta != 0;
    node->iarg[4] = tb != 0;
  }
  return c;
}

/* ---------------------------------------------------------------- bmm ---- */
/* eb_matmul with broadcast batch dims: the batch dims (all but the last two)
 * right-aligned, padded to 2, each equal in a and b or 1 in one of them. */
typedef struct bmm_plan {
  int M, N, K, ta, tb;
  int ob[2], ab[2], bb[2]; /* batch shapes of the output, a, b */
} bmm_plan;

static void bmm_batch(const eb_tensor *t, int *bs) {
  int nb = t->ndim - 2;
  for (int i = 0; i < 2; i++)
    bs[i] = i < 2 - nb ? 1 : t->shape[t->ndim - 2 - (2 - i)];
}
/* batch entry of an input (batch shape s) for output batch entry (o0, o1) */
static inline int64_t bmm_entry(const int *s, int o0, int o1) {
  return (int64_t)(s[0] == 1 ? 0 : o0) * s[1] + (s[1] == 1 ? 0 : o1);
}

static void bmm_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *a = n->in[0], *b = n->in[1], *c = n->out;
  const bmm_plan *p = n->saved;
  int fail = 0, fresh_a = 0, fresh_b = 0;
  /* a new buffer is written by each entry's first GEMM (beta 0), not zeroed
   * first; with a == b, db then accumulates onto da's values */
  float *da = eb__grad_acc_if(ctx, a, &fresh_a, &fail);
  if (fail) return;
  float *db = eb__grad_acc_if(ctx, b, &fresh_b, &fail);
  if (fail) return;
  const int M = p->M, N = p->N, K = p->K, ta = p->ta, tb = p->tb;
  const int lda = ta ? M : K, ldb = tb ? K : N;
  const int64_t sa = (int64_t)M * K, sb = (int64_t)K * N, sc = (int64_t)M * N;
  const int64_t nout = (int64_t)p->ob[0] * p->ob[1];
  eb__blas_serial();
  /* each input entry's gradient sums its output entries in output order: one
   * loop iteration per input entry, so any thread count gives the same sums */
  for (int which = 0; which < 2; which++) {
    float *g = which ? db : da;
    if (!g) continue;
    const int *s = which ? p->bb : p->ab;
    const int64_t nin = (int64_t)s[0] * s[1];
    const int fresh = which ? fresh_b : fresh_a;
    EB_OMP("omp parallel for schedule(static) if (nin > 1)")
    for (int64_t e = 0; e < nin; e++) {
      float beta = fresh ? 0.0f : 1.0f;
      for (int64_t oc = 0; oc < nout; oc++) {
        int o0 = (int)(oc / p->ob[1]), o1 = (int)(oc % p->ob[1]);
        if (bmm_entry(s, o0, o1) != e) continue;
        const float *A = a->data + bmm_entry(p->ab, o0, o1) * sa;
        const float *B = b->data + bmm_entry(p->bb, o0, o1) * sb;
        const float *dC = c->grad + oc * sc;
        if (!which) {
          if (!ta) /* dA[M,K] (+)= dC op(B)^T */
            eb__gemm(ctx, 0, !tb, M, K, N, 1.0f, dC, N, B, ldb, beta, g + e * sa, lda);
          else /* dA[K,M] (+)= op(B) dC^T */
            eb__gemm(ctx, tb, 1, K, M, N, 1.0f, B, ldb, dC, N, beta, g + e * sa, lda);
        } else {
          if (!tb) /* dB[K,N] (+)= op(A)^T dC */
            eb__gemm(ctx, !ta, 0, K, N, M, 1.0f, A, lda, dC, N, beta, g + e * sb, ldb);
          else /* dB[N,K] (+)= dC^T op(A) */
            eb__gemm(ctx, 1, ta, N, K, M, 1.0f, dC, N, A, lda, beta, g + e * sb, ldb);
        }
        beta = 1.0f;
      }
    }
  }
  const double gm = 2.0 * (double)nout * M * N * K;
  eb_ctx_add_flops(ctx, 0, (da ? gm : 0) + (db ? gm : 0));
  /* dC read; da: b read per output entry, da written (and read when
   * accumulating); db likewise */
  eb__moved(ctx, (double)nout * sc +
                     (da ? nout * (double)sb + (2.0 - fresh_a) * a->size : 0) +
                     (db ? nout * (double)sa + (2.0 - fresh_b) * b->size : 0));
}

/* a[...,M,K] (ta: [...,K,M]) @ b[...,K,N] (tb: [...,N,K]) -> [...,M,N] with
 * the batch dims broadcast (numpy's matmul rule, at most 2 batch dims) */
eb_tensor *eb_bmm(eb_ctx *ctx, eb_tensor *a, eb_tensor *b, int ta, int tb) {
  if (!a || !b) return NULL;
  bmm_plan *p = eb_alloc(ctx, sizeof *p);
  if (!p) return NULL;
  int ok = a->ndim >= 2 && b->ndim >= 2;
  if (ok) {
    p->ta = ta != 0;
    p->tb = tb != 0;
    p->M = a->shape[a->ndim - (ta ? 1 : 2)];
    p->K = a->shape[a->ndim - (ta ? 2 : 1)];
    p->N = b->shape[b->ndim - (tb ? 2 : 1)];
    ok = b->shape[b->ndim - (tb ? 1 : 2)] == p->K;
    bmm_batch(a, p->ab);
    bmm_batch(b, p->bb);
    for (int i = 0; ok && i < 2; i++) {
      ok = p->ab[i] == p->bb[i] || p->ab[i] == 1 || p->bb[i] == 1;
      p->ob[i] = p->ab[i] > p->bb[i] ? p->ab[i] : p->bb[i];
    }
  }
  if (!ok) {
    eb_ctx_fail(ctx, EB_SHAPE,
                "bmm: a %s (ta=%d) and b %s (tb=%d) do not multiply (want "
                "[...,M,K] @ [...,K,N], batch dims equal or 1)",
                EB_SHAPE(a), ta, EB_SHAPE(b), tb);
    return NULL;
  }
  const int M = p->M, N = p->N, K = p->K;
  const int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
  int shape[EB_MAX_DIMS];
  for (int i = 0; i < nd - 2; i++)
    shape[i] = p->ob[2 - (nd - 2) + i];
  shape[nd - 2] = M;
  shape[nd - 1] = N;
  eb_tensor *c = eb_tensor_new(ctx, nd, shape);
  if (!c) return NULL;
  const int lda = ta ? M : K, ldb = tb ? K : N;
  const int64_t nout = (int64_t)p->ob[0] * p->ob[1];
  eb__blas_serial();
  EB_OMP("omp parallel for schedule(static) if (nout > 1)")
  for (int64_t oc = 0; oc < nout; oc++) {
    int o0 = (int)(oc / p->ob[1]), o1 = (int)(oc % p->ob[1]);
    eb__gemm(ctx, ta, tb, M, N, K, 1.0f,
             a->data + bmm_entry(p->ab, o0, o1) * M * (int64_t)K, lda,
             b->data + bmm_entry(p->bb, o0, o1) * K * (int64_t)N, ldb, 0.0f,
             c->data + oc * M * (int64_t)N, N);
  }
  eb_ctx_add_flops(ctx, 2.0 * (double)nout * M * N * K, 0);
  /* each output entry reads its a and b entries and writes its C */
  eb__moved(ctx, (double)nout * ((double)M * K + (double)K * N + (double)M * N));
  eb_tensor *in[2] = {a, b};
  eb_node *node = eb_tape_record(ctx, bmm_backward, c, 2, in);
  if (node) node->saved = p;
  return c;
}
