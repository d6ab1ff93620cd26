#include "train.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckpt.h"

double eb_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

eb_train_cfg eb_train_defaults(void) {
  eb_train_cfg c = {
      .steps = 500,
      .batch = 32,
      .warmup = 50,
      .lr = 1e-3f,
      .weight_decay = 0.0f,
      .decay_embeddings = 1,
      .clip = 1.0f,
      .schedule = EB_SCHED_RSQRT,
      .eval_every = 100,
      .eval_batches = 0,
      .time_budget_s = 0,
      .seed = 0,
      .checkpoint_s = 600,
  };
  return c;
}

const char *eb_run_status_name(eb_run_status s) {
  static const char *const names[] = {"done", "diverged", "timeout", "oom", "failed"};
  return (unsigned)s < 5 ? names[s] : "?";
}

/* The status of a run its failure ended: from the failure's kind alone. */
static eb_run_status status_of(eb_rc rc) {
  return rc == EB_NOMEM ? EB_RUN_OOM : EB_RUN_FAILED;
}

/* bytes of a B x N batch's buffers, counted by eb_mem_take */
static size_t batch_bytes(int B, int N, int pair) {
  size_t n = (size_t)B * N;
  return n * (sizeof(int32_t) + 1) * (pair ? 2 : 1) + (size_t)B * sizeof(int32_t);
}

int eb_batch_alloc(eb_batch *b, int B, int N, int pair) {
  memset(b, 0, sizeof *b);
  if (B < 0 || N < 0 || eb_mem_take(batch_bytes(B, N, pair))) return -1;
  b->B = B;
  b->N = N;
  size_t n = (size_t)B * N;
  b->tokens = malloc(n * sizeof *b->tokens);
  b->mask = malloc(n);
  b->labels = malloc((size_t)B * sizeof *b->labels);
  if (pair) {
    b->tokens2 = malloc(n * sizeof *b->tokens2);
    b->mask2 = malloc(n);
  }
  if (b->tokens && b->mask && b->labels && (!pair || (b->tokens2 && b->mask2))) return 0;
  free(b->tokens);
  free(b->mask);
  free(b->labels);
  free(b->tokens2);
  free(b->mask2);
  memset(b, 0, sizeof *b);
  eb_mem_give(batch_bytes(B, N, pair));
  return -1;
}

void eb_batch_free(eb_batch *b) {
  if (b->tokens) /* allocated by eb_batch_alloc (all or nothing) */
    eb_mem_give(batch_bytes(b->B, b->N, b->tokens2 != NULL));
  free(b->tokens);
  free(b->mask);
  free(b->labels);
  free(b->tokens2);
  free(b->mask2);
  memset(b, 0, sizeof *b);
}

static int64_t split_size(const eb_task_info *info, eb_split s) {
  return s == EB_SPLIT_TRAIN ? info->n_train
         : s == EB_SPLIT_VAL ? info->n_val
                             : info->n_test;
}

int eb_evaluate(eb_model *m, eb_ctx *ctx, const eb_task *task, void *task_data,
                const eb_task_info *info, eb_split split, int batch, int batches,
                double *loss, double *accuracy, double *majority, char *err,
                size_t errlen) {
  int64_t n = split_size(info, split);
  int64_t *counts = NULL; /* per label, for the majority-class share */
  int ncounts = 0;
  int64_t full = (n + batch - 1) / batch;
  if (batches <= 0 || batches > full) batches = (int)full;
  eb_batch b;
  if (eb_batch_alloc(&b, batch, info->max_len, info->mode == EB_INPUT_PAIR)) {
    eb_batch_free(&b);
    snprintf(err, errlen, "out of memory: %zu bytes asked for the evaluation batch",
             batch_bytes(batch, info->max_len, info->mode == EB_INPUT_PAIR));
    return EB_NOMEM;
  }
  int was_training = eb_ctx_training(ctx);
  eb_ctx_set_training(ctx, 0);
  eb_ctx_set_grad(ctx, 0);
  double sum_loss = 0;
  int64_t seen = 0, hits = 0;
  int rc = EB_OK;
  for (int i = 0; i < batches && rc == EB_OK; i++) {
    if (task->batch(task_data, split, i, 0, &b, err, errlen)) {
      rc = EB_IO; /* the plugin ABI gives no kind: the data could not be read */
      break;
    }
    /* the last batch wraps around: count only examples not seen yet */
    int64_t valid = n - (int64_t)i * batch;
    if (valid > batch) valid = batch;
    eb_ctx_reset(ctx);
    eb_tensor *logits = eb_model_logits(m, ctx, &b, err, errlen);
    if (!logits) {
      rc = eb_ctx_rc(ctx);
      break;
    }
    const int C = logits->shape[1];
    for (int r = 0; r < valid; r++) {
      const float *z = logits->data + (size_t)r * C;
      int arg = 0;
      float mx = z[0];
      for (int c = 1; c < C; c++)
        if (z[c] > mx) mx = z[arg = c];
      double se = 0;
      for (int c = 0; c < C; c++)
        se += exp((double)z[c] - mx);
      sum_loss += log(se) + mx - z[b.labels[r]];
      hits += arg == b.labels[r];
    }
    if (majority && !counts) {
      ncounts = C;
      counts = calloc((size_t)C, sizeof *counts);
      if (!counts) {
        snprintf(err, errlen, "out of memory: %zu bytes asked for the label counts",
                 (size_t)C * sizeof *counts);
        rc = EB_NOMEM;
        break;
      }
    }
    if (counts)
      for (int r = 0; r < valid; r++)
        if (b.labels[r] >= 0 && b.labels[r] < ncounts) counts[b.labels[r]]++;
    seen += valid;
  }
  eb_ctx_reset(ctx);
  eb_ctx_set_grad(ctx, 1);
  eb_ctx_set_training(ctx, was_training);
  eb_batch_free(&b);
  if (rc == EB_OK) {
    *loss = seen ? sum_loss / (double)seen : NAN;
    *accuracy = seen ? (double)hits / (double)seen : NAN;
    if (majority) {
      int64_t most = 0;
      for (int c = 0; c < ncounts; c++)
        if (counts[c] > most) most = counts[c];
      *majority = seen ? (double)most / (double)seen : NAN;
    }
  }
  free(counts);
  return rc;
}

