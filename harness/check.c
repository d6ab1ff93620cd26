#include "check.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"
#include "train.h"

eb_check_cfg eb_check_defaults(void) {
  return (eb_check_cfg){.batch = 4,
                        .len = 16,
                        .vocab = 32,
                        .classes = 4,
                        .samples = 6,
                        .steps = 3,
                        .threads = 1,
                        .tol = 2e-2,
                        .seed = 0};
}

const char *eb_check_result_name(eb_check_result r) {
  return r == EB_CHECK_OK ? "ok" : r == EB_CHECK_FAIL ? "FAIL" : "skipped";
}

void eb_fill_padded_batch(int32_t *tokens, uint8_t *mask, int32_t *labels, int B, int N,
                          int vocab, int classes, uint64_t seed) {
  eb_rng r = eb_rng_make(seed, 0xE4F0);
  for (int b = 0; b < B; b++) {
    int keep = N - (int)((long)b * N / (2 * B));
    for (int t = 0; t < N; t++) {
      int real = t < keep;
      mask[b * N + t] = (uint8_t)real;
      tokens[b * N + t] =
          real ? 1 + (int32_t)(eb_rng_u64(&r) % (uint64_t)(vocab - 1)) : 0;
    }
    labels[b] = (int32_t)(eb_rng_u64(&r) % (uint64_t)classes);
  }
}

int eb_fd_probe(eb_ctx *ctx, eb_loss_fn loss, void *user, eb_tensor *t, int64_t i,
                float h, double *fp, double *fm, double *hp, double *hm) {
  const float keep = t->data[i];
  const float up = keep + h, down = keep - h;
  *hp = (double)up - (double)keep;
  *hm = (double)keep - (double)down;
  eb_ctx_set_grad(ctx, 0);
  t->data[i] = up;
  eb_ctx_reset(ctx);
  eb_tensor *lp = loss(ctx, user);
  *fp = lp ? lp->data[0] : NAN;
  t->data[i] = down;
  eb_ctx_reset(ctx);
  eb_tensor *lm = loss(ctx, user);
  *fm = lm ? lm->data[0] : NAN;
  t->data[i] = keep;
  eb_ctx_reset(ctx);
  eb_ctx_set_grad(ctx, 1);
  return lp && lm ? 0 : -1;
}

static void row(eb_check_report *rep, const char *check, eb_check_result r,
                const char *fmt, ...) {
  if (r == EB_CHECK_FAIL) rep->failures++;
  if (rep->n == EB_CHECK_MAX_ROWS) return;
  eb_check_row *w = &rep->row[rep->n++];
  snprintf(w->check, sizeof w->check, "%s", check);
  w->result = r;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->detail, sizeof w->detail, fmt, ap);
  va_end(ap);
}

/* ------------------------------------------------------------ batches ---- */
/* A seeded batch of B x N with padding (both towers for pair models). */
static int make_batch(eb_batch *b, const eb_check_cfg *c, int N, uint64_t seed) {
  if (eb_batch_alloc(b, c->batch, N, c->pair)) return -1;
  eb_fill_padded_batch(b->tokens, b->mask, b->labels, c->batch, N, c->vocab, c->classes,
                       seed);
  if (c->pair) { /* the second tower: other tokens, the same labels */
    int32_t *labels = malloc((size_t)c->batch * sizeof *labels);
    if (!labels) return eb_batch_free(b), -1;
    eb_fill_padded_batch(b->tokens2, b->mask2, labels, c->batch, N, c->vocab, c->classes,
                         seed + 1);
    free(labels);
  }
  return 0;
}

/* every position real: the batch the analytic FLOPs describe */
static void unpad(eb_batch *b, int vocab) {
  for (int64_t i = 0; i < (int64_t)b->B * b->N; i++) {
    if (!b->mask[i]) b->tokens[i] = 1 + (int32_t)(i % (vocab - 1));
    b->mask[i] = 1;
    if (b->tokens2) {
      if (!b->mask2[i]) b->tokens2[i] = 1 + (int32_t)(i % (vocab - 1));
      b->mask2[i] = 1;
    }
  }
}

