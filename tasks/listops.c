/* listops: ListOps as in the Long Range Arena (Nangia & Bowman, 2018; Tay et
 * al., 2020): classify the value (0-9) of a nested prefix expression.
 *
 * Generator, following LRA's lra_benchmarks/data/listops.py:
 *   - a tree starts at depth 1; below max_depth a node is an operator with
 *     probability 0.25 (random() <= 0.25), otherwise a leaf; at max_depth always
 *     a leaf. So operators nest at most max_depth - 1 deep.
 *   - a leaf is a uniform digit 0..9; an operator has randint(2, max_args)
 *     arguments (each a subtree, generated first) and then a uniform operator;
 *   - MIN, MAX, MED, SM: MED is the official int(np.median(args)): the middle
 *     value for an odd count, the floor of the mean of the two middle values for
 *     an even count; SM is the sum mod 10;
 *   - length = tokens without parentheses (operator, arguments, "]"); samples
 *     are kept when min_len < length < max_len (strict, as the official code),
 *     rejection sampling one tree at a time; duplicates are dropped (the
 *     official code collects a set), so splits never share an expression.
 * Trees are built straight into one token buffer in prefix order; a tree that
 * reaches max_len tokens is abandoned at once (it would be rejected anyway),
 * which keeps 96,000 samples within seconds. Samples are assigned in the order
 * test, val, train, so the test and val sets do not depend on the train size
 * and a smaller train set is a prefix of a larger one.
 *
 * Token ids (vocab 16): 0 padding, 1..10 the digits 0..9 (id = digit + 1),
 * 11 "[MIN", 12 "[MAX", 13 "[MED", 14 "[SM", 15 "]". Parentheses are dropped,
 * as LRA's input pipeline does. Every batch is padded to max_len.
 *
 * Official file format: DIR/basic_{train,val,test}.tsv, a header line
 * "Source\tTarget", then one "EXPRESSION\tLABEL" row per example, where
 * EXPRESSION is the official to_string() text with parentheses, e.g.
 * "( ( ( [MAX 2 ) 9 ) ] )" (value 9). The loader accepts LF or CRLF (Python's
 * csv writes CRLF), checks every line (tokens, well-formed expression, label
 * 0-9 and, with verify=true, equal to the expression's value) and reports the
 * first problem as "FILE:LINE: why". With `path`, min_len, max_depth and
 * max_args do not apply, each split takes at most train/val/test rows and
 * every expression must fit in max_len tokens.
 *
 * Generated sets are cached (eb_cache_path: task, every parameter, seed and
 * GEN_VERSION) and memory-mapped; a cache that cannot be read or written is
 * regenerated or skipped, never an error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "effbench/plugin.h"

/* bump whenever the generator's output for given parameters changes */
#define GEN_VERSION "listops-1"
#define VALUE_P 0.25
/* consecutive rejected trees after which the parameters count as infeasible */
#define MISS_LIMIT 20000000

enum {
  TOK_PAD = 0,
  TOK_D0 = 1, /* digits 0..9 are ids 1..10 */
  TOK_MIN = 11,
  TOK_MAX = 12,
  TOK_MED = 13,
  TOK_SM = 14,
  TOK_END = 15,
  VOCAB = 16
};
static const char *const tok_text[VOCAB] = {"<pad>", "0",    "1",   "2", "3", "4",
                                            "5",     "6",    "7",   "8", "9", "[MIN",
                                            "[MAX",  "[MED", "[SM", "]"};
static const char *const split_file[3] = {"basic_train.tsv", "basic_val.tsv",
                                          "basic_test.tsv"};

