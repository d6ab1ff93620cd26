/* The error model (include/effbench/rc.h; docs/engine.md, "Errors and exit
 * statuses"): a failure's kind travels as an eb_rc beside its message and
 * alone decides a run's status and the exit status.
 *
 *  - an allocation failure ends a run as oom from its kind: an arch failing
 *    with EB_NOMEM and a message without a word about memory is `oom` (train,
 *    run's rows, bench's speed rows), one failing with EB_SHAPE and the words
 *    "out of memory" in its message is `failed`; every allocation the engine
 *    counts, failed on purpose (eb_mem_fail_at), ends as EB_NOMEM / oom;
 *  - the engine context keeps a failure's kind beside its message;
 *  - every kind has a name and the exit status docs/engine.md gives it;
 *  - main.c's command table drives --help, dispatch and the unknown-command
 *    message.
 *
 * main.c is compiled in here, its main() renamed, so its tables are tested as
 * they are. */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define main effbench_main
#include "../harness/main.c"
#undef main

#include "check.h"

/* ------------------------------------------------ an arch that fails ---- */
static eb_rc g_kind = EB_OK;   /* the kind its forward fails with */
static const char *g_msg;      /* and the message */
static int g_fail_at, g_calls; /* the forward call that fails (1-based); 0: none */

static int flaky_create(const eb_model_config *cfg, const eb_args *args, eb_params *P,
                        void **model, char *err, size_t errlen) {
  *model = NULL;
  return 0;
}

/* x[B,N,D] -> x, until call g_fail_at fails with g_kind and g_msg */
static int flaky_forward(void *model, eb_ctx *ctx, eb_tensor *x, const uint8_t *mask,
                         eb_tensor **out, char *err, size_t errlen) {
  if (g_fail_at && ++g_calls >= g_fail_at) {
    eb_ctx_fail(ctx, g_kind, "%s", g_msg);
    return -1;
  }
  *out = x;
  return 0;
}

static const eb_param_decl flaky_params[] = {{NULL, EB_P_END, NULL, NULL, NULL}};
static const eb_arch flaky = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_arch),
    .name = "flaky",
    .summary = "fails on purpose (test_errors)",
    .params = flaky_params,
    .create = flaky_create,
    .forward = flaky_forward,
};

static void fail_with(eb_rc kind, const char *msg, int at) {
  g_kind = kind;
  g_msg = msg;
  g_fail_at = at;
  g_calls = 0;
}

/* no word of the message says what kind of failure it is */
static const char *const NOT_OOM = "the flux capacitor ran dry";
static const char *const SAYS_OOM =
    "out of memory (says the message; the kind says shape)";

/* ------------------------------------------------------------ train ---- */
typedef struct job {
  const eb_task *task;
  eb_argset targs, aargs;
  void *data;
  eb_task_info info;
} job;

static int job_open(job *j, eb_registry *reg, const char *arch, const eb_arch **a) {
  char err[EB_ERR_LEN];
  memset(j, 0, sizeof *j);
  j->task = eb_registry_find_task(reg, "majority");
  *a = eb_registry_find_arch(reg, arch);
  static const char *const kv[] = {"len=8", "train=64", "val=16", "test=16", NULL};
  if (!j->task || !*a ||
      eb_test_resolve_kv(&j->targs, "task 'majority'", j->task->params, kv, err,
                         sizeof err) ||
      eb_argset_resolve(&j->aargs, "arch", (*a)->params, 0, NULL, NULL, err,
                        sizeof err) ||
      j->task->open(&j->targs.args, 1, &j->data, &j->info, err, sizeof err)) {
    CHECK(0, "setting up %s on majority: %s", arch, err);
    return -1;
  }
  return 0;
}

static void job_close(job *j) {
  if (j->data) j->task->close(j->data);
  eb_argset_free(&j->targs);
  eb_argset_free(&j->aargs);
}

/* Builds and trains arch on majority (4 steps, validation at the last): the
 * kind eb_model_create or eb_train_run returned, the status and message. */
