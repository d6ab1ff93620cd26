#include "suite.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "hash.h"
#include "json.h"
#include "yamltree.h"

/* wide's resolved head count (archs/wide.c): written into the run's
 * configuration instead of auto, so the run key names the real model */
extern const eb_arch eb_arch_wide;
int64_t eb_wide_heads(const eb_model_config *cfg, const eb_args *args);

const char *eb_match_name(eb_match_by by) {
  return by == EB_MATCH_PARAMS ? "params" : by == EB_MATCH_FLOPS ? "flops" : "none";
}

/* ---------------------------------------------------------- messages ---- */
typedef struct ctx {
  const char *file;
  eb_registry *reg;
  char *err;
  size_t errlen;
  int nomem; /* a step failed for want of memory, not for the file's content */
} ctx;

static int at(ctx *c, int line, int col, const char *fmt, ...) {
  int n = snprintf(c->err, c->errlen, "%s:%d:%d: ", c->file, line, col);
  va_list ap;
  va_start(ap, fmt);
  if (n >= 0 && (size_t)n < c->errlen)
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
  va_end(ap);
  return -1;
}

static void join(char *buf, size_t len, const char *const *names, int n) {
  size_t off = 0;
  buf[0] = '\0';
  for (int i = 0; i < n && off < len; i++)
    off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", names[i]);
}

/* every key of map must be in allowed[] */
static int check_keys(ctx *c, const eb_ynode *map, const char *what,
                      const char *const *allowed, int nallowed) {
  for (int i = 0; i < map->n; i++) {
    int ok = 0;
    for (int j = 0; j < nallowed; j++)
      ok |= strcmp(map->keys[i], allowed[j]) == 0;
    if (ok) continue;
    char valid[512];
    join(valid, sizeof valid, allowed, nallowed);
    const char *near = eb_nearest(map->keys[i], allowed, nallowed);
    return at(c, map->key_line[i], map->key_col[i],
              "unknown key '%s' in %s%s%s%s (valid: %s)", map->keys[i], what,
              near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "", valid);
  }
  return 0;
}

static int want(ctx *c, const eb_ynode *n, eb_ytype t, const char *what) {
  static const char *const names[] = {"a single value", "a list",
                                      "a mapping (key: value)"};
  if (n->type == t) return 0;
  return at(c, n->line, n->col, "%s must be %s", what, names[t]);
}

static int scalar_as(ctx *c, const eb_ynode *n, eb_ptype t, const char *what,
                     eb_arg *out) {
  if (want(c, n, EB_Y_SCALAR, what)) return -1;
  char why[256];
  if (t != EB_P_STRING && n->quoted)
    return at(c, n->line, n->col, "%s: \"%s\" is quoted text, expected a %s", what,
              n->value, eb_type_name(t));
  if (eb_parse_value(t, n->value, out, why, sizeof why))
    return at(c, n->line, n->col, "%s: %s", what, why);
  return 0;
}

static int get_int(ctx *c, const eb_ynode *n, const char *what, long long lo,
                   long long hi, int *out) {
  eb_arg a;
  if (scalar_as(c, n, EB_P_INT, what, &a)) return -1;
  if (a.i < lo || a.i > hi)
    return at(c, n->line, n->col, "%s: %lld is outside [%lld, %lld]", what,
              (long long)a.i, lo, hi);
  *out = (int)a.i;
  return 0;
}

static int get_float(ctx *c, const eb_ynode *n, const char *what, double lo, double hi,
                     double *out) {
  eb_arg a;
  if (scalar_as(c, n, EB_P_FLOAT, what, &a)) return -1;
  if (a.f < lo || a.f > hi)
    return at(c, n->line, n->col, "%s: %g is outside [%g, %g]", what, a.f, lo, hi);
  *out = a.f;
  return 0;
}

/* "90", "90s", "15m", "2h" -> seconds */
static int get_duration(ctx *c, const eb_ynode *n, const char *what, double *out) {
  if (want(c, n, EB_Y_SCALAR, what)) return -1;
  char *end = NULL;
  errno = 0;
  double v = strtod(n->value, &end);
  double mul = 1;
  if (end && *end) {
    if (!strcmp(end, "s"))
      mul = 1;
    else if (!strcmp(end, "m"))
      mul = 60;
    else if (!strcmp(end, "h"))
      mul = 3600;
    else
      end = NULL;
  }
  if (!end || end == n->value || errno || !(v >= 0) || !isfinite(v))
    return at(c, n->line, n->col,
              "%s: '%s' is not a duration (seconds, or a number with s, m or h)", what,
              n->value);
  *out = v * mul;
  return 0;
}

/* "1048576", "512MiB", "2GiB", "1.5GB" -> bytes (KiB/MiB/GiB/TiB: powers of
 * 1024; KB/MB/GB/TB: of 1000; B or nothing: bytes) */
static int get_bytes(ctx *c, const eb_ynode *n, const char *what, double *out) {
  if (want(c, n, EB_Y_SCALAR, what)) return -1;
  static const char *const units[] = {"",    "B",  "KiB", "MiB", "GiB",
                                      "TiB", "KB", "MB",  "GB",  "TB"};
  static const double mul[] = {1,   1,   1024.0, 1048576.0, 1073741824.0, 1099511627776.0,
                               1e3, 1e6, 1e9,    1e12};
  char *end = NULL;
  errno = 0;
  double v = strtod(n->value, &end);
  int u = -1;
  for (int i = 0; end && end != n->value && i < 10; i++)
    if (!strcmp(end, units[i])) u = i;
  if (u < 0 || errno || !(v >= 0) || !isfinite(v) || v * mul[u] > 9e18)
    return at(c, n->line, n->col,
              "%s: '%s' is not a size (bytes, or a number with KiB, MiB, GiB, TiB, KB, "
              "MB, GB or TB)",
              what, n->value);
  *out = v * mul[u];
  return 0;
}

/* ------------------------------------------------- model and train ---- */
static const char *const model_keys[] = {"dim",
                                         "depth",
                                         "heads",
                                         "ffn",
                                         "dropout",
                                         "pool",
                                         "attention_dropout",
                                         "mlp_dropout",
                                         "positions",
                                         "head",
                                         "head_width"};
static const char *const train_keys[] = {"steps",
                                         "batch",
                                         "lr",
                                         "warmup",
                                         "weight_decay",
                                         "eval_every",
                                         "eval_batches",
                                         "time_budget",
                                         "schedule",
                                         "clip",
                                         "decay_embeddings",
                                         "checkpoint_minutes",
                                         "max_memory"};
#define NMODEL ((int)(sizeof model_keys / sizeof *model_keys))
#define NTRAIN ((int)(sizeof train_keys / sizeof *train_keys))

