/* Elementwise ops and the full sum. Per-element FLOP constants are the
 * EW_* values below; docs/flops.md explains how they were counted. */
#include <math.h>

#include "ops_util.h"

/* forward / backward (per input gradient) FLOPs per element */
#define EW_BINARY_FWD 1 /* add, sub, mul */
#define EW_ADD_BWD 1    /* dA += dY */
#define EW_MUL_BWD 2    /* dA += dY * B */
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

/* --------------------------------------------------- add / sub / mul ---- */
enum { OP_ADD, OP_SUB, OP_MUL };

/* a[...], b[...] (same shape, or a's trailing dims, broadcast over the rest). */
static void binary_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
  int op = n->iarg[0];
  int fail = 0;
  float *da = eb__grad_if(ctx, a, &fail);
  float *db = eb__grad_if(ctx, b, &fail);
  if (fail) return;
  const float *dy = y->grad;
  int64_t size = a->size, inner = b->size, outer = size / inner;
  double per = op == OP_MUL ? EW_MUL_BWD : EW_ADD_BWD;
  if (da) {
    if (op == OP_MUL) {
      EB_OMP("omp parallel for schedule(static) if (outer * inner > EB_PAR_MIN)")
      for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++)
          da[o * inner + j] += dy[o * inner + j] * b->data[j];
    } else {
      EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
      for (int64_t i = 0; i < size; i++)
        da[i] += dy[i];
    }
  }
  if (db) {
    /* broadcast: sum over the leading dims in row order (deterministic) */
    for (int64_t o = 0; o < outer; o++) {
      const float *g = dy + o * inner, *av = a->data + o * inner;
      if (op == OP_MUL)
        for (int64_t j = 0; j < inner; j++)
          db[j] += g[j] * av[j];
      else if (op == OP_SUB)
        for (int64_t j = 0; j < inner; j++)
          db[j] -= g[j];
      else
        for (int64_t j = 0; j < inner; j++)
          db[j] += g[j];
    }
  }
  eb_ctx_add_flops(ctx, 0, per * (double)size * ((da != NULL) + (db != NULL)));
}

static eb_tensor *binary(eb_ctx *ctx, eb_tensor *a, eb_tensor *b, int op) {
  static const char *names[] = {"add", "sub", "mul"};
  if (!a || !b) return NULL;
  if (!eb__is_trailing(a, b)) {
    eb_ctx_set_error(ctx, "%s: b %s must equal a %s or its trailing dims", names[op],
                     EB_SHAPE(b), EB_SHAPE(a));
    return NULL;
  }
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
    else
      for (int64_t j = 0; j < inner; j++)
        yr[j] = ar[j] * B[j];
  }
  eb_ctx_add_flops(ctx, EW_BINARY_FWD * (double)a->size, 0);
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

/* -------------------------------------------------------------- unary ---- */
enum { U_SCALE, U_GELU, U_SILU, U_SOFTPLUS, U_EXP, U_RELU };

static const double unary_fwd[] = {EW_SCALE_FWD,    EW_GELU_FWD, EW_SILU_FWD,
                                   EW_SOFTPLUS_FWD, EW_EXP_FWD,  EW_RELU_FWD};
static const double unary_bwd[] = {EW_SCALE_BWD,    EW_GELU_BWD, EW_SILU_BWD,
                                   EW_SOFTPLUS_BWD, EW_EXP_BWD,  EW_RELU_BWD};

#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

static void unary_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0], *y = n->out;
  int fail = 0;
  float *dx = eb__grad_if(ctx, x, &fail);
  if (fail || !dx) return;
  const float *X = x->data, *Y = y->data, *dy = y->grad;
  int64_t size = x->size;
  float s = n->farg[0];
  switch (n->iarg[0]) {
  case U_SCALE:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      dx[i] += dy[i] * s;
    break;
  case U_GELU:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++) {
      float v = X[i], v2 = v * v;
      float t = tanhf(GELU_C * (v + GELU_A * v2 * v));
      float du = GELU_C * (1.0f + 3.0f * GELU_A * v2);
      dx[i] += dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
    }
    break;
  case U_SILU:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++) {
      float sg = 1.0f / (1.0f + expf(-X[i]));
      dx[i] += dy[i] * (sg * (1.0f + X[i] * (1.0f - sg)));
    }
    break;
  case U_SOFTPLUS:
    /* like torch (beta 1, threshold 20): gradient exactly dy above 20 */
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      dx[i] += X[i] > 20.0f ? dy[i] : dy[i] / (1.0f + expf(-X[i]));
    break;
  case U_EXP:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      dx[i] += dy[i] * Y[i];
    break;
  case U_RELU:
    EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
    for (int64_t i = 0; i < size; i++)
      dx[i] += X[i] > 0.0f ? dy[i] : 0.0f;
    break;
  }
  eb_ctx_add_flops(ctx, 0, unary_bwd[n->iarg[0]] * (double)size);
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
    for (int64_t i = 0; i < size; i++) {
      float v = X[i];
      Y[i] = 0.5f * v * (1.0f + tanhf(GELU_C * (v + GELU_A * v * v * v)));
    }
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
  }
  eb_ctx_add_flops(ctx, unary_fwd[op] * (double)size, 0);
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

/* ---------------------------------------------------------------- sum ---- */
static void sum_backward(eb_ctx *ctx, eb_node *n) {
  eb_tensor *x = n->in[0];
  int fail = 0;
  float *dx = eb__grad_if(ctx, x, &fail);
  if (fail || !dx) return;
  float g = n->out->grad[0];
  int64_t size = x->size;
  EB_OMP("omp parallel for schedule(static) if (size > EB_PAR_MIN)")
  for (int64_t i = 0; i < size; i++)
    dx[i] += g;
  eb_ctx_add_flops(ctx, 0, (double)size);
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
  eb_tape_record(ctx, sum_backward, y, 1, &x);
  return y;
}
