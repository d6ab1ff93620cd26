/* retrieval: byte-level document matching, two-tower (LRA "Retrieval", ACL
 * Anthology Network citation pairs). Each example is a pair of documents
 * (info.mode = EB_INPUT_PAIR: tokens/mask and tokens2/mask2), label 1 when
 * they are related. Tokens are bytes + 1 (0 = padding, vocabulary 257);
 * each document is truncated or padded to max_len bytes. LRA uses 4000 bytes
 * per document; the default here is 1000 so that CPU runs stay short (set
 * max_len=4000 for the paper's setting).
 *
 * Sources (`path`):
 *   none  the offline generator below (default), cached on disk by
 *         (params, seed);
 *   DIR   DIR/new_aan_pairs.{train,eval,test}.tsv (eval is the validation
 *         split): lines of label, id1, id2, text1, text2 separated by tabs, no
 *         header; label 0, 1, 0.0 or 1.0; ids and texts not empty; texts valid
 *         UTF-8. Every error names file:line. Loaded data is not cached.
 *
 * The generator: a fixed vocabulary of 2048 filler words and `topics` topics
 * of 6 topic words each. A document of topic t is filler prose with words of
 * its own topic scattered over it (one word in 10) and, as noise, words of
 * random other topics (one in 40), so its topic shows in counts over the
 * whole document, not in any one place. A related pair (label 1) shares its
 * topic, an unrelated one (label 0) has two different topics; labels are
 * balanced (chance = 50 %). Document lengths are uniform in
 * [max_len/2, max_len], never truncated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "files.h"
#include "lines.h"
#include "words.h"
#include "dataset.h"

#define GEN_VERSION "retrieval-gen-1"
#define LEX_FILLER 2048
#define TOPIC_WORDS 6
#define WORD_MAX 16

static const eb_param_decl retrieval_params[] = {
    {"path", EB_P_STRING, "none",
     "folder with new_aan_pairs.{train,eval,test}.tsv (none = generate)", NULL},
    {"max_len", EB_P_INT, "1000",
     "bytes per document: longer ones truncated, shorter padded (LRA: 4000)", NULL},
    {"topics", EB_P_INT, "32", "generator: number of topics", NULL},
    {"train", EB_P_INT, "5000", "generated training pairs", NULL},
    {"val", EB_P_INT, "1000", "generated validation pairs", NULL},
    {"test", EB_P_INT, "1000", "generated test pairs", NULL},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

typedef struct retr_cfg {
  const char *path;
  int max_len, topics;
  int64_t n[3];
} retr_cfg;

static const char *const file_split[3] = {"train", "eval", "test"};

/* ------------------------------------------------------------ generator -- */
typedef struct lexicon {
  int topics;
  char (*filler)[WORD_MAX];
  char (*topic)[WORD_MAX]; /* topics * TOPIC_WORDS */
} lexicon;

static int lex_has(char (*w)[WORD_MAX], int n, const char *s) {
  for (int i = 0; i < n; i++)
    if (!strcmp(w[i], s)) return 1;
  return 0;
}

/* The fixed vocabulary, the same for every seed. */
static int lexicon_build(lexicon *lx, int topics) {
  lx->topics = topics;
  lx->filler = malloc(sizeof *lx->filler * LEX_FILLER);
  lx->topic = malloc(sizeof *lx->topic * (size_t)topics * TOPIC_WORDS);
  if (!lx->filler || !lx->topic) return -1;
  eb_rng r = eb_rng_make(0xAA7ull, 1);
  char w[WORD_MAX];
  for (int i = 0; i < LEX_FILLER; i++) {
    do
      eb_random_word_utf8(&r, w, 2, 9);
    while (lex_has(lx->filler, i, w));
    memcpy(lx->filler[i], w, sizeof w);
  }
  for (int i = 0; i < topics * TOPIC_WORDS; i++) {
    do
      eb_random_word_utf8(&r, w, 4, 8);
    while (lex_has(lx->filler, LEX_FILLER, w) || lex_has(lx->topic, i, w));
    memcpy(lx->topic[i], w, sizeof w);
  }
  return 0;
}

