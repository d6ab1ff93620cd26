/* text: byte-level document classification (LRA "Text", IMDb reviews).
 *
 * Tokens are bytes + 1 (0 = padding, vocabulary 257); documents longer than
 * max_len bytes are truncated, shorter ones padded.
 *
 * Sources (`path`):
 *   none         the offline generator below (default), cached on disk by
 *                (params, seed);
 *   DIR/train/   the aclImdb layout: DIR/{train,test}/{pos,neg}/NNN_R.txt, label
 *                pos = 1, neg = 0. Files of a split are ordered by the leading
 *                number of their name ("123_8.txt"), then name, then neg
 *                before pos. DIR/val/{pos,neg} is read when present (an
 *                effbench extension, written by `effbench data`); otherwise
 *                `val` reviews are carved out of train, chosen by a hash of
 *                their file name (the same reviews whatever the seed);
 *   DIR/train.tsv  label<TAB>text lines, no header, with DIR/test.tsv and an
 *                optional DIR/val.tsv (else carved from train by line);
 *   FILE         one label<TAB>text file: `test` then `val` lines are carved
 *                out of it, the rest is train.
 * Labels of label<TAB>text lines are integers in [0, classes). Text must be
 * valid UTF-8 (strict: no overlongs, surrogates or truncated sequences) and
 * not empty; every error names file:line. Loaded data is not cached (the
 * files may change under the same path).
 *
 * The generator ("rule"), all with balanced labels (chance = 50 %):
 *   sentiment  documents of random words from a fixed 1024-word lexicon, with
 *              "positive" and "negative" words (8 of each, distinct) scattered
 *              over the whole document, about one per 32 bytes; the label is
 *              the kind that occurs more often, and it makes up at least three
 *              quarters of them, as in a review that is clearly for or
 *              against. The signal is spread thin: no window decides it.
 *   anagram    the hard variant: the label is which kind occurs more often by
 *              a margin of only 1 to 3, and every negative word is an anagram
 *              of a positive one (the word of a pair picked uniformly), so the
 *              byte histogram has the same distribution under both labels: a
 *              bag-of-bytes model stays at chance, bigrams within a word are
 *              needed and the whole document has to be counted.
 *   recall     the document states "KEY w." in its first tenth and asks
 *              "ASK q?" in its last tenth; label 1 when q == w. The words are
 *              fresh random strings, so neither local features nor byte counts
 *              tell the answer: the end must be compared with the start.
 * Document lengths are uniform in [max_len/4, max_len], never truncated, so
 * the label is decided by the visible bytes. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "carve.h"
#include "files.h"
#include "lines.h"
#include "words.h"
#include "hash.h"
#include "dataset.h"

#define GEN_VERSION "text-gen-2"
#define LEX_FILLER 1024
#define LEX_PAIRS 8
#define WORD_MAX 16

static const eb_param_decl text_params[] = {
    {"path", EB_P_STRING, "none",
     "aclImdb folder, folder with train.tsv/test.tsv[/val.tsv], or one label<TAB>text "
     "file (none = generate)",
     NULL},
    {"max_len", EB_P_INT, "1000",
     "bytes per document: longer ones truncated, shorter padded (LRA: 1000)", NULL},
    {"rule", EB_P_STRING, "sentiment",
     "generator: sentiment (which of two word sets dominates the document), anagram "
     "(which of two anagram word sets is more frequent, by a margin of 1 to 3) or "
     "recall (is the key word of the start asked at the end)",
     "sentiment|anagram|recall"},
    {"train", EB_P_INT, "5000", "generated training documents", NULL},
    {"val", EB_P_INT, "1000",
     "validation documents: generated, or carved from train when the data has no val",
     NULL},
    {"test", EB_P_INT, "1000",
     "generated test documents (carved from a single label<TAB>text file)", NULL},
    {"classes", EB_P_INT, "2",
     "classes of label<TAB>text data (the generator and aclImdb are binary)", NULL},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

typedef struct text_cfg {
  const char *path;
  int max_len, rule, classes; /* rule: RULE_* */
  int64_t n[3];
} text_cfg;

