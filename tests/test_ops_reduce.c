/* The plugin author's ops: reductions along an axis (sum, mean, max and its
 * tie rule), cumulative sum, the row mask, elu and elu + 1, broadcasting in
 * add/sub/mul/div and the broadcast batched matmul eb_bmm. For each: forward
 * values against direct double-precision loops, finite-difference gradients,
 * counted FLOPs against docs/flops.md, bit-identical results with 1 and 2
 * threads, and the error messages of bad shapes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "effbench/core.h"

#define SHAPE(...) ((const int[]){__VA_ARGS__})
#define NDIM(...) ((int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)))

/* ------------------------------------------------------------ the ops ---- */
enum {
  O_SUM,      /* a0 = axis, a1 = keepdim */
  O_MEAN,     /* a0 = axis, a1 = keepdim */
  O_MAX,      /* a0 = axis, a1 = keepdim */
  O_CUMSUM,   /* a0 = axis */
  O_MASK,     /* x[B,N,...] rows */
  O_ELU,      /* */
  O_ELU1,     /* */
  O_ADD,      /* a, b broadcast */
  O_SUB,      /* */
  O_MUL,      /* */
  O_DIV,      /* */
  O_BMM,      /* a0 = ta, a1 = tb */
  O_BMM_SELF, /* one tensor as both operands of bmm: x^T x */
  O_SHARED,   /* a0: which op takes its input's gradient buffer (see apply) */
};

/* mask rows for x[2,5,...]: the second sequence has its last two rows padded */
static const uint8_t g_mask[10] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};

typedef struct op_case {
  int op, a0, a1;
  eb_tensor *x, *y; /* operands (y for binary and bmm) */
} op_case;

static eb_tensor *apply(eb_ctx *ctx, const op_case *c) {
  switch (c->op) {
  case O_SUM: return eb_sum_axis(ctx, c->x, c->a0, c->a1);
  case O_MEAN: return eb_mean_axis(ctx, c->x, c->a0, c->a1);
  case O_MAX: return eb_max_axis(ctx, c->x, c->a0, c->a1);
  case O_CUMSUM: return eb_cumsum(ctx, c->x, c->a0);
  case O_MASK: return eb_mask_rows(ctx, c->x, g_mask);
  case O_ELU: return eb_elu(ctx, c->x);
  case O_ELU1: return eb_elu1(ctx, c->x);
  case O_ADD: return eb_add(ctx, c->x, c->y);
  case O_SUB: return eb_sub(ctx, c->x, c->y);
  case O_MUL: return eb_mul(ctx, c->x, c->y);
  case O_DIV: return eb_div(ctx, c->x, c->y);
  case O_BMM: return eb_bmm(ctx, c->x, c->y, c->a0, c->a1);
  case O_BMM_SELF: return eb_bmm(ctx, c->x, c->x, 1, 0);
  case O_SHARED: {
    /* elu, elu1, mask_rows and broadcast div's numerator write an activation
     * input's gradient into dy's buffer when it has none yet; t also reaches
     * the loss through a second op recorded before (a1 = 0) or after (a1 = 1)
     * the sharing one, so the other op's gradient is first or accumulates */
    eb_tensor *t = eb_scale(ctx, c->x, 1.5f), *u = NULL, *w = NULL;
    if (c->a1 == 0) w = eb_mul(ctx, t, t);
    switch (c->a0) {
    case 0: u = eb_elu(ctx, t); break;
    case 1: u = eb_elu1(ctx, t); break;
    case 2: u = eb_mask_rows(ctx, t, g_mask); break;
    case 3: u = eb_div(ctx, t, c->y); break;
    }
    if (c->a1 == 1) w = eb_mul(ctx, t, t);
    if (!u || !w) return NULL;
    eb_tensor *r = eb_reshape(ctx, w, u->ndim, u->shape);
    return eb_add(ctx, u, eb_scale(ctx, r, 0.1f));
  }
  }
  return NULL;
}

