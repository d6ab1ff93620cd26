#include "run.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>
#include <unistd.h>

#include "bench.h"
#include "ckpt.h"
#include "export.h"
#include "gemm.h"
#include "json.h"
#include "match.h"
#include "model.h"
#include "peak.h"
#include "registry.h"
#include "store.h"
#include "source.h" /* eb_sha256_file: the executable's digest */
#include "version.h"

#ifndef EFFBENCH_COMPILER
#define EFFBENCH_COMPILER "unknown"
#endif
#ifndef EFFBENCH_C_FLAGS
#define EFFBENCH_C_FLAGS ""
#endif

static void say(const eb_run_opts *o, int transient, const char *fmt, ...) {
  if (!o->print) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  o->print(o->user, transient, line);
}

/* --------------------------------------------------- JSON events ---- */
/* One progress event as a JSON object (eb_run_opts.event). ev_* append
 * "key":value pairs; a number that is not finite is null (JSON has no NaN). */
#define EV_MAX 2048 /* bytes of an event, with its NUL */

typedef struct evbuf {
  eb_sbuf b;
  eb_json w;
} evbuf;

static void ev_begin(evbuf *b, const char *event) {
  b->b = (eb_sbuf){0};
  eb_json_init(&b->w, &b->b);
  eb_json_open(&b->w, '{');
  eb_json_key(&b->w, "event");
  eb_json_string(&b->w, event);
}

static void ev_str(evbuf *b, const char *key, const char *v) {
  eb_json_key(&b->w, key);
  eb_json_string(&b->w, v); /* NULL: null */
}

static void ev_num(evbuf *b, const char *key, double v) {
  eb_json_key(&b->w, key);
  eb_json_num(&b->w, "%.9g", v);
}

static void ev_int(evbuf *b, const char *key, long long v) {
  eb_json_key(&b->w, key);
  eb_json_int(&b->w, v);
}

static void ev_end(const eb_run_opts *o, evbuf *b) {
  eb_json_close(&b->w);
  char *s = eb_sb_take(&b->b);
  /* too long (a huge label or error) or out of memory: cut, still JSON */
  o->event(o->user, s && strlen(s) < EV_MAX ? s : "{\"event\":\"truncated\"}");
  free(s);
}

/* The suite's clock: the mean time of the runs this process trained so far
 * times the selected runs still ahead is the suite's ETA (null until one
 * run has finished). */
typedef struct suite_clock {
  double t0, trained_s;
  int trained;
} suite_clock;

static double suite_eta(const suite_clock *c, double run_eta, int index, int total) {
  if (!c || c->trained == 0) return NAN;
  return run_eta + c->trained_s / c->trained * (total - index);
}

int eb_shard_from_env(int *shard_i, int *shard_n, char *err, size_t errlen) {
  const char *id = getenv("SLURM_ARRAY_TASK_ID"),
             *count = getenv("SLURM_ARRAY_TASK_COUNT");
  if (!id || !count) return 0;
  char *e1, *e2;
  long i = strtol(id, &e1, 10), n = strtol(count, &e2, 10);
  if (*e1 || *e2 || n < 1 || i < 0 || i >= n) {
    snprintf(err, errlen,
             "SLURM_ARRAY_TASK_ID=%s / SLURM_ARRAY_TASK_COUNT=%s do not name a shard "
             "(need 0 <= ID < COUNT; use --array=0-N)",
             id, count);
    return EB_INPUT;
  }
  *shard_i = (int)i;
  *shard_n = (int)n;
  return 0;
}

/* ------------------------------------------------------------ data ---- */
typedef struct data_slot {
  const char *task_json;
  const eb_task *task;
  void *data;
  eb_task_info info;
} data_slot;

static int data_for(data_slot *d, const eb_suite *s, const eb_suite_run *r, char *err,
                    size_t errlen) {
  if (d->task_json && !strcmp(d->task_json, r->task_json)) return 0;
  if (d->task && d->data && d->task->close) d->task->close(d->data);
  memset(d, 0, sizeof *d);
  /* a task whose open failed for want of memory (an allocation, which leaves
   * errno ENOMEM) makes the run `oom`; the value open returns is not read as
   * a kind (the plugin contract says only: nonzero on failure) */
  errno = 0;
  if (r->task->open(&r->task_args.args, (uint64_t)s->data_seed, &d->data, &d->info, err,
                    errlen))
    return errno == ENOMEM ? EB_NOMEM : EB_INPUT;
  d->task = r->task;
  d->task_json = r->task_json;
  return 0;
}

static void data_close(data_slot *d) {
  if (d->task && d->data && d->task->close) d->task->close(d->data);
  memset(d, 0, sizeof *d);
}

/* ----------------------------------------------------- one training run ---- */
typedef struct run_view {
  const eb_run_opts *o;
  const eb_suite_run *r;
  int index, total;
  double t0;
  eb_eval_row *evals;
  int nevals, cap;
  double last_acc;
  /* the claim: heartbeats at each eval and every HEARTBEAT_S of training */
  eb_store *db;
  int64_t run_id;
  const char *owner;
  double last_beat;
  const suite_clock *clock;
} run_view;

#define HEARTBEAT_S 60.0

/* A failed heartbeat is not the run's failure: the claim only ages (another
 * host may take it over after EB_CLAIM_STALE_S, and then this process's
 * result is refused by eb_store_run_finish). */
static void heartbeat(run_view *v) {
  char err[EB_ERR_LEN];
  v->last_beat = eb_now();
  if (v->db) eb_store_run_heartbeat(v->db, v->run_id, v->owner, err, sizeof err);
}