enum { RULE_SENTIMENT, RULE_ANAGRAM, RULE_RECALL };

static const char *const split_names[3] = {"train", "val", "test"};

/* ------------------------------------------------------------ generator -- */
typedef struct lexicon {
  char filler[LEX_FILLER][WORD_MAX];
  char pos[LEX_PAIRS][WORD_MAX], neg[LEX_PAIRS][WORD_MAX]; /* anagram pairs */
  char neg_word[LEX_PAIRS][WORD_MAX]; /* negative words of the sentiment rule */
} lexicon;

static int lex_has(const lexicon *lx, int nfill, int npairs, int nneg, const char *w) {
  for (int i = 0; i < nfill; i++)
    if (!strcmp(lx->filler[i], w)) return 1;
  for (int i = 0; i < npairs; i++)
    if (!strcmp(lx->pos[i], w) || !strcmp(lx->neg[i], w)) return 1;
  for (int i = 0; i < nneg; i++)
    if (!strcmp(lx->neg_word[i], w)) return 1;
  return 0;
}

/* The fixed "language": the same for every seed, like a real vocabulary. */
static void lexicon_build(lexicon *lx) {
  eb_rng r = eb_rng_make(0x7E47ull, 1);
  char w[WORD_MAX];
  for (int i = 0; i < LEX_PAIRS; i++) {
    for (;;) {
      int len = eb_random_word(&r, w, 5, 7);
      char a[WORD_MAX];
      memcpy(a, w, (size_t)len + 1);
      for (int k = len - 1; k > 0; k--) { /* the anagram: a shuffle */
        int j = (int)eb_rng_below(&r, k + 1);
        char t = a[k];
        a[k] = a[j];
        a[j] = t;
      }
      if (!strcmp(a, w) || lex_has(lx, 0, i, 0, w) || lex_has(lx, 0, i, 0, a)) continue;
      memcpy(lx->pos[i], w, (size_t)len + 1);
      memcpy(lx->neg[i], a, (size_t)len + 1);
      break;
    }
  }
  for (int i = 0; i < LEX_FILLER; i++) {
    do
      eb_random_word_utf8(&r, w, 2, 9);
    while (lex_has(lx, i, LEX_PAIRS, 0, w));
    memcpy(lx->filler[i], w, strlen(w) + 1);
  }
  for (int i = 0; i < LEX_PAIRS; i++) {
    do
      eb_random_word(&r, w, 5, 7);
    while (lex_has(lx, LEX_FILLER, LEX_PAIRS, i, w));
    memcpy(lx->neg_word[i], w, strlen(w) + 1);
  }
}

static void insert_word(eb_word *w, int *n, int at, eb_word x) {
  memmove(w + at + 1, w + at, (size_t)(*n - at) * sizeof *w);
  w[at] = x;
  (*n)++;
}

/* One document of split `split`, number idx: bytes into out (<= max_len),
 * returns its length; *label set. `words` has room for max_len entries. */