static const eb_param_decl listops_params[] = {
    {"path", EB_P_STRING, "",
     "directory with basic_{train,val,test}.tsv to load (empty: generate)", NULL},
    {"min_len", EB_P_INT, "500", "generate expressions longer than this", NULL},
    {"max_len", EB_P_INT, "2000",
     "generated expressions are shorter than this; padded length", NULL},
    {"max_depth", EB_P_INT, "10", "maximum tree depth (root = 1)", NULL},
    {"max_args", EB_P_INT, "10", "maximum arguments of an operator (minimum 2)", NULL},
    {"train", EB_P_INT, "96000", "training examples", NULL},
    {"val", EB_P_INT, "2000", "validation examples", NULL},
    {"test", EB_P_INT, "2000", "test examples", NULL},
    {"verify", EB_P_BOOL, "true",
     "when loading, check every label against the expression's value", NULL},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

typedef struct lcfg {
  const char *path;
  int min_len, max_len, max_depth, max_args, verify;
  int64_t n[3]; /* EB_SPLIT_TRAIN, _VAL, _TEST */
} lcfg;

/* ------------------------------------------------------- semantics ------ */
/* Value of operator `op` over k arguments given as a histogram of digits. */
static int apply_op(int op, const int hist[10], int k, int sum) {
  int lo = 0, hi = 9;
  while (!hist[lo])
    lo++;
  while (!hist[hi])
    hi--;
  switch (op) {
  case TOK_MIN: return lo;
  case TOK_MAX: return hi;
  case TOK_SM: return sum % 10;
  default: break;
  }
  /* MED: int(np.median(args)); a = sorted arguments, want a[(k-1)/2], a[k/2] */
  int want[2] = {(k - 1) / 2, k / 2}, got[2] = {0, 0};
  for (int w = 0; w < 2; w++) {
    int seen = 0, d = 0;
    while (seen + hist[d] <= want[w])
      seen += hist[d++];
    got[w] = d;
  }
  return (got[0] + got[1]) / 2;
}

/* Stack machine over a token sequence (prefix form, no parentheses): the value
 * 0..9, or -1 with *why set. vals and frames are scratch arrays of n ints. */
static int eval_tokens(const int32_t *t, int n, int *vals, int *frames,
                       const char **why) {
  int nv = 0, nf = 0;
  for (int i = 0; i < n; i++) {
    int32_t x = t[i];
    if (x >= TOK_D0 && x < TOK_D0 + 10) {
      vals[nv++] = x - TOK_D0;
    } else if (x >= TOK_MIN && x <= TOK_SM) {
      frames[nf++] = nv * 8 + (x - TOK_MIN); /* argument start and operator */
    } else if (x == TOK_END) {
      if (!nf) return *why = "']' without an operator", -1;
      int f = frames[--nf], start = f / 8, op = TOK_MIN + f % 8, k = nv - start;
      if (k < 1) return *why = "an operator without arguments", -1;
      int hist[10] = {0}, sum = 0;
      for (int j = start; j < nv; j++) {
        hist[vals[j]]++;
        sum += vals[j];
      }
      nv = start;
      vals[nv++] = apply_op(op, hist, k, sum);
    } else {
      return *why = "a token outside the vocabulary", -1;
    }
    if (nf == 0 && i + 1 < n) return *why = "tokens after the end of the expression", -1;
  }
  if (nf) return *why = "an operator without its closing ']'", -1;
  if (nv != 1) return *why = "an empty expression", -1;
  return vals[0];
}

/* ------------------------------------------------------- generator ------ */
typedef struct gen {
  eb_rng r;
  int32_t *buf;
  int len, limit; /* limit = longest allowed length (max_len - 1) */
  int max_depth, max_args;
} gen;

static int rand_below(gen *g, int n) {
  return (int)(((eb_rng_u64(&g->r) >> 32) * (uint64_t)n) >> 32);
}

/* One subtree at `depth` appended to g->buf; its value, or -1 when it would
 * exceed g->limit tokens. */
static int gen_tree(gen *g, int depth) {
  double r = 1.0;
  if (depth < g->max_depth) r = (double)(eb_rng_u64(&g->r) >> 11) * 0x1p-53;
  if (r > VALUE_P) {
    int v = rand_below(g, 10);
    if (g->len >= g->limit) return -1;
    g->buf[g->len++] = TOK_D0 + v;
    return v;
  }
  if (g->len >= g->limit) return -1;
  int at = g->len++; /* operator slot, filled once it is drawn */
  int k = 2 + rand_below(g, g->max_args - 1), hist[10] = {0}, sum = 0;
  for (int i = 0; i < k; i++) {
    int v = gen_tree(g, depth + 1);
    if (v < 0) return -1;
    hist[v]++;
    sum += v;
  }
  int op = TOK_MIN + rand_below(g, 4);
  if (g->len >= g->limit) return -1;
  g->buf[at] = op;
  g->buf[g->len++] = TOK_END;
  return apply_op(op, hist, k, sum);
}

static uint64_t hash_tokens(const int32_t *t, int n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
  for (int i = 0; i < n; i++)
    h = (h ^ (uint64_t)t[i]) * 0x100000001B3ull;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

/* global sample k -> (split, row): test first, then val, then train */
static eb_split_data *slot(eb_dataset *d, const lcfg *c, int64_t k, int64_t *row) {
  if (k < c->n[EB_SPLIT_TEST]) return *row = k, &d->split[EB_SPLIT_TEST];
  k -= c->n[EB_SPLIT_TEST];
  if (k < c->n[EB_SPLIT_VAL]) return *row = k, &d->split[EB_SPLIT_VAL];
  return *row = k - c->n[EB_SPLIT_VAL], &d->split[EB_SPLIT_TRAIN];
}

static int generate(eb_dataset *d, const lcfg *c, uint64_t seed, char *err,
                    size_t errlen) {
  for (int s = 0; s < 3; s++)
    if (eb_split_alloc(&d->split[s], c->n[s], c->max_len, 0, 0, err, errlen)) return -1;
  int64_t total = c->n[0] + c->n[1] + c->n[2];
  size_t cap = 1;
  while (cap < 2 * (size_t)total)
    cap <<= 1;
  uint64_t *keys = calloc(cap, sizeof *keys);  /* hash of a stored sample */
  int64_t *where = calloc(cap, sizeof *where); /* its global index + 1 */
  gen g = {eb_rng_make(seed, 0x115705ull),
           malloc((size_t)c->max_len * sizeof(int32_t)),
           0,
           c->max_len - 1,
           c->max_depth,
           c->max_args};
  int rc = 0;
  if (!keys || !where || !g.buf) {
    snprintf(err, errlen, "task 'listops': out of memory generating %lld examples",
             (long long)total);
    rc = -1;
  }
  int64_t k = 0, misses = 0;
  while (rc == 0 && k < total) {
    g.len = 0;
    int v = gen_tree(&g, 1);
    if (v >= 0 && g.len > c->min_len) {
      uint64_t h = hash_tokens(g.buf, g.len);
      size_t p = h & (cap - 1);
      int dup = 0;
      for (; where[p] && !dup; p = (p + 1) & (cap - 1)) {
        if (keys[p] != h) continue;
        int64_t row = 0;
        const eb_split_data *s = slot(d, c, where[p] - 1, &row);
        const uint8_t *stored = (const uint8_t *)s->tok + row * s->max_len;
        dup = s->len[row] == g.len;
        for (int i = 0; dup && i < g.len; i++)
          dup = stored[i] == g.buf[i];
      }
      if (!dup) {
        int64_t row = 0;
        eb_split_data *s = slot(d, c, k, &row);
        eb_split_set(s, row, g.buf, g.len, NULL, 0, v);
        keys[p] = h;
        where[p] = ++k;
        misses = 0;
        continue;
      }
    }
    if (++misses > MISS_LIMIT) {
      snprintf(err, errlen,
               "task 'listops': found only %lld of %lld distinct expressions with "
               "min_len %d < length < max_len %d (max_depth %d, max_args %d); widen "
               "the range or ask for fewer examples",
               (long long)k, (long long)total, c->min_len, c->max_len, c->max_depth,
               c->max_args);
      rc = -1;
    }
  }
  free(keys);
  free(where);
  free(g.buf);
  return rc;
}

/* ---------------------------------------------------------- loader ------ */
static int token_id(const char *s, size_t n) {
  if (n == 1 && s[0] >= '0' && s[0] <= '9') return TOK_D0 + (s[0] - '0');
  for (int t = TOK_MIN; t <= TOK_END; t++)
    if (strlen(tok_text[t]) == n && memcmp(s, tok_text[t], n) == 0) return t;
  return -1;
}

typedef struct scratch {
  int32_t *tok;
  int *vals, *frames;
} scratch;

/* One row: 0, or -1 with "why" in err (the caller prefixes FILE:LINE). */
static int parse_row(char *line, const lcfg *c, scratch *w, int *n_out, int32_t *label,
                     char *err, size_t errlen) {
  char *tab = strchr(line, '\t');
  if (!tab) {
    snprintf(err, errlen, "expected 'Source<TAB>Target', found no tab");
    return -1;
  }
  *tab = '\0';
  const char *target = tab + 1;
  if (strchr(target, '\t')) {
    snprintf(err, errlen, "expected 2 tab-separated fields, found more");
    return -1;
  }
  if (!(target[0] >= '0' && target[0] <= '9' && target[1] == '\0')) {
    snprintf(err, errlen, "label '%.20s' is not an integer 0-9", target);
    return -1;
  }
  *label = target[0] - '0';
  int n = 0;
  for (char *p = line; *p;) {
    while (*p == ' ')
      p++;
    if (!*p) break;
    char *q = p;
    while (*q && *q != ' ')
      q++;
    size_t len = (size_t)(q - p);
    if (!(len == 1 && (*p == '(' || *p == ')'))) {
      int id = token_id(p, len);
      if (id < 0) {
        snprintf(err, errlen, "unknown token '%.*s'", len > 20 ? 20 : (int)len, p);
        return -1;
      }
      if (n >= c->max_len) {
        snprintf(err, errlen, "expression longer than max_len (%d tokens)", c->max_len);
        return -1;
      }
      w->tok[n++] = id;
    }
    p = q;
  }
  const char *why = NULL;
  int v = eval_tokens(w->tok, n, w->vals, w->frames, &why);
  if (v < 0) {
    snprintf(err, errlen, "malformed expression: %s", why);
    return -1;
  }
  if (c->verify && v != *label) {
    snprintf(err, errlen,
             "label %d differs from the expression's value %d (verify=false skips this "
             "check)",
             *label, v);
    return -1;
  }
  *n_out = n;
  return 0;
}

static int load_split(eb_split_data *s, const char *dir, int split, const lcfg *c,
                      scratch *w, char *err, size_t errlen) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, split_file[split]);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  /* pass 1: count lines, to size the split */
  int64_t lines = 0;
  char chunk[1 << 16], last = '\n';
  for (size_t got; (got = fread(chunk, 1, sizeof chunk, f)) > 0; last = chunk[got - 1])
    for (size_t i = 0; i < got; i++)
      lines += chunk[i] == '\n';
  lines += last != '\n'; /* an unterminated last line: reported below */
  rewind(f);
  int64_t n = lines - 1 < c->n[split] ? lines - 1 : c->n[split];
  if (n < 0) n = 0;
  int rc = eb_split_alloc(s, n, c->max_len, 0, 0, err, errlen);
  char *line = NULL, why[256];
  size_t cap = 0;
  int64_t row = 0, lineno = 0;
  while (rc == 0 && (lineno == 0 || row < n)) {
    ssize_t got = getline(&line, &cap, f);
    lineno++;
    if (got < 0) {
      if (lineno == 1)
        snprintf(err, errlen, "%s:1: empty file, expected the header 'Source\\tTarget'",
                 path);
      else
        snprintf(err, errlen, "%s:%lld: file ends early (truncated?)", path,
                 (long long)lineno);
      rc = -1;
      break;
    }
    if (got == 0 || line[got - 1] != '\n') {
      snprintf(err, errlen, "%s:%lld: line has no end (truncated file?)", path,
               (long long)lineno);
      rc = -1;
      break;
    }
    line[--got] = '\0';
    if (got > 0 && line[got - 1] == '\r') line[--got] = '\0';
    if (lineno == 1) {
      if (strcmp(line, "Source\tTarget") != 0) {
        snprintf(err, errlen,
                 "%s:1: expected the header 'Source\\tTarget', found '%.40s'", path,
                 line);
        rc = -1;
      }
      continue;
    }
    int len = 0;
    int32_t label = 0;
    if (parse_row(line, c, w, &len, &label, why, sizeof why)) {
      snprintf(err, errlen, "%s:%lld: %s", path, (long long)lineno, why);
      rc = -1;
      break;
    }
    eb_split_set(s, row++, w->tok, len, NULL, 0, label);
  }
  if (rc == 0 && n == 0) {
    snprintf(err, errlen, "%s: no examples after the header", path);
    rc = -1;
  }
  free(line);
  fclose(f);
  return rc;
}