/* ------------------------------------------------------------- losses ---- */
typedef struct loss_user {
  eb_model *m;
  const eb_batch *b;
  char err[EB_ERR_LEN];
} loss_user;

static eb_tensor *model_loss(eb_ctx *ctx, void *user) {
  loss_user *u = user;
  return eb_model_loss(u->m, ctx, u->b, NULL, NULL, u->err, sizeof u->err);
}

/* ---------------------------------------------------------- gradients ---- */
/* The float loss's rounding: a central difference of step h is trusted to
 * about this much, in absolute terms. */
static double fd_noise(double f0, double h) {
  return 4.0 * FLT_EPSILON * fmax(1.0, fabs(f0)) / h;
}

typedef enum probe_kind { PROBE_OK, PROBE_KINK, PROBE_WRONG } probe_kind;

typedef struct probe_out {
  double numeric, plus, minus, step, ratio; /* ratio: error over tolerance */
} probe_out;

/* Element i of t against its analytic gradient a: central difference with
 * step h; where it disagrees and the one-sided differences disagree with each
 * other by as much, the element sits on a kink (ReLU, max, a routing
 * decision) and is probed once more with a step 16x smaller before calling it
 * one. */
static probe_kind probe(eb_ctx *ctx, loss_user *u, eb_tensor *t, int64_t i, double a,
                        double f0, float h, double tol, probe_out *o) {
  for (int attempt = 0; attempt < 2; attempt++, h /= 16) {
    double fp, fm, hp, hm;
    if (eb_fd_probe(ctx, model_loss, u, t, i, h, &fp, &fm, &hp, &hm)) return PROBE_WRONG;
    const double c = (fp - fm) / (hp + hm), dp = (fp - f0) / hp, dm = (f0 - fm) / hm;
    const double atol = fd_noise(f0, h), diff = fabs(a - c);
    *o = (probe_out){c, dp, dm, h, diff / (tol * fmax(fabs(a), fabs(c)) + atol)};
    if (o->ratio <= 1) return PROBE_OK;
    const int kink = fabs(dp - dm) >= diff && fabs(dp - dm) > 2 * atol;
    if (!kink) return PROBE_WRONG;
  }
  return PROBE_KINK;
}