static int gen_doc(const lexicon *lx, const text_cfg *c, uint64_t seed, int split,
                   int64_t idx, eb_word *words, unsigned char *out, int32_t *label) {
  eb_rng r = eb_rng_make(seed, ((uint64_t)(split + 1) << 56) ^ (uint64_t)idx);
  int lo = c->max_len / 4;
  int L = lo + (int)eb_rng_below(&r, c->max_len - lo + 1);
  int y = (int)(eb_rng_u64(&r) & 1);
  *label = y;
  eb_word special[64];
  int ns = 0;
  char key[2][WORD_MAX + 8];
  if (c->rule == RULE_RECALL) {
    char kw[WORD_MAX], qw[WORD_MAX];
    eb_random_word(&r, kw, 5, 7);
    do
      eb_random_word(&r, qw, 5, 7);
    while (!strcmp(qw, kw));
    snprintf(key[0], sizeof key[0], "KEY %s", kw);
    snprintf(key[1], sizeof key[1], "ASK %s?", y ? kw : qw);
    for (int k = 0; k < 2; k++)
      special[ns++] = (eb_word){key[k], (int)strlen(key[k])};
  } else {
    int npos, nneg;
    if (c->rule == RULE_ANAGRAM) {
      int most = L / 100 < 1 ? 1 : L / 100 > 20 ? 20 : L / 100;
      int minority = 1 + (int)eb_rng_below(&r, most);
      int margin = 1 + (int)eb_rng_below(&r, 3);
      npos = y ? minority + margin : minority;
      nneg = y ? minority : minority + margin;
    } else { /* sentiment: 2..32 words, the minority at most a quarter */
      int total = L / 32 < 2 ? 2 : L / 32 > 32 ? 32 : L / 32;
      int minority = (int)eb_rng_below(&r, (uint64_t)(total / 4 + 1));
      npos = y ? total - minority : minority;
      nneg = total - npos;
    }
    const char(*neg)[WORD_MAX] = c->rule == RULE_ANAGRAM ? lx->neg : lx->neg_word;
    for (int k = 0; k < npos + nneg; k++) {
      const char *s = k < npos ? lx->pos[eb_rng_below(&r, LEX_PAIRS)]
                               : neg[eb_rng_below(&r, LEX_PAIRS)];
      special[ns++] = (eb_word){s, (int)strlen(s)};
    }
  }
  int cost = 0;
  for (int k = 0; k < ns; k++)
    cost += special[k].len + 2;
  if (L < cost) L = cost; /* fits: max_len >= 64 is enforced */
  int n = 0, used = cost;
  for (;;) {
    const char *s = lx->filler[eb_rng_below(&r, LEX_FILLER)];
    int len = (int)strlen(s);
    if (used + len + 2 > L) break;
    words[n++] = (eb_word){s, len};
    used += len + 2;
  }
  if (c->rule == RULE_RECALL) {
    insert_word(words, &n, (int)eb_rng_below(&r, n / 10 + 1), special[0]);
    insert_word(words, &n, n - (int)eb_rng_below(&r, n / 10 + 1), special[1]);
  } else
    for (int k = 0; k < ns; k++)
      insert_word(words, &n, (int)eb_rng_below(&r, n + 1), special[k]);
  return eb_render_words(&r, words, n, out);
}

static int text_generate(const text_cfg *c, uint64_t seed, eb_dataset *d, char *err,
                         size_t errlen) {
  lexicon *lx = calloc(1, sizeof *lx);
  eb_word *words = malloc((size_t)c->max_len * sizeof *words);
  unsigned char *buf = malloc((size_t)c->max_len * 2 + 64);
  int32_t *tok = malloc((size_t)c->max_len * sizeof *tok);
  int rc = -1;
  if (!lx || !words || !buf || !tok) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  lexicon_build(lx);
  for (int s = 0; s < 3; s++) {
    eb_split_data *sp = &d->split[s];
    if (eb_split_alloc(sp, c->n[s], c->max_len, 0, 0, err, errlen)) goto done;
    for (int64_t i = 0; i < c->n[s]; i++) {
      int32_t label;
      int len = gen_doc(lx, c, seed, s, i, words, buf, &label);
      int m = eb_bytes_to_tokens(buf, (size_t)len, tok, c->max_len);
      eb_split_set(sp, i, tok, m, NULL, 0, label);
    }
  }
  rc = 0;
done:
  free(lx);
  free(words);
  free(buf);
  free(tok);
  return rc;
}

/* -------------------------------------------------------------- loading -- */
/* Checks and tokenizes one document's text; `line`/`col0` place byte 0 of
 * s in the file for messages. */
static int put_text(eb_split_data *sp, int64_t i, const unsigned char *s, size_t n,
                    int32_t label, int32_t *tok, const char *file, long long line,
                    long long col0, char *err, size_t errlen) {
  if (eb_check_utf8(s, n, file, line, col0, err, errlen)) return -1;
  int m = eb_bytes_to_tokens(s, n, tok, sp->max_len);
  eb_split_set(sp, i, tok, m, NULL, 0, label);
  return 0;
}