static void lexicon_free(lexicon *lx) {
  free(lx->filler);
  free(lx->topic);
}

/* One document of topic t into out (<= max_len bytes); returns its length.
 * `words` has room for max_len entries, `count` for lx->topics. Its own
 * topic always has the most words, by at least 2 (a noise word that would
 * break that becomes filler), so the topic is well defined. */
static int gen_doc(const lexicon *lx, int max_len, eb_rng *r, int t, eb_word *words,
                   int *count, unsigned char *out) {
  int lo = max_len / 2;
  int L = lo + (int)eb_rng_below(r, max_len - lo + 1) - 2 * (WORD_MAX + 1);
  int n = 0, used = 0, own = 0;
  memset(count, 0, (size_t)lx->topics * sizeof *count);
  for (;;) {
    int64_t u = eb_rng_below(r, 40);
    const char *s;
    if (u < 4) /* own topic: 1 in 10 */
      s = lx->topic[t * TOPIC_WORDS + eb_rng_below(r, TOPIC_WORDS)];
    else if (u < 5) /* another topic: 1 in 40 */
      s = lx->topic[eb_rng_below(r, (int64_t)lx->topics * TOPIC_WORDS)];
    else
      s = lx->filler[eb_rng_below(r, LEX_FILLER)];
    int len = (int)strlen(s);
    if (used + len + 2 > L) break;
    own += u < 4;
    words[n++] = (eb_word){s, len};
    used += len + 2;
  }
  /* at least two own words, in the room kept aside above */
  for (; own < 2; own++) {
    const char *s = lx->topic[t * TOPIC_WORDS + eb_rng_below(r, TOPIC_WORDS)];
    int at = (int)eb_rng_below(r, n + 1);
    memmove(words + at + 1, words + at, (size_t)(n - at) * sizeof *words);
    words[at] = (eb_word){s, (int)strlen(s)};
    n++;
  }
  for (int j = 0; j < n; j++) {
    uintptr_t at = (uintptr_t)words[j].s, base = (uintptr_t)lx->topic[0];
    if (at < base || at >= base + (uintptr_t)lx->topics * TOPIC_WORDS * WORD_MAX)
      continue; /* filler */
    int u = (int)((at - base) / WORD_MAX) / TOPIC_WORDS;
    if (u == t) continue;
    if (count[u] + 1 < own - 1) {
      count[u]++;
      continue;
    }
    const char *f; /* a filler word no longer than the noise word */
    do
      f = lx->filler[eb_rng_below(r, LEX_FILLER)];
    while ((int)strlen(f) > words[j].len);
    words[j] = (eb_word){f, (int)strlen(f)};
  }
  return eb_render_words(r, words, n, out);
}

static int retr_generate(const retr_cfg *c, uint64_t seed, eb_dataset *d, char *err,
                         size_t errlen) {
  lexicon lx = {0};
  eb_word *words = malloc((size_t)c->max_len * sizeof *words);
  unsigned char *buf = malloc((size_t)c->max_len + 64);
  int *count = malloc((size_t)c->topics * sizeof *count);
  int32_t *tok[2] = {malloc((size_t)c->max_len * sizeof(int32_t)),
                     malloc((size_t)c->max_len * sizeof(int32_t))};
  int rc = -1;
  if (lexicon_build(&lx, c->topics) || !words || !buf || !count || !tok[0] || !tok[1]) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  for (int s = 0; s < 3; s++) {
    eb_split_data *sp = &d->split[s];
    if (eb_split_alloc(sp, c->n[s], c->max_len, 0, 1, err, errlen)) goto done;
    for (int64_t i = 0; i < c->n[s]; i++) {
      eb_rng r = eb_rng_make(seed, ((uint64_t)(s + 1) << 56) ^ (uint64_t)i);
      int y = (int)(eb_rng_u64(&r) & 1);
      int t[2];
      t[0] = (int)eb_rng_below(&r, c->topics);
      t[1] = y ? t[0] : (t[0] + 1 + (int)eb_rng_below(&r, c->topics - 1)) % c->topics;
      int m[2];
      for (int k = 0; k < 2; k++) {
        int len = gen_doc(&lx, c->max_len, &r, t[k], words, count, buf);
        m[k] = eb_bytes_to_tokens(buf, (size_t)len, tok[k], c->max_len);
      }
      eb_split_set(sp, i, tok[0], m[0], tok[1], m[1], y);
    }
  }
  rc = 0;
done:
  lexicon_free(&lx);
  free(words);
  free(buf);
  free(count);
  free(tok[0]);
  free(tok[1]);
  return rc;
}

