/* Elementwise ops and the full sum. Per-element FLOP constants are the
 * EW_* values below; docs/flops.md explains how they were counted. */
#include <math.h>

#include "ops_util.h"

/* forward / backward (per input gradient) FLOPs per element */
#define EW_BINARY_FWD 1 /* add, sub, mul, div */
#define EW_ADD_BWD 1    /* dA += dY */
#define EW_MUL_BWD 2    /* dA += dY * B */
#define EW_DIV_BWD_A 2  /* dA += dY / B */
#define EW_DIV_BWD_B 3  /* dB -= dY * Y / B */
#define EW_SCALE_FWD 1
#define EW_SCALE_BWD 2
#define EW_GELU_FWD 9
#define EW_GELU_BWD 19
#define EW_SILU_FWD 3
#define EW_SILU_BWD 9
#define EW_SOFTPLUS_FWD 2
#define EW_SOFTPLUS_BWD 4
#define EW_EXP_FWD 1
#define EW_EXP_BWD 2
#define EW_RELU_FWD 1
#define EW_RELU_BWD 1
#define EW_ELU_FWD 2  /* exp(x) - 1, the select */
#define EW_ELU_BWD 2  /* dy * (y + 1) */
#define EW_ELU1_FWD 2 /* exp(x) or x + 1, the select */
#define EW_ELU1_BWD 1 /* dy * y */

/* --------------------------------------------- add / sub / mul / div ---- */
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };

/* a[...], b[...] (same shape, or a's trailing dims, broadcast over the rest). */
static void binary_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
  int op = n->iarg[0];
  int fail = 0, fresh = 0;
  const float *dy = y->grad;
  int64_t size = a->size, inner = b->size, outer = size / inner;
  double per_a = op == OP_MUL ? EW_MUL_BWD : op == OP_DIV ? EW_DIV_BWD_A : EW_ADD_BWD;
  double per_b = op == OP_MUL ? EW_MUL_BWD : op == OP_DIV ? EW_DIV_BWD_B : EW_ADD_BWD;
  /* da first, then db: when a == b (x * x) the second sees da's values */
  int shared = 0;
  if ((op == OP_ADD || op == OP_SUB) && a != b && a->requires_grad && !a->is_param &&
      !a->grad) {
    /* da = dy, and a has no gradient yet: a shares y's gradient buffer (as a
     * reshape does) instead of copying it; y's gradient is complete here and
     * no later node reads it */
    a->grad = y->grad;
    shared = 1;
  }
  float *da = shared ? NULL : eb__grad_acc_if(ctx, a, &fresh, &fail);
  if (fail) return;
  const int da_acc = !fresh;
  int db_acc = 1;
  if (da) {
    const int acc = !fresh;
    if (op == OP_MUL) {
      EB_OMP("omp parallel for schedule(static) if (outer * inner > EB_PAR_MIN)")
      for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
          float v = dy[o * inner + j] * b->data[j];
          da[o * inner + j] = acc ? da[o * inner + j] + v : v;
        }
    } else if (op == OP_DIV) {
      EB_OMP("omp parallel for schedule(static) if (outer * inner > EB_PAR_MIN)")
      for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
          float v = dy[o * inner + j] / b->data[j];
          da[o * inner + j] = acc ? da[o * inner + j] + v : v;
        }
    } else {
      EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
      for (int64_t i = 0; i < size; i++)
        da[i] = acc ? da[i] + dy[i] : dy[i];
    }
  }
  float *db = NULL;
  if (outer == 1) { /* same shape: elementwise, in parallel */
    db = eb__grad_acc_if(ctx, b, &fresh, &fail);
    if (fail) return;
    db_acc = !fresh;
    if (db) {
      const int acc = !fresh;
      EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
      for (int64_t j = 0; j < inner; j++) {
        /* d(a/b)/db = -a/b^2 = -y/b, from the saved output */
        float v = op == OP_MUL   ? dy[j] * a->data[j]
                  : op == OP_DIV ? -(dy[j] * y->data[j]) / b->data[j]
                  : op == OP_SUB ? -dy[j]
                                 : dy[j];
        db[j] = acc ? db[j] + v : v;
      }
    }
  } else {
    db = eb__grad_if(ctx, b, &fail);
    if (fail) return;
    if (db) {
      /* broadcast: sum over the leading dims in row order (deterministic);
       * columns in parallel */
      EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
      for (int64_t j0 = 0; j0 < inner; j0 += 64) {
        int64_t j1 = j0 + 64 < inner ? j0 + 64 : inner;
        for (int64_t o = 0; o < outer; o++) {
          const float *g = dy + o * inner, *av = a->data + o * inner;
          const float *yv = y->data + o * inner;
          if (op == OP_MUL)
            for (int64_t j = j0; j < j1; j++)
              db[j] += g[j] * av[j];
          else if (op == OP_DIV)
            for (int64_t j = j0; j < j1; j++)
              db[j] -= g[j] * yv[j] / b->data[j];
          else if (op == OP_SUB)
            for (int64_t j = j0; j < j1; j++)
              db[j] -= g[j];
          else
            for (int64_t j = j0; j < j1; j++)
              db[j] += g[j];
        }
      }
    }
  }
  eb_ctx_add_flops(
      ctx, 0, (double)size * (per_a * (da != NULL || shared) + per_b * (db != NULL)));
  /* dy read; each gradient written (read too when accumulating; nothing when
   * shared); the operands the products read: b for da of mul/div, a (mul) or
   * y and b (div) for db */
  double mv = (double)size;
  if (da) mv += (double)size * (1 + da_acc) + (op == OP_MUL || op == OP_DIV ? inner : 0);
  if (db)
    mv += (double)inner * (1 + db_acc) + (op == OP_MUL ? size : 0) +
          (op == OP_DIV ? size + inner : 0);
  eb__moved(ctx, mv);
}