static int set_model(ctx *c, eb_model_config *m, const char *key, const eb_ynode *v) {
  char what[64];
  snprintf(what, sizeof what, "model.%s", key);
  if (!strcmp(key, "dim")) return get_int(c, v, what, 1, 65536, &m->dim);
  if (!strcmp(key, "depth")) return get_int(c, v, what, 0, 1024, &m->depth);
  if (!strcmp(key, "heads")) return get_int(c, v, what, 1, 4096, &m->heads);
  if (!strcmp(key, "ffn")) return get_int(c, v, what, 1, 1 << 20, &m->ffn);
  if (!strcmp(key, "dropout") || !strcmp(key, "attention_dropout") ||
      !strcmp(key, "mlp_dropout")) {
    double d;
    if (get_float(c, v, what, 0, 0.999, &d)) return -1;
    *(key[0] == 'd'   ? &m->dropout
      : key[0] == 'a' ? &m->attention_dropout
                      : &m->mlp_dropout) = (float)d;
    return 0;
  }
  if (!strcmp(key, "head_width")) return get_int(c, v, what, 0, 1 << 20, &m->head_width);
  if (!strcmp(key, "positions")) {
    if (want(c, v, EB_Y_SCALAR, what)) return -1;
    if (strcmp(v->value, "learned") && strcmp(v->value, "sinusoidal"))
      return at(c, v->line, v->col,
                "model.positions: '%s' is not one of learned, sinusoidal", v->value);
    m->positions =
        strcmp(v->value, "sinusoidal") == 0 ? EB_POS_SINUSOIDAL : EB_POS_LEARNED;
    return 0;
  }
  if (!strcmp(key, "head")) {
    if (want(c, v, EB_Y_SCALAR, what)) return -1;
    if (strcmp(v->value, "linear") && strcmp(v->value, "mlp"))
      return at(c, v->line, v->col, "model.head: '%s' is not one of linear, mlp",
                v->value);
    m->head = strcmp(v->value, "mlp") == 0 ? EB_HEAD_MLP : EB_HEAD_LINEAR;
    return 0;
  }
  if (!strcmp(key, "pool")) {
    if (want(c, v, EB_Y_SCALAR, what)) return -1;
    if (strcmp(v->value, "mean") && strcmp(v->value, "cls"))
      return at(c, v->line, v->col, "model.pool: '%s' is not one of mean, cls", v->value);
    m->pool = strcmp(v->value, "cls") == 0 ? EB_POOL_CLS : EB_POOL_MEAN;
    return 0;
  }
  return at(c, v->line, v->col, "unknown model key '%s'", key);
}

static int set_train(ctx *c, eb_train_cfg *t, const char *key, const eb_ynode *v) {
  char what[64];
  double d = 0;
  snprintf(what, sizeof what, "train.%s", key);
  if (!strcmp(key, "steps")) return get_int(c, v, what, 1, 1000000000, &t->steps);
  if (!strcmp(key, "batch")) return get_int(c, v, what, 1, 1 << 20, &t->batch);
  if (!strcmp(key, "warmup")) return get_int(c, v, what, 0, 1000000000, &t->warmup);
  if (!strcmp(key, "eval_every"))
    return get_int(c, v, what, 0, 1000000000, &t->eval_every);
  if (!strcmp(key, "eval_batches"))
    return get_int(c, v, what, 0, 1000000000, &t->eval_batches);
  if (!strcmp(key, "lr")) {
    if (get_float(c, v, what, 0, 10, &d)) return -1;
    t->lr = (float)d;
    return 0;
  }
  if (!strcmp(key, "weight_decay")) {
    if (get_float(c, v, what, 0, 10, &d)) return -1;
    t->weight_decay = (float)d;
    return 0;
  }
  if (!strcmp(key, "decay_embeddings")) {
    eb_arg a;
    if (scalar_as(c, v, EB_P_BOOL, what, &a)) return -1;
    t->decay_embeddings = a.i != 0;
    return 0;
  }
  if (!strcmp(key, "clip")) {
    if (get_float(c, v, what, 0, 1e9, &d)) return -1;
    t->clip = (float)d;
    return 0;
  }
  if (!strcmp(key, "time_budget")) return get_duration(c, v, what, &t->time_budget_s);
  if (!strcmp(key, "max_memory")) {
    if (get_bytes(c, v, what, &d)) return -1;
    t->max_memory = (size_t)d;
    return 0;
  }
  if (!strcmp(key, "checkpoint_minutes")) { /* not in the run key: no effect on results */
    if (get_float(c, v, what, 0, 1e6, &d)) return -1;
    t->checkpoint_s = 60 * d;
    return 0;
  }
  if (!strcmp(key, "schedule")) {
    if (want(c, v, EB_Y_SCALAR, what)) return -1;
    if (eb_schedule_parse(v->value, &t->schedule))
      return at(c, v->line, v->col,
                "train.schedule: '%s' is not one of constant, rsqrt, cosine", v->value);
    return 0;
  }
  return at(c, v->line, v->col, "unknown train key '%s'", key);
}

static int apply_section(ctx *c, const eb_ynode *sec, const char *what,
                         eb_model_config *m, eb_train_cfg *t) {
  if (want(c, sec, EB_Y_MAP, what)) return -1;
  int is_model = m != NULL;
  if (check_keys(c, sec, what, is_model ? model_keys : train_keys,
                 is_model ? NMODEL : NTRAIN))
    return -1;
  for (int i = 0; i < sec->n; i++)
    if (is_model ? set_model(c, m, sec->keys[i], sec->items[i])
                 : set_train(c, t, sec->keys[i], sec->items[i]))
      return -1;
  return 0;
}

/* ------------------------------------------ declared parameter lists ---- */
/* A parameter setting from the YAML, kept as text with its position. */
typedef struct pset {
  int n;
  const char *k[64], *v[64];
  int line[64], col[64];   /* the value's position */
  int kline[64], kcol[64]; /* the key's position */
} pset;

static int pset_put(ctx *c, pset *p, const char *key, const eb_ynode *v, int line,
                    int col) {
  if (want(c, v, EB_Y_SCALAR, key)) return -1;
  for (int i = 0; i < p->n; i++)
    if (!strcmp(p->k[i], key)) { /* later settings win (overrides, sweeps) */
      p->v[i] = v->value;
      p->line[i] = v->line;
      p->col[i] = v->col;
      p->kline[i] = line;
      p->kcol[i] = col;
      return 0;
    }
  if (p->n == 64) return at(c, line, col, "too many parameters");
  p->k[p->n] = key;
  p->v[p->n] = v->value;
  p->line[p->n] = v->line;
  p->col[p->n] = v->col;
  p->kline[p->n] = line;
  p->kcol[p->n++] = col;
  return 0;
}

/* check each setting against the declarations, then resolve */
static int resolve(ctx *c, const char *kind, const char *name, const eb_param_decl *decls,
                   const pset *p, eb_argset *out) {
  const char *names[128];
  int nd = 0;
  for (; decls && decls[nd].name && nd < 128; nd++)
    names[nd] = decls[nd].name;
  char owner[128];
  snprintf(owner, sizeof owner, "%s '%s'", kind, name);
  for (int i = 0; i < p->n; i++) {
    int found = -1;
    for (int j = 0; j < nd; j++)
      if (!strcmp(names[j], p->k[i])) found = j;
    if (found < 0) {
      char valid[1024];
      join(valid, sizeof valid, names, nd);
      const char *near = eb_nearest(p->k[i], names, nd);
      return at(c, p->kline[i], p->kcol[i],
                "%s has no parameter '%s'%s%s%s (parameters: %s)", owner, p->k[i],
                near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "",
                nd ? valid : "none");
    }
    eb_argset one;
    char why[EB_ERR_LEN];
    int rc =
        eb_argset_resolve(&one, owner, decls, 1, &p->k[i], &p->v[i], why, sizeof why);
    if (rc) {
      c->nomem |= rc == EB_NOMEM;
      return at(c, p->line[i], p->col[i], "%s", why);
    }
    eb_argset_free(&one);
  }
  char why[EB_ERR_LEN];
  int rc = eb_argset_resolve(out, owner, decls, p->n, p->k, p->v, why, sizeof why);
  if (rc) {
    c->nomem |= rc == EB_NOMEM;
    return at(c, p->n ? p->line[0] : 1, p->n ? p->col[0] : 1, "%s", why);
  }
  return 0;
}

