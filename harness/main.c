/* effbench command-line entry point: the only place that prints and exits.
 * Every command returns an eb_rc (effbench/rc.h); EXIT_STATUS below maps it to
 * the exit status: 0 success, 1 a run or I/O failure, 2 bad usage or bad
 * input. */
#include <signal.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "check.h"
#include "args.h"
#include "export.h"
#include "gemm.h"
#include "model.h"
#include "peak.h"
#include "plot.h"
#include "registry.h"
#include "report.h"
#include "compare.h"
#include "dataset.h"
#include "merge.h"
#include "run.h"
#include "slurm.h"
#include "store.h"
#include "tmpname.h"
#include "train.h"
#include "json.h"
#include "version.h"

#define MAX_KV 64

/* What every command gets besides its arguments: the registry (built-ins and
 * plugins) and the --plugin files it was opened with. */
typedef struct cli {
  eb_registry *reg;
  char **plugins;
  int nplug;
} cli;

/* ------------------------------------------------------- option tables ---- */
typedef enum { O_INT, O_FLOAT, O_STR, O_FLAG, O_KV } okind;

typedef struct opt {
  const char *name; /* without leading dashes */
  okind kind;
  void *ptr;
  double min, max; /* numeric range */
  const char *metavar, *help;
} opt;

typedef struct kvlist {
  int n;
  const char *k[MAX_KV], *v[MAX_KV];
  char *own[MAX_KV];
} kvlist;

static void kv_free(kvlist *l) {
  for (int i = 0; i < l->n; i++)
    free(l->own[i]);
  l->n = 0;
}

static void print_help(const char *cmd, const char *synopsis, const char *about,
                       const opt *o) {
  printf("usage: effbench %s %s\n\n%s\n\noptions:\n", cmd, synopsis, about);
  for (; o->name; o++) {
    char left[64];
    snprintf(left, sizeof left, "%s%s%s%s", o->name[1] ? "--" : "-", o->name,
             o->metavar ? " " : "", o->metavar ? o->metavar : "");
    printf("  %-24s %s\n", left, o->help);
  }
  printf("  %-24s %s\n", "--help", "show this help");
}

/* parse_opts showed --help: the command has nothing else to do */
enum { OPTS_HELP = -1 };

/* Parses argv[first..] into the table; positional arguments are collected in
 * pos. Returns EB_OK, OPTS_HELP if --help was shown, or EB_INPUT (EB_NOMEM)
 * with a message in err. */
static int parse_opts(const char *cmd, int argc, char **argv, int first, const opt *table,
                      const char *synopsis, const char *about, char **pos, int *npos,
                      int maxpos, char *err, size_t errlen) {
  *npos = 0;
  for (int i = first; i < argc; i++) {
    char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      print_help(cmd, synopsis, about, table);
      return OPTS_HELP;
    }
    /* a one-letter option may be written with one dash (-o FILE) */
    char dashed[8];
    if (a[0] == '-' && a[1] && a[1] != '-' && !a[2]) {
      snprintf(dashed, sizeof dashed, "--%c", a[1]);
      a = dashed;
    }
    if (strncmp(a, "--", 2) != 0) {
      if (*npos >= maxpos) {
        snprintf(err, errlen, "unexpected argument '%s'", a);
        return EB_INPUT;
      }
      pos[(*npos)++] = a;
      continue;
    }
    char name[64];
    const char *val = NULL, *eq = strchr(a + 2, '=');
    size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (nl >= sizeof name) nl = sizeof name - 1;
    memcpy(name, a + 2, nl);
    name[nl] = '\0';
    if (eq) val = eq + 1;
    const opt *o = table;
    for (; o->name; o++)
      if (strcmp(o->name, name) == 0) break;
    if (!o->name) {
      const char *cands[64];
      int nc = 0;
      for (const opt *p = table; p->name && nc < 64; p++)
        cands[nc++] = p->name;
      const char *near = eb_nearest(name, cands, nc);
      snprintf(err, errlen, "unknown option '--%s'%s%s%s (see effbench %s --help)", name,
               near ? "; did you mean '--" : "", near ? near : "", near ? "'?" : "", cmd);
      return EB_INPUT;
    }
    if (o->kind == O_FLAG) {
      if (val) {
        snprintf(err, errlen, "option '--%s' takes no value", name);
        return EB_INPUT;
      }
      *(int *)o->ptr = 1;
      continue;
    }
    if (!val) {
      if (i + 1 >= argc) {
        snprintf(err, errlen, "option '--%s' needs a value (%s)", name,
                 o->metavar ? o->metavar : "value");
        return EB_INPUT;
      }
      val = argv[++i];
    }
    eb_arg parsed;
    char why[256];
    switch (o->kind) {
    case O_INT:
      if (eb_parse_value(EB_P_INT, val, &parsed, why, sizeof why) || parsed.i < o->min ||
          parsed.i > o->max) {
        snprintf(err, errlen, "--%s %s: expected an integer in [%.0f, %.0f]", name, val,
                 o->min, o->max);
        return EB_INPUT;
      }
      *(long long *)o->ptr = parsed.i;
      break;
    case O_FLOAT:
      if (eb_parse_value(EB_P_FLOAT, val, &parsed, why, sizeof why) ||
          parsed.f < o->min || parsed.f > o->max) {
        snprintf(err, errlen, "--%s %s: expected a number in [%g, %g]", name, val, o->min,
                 o->max);
        return EB_INPUT;
      }
      *(double *)o->ptr = parsed.f;
      break;
    case O_STR: *(const char **)o->ptr = val; break;
    case O_KV: {
      kvlist *l = o->ptr;
      const char *e2 = strchr(val, '=');
      if (!e2 || e2 == val) {
        snprintf(err, errlen, "--%s %s: expected KEY=VALUE", name, val);
        return EB_INPUT;
      }
      if (l->n == MAX_KV) {
        snprintf(err, errlen, "too many --%s options", name);
        return EB_INPUT;
      }
      char *key = strndup(val, (size_t)(e2 - val));
      if (!key) {
        snprintf(err, errlen, "out of memory");
        return EB_NOMEM;
      }
      l->own[l->n] = key;
      l->k[l->n] = key;
      l->v[l->n++] = e2 + 1;
      break;
    }
    case O_FLAG: break;
    }
  }
  return EB_OK;
}

/* ------------------------------------------------ shared model options ---- */
typedef struct model_opts {
  const char *arch, *pool, *positions, *head;
  long long dim, depth, heads, ffn, threads, seed, head_width;
  double dropout, attention_dropout, mlp_dropout;
  kvlist params;
} model_opts;

static model_opts model_defaults(void) {
  model_opts m = {.arch = "vanilla",
                  .pool = "mean",
                  .positions = "learned",
                  .head = "linear",
                  .dim = 64,
                  .depth = 2,
                  .heads = 4,
                  .ffn = 128,
                  .threads = 1,
                  .seed = 0,
                  .dropout = 0.0};
  return m;
}

#define MODEL_OPTS(m)                                                                    \
  {"arch", O_STR, &(m).arch, 0, 0, "NAME", "architecture (effbench list archs)"},        \
      {"dim", O_INT, &(m).dim, 1, 65536, "D", "model width [64]"},                       \
      {"depth", O_INT, &(m).depth, 0, 1024, "L", "number of blocks [2]"},                \
      {"heads", O_INT, &(m).heads, 1, 4096, "H", "attention heads [4]"},                 \
      {"ffn", O_INT, &(m).ffn, 1, 1 << 20, "F", "MLP hidden width [128]"},               \
      {"dropout", O_FLOAT, &(m).dropout, 0, 0.999, "P", "dropout rate [0]"},             \
      {"pool", O_STR, &(m).pool, 0, 0, "mean|cls", "sequence pooling [mean]"},           \
      {"attention-dropout",                                                              \
       O_FLOAT,                                                                          \
       &(m).attention_dropout,                                                           \
       0,                                                                                \
       0.999,                                                                            \
       "P",                                                                              \
       "dropout on attention probabilities [0]"},                                        \
      {"mlp-dropout",                                                                    \
       O_FLOAT,                                                                          \
       &(m).mlp_dropout,                                                                 \
       0,                                                                                \
       0.999,                                                                            \
       "P",                                                                              \
       "dropout on the MLP hidden activation [0]"},                                      \
      {"positions",                                                                      \
       O_STR,                                                                            \
       &(m).positions,                                                                   \
       0,                                                                                \
       0,                                                                                \
       "learned|sinusoidal",                                                             \
       "positional embedding [learned]"},                                                \
      {"head",                                                                           \
       O_STR,                                                                            \
       &(m).head,                                                                        \
       0,                                                                                \
       0,                                                                                \
       "linear|mlp",                                                                     \
       "classifier head; mlp = Dense-ReLU-Dense (LRA) [linear]"},                        \
      {"head-width",                                                                     \
       O_INT,                                                                            \
       &(m).head_width,                                                                  \
       0,                                                                                \
       1 << 20,                                                                          \
       "W",                                                                              \
       "hidden width of the mlp head, 0 = ffn [0]"},                                     \
      {"param", O_KV, &(m).params, 0, 0, "K=V", "architecture parameter (repeatable)"},  \
      {"threads", O_INT, &(m).threads, 1, 1024, "N", "threads for BLAS and engine [1]"}, \
  {                                                                                      \
    "seed", O_INT, &(m).seed, 0, 9.0e15, "S", "random seed [0]"                          \
  }

/* Fills the model config and resolves the arch parameters. EB_OK, or the
 * kind with err (EB_NOTFOUND: no such arch; EB_INPUT: a bad option). */
static int resolve_model(eb_registry *reg, const model_opts *mo, const eb_arch **arch,
                         eb_model_config *cfg, eb_argset *args, char *err,
                         size_t errlen) {
  *arch = eb_registry_find_arch(reg, mo->arch);
  if (!*arch) {
    eb_registry_unknown(reg, 1, mo->arch, err, errlen);
    return EB_NOTFOUND;
  }
  if (strcmp(mo->pool, "mean") && strcmp(mo->pool, "cls")) {
    snprintf(err, errlen, "--pool %s: expected mean or cls", mo->pool);
    return EB_INPUT;
  }
  if (strcmp(mo->positions, "learned") && strcmp(mo->positions, "sinusoidal")) {
    snprintf(err, errlen, "--positions %s: expected learned or sinusoidal",
             mo->positions);
    return EB_INPUT;
  }
  if (strcmp(mo->head, "linear") && strcmp(mo->head, "mlp")) {
    snprintf(err, errlen, "--head %s: expected linear or mlp", mo->head);
    return EB_INPUT;
  }
  memset(cfg, 0, sizeof *cfg);
  cfg->dim = (int)mo->dim;
  cfg->depth = (int)mo->depth;
  cfg->heads = (int)mo->heads;
  cfg->ffn = (int)mo->ffn;
  cfg->dropout = (float)mo->dropout;
  cfg->attention_dropout = (float)mo->attention_dropout;
  cfg->mlp_dropout = (float)mo->mlp_dropout;
  cfg->positions =
      strcmp(mo->positions, "sinusoidal") ? EB_POS_LEARNED : EB_POS_SINUSOIDAL;
  cfg->head = strcmp(mo->head, "mlp") ? EB_HEAD_LINEAR : EB_HEAD_MLP;
  cfg->head_width = (int)mo->head_width;
  cfg->pool = strcmp(mo->pool, "cls") == 0 ? EB_POOL_CLS : EB_POOL_MEAN;
  char owner[128];
  snprintf(owner, sizeof owner, "arch '%s'", (*arch)->name);
  int rc = eb_argset_resolve(args, owner, (*arch)->params, mo->params.n, mo->params.k,
                             mo->params.v, err, errlen);
  if (rc) return rc;
  eb_set_threads((int)mo->threads);
  return EB_OK;
}

/* A number for JSON (null when not measured) or for a text column (n/a),
 * formatted into a buffer that lives for the calling statement. */
static const char *fmt_num(char *buf, const char *fmt, double v, int ok, const char *no) {
  if (!ok) return no;
  snprintf(buf, 32, fmt, v);
  return buf;
}
#define TNUM(fmt, v, ok) fmt_num((char[32]){0}, fmt, v, ok, "n/a")

/* JSON on stdout: b's text and a newline (an allocation that failed on the
 * way prints nothing: EB_NOMEM). */
static int print_json(eb_sbuf *b) {
  char *s = eb_sb_take(b);
  if (!s) return EB_NOMEM;
  printf("%s\n", s);
  free(s);
  return EB_OK;
}

/* a measured number: fmt, or null when not measured (ok 0) */
static void json_measured(eb_json *w, const char *fmt, double v, int ok) {
  if (ok)
    eb_json_rawf(w, fmt, v);
  else
    eb_json_null(w);
}