/* ------------------------------------------- general broadcasting ---- */
/* Shapes right-aligned and padded to 4 dims; a dim of size 1 in an input
 * repeats along the output's dim. */
typedef struct bc_plan {
  int os[4];              /* output shape */
  int as[4], bs[4];       /* input shapes */
  int64_t ast[4], bst[4]; /* input strides, 0 along a broadcast dim */
} bc_plan;

static void bc_pad(const eb_tensor *t, int *s) {
  int off = 4 - t->ndim;
  for (int i = 0; i < 4; i++)
    s[i] = i < off ? 1 : t->shape[i - off];
}
static void bc_strides(const int *s, const int *os, int64_t *st) {
  int64_t run = 1;
  for (int i = 3; i >= 0; i--) {
    st[i] = s[i] == os[i] ? run : 0;
    run *= s[i];
  }
}
/* 0 and the plan when a and b broadcast (each dim equal, or one of them 1) */
static int bc_make(const eb_tensor *a, const eb_tensor *b, bc_plan *p) {
  bc_pad(a, p->as);
  bc_pad(b, p->bs);
  for (int i = 0; i < 4; i++) {
    if (p->as[i] != p->bs[i] && p->as[i] != 1 && p->bs[i] != 1) return -1;
    p->os[i] = p->as[i] > p->bs[i] ? p->as[i] : p->bs[i];
  }
  bc_strides(p->as, p->os, p->ast);
  bc_strides(p->bs, p->os, p->bst);
  return 0;
}

/* d(y)/d(input) times dy for output element i: of a (which = 0) or b */
static inline float bc_grad(int op, int which, float g, float av, float bv, float yv) {
  if (op == OP_MUL) return g * (which ? av : bv);
  if (op == OP_DIV) return which ? -(g * yv) / bv : g / bv;
  if (op == OP_SUB && which) return -g;
  return g;
}

/* Gradient of input `which` (shape ts, strides tst): each of its elements sums
 * its output elements in row-major order of the output, so the sum is the
 * same for any thread count (parallel over the input's elements). */