/* --------------------------------------------------- canonical JSON ---- */
static int cmp_arg(const void *a, const void *b) {
  return strcmp(((const eb_arg *)a)->name, ((const eb_arg *)b)->name);
}

/* A real number in a run's JSON. The key form (keyform 1) is the canonical
 * text the run key hashes, "%.9g" as since the first schema, so the keys of
 * stored runs never change. The stored form is the shortest decimal that reads
 * back to the same value (float32 for f32), i.e. the number as the YAML wrote
 * it: "lr":0.003, not 0.00300000003. */
static void jreal(eb_json *w, double v, int f32, int keyform) {
  if (keyform)
    eb_json_rawf(w, "%.9g", v);
  else
    eb_json_real(w, v, f32);
}

static void jargs(eb_json *w, const eb_args *a, int keyform) {
  eb_arg sorted[128];
  int n = a->n < 128 ? a->n : 128;
  memcpy(sorted, a->v, (size_t)n * sizeof *sorted);
  qsort(sorted, (size_t)n, sizeof *sorted, cmp_arg);
  eb_json_open(w, '{');
  for (int i = 0; i < n; i++) {
    eb_json_key(w, sorted[i].name);
    switch (sorted[i].type) {
    case EB_P_INT: eb_json_int(w, (long long)sorted[i].i); break;
    case EB_P_FLOAT: jreal(w, sorted[i].f, 0, keyform); break;
    case EB_P_BOOL: eb_json_bool(w, sorted[i].i != 0); break;
    default: eb_json_string(w, sorted[i].s ? sorted[i].s : ""); break;
    }
  }
  eb_json_close(w);
}

/* "key":value pairs of run_json */
static void kint(eb_json *w, const char *key, long long v) {
  eb_json_key(w, key);
  eb_json_int(w, v);
}

static void kstr(eb_json *w, const char *key, const char *v) {
  eb_json_key(w, key);
  eb_json_string(w, v);
}

static void kreal(eb_json *w, const char *key, double v, int f32, int keyform) {
  eb_json_key(w, key);
  jreal(w, v, f32, keyform);
}

/* The run's configuration as JSON with sorted keys: the key form (k 1)
 * hashed into the run key, or the stored config_json (k 0). */
static char *run_json(const eb_suite_run *r, const eb_suite *s, int k) {
  eb_sbuf b = {0};
  eb_json w;
  eb_json_init(&w, &b);
  eb_json_open(&w, '{');
  kstr(&w, "arch", r->arch->name);
  eb_json_key(&w, "arch_params");
  jargs(&w, &r->arch_args.args, k);
  kint(&w, "data_seed", (long long)s->data_seed);
  if (s->match) { /* written only when matching: other runs keep their keys */
    eb_json_key(&w, "match");
    eb_json_open(&w, '{');
    kstr(&w, "by", eb_match_name(s->match));
    eb_json_key(&w, "flops_per_token");
    eb_json_rawf(&w, "%.9g", r->flops_token);
    eb_json_key(&w, "gap");
    eb_json_rawf(&w, "%.6g", r->match_gap);
    kint(&w, "params", (long long)r->params);
    kstr(&w, "ref", s->archs[s->match_ref].arch->name);
    eb_json_key(&w, "ref_flops_per_token");
    eb_json_rawf(&w, "%.9g", r->ref_flops_token);
    kint(&w, "ref_params", (long long)r->ref_params);
    eb_json_key(&w, "tolerance");
    if (k)
      eb_json_rawf(&w, "%.6g", s->match_tolerance);
    else
      eb_json_real(&w, s->match_tolerance, 0);
    eb_json_close(&w);
  }
  /* the LRA protocol options are written only when set (keys sorted): a run
   * with them off keeps the key it had before they existed */
  const eb_model_config *m = &r->model;
  eb_json_key(&w, "model");
  eb_json_open(&w, '{');
  if (m->attention_dropout > 0)
    kreal(&w, "attention_dropout", m->attention_dropout, 1, k);
  kint(&w, "depth", m->depth);
  kint(&w, "dim", m->dim);
  kreal(&w, "dropout", m->dropout, 1, k);
  kint(&w, "ffn", m->ffn);
  if (m->head == EB_HEAD_MLP) kstr(&w, "head", "mlp");
  if (m->head_width > 0) kint(&w, "head_width", m->head_width);
  kint(&w, "heads", m->heads);
  if (m->mlp_dropout > 0) kreal(&w, "mlp_dropout", m->mlp_dropout, 1, k);
  kstr(&w, "pool", m->pool == EB_POOL_CLS ? "cls" : "mean");
  if (m->positions == EB_POS_SINUSOIDAL) kstr(&w, "positions", "sinusoidal");
  eb_json_close(&w);
  kint(&w, "seed", (long long)r->seed);
  kstr(&w, "task", r->task->name);
  eb_json_key(&w, "task_params");
  jargs(&w, &r->task_args.args, k);
  const eb_train_cfg *t = &r->train;
  eb_json_key(&w, "train");
  eb_json_open(&w, '{');
  kint(&w, "batch", t->batch);
  kreal(&w, "clip", t->clip, 1, k);
  /* written only when off: the default keeps the keys of runs stored before
   * the switch existed */
  if (!t->decay_embeddings) {
    eb_json_key(&w, "decay_embeddings");
    eb_json_bool(&w, 0);
  }
  kint(&w, "eval_batches", t->eval_batches);
  kint(&w, "eval_every", t->eval_every);
  kreal(&w, "lr", t->lr, 1, k);
  /* written only when set, as decay_embeddings: a limit changes what may
   * end as oom, and the keys of earlier runs stay */
  if (t->max_memory) {
    eb_json_key(&w, "max_memory");
    eb_json_rawf(&w, "%zu", t->max_memory);
  }
  kstr(&w, "schedule", eb_schedule_name(t->schedule));
  kint(&w, "steps", t->steps);
  kreal(&w, "time_budget", t->time_budget_s, 0, k);
  kint(&w, "warmup", t->warmup);
  kreal(&w, "weight_decay", t->weight_decay, 1, k);
  eb_json_close(&w);
  eb_json_close(&w);
  return eb_sb_take(&b);
}

/* ------------------------------------------------------------ loading ---- */
typedef struct entry { /* a task or arch entry: name + parameters */
  const eb_arch *arch;
  const eb_task *task;
  const eb_ynode *params; /* map or NULL */
  const eb_ynode *node;
} entry;