/* sum(y * R), R fixed pseudo-random of y's shape */
static eb_tensor *proj(eb_ctx *ctx, eb_tensor *y) {
  if (!y) return NULL;
  eb_tensor *r = eb_tensor_new(ctx, y->ndim, y->shape);
  if (!r) return NULL;
  eb_rng g = eb_rng_make(77, (uint64_t)y->size);
  for (int64_t i = 0; i < r->size; i++)
    r->data[i] = 2.0f * eb_rng_uniform(&g) - 1.0f;
  return eb_sum(ctx, eb_mul(ctx, y, r));
}

static eb_tensor *loss_fn(eb_ctx *ctx, void *user) { return proj(ctx, apply(ctx, user)); }

/* ---------------------------------------------------------- leaves ---- */
static eb_params *P;
static eb_tensor *leaf(const char *name, int ndim, const int *shape) {
  eb_tensor *t = eb_param(P, name, ndim, shape, EB_INIT_NORMAL, 1.0f);
  if (!t) {
    fprintf(stderr, "cannot declare %s\n", name);
    exit(1);
  }
  return t;
}
#define LEAF(name, ...) leaf(name, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__))

/* values spread 0.37 apart in a shuffled order: no two elements of a tensor
 * within the finite-difference step of each other (max stays smooth) */
static void spread(eb_tensor *t, float offset) {
  for (int64_t i = 0; i < t->size; i++)
    t->data[i] = 0.37f * (float)((i * 7919) % t->size) - 0.185f * (float)t->size + offset;
}
static void positive(eb_tensor *t) { /* divisors in [1, 2) */
  eb_rng r = eb_rng_make(3, (uint64_t)t->size);
  for (int64_t i = 0; i < t->size; i++)
    t->data[i] = 1.0f + eb_rng_uniform(&r);
}

/* the shapes of the broadcasting cases: (a, b), b not a's trailing dims */
typedef struct bc_shape {
  int na, a[4], nb, b[4];
} bc_shape;
static const bc_shape bc_shapes[] = {
    {3, {2, 3, 4}, 3, {2, 3, 1}},       /* per-row scale */
    {4, {2, 3, 2, 4}, 4, {2, 3, 2, 1}}, /* num / den per head */
    {3, {2, 1, 4}, 3, {1, 3, 4}},       /* both broadcast */
    {2, {3, 1}, 3, {2, 3, 4}},          /* a the smaller one */
    {3, {2, 3, 4}, 2, {3, 1}},          /* b missing a dim and size 1 */
    {3, {2, 3, 4}, 3, {1, 3, 1}},       /* b repeated over two dims */
};
enum { NBC = sizeof bc_shapes / sizeof bc_shapes[0] };

/* bmm operand shapes: a, b (already in their stored layout), ta, tb */
typedef struct bmm_shape {
  int na, a[4], nb, b[4], ta, tb;
} bmm_shape;
static const bmm_shape bmm_shapes[] = {
    {3, {2, 3, 4}, 3, {2, 4, 5}, 0, 0},       /* plain batch */
    {3, {2, 4, 3}, 3, {2, 5, 4}, 1, 1},       /* both transposed */
    {3, {2, 3, 4}, 2, {4, 5}, 0, 0},          /* a weight for every entry */
    {2, {5, 4}, 3, {2, 3, 4}, 0, 1},          /* W x^T: [2,5,3] */
    {4, {2, 1, 3, 4}, 4, {1, 2, 4, 5}, 0, 0}, /* [2,1] x [1,2] batches */
    {4, {2, 2, 4, 3}, 3, {2, 4, 5}, 1, 0},    /* b repeated over dim 0 */
};
enum { NBMM = sizeof bmm_shapes / sizeof bmm_shapes[0] };

static eb_tensor *rx, *rx4, *mx, *ex, *bca[NBC], *bcb[NBC], *mma[NBMM], *mmb[NBMM];
static eb_tensor *selfx;