static void view_step(void *user, int step, int steps, float loss, double tps) {
  run_view *v = user;
  if (eb_now() - v->last_beat >= HEARTBEAT_S) heartbeat(v);
  if (step % 10 && step != steps) return;
  double el = eb_now() - v->t0, eta = step ? el / step * (steps - step) : 0;
  char acc[16] = "-";
  if (v->last_acc >= 0) snprintf(acc, sizeof acc, "%.3f", v->last_acc);
  say(v->o, 1, "[%d/%d] %s step %d/%d loss %.4f acc %s %.0f tok/s ETA %.0fs", v->index,
      v->total, v->r->label, step, steps, loss, acc, tps, eta);
  if (v->o->event) {
    evbuf b;
    ev_begin(&b, "progress");
    ev_int(&b, "index", v->index);
    ev_int(&b, "total", v->total);
    ev_str(&b, "key", v->r->key);
    ev_int(&b, "step", step);
    ev_int(&b, "steps", steps);
    ev_num(&b, "loss", loss);
    ev_num(&b, "val_accuracy", v->last_acc >= 0 ? v->last_acc : NAN);
    ev_num(&b, "tokens_per_s", tps);
    ev_num(&b, "elapsed_s", el);
    ev_num(&b, "run_eta_s", step ? eta : NAN);
    ev_num(&b, "suite_eta_s", suite_eta(v->clock, step ? eta : NAN, v->index, v->total));
    ev_end(v->o, &b);
  }
}

static void view_eval(void *user, const eb_eval_point *e) {
  run_view *v = user;
  heartbeat(v);
  if (v->nevals == v->cap) {
    int cap = v->cap ? 2 * v->cap : 16;
    eb_eval_row *n = realloc(v->evals, (size_t)cap * sizeof *n);
    if (!n) return; /* the curve loses a point; the run's result is unaffected */
    v->evals = n;
    v->cap = cap;
  }
  eb_eval_row *row = &v->evals[v->nevals++];
  row->step = e->step;
  row->split = e->split == EB_SPLIT_VAL    ? "val"
               : e->split == EB_SPLIT_TEST ? "test"
                                           : "train";
  row->loss = e->loss;
  row->accuracy = e->accuracy;
  row->elapsed_s = e->elapsed_s;
  if (e->split == EB_SPLIT_VAL) v->last_acc = e->accuracy;
  if (e->restored) return; /* said before the run was stopped */
  say(v->o, 0, "[%d/%d] %s %s step %d: loss %.4f accuracy %.4f", v->index, v->total,
      v->r->label, row->split, e->step, e->loss, e->accuracy);
  if (v->o->event) {
    evbuf b;
    ev_begin(&b, "eval");
    ev_int(&b, "index", v->index);
    ev_int(&b, "total", v->total);
    ev_str(&b, "key", v->r->key);
    ev_str(&b, "split", row->split);
    ev_int(&b, "step", e->step);
    ev_num(&b, "loss", e->loss);
    ev_num(&b, "accuracy", e->accuracy);
    ev_num(&b, "elapsed_s", e->elapsed_s);
    ev_end(v->o, &b);
  }
}

static void view_note(void *user, const char *msg) {
  run_view *v = user;
  say(v->o, 0, "[%d/%d] %s: %s", v->index, v->total, v->r->label, msg);
}

/* a positive integer from the environment, 0 when unset or not one */
static int env_int(const char *name) {
  const char *s = getenv(name);
  if (!s || !*s) return 0;
  char *end;
  long v = strtol(s, &end, 10);
  return *end || v < 1 || v > 1000000000 ? 0 : (int)v;
}

typedef struct stat_list {
  eb_stat_row rows[64];
  char names[64][48];
  int n, step;
} stat_list;

static void stat_emit(void *user, const char *name, double value) {
  stat_list *l = user;
  if (l->n == 64) return;
  snprintf(l->names[l->n], sizeof l->names[l->n], "%s", name);
  l->rows[l->n].name = l->names[l->n];
  l->rows[l->n].step = l->step;
  l->rows[l->n++].value = value;
}

/* Claims run r (eb_store_run_claim) and, when this process got it, trains it
 * and writes its result. *outcome: the claim's; *ok: 1 done, 0 ended early,
 * -1 failed (when trained). The kind with err on a database failure. */