static int load_dir(eb_dataset *d, const lcfg *c, char *err, size_t errlen) {
  scratch w = {malloc((size_t)c->max_len * sizeof(int32_t)),
               malloc((size_t)c->max_len * sizeof(int)),
               malloc((size_t)c->max_len * sizeof(int))};
  int rc = 0;
  if (!w.tok || !w.vals || !w.frames) {
    snprintf(err, errlen, "out of memory");
    rc = -1;
  }
  for (int s = 0; rc == 0 && s < 3; s++)
    rc = load_split(&d->split[s], c->path, s, c, &w, err, errlen);
  free(w.tok);
  free(w.vals);
  free(w.frames);
  if (rc) return rc;
  char f[3][4096];
  const char *files[3] = {f[0], f[1], f[2]};
  for (int s = 0; s < 3; s++)
    snprintf(f[s], sizeof f[s], "%s/%s", c->path, split_file[s]);
  return eb_source_files(&d->src, "official", "official ListOps TSV", c->path, files, 3,
                         err, errlen);
}

/* ------------------------------------------------------------ table ----- */
static int read_cfg(const eb_args *a, lcfg *c, char *err, size_t errlen) {
  int64_t v[4] = {eb_args_int(a, "min_len", 500), eb_args_int(a, "max_len", 2000),
                  eb_args_int(a, "max_depth", 10), eb_args_int(a, "max_args", 10)};
  c->path = eb_args_str(a, "path", "");
  if (!c->path) c->path = "";
  c->verify = (int)eb_args_int(a, "verify", 1);
  c->n[EB_SPLIT_TRAIN] = eb_args_int(a, "train", 96000);
  c->n[EB_SPLIT_VAL] = eb_args_int(a, "val", 2000);
  c->n[EB_SPLIT_TEST] = eb_args_int(a, "test", 2000);
  if (v[1] < 2 || v[1] > (1 << 20)) {
    snprintf(err, errlen, "task 'listops': max_len must be in [2, %d], got %lld", 1 << 20,
             (long long)v[1]);
    return -1;
  }
  if (!c->path[0] && (v[0] < 0 || v[0] > v[1] - 2)) {
    snprintf(err, errlen,
             "task 'listops': min_len (%lld) must be >= 0 and leave a length strictly "
             "between it and max_len (%lld)",
             (long long)v[0], (long long)v[1]);
    return -1;
  }
  if (!c->path[0] && (v[2] < 2 || v[2] > 64)) {
    snprintf(err, errlen, "task 'listops': max_depth must be in [2, 64], got %lld",
             (long long)v[2]);
    return -1;
  }
  if (!c->path[0] && (v[3] < 2 || v[3] > (1 << 20))) {
    snprintf(err, errlen, "task 'listops': max_args must be in [2, %d], got %lld",
             1 << 20, (long long)v[3]);
    return -1;
  }
  static const char *const names[3] = {"train", "val", "test"};
  for (int s = 0; s < 3; s++)
    if (c->n[s] < 1 || c->n[s] > ((int64_t)1 << 31)) {
      snprintf(err, errlen, "task 'listops': %s must be in [1, 2^31], got %lld", names[s],
               (long long)c->n[s]);
      return -1;
    }
  c->min_len = (int)v[0];
  c->max_len = (int)v[1];
  c->max_depth = (int)v[2];
  c->max_args = (int)v[3];
  if (c->path[0]) return 0;
  /* the longest expression the depth and arity allow must exceed min_len */
  double longest = 1;
  for (int depth = c->max_depth - 1; depth >= 1 && longest <= c->min_len; depth--)
    longest = 2 + c->max_args * longest;
  if (longest <= c->min_len) {
    snprintf(err, errlen,
             "task 'listops': with max_depth %d and max_args %d no expression is longer "
             "than min_len %d (the longest has %.0f tokens)",
             c->max_depth, c->max_args, c->min_len, longest);
    return -1;
  }
  return 0;
}