static void check_gradients(eb_model *m, eb_ctx *ctx, const eb_batch *b,
                            const eb_check_cfg *c, eb_check_report *rep) {
  loss_user u = {.m = m, .b = b};
  /* training mode at a fixed step: the aux loss is in, and dropout masks are
   * the same in every pass */
  eb_ctx_reset(ctx);
  eb_ctx_set_step(ctx, 1);
  eb_ctx_set_training(ctx, 1);
  eb_ctx_set_grad(ctx, 1);
  eb_params_zero_grad(m->P);
  eb_tensor *L = model_loss(ctx, &u);
  if (!L || eb_backward(ctx, L)) {
    row(rep, "gradients", EB_CHECK_FAIL, "forward/backward failed: %s",
        L ? eb_ctx_error(ctx) : u.err);
    return;
  }
  const int np = eb_params_count(m->P);
  float *an = malloc((size_t)eb_params_numel(m->P) * sizeof *an);
  if (!an) {
    row(rep, "gradients", EB_CHECK_FAIL, "out of memory");
    return;
  }
  int64_t off = 0;
  for (int p = 0; p < np; p++) {
    eb_tensor *t = eb_params_get(m->P, p);
    if (!t->requires_grad) continue;
    memcpy(an + off, t->grad, (size_t)t->size * sizeof *an);
    off += t->size;
  }
  eb_ctx_reset(ctx);
  eb_ctx_set_grad(ctx, 0);
  L = model_loss(ctx, &u);
  const double f0 = L ? L->data[0] : NAN;
  eb_ctx_reset(ctx);
  eb_ctx_set_grad(ctx, 1);
  eb_rng r = eb_rng_make(c->seed, 0xC4EC);
  int probed = 0, tensors = 0, kinks = 0, wrong = 0, wrong_tensors = 0;
  double worst = 0;
  char worst_at[96] = "", kink_at[96] = "";
  off = 0;
  for (int p = 0; p < np; p++) {
    eb_tensor *t = eb_params_get(m->P, p);
    if (!t->requires_grad) continue;
    const float *g = an + off;
    off += t->size;
    tensors++;
    /* the step follows the tensor's scale: 1% of its RMS, at least 1e-3 */
    double ss = 0;
    for (int64_t i = 0; i < t->size; i++)
      ss += (double)t->data[i] * t->data[i];
    const float h = (float)(1e-2 * fmax(sqrt(ss / (double)t->size), 0.1));
    int bad = 0;
    for (int k = 0; k < c->samples && k < t->size; k++) {
      const int64_t i = t->size <= c->samples ? k : (int64_t)(eb_rng_u64(&r) % t->size);
      probe_out o = {0};
      probe_kind pk = probe(ctx, &u, t, i, g[i], f0, h, c->tol, &o);
      probed++;
      if (pk == PROBE_KINK) {
        if (!kinks++)
          snprintf(kink_at, sizeof kink_at, "%s[%lld]", t->name, (long long)i);
      } else if (pk == PROBE_WRONG) {
        wrong++;
        if (!bad++ && ++wrong_tensors <= 4) {
          char what[sizeof rep->row[0].check];
          snprintf(what, sizeof what, "gradient %s", t->name);
          row(rep, what, EB_CHECK_FAIL,
              "[%lld]: analytic %.6g, numeric %.6g (one-sided %.6g / %.6g, step %.3g)",
              (long long)i, g[i], o.numeric, o.plus, o.minus, o.step);
          rep->failures--; /* counted once, in the summary row */
        }
      } else if (o.ratio > worst) {
        worst = o.ratio;
        snprintf(worst_at, sizeof worst_at, "%s[%lld]", t->name, (long long)i);
      }
    }
  }
  free(an);
  char kinkmsg[160] = "";
  if (kinks)
    snprintf(kinkmsg, sizeof kinkmsg, "; %d on a kink (non-smooth point), e.g. %s", kinks,
             kink_at);
  if (wrong)
    row(rep, "gradients", EB_CHECK_FAIL,
        "%d of %d probed elements disagree, in %d of %d tensors%s", wrong, probed,
        wrong_tensors, tensors, kinkmsg);
  else
    row(rep, "gradients", EB_CHECK_OK,
        "%d elements of %d tensors; worst %.2f of tolerance%s%s%s", probed, tensors,
        worst, worst_at[0] ? " at " : "", worst_at, kinkmsg);
}

/* -------------------------------------------------------------- FLOPs ---- */
static void check_flops(eb_model *m, eb_ctx *ctx, const eb_batch *b,
                        eb_check_report *rep) {
  const int B = b->B, N = b->N;
  double counted[2] = {0}, gemm[2] = {0}, recompute[2] = {0};
  for (int training = 0; training <= 1; training++) {
    char err[EB_ERR_LEN] = "";
    eb_ctx_reset(ctx);
    eb_ctx_reset_flops(ctx);
    eb_ctx_set_step(ctx, 1);
    eb_ctx_set_training(ctx, training);
    eb_ctx_set_grad(ctx, training);
    eb_params_zero_grad(m->P);
    eb_tensor *L = eb_model_loss(m, ctx, b, NULL, NULL, err, sizeof err);
    if (!L || (training && eb_backward(ctx, L))) {
      row(rep, "flops", EB_CHECK_FAIL, "step failed: %s", L ? eb_ctx_error(ctx) : err);
      return;
    }
    eb_flops f = eb_ctx_flops(ctx);
    counted[training] = f.forward + f.backward;
    gemm[training] = eb_ctx_gemm_flops(ctx);
    recompute[training] = eb_ctx_gemm_recompute(ctx);
  }
  eb_ctx_reset(ctx);
  eb_ctx_set_grad(ctx, 1);
  const double fwd = eb_model_flops(m, B, N, 0), step = eb_model_flops(m, B, N, 1);
  if (fwd < 0 || step < 0) {
    row(rep, "flops", EB_CHECK_SKIP, "the arch has no flops(): counted %.0f per step",
        counted[1]);
  } else {
    const double ef = fabs(counted[0] - fwd) / fwd, es = fabs(counted[1] - step) / step;
    row(rep, "flops", ef <= 1e-9 && es <= 1e-9 ? EB_CHECK_OK : EB_CHECK_FAIL,
        "B=%d N=%d: forward counted %.0f vs analytic %.0f, training step %.0f vs %.0f", B,
        N, counted[0], fwd, counted[1], step);
  }
  double model[2], exec[2];
  if (eb_model_gemm_flops(m, B, N, 0, &model[0], &exec[0]) ||
      eb_model_gemm_flops(m, B, N, 1, &model[1], &exec[1])) {
    row(rep, "gemm flops", EB_CHECK_SKIP, "the arch has no gemm_flops(): counted %.0f",
        gemm[1]);
    return;
  }
  /* exact: the counter adds integers 2*m*n*k */
  const int ok = gemm[0] == exec[0] && gemm[0] - recompute[0] == model[0] &&
                 gemm[1] == exec[1] && gemm[1] - recompute[1] == model[1];
  row(rep, "gemm flops", ok ? EB_CHECK_OK : EB_CHECK_FAIL,
      "executed forward %.0f vs analytic %.0f, step %.0f vs %.0f; model (less recompute) "
      "step %.0f vs %.0f",
      gemm[0], exec[0], gemm[1], exec[1], gemm[1] - recompute[1], model[1]);
}