/* -------------------------------------------------------------- list ---- */
static void list_params(const eb_param_decl *d) {
  for (; d && d->name; d++) {
    char left[96], type[64];
    if (d->type == EB_P_STRING || !d->choices) /* an int's choices are extra words */
      snprintf(type, sizeof type, "%s", d->choices ? d->choices : eb_type_name(d->type));
    else
      snprintf(type, sizeof type, "%s|%s", eb_type_name(d->type), d->choices);
    snprintf(left, sizeof left, "%s: %s = %s", d->name, type, d->def ? d->def : "");
    printf("      %-36s %s\n", left, d->help ? d->help : "");
  }
}

/* list --json: an entry's declared parameters as a JSON array */
static void list_params_json(eb_json *w, const eb_param_decl *d) {
  eb_json_open(w, '[');
  for (int i = 0; d && d[i].name; i++) {
    eb_json_open(w, '{');
    eb_json_key(w, "name");
    eb_json_string(w, d[i].name);
    eb_json_key(w, "type");
    eb_json_string(w, eb_type_name(d[i].type));
    eb_json_key(w, "default");
    eb_json_string(w, d[i].def); /* NULL: null */
    eb_json_key(w, "choices");
    eb_json_string(w, d[i].choices);
    eb_json_key(w, "help");
    eb_json_string(w, d[i].help ? d[i].help : "");
    eb_json_close(w);
  }
  eb_json_close(w);
}

static int cmd_list(const cli *cl, int argc, char **argv) {
  eb_registry *reg = cl->reg;
  const char *usage = "usage: effbench list archs|tasks [--json]";
  int json = 0;
  const char *what = NULL;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf(
          "%s\n\nLists registered architectures or tasks (built-in and plugins) with "
          "their declared parameters, types, defaults and help; --json prints one JSON "
          "array of {name, summary, origin, params: [{name, type, default, choices, "
          "help}]}.\n",
          usage);
      return EB_OK;
    }
    if (!strcmp(argv[i], "--json"))
      json = 1;
    else if (!what && (!strcmp(argv[i], "archs") || !strcmp(argv[i], "tasks")))
      what = argv[i];
    else {
      fprintf(stderr,
              "effbench list: unexpected argument '%s': expected 'archs' or "
              "'tasks'\n%s\n",
              argv[i], usage);
      return EB_INPUT;
    }
  }
  if (!what) {
    fprintf(stderr, "effbench list: expected 'archs' or 'tasks'\n%s\n", usage);
    return EB_INPUT;
  }
  const int archs = !strcmp(what, "archs");
  const int n = archs ? eb_registry_arch_count(reg) : eb_registry_task_count(reg);
  eb_sbuf jb = {0};
  eb_json w;
  eb_json_init(&w, &jb);
  eb_json_open(&w, '[');
  for (int i = 0; i < n; i++) {
    const eb_arch *a = archs ? eb_registry_arch_at(reg, i) : NULL;
    const eb_task *t = archs ? NULL : eb_registry_task_at(reg, i);
    const char *name = archs ? a->name : t->name;
    const char *summary = archs ? a->summary : t->summary;
    const eb_param_decl *params = archs ? a->params : t->params;
    /* tasks come built in or from a plugin; only archs record which */
    const char *origin = archs ? eb_registry_arch_origin(reg, a) : NULL;
    if (json) {
      eb_json_open(&w, '{');
      eb_json_key(&w, "name");
      eb_json_string(&w, name);
      eb_json_key(&w, "summary");
      eb_json_string(&w, summary ? summary : "");
      eb_json_key(&w, "origin");
      eb_json_string(&w, origin); /* NULL: null */
      eb_json_key(&w, "params");
      list_params_json(&w, params);
      eb_json_close(&w);
      continue;
    }
    const int plugin = origin && strcmp(origin, "built-in");
    printf("%-12s %s%s%s%s\n", name, summary ? summary : "", plugin ? " [plugin " : "",
           plugin ? origin : "", plugin ? "]" : "");
    list_params(params);
  }
  eb_json_close(&w);
  if (!json) {
    free(jb.p);
    return EB_OK;
  }
  int rc = print_json(&jb);
  if (rc) fprintf(stderr, "effbench list: out of memory\n");
  return rc;
}

/* ------------------------------------------------------------- train ---- */
typedef struct train_view {
  int tty, json;
  int last_len;
} train_view;

static void on_step(void *user, int step, int steps, float loss, double tps) {
  train_view *v = user;
  if (v->tty && !v->json) {
    fprintf(stderr, "\rstep %d/%d  loss %.4f  %.0f tok/s   ", step, steps, loss, tps);
    v->last_len = 1;
  }
}

static void on_eval(void *user, const eb_eval_point *e) {
  train_view *v = user;
  if (v->json) return;
  if (v->last_len) fprintf(stderr, "\n");
  v->last_len = 0;
  fprintf(stderr, "%s step %d: loss %.4f accuracy %.4f (%.1fs)\n",
          e->split == EB_SPLIT_VAL ? "val " : "test", e->step, e->loss, e->accuracy,
          e->elapsed_s);
}

/* Finds, configures and opens a task: EB_OK, or the kind with err. The task
 * ABI's open says only that it failed: its parameters or the data they name
 * are the user's (EB_INPUT). */
static int open_task(eb_registry *reg, const char *name, const kvlist *tp, uint64_t seed,
                     const eb_task **task, eb_argset *targs, void **data,
                     eb_task_info *info, char *err, size_t errlen) {
  *task = eb_registry_find_task(reg, name);
  if (!*task) {
    eb_registry_unknown(reg, 0, name, err, errlen);
    return EB_NOTFOUND;
  }
  char owner[128];
  snprintf(owner, sizeof owner, "task '%s'", name);
  int rc =
      eb_argset_resolve(targs, owner, (*task)->params, tp->n, tp->k, tp->v, err, errlen);
  if (rc) return rc;
  memset(info, 0, sizeof *info);
  if ((*task)->open(&targs->args, seed, data, info, err, errlen)) return EB_INPUT;
  return EB_OK;
}

static int cmd_train(const cli *cl, int argc, char **argv) {
  eb_registry *reg = cl->reg;
  model_opts mo = model_defaults();
  const char *task_name = "majority", *losses_path = NULL, *schedule = "rsqrt";
  kvlist tparams = {0};
  long long steps = 300, batch = 32, warmup = 30, eval_every = 100, eval_batches = 0;
  double lr = 1e-3, wd = 0.0, clip = 1.0, budget = 0;
  int json = 0;
  opt table[] = {
      MODEL_OPTS(mo),
      {"task", O_STR, &task_name, 0, 0, "NAME", "task (effbench list tasks) [majority]"},
      {"task-param", O_KV, &tparams, 0, 0, "K=V", "task parameter (repeatable)"},
      {"steps", O_INT, &steps, 1, 1e9, "N", "training steps [300]"},
      {"batch", O_INT, &batch, 1, 1 << 20, "B", "batch size [32]"},
      {"lr", O_FLOAT, &lr, 0, 10, "LR", "peak learning rate [1e-3]"},
      {"warmup", O_INT, &warmup, 0, 1e9, "N", "linear warm-up steps [30]"},
      {"schedule", O_STR, &schedule, 0, 0, "constant|rsqrt|cosine",
       "decay after warm-up [rsqrt]"},
      {"weight-decay", O_FLOAT, &wd, 0, 10, "W", "AdamW decoupled weight decay [0]"},
      {"clip", O_FLOAT, &clip, 0, 1e9, "C", "gradient-norm clipping, 0 = off [1]"},
      {"eval-every", O_INT, &eval_every, 0, 1e9, "N", "validate every N steps [100]"},
      {"eval-batches", O_INT, &eval_batches, 0, 1e9, "N",
       "validation batches, 0 = all [0]"},
      {"time-budget", O_FLOAT, &budget, 0, 1e9, "SEC",
       "stop after SEC seconds, 0 = none [0]"},
      {"losses", O_STR, &losses_path, 0, 0, "FILE",
       "write each step's training loss to FILE"},
      {"json", O_FLAG, &json, 0, 0, NULL, "print the result as one JSON object"},
      {NULL, 0, NULL, 0, 0, NULL, NULL},
  };
  char err[EB_ERR_LEN] = "";
  char *pos[1];
  int npos;
  int rc =
      parse_opts("train", argc, argv, 2, table, "[options]",
                 "Trains one architecture on one task and reports validation and test "
                 "accuracy (test at the best validation step).",
                 pos, &npos, 0, err, sizeof err);
  if (rc == OPTS_HELP) return kv_free(&mo.params), kv_free(&tparams), EB_OK;
  eb_train_cfg tc = eb_train_defaults();
  const eb_arch *arch = NULL;
  eb_model_config mcfg;
  eb_argset aargs = {0}, targs = {0};
  const eb_task *task = NULL;
  void *tdata = NULL;
  eb_task_info info;
  eb_model m;
  memset(&m, 0, sizeof m);
  eb_train_result res;
  memset(&res, 0, sizeof res);
  if (rc) goto out;
  if (eb_schedule_parse(schedule, &tc.schedule)) {
    snprintf(err, sizeof err, "--schedule %s: expected constant, rsqrt or cosine",
             schedule);
    rc = EB_INPUT;
    goto out;
  }
  if ((rc = resolve_model(reg, &mo, &arch, &mcfg, &aargs, err, sizeof err))) goto out;
  if ((rc = open_task(reg, task_name, &tparams, (uint64_t)mo.seed, &task, &targs, &tdata,
                      &info, err, sizeof err)))
    goto out;
  if ((rc = eb_model_create(&m, arch, &mcfg, &aargs.args, info.vocab, info.classes,
                            info.max_len, info.mode == EB_INPUT_PAIR, (uint64_t)mo.seed,
                            err, sizeof err)))
    goto out;
  tc.steps = (int)steps;
  tc.batch = (int)batch;
  tc.warmup = (int)warmup;
  tc.lr = (float)lr;
  tc.weight_decay = (float)wd;
  tc.clip = (float)clip;
  tc.eval_every = (int)eval_every;
  tc.eval_batches = (int)eval_batches;
  tc.time_budget_s = budget;
  tc.seed = (uint64_t)mo.seed;
  train_view view = {isatty(2), json, 0};
  eb_train_hooks hooks = {&view, on_step, on_eval, NULL};
  if ((rc = eb_train_run(&m, task, tdata, &info, &tc, &hooks, &res, err, sizeof err)))
    goto out;
  if (losses_path) {
    FILE *f = fopen(losses_path, "w");
    int ok = f != NULL;
    for (int i = 0; ok && i < res.steps_done; i++)
      ok = fprintf(f, "%.9g\n", (double)res.losses[i]) > 0;
    if (f && fclose(f)) ok = 0;
    if (!ok) {
      snprintf(err, sizeof err, "%s: cannot write the losses", losses_path);
      rc = EB_IO;
      goto out;
    }
  }
  if (json) {
    /* JSON has no NaN or infinity: a value that is not finite (a diverged
     * loss, an accuracy never measured) is null, and status says why */
    const double first = res.steps_done ? res.losses[0] : NAN,
                 last = res.steps_done ? res.losses[res.steps_done - 1] : NAN;
    eb_sbuf jb = {0};
    eb_json w;
    eb_json_init(&w, &jb);
    eb_json_open(&w, '{');
    eb_json_key(&w, "arch");
    eb_json_string(&w, arch->name);
    eb_json_key(&w, "task");
    eb_json_string(&w, task->name);
    eb_json_key(&w, "status");
    eb_json_string(&w, eb_run_status_name(res.status));
    eb_json_key(&w, "steps_done");
    eb_json_int(&w, res.steps_done);
    eb_json_key(&w, "first_loss");
    eb_json_num(&w, "%.6g", first);
    eb_json_key(&w, "final_loss");
    eb_json_num(&w, "%.6g", last);
    eb_json_key(&w, "val_accuracy");
    eb_json_num(&w, "%.6g", res.val_accuracy);
    eb_json_key(&w, "test_accuracy");
    eb_json_num(&w, "%.6g", res.test_accuracy);
    eb_json_key(&w, "best_step");
    eb_json_int(&w, res.best_step);
    eb_json_key(&w, "train_seconds");
    eb_json_num(&w, "%.3f", res.train_seconds);
    eb_json_key(&w, "tokens_per_s");
    eb_json_num(&w, "%.1f", res.tokens_per_s);
    eb_json_key(&w, "params_total");
    eb_json_int(&w, (long long)res.params_total);
    eb_json_key(&w, "flops_train_step");
    eb_json_num(&w, "%.6g", res.flops_train_step);
    eb_json_key(&w, "model_flops_train_step");
    eb_json_num(&w, "%.6g", res.model_flops_train_step);
    eb_json_key(&w, "peak_mem_bytes");
    eb_json_rawf(&w, "%zu", res.peak_mem_bytes);
    eb_json_key(&w, "arch_params");
    eb_args_json_w(&w, &aargs.args);
    eb_json_close(&w);
    if ((rc = print_json(&jb))) {
      snprintf(err, sizeof err, "out of memory");
      goto out;
    }
  } else {
    printf(
        "%s on %s: %s after %d steps; test accuracy %.4f (best validation %.4f at step "
        "%d); %lld parameters; %.0f tokens/s\n",
        arch->name, task->name, eb_run_status_name(res.status), res.steps_done,
        res.test_accuracy, res.val_accuracy, res.best_step, (long long)res.params_total,
        res.tokens_per_s);
  }
  if (res.status != EB_RUN_DONE) rc = EB_FAILED; /* diverged or timed out */
out:
  if (rc && err[0]) fprintf(stderr, "effbench train: %s\n", err);
  free(res.losses);
  if (m.P) eb_model_destroy(&m);
  if (task && tdata && task->close) task->close(tdata);
  eb_argset_free(&aargs);
  eb_argset_free(&targs);
  kv_free(&mo.params);
  kv_free(&tparams);
  return rc;
}