/* generation through the shared data cache */
typedef struct listops_gen {
  const lcfg *c;
  uint64_t seed;
} listops_gen;

static int cache_fits(void *user, const eb_dataset *d) {
  const lcfg *c = ((const listops_gen *)user)->c;
  if (d->info.vocab != VOCAB || d->info.classes != 10 || d->info.max_len != c->max_len)
    return 0;
  for (int s = 0; s < 3; s++)
    if (d->split[s].n != c->n[s] || d->split[s].max_len != c->max_len ||
        d->split[s].wide || d->split[s].pair)
      return 0;
  return 1;
}

static void set_info(eb_dataset *d, int max_len) {
  d->info.vocab = VOCAB;
  d->info.classes = 10;
  d->info.max_len = max_len;
  d->info.mode = EB_INPUT_SINGLE;
  d->info.n_train = d->split[EB_SPLIT_TRAIN].n;
  d->info.n_val = d->split[EB_SPLIT_VAL].n;
  d->info.n_test = d->split[EB_SPLIT_TEST].n;
}

static int listops_build(void *user, eb_dataset *d, char *err, size_t errlen) {
  const listops_gen *g = user;
  if (generate(d, g->c, g->seed, err, errlen)) return -1;
  set_info(d, g->c->max_len);
  return 0;
}