typedef struct review {
  char *path, *name;
  long long num; /* leading number of the file name, or LLONG_MAX */
  int32_t label;
  uint8_t dest;
} review;

typedef struct review_list {
  review *v;
  int64_t n, cap;
} review_list;

static int list_reviews(const char *dir, const char *sub, int32_t label, uint8_t dest,
                        review_list *L, char *err, size_t errlen) {
  char d[4096];
  snprintf(d, sizeof d, "%s/%s", dir, sub);
  DIR *D = opendir(d);
  if (!D) {
    snprintf(err, errlen,
             "%s: missing (expected the aclImdb layout: train/pos, train/neg, test/pos, "
             "test/neg with *.txt reviews)",
             d);
    return -1;
  }
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(D))) {
    size_t nl = strlen(e->d_name);
    if (e->d_name[0] == '.' || nl < 5 || strcmp(e->d_name + nl - 4, ".txt")) continue;
    if (L->n == L->cap) {
      int64_t cap = L->cap ? 2 * L->cap : 1024;
      review *v = realloc(L->v, (size_t)cap * sizeof *v);
      if (!v) {
        rc = -1;
        break;
      }
      L->v = v;
      L->cap = cap;
    }
    review *r = &L->v[L->n];
    size_t pl = strlen(d) + nl + 2;
    r->path = malloc(pl);
    if (!r->path) {
      rc = -1;
      break;
    }
    snprintf(r->path, pl, "%s/%s", d, e->d_name);
    r->name = r->path + strlen(d) + 1;
    r->num = LLONG_MAX;
    if (r->name[0] >= '0' && r->name[0] <= '9') r->num = strtoll(r->name, NULL, 10);
    r->label = label;
    r->dest = dest;
    L->n++;
  }
  closedir(D);
  if (rc) snprintf(err, errlen, "out of memory listing %s", d);
  return rc;
}

static int review_cmp(const void *a, const void *b) {
  const review *x = a, *y = b;
  if (x->num != y->num) return x->num < y->num ? -1 : 1;
  int c = strcmp(x->name, y->name);
  if (c) return c;
  return (x->label > y->label) - (x->label < y->label);
}

static int load_aclimdb(const text_cfg *c, eb_dataset *d, eb_path_list *files, char *err,
                        size_t errlen) {
  review_list L = {0};
  int64_t start[4] = {0};
  int rc = -1;
  char sd[4096];
  int have_val = 0;
  int32_t *tok = malloc((size_t)c->max_len * sizeof *tok);
  if (!tok) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (int s = 0; s < 3; s++) {
    start[s] = L.n;
    snprintf(sd, sizeof sd, "%s/%s", c->path, split_names[s]);
    if (s == EB_SPLIT_VAL && !(have_val = eb_is_dir(sd))) continue;
    if (list_reviews(sd, "neg", 0, (uint8_t)s, &L, err, errlen) ||
        list_reviews(sd, "pos", 1, (uint8_t)s, &L, err, errlen))
      goto done;
    if (L.n == start[s]) {
      snprintf(err, errlen, "%s: no reviews (*.txt) in pos/ or neg/ (empty split)", sd);
      goto done;
    }
    qsort(L.v + start[s], (size_t)(L.n - start[s]), sizeof *L.v, review_cmp);
  }
  if (!have_val) { /* carve val out of train, by file name */
    int64_t ntr = start[2] - start[0];
    uint64_t *keys = malloc((size_t)ntr * sizeof *keys);
    uint8_t *dest = malloc((size_t)ntr);
    int bad = !keys || !dest;
    for (int64_t i = 0; !bad && i < ntr; i++) {
      keys[i] = eb_hash_str(EB_FNV_SEED, L.v[i].label ? "pos/" : "neg/");
      keys[i] = eb_hash_str(keys[i], L.v[i].name);
      dest[i] = EB_SPLIT_TRAIN;
    }
    if (!bad &&
        eb_carve(keys, ntr, c->n[EB_SPLIT_VAL], dest, EB_SPLIT_TRAIN, EB_SPLIT_VAL)) {
      snprintf(err, errlen,
               "%s/train: val (%lld) must be smaller than its %lld reviews (set "
               "--task-param val=K)",
               c->path, (long long)c->n[EB_SPLIT_VAL], (long long)ntr);
      bad = 2;
    }
    for (int64_t i = 0; !bad && i < ntr; i++)
      L.v[i].dest = dest[i];
    free(keys);
    free(dest);
    if (bad) {
      if (bad == 1) snprintf(err, errlen, "out of memory");
      goto done;
    }
  }
  int64_t count[3] = {0}, at[3] = {0};
  for (int64_t i = 0; i < L.n; i++)
    count[L.v[i].dest]++;
  for (int s = 0; s < 3; s++)
    if (eb_split_alloc(&d->split[s], count[s], c->max_len, 0, 0, err, errlen)) goto done;
  for (int64_t i = 0; i < L.n; i++) {
    unsigned char *buf;
    size_t n;
    if (eb_read_file(L.v[i].path, &buf, &n, err, errlen)) goto done;
    int bad = 0;
    if (n == 0) {
      snprintf(err, errlen, "%s:1: empty review", L.v[i].path);
      bad = 1;
    } else
      bad = put_text(&d->split[L.v[i].dest], at[L.v[i].dest]++, buf, n, L.v[i].label, tok,
                     L.v[i].path, 1, 1, err, errlen);
    free(buf);
    if (bad) goto done;
    eb_path_list_add(files, L.v[i].path);
  }
  rc = 0;
done:
  for (int64_t i = 0; i < L.n; i++)
    free(L.v[i].path);
  free(L.v);
  free(tok);
  return rc;
}