/* ------------------------------------------------------------- bench ---- */
static int parse_lengths(const char *s, int *out, int max, int *n) {
  *n = 0;
  char *copy = strdup(s), *save = NULL;
  if (!copy) return -1;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    eb_arg a;
    char why[64];
    if (*n == max || eb_parse_value(EB_P_INT, t, &a, why, sizeof why) || a.i < 1 ||
        a.i > (1 << 24)) {
      free(copy);
      return -1;
    }
    out[(*n)++] = (int)a.i;
  }
  free(copy);
  return *n ? 0 : -1;
}

/* `bench --peak`: the machine's peaks, nothing else. Options other than
 * --threads and --json would be ignored, so they are refused (bad input). */
static int bench_peak_only(int argc, char **argv, int no_peak, int threads, int json,
                           char *err, size_t errlen) {
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-') continue; /* a value */
    size_t n = strcspn(a, "=");
    if ((n == 6 && !strncmp(a, "--peak", n)) || (n == 9 && !strncmp(a, "--threads", n)) ||
        (n == 6 && !strncmp(a, "--json", n)))
      continue;
    snprintf(
        err, errlen,
        "--peak measures only the machine (fp32 GEMM and memory bandwidth) and takes "
        "only --threads and --json, not '%.*s'%s",
        (int)n, a,
        (n == 9 && !strncmp(a, "--no-peak", n)) ? " (it contradicts --peak)" : "");
    return EB_INPUT;
  }
  eb_peak_cfg pc = eb_peak_full(threads);
  eb_peak p;
  int rc = eb_peak_measure(&pc, &p, err, errlen);
  if (rc) return rc;
  const eb_gemm_info *gi = eb_gemm_info_get();
  double mib = (double)p.bw_bytes / (1 << 20);
  if (json) {
    eb_sbuf jb = {0};
    eb_json w;
    eb_json_init(&w, &jb);
    eb_json_open(&w, '{');
    eb_json_key(&w, "threads");
    eb_json_int(&w, p.threads);
    eb_json_key(&w, "peak_gemm_gflops");
    eb_json_rawf(&w, "%.3f", p.gemm_gflops);
    eb_json_key(&w, "gemm_gflops_median");
    eb_json_rawf(&w, "%.3f", p.gemm_gflops_median);
    eb_json_key(&w, "gemm_n");
    eb_json_int(&w, p.gemm_n);
    eb_json_key(&w, "gemm_reps");
    eb_json_int(&w, p.gemm_reps);
    eb_json_key(&w, "peak_bw_gbs");
    eb_json_rawf(&w, "%.3f", p.bw_gbs);
    eb_json_key(&w, "bw_gbs_median");
    eb_json_rawf(&w, "%.3f", p.bw_gbs_median);
    eb_json_key(&w, "bw_array_bytes");
    eb_json_rawf(&w, "%zu", p.bw_bytes);
    eb_json_key(&w, "bw_arrays");
    eb_json_int(&w, 3);
    eb_json_key(&w, "bw_bytes_per_element");
    eb_json_int(&w, 12);
    eb_json_key(&w, "bw_write_allocate_counted");
    eb_json_bool(&w, 0);
    eb_json_key(&w, "bw_reps");
    eb_json_int(&w, p.bw_reps);
    eb_json_key(&w, "seconds");
    eb_json_rawf(&w, "%.3f", p.seconds);
    eb_json_key(&w, "gemm_backend");
    eb_json_string(&w, gi->backend);
    eb_json_key(&w, "gemm_isa");
    eb_json_string(&w, gi->isa);
    eb_json_key(&w, "gemm_cpu");
    eb_json_string(&w, gi->cpu);
    eb_json_key(&w, "gemm_warning"); /* may quote the environment */
    eb_json_string(&w, gi->warning);
    eb_json_close(&w);
    if ((rc = print_json(&jb))) {
      snprintf(err, errlen, "out of memory");
      return rc;
    }
  } else {
    printf("GEMM    fp32 C[%d,%d] = A B, engine GEMM, %d thread(s): best %.1f GFLOP/s, "
           "median %.1f (%d reps)\n",
           p.gemm_n, p.gemm_n, p.threads, p.gemm_gflops, p.gemm_gflops_median,
           p.gemm_reps);
    printf(
        "memory  triad a = b + s*c, 3 x %.0f MiB, %d thread(s): best %.1f GB/s, median "
        "%.1f (%d reps; 12 bytes/element, write-allocate not counted)\n",
        mib, p.threads, p.bw_gbs, p.bw_gbs_median, p.bw_reps);
    printf("gemm    backend %s, isa %s\n", gi->backend, gi->isa);
    printf("cpu     %s\n", gi->cpu);
  }
  return EB_OK;
}