static int one_run(eb_store *db, int64_t suite_id, const eb_suite *s, eb_suite_run *r,
                   data_slot *data, const eb_run_opts *o, const char *since,
                   const char *exe_sha256, int fresh, int index, int total,
                   suite_clock *clock, int *outcome, int *ok, char *err, size_t errlen) {
  char host[128] = "unknown", build[256], owner[320], holder[320];
  gethostname(host, sizeof host - 1);
  eb_store_owner_self(owner, sizeof owner);
  /* the GEMM backend is chosen at run time, so each run says which it used */
  const eb_gemm_info *gi = eb_gemm_info_get();
  snprintf(build, sizeof build, "effbench %s (%s) gemm %s:%s", EFFBENCH_VERSION,
           EFFBENCH_GIT_COMMIT, gi->backend, gi->isa);
  int64_t run_id = 0;
  eb_run_claim claim = {.suite_id = suite_id,
                        .run_key = r->key,
                        .arch = r->arch->name,
                        .task = r->task->name,
                        .seed = r->seed,
                        .config_json = r->config_json,
                        .host = host,
                        .build = build,
                        .owner = owner,
                        .since = since,
                        .fresh = fresh,
                        .arch_sha256 = eb_registry_arch_code(o->reg, r->arch),
                        .exe_sha256 = exe_sha256};
  int crc = eb_store_run_claim(db, &claim, outcome, &run_id, holder, sizeof holder, err,
                               errlen);
  if (!crc && *outcome == EB_CLAIM_TAKEN)
    crc = eb_store_run_machine(db, run_id, gi->isa, o->threads, err, errlen);
  if (crc) return crc;
  if (*outcome == EB_CLAIM_BUSY)
    say(o, 0, "[%d/%d] %s: running in another process (%s): left to it", index, total,
        r->label, holder);
  evbuf b;
  if (o->event) {
    ev_begin(&b, *outcome == EB_CLAIM_TAKEN ? "run_start" : "run_skip");
    ev_int(&b, "index", index);
    ev_int(&b, "total", total);
    ev_str(&b, "key", r->key);
    ev_str(&b, "label", r->label);
    ev_str(&b, "arch", r->arch->name);
    ev_str(&b, "task", r->task->name);
    ev_int(&b, "seed", r->seed);
    if (*outcome != EB_CLAIM_TAKEN)
      ev_str(&b, "reason",
             *outcome == EB_CLAIM_DONE   ? "done"
             : *outcome == EB_CLAIM_BUSY ? "running elsewhere"
                                         : "ended elsewhere");
    if (*outcome == EB_CLAIM_BUSY) ev_str(&b, "owner", holder);
    ev_num(&b, "suite_eta_s",
           suite_eta(clock, 0, index - (*outcome == EB_CLAIM_TAKEN), total));
    ev_end(o, &b);
  }
  if (*outcome != EB_CLAIM_TAKEN) return 0;
  const double started = eb_now();
  eb_run_result_row row;
  memset(&row, 0, sizeof row);
  row.val_accuracy = row.test_accuracy = row.flops_train_token = NAN;
  row.test_majority = NAN;
  row.status = "failed";
  char why[EB_ERR_LEN] = "";
  eb_model m;
  memset(&m, 0, sizeof m);
  eb_train_result res;
  memset(&res, 0, sizeof res);
  run_view view = {o, r,  index, total,  eb_now(), NULL,     0,
                   0, -1, db,    run_id, owner,    eb_now(), clock};
  stat_list stats = {.n = 0};
  const int drc = data_for(data, s, r, why, sizeof why), opened = drc == 0;
  if (opened) { /* provenance, recorded with the result */
    const eb_data_source *src = eb_task_source(data->task, data->data);
    row.data_kind = src ? src->kind : "unreported";
    row.data_label = src ? (src->label ? src->label : src->kind) : "source not reported";
    row.data_source = src ? src->detail : NULL;
  }
  /* the run's memory limit and, for tests, an injected allocation failure
   * (EFFBENCH_FAIL_ALLOC=N: the run's N-th counted allocation fails) */
  eb_mem_set_limit(r->train.max_memory);
  eb_mem_fail_at(env_int("EFFBENCH_FAIL_ALLOC"));
  int mrc = opened ? eb_model_create(&m, r->arch, &r->model, &r->arch_args.args,
                                     data->info.vocab, data->info.classes,
                                     data->info.max_len, data->info.mode == EB_INPUT_PAIR,
                                     (uint64_t)r->seed, why, sizeof why)
                   : drc;
  if (mrc == EB_NOMEM) row.status = "oom"; /* the parameters did not fit: a result */
  /* checkpoints: DB.ckpt/KEY.ckpt (docs/reliability.md) */
  char ckpt[4096] = "";
  eb_train_cfg tc = r->train;
  tc.run_key = r->key;
  tc.checkpoint_steps = env_int("EFFBENCH_CHECKPOINT_STEPS");
  tc.inject_inf_grad = env_int("EFFBENCH_INJECT_INF_GRAD");
  if (mrc == 0 && eb_ckpt_path(o->db, r->key, ckpt, sizeof ckpt) == 0) {
    char cerr[EB_ERR_LEN];
    if ((tc.checkpoint_s > 0 || tc.checkpoint_steps > 0) &&
        eb_ckpt_dir_make(o->db, cerr, sizeof cerr)) {
      say(o, 0, "[%d/%d] %s: no checkpoints: %s", index, total, r->label, cerr);
      ckpt[0] = '\0';
    }
    tc.checkpoint_path = ckpt[0] ? ckpt : NULL;
  }
  if (mrc == 0) {
    eb_train_hooks hooks = {&view, view_step, view_eval, view_note};
    int trc = eb_train_run(&m, r->task, data->data, &data->info, &tc, &hooks, &res, why,
                           sizeof why);
    row.status = trc ? (res.status == EB_RUN_OOM ? "oom" : "failed")
                     : eb_run_status_name(res.status);
    row.params_total = res.params_total;
    row.params_active = res.params_total;
    row.flops_train_step = res.flops_train_step;
    row.model_flops_train_step = res.model_flops_train_step;
    row.flops_infer_seq = eb_model_flops(&m, 1, data->info.max_len, 0);
    const double ft = eb_model_flops_token(&m);
    row.flops_train_token = ft < 0 ? NAN : ft;
    if (res.best_step > 0) {
      row.val_accuracy = res.val_accuracy;
      row.test_accuracy = res.test_accuracy;
      row.test_majority = res.test_majority;
      row.test_count = res.test_count;
    }
    row.best_step = res.best_step;
    row.steps_done = res.steps_done;
    row.train_seconds = res.train_seconds;
    row.tokens_per_s = res.tokens_per_s;
    row.padded_tokens_per_s = res.padded_tokens_per_s;
    row.train_ms_per_step = res.steps_done ? 1e3 * res.train_seconds / res.steps_done : 0;
    row.peak_mem_bytes = (int64_t)res.peak_mem_bytes;
    if (m.arch->stats) {
      stats.step = res.steps_done;
      eb_stat_sink sink = {&stats, stat_emit};
      m.arch->stats(m.impl, &sink);
      /* an arch that activates only part of its weights per token (MoE) says
       * how many stay idle */
      for (int i = 0; i < stats.n; i++)
        if (!strcmp(stats.rows[i].name, "params_inactive"))
          row.params_active = row.params_total - (int64_t)stats.rows[i].value;
    }
  }
  if (m.P) eb_model_destroy(&m);
  memset(&m, 0, sizeof m);
  eb_mem_set_limit(0);
  eb_mem_fail_at(0);
  if (!strcmp(row.status, "oom") && r->train.max_memory) {
    size_t n = strlen(why);
    snprintf(why + n, sizeof why - n, " (train.max_memory is %zu bytes)",
             r->train.max_memory);
  }
  if (why[0]) row.error = why;
  row.evals = view.evals;
  row.n_evals = view.nevals;
  row.stats = stats.rows;
  row.n_stats = stats.n;
  row.owner = owner;
  int rc = eb_store_run_finish(db, run_id, &row, err, errlen);
  /* the result is stored (or another process's stands): the checkpoint has
   * served; a failed write keeps it for the next attempt */
  if ((rc == EB_OK || rc == EB_BUSY) && ckpt[0]) unlink(ckpt);
  if (rc == EB_BUSY) { /* thought dead and taken over: the other process's result
                          stands */
    say(o, 0, "[%d/%d] %s: %s", index, total, r->label, err);
    err[0] = 0;
    *outcome = EB_CLAIM_BUSY;
    rc = EB_OK;
  }
  *ok = !strcmp(row.status, "done") ? 1 : !strcmp(row.status, "failed") ? -1 : 0;
  char acc[48] = "";
  if (!isnan(row.test_accuracy))
    snprintf(acc, sizeof acc, ", test accuracy %.4f", row.test_accuracy);
  if (rc == 0 && *outcome == EB_CLAIM_TAKEN)
    say(o, 0, "[%d/%d] %s: %s%s%s%s", index, total, r->label, row.status, acc,
        why[0] ? ": " : "", why);
  if (clock) {
    clock->trained_s += eb_now() - started;
    clock->trained++;
  }
  if (rc == 0 && o->event) {
    ev_begin(&b, "run_end");
    ev_int(&b, "index", index);
    ev_int(&b, "total", total);
    ev_str(&b, "key", r->key);
    ev_str(&b, "label", r->label);
    ev_str(&b, "status", *outcome == EB_CLAIM_TAKEN ? row.status : "taken over");
    ev_num(&b, "test_accuracy", row.test_accuracy);
    ev_num(&b, "val_accuracy", row.val_accuracy);
    ev_int(&b, "steps_done", row.steps_done);
    ev_num(&b, "seconds", eb_now() - started);
    ev_str(&b, "error", why[0] ? why : NULL);
    ev_num(&b, "suite_eta_s", suite_eta(clock, 0, index, total));
    ev_end(o, &b);
  }
  free(res.losses);
  free(view.evals);
  if (m.P) eb_model_destroy(&m);
  return rc;
}