/* label<TAB>text files: files[f] (NULL = absent) go to split f unless carved. */
static int load_tsv(const text_cfg *c, const char *files[3], int carve_test,
                    eb_dataset *d, char *err, size_t errlen) {
  int64_t nl[3] = {0}, count[3] = {0}, at[3] = {0};
  uint8_t *dest[3] = {NULL, NULL, NULL};
  int32_t *tok = malloc((size_t)c->max_len * sizeof *tok);
  int rc = -1;
  eb_lines L = {0};
  if (!tok) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (int f = 0; f < 3; f++) {
    if (!files[f]) continue;
    if (eb_count_lines(files[f], &nl[f], err, errlen)) goto done;
    if (nl[f] == 0) {
      snprintf(err, errlen, "%s: empty file (no label<TAB>text lines)", files[f]);
      goto done;
    }
    dest[f] = malloc((size_t)nl[f]);
    if (!dest[f]) {
      snprintf(err, errlen, "out of memory");
      goto done;
    }
    memset(dest[f], f, (size_t)nl[f]);
  }
  /* carve test (single file) and val (no val file) out of the train file */
  int64_t carve[2] = {carve_test ? c->n[EB_SPLIT_TEST] : 0,
                      files[EB_SPLIT_VAL] ? 0 : c->n[EB_SPLIT_VAL]};
  uint8_t to[2] = {EB_SPLIT_TEST, EB_SPLIT_VAL};
  if (carve[0] || carve[1]) {
    uint64_t *keys = malloc((size_t)nl[0] * sizeof *keys);
    if (!keys) {
      snprintf(err, errlen, "out of memory");
      goto done;
    }
    for (int64_t i = 0; i < nl[0]; i++)
      keys[i] = (uint64_t)i * 0x9E3779B97F4A7C15ull + 0x7E57;
    for (int k = 0; k < 2; k++)
      if (carve[k] && eb_carve(keys, nl[0], carve[k], dest[0], EB_SPLIT_TRAIN, to[k])) {
        snprintf(err, errlen,
                 "%s: cannot carve %lld %s lines out of %lld (set --task-param %s=K)",
                 files[0], (long long)carve[k], split_names[to[k]], (long long)nl[0],
                 split_names[to[k]]);
        free(keys);
        goto done;
      }
    free(keys);
  }
  for (int f = 0; f < 3; f++)
    for (int64_t i = 0; i < nl[f]; i++)
      count[dest[f][i]]++;
  for (int s = 0; s < 3; s++)
    if (eb_split_alloc(&d->split[s], count[s], c->max_len, 0, 0, err, errlen)) goto done;
  for (int f = 0; f < 3; f++) {
    if (!files[f]) continue;
    if (eb_lines_open(&L, files[f], err, errlen)) goto done;
    long long n;
    while ((n = eb_lines_next(&L, err, errlen)) >= 0) {
      char *tab = strchr(L.buf, '\t');
      if (n == 0 || !tab) {
        snprintf(err, errlen, "%s:%lld: expected LABEL<TAB>TEXT, found %s", files[f],
                 L.line, n == 0 ? "an empty line" : "no tab");
        goto done;
      }
      *tab = '\0';
      char *end;
      long long label = strtoll(L.buf, &end, 10);
      if (!L.buf[0] || *end || L.buf[0] < '0' || L.buf[0] > '9' || label >= c->classes) {
        snprintf(err, errlen,
                 "%s:%lld: bad label '%.40s' (expected an integer in [0, %d); no header "
                 "line)",
                 files[f], L.line, L.buf, c->classes);
        goto done;
      }
      const unsigned char *text = (const unsigned char *)tab + 1;
      size_t tn = (size_t)(n - (tab + 1 - L.buf));
      if (tn == 0) {
        snprintf(err, errlen, "%s:%lld: empty text", files[f], L.line);
        goto done;
      }
      if (L.line > nl[f]) {
        snprintf(err, errlen, "%s:%lld: file changed while being read", files[f], L.line);
        goto done;
      }
      int s = dest[f][L.line - 1];
      if (put_text(&d->split[s], at[s]++, text, tn, (int32_t)label, tok, files[f], L.line,
                   (long long)(tab + 1 - L.buf) + 1, err, errlen))
        goto done;
    }
    if (n == -2) goto done;
    eb_lines_close(&L);
  }
  rc = 0;
done:
  eb_lines_close(&L);
  for (int f = 0; f < 3; f++)
    free(dest[f]);
  free(tok);
  return rc;
}