static void bc_input_grad(const bc_plan *p, int op, int which, const eb_tensor *a,
                          const eb_tensor *b, const eb_tensor *y, float *dt, int acc) {
  const int *ts = which ? p->bs : p->as;
  const int64_t *ost = which ? p->ast : p->bst; /* the other input's strides */
  const int64_t tsize = (int64_t)ts[0] * ts[1] * ts[2] * ts[3];
  int64_t ys[4]; /* output strides */
  ys[3] = 1;
  for (int i = 2; i >= 0; i--)
    ys[i] = ys[i + 1] * p->os[i + 1];
  const float *A = a->data, *Bv = b->data, *Y = y->data, *dy = y->grad;
  const int L = p->os[3];
  const int64_t rows = y->size / L;
  int same = 1; /* t has the output's shape, or differs in the last dim only */
  for (int i = 0; i < 3; i++)
    same &= ts[i] == p->os[i];
  if (same) { /* rows of the output, the other input's row with stride 0 or 1 */
    const int64_t so = ost[3];
    const int sum_row = ts[3] != L; /* t[..., 1]: sum each row in order */
    EB_OMP("omp parallel for schedule(static) if (y->size > EB_PAR_MIN)")
    for (int64_t r = 0; r < rows; r++) {
      int i2 = (int)(r % p->os[2]), i1 = (int)(r / p->os[2] % p->os[1]);
      int i0 = (int)(r / ((int64_t)p->os[2] * p->os[1]));
      const int64_t ob = i0 * ost[0] + i1 * ost[1] + i2 * ost[2];
      const float *g = dy + r * L, *yr = Y + r * L;
      const float *orow = (which ? A : Bv) + ob;
      if (sum_row) {
        float s = 0.0f, tv = which ? Bv[r] : A[r];
        for (int j = 0; j < L; j++) {
          float av = which ? orow[j * so] : tv, bv = which ? tv : orow[j * so];
          s += bc_grad(op, which, g[j], av, bv, yr[j]);
        }
        dt[r] = acc ? dt[r] + s : s;
      } else {
        const float *trow = (which ? Bv : A) + r * L;
        float *d = dt + r * L;
        for (int j = 0; j < L; j++) {
          float av = which ? orow[j * so] : trow[j], bv = which ? trow[j] : orow[j * so];
          float v = 0.0f + bc_grad(op, which, g[j], av, bv, yr[j]);
          d[j] = acc ? d[j] + v : v;
        }
      }
    }
    return;
  }
  EB_OMP("omp parallel for schedule(static) if (y->size > EB_PAR_MIN)")
  for (int64_t e = 0; e < tsize; e++) {
    int idx[4], lo[4], hi[4];
    int64_t r = e;
    for (int i = 3; i >= 0; i--) {
      idx[i] = (int)(r % ts[i]);
      r /= ts[i];
      lo[i] = ts[i] == p->os[i] ? idx[i] : 0;
      hi[i] = ts[i] == p->os[i] ? idx[i] + 1 : p->os[i];
    }
    float s = 0.0f;
    for (int i0 = lo[0]; i0 < hi[0]; i0++)
      for (int i1 = lo[1]; i1 < hi[1]; i1++)
        for (int i2 = lo[2]; i2 < hi[2]; i2++)
          for (int i3 = lo[3]; i3 < hi[3]; i3++) {
            int64_t yo = i0 * ys[0] + i1 * ys[1] + i2 * ys[2] + i3 * ys[3];
            int64_t oo = i0 * ost[0] + i1 * ost[1] + i2 * ost[2] + i3 * ost[3];
            float av = which ? A[oo] : A[e], bv = which ? Bv[e] : Bv[oo];
            s += bc_grad(op, which, dy[yo], av, bv, Y[yo]);
          }
    dt[e] = acc ? dt[e] + s : s;
  }
}

static void binary_bc_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
  const int op = n->iarg[0];
  bc_plan p;
  bc_make(a, b, &p);
  int fail = 0, fresh = 0;
  double per_a = op == OP_MUL ? EW_MUL_BWD : op == OP_DIV ? EW_DIV_BWD_A : EW_ADD_BWD;
  double per_b = op == OP_MUL ? EW_MUL_BWD : op == OP_DIV ? EW_DIV_BWD_B : EW_ADD_BWD;
  double fl = 0, mv = (double)y->size; /* dy read */
  /* a of the output's shape without a gradient yet takes dy's buffer and is
   * computed in place (element i reads dy[i], then writes it), as eb_add's
   * backward shares it: y's gradient is complete here and nothing later
   * reads it. db reads dy, so it goes first then. */
  const int share =
      a != b && a->requires_grad && !a->is_param && !a->grad && a->size == y->size;
  for (int k = 0; k < 2; k++) {
    const int which = share ? 1 - k : k;
    eb_tensor *t = which ? b : a, *o = which ? a : b;
    float *dt;
    if (!which && share) {
      a->grad = y->grad;
      dt = a->grad;
      fresh = 1;
    } else {
      dt = eb__grad_acc_if(ctx, t, &fresh, &fail);
    }
    if (fail) return;
    if (!dt) continue;
    bc_input_grad(&p, op, which, a, b, y, dt, !fresh);
    fl += (double)y->size * (which ? per_b : per_a);
    /* dt written (read when accumulating); mul reads the other input, div
     * reads b (and y for db) */
    mv += (double)t->size * (1 + !fresh);
    if (op == OP_MUL) mv += (double)o->size;
    if (op == OP_DIV) mv += (double)b->size + (which ? (double)y->size : 0);
  }
  eb_ctx_add_flops(ctx, 0, fl);
  eb__moved(ctx, mv);
}