static void declare(void) {
  P = eb_params_create();
  rx = LEAF("rx", 3, 4, 5);
  rx4 = LEAF("rx4", 2, 3, 2, 4);
  mx = LEAF("mx", 2, 5, 3);
  ex = LEAF("ex", 4, 6);
  selfx = LEAF("selfx", 2, 4, 3);
  /* names for eb_param, static: no allocation to free */
  static char names[2 * (NBC + NBMM)][16];
  int nn = 0;
  for (int i = 0; i < NBC; i++) {
    snprintf(names[nn], sizeof names[nn], "bca%d", i);
    bca[i] = leaf(names[nn++], bc_shapes[i].na, bc_shapes[i].a);
    snprintf(names[nn], sizeof names[nn], "bcb%d", i);
    bcb[i] = leaf(names[nn++], bc_shapes[i].nb, bc_shapes[i].b);
  }
  for (int i = 0; i < NBMM; i++) {
    snprintf(names[nn], sizeof names[nn], "mma%d", i);
    mma[i] = leaf(names[nn++], bmm_shapes[i].na, bmm_shapes[i].a);
    snprintf(names[nn], sizeof names[nn], "mmb%d", i);
    mmb[i] = leaf(names[nn++], bmm_shapes[i].nb, bmm_shapes[i].b);
  }
  char err[EB_ERR_LEN];
  if (eb_params_finalize(P, 1, err, sizeof err)) {
    fprintf(stderr, "finalize: %s\n", err);
    exit(1);
  }
  spread(rx, 0.0f);
  spread(rx4, 0.1f);
  /* elu: both signs, none within the step of 0 */
  for (int64_t i = 0; i < ex->size; i++)
    ex->data[i] = (i % 2 ? -1.0f : 1.0f) * (0.05f + 0.3f * (float)i);
  for (int i = 0; i < NBC; i++)
    positive(bcb[i]);
}

/* --------------------------------------------- forward vs reference ---- */
/* x as [outer, L, inner] around axis */
static void split3(const eb_tensor *x, int axis, long *outer, long *L, long *inner) {
  *outer = *inner = 1;
  *L = x->shape[axis];
  for (int i = 0; i < axis; i++)
    *outer *= x->shape[i];
  for (int i = axis + 1; i < x->ndim; i++)
    *inner *= x->shape[i];
}

static void check_reduce_forward(eb_ctx *ctx) {
  eb_tensor *xs[2] = {rx, rx4};
  for (int t = 0; t < 2; t++)
    for (int op = O_SUM; op <= O_CUMSUM; op++)
      for (int axis = -1; axis < xs[t]->ndim; axis++)
        for (int keep = 0; keep < 2; keep++) {
          if (op == O_CUMSUM && keep) continue;
          eb_ctx_reset(ctx);
          op_case c = {op, axis, keep, xs[t], NULL};
          eb_tensor *y = apply(ctx, &c);
          CHECK(y, "op %d axis %d: %s", op, axis, eb_ctx_error(ctx));
          if (!y) continue;
          const int ax = axis < 0 ? axis + xs[t]->ndim : axis;
          long outer, L, inner;
          split3(xs[t], ax, &outer, &L, &inner);
          /* the output shape: axis kept as 1, removed, or (cumsum) unchanged */
          int nd_want = op == O_CUMSUM || keep ? xs[t]->ndim : xs[t]->ndim - 1;
          CHECK(y->ndim == nd_want, "op %d axis %d keep %d: ndim %d, want %d", op, axis,
                keep, y->ndim, nd_want);
          if (op != O_CUMSUM && keep)
            CHECK(y->shape[ax] == 1, "keepdim: axis %d has length %d", ax, y->shape[ax]);
          float *want = malloc((size_t)y->size * sizeof *want);
          for (long o = 0; o < outer; o++)
            for (long i = 0; i < inner; i++) {
              const float *xv = xs[t]->data + o * L * inner + i;
              double s = 0, m = xv[0];
              for (long l = 0; l < L; l++) {
                s += xv[l * inner];
                if (xv[l * inner] > m) m = xv[l * inner];
                if (op == O_CUMSUM) want[(o * L + l) * inner + i] = (float)s;
              }
              if (op == O_SUM) want[o * inner + i] = (float)s;
              if (op == O_MEAN) want[o * inner + i] = (float)(s / L);
              if (op == O_MAX) want[o * inner + i] = (float)m;
            }
          char what[64];
          snprintf(what, sizeof what, "op %d x%d axis %d keep %d", op, t, axis, keep);
          eb_check_close(what, y->data, want, (long)y->size, 1e-5, 1.0);
          free(want);
        }
  /* a 1-D tensor reduced without keepdim gives [1] */
  eb_ctx_reset(ctx);
  eb_tensor *v = eb_reshape(ctx, rx, 1, SHAPE(60));
  eb_tensor *s = eb_sum_axis(ctx, v, 0, 0);
  CHECK(s && s->ndim == 1 && s->shape[0] == 1, "1-D sum_axis: want [1]");
}