/* the files read and where they came from (d->src) */
static int text_source(eb_dataset *d, const char *root, int acl, const char *const *files,
                       int64_t n, char *err, size_t errlen) {
  return eb_source_files(&d->src, acl ? "official" : "files:tsv",
                         acl ? "official aclImdb" : "label<TAB>text files", root, files,
                         n, err, errlen);
}

static int text_load(const text_cfg *c, eb_dataset *d, char *err, size_t errlen) {
  char p[3][4096];
  const char *files[3] = {NULL, NULL, NULL};
  if (eb_is_file(c->path)) {
    files[0] = c->path;
    if (load_tsv(c, files, 1, d, err, errlen)) return -1;
    return text_source(d, c->path, 0, files, 1, err, errlen);
  }
  if (!eb_is_dir(c->path)) {
    snprintf(err, errlen, "%s: no such file or directory", c->path);
    return -1;
  }
  for (int s = 0; s < 3; s++)
    snprintf(p[s], sizeof p[s], "%s/%s.tsv", c->path, split_names[s]);
  if (!eb_is_file(p[0])) {
    if (c->classes != 2) {
      snprintf(err, errlen,
               "%s: an aclImdb folder (no train.tsv) is binary, but classes = %d: drop "
               "the classes parameter",
               c->path, c->classes);
      return -1;
    }
    eb_path_list read = {0};
    int rc = load_aclimdb(c, d, &read, err, errlen);
    if (!rc && read.oom) {
      snprintf(err, errlen, "out of memory");
      rc = -1;
    }
    if (!rc)
      rc = text_source(d, c->path, 1, (const char *const *)read.v, read.n, err, errlen);
    eb_path_list_free(&read);
    return rc;
  }
  if (!eb_is_file(p[2])) {
    snprintf(err, errlen, "%s: missing (a folder with train.tsv needs test.tsv too)",
             p[2]);
    return -1;
  }
  files[0] = p[0];
  files[1] = eb_is_file(p[1]) ? p[1] : NULL;
  files[2] = p[2];
  if (load_tsv(c, files, 0, d, err, errlen)) return -1;
  const char *read[3];
  int n = 0;
  for (int s = 0; s < 3; s++)
    if (files[s]) read[n++] = files[s];
  return text_source(d, c->path, 0, read, n, err, errlen);
}