static int train_once(eb_registry *reg, const char *arch, eb_run_status *status,
                      char *err, size_t errlen) {
  job j;
  const eb_arch *a;
  if (job_open(&j, reg, arch, &a)) return -1;
  eb_model_config cfg = {.dim = 8, .depth = 1, .heads = 2, .ffn = 16};
  eb_model m;
  eb_train_result res;
  memset(&res, 0, sizeof res);
  *status = EB_RUN_FAILED;
  int rc = eb_model_create(&m, a, &cfg, &j.aargs.args, j.info.vocab, j.info.classes,
                           j.info.max_len, 0, 1, err, errlen);
  if (rc == EB_OK) {
    eb_train_cfg tc = eb_train_defaults();
    tc.steps = 4;
    tc.batch = 8;
    tc.warmup = 1;
    tc.eval_every = 0;
    tc.eval_batches = 1;
    rc = eb_train_run(&m, j.task, j.data, &j.info, &tc, NULL, &res, err, errlen);
    *status = res.status;
    free(res.losses);
    eb_model_destroy(&m);
  }
  job_close(&j);
  return rc;
}

static void test_train_status(eb_registry *reg) {
  char err[EB_ERR_LEN];
  eb_run_status st;
  fail_with(EB_NOMEM, NOT_OOM, 2); /* step 2's forward */
  int rc = train_once(reg, "flaky", &st, err, sizeof err);
  CHECK(rc == EB_NOMEM && st == EB_RUN_OOM, "EB_NOMEM: rc %s, status %s (%s)",
        eb_rc_name(rc), eb_run_status_name(st), err);
  CHECK(strstr(err, NOT_OOM) && !strstr(err, "memory"), "message: %s", err);
  fail_with(EB_SHAPE, SAYS_OOM, 2);
  rc = train_once(reg, "flaky", &st, err, sizeof err);
  CHECK(rc == EB_SHAPE && st == EB_RUN_FAILED, "EB_SHAPE: rc %s, status %s (%s)",
        eb_rc_name(rc), eb_run_status_name(st), err);
  CHECK(strstr(err, "out of memory"), "message: %s", err);
  fail_with(EB_NOMEM, NOT_OOM, 6); /* the validation at the last step */
  rc = train_once(reg, "flaky", &st, err, sizeof err);
  CHECK(rc == EB_NOMEM && st == EB_RUN_OOM, "EB_NOMEM in evaluation: rc %s, status %s",
        eb_rc_name(rc), eb_run_status_name(st));
  fail_with(EB_OK, NULL, 0);
  rc = train_once(reg, "flaky", &st, err, sizeof err);
  CHECK(rc == EB_OK && st == EB_RUN_DONE, "no failure: rc %s, status %s (%s)",
        eb_rc_name(rc), eb_run_status_name(st), err);
}

/* Each counted allocation of building and training a vanilla model, failed in
 * turn: the model or the run ends with EB_NOMEM (status oom) every time. */
static void test_injected_allocation_failures(eb_registry *reg) {
  char err[EB_ERR_LEN];
  eb_run_status st;
  int sites = 0, n = 1, rc = EB_NOMEM;
  for (; n <= 400 && rc != EB_OK; n++) {
    eb_mem_fail_at(n);
    rc = train_once(reg, "vanilla", &st, err, sizeof err);
    eb_mem_fail_at(0);
    if (rc == EB_OK) break;
    sites++;
    CHECK(rc == EB_NOMEM, "allocation %d failed: rc %s (%s)", n, eb_rc_name(rc), err);
    CHECK(st == EB_RUN_OOM || st == EB_RUN_FAILED, "allocation %d: status %s", n,
          eb_run_status_name(st));
  }
  CHECK(rc == EB_OK, "no run without an injected failure up to 400 allocations");
  CHECK(sites >= 6, "only %d allocation sites reached", sites);
  printf("test_errors: %d injected allocation failures, each EB_NOMEM\n", sites);
}