static int cmd_bench(const cli *cl, int argc, char **argv) {
  eb_registry *reg = cl->reg;
  model_opts mo = model_defaults();
  const char *lens = "512", *mode = "train", *task_name = NULL, *db_path = NULL,
             *suite = NULL;
  long long batch = 32, vocab = 256, classes = 10, min_reps = 5, warmup = 2;
  double min_time = 1.0;
  int json = 0, peak = 0, no_peak = 0;
  kvlist tparams = {0};
  opt table[] = {
      MODEL_OPTS(mo),
      {"peak", O_FLAG, &peak, 0, 0, NULL,
       "measure only the machine's peaks (fp32 GEMM GFLOP/s, memory GB/s); takes "
       "--threads and --json"},
      {"no-peak", O_FLAG, &no_peak, 0, 0, NULL,
       "do not measure the peaks first (fractions of peak then n/a)"},
      {"len", O_STR, &lens, 0, 0, "N[,N..]", "sequence length(s) [512]"},
      {"batch", O_INT, &batch, 1, 1 << 20, "B", "batch size [32]"},
      {"mode", O_STR, &mode, 0, 0, "train|infer",
       "training step (fwd+bwd+Adam) or forward [train]"},
      {"task", O_STR, &task_name, 0, 0, "NAME", "take vocab and classes from a task"},
      {"task-param", O_KV, &tparams, 0, 0, "K=V", "task parameter (with --task)"},
      {"vocab", O_INT, &vocab, 2, 1 << 24, "V", "vocabulary without --task [256]"},
      {"classes", O_INT, &classes, 2, 1 << 20, "C", "classes without --task [10]"},
      {"min-time", O_FLOAT, &min_time, 0, 3600, "SEC",
       "measure at least SEC seconds [1]"},
      {"min-reps", O_INT, &min_reps, 1, 1e6, "N", "and at least N repeats [5]"},
      {"warmup", O_INT, &warmup, 0, 1000, "N", "unmeasured warm-up steps [2]"},
      {"json", O_FLAG, &json, 0, 0, NULL, "one JSON object per length"},
      {"db", O_STR, &db_path, 0, 0, "FILE",
       "also record each length as a row of the speed table in FILE"},
      {"suite", O_STR, &suite, 0, 0, "NAME",
       "suite the --db rows belong to (effbench report --suite NAME) [bench]"},
      {NULL, 0, NULL, 0, 0, NULL, NULL},
  };
  char err[EB_ERR_LEN] = "";
  char *pos[1];
  int npos;
  eb_store *db = NULL;
  int64_t suite_id = 0;
  int failures = 0;
  const eb_gemm_info *gi = eb_gemm_info_get();
  int rc = parse_opts(
      "bench", argc, argv, 2, table, "--arch A [options] | --peak [--threads N]",
      "Speed and memory of one architecture: warm-up, then repeats until at "
      "least --min-time seconds and --min-reps repeats; reports median and "
      "min step time, tokens/s, achieved model GFLOP/s, GB/s moved by the "
      "ops and peak memory. First (~1 s) it measures the machine's peaks "
      "with the same threads, and reports the model FLOP rate as a fraction "
      "of the peak GEMM rate and the GB/s as a fraction of the peak memory "
      "bandwidth (--no-peak skips this). --peak measures only the peaks, "
      "longer: C[2048,2048] = A B through the engine's GEMM, and a triad "
      "a = b + s*c over three 64 MiB arrays (12 bytes per element counted, "
      "write-allocate not). With --db, each length is also written to the "
      "database's speed table (a length that runs out of memory or fails is "
      "recorded with that status and the next one is measured).",
      pos, &npos, 0, err, sizeof err);
  if (rc == OPTS_HELP) return kv_free(&mo.params), kv_free(&tparams), EB_OK;
  if (rc == EB_OK && peak) { /* returns here: `out` frees what is declared below */
    rc = bench_peak_only(argc, argv, no_peak, (int)mo.threads, json, err, sizeof err);
    if (rc) fprintf(stderr, "effbench bench: %s\n", err);
    kv_free(&mo.params);
    kv_free(&tparams);
    return rc;
  }
  int suite_set = suite != NULL;
  if (!suite) suite = "bench";
  int L[64], nl = 0;
  const eb_arch *arch = NULL;
  eb_model_config mcfg;
  eb_argset aargs = {0}, targs = {0};
  if (rc) goto out;
  if (parse_lengths(lens, L, 64, &nl)) {
    snprintf(err, sizeof err, "--len %s: expected positive integers separated by commas",
             lens);
    rc = EB_INPUT;
    goto out;
  }
  if (strcmp(mode, "train") && strcmp(mode, "infer")) {
    snprintf(err, sizeof err, "--mode %s: expected train or infer", mode);
    rc = EB_INPUT;
    goto out;
  }
  if ((rc = resolve_model(reg, &mo, &arch, &mcfg, &aargs, err, sizeof err))) goto out;
  if (task_name) {
    const eb_task *task;
    void *tdata = NULL;
    eb_task_info info;
    if ((rc = open_task(reg, task_name, &tparams, (uint64_t)mo.seed, &task, &targs,
                        &tdata, &info, err, sizeof err)))
      goto out;
    vocab = info.vocab;
    classes = info.classes;
    if (task->close) task->close(tdata);
  }
  if (suite_set && !db_path) {
    snprintf(err, sizeof err, "--suite names the suite of --db rows: give --db FILE too");
    rc = EB_INPUT;
    goto out;
  }
  for (int i = 0; i < nl; i++) /* bad settings are refused before anything is written */
    if ((rc = eb_model_check(arch, &mcfg, &aargs.args, (int)vocab, (int)classes, L[i],
                             err, sizeof err)))
      goto out;
  if (db_path) {
    if (!*suite) {
      snprintf(err, sizeof err, "--suite: the suite name must not be empty");
      rc = EB_INPUT;
      goto out;
    }
    if ((rc = eb_results_open(db_path, suite, NULL, &db, &suite_id, err, sizeof err)))
      goto out;
  }
  /* the peaks of this invocation, with its threads: fractions need no other run */
  eb_peak pk = {0};
  int above_peak = 0;
  if (!no_peak) {
    eb_peak_cfg pc = eb_peak_quick((int)mo.threads);
    if ((rc = eb_peak_measure(&pc, &pk, err, sizeof err))) goto out;
    eb_set_threads((int)mo.threads);
    if (!json)
      printf("peaks, %lld thread(s): GEMM %.1f GFLOP/s (fp32 %d^3, gemm %s %s), memory "
             "%.1f GB/s (triad)\n",
             mo.threads, pk.gemm_gflops, pk.gemm_n, gi->backend, gi->isa, pk.bw_gbs);
  }
  for (int i = 0; i < nl; i++) {
    eb_bench_cfg bc = {.batch = (int)batch,
                       .len = L[i],
                       .train = !strcmp(mode, "train"),
                       .vocab = (int)vocab,
                       .classes = (int)classes,
                       .min_seconds = min_time,
                       .min_reps = (int)min_reps,
                       .warmup = (int)warmup,
                       .seed = (uint64_t)mo.seed};
    eb_bench_result r;
    if (db) {
      const char *status;
      char why[EB_ERR_LEN] = "";
      if ((rc = eb_speed_measure(db, suite_id, arch, &aargs.args, &mcfg, &bc,
                                 (int)mo.threads, task_name ? task_name : "", NULL, &r,
                                 &status, why, sizeof why, err, sizeof err)))
        goto out;
      if (strcmp(status, "done")) {
        fprintf(stderr, "effbench bench: %s len=%d: %s, recorded in %s: %s\n", arch->name,
                L[i], status, db_path, why);
        failures++;
        continue;
      }
    } else if ((rc = eb_bench_run(arch, &aargs.args, &mcfg, &bc, &r, err, sizeof err))) {
      goto out;
    }
    double spread = r.ms_median > 0 ? (r.ms_max - r.ms_min) / r.ms_median : 0;
    /* fractions only where both sides exist: no peak (--no-peak) or no byte
     * count (ops that do not count bytes yet) give null / n/a, never 0 */
    int have_bytes = r.bytes_step > 0, have_gemm = pk.gemm_gflops > 0,
        have_bw = have_bytes && pk.bw_gbs > 0;
    double fg = have_gemm ? r.gflops_model_per_s / pk.gemm_gflops : 0,
           fb = have_bw ? r.gbytes_per_s / pk.bw_gbs : 0;
    /* roofline without overlap: the step's time if every model FLOP ran at the
     * GEMM peak and, after them, every counted byte at the triad peak, over the
     * measured time */
    int have_roof = have_gemm && have_bw && r.ms_median > 0;
    double froof = have_roof ? (r.flops_model / (pk.gemm_gflops * 1e9) +
                                r.bytes_step / (pk.bw_gbs * 1e9)) /
                                   (r.ms_median * 1e-3)
                             : 0;
    if (json) {
      eb_sbuf jb = {0};
      eb_json w;
      eb_json_init(&w, &jb);
      eb_json_open(&w, '{');
      eb_json_key(&w, "arch");
      eb_json_string(&w, arch->name);
      eb_json_key(&w, "mode");
      eb_json_string(&w, mode);
      eb_json_key(&w, "len");
      eb_json_int(&w, (long long)L[i]);
      eb_json_key(&w, "batch");
      eb_json_int(&w, (long long)batch);
      eb_json_key(&w, "threads");
      eb_json_int(&w, (long long)mo.threads);
      eb_json_key(&w, "dim");
      eb_json_int(&w, (long long)mcfg.dim);
      eb_json_key(&w, "depth");
      eb_json_int(&w, (long long)mcfg.depth);
      eb_json_key(&w, "heads");
      eb_json_int(&w, (long long)mcfg.heads);
      eb_json_key(&w, "ffn");
      eb_json_int(&w, (long long)mcfg.ffn);
      eb_json_key(&w, "reps");
      eb_json_int(&w, (long long)r.reps);
      eb_json_key(&w, "step_ms_median");
      eb_json_rawf(&w, "%.4f", r.ms_median);
      eb_json_key(&w, "step_ms_min");
      eb_json_rawf(&w, "%.4f", r.ms_min);
      eb_json_key(&w, "step_ms_spread");
      eb_json_rawf(&w, "%.4f", spread);
      eb_json_key(&w, "tokens_per_s");
      eb_json_rawf(&w, "%.1f", r.tokens_per_s);
      eb_json_key(&w, "gflops_per_s");
      eb_json_rawf(&w, "%.3f", r.gflops_per_s);
      eb_json_key(&w, "flops_step");
      eb_json_rawf(&w, "%.6g", r.flops_step);
      eb_json_key(&w, "flops_executed");
      eb_json_rawf(&w, "%.6g", r.flops_step);
      eb_json_key(&w, "flops_model");
      eb_json_rawf(&w, "%.6g", r.flops_model);
      eb_json_key(&w, "gflops_model_per_s");
      eb_json_rawf(&w, "%.3f", r.gflops_model_per_s);
      eb_json_key(&w, "model_flops_step");
      eb_json_rawf(&w, "%.17g", r.flops_model);
      eb_json_key(&w, "executed_flops_step");
      eb_json_rawf(&w, "%.17g", r.flops_step);
      eb_json_key(&w, "model_gemm_flops_step");
      eb_json_rawf(&w, "%.17g", r.gemm_flops_model);
      eb_json_key(&w, "executed_gemm_flops_step");
      eb_json_rawf(&w, "%.17g", r.gemm_flops_step);
      eb_json_key(&w, "bytes_step");
      json_measured(&w, "%.6g", r.bytes_step, have_bytes);
      eb_json_key(&w, "gbytes_per_s");
      json_measured(&w, "%.3f", r.gbytes_per_s, have_bytes);
      eb_json_key(&w, "peak_gemm_gflops");
      json_measured(&w, "%.3f", pk.gemm_gflops, have_gemm);
      eb_json_key(&w, "peak_bw_gbs");
      json_measured(&w, "%.3f", pk.bw_gbs, pk.bw_gbs > 0);
      eb_json_key(&w, "frac_gemm_peak");
      json_measured(&w, "%.4f", fg, have_gemm);
      eb_json_key(&w, "frac_bw_peak");
      json_measured(&w, "%.4f", fb, have_bw);
      eb_json_key(&w, "frac_roofline");
      json_measured(&w, "%.4f", froof, have_roof);
      eb_json_key(&w, "gemm_backend");
      eb_json_string(&w, gi->backend);
      eb_json_key(&w, "gemm_isa");
      eb_json_string(&w, gi->isa);
      eb_json_key(&w, "peak_mem_bytes");
      eb_json_rawf(&w, "%zu", r.peak_mem_bytes);
      eb_json_key(&w, "rss_peak_delta_bytes");
      eb_json_int(&w, (long long)r.rss_peak_delta);
      eb_json_key(&w, "params_total");
      eb_json_int(&w, (long long)r.params_total);
      eb_json_key(&w, "arch_params");
      eb_args_json_w(&w, &aargs.args);
      eb_json_close(&w);
      if ((rc = print_json(&jb))) {
        snprintf(err, sizeof err, "out of memory");
        goto out;
      }
    } else {
      if (i == 0) /* header only once the first measurement exists */
        printf("%-10s %-5s %7s %6s %10s %10s %8s %12s %13s %6s %8s %6s %6s %12s\n",
               "arch", "mode", "len", "batch", "ms median", "ms min", "spread",
               "tokens/s", "model GFLOP/s", "%gemm", "GB/s", "%bw", "%roof", "peak MiB");
      printf("%-10s %-5s %7d %6lld %10.2f %10.2f %7.1f%% %12.0f %13.2f %6s %8s %6s %6s "
             "%12.1f\n",
             arch->name, mode, L[i], batch, r.ms_median, r.ms_min, 100 * spread,
             r.tokens_per_s, r.gflops_model_per_s, TNUM("%.1f%%", 100 * fg, have_gemm),
             TNUM("%.2f", r.gbytes_per_s, have_bytes), TNUM("%.1f%%", 100 * fb, have_bw),
             TNUM("%.1f%%", 100 * froof, have_roof),
             (double)r.peak_mem_bytes / (1 << 20));
    }
    fflush(stdout);
    /* a fraction above 1 is reported as measured, with a note said once */
    if ((fg > 1 || fb > 1) && !above_peak++)
      fprintf(stderr,
              "effbench bench: note: len=%d is above the peaks measured at the start "
              "(fraction of GEMM peak %s, of bandwidth peak %s): the machine was busier "
              "then; rerun on an idle machine, or compare with 'effbench bench --peak'\n",
              L[i], TNUM("%.2f", fg, have_gemm), TNUM("%.2f", fb, have_bw));
  }
  if (failures && rc == 0) {
    snprintf(err, sizeof err, "%d of %d lengths not measured (see above)", failures, nl);
    rc = EB_FAILED;
  }
out:
  if (rc) fprintf(stderr, "effbench bench: %s\n", err);
  eb_store_close(db);
  eb_argset_free(&aargs);
  eb_argset_free(&targs);
  kv_free(&mo.params);
  kv_free(&tparams);
  return rc;
}

/* ------------------------------------------------------------ export ---- */
static int cmd_export(const cli *cl, int argc, char **argv) {
  eb_registry *reg = cl->reg;
  model_opts mo = model_defaults();
  const char *out = NULL;
  long long len = 16, batch = 4, vocab = 32, classes = 4;
  int with_batch = 0;
  opt table[] = {
      MODEL_OPTS(mo),
      {"out", O_STR, &out, 0, 0, "FILE", "output .safetensors file (required)"},
      {"with-batch", O_FLAG, &with_batch, 0, 0, NULL,
       "also write one batch, its logits, loss and all parameter gradients"},
      {"len", O_INT, &len, 1, 1 << 20, "N", "sequence length [16]"},
      {"batch", O_INT, &batch, 1, 1 << 16, "B", "batch size [4]"},
      {"vocab", O_INT, &vocab, 2, 1 << 24, "V", "vocabulary incl. padding id 0 [32]"},
      {"classes", O_INT, &classes, 2, 1 << 20, "C", "classes [4]"},
      {NULL, 0, NULL, 0, 0, NULL, NULL},
  };
  char err[EB_ERR_LEN] = "";
  char *pos[1];
  int npos;
  int rc =
      parse_opts("export", argc, argv, 2, table, "--arch A --out FILE [options]",
                 "Writes the parameters of a freshly initialised model (seeded) as "
                 "safetensors; with --with-batch also an input batch (with padding), "
                 "its logits, loss and every parameter gradient, for cross-checks "
                 "against an independent implementation. Dropout is off.",
                 pos, &npos, 0, err, sizeof err);
  if (rc == OPTS_HELP) return kv_free(&mo.params), EB_OK;
  const eb_arch *arch = NULL;
  eb_model_config mcfg;
  eb_argset aargs = {0};
  if (rc) goto done;
  if (!out) {
    snprintf(err, sizeof err, "--out FILE is required");
    rc = EB_INPUT;
    goto done;
  }
  if ((rc = resolve_model(reg, &mo, &arch, &mcfg, &aargs, err, sizeof err))) goto done;
  eb_export_cfg ec = {(int)vocab,        (int)classes, (int)len, (int)batch,
                      (uint64_t)mo.seed, with_batch,   out};
  rc = eb_export(arch, &aargs.args, &mcfg, &ec, err, sizeof err);
done:
  if (rc) fprintf(stderr, "effbench export: %s\n", err);
  eb_argset_free(&aargs);
  kv_free(&mo.params);
  return rc;
}

