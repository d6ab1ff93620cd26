#include "run.h"

#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>
#include <sqlite3.h>
#include <unistd.h>

#include "bench.h"
#include "ckpt.h"
#include "export.h"
#include "gemm.h"
#include "model.h"
#include "registry.h"
#include "store.h"

#ifndef EFFBENCH_VERSION
#define EFFBENCH_VERSION "dev"
#endif
#ifndef EFFBENCH_GIT_COMMIT
#define EFFBENCH_GIT_COMMIT "unknown"
#endif
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
    return -1;
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
  if (r->task->open(&r->task_args.args, (uint64_t)s->data_seed, &d->data, &d->info, err,
                    errlen))
    return -1;
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
 * -1 failed (when trained). -1 with err on a database failure. */
static int one_run(eb_store *db, int64_t suite_id, const eb_suite *s, eb_suite_run *r,
                   data_slot *data, const eb_run_opts *o, const char *since, int index,
                   int total, int *outcome, int *ok, char *err, size_t errlen) {
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
                        .fresh = o->fresh};
  if (eb_store_run_claim(db, &claim, outcome, &run_id, holder, sizeof holder, err,
                         errlen) ||
      (*outcome == EB_CLAIM_TAKEN &&
       eb_store_run_machine(db, run_id, gi->isa, o->threads, err, errlen)))
    return -1;
  if (*outcome == EB_CLAIM_BUSY)
    say(o, 0, "[%d/%d] %s: running in another process (%s): left to it", index, total,
        r->label, holder);
  if (*outcome != EB_CLAIM_TAKEN) return 0;
  eb_run_result_row row;
  memset(&row, 0, sizeof row);
  row.val_accuracy = row.test_accuracy = row.flops_train_token = NAN;
  row.status = "failed";
  char why[EB_ERR_LEN] = "";
  eb_model m;
  memset(&m, 0, sizeof m);
  eb_train_result res;
  memset(&res, 0, sizeof res);
  run_view view = {o, r,  index, total,  eb_now(), NULL,    0,
                   0, -1, db,    run_id, owner,    eb_now()};
  stat_list stats = {.n = 0};
  int opened = data_for(data, s, r, why, sizeof why) == 0;
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
                   : -1;
  if (mrc == -2) row.status = "oom"; /* the parameters did not fit: a result */
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
  if (rc >= 0 && ckpt[0]) unlink(ckpt);
  if (rc == 1) { /* thought dead and taken over: the other process's result stands */
    say(o, 0, "[%d/%d] %s: %s", index, total, r->label, err);
    err[0] = 0;
    *outcome = EB_CLAIM_BUSY;
    rc = 0;
  }
  *ok = !strcmp(row.status, "done") ? 1 : !strcmp(row.status, "failed") ? -1 : 0;
  char acc[48] = "";
  if (!isnan(row.test_accuracy))
    snprintf(acc, sizeof acc, ", test accuracy %.4f", row.test_accuracy);
  if (rc == 0 && *outcome == EB_CLAIM_TAKEN)
    say(o, 0, "[%d/%d] %s: %s%s%s%s", index, total, r->label, row.status, acc,
        why[0] ? ": " : "", why);
  free(res.losses);
  free(view.evals);
  if (m.P) eb_model_destroy(&m);
  return rc;
}

/* ------------------------------------------------------------ speed ---- */
static int speed_done(eb_store *db, int64_t suite_id, const char *arch, int len,
                      int batch, const char *mode, int threads) {
  sqlite3 *h = (sqlite3 *)eb_store_db(db);
  sqlite3_stmt *st = NULL;
  int found = 0;
  if (sqlite3_prepare_v2(
          h,
          "SELECT 1 FROM speed WHERE suite_id=? AND arch=? AND seq_len=? AND "
          "batch=? AND mode=? AND threads=? AND status='done' LIMIT 1",
          -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, suite_id);
    sqlite3_bind_text(st, 2, arch, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, len);
    sqlite3_bind_int(st, 4, batch);
    sqlite3_bind_text(st, 5, mode, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, threads);
    found = sqlite3_step(st) == SQLITE_ROW;
  }
  sqlite3_finalize(st);
  return found;
}

int eb_speed_measure(eb_store *db, int64_t suite_id, const eb_arch *arch,
                     const eb_args *args, const eb_model_config *m,
                     const eb_bench_cfg *bc, int threads, const char *task,
                     eb_bench_result *br, const char **status, char *why, size_t whylen,
                     char *err, size_t errlen) {
  int brc = eb_bench_run(arch, args, m, bc, br, why, whylen);
  *status = brc ? (strstr(why, "out of memory") ? "oom" : "failed") : "done";
  char aj[1024], cfg[2048];
  eb_args_json(args, aj, sizeof aj);
  /* provenance of the row: the GEMM backend is chosen at run time */
  const eb_gemm_info *gi = eb_gemm_info_get();
  char gemm[160];
  snprintf(gemm, sizeof gemm, "%s:%s", gi->backend, gi->isa);
  snprintf(cfg, sizeof cfg,
           "{\"arch\":\"%s\",\"dim\":%d,\"depth\":%d,\"heads\":%d,\"ffn\":%d,"
           "\"batch\":%d,\"seq_len\":%d,\"mode\":\"%s\",\"threads\":%d,"
           "\"vocab\":%d,\"classes\":%d,\"seed\":%llu,\"arch_params\":%s,"
           "\"gemm_backend\":\"%s\",\"gemm_isa\":\"%s\"}",
           arch->name, m->dim, m->depth, m->heads, m->ffn, bc->batch, bc->len,
           bc->train ? "train" : "infer", threads, bc->vocab, bc->classes,
           (unsigned long long)bc->seed, aj, gi->backend, gi->isa);
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
                      .config_json = cfg,
                      .step_ms_n = brc ? 0 : br->reps,
                      .step_ms_mean = brc ? NAN : br->ms_mean,
                      .step_ms_std = brc ? NAN : br->ms_std,
                      .gemm_backend = gemm};
  return eb_store_speed(db, &row, err, errlen);
}