static int read_entries(ctx *c, const eb_ynode *list, int is_arch, entry *out, int max,
                        int *n) {
  const char *what = is_arch ? "archs" : "tasks";
  if (want(c, list, EB_Y_SEQ, what)) return -1;
  if (list->n == 0) return at(c, list->line, list->col, "%s is empty", what);
  *n = 0;
  for (int i = 0; i < list->n; i++) {
    const eb_ynode *it = list->items[i];
    const char *name;
    const eb_ynode *params = NULL;
    int line = it->line, col = it->col;
    if (it->type == EB_Y_SCALAR) {
      name = it->value;
    } else if (it->type == EB_Y_MAP && it->n == 1) {
      name = it->keys[0];
      line = it->key_line[0];
      col = it->key_col[0];
      params = it->items[0];
      if (params->type == EB_Y_SCALAR && params->value[0] == '\0')
        params = NULL; /* "- vanilla:" with nothing after it */
      else if (want(c, params, EB_Y_MAP, "parameters"))
        return -1;
    } else {
      return at(c, line, col, "each entry of %s is a name, or 'name: {parameters}'",
                what);
    }
    if (*n == max) return at(c, line, col, "too many %s (max %d)", what, max);
    entry *e = &out[(*n)++];
    memset(e, 0, sizeof *e);
    e->params = params;
    e->node = it;
    if (is_arch)
      e->arch = eb_registry_find_arch(c->reg, name);
    else
      e->task = eb_registry_find_task(c->reg, name);
    if (!e->arch && !e->task) {
      char msg[EB_ERR_LEN];
      eb_registry_unknown(c->reg, is_arch, name, msg, sizeof msg);
      return at(c, line, col, "%s", msg);
    }
    for (int j = 0; j < *n - 1; j++)
      if ((is_arch && out[j].arch == e->arch) || (!is_arch && out[j].task == e->task))
        return at(c, line, col, "%s '%s' is listed twice", is_arch ? "arch" : "task",
                  name);
  }
  return 0;
}

static int params_from(ctx *c, pset *p, const eb_ynode *map) {
  for (int i = 0; map && i < map->n; i++)
    if (pset_put(c, p, map->keys[i], map->items[i], map->key_line[i], map->key_col[i]))
      return -1;
  return 0;
}

typedef struct sweep_axis {
  const char *key; /* dotted */
  const eb_ynode *values;
  int line, col;
} sweep_axis;

/* model.* and train.* axes apply to every run; ARCH.* and TASK.* to theirs */
static int axis_applies(const sweep_axis *a, const eb_arch *arch, const eb_task *task) {
  const char *dot = strchr(a->key, '.');
  size_t n = (size_t)(dot - a->key);
  if ((n == 5 && !strncmp(a->key, "model", 5)) ||
      (n == 5 && !strncmp(a->key, "train", 5)))
    return 1;
  return (strlen(arch->name) == n && !strncmp(a->key, arch->name, n)) ||
         (strlen(task->name) == n && !strncmp(a->key, task->name, n));
}

static int read_file(const char *path, char **text, size_t *len, char *err,
                     size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    const int e = errno;
    snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
    return e == ENOENT   ? EB_NOTFOUND
           : e == ENOMEM ? EB_NOMEM  /* the C library's own allocation */
                         : EB_INPUT; /* a directory, no permission */
  }
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  /* read at most one byte past the bound, so /dev/zero or a huge file fails */
  for (size_t got;
       buf && n <= EB_YAML_MAX_BYTES && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
    n += got;
    if (cap - n - 1 == 0) {
      char *b2 = realloc(buf, cap *= 2);
      if (!b2) {
        free(buf);
        buf = NULL;
      } else {
        buf = b2;
      }
    }
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf || bad) {
    free(buf);
    snprintf(err, errlen, "%s: read failed", path);
    return !buf ? EB_NOMEM : EB_IO;
  }
  if (n > EB_YAML_MAX_BYTES) {
    free(buf);
    snprintf(err, errlen, "%s: larger than %d bytes, the most a suite file may have",
             path, EB_YAML_MAX_BYTES);
    return EB_INPUT;
  }
  buf[n] = '\0';
  *text = buf;
  *len = n;
  return EB_OK;
}

/* match, match_to, match_tolerance (top level: they pick each arch's width
 * for the whole suite); s->archs must be filled */
static int read_match(ctx *c, const eb_ynode *root, eb_suite *s) {
  const eb_ynode *m = eb_ymap_get(root, "match"), *to = eb_ymap_get(root, "match_to"),
                 *tol = eb_ymap_get(root, "match_tolerance");
  s->match_tolerance = 0.10;
  if (!m) {
    const eb_ynode *stray = to ? to : tol;
    if (stray)
      return at(c, stray->line, stray->col,
                "%s needs match: params or match: flops beside it",
                to ? "match_to" : "match_tolerance");
    return 0;
  }
  if (want(c, m, EB_Y_SCALAR, "match")) return -1;
  s->match_line = m->line;
  s->match_col = m->col;
  if (!strcmp(m->value, "params"))
    s->match = EB_MATCH_PARAMS;
  else if (!strcmp(m->value, "flops"))
    s->match = EB_MATCH_FLOPS;
  else
    return at(c, m->line, m->col,
              "match: '%s' is not one of params, flops (match each arch's width to the "
              "reference's parameter count or training FLOPs per token)",
              m->value);
  if (tol && get_float(c, tol, "match_tolerance", 1e-9, 10, &s->match_tolerance))
    return -1;
  const char *ref = "vanilla";
  int line = m->line, col = m->col;
  if (to) {
    if (want(c, to, EB_Y_SCALAR, "match_to")) return -1;
    ref = to->value;
    line = to->line;
    col = to->col;
  }
  s->match_ref = -1;
  for (int i = 0; i < s->narchs; i++)
    if (!strcmp(s->archs[i].arch->name, ref)) s->match_ref = i;
  if (s->match_ref < 0) {
    char names[512];
    const char *list[64];
    for (int i = 0; i < s->narchs && i < 64; i++)
      list[i] = s->archs[i].arch->name;
    join(names, sizeof names, list, s->narchs < 64 ? s->narchs : 64);
    return at(c, line, col,
              "%s: the reference arch '%s' is not in this suite's archs (%s)%s",
              to ? "match_to" : "match", ref, names,
              to ? "" : "; list it, or name the reference with match_to: ARCH");
  }
  return 0;
}

/* matched suites: open each task's data once for its shape, then choose the
 * width of every run (match.c); errors point at the arch entry, or at
 * match/match_to when the reference itself cannot be counted */