/* the tie rule: max's gradient goes to the first maximal element only */
static void check_max_ties(eb_ctx *ctx) {
  eb_params *Q = eb_params_create();
  eb_tensor *x = eb_param(Q, "ties", 2, SHAPE(3, 4), EB_INIT_ZEROS, 0);
  char err[EB_ERR_LEN];
  if (!x || eb_params_finalize(Q, 1, err, sizeof err)) {
    CHECK(0, "ties setup");
    return;
  }
  /* rows: a tie at 1 and 2; all equal; the maximum last, tied with nothing */
  const float v[12] = {1, 3, 3, 2, 5, 5, 5, 5, -4, -3, -2, -1};
  memcpy(x->data, v, sizeof v);
  for (int axis = 0; axis < 2; axis++) {
    eb_params_zero_grad(Q);
    eb_ctx_reset(ctx);
    eb_ctx_set_grad(ctx, 1);
    eb_tensor *y = eb_max_axis(ctx, x, axis, 1);
    eb_tensor *L = eb_sum(ctx, y);
    CHECK(L && eb_backward(ctx, L) == 0, "ties backward: %s", eb_ctx_error(ctx));
    if (!L) continue;
    /* axis 1 (along rows): the first maximum of each row */
    const float want1[12] = {0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1};
    /* axis 0 (down columns): column 0 max 5 at row 1; column 1: 5 at row 1;
     * column 2: 5 at row 1; column 3: 5 at row 1 */
    const float want0[12] = {0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0};
    const float *want = axis ? want1 : want0;
    for (int i = 0; i < 12; i++)
      CHECK(x->grad[i] == want[i], "max ties axis %d: grad[%d] = %g, want %g", axis, i,
            x->grad[i], want[i]);
  }
  /* column ties across rows: [[2,2],[2,1]] down axis 0 -> row 0 both */
  const float w[4] = {2, 2, 2, 1};
  eb_params_destroy(Q);
  Q = eb_params_create();
  x = eb_param(Q, "ties2", 2, SHAPE(2, 2), EB_INIT_ZEROS, 0);
  if (!x || eb_params_finalize(Q, 1, err, sizeof err)) return;
  memcpy(x->data, w, sizeof w);
  eb_ctx_reset(ctx);
  eb_tensor *L = eb_sum(ctx, eb_max_axis(ctx, x, 0, 0));
  CHECK(L && eb_backward(ctx, L) == 0, "ties2: %s", eb_ctx_error(ctx));
  CHECK(x->grad[0] == 1 && x->grad[1] == 1 && x->grad[2] == 0 && x->grad[3] == 0,
        "max ties down a column: grads %g %g %g %g, want 1 1 0 0", x->grad[0], x->grad[1],
        x->grad[2], x->grad[3]);
  eb_params_destroy(Q);
  eb_ctx_reset(ctx);
}

static void check_mask_elu_forward(eb_ctx *ctx) {
  eb_ctx_reset(ctx);
  eb_tensor *y = eb_mask_rows(ctx, mx, g_mask);
  CHECK(y && y->ndim == 3, "mask_rows: %s", eb_ctx_error(ctx));
  for (int i = 0; y && i < (int)mx->size; i++)
    CHECK(y->data[i] == (g_mask[i / 3] ? mx->data[i] : 0.0f), "mask_rows[%d]", i);
  CHECK(eb_mask_rows(ctx, mx, NULL) == mx, "mask_rows(NULL mask) must return x");
  eb_tensor *e = eb_elu(ctx, ex), *e1 = eb_elu1(ctx, ex);
  for (int i = 0; e && e1 && i < (int)ex->size; i++) {
    double x = ex->data[i], want = x > 0 ? x : expm1(x);
    CHECK(fabs(e->data[i] - want) <= 1e-6 * fmax(1, fabs(want)), "elu(%g) = %g, want %g",
          x, e->data[i], want);
    CHECK(fabs(e1->data[i] - (want + 1)) <= 1e-6 * fmax(1, fabs(want + 1)),
          "elu1(%g) = %g, want %g", x, e1->data[i], want + 1);
  }
}