/* ------------------------------------------------------------ speed ---- */
int eb_speed_measure(eb_store *db, int64_t suite_id, const eb_arch *arch,
                     const eb_args *args, const eb_model_config *m,
                     const eb_bench_cfg *bc, int threads, const char *task,
                     const eb_speed_claim *claim, eb_bench_result *br,
                     const char **status, char *why, size_t whylen, char *err,
                     size_t errlen) {
  int brc = eb_bench_run(arch, args, m, bc, br, why, whylen);
  *status = brc == EB_OK ? "done" : brc == EB_NOMEM ? "oom" : "failed";
  /* provenance of the row: the GEMM backend is chosen at run time */
  const eb_gemm_info *gi = eb_gemm_info_get();
  char gemm[160];
  snprintf(gemm, sizeof gemm, "%s:%s", gi->backend, gi->isa);
  eb_sbuf cfg = {0};
  eb_json w;
  eb_json_init(&w, &cfg);
  eb_json_open(&w, '{');
  eb_json_key(&w, "arch");
  eb_json_string(&w, arch->name);
  const struct {
    const char *key;
    int v;
  } ints[] = {{"dim", m->dim}, {"depth", m->depth},  {"heads", m->heads},
              {"ffn", m->ffn}, {"batch", bc->batch}, {"seq_len", bc->len}};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    eb_json_key(&w, ints[i].key);
    eb_json_int(&w, ints[i].v);
  }
  eb_json_key(&w, "mode");
  eb_json_string(&w, bc->train ? "train" : "infer");
  eb_json_key(&w, "threads");
  eb_json_int(&w, threads);
  eb_json_key(&w, "vocab");
  eb_json_int(&w, bc->vocab);
  eb_json_key(&w, "classes");
  eb_json_int(&w, bc->classes);
  eb_json_key(&w, "seed");
  eb_json_rawf(&w, "%llu", (unsigned long long)bc->seed);
  eb_json_key(&w, "arch_params");
  eb_args_json_w(&w, args);
  eb_json_key(&w, "gemm_backend");
  eb_json_string(&w, gi->backend);
  eb_json_key(&w, "gemm_isa");
  eb_json_string(&w, gi->isa);
  eb_json_close(&w);
  if (!eb_sb_take(&cfg)) {
    snprintf(err, errlen, "out of memory describing a speed row");
    return EB_NOMEM;
  }
  eb_speed_row row = {.suite_id = suite_id,
                      .arch = arch->name,
                      .task = task ? task : "",
                      .seq_len = bc->len,
                      .batch = bc->batch,
                      .mode = bc->train ? "train" : "infer",
                      .threads = threads,
                      .step_ms_median = brc ? NAN : br->ms_median,
                      .step_ms_min = brc ? NAN : br->ms_min,
                      .tokens_per_s = brc ? NAN : br->tokens_per_s,
                      .gflops_per_s = brc ? NAN : br->gflops_per_s,
                      .model_flops_step = brc ? NAN : br->flops_model,
                      .executed_flops_step = brc ? NAN : br->flops_step,
                      .peak_mem_bytes = brc ? 0 : (int64_t)br->peak_mem_bytes,
                      .status = *status,
                      .config_json = cfg.p,
                      .step_ms_n = brc ? 0 : br->reps,
                      .step_ms_mean = brc ? NAN : br->ms_mean,
                      .step_ms_std = brc ? NAN : br->ms_std,
                      .gemm_backend = gemm,
                      .claim = claim};
  int rc = eb_store_speed(db, &row, err, errlen);
  free(cfg.p);
  return rc;
}