/* --------------------------------------------------------- parameters ---- */
static void check_params(eb_model *m, const eb_arch *arch, const eb_model_config *mcfg,
                         const eb_args *args, const eb_check_cfg *c,
                         eb_check_report *rep) {
  int64_t declared = 0, trainable = 0, shared = 0, buffers = 0;
  double ft;
  char err[EB_ERR_LEN];
  if (eb_model_counts(arch, mcfg, args, c->vocab, c->classes, c->len, c->pair, &declared,
                      &ft, err, sizeof err)) {
    row(rep, "parameters", EB_CHECK_FAIL, "%s", err);
    return;
  }
  static const char *const outer[] = {
      "embed.tok", "embed.pos",  "final_ln.g", "final_ln.b",  "head.w",
      "head.b",    "head.mlp.w", "head.mlp.b", "head.pair.w", "head.pair.b"};
  for (int p = 0; p < eb_params_count(m->P); p++) {
    const eb_tensor *t = eb_params_get(m->P, p);
    if (!t->requires_grad) {
      buffers += t->size;
      continue;
    }
    trainable += t->size;
    for (size_t k = 0; k < sizeof outer / sizeof *outer; k++)
      if (!strcmp(t->name, outer[k])) shared += t->size;
  }
  const int64_t numel = eb_params_numel(m->P);
  row(rep, "parameters",
      declared == numel && numel == trainable ? EB_CHECK_OK : EB_CHECK_FAIL,
      "%lld trainable (arch %lld, embedding and head %lld)%s; counted without building: "
      "%lld",
      (long long)numel, (long long)(trainable - shared), (long long)shared,
      buffers ? ", plus buffers" : "", (long long)declared);
}

/* -------------------------------------------------------- determinism ---- */
/* A few Adam steps on batch b from a fresh model: the losses into out. */
static int train_losses(const eb_arch *arch, const eb_model_config *mcfg,
                        const eb_args *args, const eb_check_cfg *c, const eb_batch *b,
                        int threads, float *out, char *err, size_t errlen) {
  eb_model m;
  if (eb_model_create(&m, arch, mcfg, args, c->vocab, c->classes, c->len, c->pair,
                      c->seed, err, errlen))
    return -1;
  eb_ctx *ctx = eb_ctx_create((size_t)4 << 20, c->seed);
  if (!ctx) {
    eb_model_destroy(&m);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  eb_set_threads(threads);
  const eb_adam opt = eb_adam_lra(0.01f);
  int rc = 0;
  for (int s = 1; s <= c->steps && !rc; s++) {
    eb_ctx_reset(ctx);
    eb_ctx_set_step(ctx, (uint64_t)s);
    eb_ctx_set_training(ctx, 1);
    eb_ctx_set_grad(ctx, 1);
    eb_params_zero_grad(m.P);
    eb_tensor *L = eb_model_loss(&m, ctx, b, NULL, NULL, err, errlen);
    if (!L || eb_backward(ctx, L)) {
      if (L) snprintf(err, errlen, "step %d: %s", s, eb_ctx_error(ctx));
      rc = -1;
      break;
    }
    out[s - 1] = L->data[0];
    eb_adam_step(m.P, &opt, 1e-3f, s);
  }
  eb_set_threads(c->threads);
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m);
  return rc;
}