static int listops_open(const eb_args *a, uint64_t seed, void **data, eb_task_info *info,
                        char *err, size_t errlen) {
  lcfg c;
  if (read_cfg(a, &c, err, errlen)) return -1;
  eb_dataset *d = calloc(1, sizeof *d);
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int rc = 0;
  if (c.path[0]) {
    rc = load_dir(d, &c, err, errlen);
  } else {
    listops_gen g = {&c, seed};
    rc = eb_dataset_cached_fit("listops", a, seed, GEN_VERSION, d, listops_build,
                               cache_fits, &g, err, errlen);
    if (!rc) rc = eb_source_generated(&d->src, GEN_VERSION, NULL, seed, a, err, errlen);
  }
  if (rc) {
    eb_dataset_free(d);
    free(d);
    return -1;
  }
  set_info(d, c.max_len);
  *info = d->info;
  *data = d;
  return 0;
}

static int listops_batch(void *data, eb_split split, int64_t index, uint64_t epoch_seed,
                         eb_batch *out, char *err, size_t errlen) {
  return eb_dataset_batch(data, split, index, epoch_seed, out, err, errlen);
}

static const eb_data_source *listops_source(void *data) {
  return eb_source_get(&((eb_dataset *)data)->src);
}

static void listops_close(void *data) {
  eb_dataset_free(data);
  free(data);
}