/* -------------------------------------------------------------- loading -- */
static int parse_label(const char *s, int32_t *label) {
  static const char *const ok[] = {"0", "1", "0.0", "1.0"};
  for (int k = 0; k < 4; k++)
    if (!strcmp(s, ok[k])) {
      *label = k % 2;
      return 0;
    }
  return -1;
}

static int load_file(const char *file, eb_split_data *sp, int64_t n, int max_len,
                     int32_t *tok[2], char *err, size_t errlen) {
  static const char *const names[5] = {"label", "id1", "id2", "text1", "text2"};
  eb_lines L;
  if (eb_lines_open(&L, file, err, errlen)) return -1;
  long long len;
  int rc = -1;
  while ((len = eb_lines_next(&L, err, errlen)) >= 0) {
    if (L.line > n) {
      snprintf(err, errlen, "%s:%lld: file changed while being read", file, L.line);
      goto done;
    }
    char *f[5];
    int nf = 0;
    for (char *p = L.buf;; p++) {
      if (nf < 5) f[nf] = p;
      nf++;
      p = strchr(p, '\t');
      if (!p) break;
      *p = '\0';
    }
    if (nf != 5) {
      snprintf(
          err, errlen,
          "%s:%lld: expected 5 tab-separated fields (label, id1, id2, text1, text2), "
          "found %d",
          file, L.line, len == 0 ? 0 : nf);
      goto done;
    }
    int32_t label;
    if (parse_label(f[0], &label)) {
      snprintf(
          err, errlen,
          "%s:%lld: bad label '%.40s' (expected 0, 1, 0.0 or 1.0; these files have no "
          "header)",
          file, L.line, f[0]);
      goto done;
    }
    for (int k = 1; k < 5; k++)
      if (!f[k][0]) {
        snprintf(err, errlen, "%s:%lld: empty %s field", file, L.line, names[k]);
        goto done;
      }
    int m[2];
    for (int k = 0; k < 2; k++) {
      const unsigned char *s = (const unsigned char *)f[3 + k];
      size_t sn = strlen(f[3 + k]);
      if (f[3 + k] + sn != (k ? L.buf + len : f[4] - 1)) {
        snprintf(err, errlen, "%s:%lld: NUL byte in %s", file, L.line, names[3 + k]);
        goto done;
      }
      if (eb_check_utf8(s, sn, file, L.line, (long long)(f[3 + k] - L.buf) + 1, err,
                        errlen))
        goto done;
      m[k] = eb_bytes_to_tokens(s, sn, tok[k], max_len);
    }
    eb_split_set(sp, L.line - 1, tok[0], m[0], tok[1], m[1], label);
  }
  rc = len == -2 ? -1 : 0;
done:
  eb_lines_close(&L);
  return rc;
}