static void check_determinism(const eb_arch *arch, const eb_model_config *mcfg,
                              const eb_args *args, const eb_check_cfg *c,
                              const eb_batch *b, eb_check_report *rep) {
  const int S = c->steps;
  float *l = calloc((size_t)3 * S, sizeof *l);
  char err[EB_ERR_LEN] = "";
  if (!l) {
    row(rep, "determinism", EB_CHECK_FAIL, "out of memory");
    return;
  }
  /* runs: 1 thread, 1 thread again, 2 threads */
  static const int threads[3] = {1, 1, 2};
  for (int k = 0; k < 3; k++)
    if (train_losses(arch, mcfg, args, c, b, threads[k], l + k * S, err, sizeof err)) {
      row(rep, "determinism", EB_CHECK_FAIL, "%s", err);
      free(l);
      return;
    }
  for (int k = 1; k < 3; k++)
    for (int s = 0; s < S; s++)
      if (memcmp(&l[s], &l[k * S + s], sizeof *l)) {
        row(rep, "determinism", EB_CHECK_FAIL,
            "step %d: loss %.9g with 1 thread, %.9g %s", s + 1, l[s], l[k * S + s],
            k == 1 ? "with the same seed again" : "with 2 threads");
        free(l);
        return;
      }
  row(rep, "determinism", EB_CHECK_OK,
      "%d training steps bit-identical: same seed twice, 1 vs 2 threads (last loss %.6g)",
      S, l[S - 1]);
  free(l);
}

/* ------------------------------------------------------------ padding ---- */
/* logits of batch b (inference) into out[B*classes] */
static int logits_of(eb_model *m, eb_ctx *ctx, const eb_batch *b, float *out, char *err,
                     size_t errlen) {
  eb_ctx_reset(ctx);
  eb_ctx_set_training(ctx, 0);
  eb_ctx_set_grad(ctx, 0);
  eb_tensor *y = eb_model_logits(m, ctx, b, err, errlen);
  if (y) memcpy(out, y->data, (size_t)y->size * sizeof *out);
  eb_ctx_reset(ctx);
  eb_ctx_set_grad(ctx, 1);
  return y ? 0 : -1;
}

/* copy src (B x n) into dst (B x N, N >= n): the rest padding */
static void copy_padded(int32_t *dt, uint8_t *dm, const int32_t *st, const uint8_t *sm,
                        int B, int n, int N) {
  for (int b = 0; b < B; b++)
    for (int t = 0; t < N; t++) {
      dt[b * N + t] = t < n ? st[b * n + t] : 0;
      dm[b * N + t] = t < n ? sm[b * n + t] : 0;
    }
}

static double max_diff(const float *a, const float *b, int n, double *scale) {
  double d = 0;
  *scale = 1;
  for (int i = 0; i < n; i++) {
    d = fmax(d, fabs((double)a[i] - b[i]));
    if (!(a[i] == a[i]) || !(b[i] == b[i])) d = INFINITY;
    *scale = fmax(*scale, fabs((double)b[i]));
  }
  return d;
}