static char *put(char *o, const char *s, size_t n) {
  memcpy(o, s, n);
  return o + n;
}

/* The official to_string() text of row i: an operator with k arguments opens
 * k + 1 "( " before its name, every argument is " ARG )" and the operator ends
 * with " ] )"; a nested operator is itself an argument (" " before, " )"
 * after). text holds 16 * max_len + 64 chars. */
static void write_row(FILE *f, const eb_split_data *s, int64_t i, int *arity, int *stack,
                      char *text) {
  int n = s->len[i], sp = 0;
  const uint8_t *t = (const uint8_t *)s->tok + i * s->max_len;
  for (int p = 0; p < n; p++) { /* arity of every operator */
    if (sp && t[p] != TOK_END) arity[stack[sp - 1]]++;
    if (t[p] >= TOK_MIN && t[p] <= TOK_SM) {
      arity[p] = 0;
      stack[sp++] = p;
    } else if (t[p] == TOK_END && sp) {
      sp--;
    }
  }
  char *o = text;
  int depth = 0; /* open operators */
  for (int p = 0; p < n; p++) {
    int x = t[p];
    if (x >= TOK_MIN && x <= TOK_SM) {
      if (depth++) *o++ = ' ';
      for (int j = 0; j <= arity[p]; j++)
        o = put(o, "( ", 2);
      o = put(o, tok_text[x], strlen(tok_text[x]));
    } else if (x == TOK_END) {
      o = --depth ? put(o, " ] ) )", 6) : put(o, " ] )", 4);
    } else if (depth) {
      o = put(o, " ", 1);
      o = put(o, tok_text[x], 1);
      o = put(o, " )", 2);
    } else {
      o = put(o, tok_text[x], 1);
    }
  }
  o = put(o, "\t", 1);
  *o++ = (char)('0' + s->labels[i]);
  *o++ = '\n';
  fwrite(text, 1, (size_t)(o - text), f);
}

static int listops_write(void *data, const char *dir, char *err, size_t errlen) {
  const eb_dataset *d = data;
  if (eb_out_dir(dir, err, errlen)) return -1; /* never mixed with earlier data */
  int ml = d->split[0].max_len;
  int *arity = malloc((size_t)ml * sizeof *arity),
      *stack = malloc((size_t)ml * sizeof *stack);
  char *text = malloc((size_t)ml * 16 + 64);
  int rc = 0;
  if (!arity || !stack || !text) {
    snprintf(err, errlen, "out of memory");
    rc = -1;
  }
  for (int s = 0; rc == 0 && s < 3; s++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, split_file[s]);
    FILE *f = fopen(path, "wb");
    if (!f) {
      snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
      rc = -1;
      break;
    }
    fputs("Source\tTarget\n", f);
    for (int64_t i = 0; i < d->split[s].n; i++)
      write_row(f, &d->split[s], i, arity, stack, text);
    if (ferror(f) | (fclose(f) != 0)) {
      snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
      rc = -1;
    }
  }
  free(arity);
  free(stack);
  free(text);
  return rc;
}

const eb_task eb_task_listops = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_task),
    .name = "listops",
    .summary = "LRA ListOps: value (0-9) of a nested MIN/MAX/MED/SM expression",
    .params = listops_params,
    .open = listops_open,
    .batch = listops_batch,
    .close = listops_close,
    .write = listops_write,
    .source = listops_source,
};