int eb_results_open(const char *path, const char *suite, const char *yaml, eb_store **db,
                    int64_t *suite_id, char *err, size_t errlen) {
  int rc = eb_store_open(path, db, err, errlen), has = 0;
  if (rc) return rc;
  /* rows without a suite file never join a suite run from one: its speed
   * table (and what `run` resumes) stays its own */
  if (!yaml && (rc = eb_store_suite_has_yaml(*db, suite, &has, err, errlen)) == EB_OK &&
      has) {
    snprintf(err, errlen,
             "%s: suite '%s' was written by 'effbench run' from a suite file; give "
             "these rows a suite of their own",
             path, suite);
    rc = EB_INPUT;
  }
  if (rc) {
    eb_store_close(*db);
    *db = NULL;
    return rc;
  }
  char blas[512];
  const char *cfg = openblas_get_config(), *core = openblas_get_corename();
  const eb_gemm_info *gi = eb_gemm_info_get();
  snprintf(blas, sizeof blas, "OpenBLAS %s", cfg ? cfg : "");
  if ((rc = eb_store_env_record(*db, EFFBENCH_VERSION, EFFBENCH_GIT_COMMIT,
                                EFFBENCH_COMPILER, EFFBENCH_C_FLAGS, err, errlen)) ||
      (rc = eb_store_env_set(*db, "blas", blas, err, errlen)) ||
      (rc = eb_store_env_set(*db, "blas_core", core ? core : "unknown", err, errlen)) ||
      (rc = eb_store_env_set(*db, "gemm_backend", gi->backend, err, errlen)) ||
      (rc = eb_store_env_set(*db, "gemm_isa", gi->isa, err, errlen)) ||
      (rc = eb_store_env_set(*db, "gemm_cpu", gi->cpu, err, errlen)) ||
      (rc = eb_store_env_set(*db, "gemm_warning", gi->warning, err, errlen)) ||
      (rc = eb_store_suite(*db, suite, yaml, suite_id, err, errlen))) {
    eb_store_close(*db);
    *db = NULL;
    return rc;
  }
  return EB_OK;
}

/* The model a speed row measures for arch entry a at length len: the suite's
 * model, or in a matched suite (`match:`) the width that matches the
 * reference arch at the speed section's shape (vocab 256, 10 classes, one
 * sequence of length len), as the training runs are matched at their task's.
 * EB_OK, or EB_INPUT with err when the arch cannot be matched there. */
/* the synthetic data of speed rows (eb_bench_cfg) */
enum { SPEED_VOCAB = 256, SPEED_CLASSES = 10 };

static int speed_model(const eb_suite *s, const eb_suite_arch *a, int len,
                       eb_model_config *m, char *err, size_t errlen) {
  *m = s->model;
  if (!s->match) return EB_OK;
  eb_suite_run r;
  memset(&r, 0, sizeof r);
  r.arch = a->arch;
  r.model = s->model;
  r.ref_model = s->model;
  r.arch_args = a->args;
  const eb_task_info info = {.vocab = SPEED_VOCAB,
                             .classes = SPEED_CLASSES,
                             .max_len = len,
                             .mode = EB_INPUT_SINGLE};
  const eb_suite_arch *ref = &s->archs[s->match_ref];
  char why[EB_ERR_LEN] = "";
  if (eb_match_run(&r, s->match, ref->arch, &ref->args.args, s->match_tolerance, &info,
                   why, sizeof why)) {
    snprintf(err, errlen, "%s: speed: arch '%s' at length %d: match: %s: %s", s->file,
             a->arch->name, len, eb_match_name(s->match), why);
    return EB_INPUT;
  }
  *m = r.model;
  return EB_OK;
}

/* every speed row's model can be built: checked before anything is trained */
static int speed_models_check(const eb_suite *s, char *err, size_t errlen) {
  const eb_speed_plan *p = &s->speed;
  eb_model_config m;
  for (int ai = 0; ai < p->narch; ai++)
    for (int li = 0; li < p->nlen; li++) {
      int rc =
          speed_model(s, &s->archs[p->arch_index[ai]], p->lengths[li], &m, err, errlen);
      if (rc) return rc;
    }
  return EB_OK;
}