static int match_widths(ctx *c, eb_suite *s) {
  const char *open_json = NULL;
  eb_task_info info;
  memset(&info, 0, sizeof info);
  const eb_suite_arch *ref = &s->archs[s->match_ref];
  for (int i = 0; i < s->nruns; i++) {
    eb_suite_run *r = &s->runs[i];
    char why[EB_ERR_LEN] = "";
    if (!open_json || strcmp(open_json, r->task_json)) {
      void *data = NULL;
      memset(&info, 0, sizeof info);
      if (r->task->open(&r->task_args.args, (uint64_t)s->data_seed, &data, &info, why,
                        sizeof why))
        return at(c, s->match_line, s->match_col,
                  "match: the widths depend on task '%s''s shape, and its data cannot "
                  "be opened: %s",
                  r->task->name, why);
      if (r->task->close) r->task->close(data);
      open_json = r->task_json;
    }
    const eb_suite_arch *a = &s->archs[r->arch_index];
    if (eb_match_run(r, s->match, ref->arch, &ref->args.args, s->match_tolerance, &info,
                     why, sizeof why))
      return at(c, a->line, a->col, "arch '%s' (run %s): match: %s: %s", r->arch->name,
                r->label, eb_match_name(s->match), why);
  }
  return 0;
}

/* The state of one eb_suite_load, passed from stage to stage. Every stage
 * returns EB_OK or the kind of its failure: EB_INPUT with the message
 * "file:line:col: ..." in c.err (at()), or EB_NOMEM (oom()). */
typedef struct loader {
  ctx c;
  eb_suite *s;
  const eb_ynode *root;
  const eb_ynode *overrides; /* the `overrides` list, or NULL */
  int64_t seeds[256];
  int nseeds;
  eb_model_config model; /* the suite's defaults, before overrides and sweeps */
  eb_train_cfg train;
  entry tasks[64], archs[64];
  int ntasks, narchs;
  sweep_axis axes[16];
  int naxes;
} loader;

static int oom(loader *L) {
  snprintf(L->c.err, L->c.errlen, "%s: out of memory", L->c.file);
  return EB_NOMEM;
}

/* The document: a map of known keys with a non-empty `suite` name. */
static int load_document(loader *L) {
  ctx *c = &L->c;
  const eb_ynode *root = L->root;
  if (want(c, root, EB_Y_MAP, "a suite")) return EB_INPUT;
  static const char *const top[] = {"suite",     "description",    "seeds", "data_seed",
                                    "model",     "train",          "tasks", "archs",
                                    "overrides", "sweep",          "speed", "match",
                                    "match_to",  "match_tolerance"};
  if (check_keys(c, root, "the suite", top, (int)(sizeof top / sizeof *top)))
    return EB_INPUT;
  const eb_ynode *name = eb_ymap_get(root, "suite");
  if (!name) {
    at(c, root->line, root->col, "missing required key 'suite' (the suite's name)");
    return EB_INPUT;
  }
  if (want(c, name, EB_Y_SCALAR, "suite")) return EB_INPUT;
  if (!name->value[0]) {
    at(c, name->line, name->col, "suite: the name is empty");
    return EB_INPUT;
  }
  if (!(L->s->name = strdup(name->value))) return oom(L);
  return EB_OK;
}

/* `seeds` (one, or a list of distinct ones; 0 when absent) and `data_seed`. */
static int load_seeds(loader *L) {
  ctx *c = &L->c;
  L->nseeds = 1;
  L->seeds[0] = 0;
  const eb_ynode *sn = eb_ymap_get(L->root, "seeds");
  if (sn && sn->type == EB_Y_SCALAR) {
    int v;
    if (get_int(c, sn, "seeds", 0, 2000000000, &v)) return EB_INPUT;
    L->seeds[0] = v;
  } else if (sn) {
    if (want(c, sn, EB_Y_SEQ, "seeds")) return EB_INPUT;
    if (sn->n == 0 || sn->n > 256) {
      at(c, sn->line, sn->col, "seeds: give 1 to 256 seeds");
      return EB_INPUT;
    }
    L->nseeds = sn->n;
    for (int i = 0; i < sn->n; i++) {
      int v;
      if (get_int(c, sn->items[i], "seeds", 0, 2000000000, &v)) return EB_INPUT;
      L->seeds[i] = v;
      for (int j = 0; j < i; j++)
        if (L->seeds[j] == v) {
          at(c, sn->items[i]->line, sn->items[i]->col, "seed %d is listed twice", v);
          return EB_INPUT;
        }
    }
  }
  const eb_ynode *ds = eb_ymap_get(L->root, "data_seed");
  if (ds) {
    int v;
    if (get_int(c, ds, "data_seed", 0, 2000000000, &v)) return EB_INPUT;
    L->s->data_seed = v;
  }
  return EB_OK;
}

/* The suite-wide `model` and `train` sections over the built-in defaults. */
static int load_defaults(loader *L) {
  L->model =
      (eb_model_config){.dim = 64, .depth = 2, .heads = 4, .ffn = 128, .dropout = 0.1f};
  L->train = eb_train_defaults();
  const eb_ynode *sec;
  if ((sec = eb_ymap_get(L->root, "model")) &&
      apply_section(&L->c, sec, "model", &L->model, NULL))
    return EB_INPUT;
  if ((sec = eb_ymap_get(L->root, "train")) &&
      apply_section(&L->c, sec, "train", NULL, &L->train))
    return EB_INPUT;
  L->s->model = L->model;
  return EB_OK;
}

/* The `tasks` and `archs` lists, each entry's own parameters checked now so
 * errors point at them, and `match` (between the two: it names an arch). */
static int load_entries(loader *L) {
  ctx *c = &L->c;
  eb_suite *s = L->s;
  const eb_ynode *tl = eb_ymap_get(L->root, "tasks"), *al = eb_ymap_get(L->root, "archs");
  /* a speed-only suite (a `speed` section and no tasks) trains nothing */
  if (!al || (!tl && !eb_ymap_get(L->root, "speed"))) {
    at(c, L->root->line, L->root->col, "missing required key '%s'%s",
       !al ? "archs" : "tasks",
       !al ? "" : " (only a suite with a speed section may leave it out)");
    return EB_INPUT;
  }
  if ((tl && read_entries(c, tl, 0, L->tasks, 64, &L->ntasks)) ||
      read_entries(c, al, 1, L->archs, 64, &L->narchs))
    return EB_INPUT;
  s->archs = calloc((size_t)L->narchs, sizeof *s->archs);
  if (!s->archs) return oom(L);
  s->narchs = L->narchs;
  for (int i = 0; i < L->narchs; i++) {
    const entry *e = &L->archs[i];
    pset p = {0};
    s->archs[i].arch = e->arch;
    s->archs[i].line = e->node->line;
    s->archs[i].col = e->node->col;
    if (params_from(c, &p, e->params) ||
        resolve(c, "arch", e->arch->name, e->arch->params, &p, &s->archs[i].args))
      return EB_INPUT;
  }
  if (read_match(c, L->root, s)) return EB_INPUT;
  for (int i = 0; i < L->ntasks; i++) {
    const entry *e = &L->tasks[i];
    pset p = {0};
    eb_argset tmp;
    if (params_from(c, &p, e->params) ||
        resolve(c, "task", e->task->name, e->task->params, &p, &tmp))
      return EB_INPUT;
    eb_argset_free(&tmp);
  }
  return EB_OK;
}