/* a and b broadcast against each other (neither is the other's trailing dims) */
static eb_tensor *binary_bc(eb_ctx *ctx, eb_tensor *a, eb_tensor *b, int op,
                            const char *name) {
  bc_plan p;
  if (bc_make(a, b, &p)) {
    eb_ctx_fail(ctx, EB_SHAPE,
                "%s: a %s and b %s do not broadcast (right-aligned dims must be "
                "equal or 1)",
                name, EB_SHAPE(a), EB_SHAPE(b));
    return NULL;
  }
  const int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
  int shape[EB_MAX_DIMS];
  for (int i = 0; i < nd; i++)
    shape[i] = p.os[4 - nd + i];
  eb_tensor *y = eb_tensor_new(ctx, nd, shape);
  if (!y) return NULL;
  const float *A = a->data, *B = b->data;
  float *Y = y->data;
  const int L = p.os[3];
  const int64_t rows = y->size / L, sa = p.ast[3], sb = p.bst[3];
  EB_OMP("omp parallel for schedule(static) if (y->size > EB_PAR_MIN)")
  for (int64_t r = 0; r < rows; r++) {
    int i2 = (int)(r % p.os[2]), i1 = (int)(r / p.os[2] % p.os[1]);
    int i0 = (int)(r / ((int64_t)p.os[2] * p.os[1]));
    const float *ar = A + i0 * p.ast[0] + i1 * p.ast[1] + i2 * p.ast[2];
    const float *br = B + i0 * p.bst[0] + i1 * p.bst[1] + i2 * p.bst[2];
    float *yr = Y + r * L;
    if (op == OP_ADD)
      for (int j = 0; j < L; j++)
        yr[j] = ar[j * sa] + br[j * sb];
    else if (op == OP_SUB)
      for (int j = 0; j < L; j++)
        yr[j] = ar[j * sa] - br[j * sb];
    else if (op == OP_MUL)
      for (int j = 0; j < L; j++)
        yr[j] = ar[j * sa] * br[j * sb];
    else
      for (int j = 0; j < L; j++)
        yr[j] = ar[j * sa] / br[j * sb];
  }
  eb_ctx_add_flops(ctx, EW_BINARY_FWD * (double)y->size, 0);
  eb__moved(ctx, (double)a->size + (double)b->size + (double)y->size);
  eb_tensor *in[2] = {a, b};
  eb_node *n = eb_tape_record(ctx, binary_bc_backward, y, 2, in);
  if (n) n->iarg[0] = op;
  return y;
}

static eb_tensor *binary(eb_ctx *ctx, eb_tensor *a, eb_tensor *b, int op) {
  static const char *names[] = {"add", "sub", "mul", "div"};
  if (!a || !b) return NULL;
  /* b of a's shape or its trailing dims: the original kernels (bit for bit) */
  if (!eb__is_trailing(a, b)) return binary_bc(ctx, a, b, op, names[op]);
  eb_tensor *y = eb_tensor_new(ctx, a->ndim, a->shape);
  if (!y) return NULL;
  int64_t inner = b->size, outer = a->size / inner;
  const float *A = a->data, *B = b->data;
  float *Y = y->data;
  EB_OMP("omp parallel for schedule(static) if (outer * inner > EB_PAR_MIN)")
  for (int64_t o = 0; o < outer; o++) {
    const float *ar = A + o * inner;
    float *yr = Y + o * inner;
    if (op == OP_ADD)
      for (int64_t j = 0; j < inner; j++)
        yr[j] = ar[j] + B[j];
    else if (op == OP_SUB)
      for (int64_t j = 0; j < inner; j++)
        yr[j] = ar[j] - B[j];
    else if (op == OP_MUL)
      for (int64_t j = 0; j < inner; j++)
        yr[j] = ar[j] * B[j];
    else
      for (int64_t j = 0; j < inner; j++)
        yr[j] = ar[j] / B[j];
  }
  eb_ctx_add_flops(ctx, EW_BINARY_FWD * (double)a->size, 0);
  eb__moved(ctx, 2.0 * a->size + (double)inner); /* a, b read, y written */
  eb_tensor *in[2] = {a, b};
  eb_node *n = eb_tape_record(ctx, binary_backward, y, 2, in);
  if (n) n->iarg[0] = op;
  return y;
}

/* a[...] + b[...] or b[trailing dims of a] -> a's shape */
eb_tensor *eb_add(eb_ctx *ctx, eb_tensor *a, eb_tensor *b) {
  return binary(ctx, a, b, OP_ADD);
}
/* a[...] - b[...] or b[trailing dims of a] -> a's shape */
eb_tensor *eb_sub(eb_ctx *ctx, eb_tensor *a, eb_tensor *b) {
  return binary(ctx, a, b, OP_SUB);
}
/* a[...] * b[...] or b[trailing dims of a] -> a's shape */
eb_tensor *eb_mul(eb_ctx *ctx, eb_tensor *a, eb_tensor *b) {
  return binary(ctx, a, b, OP_MUL);
}
/* a[...] / b[...] or b[trailing dims of a] -> a's shape */
eb_tensor *eb_div(eb_ctx *ctx, eb_tensor *a, eb_tensor *b) {
  return binary(ctx, a, b, OP_DIV);
}

/* -------------------------------------------------------------- unary ---- */
enum { U_SCALE, U_GELU, U_SILU, U_SOFTPLUS, U_EXP, U_RELU, U_ELU, U_ELU1 };