static int run_speed(eb_store *db, int64_t suite_id, const eb_suite *s,
                     const eb_run_opts *o, const char *since, eb_run_summary *sum,
                     char *err, size_t errlen) {
  const eb_speed_plan *p = &s->speed;
  char owner[320], holder[320];
  eb_store_owner_self(owner, sizeof owner);
  for (int ai = 0; ai < p->narch; ai++) {
    const eb_suite_arch *a = &s->archs[p->arch_index[ai]];
    for (int li = 0; li < p->nlen; li++)
      for (int mode = 0; mode < 2; mode++) {
        if ((mode == 0 && !p->train) || (mode == 1 && !p->infer)) continue;
        const char *mname = mode == 0 ? "train" : "infer";
        char label[160];
        snprintf(label, sizeof label, "speed %s len=%d %s", a->arch->name, p->lengths[li],
                 mname);
        if (o->only && fnmatch(o->only, label, 0) != 0) continue;
        eb_model_config m;
        int rc = speed_model(s, a, p->lengths[li], &m, err, errlen);
        if (rc) return rc;
        /* claimed before it is measured: a second process on this database
         * measures each point once (eb_store_speed_claim) */
        eb_speed_claim claim = {.suite_id = suite_id,
                                .arch = a->arch->name,
                                .mode = mname,
                                .seq_len = p->lengths[li],
                                .batch = p->batch,
                                .threads = o->threads,
                                .dim = m.dim,
                                .owner = owner,
                                .since = since,
                                .fresh = o->fresh};
        int outcome = EB_CLAIM_TAKEN;
        if (!o->dry_run && (rc = eb_store_speed_claim(db, &claim, &outcome, holder,
                                                      sizeof holder, err, errlen)))
          return rc;
        if (outcome == EB_CLAIM_BUSY) {
          say(o, 0, "%s: measured in another process (%s): left to it", label, holder);
          sum->elsewhere++;
        }
        if (outcome == EB_CLAIM_ENDED) sum->elsewhere++;
        if (outcome != EB_CLAIM_TAKEN) continue;
        if (o->dry_run) {
          if (s->match)
            say(o, 0, "%-34s %s  dim %d ffn %d", "(speed)", label, m.dim, m.ffn);
          else
            say(o, 0, "%-34s %s", "(speed)", label);
          continue;
        }
        say(o, 1, "%s ...", label);
        eb_bench_cfg bc = {.batch = p->batch,
                           .len = p->lengths[li],
                           .train = mode == 0,
                           .vocab = SPEED_VOCAB,
                           .classes = SPEED_CLASSES,
                           .min_seconds = 1.0,
                           .min_reps = 3,
                           .warmup = 1,
                           .seed = 0};
        eb_bench_result br;
        char why[EB_ERR_LEN] = "";
        const char *status;
        int mrc =
            eb_speed_measure(db, suite_id, a->arch, &a->args.args, &m, &bc, o->threads,
                             "", &claim, &br, &status, why, sizeof why, err, errlen);
        if (mrc) return mrc;
        sum->speed_rows++;
        if (o->event) {
          evbuf b;
          ev_begin(&b, "speed");
          ev_str(&b, "label", label);
          ev_str(&b, "arch", a->arch->name);
          ev_int(&b, "seq_len", p->lengths[li]);
          ev_int(&b, "batch", p->batch);
          ev_str(&b, "mode", mname);
          ev_str(&b, "status", status);
          const int ok = !strcmp(status, "done");
          ev_num(&b, "ms_median", ok ? br.ms_median : NAN);
          ev_num(&b, "tokens_per_s", ok ? br.tokens_per_s : NAN);
          ev_num(&b, "peak_mem_bytes", ok ? (double)br.peak_mem_bytes : NAN);
          ev_str(&b, "error", ok ? NULL : why);
          ev_end(o, &b);
        }
        if (strcmp(status, "done"))
          say(o, 0, "%s: %s (%s)", label, status, why);
        else
          say(o, 0, "%s: %.2f ms/step, %.0f tokens/s, %.1f MiB", label, br.ms_median,
              br.tokens_per_s, (double)br.peak_mem_bytes / (1 << 20));
      }
  }
  return 0;
}

/* --dry-run's size columns: width, parameters, training FLOPs per token and,
 * in a matched suite, how far the matched count is from the reference's */
static void dry_size(const eb_suite *s, const eb_suite_run *r, int64_t params,
                     double flops_token, char *buf, size_t len) {
  int n = snprintf(buf, len, "  dim %d ffn %d", r->model.dim, r->model.ffn);
  if (params >= 0 && n >= 0 && (size_t)n < len)
    n += snprintf(buf + n, len - (size_t)n, "  %lld params", (long long)params);
  if (flops_token >= 0 && n >= 0 && (size_t)n < len)
    n += snprintf(buf + n, len - (size_t)n, "  %.4g FLOP/token", flops_token);
  if (s->match && n >= 0 && (size_t)n < len) {
    const int by_params = s->match == EB_MATCH_PARAMS;
    const double v = by_params ? (double)r->params : r->flops_token,
                 ref = by_params ? (double)r->ref_params : r->ref_flops_token;
    snprintf(buf + n, len - (size_t)n, "  match %s %+.2f%% vs %s",
             eb_match_name(s->match), 100 * (v - ref) / ref,
             s->archs[s->match_ref].arch->name);
  }
}

/* ------------------------------------------------------------- code ---- */
/* Which picked runs are done with other code of their arch than is loaded
 * now (changed[i] = 1): the SHA-256 recorded with the run differs from the
 * registry's. A run that recorded none (an older effbench) or an arch whose
 * digest is unknown counts as unchanged. Each is printed; so is one note when
 * done runs came from another effbench executable, which alone re-runs
 * nothing (an engine change is not one arch's: docs/plugins.md). */
static int code_changes(eb_store *db, const eb_suite *s, const int *pick,
                        const eb_run_opts *o, const char *exe_sha256, int *changed,
                        int *nchanged, char *err, size_t errlen) {
  int other_exe = 0;
  char other_commit[64] = "";
  *nchanged = 0;
  for (int i = 0; i < s->nruns; i++) {
    if (!pick[i]) continue;
    const eb_suite_run *r = &s->runs[i];
    const char *now = eb_registry_arch_code(o->reg, r->arch);
    eb_run_code was;
    int rc = eb_store_run_code(db, r->key, &was, err, errlen);
    if (rc) return rc;
    if (strcmp(was.status, "done")) continue;
    if (now && was.arch_sha256[0] && strcmp(was.arch_sha256, now)) {
      changed[i] = 1;
      if (!(*nchanged)++)
        say(o, 0,
            "done runs trained with other code of their architecture than is "
            "loaded now (SHA-256, first 16 hex digits):");
      say(o, 0, "  %s (key %s): %s (%s): was %.16s, now %.16s", r->label, r->key,
          r->arch->name, eb_registry_arch_origin(o->reg, r->arch), was.arch_sha256, now);
    } else if (exe_sha256 && was.exe_sha256[0] && strcmp(was.exe_sha256, exe_sha256)) {
      if (!other_exe++)
        snprintf(other_commit, sizeof other_commit, "%s",
                 was.git_commit[0] ? was.git_commit : "unknown");
    }
  }
  if (other_exe)
    say(o, 0,
        "note: %d done run(s) were trained by another effbench executable (commit %s; "
        "this one: %s) with their architecture's code unchanged: kept, as only a "
        "change to an architecture's own code (its sources, or a plugin's .so) "
        "re-runs a run; --fresh re-runs everything",
        other_exe, other_commit, EFFBENCH_GIT_COMMIT);
  return 0;
}