static void check_broadcast_forward(eb_ctx *ctx) {
  for (int k = 0; k < NBC; k++)
    for (int op = O_ADD; op <= O_DIV; op++) {
      eb_ctx_reset(ctx);
      op_case c = {op, 0, 0, bca[k], bcb[k]};
      eb_tensor *y = apply(ctx, &c);
      CHECK(y, "broadcast %d op %d: %s", k, op, eb_ctx_error(ctx));
      if (!y) continue;
      int as[4], bs[4], os[4];
      const bc_shape *s = &bc_shapes[k];
      for (int i = 0; i < 4; i++) {
        as[i] = i < 4 - s->na ? 1 : s->a[i - (4 - s->na)];
        bs[i] = i < 4 - s->nb ? 1 : s->b[i - (4 - s->nb)];
        os[i] = as[i] > bs[i] ? as[i] : bs[i];
      }
      CHECK(y->size == (int64_t)os[0] * os[1] * os[2] * os[3], "broadcast %d: size %lld",
            k, (long long)y->size);
      long e = 0;
      for (int i0 = 0; i0 < os[0]; i0++)
        for (int i1 = 0; i1 < os[1]; i1++)
          for (int i2 = 0; i2 < os[2]; i2++)
            for (int i3 = 0; i3 < os[3]; i3++, e++) {
              int ii[4] = {i0, i1, i2, i3};
              long ai = 0, bi = 0;
              for (int d = 0; d < 4; d++) {
                ai = ai * as[d] + (as[d] == 1 ? 0 : ii[d]);
                bi = bi * bs[d] + (bs[d] == 1 ? 0 : ii[d]);
              }
              float a = bca[k]->data[ai], b = bcb[k]->data[bi];
              float want = op == O_ADD   ? a + b
                           : op == O_SUB ? a - b
                           : op == O_MUL ? a * b
                                         : a / b;
              CHECK(y->data[e] == want, "broadcast %d op %d [%ld]: %g vs %g", k, op, e,
                    y->data[e], want);
            }
    }
}

static void check_bmm_forward(eb_ctx *ctx) {
  for (int k = 0; k < NBMM; k++) {
    const bmm_shape *s = &bmm_shapes[k];
    eb_ctx_reset(ctx);
    eb_tensor *y = eb_bmm(ctx, mma[k], mmb[k], s->ta, s->tb);
    CHECK(y, "bmm %d: %s", k, eb_ctx_error(ctx));
    if (!y) continue;
    int ab[2], bb[2];
    for (int i = 0; i < 2; i++) {
      ab[i] = i < 2 - (s->na - 2) ? 1 : s->a[i - (2 - (s->na - 2))];
      bb[i] = i < 2 - (s->nb - 2) ? 1 : s->b[i - (2 - (s->nb - 2))];
    }
    int M = s->a[s->na - (s->ta ? 1 : 2)], K = s->a[s->na - (s->ta ? 2 : 1)];
    int N = s->b[s->nb - (s->tb ? 2 : 1)];
    int o0n = ab[0] > bb[0] ? ab[0] : bb[0], o1n = ab[1] > bb[1] ? ab[1] : bb[1];
    CHECK(y->size == (int64_t)o0n * o1n * M * N, "bmm %d: size %lld", k,
          (long long)y->size);
    double worst = 0;
    for (int o0 = 0; o0 < o0n; o0++)
      for (int o1 = 0; o1 < o1n; o1++) {
        long ea = (long)(ab[0] == 1 ? 0 : o0) * ab[1] + (ab[1] == 1 ? 0 : o1);
        long eb = (long)(bb[0] == 1 ? 0 : o0) * bb[1] + (bb[1] == 1 ? 0 : o1);
        const float *A = mma[k]->data + ea * M * K, *B = mmb[k]->data + eb * K * N;
        const float *C = y->data + ((long)o0 * o1n + o1) * M * N;
        for (int m = 0; m < M; m++)
          for (int n = 0; n < N; n++) {
            double v = 0;
            for (int q = 0; q < K; q++)
              v += (double)(s->ta ? A[q * M + m] : A[m * K + q]) *
                   (s->tb ? B[n * K + q] : B[q * N + n]);
            double e = fabs(C[m * N + n] - v) / fmax(1, fabs(v));
            if (e > worst) worst = e;
          }
      }
    CHECK(worst <= 1e-5, "bmm %d: rel. error %.3g vs the direct loop", k, worst);
  }
}