static const double unary_fwd[] = {EW_SCALE_FWD,    EW_GELU_FWD, EW_SILU_FWD,
                                   EW_SOFTPLUS_FWD, EW_EXP_FWD,  EW_RELU_FWD,
                                   EW_ELU_FWD,      EW_ELU1_FWD};
static const double unary_bwd[] = {EW_SCALE_BWD,    EW_GELU_BWD, EW_SILU_BWD,
                                   EW_SOFTPLUS_BWD, EW_EXP_BWD,  EW_RELU_BWD,
                                   EW_ELU_BWD,      EW_ELU1_BWD};

#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

/* elementwise work in chunks (parallel over chunks) */
#define EW_CHUNK 4096
/* dst = v into a new gradient, dst += v into an existing one */
#define EW_PUT(dst, v) ((dst) = acc ? (dst) + (v) : (v))

/* GELU on 8-float vectors with the fast tanh (|error| < 2e-7); a ragged tail
 * goes through a padded copy, so every element gets the same arithmetic. */
EB_VINLINE eb_v8f gelu8(eb_v8f v) {
  return 0.5f * v * (1.0f + eb__tanh8(GELU_C * (v + GELU_A * v * v * v)));
}
/* gelu8 and gelu_grad8 on 16 lanes (same bits) */
EB_VINLINE eb_v16f gelu16(eb_v16f v) {
  return 0.5f * v * (1.0f + eb__tanh16(GELU_C * (v + GELU_A * v * v * v)));
}
EB_VINLINE eb_v16f gelu_grad16(eb_v16f v) {
  eb_v16f v2 = v * v;
  eb_v16f t = eb__tanh16(GELU_C * (v + GELU_A * v2 * v));
  eb_v16f du = GELU_C * (1.0f + 3.0f * GELU_A * v2);
  return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du;
}
EB_VINLINE eb_v8f gelu_grad8(eb_v8f v) {
  eb_v8f v2 = v * v;
  eb_v8f t = eb__tanh8(GELU_C * (v + GELU_A * v2 * v));
  eb_v8f du = GELU_C * (1.0f + 3.0f * GELU_A * v2);
  return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du;
}

EB_CLONES
static void gelu_fwd(const float *X, float *Y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    eb__v8_store(Y + i, gelu8(eb__v8_load(X + i)));
  if (i < n) {
    float t[8] = {0};
    memcpy(t, X + i, (size_t)(n - i) * sizeof(float));
    eb__v8_store(t, gelu8(eb__v8_load(t)));
    memcpy(Y + i, t, (size_t)(n - i) * sizeof(float));
  }
}

EB_CLONES
static void gelu_bwd(const float *X, const float *dy, float *dx, int64_t n, int acc) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    eb_v8f g = eb__v8_load(dy + i) * gelu_grad8(eb__v8_load(X + i));
    eb__v8_store(dx + i, acc ? eb__v8_load(dx + i) + g : g);
  }
  if (i < n) {
    float t[8] = {0}, u[8] = {0}, w[8] = {0};
    memcpy(t, X + i, (size_t)(n - i) * sizeof(float));
    memcpy(u, dy + i, (size_t)(n - i) * sizeof(float));
    if (acc) memcpy(w, dx + i, (size_t)(n - i) * sizeof(float));
    eb_v8f g = eb__v8_load(u) * gelu_grad8(eb__v8_load(t));
    eb__v8_store(w, acc ? eb__v8_load(w) + g : g);
    memcpy(dx + i, w, (size_t)(n - i) * sizeof(float));
  }
}

/* elu(x) + 1 with the vector exp (eb__exp16: relative error ~2e-7); a ragged
 * tail goes through a padded copy, so every element gets the same arithmetic */
EB_VINLINE eb_v16f elu1_16(eb_v16f v) {
  return eb__v16_sel(v > 0.0f, v + 1.0f, eb__exp16(v));
}
EB_CLONES_MEM
static void elu1_fwd(const float *X, float *Y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    eb__v16_store(Y + i, elu1_16(eb__v16_load(X + i)));
  if (i < n) {
    float t[16] = {0};
    memcpy(t, X + i, (size_t)(n - i) * sizeof(float));
    eb__v16_store(t, elu1_16(eb__v16_load(t)));
    memcpy(Y + i, t, (size_t)(n - i) * sizeof(float));
  }
}

/* dx (+)= dy where y > 1 (x > 0), dy * y below; dx may be dy (in place) */
EB_CLONES_MEM
static void elu1_bwd(const float *Y, const float *dy, float *dx, int64_t n, int acc) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    eb_v16f y = eb__v16_load(Y + i), g = eb__v16_load(dy + i);
    eb_v16f d = eb__v16_sel(y > 1.0f, g, g * y);
    eb__v16_store(dx + i, acc ? eb__v16_load(dx + i) + d : d);
  }
  for (; i < n; i++) {
    float d = Y[i] > 1.0f ? dy[i] : dy[i] * Y[i];
    dx[i] = acc ? dx[i] + d : d;
  }
}