/* ------------------------------------------------------------- check ---- */
static int cmd_check(const cli *cl, int argc, char **argv) {
  eb_registry *reg = cl->reg;
  model_opts mo = model_defaults();
  mo.dim = 32; /* a small model: every check runs many passes */
  mo.ffn = 64;
  eb_check_cfg c = eb_check_defaults();
  long long len = c.len, batch = c.batch, vocab = c.vocab, classes = c.classes,
            samples = c.samples, steps = c.steps;
  double tol = c.tol;
  int pair = 0;
  opt table[] = {
      MODEL_OPTS(mo),
      {"len", O_INT, &len, 2, 1 << 16, "N", "sequence length of the model [16]"},
      {"batch", O_INT, &batch, 1, 1 << 12, "B", "batch size [4]"},
      {"vocab", O_INT, &vocab, 2, 1 << 24, "V", "vocabulary incl. padding id 0 [32]"},
      {"classes", O_INT, &classes, 2, 1 << 20, "C", "classes [4]"},
      {"pair", O_FLAG, &pair, 0, 0, NULL, "a two-tower (pair) model"},
      {"samples", O_INT, &samples, 1, 1 << 20, "K",
       "elements probed per parameter tensor [6]"},
      {"steps", O_INT, &steps, 1, 1000, "S",
       "training steps of the determinism check [3]"},
      {"tol", O_FLOAT, &tol, 1e-6, 1, "R", "relative tolerance of a gradient [0.02]"},
      {NULL, 0, NULL, 0, 0, NULL, NULL},
  };
  char err[EB_ERR_LEN] = "";
  char *pos[1];
  int npos;
  int rc = parse_opts(
      "check", argc, argv, 2, table, "--arch A [options]",
      "Checks an architecture (built-in or --plugin) on a small seeded model (dim 32, "
      "ffn 64 unless given) and a batch with padding: finite-difference gradients of "
      "every parameter (kinks told apart), analytic against counted FLOPs and GEMM "
      "FLOPs, the parameter count, determinism (same seed twice, 1 vs 2 threads) and "
      "padding invariance. Prints a table; exit 1 when a check fails.",
      pos, &npos, 0, err, sizeof err);
  if (rc == OPTS_HELP) return kv_free(&mo.params), EB_OK;
  const eb_arch *arch = NULL;
  eb_model_config mcfg;
  eb_argset aargs = {0};
  eb_check_report rep;
  if (rc) goto done;
  if ((rc = resolve_model(reg, &mo, &arch, &mcfg, &aargs, err, sizeof err))) goto done;
  c.len = (int)len;
  c.batch = (int)batch;
  c.vocab = (int)vocab;
  c.classes = (int)classes;
  c.pair = pair;
  c.samples = (int)samples;
  c.steps = (int)steps;
  c.tol = tol;
  c.seed = (uint64_t)mo.seed;
  c.threads = (int)mo.threads;
  if ((rc = eb_check_arch(arch, &mcfg, &aargs.args, &c, &rep, err, sizeof err)))
    goto done;
  printf("effbench check: arch %s, dim %d, depth %d, heads %d, ffn %d, B=%d N=%d, seed "
         "%llu%s\n",
         arch->name, mcfg.dim, mcfg.depth, mcfg.heads, mcfg.ffn, c.batch, c.len,
         (unsigned long long)c.seed, c.pair ? ", pair" : "");
  printf("%-28s %-8s %s\n", "check", "result", "detail");
  for (int r = 0; r < rep.n; r++)
    printf("%-28s %-8s %s\n", rep.row[r].check, eb_check_result_name(rep.row[r].result),
           rep.row[r].detail);
  if (rep.failures) {
    snprintf(err, sizeof err, "%d check(s) failed", rep.failures);
    rc = EB_FAILED;
  }
done:
  if (rc) fprintf(stderr, "effbench check: %s\n", err);
  eb_argset_free(&aargs);
  kv_free(&mo.params);
  return rc;
}

/* -------------------------------------------------------------- data ---- */
static int cmd_data(const cli *cl, int argc, char **argv) {
  eb_registry *reg = cl->reg;
  const char *out = NULL;
  long long seed = 0;
  kvlist tparams = {0};
  opt table[] = {
      {"out", O_STR, &out, 0, 0, "DIR",
       "output directory (required; created with its parents; must be new or empty)"},
      {"task-param", O_KV, &tparams, 0, 0, "K=V", "task parameter (repeatable)"},
      {"seed", O_INT, &seed, 0, 9.0e15, "S", "generator seed [0]"},
      {NULL, 0, NULL, 0, 0, NULL, NULL},
  };
  char err[EB_ERR_LEN] = "";
  char *pos[1];
  int npos;
  int rc = parse_opts("data", argc, argv, 2, table, "TASK --out DIR [options]",
                      "Generates a task's data set (seeded) and writes it in the task's "
                      "official file format, ready to be loaded back with "
                      "--task-param path=DIR.",
                      pos, &npos, 1, err, sizeof err);
  if (rc == OPTS_HELP) return kv_free(&tparams), EB_OK;
  const eb_task *task = NULL;
  void *tdata = NULL;
  eb_task_info info;
  eb_argset targs = {0};
  if (rc) goto done;
  if (npos != 1 || !out) {
    snprintf(err, sizeof err, "expected TASK and --out DIR (see effbench data --help)");
    rc = EB_INPUT;
    goto done;
  }
  if ((rc = open_task(reg, pos[0], &tparams, (uint64_t)seed, &task, &targs, &tdata, &info,
                      err, sizeof err)))
    goto done;
  if (!task->write) {
    snprintf(err, sizeof err, "task '%s' has no file format to write", task->name);
    rc = EB_INPUT;
    goto done;
  }
  /* written under a temporary name next to DIR, renamed to DIR when whole:
   * a killed `data` leaves no partial DIR (and its temporary is removed by the
   * next `data` writing there). A DIR holding files already is written in
   * place, under the task's own rules (pathfinder adds its difficulty's
   * subdirectory; the others refuse it). */
  struct stat st;
  if (stat(out, &st) == 0 && !eb_dir_empty(out)) {
    if (task->write(tdata, out, err, sizeof err)) rc = EB_IO; /* the ABI gives no kind */
    goto done;
  }
  char parent[4096], tmp[4200];
  snprintf(parent, sizeof parent, "%s", out);
  size_t pl = strlen(parent);
  while (pl > 1 && parent[pl - 1] == '/') /* "dir/" names dir */
    parent[--pl] = '\0';
  char *slash = strrchr(parent, '/');
  const char *base = slash ? slash + 1 : parent;
  if (eb_tmp_name(parent, tmp, sizeof tmp)) {
    snprintf(err, sizeof err, "%s: path too long", out);
    rc = EB_INPUT;
    goto done;
  }
  char bprefix[sizeof parent + 8];
  snprintf(bprefix, sizeof bprefix, "%s.tmp.", base);
  if (slash) *slash = '\0';
  eb_tmp_clean(!slash ? "." : slash == parent ? "/" : parent, bprefix);
  if (task->write(tdata, tmp, err, sizeof err)) {
    rc = EB_IO;
    eb_tmp_remove(tmp);
  } else if (rename(tmp, out) != 0) {
    snprintf(err, sizeof err, "%s: cannot rename the written data into place: %s", out,
             strerror(errno));
    eb_tmp_remove(tmp);
    rc = EB_IO;
  }
done:
  if (rc) fprintf(stderr, "effbench data: %s\n", err);
  if (task && tdata && task->close) task->close(tdata);
  eb_argset_free(&targs);
  kv_free(&tparams);
  return rc;
}

/* --------------------------------------------------------------- run ---- */
static void print_line(void *user, int transient, const char *line) {
  int *tty_state = user; /* [0] stderr is a terminal, [1] a transient line shows */
  if (transient) {
    if (!tty_state[0]) return; /* not a terminal: only the lasting lines */
    fprintf(stderr, "\r\033[K%s", line);
    tty_state[1] = 1;
    return;
  }
  if (tty_state[1]) fputs("\r\033[K", stderr);
  tty_state[1] = 0;
  fprintf(stderr, "%s\n", line);
}

/* run's JSON Lines: one event per line on stdout, flushed at once so a
 * reader sees it when it happens */