/* ----------------------------------------------------------- gradients ---- */
static void gc(eb_ctx *ctx, const char *what, op_case c) {
  eb_tensor *leaves[2] = {c.x, c.y};
  eb_gradcheck(what, ctx, loss_fn, &c, leaves, c.y ? 2 : 1, 1e-2f, 1e-2, 60);
}

static void check_gradients(eb_ctx *ctx) {
  char what[64];
  eb_tensor *xs[2] = {rx, rx4};
  for (int t = 0; t < 2; t++)
    for (int op = O_SUM; op <= O_CUMSUM; op++)
      for (int axis = 0; axis < xs[t]->ndim; axis++) {
        snprintf(what, sizeof what, "grad op %d x%d axis %d", op, t, axis);
        gc(ctx, what, (op_case){op, axis, op != O_CUMSUM && axis == 1, xs[t], NULL});
      }
  gc(ctx, "grad mask_rows", (op_case){O_MASK, 0, 0, mx, NULL});
  gc(ctx, "grad elu", (op_case){O_ELU, 0, 0, ex, NULL});
  gc(ctx, "grad elu1", (op_case){O_ELU1, 0, 0, ex, NULL});
  for (int k = 0; k < NBC; k++)
    for (int op = O_ADD; op <= O_DIV; op++) {
      snprintf(what, sizeof what, "grad broadcast %d op %d", k, op);
      gc(ctx, what, (op_case){op, 0, 0, bca[k], bcb[k]});
    }
  for (int k = 0; k < NBMM; k++) {
    snprintf(what, sizeof what, "grad bmm %d", k);
    gc(ctx, what, (op_case){O_BMM, bmm_shapes[k].ta, bmm_shapes[k].tb, mma[k], mmb[k]});
  }
  gc(ctx, "grad bmm x^T x", (op_case){O_BMM_SELF, 0, 0, selfx, NULL});
  for (int order = 0; order < 2; order++) {
    snprintf(what, sizeof what, "grad shared elu, order %d", order);
    gc(ctx, what, (op_case){O_SHARED, 0, order, ex, NULL});
    snprintf(what, sizeof what, "grad shared elu1, order %d", order);
    gc(ctx, what, (op_case){O_SHARED, 1, order, ex, NULL});
    snprintf(what, sizeof what, "grad shared mask_rows, order %d", order);
    gc(ctx, what, (op_case){O_SHARED, 2, order, mx, NULL});
    snprintf(what, sizeof what, "grad shared div, order %d", order);
    gc(ctx, what, (op_case){O_SHARED, 3, order, bca[1], bcb[1]});
  }
  /* the shared buffer: the input's gradient is dy's (no new buffer) */
  eb_ctx_reset(ctx);
  eb_tensor *t = eb_scale(ctx, ex, 1.0f), *u = eb_elu1(ctx, t);
  eb_tensor *L = eb_sum(ctx, eb_scale(ctx, u, 2.0f));
  CHECK(L && eb_backward(ctx, L) == 0 && t->grad == u->grad,
        "elu1 of an activation: its gradient should take dy's buffer");
}

/* --------------------------------------------------------------- FLOPs ---- */
/* forward and backward FLOPs of one op on leaves (docs/flops.md) */
static void flops_of(eb_ctx *ctx, op_case c, double fwd, double bwd, const char *what) {
  eb_params_zero_grad(P);
  eb_ctx_reset(ctx);
  eb_ctx_set_grad(ctx, 1);
  eb_ctx_reset_flops(ctx);
  eb_tensor *y = apply(ctx, &c);
  double f = eb_ctx_flops(ctx).forward;
  eb_tensor *L = eb_sum(ctx, y);
  eb_ctx_reset_flops(ctx);
  int ok = L && eb_backward(ctx, L) == 0;
  CHECK(ok, "%s: %s", what, eb_ctx_error(ctx));
  if (!ok) return;
  double b = eb_ctx_flops(ctx).backward - (double)y->size; /* less eb_sum's */
  CHECK(f == fwd, "%s: forward FLOPs %.0f, want %.0f", what, f, fwd);
  CHECK(b == bwd, "%s: backward FLOPs %.0f, want %.0f", what, b, bwd);
}