static void unary_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *y = n->out;
  int fail = 0, fresh = 0;
  float *dx;
  if ((n->iarg[0] == U_ELU || n->iarg[0] == U_ELU1) && x->requires_grad && !x->is_param &&
      !x->grad) {
    /* elu, elu1: dx takes dy's buffer, computed in place (element i reads
     * dy[i] and y[i], then writes dx[i]): y's gradient is complete here and
     * nothing later reads it (as eb_add's backward shares it) */
    x->grad = y->grad;
    dx = x->grad;
    fresh = 1;
  } else {
    dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  }
  if (fail || !dx) return;
  const int acc = !fresh; /* a new buffer is written, not accumulated */
  const float *X = x->data, *Y = y->data, *dy = y->grad;
  int64_t size = x->size;
  float s = n->farg[0];
  switch (n->iarg[0]) {
  case U_SCALE:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      EW_PUT(dx[i], dy[i] * s);
    break;
  case U_GELU:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i0 = 0; i0 < size; i0 += EW_CHUNK)
      gelu_bwd(X + i0, dy + i0, dx + i0, size - i0 < EW_CHUNK ? size - i0 : EW_CHUNK,
               acc);
    break;
  case U_SILU:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++) {
      float sg = 1.0f / (1.0f + expf(-X[i]));
      EW_PUT(dx[i], dy[i] * (sg * (1.0f + X[i] * (1.0f - sg))));
    }
    break;
  case U_SOFTPLUS:
    /* like torch (beta 1, threshold 20): gradient exactly dy above 20 */
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      EW_PUT(dx[i], X[i] > 20.0f ? dy[i] : dy[i] / (1.0f + expf(-X[i])));
    break;
  case U_EXP:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      EW_PUT(dx[i], dy[i] * Y[i]);
    break;
  case U_RELU:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      EW_PUT(dx[i], X[i] > 0.0f ? dy[i] : 0.0f);
    break;
  case U_ELU: /* from y alone: y > 0 iff x > 0, and exp(x) = y + 1 below */
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      EW_PUT(dx[i], Y[i] > 0.0f ? dy[i] : dy[i] * (Y[i] + 1.0f));
    break;
  case U_ELU1: /* y > 1 iff x > 0, and exp(x) = y below (both 1 at x = 0) */
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i0 = 0; i0 < size; i0 += EW_CHUNK)
      elu1_bwd(Y + i0, dy + i0, dx + i0, size - i0 < EW_CHUNK ? size - i0 : EW_CHUNK,
               acc);
    break;
  }
  eb_ctx_add_flops(ctx, 0, unary_bwd[n->iarg[0]] * (double)size);
  /* dy and x (y for exp, elu, elu1; neither for scale) read, dx written (read when
   * accumulating) */
  eb__moved(ctx, (double)size * (2 + acc + (n->iarg[0] != U_SCALE)));
}

static eb_tensor *unary(eb_ctx *ctx, eb_tensor *x, int op, float s) {
  if (!x) return NULL;
  eb_tensor *y = eb_tensor_new(ctx, x->ndim, x->shape);
  if (!y) return NULL;
  const float *X = x->data;
  float *Y = y->data;
  int64_t size = x->size;
  switch (op) {
  case U_SCALE:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      Y[i] = X[i] * s;
    break;
  case U_GELU:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i0 = 0; i0 < size; i0 += EW_CHUNK)
      gelu_fwd(X + i0, Y + i0, size - i0 < EW_CHUNK ? size - i0 : EW_CHUNK);
    break;
  case U_SILU:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      Y[i] = X[i] / (1.0f + expf(-X[i]));
    break;
  case U_SOFTPLUS:
    /* log1p(exp(x)) is stable for x <= 20 (exp underflows to 0 harmlessly) */
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      Y[i] = X[i] > 20.0f ? X[i] : log1pf(expf(X[i]));
    break;
  case U_EXP:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      Y[i] = expf(X[i]);
    break;
  case U_RELU:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      Y[i] = X[i] > 0.0f ? X[i] : 0.0f;
    break;
  case U_ELU:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      Y[i] = X[i] > 0.0f ? X[i] : expm1f(X[i]);
    break;
  case U_ELU1:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i0 = 0; i0 < size; i0 += EW_CHUNK)
      elu1_fwd(X + i0, Y + i0, size - i0 < EW_CHUNK ? size - i0 : EW_CHUNK);
    break;
  }
  eb_ctx_add_flops(ctx, unary_fwd[op] * (double)size, 0);
  eb__moved(ctx, 2.0 * size); /* x read, y written */
  eb_node *n = eb_tape_record(ctx, unary_backward, y, 1, &x);
  if (n) {
    n->iarg[0] = op;
    n->farg[0] = s;
  }
  return y;
}