/* --------------------------------------------- run and bench rows ---- */
static int q_text(sqlite3 *db, const char *sql, char *out, size_t len) {
  sqlite3_stmt *st = NULL;
  int ok = sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
           sqlite3_step(st) == SQLITE_ROW;
  snprintf(out, len, "%s",
           ok && sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0)
                                            : "(none)");
  sqlite3_finalize(st);
  return ok ? 0 : -1;
}

/* `run` on a suite of flaky: its row's status comes from the kind */
static void run_suite(eb_registry *reg, const char *dir, const char *name, eb_rc kind,
                      const char *msg, const char *want) {
  char path[512], db[512], err[EB_ERR_LEN];
  snprintf(path, sizeof path, "%s/%s.yaml", dir, name);
  snprintf(db, sizeof db, "%s/%s.db", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    CHECK(0, "%s: cannot write", path);
    return;
  }
  fprintf(f,
          "suite: %s\nseeds: [0]\n"
          "model: {dim: 8, depth: 1, heads: 2, ffn: 16}\n"
          "train: {steps: 3, batch: 8, warmup: 1, eval_every: 0}\n"
          "tasks:\n  - majority: {len: 8, train: 64, val: 16, test: 16}\n"
          "archs:\n  - flaky\n",
          name);
  fclose(f);
  eb_suite s;
  int rc = eb_suite_load(path, reg, &s, err, sizeof err);
  CHECK(rc == EB_OK, "%s: %s", path, err);
  if (rc) return;
  eb_run_opts o = {.db = db, .threads = 1, .reg = reg, .shard_n = 1};
  eb_run_summary sum;
  fail_with(kind, msg, 2);
  rc = eb_suite_execute(&s, &o, &sum, err, sizeof err);
  fail_with(EB_OK, NULL, 0);
  CHECK(rc == EB_OK, "%s: run: rc %s (%s)", name, eb_rc_name(rc), err);
  eb_suite_free(&s);
  sqlite3 *h = NULL;
  char status[64], error[EB_ERR_LEN];
  if (sqlite3_open(db, &h) == SQLITE_OK &&
      !q_text(h, "SELECT status FROM runs", status, sizeof status) &&
      !q_text(h, "SELECT error FROM runs", error, sizeof error)) {
    CHECK(!strcmp(status, want), "%s: status %s, want %s (error: %s)", name, status, want,
          error);
    CHECK(strstr(error, msg), "%s: error column: %s", name, error);
  } else {
    CHECK(0, "%s: no run row", db);
  }
  sqlite3_close(h);
}

/* `bench --db`: a speed row's status comes from the kind too */
static void bench_row(eb_registry *reg, const char *dir, eb_rc kind, const char *msg,
                      const char *want) {
  char db[512], err[EB_ERR_LEN], why[EB_ERR_LEN] = "";
  snprintf(db, sizeof db, "%s/bench.db", dir);
  eb_store *st = NULL;
  int64_t suite_id = 0;
  int rc = eb_results_open(db, "bench", NULL, &st, &suite_id, err, sizeof err);
  CHECK(rc == EB_OK, "%s: %s", db, err);
  if (rc) return;
  eb_model_config cfg = {.dim = 8, .depth = 1, .heads = 2, .ffn = 16};
  eb_args none = {0, NULL};
  eb_bench_cfg bc = {.batch = 2,
                     .len = 8,
                     .train = 1,
                     .vocab = 16,
                     .classes = 2,
                     .min_seconds = 0,
                     .min_reps = 1,
                     .warmup = 0,
                     .seed = 0};
  eb_bench_result br;
  const char *status = "?";
  fail_with(kind, msg, 1);
  rc = eb_speed_measure(st, suite_id, eb_registry_find_arch(reg, "flaky"), &none, &cfg,
                        &bc, 1, "", NULL, &br, &status, why, sizeof why, err, sizeof err);
  fail_with(EB_OK, NULL, 0);
  CHECK(rc == EB_OK, "speed row not written: %s", err);
  CHECK(!strcmp(status, want), "bench with %s: status %s, want %s (%s)", eb_rc_name(kind),
        status, want, why);
  CHECK(strstr(why, msg), "bench reason: %s", why);
  eb_store_close(st);
}