/* match.task / match.arch of an override: a known name, when given */
static int check_match_name(ctx *c, const eb_ynode *n, int is_arch) {
  const char *what = is_arch ? "match.arch" : "match.task";
  if (!n) return EB_OK;
  if (want(c, n, EB_Y_SCALAR, what)) return EB_INPUT;
  if (is_arch ? eb_registry_find_arch(c->reg, n->value) != NULL
              : eb_registry_find_task(c->reg, n->value) != NULL)
    return EB_OK;
  at(c, n->line, n->col, "%s: unknown %s '%s' (available: %s)", what,
     is_arch ? "arch" : "task", n->value,
     is_arch ? eb_registry_arch_names(c->reg) : eb_registry_task_names(c->reg));
  return EB_INPUT;
}

/* `overrides`: validated here, applied per run by expand_run. */
static int load_overrides(loader *L) {
  ctx *c = &L->c;
  const eb_ynode *ov = L->overrides = eb_ymap_get(L->root, "overrides");
  if (!ov) return EB_OK;
  if (want(c, ov, EB_Y_SEQ, "overrides")) return EB_INPUT;
  static const char *const okeys[] = {"match", "model", "train", "params", "task_params"};
  static const char *const mkeys[] = {"task", "arch"};
  for (int i = 0; i < ov->n; i++) {
    const eb_ynode *o = ov->items[i], *sec;
    if (want(c, o, EB_Y_MAP, "an override") || check_keys(c, o, "an override", okeys, 5))
      return EB_INPUT;
    const eb_ynode *m = eb_ymap_get(o, "match");
    if (!m) {
      at(c, o->line, o->col, "an override needs 'match: {task: NAME, arch: NAME}'");
      return EB_INPUT;
    }
    if (want(c, m, EB_Y_MAP, "match") || check_keys(c, m, "match", mkeys, 2) ||
        check_match_name(c, eb_ymap_get(m, "task"), 0) ||
        check_match_name(c, eb_ymap_get(m, "arch"), 1))
      return EB_INPUT;
    eb_model_config m2 = L->model;
    eb_train_cfg t2 = L->train;
    if (((sec = eb_ymap_get(o, "model")) && apply_section(c, sec, "model", &m2, NULL)) ||
        ((sec = eb_ymap_get(o, "train")) && apply_section(c, sec, "train", NULL, &t2)) ||
        ((sec = eb_ymap_get(o, "params")) && want(c, sec, EB_Y_MAP, "params")) ||
        ((sec = eb_ymap_get(o, "task_params")) && want(c, sec, EB_Y_MAP, "task_params")))
      return EB_INPUT;
  }
  return EB_OK;
}

/* A sweep over model.KEY or train.KEY: a known key, each value valid for it. */
static int check_sweep_section(loader *L, int i, const char *head, const char *tail) {
  ctx *c = &L->c;
  const eb_ynode *sw = eb_ymap_get(L->root, "sweep");
  const int model = !strcmp(head, "model");
  const char *const *keys = model ? model_keys : train_keys;
  const int nk = model ? NMODEL : NTRAIN;
  int known = 0;
  for (int j = 0; j < nk; j++)
    known |= !strcmp(keys[j], tail);
  if (!known) {
    char valid[512];
    join(valid, sizeof valid, keys, nk);
    at(c, sw->key_line[i], sw->key_col[i], "sweep: unknown key '%s' (valid %s keys: %s)",
       sw->keys[i], head, valid);
    return EB_INPUT;
  }
  for (int j = 0; j < sw->items[i]->n; j++) {
    eb_model_config m2 = L->model;
    eb_train_cfg t2 = L->train;
    if (model ? set_model(c, &m2, tail, sw->items[i]->items[j])
              : set_train(c, &t2, tail, sw->items[i]->items[j]))
      return EB_INPUT;
  }
  return EB_OK;
}

/* A sweep over ARCH.PARAM or TASK.PARAM: an arch or task of this suite, each
 * value valid for the parameter. */
static int check_sweep_params(loader *L, int i, const char *head, const char *tail) {
  ctx *c = &L->c;
  const eb_ynode *sw = eb_ymap_get(L->root, "sweep");
  const eb_arch *a = eb_registry_find_arch(c->reg, head);
  const eb_task *t = eb_registry_find_task(c->reg, head);
  int listed = 0;
  for (int j = 0; j < L->narchs; j++)
    listed |= L->archs[j].arch == a;
  for (int j = 0; j < L->ntasks; j++)
    listed |= L->tasks[j].task == t;
  if (!listed) {
    at(c, sw->key_line[i], sw->key_col[i],
       "sweep key '%s': '%s' is not model, train, nor an arch or task of this suite",
       sw->keys[i], head);
    return EB_INPUT;
  }
  for (int j = 0; j < sw->items[i]->n; j++) {
    pset p = {0};
    eb_argset tmp;
    if (pset_put(c, &p, tail, sw->items[i]->items[j], sw->key_line[i], sw->key_col[i]) ||
        resolve(c, a ? "arch" : "task", head, a ? a->params : t->params, &p, &tmp))
      return EB_INPUT;
    eb_argset_free(&tmp);
  }
  return EB_OK;
}

/* `sweep`: one axis per dotted key, each with a non-empty list of values. */
static int load_sweeps(loader *L) {
  ctx *c = &L->c;
  const eb_ynode *sw = eb_ymap_get(L->root, "sweep");
  if (!sw) return EB_OK;
  if (want(c, sw, EB_Y_MAP, "sweep")) return EB_INPUT;
  for (int i = 0; i < sw->n; i++) {
    const char *k = sw->keys[i], *dot = strchr(k, '.');
    const eb_ynode *values = sw->items[i];
    if (L->naxes == 16) {
      at(c, sw->key_line[i], sw->key_col[i], "too many sweep keys (max 16)");
      return EB_INPUT;
    }
    if (!dot || dot == k || !dot[1]) {
      at(c, sw->key_line[i], sw->key_col[i],
         "sweep key '%s' must be dotted: model.KEY, train.KEY, ARCH.PARAM or TASK.PARAM",
         k);
      return EB_INPUT;
    }
    if (want(c, values, EB_Y_SEQ, "a sweep") || values->n == 0) {
      if (values->type == EB_Y_SEQ)
        at(c, values->line, values->col, "sweep '%s' has no values", k);
      return EB_INPUT;
    }
    char head[64];
    snprintf(head, sizeof head, "%.*s", (int)(dot - k), k);
    int rc = !strcmp(head, "model") || !strcmp(head, "train")
                 ? check_sweep_section(L, i, head, dot + 1)
                 : check_sweep_params(L, i, head, dot + 1);
    if (rc) return rc;
    L->axes[L->naxes++] = (sweep_axis){k, values, sw->key_line[i], sw->key_col[i]};
  }
  return EB_OK;
}

/* speed.modes: train and/or infer */
static int load_speed_modes(ctx *c, const eb_ynode *md, eb_speed_plan *pl) {
  if (want(c, md, EB_Y_SEQ, "speed.modes")) return EB_INPUT;
  pl->train = pl->infer = 0;
  for (int i = 0; i < md->n; i++) {
    const eb_ynode *m = md->items[i];
    if (want(c, m, EB_Y_SCALAR, "speed.modes")) return EB_INPUT;
    if (!strcmp(m->value, "train"))
      pl->train = 1;
    else if (!strcmp(m->value, "infer"))
      pl->infer = 1;
    else {
      at(c, m->line, m->col, "speed.modes: '%s' is not one of train, infer", m->value);
      return EB_INPUT;
    }
  }
  return EB_OK;
}