static int retr_load(const retr_cfg *c, eb_dataset *d, char *err, size_t errlen) {
  if (!eb_is_dir(c->path)) {
    snprintf(err, errlen,
             "%s: not a directory (expected one holding "
             "new_aan_pairs.{train,eval,test}.tsv)",
             c->path);
    return -1;
  }
  char file[3][4096];
  int64_t n[3];
  for (int s = 0; s < 3; s++) {
    snprintf(file[s], sizeof file[s], "%s/new_aan_pairs.%s.tsv", c->path, file_split[s]);
    if (eb_count_lines(file[s], &n[s], err, errlen)) return -1;
    if (n[s] == 0) {
      snprintf(err, errlen, "%s: empty file (no pairs)", file[s]);
      return -1;
    }
  }
  int32_t *tok[2] = {malloc((size_t)c->max_len * sizeof(int32_t)),
                     malloc((size_t)c->max_len * sizeof(int32_t))};
  int rc = !tok[0] || !tok[1] ? -1 : 0;
  if (rc) snprintf(err, errlen, "out of memory");
  for (int s = 0; !rc && s < 3; s++)
    rc = eb_split_alloc(&d->split[s], n[s], c->max_len, 0, 1, err, errlen) ||
         load_file(file[s], &d->split[s], n[s], c->max_len, tok, err, errlen);
  free(tok[0]);
  free(tok[1]);
  if (rc) return -1;
  const char *files[3] = {file[0], file[1], file[2]};
  return eb_source_files(&d->src, "official", "official AAN pairs", c->path, files, 3,
                         err, errlen);
}

/* ------------------------------------------------------------- the task -- */
/* generation through the data cache */
typedef struct retr_gen {
  const retr_cfg *c;
  uint64_t seed;
} retr_gen;

static int retr_build(void *user, eb_dataset *d, char *err, size_t errlen) {
  const retr_gen *g = user;
  int rc = retr_generate(g->c, g->seed, d, err, errlen);
  d->info = (eb_task_info){EB_BYTE_VOCAB, 2, g->c->max_len, EB_INPUT_PAIR, 0, 0, 0};
  return rc;
}

static int retr_open(const eb_args *a, uint64_t seed, void **data, eb_task_info *info,
                     char *err, size_t errlen) {
  retr_cfg c;
  c.path = eb_args_str(a, "path", "none");
  if (c.path && (!*c.path || !strcmp(c.path, "none"))) c.path = NULL;
  c.max_len = (int)eb_args_int(a, "max_len", 1000);
  c.topics = (int)eb_args_int(a, "topics", 32);
  c.n[0] = eb_args_int(a, "train", 5000);
  c.n[1] = eb_args_int(a, "val", 1000);
  c.n[2] = eb_args_int(a, "test", 1000);
  if (c.max_len < 64 || c.max_len > (1 << 20)) {
    snprintf(err, errlen, "task 'retrieval': max_len (%d) must be in [64, 1048576]",
             c.max_len);
    return -1;
  }
  if (c.topics < 2 || c.topics > 4096) {
    snprintf(err, errlen, "task 'retrieval': topics (%d) must be in [2, 4096]", c.topics);
    return -1;
  }
  if (c.n[0] < 1 || c.n[1] < 1 || c.n[2] < 1) {
    snprintf(err, errlen, "task 'retrieval': train, val and test must be >= 1");
    return -1;
  }
  eb_dataset *d = calloc(1, sizeof *d);
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int rc;
  if (c.path) {
    rc = retr_load(&c, d, err, errlen);
  } else {
    retr_gen g = {&c, seed};
    rc = eb_dataset_cached("retrieval", a, seed, GEN_VERSION, d, retr_build, &g, err,
                           errlen);
    if (!rc) rc = eb_source_generated(&d->src, GEN_VERSION, NULL, seed, a, err, errlen);
  }
  if (rc) {
    eb_dataset_free(d);
    free(d);
    return -1;
  }
  d->info = (eb_task_info){
      EB_BYTE_VOCAB, 2, c.max_len, EB_INPUT_PAIR, d->split[0].n, d->split[1].n,
      d->split[2].n};
  *info = d->info;
  *data = d;
  return 0;
}