static void test_rows(eb_registry *reg) {
  char dir[] = "/tmp/eb-test-errors-XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK(0, "mkdtemp");
    return;
  }
  run_suite(reg, dir, "nomem", EB_NOMEM, NOT_OOM, "oom");
  run_suite(reg, dir, "shape", EB_SHAPE, SAYS_OOM, "failed");
  bench_row(reg, dir, EB_NOMEM, NOT_OOM, "oom");
  bench_row(reg, dir, EB_SHAPE, SAYS_OOM, "failed");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0, "%s", cmd);
}

/* ------------------------------------------------------ the context ---- */
static void test_ctx(void) {
  eb_ctx *ctx = eb_ctx_create(1 << 20, 0);
  CHECK(eb_ctx_rc(ctx) == EB_OK && !eb_ctx_error(ctx)[0], "a new ctx has a failure");
  eb_ctx_fail(ctx, EB_SHAPE, "first %d", 1);
  CHECK(eb_ctx_rc(ctx) == EB_SHAPE && !strcmp(eb_ctx_error(ctx), "first 1"),
        "recorded: %s %s", eb_rc_name(eb_ctx_rc(ctx)), eb_ctx_error(ctx));
  eb_ctx_fail(ctx, EB_NOMEM, "second");
  CHECK(eb_ctx_rc(ctx) == EB_NOMEM && !strcmp(eb_ctx_error(ctx), "second"),
        "kind and message go together: %s %s", eb_rc_name(eb_ctx_rc(ctx)),
        eb_ctx_error(ctx));
  CHECK(eb_backward(ctx, NULL) == EB_NOMEM, "backward after a failure");
  /* a chain of ops keeps the failure that broke it */
  eb_ctx_reset(ctx);
  eb_tensor *t = eb_tensor_zeros(ctx, 2, (int[]){2, 3});
  CHECK(!eb_relu(ctx, eb_reshape(ctx, t, 2, (int[]){4, 4})) &&
            eb_ctx_rc(ctx) == EB_SHAPE && strstr(eb_ctx_error(ctx), "reshape"),
        "chain: %s %s", eb_rc_name(eb_ctx_rc(ctx)), eb_ctx_error(ctx));
  eb_ctx_reset(ctx);
  CHECK(eb_ctx_rc(ctx) == EB_OK && !eb_ctx_error(ctx)[0], "reset keeps a failure");
  eb_ctx_set_error(ctx, "from an older plugin");
  CHECK(eb_ctx_rc(ctx) == EB_INTERNAL, "set_error: %s", eb_rc_name(eb_ctx_rc(ctx)));
  eb_ctx_reset(ctx);
  /* the arena cannot grow: EB_NOMEM, whatever the words */
  eb_mem_fail_at(1);
  void *p = eb_alloc(ctx, (size_t)4 << 20);
  eb_mem_fail_at(0);
  CHECK(!p && eb_ctx_rc(ctx) == EB_NOMEM, "arena growth refused: %p %s", p,
        eb_rc_name(eb_ctx_rc(ctx)));
  eb_ctx_reset(ctx);
  /* an op's shape error */
  eb_tensor *a = eb_tensor_zeros(ctx, 2, (int[]){2, 3});
  eb_tensor *b = eb_tensor_zeros(ctx, 2, (int[]){4, 5});
  CHECK(!eb_matmul(ctx, a, b, 0, 0) && eb_ctx_rc(ctx) == EB_SHAPE, "matmul: %s",
        eb_rc_name(eb_ctx_rc(ctx)));
  eb_ctx_destroy(ctx);
  /* the parameter block */
  eb_params *P = eb_params_create();
  eb_param(P, "w", 2, (int[]){4, 4}, EB_INIT_ZEROS, 0);
  char err[EB_ERR_LEN];
  eb_mem_fail_at(1);
  int rc = eb_params_finalize(P, 0, err, sizeof err);
  eb_mem_fail_at(0);
  CHECK(rc == EB_NOMEM, "finalize: %s (%s)", eb_rc_name(rc), err);
  eb_params_destroy(P);
}