/* ------------------------------------------------------------- the task -- */
/* generation through the data cache */
typedef struct text_gen {
  const text_cfg *c;
  uint64_t seed;
} text_gen;

static int text_build(void *user, eb_dataset *d, char *err, size_t errlen) {
  const text_gen *g = user;
  int rc = text_generate(g->c, g->seed, d, err, errlen);
  d->info = (eb_task_info){EB_BYTE_VOCAB, 2, g->c->max_len, EB_INPUT_SINGLE, 0, 0, 0};
  return rc;
}

static int text_open(const eb_args *a, uint64_t seed, void **data, eb_task_info *info,
                     char *err, size_t errlen) {
  text_cfg c;
  c.path = eb_args_str(a, "path", "none");
  if (c.path && (!*c.path || !strcmp(c.path, "none"))) c.path = NULL;
  c.max_len = (int)eb_args_int(a, "max_len", 1000);
  const char *rule = eb_args_str(a, "rule", "sentiment");
  c.rule = !strcmp(rule, "recall")    ? RULE_RECALL
           : !strcmp(rule, "anagram") ? RULE_ANAGRAM
                                      : RULE_SENTIMENT;
  c.classes = (int)eb_args_int(a, "classes", 2);
  c.n[0] = eb_args_int(a, "train", 5000);
  c.n[1] = eb_args_int(a, "val", 1000);
  c.n[2] = eb_args_int(a, "test", 1000);
  if (c.max_len < 64 || c.max_len > (1 << 20)) {
    snprintf(err, errlen, "task 'text': max_len (%d) must be in [64, 1048576]",
             c.max_len);
    return -1;
  }
  if (c.classes < 2 || c.classes > (1 << 20)) {
    snprintf(err, errlen, "task 'text': classes (%d) must be in [2, 1048576]", c.classes);
    return -1;
  }
  if (c.n[0] < 1 || c.n[1] < 1 || c.n[2] < 1) {
    snprintf(err, errlen, "task 'text': train, val and test must be >= 1");
    return -1;
  }
  if (!c.path && c.classes != 2) {
    snprintf(err, errlen, "task 'text': the generator is binary (classes must be 2)");
    return -1;
  }
  eb_dataset *d = calloc(1, sizeof *d);
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int rc;
  if (c.path) {
    rc = text_load(&c, d, err, errlen);
  } else {
    text_gen g = {&c, seed};
    rc = eb_dataset_cached("text", a, seed, GEN_VERSION, d, text_build, &g, err, errlen);
    if (!rc) rc = eb_source_generated(&d->src, GEN_VERSION, rule, seed, a, err, errlen);
  }
  if (rc) {
    eb_dataset_free(d);
    free(d);
    return -1;
  }
  d->info.vocab = EB_BYTE_VOCAB;
  d->info.classes = c.path ? c.classes : 2;
  d->info.max_len = c.max_len;
  d->info.mode = EB_INPUT_SINGLE;
  d->info.n_train = d->split[0].n;
  d->info.n_val = d->split[1].n;
  d->info.n_test = d->split[2].n;
  *info = d->info;
  *data = d;
  return 0;
}

static int text_batch(void *data, eb_split split, int64_t index, uint64_t epoch_seed,
                      eb_batch *out, char *err, size_t errlen) {
  return eb_dataset_batch(data, split, index, epoch_seed, out, err, errlen);
}

static const eb_data_source *text_source_of(void *data) {
  return eb_source_get(&((eb_dataset *)data)->src);
}

static void text_close(void *data) {
  eb_dataset_free(data);
  free(data);
}

/* Row i of a split as bytes (tokens - 1); returns the length. */
static int row_bytes(const eb_split_data *s, int64_t i, unsigned char *buf) {
  int n = s->len[i];
  for (int t = 0; t < n; t++)
    buf[t] = (unsigned char)(eb_split_token(s, i, t, 0) - 1);
  return n;
}