static void note(const eb_train_hooks *hooks, const char *fmt, ...) {
  if (!hooks || !hooks->on_note) return;
  char msg[EB_ERR_LEN + 128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  hooks->on_note(hooks->user, msg);
}

/* the curve so far, kept for checkpoints */
typedef struct curve {
  eb_eval_point *p;
  int n, cap;
} curve;

static int curve_add(curve *c, const eb_eval_point *e) {
  if (c->n == c->cap) {
    int cap = c->cap ? 2 * c->cap : 16;
    eb_eval_point *n = realloc(c->p, (size_t)cap * sizeof *n);
    if (!n) return -1;
    c->p = n;
    c->cap = cap;
  }
  c->p[c->n++] = *e;
  return 0;
}

int eb_train_run(eb_model *m, const eb_task *task, void *task_data,
                 const eb_task_info *info, const eb_train_cfg *cfg,
                 const eb_train_hooks *hooks, eb_train_result *res, char *err,
                 size_t errlen) {
  memset(res, 0, sizeof *res);
  res->status = EB_RUN_FAILED;
  res->test_majority = NAN;
  res->params_total = eb_params_numel(m->P);
  const int64_t nparam = eb_params_padded(m->P);
  res->losses = malloc((size_t)(cfg->steps > 0 ? cfg->steps : 1) * sizeof(float));
  const size_t best_bytes = (size_t)nparam * sizeof(float);
  const int refused = eb_mem_take(best_bytes);
  float *best = refused ? NULL : malloc(best_bytes);
  if (!best && !refused) eb_mem_give(best_bytes);
  /* the arena's first chunk: 64 MiB, 1 MiB under a memory limit (it grows to
   * what a step needs) */
  const size_t arena = eb_mem_limit() ? (size_t)1 << 20 : (size_t)64 << 20;
  eb_ctx *ctx = best ? eb_ctx_create(arena, cfg->seed) : NULL;
  eb_batch b;
  memset(&b, 0, sizeof b);
  int balloc =
      ctx ? eb_batch_alloc(&b, cfg->batch, info->max_len, info->mode == EB_INPUT_PAIR)
          : -1;
  if (!res->losses || !best || !ctx || balloc) {
    const size_t asked = !res->losses ? (size_t)cfg->steps * sizeof(float)
                         : !best      ? best_bytes
                         : !ctx       ? arena
                                      : (size_t)cfg->batch * info->max_len * 5 *
                                      (info->mode == EB_INPUT_PAIR ? 2 : 1);
    snprintf(err, errlen, "out of memory setting up the run (%zu bytes asked for the %s)",
             asked,
             !res->losses ? "loss curve"
             : !best      ? "best-validation parameters"
             : !ctx       ? "activation arena"
                          : "batch buffers");
    if (best) eb_mem_give(best_bytes);
    free(best);
    eb_ctx_destroy(ctx);
    eb_batch_free(&b);
    res->status = EB_RUN_OOM;
    return EB_NOMEM;
  }
  memcpy(best, eb_params_data(m->P), (size_t)nparam * sizeof(float));
  eb_adam opt = eb_adam_lra(cfg->weight_decay);
  /* the embeddings decay or not by the run's switch, set both ways: the same
   * model may be trained again under another config */
  eb_param_set_decay(m->P, m->tok, cfg->decay_embeddings != 0);
  if (m->pos) /* learned positions only: fixed sinusoids are no parameter */
    eb_param_set_decay(m->P, m->pos, cfg->decay_embeddings != 0);
  double t0 = eb_now(), train_time = 0;
  double best_val = -1;
  int64_t real_tokens = 0, padded_tokens = 0;
  int rc = EB_OK, first = 1;
  curve cv = {NULL, 0, 0};
  float *state = eb_params_opt_state(m->P);
  eb_ckpt ck = {.steps = cfg->steps,
                .nparam = nparam,
                .losses = res->losses,
                .data = eb_params_data(m->P),
                .m = state,
                .v = state + nparam,
                .best = best};
  const int ckpt_on = cfg->checkpoint_path && cfg->run_key &&
                      (cfg->checkpoint_s > 0 || cfg->checkpoint_steps > 0);
  if (cfg->checkpoint_path && cfg->run_key) {
    /* an architecture may derive state from its initial parameters at its
     * first forward (performer's redraw seed): run one evaluation forward on
     * the fresh parameters before they are replaced by the checkpoint's */
    char cerr[EB_ERR_LEN];
    FILE *probe = fopen(cfg->checkpoint_path, "rb");
    if (probe) {
      fclose(probe);
      double l0, a0;
      if (eb_evaluate(m, ctx, task, task_data, info, EB_SPLIT_VAL, cfg->batch, 1, &l0,
                      &a0, NULL, cerr, sizeof cerr) == EB_OK) {
        int lrc =
            eb_ckpt_load(cfg->checkpoint_path, cfg->run_key, &ck, cerr, sizeof cerr);
        if (lrc < 0) note(hooks, "checkpoint ignored, starting afresh: %s", cerr);
        if (lrc == 0) {
          first = ck.step + 1;
          res->resumed_from = ck.step;
          res->steps_done = ck.step;
          best_val = ck.best_val;
          res->best_step = ck.best_step;
          train_time = ck.train_time;
          t0 = eb_now() - ck.elapsed;
          real_tokens = ck.real_tokens;
          padded_tokens = ck.padded_tokens;
          res->flops_train_step = ck.flops_train_step;
          res->model_flops_train_step = ck.model_flops_train_step;
          cv.p = ck.evals;
          cv.n = cv.cap = ck.nevals;
          for (int i = 0; i < cv.n; i++) {
            eb_eval_point e = cv.p[i];
            e.restored = 1;
            if (hooks && hooks->on_eval) hooks->on_eval(hooks->user, &e);
          }
          note(hooks, "resumed from the checkpoint at step %d/%d", ck.step, cfg->steps);
        }
      } else {
        note(hooks, "checkpoint ignored, starting afresh: %s", cerr);
      }
    }
  }
  double last_ckpt = eb_now();
  res->status = EB_RUN_DONE;
  for (int step = first; step <= cfg->steps; step++) {
    double ts = eb_now();
    if (task->batch(task_data, EB_SPLIT_TRAIN, step - 1, cfg->seed, &b, err, errlen)) {
      rc = EB_IO; /* as in eb_evaluate */
      res->status = EB_RUN_FAILED;
      break;
    }
    eb_ctx_reset(ctx);
    eb_ctx_set_step(ctx, (uint64_t)step);
    eb_ctx_set_training(ctx, 1);
    if (step == 1) eb_ctx_reset_flops(ctx);
    eb_params_zero_grad(m->P);
    eb_tensor *loss = eb_model_loss(m, ctx, &b, NULL, NULL, err, errlen);
    if (!loss || eb_backward(ctx, loss)) {
      if (loss) snprintf(err, errlen, "backward: %s", eb_ctx_error(ctx));
      rc = eb_ctx_rc(ctx);
      res->status = status_of(rc);
      break;
    }
    if (step == 1) {
      eb_flops f = eb_ctx_flops(ctx);
      res->flops_train_step = f.forward + f.backward;
      res->model_flops_train_step = res->flops_train_step - eb_ctx_recompute(ctx);
    }
    float lv = loss->data[0];
    res->losses[step - 1] = lv;
    res->steps_done = step;
    if (!isfinite(lv)) {
      snprintf(err, errlen, "training loss is %s at step %d", isnan(lv) ? "nan" : "inf",
               step);
      res->status = EB_RUN_DIVERGED;
      break;
    }
    if (step == cfg->inject_inf_grad) eb_params_grads(m->P)[0] = INFINITY;
    /* the norm is computed for clipping anyway: a NaN or inf in any gradient
     * makes it non-finite, while the loss may still be finite */
    double gnorm = eb_clip_grad_norm(m->P, cfg->clip);
    if (!isfinite(gnorm)) {
      snprintf(err, errlen, "gradient norm is %s at step %d (loss %g)",
               isnan(gnorm) ? "nan" : "inf", step, (double)lv);
      res->status = EB_RUN_DIVERGED;
      break;
    }
    eb_adam_step(m->P, &opt,
                 eb_lr_at(cfg->schedule, cfg->lr, step, cfg->warmup, cfg->steps), step);
    train_time += eb_now() - ts;
    real_tokens += b.real_tokens;
    padded_tokens += (int64_t)b.B * b.N;
    if (hooks && hooks->on_step)
      hooks->on_step(hooks->user, step, cfg->steps, lv,
                     train_time > 0 ? (double)real_tokens / train_time : 0);
    int last = step == cfg->steps;
    int timed_out = cfg->time_budget_s > 0 && eb_now() - t0 > cfg->time_budget_s;
    if ((cfg->eval_every > 0 && step % cfg->eval_every == 0) || last || timed_out) {
      double vl, va;
      if ((rc = eb_evaluate(m, ctx, task, task_data, info, EB_SPLIT_VAL, cfg->batch,
                            cfg->eval_batches, &vl, &va, NULL, err, errlen))) {
        res->status = status_of(rc);
        break;
      }
      eb_eval_point e = {step, EB_SPLIT_VAL, vl, va, eb_now() - t0, 0};
      if (hooks && hooks->on_eval) hooks->on_eval(hooks->user, &e);
      if (curve_add(&cv, &e)) {
        snprintf(err, errlen, "out of memory keeping the evaluation curve (%zu bytes)",
                 (size_t)(2 * cv.cap) * sizeof *cv.p);
        rc = EB_NOMEM;
        res->status = EB_RUN_OOM;
        break;
      }
      if (va > best_val) {
        best_val = va;
        res->best_step = step;
        memcpy(best, eb_params_data(m->P), (size_t)nparam * sizeof(float));
      }
    }
    if (timed_out && !last) {
      res->status = EB_RUN_TIMEOUT;
      break;
    }
    if (ckpt_on && !last &&
        ((cfg->checkpoint_steps > 0 && step % cfg->checkpoint_steps == 0) ||
         (cfg->checkpoint_s > 0 && eb_now() - last_ckpt >= cfg->checkpoint_s))) {
      ck.step = step;
      ck.best_step = res->best_step;
      ck.best_val = best_val;
      ck.train_time = train_time;
      ck.elapsed = eb_now() - t0;
      ck.real_tokens = real_tokens;
      ck.padded_tokens = padded_tokens;
      ck.flops_train_step = res->flops_train_step;
      ck.model_flops_train_step = res->model_flops_train_step;
      ck.nevals = cv.n;
      ck.evals = cv.p;
      char cerr[EB_ERR_LEN];
      if (eb_ckpt_save(cfg->checkpoint_path, cfg->run_key, &ck, cerr, sizeof cerr))
        note(hooks, "no checkpoint at step %d: %s", step, cerr);
      last_ckpt = eb_now();
    }
  }
  res->train_seconds = train_time;
  res->tokens_per_s = train_time > 0 ? (double)real_tokens / train_time : 0;
  res->padded_tokens_per_s = train_time > 0 ? (double)padded_tokens / train_time : 0;
  res->peak_mem_bytes = eb_ctx_arena_high_water(ctx) + eb_params_bytes(m->P);
  if (rc == EB_OK && best_val >= 0) {
    /* test accuracy at the best-validation parameters */
    memcpy(eb_params_data(m->P), best, (size_t)nparam * sizeof(float));
    res->val_accuracy = best_val;
    double tl, ta;
    if ((rc = eb_evaluate(m, ctx, task, task_data, info, EB_SPLIT_TEST, cfg->batch, 0,
                          &tl, &ta, &res->test_majority, err, errlen))) {
      res->status = status_of(rc);
    } else {
      res->test_accuracy = ta;
      res->test_loss = tl;
      res->test_count = split_size(info, EB_SPLIT_TEST);
      eb_eval_point e = {res->best_step, EB_SPLIT_TEST, tl, ta, eb_now() - t0, 0};
      if (hooks && hooks->on_eval) hooks->on_eval(hooks->user, &e);
    }
  }
  free(cv.p);
  eb_mem_give(best_bytes);
  free(best);
  eb_batch_free(&b);
  eb_ctx_destroy(ctx);
  return rc;
}