/* --------------------------------------------- names, exit statuses ---- */
static void test_names(void) {
  for (int i = 0; i < EB_RC_COUNT; i++) {
    CHECK(strcmp(eb_rc_name(i), "?"), "kind %d has no name", i);
    for (int k = 0; k < i; k++)
      CHECK(strcmp(eb_rc_name(i), eb_rc_name(k)), "kinds %d and %d share a name", k, i);
  }
  CHECK(!strcmp(eb_rc_name(EB_OK), "ok") && !strcmp(eb_rc_name(EB_NOMEM), "nomem"),
        "names");
  CHECK(!strcmp(eb_rc_name(-1), "?") && !strcmp(eb_rc_name(EB_RC_COUNT), "?"),
        "a value that is no kind");
}

/* Every kind exits with the status docs/engine.md's table gives it, and that
 * table says: 0 for EB_OK, 2 for bad input (EB_INPUT, EB_NOTFOUND), 1 else. */
static void test_exit_statuses(void) {
  char doc[1024];
  snprintf(doc, sizeof doc, "%s", __FILE__);
  char *slash = strrchr(doc, '/');
  if (slash) *slash = '\0';
  slash = strrchr(doc, '/');
  snprintf(slash ? slash + 1 : doc, sizeof doc - (size_t)(slash ? slash + 1 - doc : 0),
           "docs/engine.md");
  FILE *f = fopen(doc, "r");
  CHECK(f, "%s: cannot read", doc);
  int documented[EB_RC_COUNT];
  for (int i = 0; i < EB_RC_COUNT; i++)
    documented[i] = -1;
  char line[1024];
  while (f && fgets(line, sizeof line, f)) { /* | `EB_NOMEM` | 1 | ... | */
    if (strncmp(line, "| `EB_", 6)) continue;
    char name[32];
    size_t n = strcspn(line + 6, "`");
    if (n >= sizeof name) continue;
    memcpy(name, line + 6, n);
    name[n] = '\0';
    for (char *c = name; *c; c++)
      *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    const char *cell = strchr(line + 1, '|'); /* before the exit status */
    for (int i = 0; cell && i < EB_RC_COUNT; i++)
      if (!strcmp(eb_rc_name(i), name)) documented[i] = atoi(cell + 1);
  }
  if (f) fclose(f);
  for (int i = 0; i < EB_RC_COUNT; i++) {
    const int rule = i == EB_OK ? 0 : i == EB_INPUT || i == EB_NOTFOUND ? 2 : 1;
    CHECK(exit_status(i) == rule, "%s exits %d, the rule says %d", eb_rc_name(i),
          exit_status(i), rule);
    CHECK(documented[i] == exit_status(i), "%s exits %d, docs/engine.md says %d",
          eb_rc_name(i), exit_status(i), documented[i]);
  }
  CHECK(exit_status(-1) == 1 && exit_status(EB_RC_COUNT) == 1, "no kind: not 1");
}

/* ------------------------------------------------- the command table ---- */
/* effbench_main(argv) with stdout and stderr caught into out and errout */
static int run_main(char **argv, char *out, size_t outlen, char *errout, size_t errlen) {
  int argc = 0;
  while (argv[argc])
    argc++;
  FILE *fo = tmpfile(), *fe = tmpfile();
  fflush(stdout);
  fflush(stderr);
  int so = dup(1), se = dup(2);
  dup2(fileno(fo), 1);
  dup2(fileno(fe), 2);
  int rc = effbench_main(argc, argv);
  fflush(stdout);
  fflush(stderr);
  dup2(so, 1);
  dup2(se, 2);
  close(so);
  close(se);
  FILE *both[2] = {fo, fe};
  char *buf[2] = {out, errout};
  size_t len[2] = {outlen, errlen};
  for (int k = 0; k < 2; k++) {
    rewind(both[k]);
    size_t n = fread(buf[k], 1, len[k] - 1, both[k]);
    buf[k][n] = '\0';
    fclose(both[k]);
  }
  return rc;
}