void eb_run_fmt_duration(char *buf, size_t len, double s) {
  if (s < 10)
    snprintf(buf, len, "%.2g s", s);
  else if (s < 120)
    snprintf(buf, len, "%.0f s", s);
  else if (s < 7200)
    snprintf(buf, len, "%.1f min", s / 60);
  else
    snprintf(buf, len, "%.2f h", s / 3600);
}

/* --dry-run's estimate for one run: training steps (forward + backward) plus
 * its evaluations (forward only: eval_batches batches of the validation
 * split at every eval_every steps and at the last, then the whole test
 * split). Seconds at efficiency x peak, capped at the run's time budget
 * (*capped set). Returns the FLOPs, or -1 when there is no count. */
static double dry_estimate(const eb_suite_run *r, const eb_model *est,
                           const eb_task_info *info, double gflops, double *seconds,
                           int *capped) {
  const eb_train_cfg *t = &r->train;
  double step = eb_model_flops(est, t->batch, info->max_len, 1);
  double fwd = eb_model_flops(est, t->batch, info->max_len, 0);
  if (!(step > 0) || !(fwd > 0)) return -1;
  int nevals = t->eval_every > 0 ? t->steps / t->eval_every : 0;
  if (t->eval_every <= 0 || t->steps % t->eval_every) nevals++; /* the last step */
  double val_batches = t->eval_batches > 0
                           ? t->eval_batches
                           : ceil((double)info->n_val / (t->batch > 0 ? t->batch : 1));
  double test_batches = ceil((double)info->n_test / (t->batch > 0 ? t->batch : 1));
  double flops = step * t->steps + fwd * (nevals * val_batches + test_batches);
  *seconds = flops / (gflops * 1e9);
  *capped = t->time_budget_s > 0 && *seconds > t->time_budget_s;
  if (*capped) *seconds = t->time_budget_s;
  return flops;
}

/* The GEMM peak the estimate divides by: given, or a short measurement
 * (n = 1024, 3 products; the bandwidth part at its smallest). */
static int dry_peak(const eb_run_opts *o, double *gflops, char *err, size_t errlen) {
  if (o->peak_gflops > 0) {
    *gflops = o->peak_gflops;
    return 0;
  }
  eb_peak_cfg pc = eb_peak_quick(o->threads > 0 ? o->threads : 1);
  pc.gemm_n = 1024;
  pc.bw_bytes = (size_t)1 << 20;
  pc.bw_reps = 1;
  eb_peak p;
  int rc = eb_peak_measure(&pc, &p, err, errlen);
  if (rc) return rc;
  *gflops = p.gemm_gflops;
  return EB_OK;
}

