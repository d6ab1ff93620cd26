/* mqar: multi-query associative recall (Zoology; Arora et al., 2023) in a
 * single-label framing, since our models classify whole sequences.
 *
 * An example of length `len` is
 *
 *   k1 v1 k2 v2 ... kP vP  _ _ ... _  ?  q
 *
 * P = `pairs` key-value pairs with distinct keys (values drawn with
 * replacement), filler tokens "_" up to the end, the query marker "?" and one
 * query key q, always one of k1..kP (uniform). The label is the value paired
 * with q. Zoology asks several queries per sequence; one query per sequence
 * keeps a single label, and a larger train set gives the same number of
 * recalls.
 *
 * Token ids: 0 padding (unused: every example fills len), 1 filler, 2 query
 * marker, keys 3 .. 3+K-1, values 3+K .. vocab-1, with K = (vocab-3)/2 and
 * V = vocab-3-K values; classes = V (label = value id - (3+K)).
 *
 * Why it separates mixers: a bag of tokens sees which key is asked (it occurs
 * twice) and which values occur, but not which value sits next to which key,
 * so it is near chance among the P values present; attention can look up the
 * earlier q and read the token after it.
 *
 * Every example is a pure function of (seed, split, index); the set is
 * generated into memory at open (no files, no cache: it takes milliseconds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "effbench/plugin.h"

enum { MQ_FILLER = 1, MQ_QUERY = 2, MQ_KEY0 = 3 };

static const eb_param_decl mqar_params[] = {
    {"len", EB_P_INT, "64", "sequence length (at least 2 * pairs + 2)", NULL},
    {"vocab", EB_P_INT, "64",
     "vocabulary incl. padding, filler and query marker; rest split into keys and "
     "values",
     NULL},
    {"pairs", EB_P_INT, "8", "key-value pairs per sequence", NULL},
    {"train", EB_P_INT, "10000", "training examples", NULL},
    {"val", EB_P_INT, "1000", "validation examples", NULL},
    {"test", EB_P_INT, "1000", "test examples", NULL},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

typedef struct mq {
  int len, vocab, pairs, keys, values;
} mq;

static int below(eb_rng *r, int n) {
  return (int)(((eb_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

/* tok[len] of example (split, i); returns its label. perm: scratch of K ints */
static int32_t make_example(const mq *m, uint64_t seed, int split, int64_t i,
                            int32_t *tok, int *perm) {
  eb_rng r =
      eb_rng_make(seed, 0x3A0A000000000000ull ^ ((uint64_t)split << 48) ^ (uint64_t)i);
  for (int k = 0; k < m->keys; k++)
    perm[k] = k;
  for (int p = 0; p < m->pairs; p++) { /* partial Fisher-Yates: distinct keys */
    int j = p + below(&r, m->keys - p), t = perm[p];
    perm[p] = perm[j];
    perm[j] = t;
    tok[2 * p] = MQ_KEY0 + perm[p];
    tok[2 * p + 1] = MQ_KEY0 + m->keys + below(&r, m->values);
  }
  for (int t = 2 * m->pairs; t < m->len - 2; t++)
    tok[t] = MQ_FILLER;
  int q = below(&r, m->pairs);
  tok[m->len - 2] = MQ_QUERY;
  tok[m->len - 1] = tok[2 * q];
  return tok[2 * q + 1] - (MQ_KEY0 + m->keys);
}

static int mqar_open(const eb_args *a, uint64_t seed, void **data, eb_task_info *info,
                     char *err, size_t errlen) {
  int64_t len = eb_args_int(a, "len", 64), vocab = eb_args_int(a, "vocab", 64),
          pairs = eb_args_int(a, "pairs", 8);
  int64_t n[3] = {eb_args_int(a, "train", 10000), eb_args_int(a, "val", 1000),
                  eb_args_int(a, "test", 1000)};
  if (vocab < 7 || vocab > 65536) {
    snprintf(err, errlen,
             "task 'mqar': vocab must be in [7, 65536] (padding, filler, query marker, "
             ">= 2 keys and >= 2 values), got %lld",
             (long long)vocab);
    return -1;
  }
  int keys = (int)(vocab - 3) / 2;
  if (pairs < 1 || pairs > keys) {
    snprintf(err, errlen,
             "task 'mqar': pairs must be in [1, %d] (the number of keys for vocab %lld), "
             "got %lld",
             keys, (long long)vocab, (long long)pairs);
    return -1;
  }
  if (len < 2 * pairs + 2 || len > (1 << 20)) {
    snprintf(err, errlen,
             "task 'mqar': len must be in [2 * pairs + 2 = %lld, %d], got %lld",
             (long long)(2 * pairs + 2), 1 << 20, (long long)len);
    return -1;
  }
  static const char *const names[3] = {"train", "val", "test"};
  for (int s = 0; s < 3; s++)
    if (n[s] < 1 || n[s] > ((int64_t)1 << 31)) {
      snprintf(err, errlen, "task 'mqar': %s must be in [1, 2^31], got %lld", names[s],
               (long long)n[s]);
      return -1;
    }
  mq m = {(int)len, (int)vocab, (int)pairs, keys, (int)vocab - 3 - keys};
  eb_dataset *d = calloc(1, sizeof *d);
  int32_t *tok = malloc((size_t)m.len * sizeof *tok);
  int *perm = malloc((size_t)m.keys * sizeof *perm);
  int rc = d && tok && perm ? 0 : -1;
  if (rc) snprintf(err, errlen, "out of memory");
  for (int s = 0; rc == 0 && s < 3; s++) {
    rc = eb_split_alloc(&d->split[s], n[s], m.len, m.vocab > 256, 0, err, errlen);
    for (int64_t i = 0; rc == 0 && i < n[s]; i++) {
      int32_t label = make_example(&m, seed, s, i, tok, perm);
      eb_split_set(&d->split[s], i, tok, m.len, NULL, 0, label);
    }
  }
  free(tok);
  free(perm);
  if (!rc) rc = eb_source_generated(&d->src, "mqar-1", NULL, seed, a, err, errlen);
  if (rc) {
    if (d) eb_dataset_free(d);
    free(d);
    return -1;
  }
  d->info.vocab = m.vocab;
  d->info.classes = m.values;
  d->info.max_len = m.len;
  d->info.mode = EB_INPUT_SINGLE;
  d->info.n_train = n[0];
  d->info.n_val = n[1];
  d->info.n_test = n[2];
  *info = d->info;
  *data = d;
  return 0;
}

static int mqar_batch(void *data, eb_split split, int64_t index, uint64_t epoch_seed,
                      eb_batch *out, char *err, size_t errlen) {
  return eb_dataset_batch(data, split, index, epoch_seed, out, err, errlen);
}

static const eb_data_source *mqar_source(void *data) {
  return eb_source_get(&((eb_dataset *)data)->src);
}

static void mqar_close(void *data) {
  eb_dataset_free(data);
  free(data);
}

const eb_task eb_task_mqar = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_task),
    .name = "mqar",
    .summary = "synthetic probe: associative recall, label = value of the queried key",
    .params = mqar_params,
    .open = mqar_open,
    .batch = mqar_batch,
    .close = mqar_close,
    .source = mqar_source,
};