/* a[...] * s -> a's shape */
eb_tensor *eb_scale(eb_ctx *ctx, eb_tensor *a, float s) {
  return unary(ctx, a, U_SCALE, s);
}
/* x[...] -> 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
eb_tensor *eb_gelu(eb_ctx *ctx, eb_tensor *x) { return unary(ctx, x, U_GELU, 0); }
/* x[...] -> x * sigmoid(x) */
eb_tensor *eb_silu(eb_ctx *ctx, eb_tensor *x) { return unary(ctx, x, U_SILU, 0); }
/* x[...] -> log(1 + exp(x)), x above 20 passes through */
eb_tensor *eb_softplus(eb_ctx *ctx, eb_tensor *x) { return unary(ctx, x, U_SOFTPLUS, 0); }
/* x[...] -> exp(x) */
eb_tensor *eb_exp(eb_ctx *ctx, eb_tensor *x) { return unary(ctx, x, U_EXP, 0); }
/* x[...] -> max(x, 0) */
eb_tensor *eb_relu(eb_ctx *ctx, eb_tensor *x) { return unary(ctx, x, U_RELU, 0); }
/* x[...] -> x above 0, exp(x) - 1 at and below (alpha 1) */
eb_tensor *eb_elu(eb_ctx *ctx, eb_tensor *x) { return unary(ctx, x, U_ELU, 0); }
/* x[...] -> elu(x) + 1: x + 1 above 0, exp(x) at and below */
eb_tensor *eb_elu1(eb_ctx *ctx, eb_tensor *x) { return unary(ctx, x, U_ELU1, 0); }

/* ---------------------------------------------------------- bias_gelu ---- */
/* Rows [r0, r1) of y = gelu(x + b), x[.,D]. A ragged row tail goes through a
 * padded copy, so every element gets the same arithmetic. */
EB_CLONES_MEM
static void bias_gelu_fwd_rows(const float *X, const float *Bv, float *Y, int64_t r0,
                               int64_t r1, int D) {
  for (int64_t r = r0; r < r1; r++) {
    const float *xr = X + r * D;
    float *yr = Y + r * D;
    int j = 0;
    for (; j + 16 <= D; j += 16)
      eb__v16_store(yr + j, gelu16(eb__v16_load(xr + j) + eb__v16_load(Bv + j)));
    for (; j + 8 <= D; j += 8)
      eb__v8_store(yr + j, gelu8(eb__v8_load(xr + j) + eb__v8_load(Bv + j)));
    if (j < D) {
      float t[8] = {0}, u[8] = {0};
      memcpy(t, xr + j, (size_t)(D - j) * sizeof(float));
      memcpy(u, Bv + j, (size_t)(D - j) * sizeof(float));
      eb__v8_store(t, gelu8(eb__v8_load(t) + eb__v8_load(u)));
      memcpy(yr + j, t, (size_t)(D - j) * sizeof(float));
    }
  }
}

/* Rows [r0, r1) of g = dy gelu'(x + b): dx (+)= g (dx NULL: skipped) and
 * pb[j] += g (pb NULL: skipped). */
EB_CLONES_MEM
static void bias_gelu_bwd_rows(const float *X, const float *Bv, const float *dy,
                               float *dx, int acc, float *pb, int64_t r0, int64_t r1,
                               int D) {
  for (int64_t r = r0; r < r1; r++) {
    const float *xr = X + r * D, *gr = dy + r * D;
    float *dxr = dx ? dx + r * D : NULL;
    int j = 0;
    for (; j + 16 <= D; j += 16) {
      eb_v16f g =
          eb__v16_load(gr + j) * gelu_grad16(eb__v16_load(xr + j) + eb__v16_load(Bv + j));
      if (dxr) eb__v16_store(dxr + j, acc ? eb__v16_load(dxr + j) + g : g);
      if (pb) eb__v16_store(pb + j, eb__v16_load(pb + j) + g);
    }
    for (; j + 8 <= D; j += 8) {
      eb_v8f g =
          eb__v8_load(gr + j) * gelu_grad8(eb__v8_load(xr + j) + eb__v8_load(Bv + j));
      if (dxr) eb__v8_store(dxr + j, acc ? eb__v8_load(dxr + j) + g : g);
      if (pb) eb__v8_store(pb + j, eb__v8_load(pb + j) + g);
    }
    if (j < D) {
      const size_t k = (size_t)(D - j) * sizeof(float);
      float t[8] = {0}, u[8] = {0}, w[8] = {0};
      memcpy(t, xr + j, k);
      memcpy(u, Bv + j, k);
      memcpy(w, gr + j, k);
      eb__v8_store(t, eb__v8_load(w) * gelu_grad8(eb__v8_load(t) + eb__v8_load(u)));
      for (int i = 0; i < D - j; i++) {
        if (dxr) EW_PUT(dxr[j + i], t[i]);
        if (pb) pb[j + i] += t[i];
      }
    }
  }
}