/* ------------------------------------------------------------ suite ---- */
int eb_suite_execute(eb_suite *s, const eb_run_opts *o, eb_run_summary *sum, char *err,
                     size_t errlen) {
  memset(sum, 0, sizeof *sum);
  /* runs that end from now on in another process on this database are not
   * taken again by this one (eb_run_claim.since) */
  char since[32];
  time_t t0 = time(NULL);
  struct tm utc;
  gmtime_r(&t0, &utc);
  strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &utc);
  eb_store *db = NULL;
  int64_t suite_id = 0;
  if (!o->dry_run) {
    int orc = eb_results_open(o->db, s->name, s->yaml, &db, &suite_id, err, errlen);
    if (orc) return orc;
  }
  int *pick = calloc((size_t)(s->nruns ? s->nruns : 1), sizeof *pick);
  if (!pick) {
    snprintf(err, errlen, "out of memory");
    eb_store_close(db);
    return EB_NOMEM;
  }
  if (s->has_speed) {
    int src = speed_models_check(s, err, errlen);
    if (src) {
      free(pick);
      eb_store_close(db);
      return src;
    }
  }
  for (int i = 0; i < s->nruns; i++) {
    if (o->shard_n > 1 && i % o->shard_n != o->shard_i) continue;
    if (o->only && fnmatch(o->only, s->runs[i].label, 0) != 0) continue;
    pick[i] = 1;
    sum->selected++;
  }
  /* code-aware resume: decided before anything is trained */
  int *changed = calloc((size_t)(s->nruns ? s->nruns : 1), sizeof *changed);
  char exe[65] = "", exe_err[EB_ERR_LEN];
  int64_t exe_bytes = 0;
  if (!changed) {
    snprintf(err, errlen, "out of memory");
    free(pick);
    eb_store_close(db);
    return EB_NOMEM;
  }
  if (!o->dry_run &&
      eb_sha256_file("/proc/self/exe", exe, &exe_bytes, exe_err, sizeof exe_err))
    exe[0] = 0; /* unknown: recorded as NULL, compared with nothing */
  if (!o->dry_run && !o->fresh) {
    int n = 0;
    int crc = code_changes(db, s, pick, o, exe[0] ? exe : NULL, changed, &n, err, errlen);
    if (crc) {
      free(changed);
      free(pick);
      eb_store_close(db);
      return crc;
    }
    sum->code_changed = n;
    if (n && !o->rerun_changed && !o->keep_changed) {
      snprintf(
          err, errlen,
          "%d done run(s) were trained with other code of their architecture (listed "
          "above); nothing was trained: re-run them with --rerun-changed (their "
          "results are replaced, as with --fresh) or keep their results with "
          "--keep-changed",
          n);
      free(changed);
      free(pick);
      eb_store_close(db);
      return EB_INPUT;
    }
    if (n)
      say(o, 0, "%s %d done run(s) whose architecture's code changed (%s)",
          o->rerun_changed ? "re-running" : "keeping the results of", n,
          o->rerun_changed ? "--rerun-changed" : "--keep-changed");
  }
  data_slot data = {0};
  int rc = EB_OK, index = 0;
  suite_clock clock = {.t0 = eb_now()};
  eb_run_opts quiet;
  if (o->dry_run && o->event) { /* a dry run prints its grid, no events */
    quiet = *o;
    quiet.event = NULL;
    o = &quiet;
  }
  if (o->event) {
    evbuf b;
    ev_begin(&b, "suite_start");
    ev_str(&b, "suite", s->name);
    ev_str(&b, "db", o->db);
    ev_int(&b, "runs", sum->selected);
    ev_int(&b, "speed", s->has_speed && (o->shard_n <= 1 || o->shard_i == 0));
    ev_end(o, &b);
  }
  double gflops = 0, eff = o->efficiency > 0 ? o->efficiency : EB_RUN_EFFICIENCY;
  if (o->dry_run) {
    int prc = dry_peak(o, &gflops, err, errlen);
    if (prc) {
      free(changed);
      free(pick);
      eb_store_close(db);
      return prc;
    }
    sum->est_peak_gflops = gflops;
    sum->est_efficiency = eff;
  }
  for (int i = 0; i < s->nruns && rc == 0; i++) {
    if (!pick[i]) continue;
    eb_suite_run *r = &s->runs[i];
    index++;
    if (o->dry_run) { /* estimated FLOPs need the task's shape: open its data */
      char why[EB_ERR_LEN] = "", size[256] = "";
      if (data_for(&data, s, r, why, sizeof why)) { /* the run would fail: say so */
        say(o, 0, "%s  %-48s cannot run: %s", r->key, r->label, why);
        sum->failed++;
        continue;
      }
      int64_t np = 0;
      double ft = -1;
      if (eb_model_counts(r->arch, &r->model, &r->arch_args.args, data.info.vocab,
                          data.info.classes, data.info.max_len,
                          data.info.mode == EB_INPUT_PAIR, &np, &ft, why, sizeof why))
        np = -1;
      dry_size(s, r, np, ft, size, sizeof size);
      eb_model est = {.arch = r->arch,
                      .cfg = r->model,
                      .args = &r->arch_args.args,
                      .vocab = data.info.vocab,
                      .classes = data.info.classes,
                      .seq_len = data.info.max_len,
                      .pair = data.info.mode == EB_INPUT_PAIR};
      est.cfg.max_len = data.info.max_len + (r->model.pool == EB_POOL_CLS);
      double step_flops = eb_model_flops(&est, r->train.batch, data.info.max_len, 1);
      double secs = 0;
      int capped = 0;
      double all = dry_estimate(r, &est, &data.info, eff * gflops, &secs, &capped);
      char when[64] = "";
      if (all > 0) {
        sum->est_flops += all;
        sum->est_seconds += secs;
        eb_run_fmt_duration(when, sizeof when, secs);
      } else {
        sum->est_unknown++;
      }
      if (step_flops > 0)
        say(o, 0, "%s  %-48s %9.3g FLOP/step %9.3g FLOP total  est %s%s%s", r->key,
            r->label, step_flops, step_flops * r->train.steps, when,
            capped ? " (time budget)" : "", size);
      else
        say(o, 0, "%s  %-48s (FLOPs unknown: %s)%s", r->key, r->label,
            why[0] ? why : "no analytic count", size);
      continue;
    }
    int ok = 0, outcome = EB_CLAIM_TAKEN;
    const int fresh = o->fresh || (o->rerun_changed && changed[i]);
    if ((rc = one_run(db, suite_id, s, r, &data, o, since, exe[0] ? exe : NULL, fresh,
                      index, sum->selected, &clock, &outcome, &ok, err, errlen)))
      break;
    if (outcome == EB_CLAIM_DONE)
      sum->skipped_done++;
    else if (outcome != EB_CLAIM_TAKEN)
      sum->elsewhere++;
    else if (ok > 0)
      sum->done++;
    else if (ok == 0)
      sum->ended_early++;
    else
      sum->failed++;
  }
  data_close(&data);
  free(changed);
  free(pick);
  if (rc == 0 && s->has_speed && (o->shard_n <= 1 || o->shard_i == 0)) {
    if (o->dry_run) say(o, 0, "speed measurements (batch %d):", s->speed.batch);
    rc = run_speed(db, suite_id, s, o, since, sum, err, errlen);
  }
  eb_store_close(db);
  if (!o->dry_run) eb_ckpt_dir_drop(o->db);
  if (rc == 0 && o->event) {
    evbuf b;
    ev_begin(&b, "suite_end");
    ev_str(&b, "suite", s->name);
    ev_str(&b, "db", o->db);
    ev_int(&b, "selected", sum->selected);
    ev_int(&b, "already_done", sum->skipped_done);
    ev_int(&b, "done", sum->done);
    ev_int(&b, "ended_early", sum->ended_early);
    ev_int(&b, "failed", sum->failed);
    ev_int(&b, "elsewhere", sum->elsewhere);
    ev_int(&b, "speed_rows", sum->speed_rows);
    ev_num(&b, "seconds", eb_now() - clock.t0);
    ev_end(o, &b);
  }
  return rc;
}