static void print_event(void *user, const char *json) {
  (void)user;
  fputs(json, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

/* --dry-run: the grid is the command's output, on stdout */
static void print_stdout(void *user, int transient, const char *line) {
  (void)user;
  if (!transient) printf("%s\n", line);
}

static int cmd_run(const cli *cl, int argc, char **argv) {
  eb_registry *reg = cl->reg;
  const char *db = "out/results.db", *only = NULL, *shard = NULL;
  long long threads = 1;
  int fresh = 0, dry = 0, rerun_changed = 0, keep_changed = 0, json = 0, text = 0;
  double efficiency = 0, peak_gflops = 0;
  opt table[] = {
      {"db", O_STR, &db, 0, 0, "FILE", "results database [out/results.db]"},
      {"threads", O_INT, &threads, 1, 1024, "N", "threads per run [1]"},
      {"json", O_FLAG, &json, 0, 0, NULL,
       "progress as JSON Lines on stdout (the default when stdout is not a terminal; "
       "the text lines go to stderr)"},
      {"text", O_FLAG, &text, 0, 0, NULL,
       "no JSON Lines even when stdout is not a terminal: the summary on stdout"},
      {"only", O_STR, &only, 0, 0, "PATTERN",
       "only runs whose label (arch/task/seed=S...) matches the glob"},
      {"shard", O_STR, &shard, 0, 0, "I/N", "every N-th run starting at I (0-based)"},
      {"fresh", O_FLAG, &fresh, 0, 0, NULL, "rerun runs already done"},
      {"rerun-changed", O_FLAG, &rerun_changed, 0, 0, NULL,
       "rerun done runs whose architecture's code changed (a rebuilt plugin .so, "
       "edited archs/ sources)"},
      {"keep-changed", O_FLAG, &keep_changed, 0, 0, NULL,
       "keep the results of done runs whose architecture's code changed"},
      {"dry-run", O_FLAG, &dry, 0, 0, NULL,
       "print the expanded grid with FLOPs and estimated times, run nothing"},
      {"efficiency", O_FLOAT, &efficiency, 0.001, 1, "F",
       "--dry-run: fraction of the GEMM peak a step is assumed to reach [0.1]"},
      {"peak-gflops", O_FLOAT, &peak_gflops, 0.001, 1e9, "G",
       "--dry-run: this machine's GEMM peak (from bench --peak) instead of a short "
       "measurement"},
      {NULL, 0, NULL, 0, 0, NULL, NULL},
  };
  char err[EB_ERR_LEN] = "";
  char *pos[1];
  int npos;
  int rc =
      parse_opts("run", argc, argv, 2, table, "SUITE.yaml [options]",
                 "Runs every run of a suite that is not yet done in the database "
                 "(resume is the default); each result is written in one transaction. "
                 "A done run whose architecture's code changed since (its recorded "
                 "SHA-256) stops the suite before anything is trained, unless "
                 "--rerun-changed or --keep-changed says what to do.",
                 pos, &npos, 1, err, sizeof err);
  if (rc == OPTS_HELP) return EB_OK;
  eb_suite suite;
  memset(&suite, 0, sizeof suite);
  eb_run_opts o = {.db = db,
                   .threads = (int)threads,
                   .only = only,
                   .fresh = fresh,
                   .dry_run = dry,
                   .reg = reg,
                   .rerun_changed = rerun_changed,
                   .keep_changed = keep_changed,
                   .efficiency = efficiency,
                   .peak_gflops = peak_gflops,
                   .shard_i = 0,
                   .shard_n = 1};
  if (rc) goto done;
  if (npos != 1) {
    snprintf(err, sizeof err, "expected one SUITE.yaml (see effbench run --help)");
    rc = EB_INPUT;
    goto done;
  }
  if (rerun_changed && keep_changed) {
    snprintf(err, sizeof err,
             "--rerun-changed and --keep-changed exclude each other: choose one");
    rc = EB_INPUT;
    goto done;
  }
  if (shard) {
    char tail;
    if (sscanf(shard, "%d/%d%c", &o.shard_i, &o.shard_n, &tail) != 2 || o.shard_n < 1 ||
        o.shard_i < 0 || o.shard_i >= o.shard_n) {
      snprintf(err, sizeof err, "--shard %s: expected I/N with 0 <= I < N", shard);
      rc = EB_INPUT;
      goto done;
    }
  } else if ((rc = eb_shard_from_env(&o.shard_i, &o.shard_n, err, sizeof err))) {
    goto done;
  }
  if ((rc = eb_suite_load(pos[0], reg, &suite, err, sizeof err))) goto done;
  eb_set_threads((int)threads);
  if (json && text) {
    snprintf(err, sizeof err, "--json and --text: choose one");
    rc = EB_INPUT;
    goto done;
  }
  int tty[2] = {isatty(2), 0};
  o.user = tty;
  o.print = dry ? print_stdout : print_line;
  /* JSON Lines where a program reads stdout; a dry run's grid stays text */
  const int events = !dry && !text && (json || !isatty(1));
  if (events) o.event = print_event;
  eb_run_summary sum;
  if (dry) printf("suite %s: %d runs\n", suite.name, suite.nruns);
  rc = eb_suite_execute(&suite, &o, &sum, err, sizeof err);
  if (rc == EB_OK && dry) {
    char when[64];
    eb_run_fmt_duration(when, sizeof when, sum.est_seconds);
    printf("estimated time: %s for %d run(s) (%.3g FLOP of training and evaluation at "
           "%.2g x the GEMM peak of %.3g GFLOP/s %s with %d thread(s), each run capped "
           "at its time budget, done or not; speed measurements not counted",
           when, sum.selected - sum.failed - sum.est_unknown, sum.est_flops,
           sum.est_efficiency, sum.est_peak_gflops,
           peak_gflops > 0 ? "given by --peak-gflops" : "measured now", (int)threads);
    if (sum.est_unknown)
      printf("; %d run(s) without a FLOP count left out", sum.est_unknown);
    printf(")\n");
  }
  if (rc == EB_OK && dry && sum.failed) { /* their task's data cannot be opened */
    snprintf(err, sizeof err,
             "%s: %d run(s) cannot run as written (see 'cannot run' above)", pos[0],
             sum.failed);
    rc = EB_INPUT;
  }
  if (rc == EB_OK && !dry) {
    char other[64] = "";
    if (sum.elsewhere)
      snprintf(other, sizeof other, ", %d left to another process", sum.elsewhere);
    fprintf(events ? stderr : stdout,
            "suite %s: %d runs selected, %d already done, %d done now, %d ended early "
            "(timeout, diverged or oom), %d failed%s, %d speed rows; results in %s\n",
            suite.name, sum.selected, sum.skipped_done, sum.done, sum.ended_early,
            sum.failed, other, sum.speed_rows, db);
    if (sum.failed) { /* timeouts and divergence are results; errors are not */
      snprintf(err, sizeof err,
               "%d run(s) failed: see their error column in %s (effbench report shows "
               "their status)",
               sum.failed, db);
      rc = EB_FAILED;
    }
  }
done:
  if (rc && err[0]) fprintf(stderr, "effbench run: %s\n", err);
  eb_suite_free(&suite);
  return rc;
}

/* ------------------------------------------------------------- merge ---- */
static int cmd_merge(const cli *cl, int argc, char **argv) {
  const char *prefer_s = NULL;
  opt table[] = {
      {"prefer", O_STR, &prefer_s, 0, 0, "newest|first",
       "for a run key with different results: keep the one finished last, or the "
       "one merged first [keep both, flagged]"},
      {NULL, 0, NULL, 0, 0, NULL, NULL},
  };
  char err[EB_ERR_LEN] = "";
  enum { MAXIN = 4096 };
  char **pos = calloc(MAXIN + 1, sizeof *pos);
  eb_store **in = calloc(MAXIN, sizeof *in);
  eb_store *out = NULL;
  int npos = 0, nin = 0, rc = EB_NOMEM;
  if (!pos || !in) {
    snprintf(err, sizeof err, "out of memory");
    goto done;
  }
  rc = parse_opts("merge", argc, argv, 2, table, "OUT.db IN.db... [options]",
                  "Merges results databases (e.g. the shards of a suite) into OUT.db, "
                  "created if absent: runs with their evals and stats by run key, speed "
                  "rows, suites, in one transaction. Identical results collapse; a run "
                  "key with different results (another machine or commit) is kept twice "
                  "and flagged (report lists it) unless --prefer chooses. The inputs are "
                  "only read. Merging again changes nothing.",
                  pos, &npos, MAXIN + 1, err, sizeof err);
  if (rc == OPTS_HELP) {
    rc = EB_OK;
    goto done;
  }
  if (rc) goto done;
  eb_merge_prefer prefer = EB_PREFER_NONE;
  if (prefer_s) {
    if (!strcmp(prefer_s, "newest"))
      prefer = EB_PREFER_NEWEST;
    else if (!strcmp(prefer_s, "first"))
      prefer = EB_PREFER_FIRST;
    else {
      snprintf(err, sizeof err, "--prefer %s: expected 'newest' or 'first'", prefer_s);
      rc = EB_INPUT;
      goto done;
    }
  }
  if (npos < 2) {
    snprintf(err, sizeof err,
             "expected OUT.db and at least one IN.db (see effbench "
             "merge --help)");
    rc = EB_INPUT;
    goto done;
  }
  /* every input is checked before the output is touched */
  struct stat so;
  int out_exists = stat(pos[0], &so) == 0;
  for (int i = 1; i < npos; i++) {
    struct stat si;
    if (out_exists && stat(pos[i], &si) == 0 && si.st_dev == so.st_dev &&
        si.st_ino == so.st_ino) {
      snprintf(err, sizeof err, "%s: is the output itself; name another OUT.db", pos[i]);
      rc = EB_INPUT;
      goto done;
    }
    if ((rc = eb_store_open_input(pos[i], &in[nin], err, sizeof err))) goto done;
    nin++;
  }
  if ((rc = eb_store_open(pos[0], &out, err, sizeof err))) goto done;
  eb_merge_summary sum;
  if ((rc = eb_merge(out, in, nin, prefer, &sum, err, sizeof err))) goto done;
  printf("merged %d database(s) into %s: runs %d added, %d identical, %d replaced, "
         "%d conflicting (kept both, flagged), %d decided by --prefer, %d unfinished "
         "skipped; speed rows %d added, %d identical; %d suite(s) added\n",
         nin, pos[0], sum.runs_added, sum.runs_same, sum.runs_replaced,
         sum.runs_conflicts, sum.runs_resolved, sum.runs_unfinished, sum.speed_added,
         sum.speed_same, sum.suites_added);
  if (sum.runs_conflicts)
    printf("%d run key(s) have different results in different inputs: effbench report "
           "lists them; merge again with --prefer newest|first to keep one\n",
           sum.runs_conflicts);
  rc = EB_OK;
done:
  if (rc && err[0]) fprintf(stderr, "effbench merge: %s\n", err);
  eb_store_close(out);
  for (int i = 0; i < nin; i++)
    eb_store_close(in[i]);
  free(in);
  free(pos);
  return rc;
}

/* ------------------------------------------------------------- slurm ---- */
/* An absolute path for a job script (jobs do not start in this directory). */
static int absolute(const char *path, char *out, size_t len, char *err, size_t errlen) {
  struct stat sb;
  if (stat(path, &sb)) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  char cwd[2048];
  if (path[0] != '/' && !getcwd(cwd, sizeof cwd)) {
    snprintf(err, errlen, "%s: cannot read the current directory (%s)", path,
             strerror(errno));
    return -1;
  }
  int n = path[0] == '/' ? snprintf(out, len, "%s", path)
                         : snprintf(out, len, "%s/%s", cwd, path);
  if (n < 0 || (size_t)n >= len) {
    snprintf(err, errlen, "%s: path too long", path);
    return -1;
  }
  return 0;
}

/* This program's absolute path; 1, or 0 with err. */
static int realexe(char *out, size_t len, char *err, size_t errlen) {
  ssize_t n = readlink("/proc/self/exe", out, len - 1);
  if (n <= 0 || (size_t)n >= len - 1) {
    snprintf(err, errlen, "cannot find the effbench binary (/proc/self/exe)");
    return 0;
  }
  out[n] = 0;
  return 1;
}

/* 1 when an executable `name` is on PATH */
static int on_path(const char *name) {
  const char *p = getenv("PATH");
  char buf[4096];
  while (p && *p) {
    size_t n = strcspn(p, ":");
    snprintf(buf, sizeof buf, "%.*s/%s", (int)n, n ? p : ".", name);
    if (access(buf, X_OK) == 0) return 1;
    p += n + (p[n] == ':');
  }
  return 0;
}

static int cmd_slurm(const cli *cl, int argc, char **argv) {
  eb_registry *reg = cl->reg;
  char **plugins = cl->plugins;
  const int nplug = cl->nplug;
  const char *dir = NULL, *partition = NULL, *time_s = NULL;
  long long shards = 0, cpus = 1;
  int submit = 0, rerun_changed = 0, keep_changed = 0;
  opt table[] = {
      {"db-dir", O_STR, &dir, 0, 0, "DIR",
       "directory (on a file system every node sees) of the scripts, the shards' "
       "databases and logs, and merged.db; created if absent [required]"},
      {"shards", O_INT, &shards, 1, 10000, "N", "array tasks [one per run, at most 256]"},
      {"partition", O_STR, &partition, 0, 0, "P",
       "Slurm partition [the cluster's default]"},
      {"time", O_STR, &time_s, 0, 0, "T",
       "time limit of one array task, Slurm's format (e.g. 2-00:00:00) [the "
       "partition's]"},
      {"cpus", O_INT, &cpus, 1, 1024, "C",
       "CPUs per array task, and run's --threads [1]"},
      {"submit", O_FLAG, &submit, 0, 0, NULL,
       "submit them (DIR/submit.sh: sbatch the array, then the merge after it)"},
      {"rerun-changed", O_FLAG, &rerun_changed, 0, 0, NULL,
       "passed to each array task's run: rerun done runs whose architecture's code "
       "changed (without it or --keep-changed, such a shard stops with exit 2)"},
      {"keep-changed", O_FLAG, &keep_changed, 0, 0, NULL,
       "passed to each array task's run: keep the results of done runs whose "
       "architecture's code changed"},
      {NULL, 0, NULL, 0, 0, NULL, NULL},
  };
  char err[EB_ERR_LEN] = "";
  char *pos[1];
  int npos;
  eb_suite suite;
  memset(&suite, 0, sizeof suite);
  int rc =
      parse_opts("slurm", argc, argv, 2, table, "SUITE.yaml --db-dir DIR [options]",
                 "Writes a Slurm job array running the suite in shards (one array task "
                 "per shard, `effbench run --shard I/N` into DIR/shard-I.db, requeued "
                 "and resumed if preempted) and a merge job that runs after it "
                 "(afterany) into DIR/merged.db: DIR/array.sbatch, DIR/merge.sbatch, "
                 "DIR/submit.sh. Plain scripts: read and edit them, then run "
                 "DIR/submit.sh, or pass --submit.",
                 pos, &npos, 1, err, sizeof err);
  if (rc == OPTS_HELP) return EB_OK;
  if (rc) goto done;
  rc = EB_INPUT;
  if (npos != 1) {
    snprintf(err, sizeof err, "expected one SUITE.yaml (see effbench slurm --help)");
    goto done;
  }
  if (!dir) {
    snprintf(err, sizeof err, "--db-dir DIR is required (see effbench slurm --help)");
    goto done;
  }
  if (rerun_changed && keep_changed) {
    snprintf(err, sizeof err,
             "--rerun-changed and --keep-changed exclude each other: choose one");
    goto done;
  }
  if ((rc = eb_suite_load(pos[0], reg, &suite, err, sizeof err))) goto done;
  rc = EB_INPUT;
  eb_slurm_opts so;
  memset(&so, 0, sizeof so);
  static char exe[4096], suite_abs[4096], dir_abs[4096], plug_abs[64][4096];
  if (absolute(pos[0], suite_abs, sizeof suite_abs, err, sizeof err)) goto done;
  for (int i = 0; i < nplug && i < 64; i++) {
    if (absolute(plugins[i], plug_abs[i], sizeof plug_abs[i], err, sizeof err)) goto done;
    so.plugins[so.nplugins++] = plug_abs[i];
  }
  rc = EB_IO;
  if (mkdir(dir, 0777) && errno != EEXIST) {
    snprintf(err, sizeof err, "--db-dir %s: cannot create it (%s)", dir, strerror(errno));
    goto done;
  }
  if (absolute(dir, dir_abs, sizeof dir_abs, err, sizeof err) ||
      !realexe(exe, sizeof exe, err, sizeof err))
    goto done;
  so.effbench = exe;
  so.suite = suite_abs;
  so.name = suite.name;
  so.db_dir = dir_abs;
  so.shards = shards              ? (int)shards
              : suite.nruns < 1   ? 1
              : suite.nruns > 256 ? 256
                                  : suite.nruns;
  so.cpus = (int)cpus;
  so.partition = partition;
  so.time = time_s;
  so.changed = rerun_changed ? "--rerun-changed" : keep_changed ? "--keep-changed" : NULL;
  if ((rc = eb_slurm_write(&so, err, sizeof err))) goto done;
  printf("suite %s: %d run(s) in %d shard(s); wrote %s/array.sbatch, %s/merge.sbatch "
         "and %s/submit.sh\n",
         suite.name, suite.nruns, so.shards, dir_abs, dir_abs, dir_abs);
  if (!submit) {
    printf("read or edit them, then submit with: %s/submit.sh\n", dir_abs);
    rc = EB_OK;
    goto done;
  }
  rc = EB_UNSUPPORTED;
  if (!on_path("sbatch")) {
    snprintf(err, sizeof err,
             "sbatch is not on PATH: submit from a Slurm login node (the scripts are "
             "written: %.300s/submit.sh submits them)",
             dir_abs);
    goto done;
  }
  fflush(stdout);
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "'%s/submit.sh'", dir_abs); /* dir_abs has no quote */
  int src = system(cmd);
  rc = EB_IO;
  if (src != 0) {
    snprintf(err, sizeof err,
             "%.300s/submit.sh failed (status %d): see sbatch's message above", dir_abs,
             src);
    goto done;
  }
  rc = EB_OK;
done:
  if (rc && err[0]) fprintf(stderr, "effbench slurm: %s\n", err);
  eb_suite_free(&suite);
  return rc;
}

/* ------------------------------------------------------------ report ---- */
/* report --json: the report's tidy CSV (report.h) as one JSON array of
 * objects with the CSV's column names; numeric columns are numbers, an empty
 * or non-finite one is null, `best` is true/false/null. 0, or -1 on a CSV
 * line that does not parse (a bug: the CSV is ours) or out of memory. */
static int csv_to_json(const char *csv, FILE *out) {
  static const char *const numeric[] = {"seq_len", "value", "std", "n", "runs", "sem"};
  char names[32][320]; /* ratio_to_BASELINE: an arch name long */
  int ncol = 0, row = 0;
  const char *p = csv;
  fputc('[', out);
  while (*p) {
    char *field[32];
    int nf = 0;
    for (;;) { /* one line */
      eb_sbuf f = {0};
      eb_sb_add(&f, "%s", "");
      if (*p == '"') {
        for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
          if (*p == '"') p++;
          eb_sb_add(&f, "%c", *p);
        }
        if (*p != '"') return free(f.p), -1;
        p++;
      } else {
        for (; *p && *p != ',' && *p != '\r' && *p != '\n'; p++)
          eb_sb_add(&f, "%c", *p);
      }
      if (f.oom || nf == 32) return free(f.p), -1;
      field[nf++] = f.p;
      if (*p == ',') {
        p++;
        continue;
      }
      if (*p == '\r') p++;
      if (*p == '\n') p++;
      break;
    }
    if (!ncol) {
      for (int i = 0; i < nf; i++)
        snprintf(names[i], sizeof names[i], "%s", field[i]);
      ncol = nf;
    } else {
      if (nf != ncol) return -1;
      fprintf(out, "%s\n{", row++ ? "," : "");
      for (int i = 0; i < nf; i++) {
        int num = 0;
        for (size_t k = 0; k < sizeof numeric / sizeof numeric[0]; k++)
          num |= !strcmp(names[i], numeric[k]);
        num |= !strncmp(names[i], "ratio_to_", 9); /* the baseline's ratio column */
        fprintf(out, "%s\"%s\":", i ? "," : "", names[i]);
        char *end;
        double v = strtod(field[i], &end);
        const int isnum = field[i][0] && !*end && isfinite(v);
        if (!strcmp(names[i], "best"))
          fputs(!isnum ? "null" : v != 0 ? "true" : "false", out);
        else if (num)
          fputs(isnum ? field[i] : "null", out);
        else {
          eb_sbuf q = {0};
          eb_json_quote(&q, field[i]);
          if (q.oom) return free(q.p), -1;
          fputs(q.p, out);
          free(q.p);
        }
      }
      fputc('}', out);
    }
    for (int i = 0; i < nf; i++)
      free(field[i]);
  }
  fputs("]\n", out);
  return 0;
}