static void check_flops(eb_ctx *ctx) {
  const double S = (double)rx->size; /* 60 */
  flops_of(ctx, (op_case){O_SUM, 1, 0, rx, NULL}, S, S, "sum_axis");
  flops_of(ctx, (op_case){O_MEAN, 1, 1, rx, NULL}, S + 15, S, "mean_axis"); /* [3,1,5] */
  flops_of(ctx, (op_case){O_MAX, 2, 0, rx, NULL}, S, 12, "max_axis");       /* [3,4] */
  flops_of(ctx, (op_case){O_CUMSUM, 1, 0, rx, NULL}, S, S, "cumsum");
  flops_of(ctx, (op_case){O_MASK, 0, 0, mx, NULL}, 30, 30, "mask_rows");
  flops_of(ctx, (op_case){O_ELU, 0, 0, ex, NULL}, 48, 48, "elu");
  flops_of(ctx, (op_case){O_ELU1, 0, 0, ex, NULL}, 48, 24, "elu1");
  /* broadcast case 2: [2,1,4] with [1,3,4] -> 24 outputs; per output add 1 /
   * 1+1, sub 1 / 1+1, mul 1 / 2+2, div 1 / 2+3 */
  const double per[4] = {2, 2, 4, 5};
  for (int op = O_ADD; op <= O_DIV; op++)
    flops_of(ctx, (op_case){op, 0, 0, bca[2], bcb[2]}, 24, 24 * per[op - O_ADD],
             "broadcast");
  /* bmm case 4: [2,1,3,4] @ [1,2,4,5] -> 4 entries of 2*3*5*4 each way */
  flops_of(ctx, (op_case){O_BMM, 0, 0, mma[4], mmb[4]}, 4 * 120.0, 2 * 4 * 120.0, "bmm");
  /* with only one operand needing a gradient, one GEMM per entry in backward */
  mmb[4]->requires_grad = 0;
  flops_of(ctx, (op_case){O_BMM, 0, 0, mma[4], mmb[4]}, 4 * 120.0, 4 * 120.0,
           "bmm (b frozen)");
  mmb[4]->requires_grad = 1;
}

/* ------------------------------------------------------ thread counts ---- */
/* big enough for every parallel loop: outputs and gradients bit-identical
 * with 1 and 2 threads */