static void bias_gelu_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *b = n->in[1], *y = n->out;
  int fail = 0, fresh = 0;
  float *db = eb__grad_if(ctx, b, &fail);
  float *dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail || (!db && !dx)) return;
  const int64_t R = eb__rows(x), nb = eb__row_blocks(R);
  const int D = eb__last(x), acc = !fresh;
  float *part = NULL; /* [nb, D] partial bias gradients, added in block order */
  if (db) {
    part = eb_alloc(ctx, (size_t)nb * D * sizeof(float));
    if (!part) return;
    memset(part, 0, (size_t)nb * D * sizeof(float));
  }
  const float *X = x->data, *Bv = b->data, *dy = y->grad;
  EB_OMP("omp parallel for schedule(static) if (R * D > EB_PAR_MIN)")
  for (int64_t k = 0; k < nb; k++) {
    int64_t r0, r1;
    eb__row_block(k, R, &r0, &r1);
    bias_gelu_bwd_rows(X, Bv, dy, dx, acc, part ? part + k * D : NULL, r0, r1, D);
  }
  if (part) eb__add_partials(db, part, nb, D, D);
  /* as gelu's backward (dx) plus linear's bias gradient (db) */
  eb_ctx_add_flops(ctx, 0,
                   (double)x->size * ((dx ? EW_GELU_BWD : 0) + (db ? EW_ADD_BWD : 0)));
  /* x and dy read, dx written (and read when accumulating), b read, db read
   * and written */
  eb__moved(ctx,
            2.0 * x->size + (dx ? (1.0 + acc) * x->size : 0) + D + (db ? 2.0 * D : 0));
}

/* x[...,D], b[D] -> [...,D] = gelu(x + b) (tanh approximation): eb_linear's
 * bias and eb_gelu in one pass; backward recomputes x + b. */
eb_tensor *eb_bias_gelu(eb_ctx *ctx, eb_tensor *x, eb_tensor *b) {
  if (!x || !b) return NULL;
  const int D = eb__last(x);
  if (b->ndim != 1 || b->shape[0] != D) {
    eb_ctx_fail(ctx, EB_SHAPE, "bias_gelu: x %s, b %s: want x[...,D], b[D]", EB_SHAPE(x),
                EB_SHAPE(b));
    return NULL;
  }
  eb_tensor *y = eb_tensor_new(ctx, x->ndim, x->shape);
  if (!y) return NULL;
  const int64_t R = eb__rows(x), nb = eb__row_blocks(R);
  EB_OMP("omp parallel for schedule(static) if (R * D > EB_PAR_MIN)")
  for (int64_t k = 0; k < nb; k++) {
    int64_t r0, r1;
    eb__row_block(k, R, &r0, &r1);
    bias_gelu_fwd_rows(x->data, b->data, y->data, r0, r1, D);
  }
  /* as linear's bias add plus gelu */
  eb_ctx_add_flops(ctx, (EW_BINARY_FWD + EW_GELU_FWD) * (double)x->size, 0);
  eb__moved(ctx, 2.0 * x->size + D);
  eb_tensor *in[2] = {x, b};
  eb_tape_record(ctx, bias_gelu_backward, y, 2, in);
  return y;
}

/* ---------------------------------------------------------------- sum ---- */
static void sum_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0];
  int fail = 0, fresh = 0;
  float *dx = eb__grad_acc_if(ctx, x, &fresh, &fail);
  if (fail || !dx) return;
  const int acc = !fresh;
  float g = n->out->grad[0];
  int64_t size = x->size;
  EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
  for (int64_t i = 0; i < size; i++)
    EW_PUT(dx[i], g);
  eb_ctx_add_flops(ctx, 0, (double)size);
  eb__moved(ctx, (1.0 + acc) * size + 1);
}

/* x[...] -> [1], the sum of all elements (accumulated serially in double) */
eb_tensor *eb_sum(eb_ctx *ctx, eb_tensor *x) {
  if (!x) return NULL;
  int one = 1;
  eb_tensor *y = eb_tensor_new(ctx, 1, &one);
  if (!y) return NULL;
  double s = 0;
  for (int64_t i = 0; i < x->size; i++)
    s += x->data[i];
  y->data[0] = (float)s;
  eb_ctx_add_flops(ctx, (double)x->size, 0);
  eb__moved(ctx, (double)x->size + 1);
  eb_tape_record(ctx, sum_backward, y, 1, &x);
  return y;
}