/* speed.archs: archs of this suite (all of them when absent) */
static int load_speed_archs(loader *L, const eb_ynode *sa, eb_speed_plan *pl) {
  ctx *c = &L->c;
  if (!sa) {
    for (int j = 0; j < L->narchs && j < 64; j++)
      pl->arch_index[pl->narch++] = j;
    return EB_OK;
  }
  if (want(c, sa, EB_Y_SEQ, "speed.archs")) return EB_INPUT;
  for (int i = 0; i < sa->n && pl->narch < 64; i++) {
    const eb_ynode *an = sa->items[i];
    if (want(c, an, EB_Y_SCALAR, "speed.archs")) return EB_INPUT;
    int found = -1;
    for (int j = 0; j < L->narchs; j++)
      if (!strcmp(L->archs[j].arch->name, an->value)) found = j;
    if (found < 0) {
      at(c, an->line, an->col, "speed.archs: '%s' is not an arch of this suite",
         an->value);
      return EB_INPUT;
    }
    pl->arch_index[pl->narch++] = found;
  }
  return EB_OK;
}

/* `speed`: the plan of Table-2 style measurements. */
static int load_speed(loader *L) {
  ctx *c = &L->c;
  const eb_ynode *sp = eb_ymap_get(L->root, "speed");
  if (!sp) return EB_OK;
  static const char *const skeys[] = {"lengths", "batch", "modes", "archs"};
  if (want(c, sp, EB_Y_MAP, "speed") || check_keys(c, sp, "speed", skeys, 4))
    return EB_INPUT;
  eb_speed_plan *pl = &L->s->speed;
  pl->batch = 8;
  pl->train = 1;
  const eb_ynode *ls = eb_ymap_get(sp, "lengths");
  if (!ls || want(c, ls, EB_Y_SEQ, "speed.lengths") || ls->n == 0 || ls->n > 64) {
    if (!ls || ls->type == EB_Y_SEQ)
      at(c, ls ? ls->line : sp->line, ls ? ls->col : sp->col,
         "speed.lengths: give 1 to 64 sequence lengths");
    return EB_INPUT;
  }
  for (int i = 0; i < ls->n; i++)
    if (get_int(c, ls->items[i], "speed.lengths", 1, 1 << 24, &pl->lengths[pl->nlen++]))
      return EB_INPUT;
  const eb_ynode *b = eb_ymap_get(sp, "batch"), *md = eb_ymap_get(sp, "modes");
  if ((b && get_int(c, b, "speed.batch", 1, 1 << 20, &pl->batch)) ||
      (md && load_speed_modes(c, md, pl)) ||
      load_speed_archs(L, eb_ymap_get(sp, "archs"), pl))
    return EB_INPUT;
  L->s->has_speed = 1;
  return EB_OK;
}

/* start times the sweep combinations of a task and arch (the product of the
 * lengths of the axes that apply to them), or the first partial product
 * beyond cap */
static long long combos(const loader *L, int ti, int ai, long long start, long long cap) {
  long long n = start;
  for (int i = 0; i < L->naxes && n <= cap; i++)
    if (axis_applies(&L->axes[i], L->archs[ai].arch, L->tasks[ti].task))
      n *= L->axes[i].values->n;
  return n;
}

/* Whether an override's match selects a task and arch. */
static int override_matches(const eb_ynode *o, const char *task, const char *arch) {
  const eb_ynode *m = eb_ymap_get(o, "match");
  const eb_ynode *mt = eb_ymap_get(m, "task"), *ma = eb_ymap_get(m, "arch");
  return !(mt && strcmp(mt->value, task)) && !(ma && strcmp(ma->value, arch));
}

/* The overrides matching run r, in order: its model, train and parameters;
 * and for a matched suite the reference arch's model for r's task. */
static int apply_overrides(loader *L, eb_suite_run *r, pset *ap, pset *tp) {
  ctx *c = &L->c;
  const eb_ynode *ov = L->overrides, *sec;
  const char *ref = L->s->match ? L->s->archs[L->s->match_ref].arch->name : NULL;
  for (int i = 0; ref && ov && i < ov->n; i++)
    if (override_matches(ov->items[i], r->task->name, ref) &&
        (sec = eb_ymap_get(ov->items[i], "model")) &&
        apply_section(c, sec, "model", &r->ref_model, NULL))
      return EB_INPUT;
  for (int i = 0; ov && i < ov->n; i++) {
    const eb_ynode *o = ov->items[i];
    if (!override_matches(o, r->task->name, r->arch->name)) continue;
    if (((sec = eb_ymap_get(o, "model")) &&
         apply_section(c, sec, "model", &r->model, NULL)) ||
        ((sec = eb_ymap_get(o, "train")) &&
         apply_section(c, sec, "train", NULL, &r->train)) ||
        params_from(c, ap, eb_ymap_get(o, "params")) ||
        params_from(c, tp, eb_ymap_get(o, "task_params")))
      return EB_INPUT;
  }
  return EB_OK;
}

/* Sweep combination `combo` of run r (mixed radix over the axes that apply
 * to it, the first fastest): its values, and its label ARCH/TASK/seed=S/k=v... */
static int apply_sweeps(loader *L, eb_suite_run *r, int combo, pset *ap, pset *tp) {
  ctx *c = &L->c;
  size_t off = (size_t)snprintf(r->label, sizeof r->label, "%s/%s/seed=%lld",
                                r->arch->name, r->task->name, (long long)r->seed);
  for (int i = 0, rest = combo; i < L->naxes; i++) {
    const sweep_axis *x = &L->axes[i];
    if (!axis_applies(x, r->arch, r->task)) continue;
    const eb_ynode *v = x->values->items[rest % x->values->n];
    rest /= x->values->n;
    const char *k = x->key, *dot = strchr(k, '.');
    char head[64];
    snprintf(head, sizeof head, "%.*s", (int)(dot - k), k);
    if (off < sizeof r->label)
      off +=
          (size_t)snprintf(r->label + off, sizeof r->label - off, "/%s=%s", k, v->value);
    int bad = 0;
    if (!strcmp(head, "model")) /* the reference's model takes it too */
      bad =
          set_model(c, &r->model, dot + 1, v) || set_model(c, &r->ref_model, dot + 1, v);
    else if (!strcmp(head, "train"))
      bad = set_train(c, &r->train, dot + 1, v);
    else if (!strcmp(head, r->arch->name))
      bad = pset_put(c, ap, dot + 1, v, x->line, x->col);
    else if (!strcmp(head, r->task->name))
      bad = pset_put(c, tp, dot + 1, v, x->line, x->col);
    if (bad) return EB_INPUT;
  }
  return EB_OK;
}

/* Run r's arch and task parameters resolved and validated, wide's heads
 * made explicit, and its task identity (task_json) written. */