static void check_threads(void) {
  eb_params *Q = eb_params_create();
  eb_tensor *x = eb_param(Q, "x", 3, SHAPE(8, 256, 40), EB_INIT_NORMAL, 1.0f);
  eb_tensor *m = eb_param(Q, "m", 3, SHAPE(8, 256, 1), EB_INIT_UNIFORM, 1.0f);
  eb_tensor *w = eb_param(Q, "w", 2, SHAPE(40, 24), EB_INIT_NORMAL, 0.3f);
  eb_tensor *c = eb_param(Q, "c", 3, SHAPE(1, 256, 40), EB_INIT_NORMAL, 1.0f);
  char err[EB_ERR_LEN];
  if (!x || !m || !w || !c || eb_params_finalize(Q, 2, err, sizeof err)) {
    CHECK(0, "threads setup");
    return;
  }
  for (int64_t i = 0; i < m->size; i++)
    m->data[i] += 2.0f; /* a divisor in [1, 3] */
  static uint8_t mask[8 * 256];
  for (int i = 0; i < 8 * 256; i++)
    mask[i] = (uint8_t)(i % 7 != 3);
  const int64_t np = eb_params_padded(Q);
  float *keep[2] = {malloc((size_t)np * sizeof(float)),
                    malloc((size_t)np * sizeof(float))};
  float out[2];
  for (int run = 0; run < 2; run++) {
    eb_set_threads(run ? 2 : 1);
    eb_ctx *ctx = eb_ctx_create(1 << 20, 1);
    eb_params_zero_grad(Q);
    eb_ctx_set_grad(ctx, 1);
    /* every new op once, chained into one loss */
    eb_tensor *h = eb_elu1(ctx, eb_mask_rows(ctx, x, mask));
    h = eb_div(ctx, eb_add(ctx, h, c), m);     /* broadcast [1,N,D], [B,N,1] */
    h = eb_elu(ctx, eb_cumsum(ctx, h, 1));     /* along the sequence */
    eb_tensor *p = eb_bmm(ctx, h, w, 0, 0);    /* [8,256,24] */
    eb_tensor *kv = eb_bmm(ctx, h, p, 1, 0);   /* [8,40,24] */
    eb_tensor *s = eb_sum_axis(ctx, p, 1, 1);  /* [8,1,24] */
    eb_tensor *mx = eb_max_axis(ctx, h, 1, 0); /* [8,40] */
    eb_tensor *mn = eb_mean_axis(ctx, eb_mul(ctx, p, s), 2, 1); /* [8,256,1] */
    eb_tensor *L =
        eb_add(ctx, eb_add(ctx, eb_sum(ctx, kv), eb_sum(ctx, mx)), eb_sum(ctx, mn));
    CHECK(L && eb_backward(ctx, L) == 0, "threads run %d: %s", run, eb_ctx_error(ctx));
    out[run] = L ? L->data[0] : NAN;
    memcpy(keep[run], eb_params_grads(Q), (size_t)np * sizeof(float));
    eb_ctx_destroy(ctx);
  }
  eb_set_threads(1);
  CHECK(memcmp(&out[0], &out[1], sizeof out[0]) == 0, "loss differs: %.9g vs %.9g",
        out[0], out[1]);
  int64_t diff = -1;
  for (int64_t i = 0; i < np && diff < 0; i++)
    if (memcmp(&keep[0][i], &keep[1][i], sizeof(float))) diff = i;
  CHECK(diff < 0, "gradients differ between 1 and 2 threads at %lld", (long long)diff);
  free(keep[0]);
  free(keep[1]);
  eb_params_destroy(Q);
}

/* -------------------------------------------------------------- errors ---- */
static void check_errors(eb_ctx *ctx) {
  eb_ctx_reset(ctx);
  CHECK(!eb_sum_axis(ctx, rx, 3, 0) && strstr(eb_ctx_error(ctx), "sum_axis: axis 3"),
        "bad axis: %s", eb_ctx_error(ctx));
  CHECK(!eb_cumsum(ctx, rx, -4) && strstr(eb_ctx_error(ctx), "cumsum: axis -4"),
        "bad axis: %s", eb_ctx_error(ctx));
  CHECK(!eb_add(ctx, rx, mx) && strstr(eb_ctx_error(ctx), "do not broadcast"),
        "add [3,4,5] + [2,5,3]: %s", eb_ctx_error(ctx));
  CHECK(!eb_bmm(ctx, rx, mx, 0, 0) && strstr(eb_ctx_error(ctx), "bmm: a [3,4,5]"),
        "bmm mismatch: %s", eb_ctx_error(ctx));
  CHECK(!eb_mask_rows(ctx, eb_reshape(ctx, ex, 1, SHAPE(24)), g_mask) &&
            strstr(eb_ctx_error(ctx), "mask_rows: x [24]"),
        "mask_rows 1-D: %s", eb_ctx_error(ctx));
  CHECK(!eb_max_axis(ctx, NULL, 0, 0) && !eb_bmm(ctx, rx, NULL, 0, 0), "NULL inputs");
}

int main(void) {
  eb_set_threads(1);
  declare();
  eb_ctx *ctx = eb_ctx_create(1 << 20, 1);
  eb_ctx_set_grad(ctx, 1);
  check_reduce_forward(ctx);
  check_max_ties(ctx);
  check_mask_elu_forward(ctx);
  check_broadcast_forward(ctx);
  check_bmm_forward(ctx);
  check_gradients(ctx);
  check_flops(ctx);
  check_errors(ctx);
  eb_ctx_destroy(ctx);
  check_threads();
  eb_params_destroy(P);
  return eb_test_done("test_ops_reduce");
}