static void check_padding(eb_model *m, eb_ctx *ctx, const eb_check_cfg *c,
                          eb_check_report *rep) {
  const int B = c->batch, N = c->len, P = N / 4 > 0 ? N / 4 : 1, n = N - P;
  const int C = c->classes;
  char err[EB_ERR_LEN] = "";
  if (n < 1) {
    row(rep, "padding", EB_CHECK_SKIP, "--len %d leaves no room for padding", N);
    return;
  }
  eb_batch s, t, g;
  float *ls = malloc((size_t)3 * B * C * sizeof *ls);
  int ok = ls && !make_batch(&s, c, n, c->seed + 17);
  ok = ok && !eb_batch_alloc(&t, B, N, c->pair);
  ok = ok && !eb_batch_alloc(&g, B, n, c->pair);
  if (!ok) {
    row(rep, "padding", EB_CHECK_FAIL, "out of memory");
    free(ls);
    return;
  }
  /* t: s with P padding positions appended; g: s with random ids under its
   * padding */
  copy_padded(t.tokens, t.mask, s.tokens, s.mask, B, n, N);
  memcpy(g.tokens, s.tokens, (size_t)B * n * sizeof *g.tokens);
  memcpy(g.mask, s.mask, (size_t)B * n);
  if (c->pair) {
    copy_padded(t.tokens2, t.mask2, s.tokens2, s.mask2, B, n, N);
    memcpy(g.tokens2, s.tokens2, (size_t)B * n * sizeof *g.tokens2);
    memcpy(g.mask2, s.mask2, (size_t)B * n);
  }
  for (int i = 0; i < B * n; i++) {
    if (!g.mask[i]) g.tokens[i] = 1 + (int32_t)((7 * i + 3) % (c->vocab - 1));
    if (c->pair && !g.mask2[i])
      g.tokens2[i] = 1 + (int32_t)((5 * i + 2) % (c->vocab - 1));
  }
  memcpy(t.labels, s.labels, (size_t)B * sizeof *t.labels);
  memcpy(g.labels, s.labels, (size_t)B * sizeof *g.labels);
  if (logits_of(m, ctx, &s, ls, err, sizeof err) ||
      logits_of(m, ctx, &t, ls + B * C, err, sizeof err) ||
      logits_of(m, ctx, &g, ls + 2 * B * C, err, sizeof err)) {
    row(rep, "padding", EB_CHECK_FAIL, "forward failed: %s", err);
  } else {
    double sc1, sc2;
    const double d_app = max_diff(ls + B * C, ls, B * C, &sc1);
    const double d_ids = max_diff(ls + 2 * B * C, ls, B * C, &sc2);
    const int fine = d_app <= 1e-4 * sc1 && d_ids <= 1e-4 * sc2;
    row(rep, "padding", fine ? EB_CHECK_OK : EB_CHECK_FAIL,
        "logits of %d sequences of length %d: %d padding positions appended change them "
        "by %.3g, other ids under the padding by %.3g (tolerance 1e-4 x %.3g)",
        B, n, P, d_app, d_ids, fmax(sc1, sc2));
  }
  free(ls);
  eb_batch_free(&s);
  eb_batch_free(&t);
  eb_batch_free(&g);
}

/* --------------------------------------------------------------- all ---- */
int eb_check_arch(const eb_arch *arch, const eb_model_config *mcfg, const eb_args *args,
                  const eb_check_cfg *c, eb_check_report *rep, char *err, size_t errlen) {
  memset(rep, 0, sizeof *rep);
  eb_model m;
  int rc = eb_model_create(&m, arch, mcfg, args, c->vocab, c->classes, c->len, c->pair,
                           c->seed, err, errlen);
  if (rc) return rc;
  eb_ctx *ctx = eb_ctx_create((size_t)4 << 20, c->seed);
  eb_batch b, full;
  int have_b = 0, have_full = 0;
  if (!ctx || make_batch(&b, c, c->len, c->seed) || !(have_b = 1) ||
      make_batch(&full, c, c->len, c->seed) || !(have_full = 1)) {
    snprintf(err, errlen, "out of memory");
    rc = EB_NOMEM;
    goto done;
  }
  unpad(&full, c->vocab);
  check_gradients(&m, ctx, &b, c, rep);
  check_flops(&m, ctx, &full, rep);
  check_params(&m, arch, mcfg, args, c, rep);
  check_determinism(arch, mcfg, args, c, &b, rep);
  check_padding(&m, ctx, c, rep);
  rc = EB_OK;
done:
  if (have_b) eb_batch_free(&b);
  if (have_full) eb_batch_free(&full);
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m);
  return rc;
}