/* The stats every registered arch declares (plugin.h's eb_stat_decl), in the
 * results layer's terms: what `report --table stats` shows. *out is
 * malloc'ed (NULL when none); EB_OK, or EB_NOMEM. */
static int report_stats_of(eb_registry *reg, eb_report_stat **out, int *n) {
  *out = NULL;
  *n = 0;
  int total = 0;
  for (int i = 0; i < eb_registry_arch_count(reg); i++)
    for (const eb_stat_decl *d = eb_arch_stat_decls(eb_registry_arch_at(reg, i));
         d && d->name; d++)
      total++;
  if (!total) return 0;
  if (!(*out = calloc((size_t)total, sizeof **out))) return EB_NOMEM;
  static const eb_report_agg agg[] = {[EB_STAT_MEAN] = EB_AGG_MEAN,
                                      [EB_STAT_LAST] = EB_AGG_LAST,
                                      [EB_STAT_SUM] = EB_AGG_SUM,
                                      [EB_STAT_MIN] = EB_AGG_MIN,
                                      [EB_STAT_MAX] = EB_AGG_MAX};
  _Static_assert(sizeof agg / sizeof agg[0] == EB_STAT_MAX + 1, "one per aggregation");
  for (int i = 0; i < eb_registry_arch_count(reg); i++) {
    const eb_arch *a = eb_registry_arch_at(reg, i);
    for (const eb_stat_decl *d = eb_arch_stat_decls(a); d && d->name; d++)
      (*out)[(*n)++] = (eb_report_stat){a->name, d->name, d->label,
                                        d->unit, d->help, agg[d->agg]}; /* checked */
  }
  return 0;
}

static int cmd_report(const cli *cl, int argc, char **argv) {
  const char *db = "out/results.db", *suite = NULL, *table_s = "all", *fmt_s = "md",
             *outp = NULL, *attempt_s = "latest", *spread = "std", *metric_s = "loss",
             *baseline = NULL;
  int mix = 0, json = 0;
  long long boot = EB_FIT_DEFAULT_RESAMPLES;
  opt table[] = {
      {"db", O_STR, &db, 0, 0, "FILE", "results database [out/results.db]"},
      {"suite", O_STR, &suite, 0, 0, "NAME", "suite to report [the latest]"},
      {"table", O_STR, &table_s, 0, 0, "accuracy|speed|stats|fit|all",
       "which table; stats: the archs' declared statistics (moe: the same) [all]"},
      {"baseline", O_STR, &baseline, 0, 0, "ARCH",
       "the reference arch: first row, the speed table's ratios, the figures' first "
       "colour; must be an arch of the suite [vanilla]"},
      {"metric", O_STR, &metric_s, 0, 0, "loss|error",
       "what the fit table fits against training FLOPs: test loss or test error rate "
       "[loss]"},
      {"bootstrap", O_INT, &boot, 0, 100000, "N",
       "bootstrap resamples over seeds for the fit table's intervals, 0 = none [200]"},
      {"format", O_STR, &fmt_s, 0, 0, "md|latex|csv|json|html",
       "output format; html: one self-contained file with the figures inline [md]"},
      {"json", O_FLAG, &json, 0, 0, NULL,
       "same as --format json: the CSV's rows as one JSON array of objects"},
      {"attempt", O_STR, &attempt_s, 0, 0, "latest|all",
       "the latest attempt of each run, or every attempt of runs run again (--fresh, "
       "retries), each labelled 'ARCH (attempt N)' [latest]"},
      {"o", O_STR, &outp, 0, 0, "FILE", "write to FILE instead of standard output"},
      {"spread", O_STR, &spread, 0, 0, "std|sem",
       "after an accuracy mean's ±: the sample std over seeds, or its standard error "
       "std/sqrt(n) [std]"},
      {"mix-sources", O_FLAG, &mix, 0, 0, NULL,
       "put runs on different kinds of data (generated, official, a substitute) in one "
       "task column (refused otherwise)"},
      {NULL, 0, NULL, 0, 0, NULL, NULL},
  };
  char err[EB_ERR_LEN] = "";
  char *pos[1];
  int npos;
  int rc =
      parse_opts("report", argc, argv, 2, table, "[options]",
                 "Paper-style tables from the results database: accuracy (LRA Table 1 "
                 "layout), speed and memory (LRA Table 2 layout), the archs' own "
                 "statistics as they declare them (MoE load...), scaling fits "
                 "(y = a C^-b + c against training FLOPs); --format html writes one "
                 "self-contained page with every figure, the suite YAML, data provenance "
                 "and the machine and commit of every run.",
                 pos, &npos, 0, err, sizeof err);
  if (rc == OPTS_HELP) return EB_OK;
  eb_store *st = NULL;
  FILE *out = stdout, *csv = NULL;
  char *csv_text = NULL;
  size_t csv_len = 0;
  eb_table t = EB_TABLE_ALL;
  eb_format f = EB_FMT_MD;
  int flags = mix ? EB_REPORT_MIX_SOURCES : 0;
  eb_report_stat *stats = NULL;
  int nstats = 0;
  if (rc) goto done;
  if (eb_table_parse(table_s, &t)) {
    snprintf(err, sizeof err, "--table %s: expected accuracy, speed, stats, fit or all",
             table_s);
    rc = EB_INPUT;
    goto done;
  }
  if (!strcmp(fmt_s, "json"))
    json = 1;
  else if (json && strcmp(fmt_s, "md")) {
    snprintf(err, sizeof err, "--json and --format %s: choose one", fmt_s);
    rc = EB_INPUT;
    goto done;
  } else if (eb_format_parse(fmt_s, &f)) {
    snprintf(err, sizeof err, "--format %s: expected md, latex, csv, json or html",
             fmt_s);
    rc = EB_INPUT;
    goto done;
  }
  if (json) f = EB_FMT_CSV; /* converted below */
  if (!strcmp(attempt_s, "all"))
    flags |= EB_REPORT_ALL_ATTEMPTS;
  else if (strcmp(attempt_s, "latest")) {
    snprintf(err, sizeof err, "--attempt %s: expected latest or all", attempt_s);
    rc = EB_INPUT;
    goto done;
  }
  if (!strcmp(spread, "sem"))
    flags |= EB_REPORT_SEM;
  else if (strcmp(spread, "std")) {
    snprintf(err, sizeof err, "--spread %s: expected std or sem", spread);
    rc = EB_INPUT;
    goto done;
  }
  eb_report_fit_opts fo = {EB_FIT_LOSS, (int)boot};
  if (eb_fit_metric_parse(metric_s, &fo.metric)) {
    snprintf(err, sizeof err, "--metric %s: expected loss or error", metric_s);
    rc = EB_INPUT;
    goto done;
  }
  if (report_stats_of(cl->reg, &stats, &nstats)) {
    snprintf(err, sizeof err, "out of memory: the architectures' stat declarations");
    rc = EB_NOMEM;
    goto done;
  }
  if ((rc = eb_store_open_readonly(db, &st, err, sizeof err))) goto done;
  if (outp && !(out = fopen(outp, "w"))) {
    snprintf(err, sizeof err, "%s: cannot write: %s", outp, strerror(errno));
    out = stdout;
    rc = EB_IO;
    goto done;
  }
  if (json && !(csv = open_memstream(&csv_text, &csv_len))) {
    snprintf(err, sizeof err, "out of memory");
    rc = EB_NOMEM;
    goto done;
  }
  eb_report_options ro = {flags, &fo, baseline, stats, nstats};
  int rrc = eb_report_opts(st, suite, t, f, &ro, json ? csv : out, err, sizeof err);
  rc = rrc;
  if (json) {
    int crc = fclose(csv);
    csv = NULL;
    if (!rc && (crc || csv_to_json(csv_text ? csv_text : "", out))) {
      snprintf(err, sizeof err, "cannot convert the report to JSON");
      rc = crc ? EB_NOMEM : EB_INTERNAL; /* the CSV is ours */
    }
  }
  if (!rrc && err[0]) fprintf(stderr, "effbench report: warning: %s\n", err);
  if (out != stdout) {
    if (fclose(out) != 0 && !rc) {
      snprintf(err, sizeof err, "%s: write failed", outp);
      rc = EB_IO;
    }
    out = stdout;
  } else if (fflush(stdout) != 0 && !rc) {
    snprintf(err, sizeof err, "standard output: write failed");
    rc = EB_IO;
  }
done:
  if (rc) fprintf(stderr, "effbench report: %s\n", err);
  if (csv) fclose(csv);
  free(csv_text);
  free(stats);
  if (st) eb_store_close(st);
  return rc;
}