int eb_results_open(const char *path, const char *suite, const char *yaml, eb_store **db,
                    int64_t *suite_id, char *err, size_t errlen) {
  int rc = eb_store_open(path, db, err, errlen);
  if (rc) return rc;
  /* rows without a suite file never join a suite run from one: its speed
   * table (and what `run` resumes) stays its own */
  if (!yaml && (rc = eb_store_suite_has_yaml(*db, suite, err, errlen)) != 0) {
    if (rc > 0)
      snprintf(err, errlen,
               "%s: suite '%s' was written by 'effbench run' from a suite file; give "
               "these rows a suite of their own",
               path, suite);
    eb_store_close(*db);
    *db = NULL;
    return rc > 0 ? -2 : -1;
  }
  char blas[512];
  const char *cfg = openblas_get_config(), *core = openblas_get_corename();
  const eb_gemm_info *gi = eb_gemm_info_get();
  snprintf(blas, sizeof blas, "OpenBLAS %s", cfg ? cfg : "");
  if (eb_store_env_record(*db, EFFBENCH_VERSION, EFFBENCH_GIT_COMMIT, EFFBENCH_COMPILER,
                          EFFBENCH_C_FLAGS, err, errlen) ||
      eb_store_env_set(*db, "blas", blas, err, errlen) ||
      eb_store_env_set(*db, "blas_core", core ? core : "unknown", err, errlen) ||
      eb_store_env_set(*db, "gemm_backend", gi->backend, err, errlen) ||
      eb_store_env_set(*db, "gemm_isa", gi->isa, err, errlen) ||
      eb_store_env_set(*db, "gemm_cpu", gi->cpu, err, errlen) ||
      eb_store_env_set(*db, "gemm_warning", gi->warning, err, errlen) ||
      eb_store_suite(*db, suite, yaml, suite_id, err, errlen)) {
    eb_store_close(*db);
    *db = NULL;
    return -1;
  }
  return 0;
}

static int run_speed(eb_store *db, int64_t suite_id, const eb_suite *s,
                     const eb_run_opts *o, eb_run_summary *sum, char *err,
                     size_t errlen) {
  const eb_speed_plan *p = &s->speed;
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
        if (!o->fresh && !o->dry_run &&
            speed_done(db, suite_id, a->arch->name, p->lengths[li], p->batch, mname,
                       o->threads))
          continue;
        if (o->dry_run) {
          say(o, 0, "%-34s %s", "(speed)", label);
          continue;
        }
        say(o, 1, "%s ...", label);
        eb_bench_cfg bc = {.batch = p->batch,
                           .len = p->lengths[li],
                           .train = mode == 0,
                           .vocab = 256,
                           .classes = 10,
                           .min_seconds = 1.0,
                           .min_reps = 3,
                           .warmup = 1,
                           .seed = 0};
        eb_bench_result br;
        char why[EB_ERR_LEN] = "";
        const char *status;
        if (eb_speed_measure(db, suite_id, a->arch, &a->args.args, &s->model, &bc,
                             o->threads, "", &br, &status, why, sizeof why, err, errlen))
          return -1;
        sum->speed_rows++;
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
    if (orc) return orc == -2 ? 2 : 1;
  }
  int *pick = calloc((size_t)(s->nruns ? s->nruns : 1), sizeof *pick);
  if (!pick) {
    snprintf(err, errlen, "out of memory");
    eb_store_close(db);
    return 1;
  }
  for (int i = 0; i < s->nruns; i++) {
    if (o->shard_n > 1 && i % o->shard_n != o->shard_i) continue;
    if (o->only && fnmatch(o->only, s->runs[i].label, 0) != 0) continue;
    pick[i] = 1;
    sum->selected++;
  }
  data_slot data = {0};
  int rc = 0, index = 0;
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
      if (step_flops > 0)
        say(o, 0, "%s  %-48s %9.3g FLOP/step %9.3g FLOP total%s", r->key, r->label,
            step_flops, step_flops * r->train.steps, size);
      else
        say(o, 0, "%s  %-48s (FLOPs unknown: %s)%s", r->key, r->label,
            why[0] ? why : "no analytic count", size);
      continue;
    }
    int ok = 0, outcome = EB_CLAIM_TAKEN;
    if (one_run(db, suite_id, s, r, &data, o, since, index, sum->selected, &outcome, &ok,
                err, errlen)) {
      rc = 1;
      break;
    }
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
  free(pick);
  if (rc == 0 && s->has_speed && (o->shard_n <= 1 || o->shard_i == 0)) {
    if (o->dry_run) say(o, 0, "speed measurements (batch %d):", s->speed.batch);
    if (run_speed(db, suite_id, s, o, sum, err, errlen)) rc = 1;
  }
  eb_store_close(db);
  if (!o->dry_run) eb_ckpt_dir_drop(o->db);
  return rc;
}