static int finish_run(loader *L, eb_suite_run *r, int ai, pset *ap, pset *tp) {
  ctx *c = &L->c;
  if (resolve(c, "arch", r->arch->name, r->arch->params, ap, &r->arch_args) ||
      resolve(c, "task", r->task->name, r->task->params, tp, &r->task_args))
    return EB_INPUT;
  if (r->arch->validate) { /* the length is unknown until the data is open: 0 */
    eb_model_config vc = r->model;
    vc.max_len = 0;
    char why[EB_ERR_LEN] = "";
    if (r->arch->validate(&vc, &r->arch_args.args, why, sizeof why)) {
      at(c, L->archs[ai].node->line, L->archs[ai].node->col, "arch '%s' (run %s): %s",
         r->arch->name, r->label, why);
      return EB_INPUT;
    }
  }
  if (r->arch == &eb_arch_wide) /* heads: auto -> the count it stands for */
    for (int i = 0; i < r->arch_args.args.n; i++)
      if (!strcmp(r->arch_args.v[i].name, "heads"))
        r->arch_args.v[i].i = eb_wide_heads(&r->model, &r->arch_args.args);
  eb_sbuf tj = {0}; /* the task's identity: "name"{params} */
  eb_json tw;
  eb_json_init(&tw, &tj);
  eb_json_quote(&tj, r->task->name);
  jargs(&tw, &r->task_args.args, 1);
  r->task_json = eb_sb_take(&tj);
  return r->task_json ? EB_OK : oom(L);
}

/* One run: task ti, arch ai, sweep combination combo, seed si. */
static int expand_run(loader *L, int ti, int ai, int combo, int si) {
  eb_suite *s = L->s;
  eb_suite_run *r = &s->runs[s->nruns++];
  r->arch = L->archs[ai].arch;
  r->arch_index = ai;
  r->task = L->tasks[ti].task;
  r->seed = L->seeds[si];
  r->model = L->model;
  r->ref_model = L->model;
  r->train = L->train;
  r->train.seed = (uint64_t)L->seeds[si];
  pset ap = {0}, tp = {0};
  if (params_from(&L->c, &ap, L->archs[ai].params) ||
      params_from(&L->c, &tp, L->tasks[ti].params))
    return EB_INPUT;
  int rc = apply_overrides(L, r, &ap, &tp);
  if (!rc) rc = apply_sweeps(L, r, combo, &ap, &tp);
  if (!rc) rc = finish_run(L, r, ai, &ap, &tp);
  return rc;
}

/* The runs: task x arch x sweep combination x seed; an axis naming an arch
 * or a task only multiplies the runs of that arch or task. */
static int expand_runs(loader *L) {
  long long total = 0;
  for (int ti = 0; ti < L->ntasks; ti++)
    for (int ai = 0; ai < L->narchs; ai++)
      total += combos(L, ti, ai, L->nseeds, 100000);
  if (total > 100000) {
    at(&L->c, L->root->line, L->root->col, "the suite expands to %lld runs (max 100000)",
       total);
    return EB_INPUT;
  }
  L->s->runs = calloc((size_t)(total ? total : 1), sizeof *L->s->runs);
  if (!L->s->runs) return oom(L);
  for (int ti = 0; ti < L->ntasks; ti++)
    for (int ai = 0; ai < L->narchs; ai++) {
      const int ncombo = (int)combos(L, ti, ai, 1, 100000); /* <= 100000 here */
      for (int combo = 0; combo < ncombo; combo++)
        for (int si = 0; si < L->nseeds; si++) {
          int rc = expand_run(L, ti, ai, combo, si);
          if (rc) return rc;
        }
    }
  return EB_OK;
}

/* Each run's stored configuration and key; two runs may not share one. */
static int assign_keys(loader *L) {
  eb_suite *s = L->s;
  for (int i = 0; i < s->nruns; i++) {
    eb_suite_run *r = &s->runs[i];
    /* the key hashes the canonical form (numbers "%.9g", as since schema
     * 1), so resuming a database written before config_json kept the YAML's
     * decimals finds its runs; config_json stores the shortest decimals */
    char *kj = run_json(r, s, 1);
    r->config_json = run_json(r, s, 0);
    if (!kj || !r->config_json) {
      free(kj);
      return oom(L);
    }
    /* 128 bits: FNV-1a from EB_FNV_SEED and from a second start (FNV's
     * offset basis with its halves swapped, xor a constant) */
    uint64_t h1 = eb_fnv1a_str(EB_FNV_SEED, kj);
    uint64_t h2 = eb_fnv1a_str(0x84222325CBF29CE4ull ^ 0x5bd1e995ull, kj);
    free(kj);
    snprintf(r->key, sizeof r->key, "%016llx%016llx", (unsigned long long)h1,
             (unsigned long long)h2);
  }
  /* two entries resolving to the same configuration would share a key */
  for (int i = 0; i < s->nruns; i++)
    for (int j = i + 1; j < s->nruns; j++)
      if (!strcmp(s->runs[i].key, s->runs[j].key)) {
        at(&L->c, L->root->line, L->root->col,
           "runs %s and %s have the same configuration", s->runs[i].label,
           s->runs[j].label);
        return EB_INPUT;
      }
  return EB_OK;
}

int eb_suite_load(const char *path, eb_registry *reg, eb_suite *s, char *err,
                  size_t errlen) {
  memset(s, 0, sizeof *s);
  char *text = NULL;
  size_t len = 0;
  int rc = read_file(path, &text, &len, err, errlen);
  if (rc) return rc;
  s->file = strdup(path);
  s->yaml = text;
  if (!s->file) {
    snprintf(err, errlen, "%s: out of memory", path);
    eb_suite_free(s);
    return EB_NOMEM;
  }
  loader *L = calloc(1, sizeof *L);
  eb_ynode *root = NULL;
  if (!L) {
    snprintf(err, errlen, "%s: out of memory", path);
    rc = EB_NOMEM;
  } else {
    L->c = (ctx){path, reg, err, errlen, 0};
    L->s = s;
    rc = eb_yaml_parse(path, text, len, &root, err, errlen);
    L->root = root;
  }
  if (!rc) rc = load_document(L);
  if (!rc) rc = load_seeds(L);
  if (!rc) rc = load_defaults(L);
  if (!rc) rc = load_entries(L);
  if (!rc) rc = load_overrides(L);
  if (!rc) rc = load_sweeps(L);
  if (!rc) rc = load_speed(L);
  if (!rc) rc = expand_runs(L);
  /* matched suites: each run's width, before its configuration is final */
  if (!rc && s->match && match_widths(&L->c, s)) rc = EB_INPUT;
  if (!rc) rc = assign_keys(L);
  /* a step that failed for want of memory reports it, not the file */
  if (rc == EB_INPUT && L && L->c.nomem) rc = EB_NOMEM;
  eb_yaml_free(root);
  free(L);
  if (rc) eb_suite_free(s);
  return rc;
}

void eb_suite_free(eb_suite *s) {
  for (int i = 0; i < s->nruns; i++) {
    eb_argset_free(&s->runs[i].arch_args);
    eb_argset_free(&s->runs[i].task_args);
    free(s->runs[i].config_json);
    free(s->runs[i].task_json);
  }
  for (int i = 0; i < s->narchs; i++)
    eb_argset_free(&s->archs[i].args);
  free(s->archs);
  free(s->runs);
  free(s->file);
  free(s->name);
  free(s->yaml);
  memset(s, 0, sizeof *s);
}