static const eb_data_source *retr_source(void *data) {
  return eb_source_get(&((eb_dataset *)data)->src);
}

static int retr_batch(void *data, eb_split split, int64_t index, uint64_t epoch_seed,
                      eb_batch *out, char *err, size_t errlen) {
  return eb_dataset_batch(data, split, index, epoch_seed, out, err, errlen);
}

static void retr_close(void *data) {
  eb_dataset_free(data);
  free(data);
}

static int put_doc(FILE *f, const eb_split_data *s, int64_t i, int second) {
  int n = second ? s->len2[i] : s->len[i];
  for (int t = 0; t < n; t++)
    if (fputc(eb_split_token(s, i, t, second) - 1, f) == EOF) return -1;
  return 0;
}

/* new_aan_pairs.{train,eval,test}.tsv; ids are made up from split and row. */
static int retr_write(void *data, const char *dir, char *err, size_t errlen) {
  const eb_dataset *d = data;
  char p[3][4096];
  if (eb_out_dir(dir, err, errlen)) return -1; /* never mixed with earlier data */
  for (int s = 0; s < 3; s++)
    snprintf(p[s], sizeof p[s], "%s/new_aan_pairs.%s.tsv", dir, file_split[s]);
  for (int s = 0; s < 3; s++) {
    const eb_split_data *sp = &d->split[s];
    FILE *f = fopen(p[s], "wb");
    if (!f) {
      snprintf(err, errlen, "%s: cannot write", p[s]);
      return -1;
    }
    int ok = 1;
    for (int64_t i = 0; ok && i < sp->n; i++) {
      ok = fprintf(f, "%d\t%s-%lld-a\t%s-%lld-b\t", (int)sp->labels[i], file_split[s],
                   (long long)i, file_split[s], (long long)i) > 0 &&
           !put_doc(f, sp, i, 0) && fputc('\t', f) == '\t' && !put_doc(f, sp, i, 1) &&
           fputc('\n', f) == '\n';
    }
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
      snprintf(err, errlen, "%s: write failed", p[s]);
      return -1;
    }
  }
  return 0;
}

const eb_task eb_task_retrieval = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_task),
    .name = "retrieval",
    .summary = "byte-level document matching, two-tower pairs (LRA Retrieval / AAN; "
               "offline: do two documents share a topic)",
    .params = retrieval_params,
    .open = retr_open,
    .batch = retr_batch,
    .close = retr_close,
    .write = retr_write,
    .source = retr_source,
};

/* Test oracle (tests/test_retrieval.c): the topic of a rendered document as
 * the topic with most word occurrences in it (-1 on a tie), for a generator
 * with `topics` topics. */
int eb_retrieval_topic_oracle(const unsigned char *s, int n, int topics);
int eb_retrieval_topic_oracle(const unsigned char *s, int n, int topics) {
  static lexicon lx; /* kept between calls: tests only, single-threaded */
  if (lx.topics != topics) {
    lexicon_free(&lx);
    memset(&lx, 0, sizeof lx);
    if (lexicon_build(&lx, topics)) return -2;
  }
  int *count = calloc((size_t)topics, sizeof *count);
  if (!count) return -2;
  for (int i = 0; i < n;) {
    int j = i;
    while (j < n && s[j] != ' ' && s[j] != '.')
      j++;
    char w[WORD_MAX];
    if (j - i > 0 && j - i < WORD_MAX) {
      memcpy(w, s + i, (size_t)(j - i));
      w[j - i] = '\0';
      for (int k = 0; k < topics * TOPIC_WORDS; k++)
        count[k / TOPIC_WORDS] += !strcmp(w, lx.topic[k]);
    }
    i = j + 1;
  }
  int best = 0;
  for (int t = 1; t < topics; t++)
    if (count[t] > count[best]) best = t;
  for (int t = 0; t < topics; t++)
    if (t != best && count[t] == count[best]) best = -1;
  free(count);
  return best;
}