/* ----------------------------------------------------------- compare ---- */
static int cmd_compare(const cli *cl, int argc, char **argv) {
  const char *suite = NULL, *fmt_s = "md", *outp = NULL;
  double alpha = 0.01, min_change = 0.02;
  int fail_on = 0;
  opt table[] = {
      {"suite", O_STR, &suite, 0, 0, "NAME", "compare only this suite [every row]"},
      {"format", O_STR, &fmt_s, 0, 0, "md|csv|json", "output format [md]"},
      {"alpha", O_FLOAT, &alpha, 1e-9, 0.5, "P",
       "significance level of Welch's two-sided t-test [0.01]"},
      {"min-change", O_FLOAT, &min_change, 0, 10, "F",
       "smallest relative change flagged, 0.02 = 2% [0.02]"},
      {"fail-on-regression", O_FLAG, &fail_on, 0, 0, NULL,
       "exit 1 when a regression is flagged (for CI)"},
      {"o", O_STR, &outp, 0, 0, "FILE", "write to FILE instead of standard output"},
      {NULL, 0, NULL, 0, 0, NULL, NULL},
  };
  char err[EB_ERR_LEN] = "";
  char *pos[2];
  int npos;
  int rc = parse_opts(
      "compare", argc, argv, 2, table, "BASE.db NEW.db [options]",
      "Two results databases side by side: accuracy per (arch, variant, task) over "
      "seeds, "
      "speed per (arch, task, length, mode) over timed steps, and memory, with the ratio "
      "NEW/BASE and a regression flag where NEW is worse beyond the noise of both sides "
      "(Welch's t-test) and by at least --min-change.",
      pos, &npos, 2, err, sizeof err);
  if (rc == OPTS_HELP) return EB_OK;
  if (rc) {
    fprintf(stderr, "effbench compare: %s\n", err);
    return rc;
  }
  eb_store *b = NULL, *n = NULL;
  FILE *out = stdout;
  eb_cmp_opts o = {.suite = suite, .alpha = alpha, .min_change = min_change};
  if (npos != 2) {
    snprintf(err, sizeof err, "give two databases: BASE.db NEW.db (see --help)");
    rc = EB_INPUT;
    goto done;
  }
  if (!strcmp(fmt_s, "md"))
    o.format = EB_CMP_MD;
  else if (!strcmp(fmt_s, "csv"))
    o.format = EB_CMP_CSV;
  else if (!strcmp(fmt_s, "json"))
    o.format = EB_CMP_JSON;
  else {
    snprintf(err, sizeof err, "--format %s: expected md, csv or json", fmt_s);
    rc = EB_INPUT;
    goto done;
  }
  o.base_label = pos[0];
  o.new_label = pos[1];
  /* either may be older than this build: read as it is, never migrated */
  for (int i = 0; i < 2; i++) {
    if ((rc = eb_store_open_input(pos[i], i ? &n : &b, err, sizeof err))) goto done;
  }
  if (outp && !(out = fopen(outp, "w"))) {
    snprintf(err, sizeof err, "%s: cannot write: %s", outp, strerror(errno));
    out = stdout;
    rc = EB_IO;
    goto done;
  }
  int nreg = 0;
  rc = eb_compare(b, n, &o, out, &nreg, err, sizeof err);
  if (out != stdout) {
    if (fclose(out) != 0 && !rc) {
      snprintf(err, sizeof err, "%s: write failed", outp);
      rc = EB_IO;
    }
    out = stdout;
  }
  if (!rc && fail_on && nreg > 0) {
    fprintf(stderr, "effbench compare: %d regression%s flagged\n", nreg,
            nreg == 1 ? "" : "s");
    rc = EB_FAILED;
  }
done:
  if (rc && err[0]) fprintf(stderr, "effbench compare: %s\n", err);
  if (b) eb_store_close(b);
  if (n) eb_store_close(n);
  return rc;
}

/* -------------------------------------------------------------- plot ---- */
static int cmd_plot(const cli *cl, int argc, char **argv) {
  const char *db = "out/results.db", *suite = NULL, *kind_s = "all", *fmt_s = "png",
             *outdir = "out/figures", *metric_s = "loss", *baseline = NULL;
  int mix = 0;
  opt table[] = {
      {"db", O_STR, &db, 0, 0, "FILE", "results database [out/results.db]"},
      {"suite", O_STR, &suite, 0, 0, "NAME", "suite to plot [the latest]"},
      {"kind", O_STR, &kind_s, 0, 0, "bubble|scaling|curves|pareto|fit|sweep|all",
       "figures [all]"},
      {"metric", O_STR, &metric_s, 0, 0, "loss|error",
       "y of the fit figures: test loss or test error rate [loss]"},
      {"format", O_STR, &fmt_s, 0, 0, "png|svg|pdf", "image format [png]"},
      {"out", O_STR, &outdir, 0, 0, "DIR", "output directory [out/figures]"},
      {"baseline", O_STR, &baseline, 0, 0, "ARCH",
       "the arch drawn first (the first colour and marker); must be an arch of the "
       "suite [vanilla]"},
      {"mix-sources", O_FLAG, &mix, 0, 0, NULL,
       "draw runs on different kinds of data (generated, official, a substitute) as "
       "one task (refused otherwise)"},
      {NULL, 0, NULL, 0, 0, NULL, NULL},
  };
  char err[EB_ERR_LEN] = "";
  char *pos[1];
  int npos;
  int rc =
      parse_opts("plot", argc, argv, 2, table, "[options]",
                 "Figures from the results database with gnuplot; each image comes with "
                 "its data file (NAME.dat) and script (NAME.gp) to restyle it.",
                 pos, &npos, 0, err, sizeof err);
  if (rc == OPTS_HELP) return EB_OK;
  eb_store *st = NULL;
  eb_plot_kind kind;
  eb_plot_format fmt;
  if (rc) goto done;
  if (eb_plot_kind_parse(kind_s, &kind)) {
    snprintf(err, sizeof err,
             "--kind %s: expected bubble, scaling, curves, pareto, fit or all", kind_s);
    rc = EB_INPUT;
    goto done;
  }
  eb_fit_metric metric;
  if (eb_fit_metric_parse(metric_s, &metric)) {
    snprintf(err, sizeof err, "--metric %s: expected loss or error", metric_s);
    rc = EB_INPUT;
    goto done;
  }
  if (eb_plot_format_parse(fmt_s, &fmt)) {
    snprintf(err, sizeof err, "--format %s: expected png, svg or pdf", fmt_s);
    rc = EB_INPUT;
    goto done;
  }
  if ((rc = eb_store_open_readonly(db, &st, err, sizeof err))) goto done;
  int written = 0;
  if ((rc = eb_plot_opts(st, suite, kind, fmt,
                         (mix ? EB_PLOT_MIX_SOURCES : 0) |
                             (metric == EB_FIT_ERROR ? EB_PLOT_FIT_ERROR : 0),
                         baseline, outdir, &written, err, sizeof err)))
    goto done;
  if (err[0]) fprintf(stderr, "effbench plot: note: %s\n", err);
  printf("%d figure(s) written to %s\n", written, outdir);
done:
  if (rc) fprintf(stderr, "effbench plot: %s\n", err);
  if (st) eb_store_close(st);
  return rc;
}

/* -------------------------------------------------------------- main ---- */
/* The process's exit status for each kind of failure (docs/engine.md,
 * "Errors and exit statuses"): 0 success, 2 bad usage or bad input (the
 * user's to fix: an option, a file, a name that does not exist), 1 every
 * other failure (of a run, of I/O, of the machine). Every command returns an
 * eb_rc; this table alone turns it into a status. */
static const int EXIT_STATUS[] = {
    [EB_OK] = 0,       [EB_NOMEM] = 1, [EB_INPUT] = 2,  [EB_NOTFOUND] = 2,
    [EB_IO] = 1,       [EB_DB] = 1,    [EB_SHAPE] = 1,  [EB_UNSUPPORTED] = 1,
    [EB_INTERNAL] = 1, [EB_BUSY] = 1,  [EB_FAILED] = 1,
};
_Static_assert(sizeof EXIT_STATUS / sizeof EXIT_STATUS[0] == EB_RC_COUNT,
               "one exit status per eb_rc kind");

static int exit_status(int rc) {
  return rc >= 0 && rc < EB_RC_COUNT ? EXIT_STATUS[rc] : 1;
}

/* The commands: dispatch, `effbench --help` and the unknown-command message
 * all read this table, in this order. `computes`: the command runs the
 * engine, so it says why the preferred GEMM backend is not used. */
typedef struct command {
  const char *name;
  const char *args; /* shown after the name in --help; NULL: none */
  int (*handler)(const cli *cl, int argc, char **argv);
  const char *summary;
  int computes;
} command;

static const command COMMANDS[] = {
    {"list", "archs|tasks", cmd_list,
     "registered architectures or tasks and their parameters", 0},
    {"run", "SUITE.yaml", cmd_run, "run a suite into the results database (resumable)",
     1},
    {"report", NULL, cmd_report, "tables from the results database", 0},
    {"merge", "OUT IN...", cmd_merge,
     "merge results databases (a suite's shards) into one", 0},
    {"slurm", "SUITE.yaml", cmd_slurm,
     "write (and submit) a Slurm job array running a suite", 0},
    {"compare", "BASE NEW", cmd_compare,
     "two results databases side by side, regressions flagged", 0},
    {"plot", NULL, cmd_plot, "figures from the results database (gnuplot)", 0},
    {"train", NULL, cmd_train, "train one architecture on one task, report accuracy", 1},
    {"bench", NULL, cmd_bench,
     "speed and memory of one architecture (--peak: the machine's)", 1},
    {"export", NULL, cmd_export, "parameters (and a batch with gradients) as safetensors",
     1},
    {"check", NULL, cmd_check,
     "gradient, FLOP, determinism and padding checks of an arch", 1},
    {"data", "TASK", cmd_data, "write a task's generated data in its official format", 0},
};
enum { NCOMMANDS = (int)(sizeof COMMANDS / sizeof COMMANDS[0]) };

static const command *find_command(const char *name) {
  for (int i = 0; i < NCOMMANDS; i++)
    if (!strcmp(COMMANDS[i].name, name)) return &COMMANDS[i];
  return NULL;
}

static void usage(FILE *f) {
  fputs("usage: effbench [--plugin FILE.so]... COMMAND [options]\n\ncommands:\n", f);
  for (int i = 0; i < NCOMMANDS; i++) {
    char left[64];
    snprintf(left, sizeof left, "%s%s%s", COMMANDS[i].name, COMMANDS[i].args ? " " : "",
             COMMANDS[i].args ? COMMANDS[i].args : "");
    fprintf(f, "  %-18s %s\n", left, COMMANDS[i].summary);
  }
  fputs("\nPlugins: --plugin FILE.so (repeatable) or every .so in the directories of\n"
        "EFFBENCH_PLUGIN_PATH. 'effbench COMMAND --help' describes each command.\n",
        f);
}

/* "unknown command 'x'; did you mean 'y'? (commands: a, b, ...)" */
static void unknown_command(const char *name) {
  const char *names[NCOMMANDS];
  char list[512];
  size_t n = 0;
  list[0] = '\0';
  for (int i = 0; i < NCOMMANDS; i++) {
    names[i] = COMMANDS[i].name;
    int k = snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", names[i]);
    if (k > 0 && (size_t)k < sizeof list - n) n += (size_t)k;
  }
  const char *near = eb_nearest(name, names, NCOMMANDS);
  fprintf(stderr, "effbench: unknown command '%s'%s%s%s (commands: %s)\n", name,
          near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "", list);
}

/* a damaged data cache is rebuilt; say so */
static void print_cache_warning(const char *msg) {
  fprintf(stderr, "effbench: warning: %s\n", msg);
}

int main(int argc, char **argv) {
  eb_dataset_set_warn(print_cache_warning);
  /* past a file-size limit (ulimit -f) a write fails with EFBIG, which the
   * store and the writers report, instead of the process dying silently */
  signal(SIGXFSZ, SIG_IGN);
  /* global options before the command */
  char *plugins[64];
  int nplug = 0, i = 1;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--plugin")) {
      if (i + 1 >= argc || nplug == 64) {
        fprintf(stderr, "effbench: --plugin needs a FILE.so\n");
        return exit_status(EB_INPUT);
      }
      plugins[nplug++] = argv[++i];
    } else if (!strncmp(argv[i], "--plugin=", 9) && nplug < 64) {
      plugins[nplug++] = argv[i] + 9;
    } else {
      break;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return exit_status(EB_INPUT);
  }
  const char *name = argv[i];
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    usage(stdout);
    return exit_status(EB_OK);
  }
  if (!strcmp(name, "--version")) {
    printf("effbench %s (commit %s, plugin ABI %d, core API %d.%d)\n", EFFBENCH_VERSION,
           EFFBENCH_GIT_COMMIT, EB_PLUGIN_ABI, EB_CORE_API_MAJOR, EB_CORE_API_MINOR);
    return exit_status(EB_OK);
  }
  /* sub-commands see argv as if the command were argv[1] */
  argv += i - 1;
  argc -= i - 1;
  const command *cmd = find_command(name);
  if (!cmd) {
    unknown_command(name);
    return exit_status(EB_INPUT);
  }
  eb_registry *reg = eb_registry_create();
  char err[EB_ERR_LEN];
  if (!reg) {
    fprintf(stderr, "effbench: out of memory\n");
    return exit_status(EB_NOMEM);
  }
  int rc = eb_registry_open_default(reg, nplug, plugins, err, sizeof err);
  if (rc) {
    fprintf(stderr, "effbench: %s\n", err);
    eb_registry_destroy(reg);
    return exit_status(rc);
  }
  if (cmd->computes) { /* say once why the preferred GEMM backend is not used */
    int help = 0;
    for (int a = 2; a < argc; a++)
      help |= !strcmp(argv[a], "--help") || !strcmp(argv[a], "-h");
    const char *w = help ? "" : eb_gemm_info_get()->warning;
    if (w && *w) fprintf(stderr, "effbench: warning: %s\n", w);
  }
  const cli cl = {reg, plugins, nplug};
  rc = cmd->handler(&cl, argc, argv);
  eb_registry_destroy(reg);
  return exit_status(rc);
}