/* Binary data: the aclImdb layout plus val/ (read back when present);
 * more classes: train.tsv, val.tsv, test.tsv. */
static int text_write(void *data, const char *dir, char *err, size_t errlen) {
  const eb_dataset *d = data;
  int acl = d->info.classes == 2;
  unsigned char *buf = malloc((size_t)d->info.max_len + 1);
  char p[4096];
  int rc = -1;
  if (!buf) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (eb_out_dir(dir, err, errlen)) goto done; /* never mixed with earlier data */
  for (int s = 0; s < 3; s++) {
    const eb_split_data *sp = &d->split[s];
    if (acl) {
      for (int l = 0; l < 2; l++) {
        snprintf(p, sizeof p, "%s/%s/%s", dir, split_names[s], l ? "pos" : "neg");
        if (eb_mkdirs(p, err, errlen)) goto done;
      }
      for (int64_t i = 0; i < sp->n; i++) {
        int lab = sp->labels[i];
        snprintf(p, sizeof p, "%s/%s/%s/%lld_%d.txt", dir, split_names[s],
                 lab ? "pos" : "neg", (long long)i, lab ? 10 : 1);
        if (eb_write_file(p, buf, (size_t)row_bytes(sp, i, buf), err, errlen)) goto done;
      }
    } else {
      snprintf(p, sizeof p, "%s/%s.tsv", dir, split_names[s]);
      FILE *f = fopen(p, "wb");
      if (!f) {
        snprintf(err, errlen, "%s: cannot write", p);
        goto done;
      }
      int ok = 1;
      for (int64_t i = 0; ok && i < sp->n; i++) {
        int n = row_bytes(sp, i, buf);
        ok = fprintf(f, "%d\t", (int)sp->labels[i]) > 0 &&
             fwrite(buf, 1, (size_t)n, f) == (size_t)n && fputc('\n', f) == '\n';
      }
      if (fclose(f) != 0) ok = 0;
      if (!ok) {
        snprintf(err, errlen, "%s: write failed", p);
        goto done;
      }
    }
  }
  rc = 0;
done:
  free(buf);
  return rc;
}

const eb_task eb_task_text = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_task),
    .name = "text",
    .summary = "byte-level document classification (LRA Text / IMDb; offline: "
               "sentiment word counting over the whole document, or key recall)",
    .params = text_params,
    .open = text_open,
    .batch = text_batch,
    .close = text_close,
    .write = text_write,
    .source = text_source_of,
};

/* Test oracle (tests/test_text.c): the label of the sentiment (anagram = 0)
 * or anagram (anagram = 1) rule recounted from a rendered document's words:
 * 1 when positive words outnumber negative ones, 0 when fewer, -1 on a tie;
 * *npos and *nneg get the counts. */
int eb_text_sentiment_oracle(const unsigned char *s, int n, int anagram, int *npos,
                             int *nneg);
int eb_text_sentiment_oracle(const unsigned char *s, int n, int anagram, int *npos,
                             int *nneg) {
  static lexicon *lx; /* kept between calls: tests only, single-threaded */
  if (!lx && (lx = calloc(1, sizeof *lx)) != NULL) lexicon_build(lx);
  if (!lx) return -2;
  int count[2] = {0, 0};
  for (int i = 0; i < n;) {
    int j = i;
    while (j < n && s[j] != ' ' && s[j] != '.')
      j++;
    char w[WORD_MAX];
    if (j - i > 0 && j - i < WORD_MAX) {
      memcpy(w, s + i, (size_t)(j - i));
      w[j - i] = '\0';
      for (int k = 0; k < LEX_PAIRS; k++) {
        count[1] += !strcmp(w, lx->pos[k]);
        count[0] += !strcmp(w, anagram ? lx->neg[k] : lx->neg_word[k]);
      }
    }
    i = j + 1;
  }
  *npos = count[1];
  *nneg = count[0];
  return count[1] > count[0] ? 1 : count[1] < count[0] ? 0 : -1;
}