static void test_commands(void) {
  static char out[16384], errout[16384];
  /* --help lists the table, in its order, one line each */
  int rc = run_main((char *[]){"effbench", "--help", NULL}, out, sizeof out, errout,
                    sizeof errout);
  CHECK(rc == 0, "--help exits %d", rc);
  const char *at = strstr(out, "commands:\n");
  CHECK(at, "--help: no command list:\n%s", out);
  for (int i = 0; at && i < NCOMMANDS; i++) {
    char want[160];
    snprintf(want, sizeof want, "\n  %s", COMMANDS[i].name);
    const char *l = strstr(at, want);
    CHECK(l, "--help does not list %s (in table order):\n%s", COMMANDS[i].name, out);
    if (!l) break;
    const char *eol = strchr(l + 1, '\n');
    const char *sum = strstr(l, COMMANDS[i].summary);
    CHECK(sum && (!eol || sum < eol), "--help: %s without its summary", COMMANDS[i].name);
    at = l + 1;
  }
  int lines = 0;
  for (const char *p = strstr(out, "commands:\n"); p && *p; p++)
    lines += p[0] == '\n' && p[1] == ' ' && p[2] == ' ';
  CHECK(lines == NCOMMANDS, "--help lists %d commands, the table has %d", lines,
        NCOMMANDS);
  /* each name dispatches to its handler: its own --help */
  for (int i = 0; i < NCOMMANDS; i++) {
    rc = run_main((char *[]){"effbench", (char *)COMMANDS[i].name, "--help", NULL}, out,
                  sizeof out, errout, sizeof errout);
    char want[64];
    snprintf(want, sizeof want, "usage: effbench %s", COMMANDS[i].name);
    CHECK(rc == 0 && !strncmp(out, want, strlen(want)), "%s --help: exit %d:\n%s%s",
          COMMANDS[i].name, rc, out, errout);
  }
  /* an unknown command: exit 2, the nearest name and every name */
  rc = run_main((char *[]){"effbench", "trian", NULL}, out, sizeof out, errout,
                sizeof errout);
  CHECK(rc == 2 && strstr(errout, "unknown command 'trian'; did you mean 'train'?"),
        "unknown command: exit %d: %s", rc, errout);
  for (int i = 0; i < NCOMMANDS; i++)
    CHECK(strstr(errout, COMMANDS[i].name), "the unknown-command message misses %s: %s",
          COMMANDS[i].name, errout);
  /* a handler's kind becomes the exit status: bad input 2, not found 2 */
  rc = run_main((char *[]){"effbench", "list", "nothing", NULL}, out, sizeof out, errout,
                sizeof errout);
  CHECK(rc == 2, "list nothing: exit %d", rc);
  rc = run_main((char *[]){"effbench", "report", "--db", "/nonexistent/x.db", NULL}, out,
                sizeof out, errout, sizeof errout);
  CHECK(rc == 2 && strstr(errout, "no database at"), "report of no database: exit %d: %s",
        rc, errout);
}

int main(void) {
  eb_registry *reg = eb_registry_create();
  char err[EB_ERR_LEN];
  if (!reg || eb_registry_add_builtins(reg, err, sizeof err) ||
      eb_register_arch(reg, &flaky)) {
    fprintf(stderr, "test_errors: registry: %s\n", err);
    return 1;
  }
  char cache[] = "/tmp/eb-test-errors-cache-XXXXXX";
  if (mkdtemp(cache)) setenv("EFFBENCH_CACHE", cache, 1);
  test_names();
  test_exit_statuses();
  test_ctx();
  test_train_status(reg);
  test_injected_allocation_failures(reg);
  test_rows(reg);
  test_commands();
  eb_registry_destroy(reg);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
  if (system(cmd) != 0) fprintf(stderr, "test_errors: could not remove %s\n", cache);
  return eb_test_done("test_errors");
}
