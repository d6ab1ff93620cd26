/* selective_copy: the selective copying task of the Mamba paper (Gu & Dao,
 * 2023) in a single-label framing, since our models classify whole sequences.
 *
 * An example of length `len` is a body of len - 1 tokens, noise "." except
 * for T = `tokens` data tokens at random distinct positions, followed by one
 * query marker Qj (1 <= j <= T, uniform) that asks for the j-th data token in
 * order of position:
 *
 *   . . d1 . . . d2 . d3 . . . d4 . .  Q3      label = d3
 *
 * Mamba's task asks for all T data tokens in order; asking for one of them
 * per sequence keeps a single label and still requires the model to select
 * the data tokens by content and keep their order.
 *
 * Token ids: 0 padding (unused: every example fills len), 1 noise, 2 .. T+1
 * the query markers Q1..QT, data tokens T+2 .. vocab-1 (D = vocab - T - 2,
 * drawn uniformly with replacement); classes = D (label = id - (T+2)).
 *
 * Why it separates mixers: a bag of tokens sees which data tokens occur and
 * which position is asked, but not their order, so it is near chance among
 * the T data tokens present; attention (with positions) can count and select.
 *
 * Every example is a pure function of (seed, split, index); the set is
 * generated into memory at open (no files, no cache). */
#include <stdio.h>
#include <stdlib.h>

#include "dataset.h"
#include "effbench/plugin.h"

enum { SC_NOISE = 1, SC_Q1 = 2 };

static const eb_param_decl selective_copy_params[] = {
    {"len", EB_P_INT, "64", "sequence length: body of len - 1 tokens + query marker",
     NULL},
    {"vocab", EB_P_INT, "16",
     "vocabulary incl. padding, noise and the query markers; the rest are data tokens",
     NULL},
    {"tokens", EB_P_INT, "4", "data tokens per sequence", NULL},
    {"train", EB_P_INT, "10000", "training examples", NULL},
    {"val", EB_P_INT, "1000", "validation examples", NULL},
    {"test", EB_P_INT, "1000", "test examples", NULL},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

typedef struct sc {
  int len, vocab, tokens, data;
} sc;

static int below(eb_rng *r, int n) {
  return (int)(((eb_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

/* tok[len] of example (split, i); returns its label */
static int32_t make_example(const sc *m, uint64_t seed, int split, int64_t i,
                            int32_t *tok) {
  eb_rng r =
      eb_rng_make(seed, 0x5E1C000000000000ull ^ ((uint64_t)split << 48) ^ (uint64_t)i);
  int body = m->len - 1, need = m->tokens, j = 1 + below(&r, m->tokens);
  int32_t label = 0;
  for (int t = 0; t < body; t++) { /* selection sampling: positions in order */
    if (below(&r, body - t) < need) {
      int d = below(&r, m->data);
      tok[t] = SC_Q1 + m->tokens + d;
      if (m->tokens - need + 1 == j) label = d;
      need--;
    } else {
      tok[t] = SC_NOISE;
    }
  }
  tok[body] = SC_Q1 + j - 1;
  return label;
}

static int selective_copy_open(const eb_args *a, uint64_t seed, void **data,
                               eb_task_info *info, char *err, size_t errlen) {
  int64_t len = eb_args_int(a, "len", 64), vocab = eb_args_int(a, "vocab", 16),
          tokens = eb_args_int(a, "tokens", 4);
  int64_t n[3] = {eb_args_int(a, "train", 10000), eb_args_int(a, "val", 1000),
                  eb_args_int(a, "test", 1000)};
  if (len < 2 || len > (1 << 20)) {
    snprintf(err, errlen, "task 'selective_copy': len must be in [2, %d], got %lld",
             1 << 20, (long long)len);
    return -1;
  }
  if (tokens < 1 || tokens > len - 1) {
    snprintf(err, errlen,
             "task 'selective_copy': tokens must be in [1, len - 1 = %lld], got %lld",
             (long long)(len - 1), (long long)tokens);
    return -1;
  }
  if (vocab < tokens + 4 || vocab > 65536) {
    snprintf(err, errlen,
             "task 'selective_copy': vocab must be in [tokens + 4 = %lld, 65536] "
             "(padding, noise, %lld query markers, >= 2 data tokens), got %lld",
             (long long)(tokens + 4), (long long)tokens, (long long)vocab);
    return -1;
  }
  static const char *const names[3] = {"train", "val", "test"};
  for (int s = 0; s < 3; s++)
    if (n[s] < 1 || n[s] > ((int64_t)1 << 31)) {
      snprintf(err, errlen, "task 'selective_copy': %s must be in [1, 2^31], got %lld",
               names[s], (long long)n[s]);
      return -1;
    }
  sc m = {(int)len, (int)vocab, (int)tokens, (int)(vocab - tokens - 2)};
  eb_dataset *d = calloc(1, sizeof *d);
  int32_t *tok = malloc((size_t)m.len * sizeof *tok);
  int rc = d && tok ? 0 : -1;
  if (rc) snprintf(err, errlen, "out of memory");
  for (int s = 0; rc == 0 && s < 3; s++) {
    rc = eb_split_alloc(&d->split[s], n[s], m.len, m.vocab > 256, 0, err, errlen);
    for (int64_t i = 0; rc == 0 && i < n[s]; i++) {
      int32_t label = make_example(&m, seed, s, i, tok);
      eb_split_set(&d->split[s], i, tok, m.len, NULL, 0, label);
    }
  }
  free(tok);
  if (!rc)
    rc = eb_source_generated(&d->src, "selective_copy-1", NULL, seed, a, err, errlen);
  if (rc) {
    if (d) eb_dataset_free(d);
    free(d);
    return -1;
  }
  d->info.vocab = m.vocab;
  d->info.classes = m.data;
  d->info.max_len = m.len;
  d->info.mode = EB_INPUT_SINGLE;
  d->info.n_train = n[0];
  d->info.n_val = n[1];
  d->info.n_test = n[2];
  *info = d->info;
  *data = d;
  return 0;
}

static int selective_copy_batch(void *data, eb_split split, int64_t index,
                                uint64_t epoch_seed, eb_batch *out, char *err,
                                size_t errlen) {
  return eb_dataset_batch(data, split, index, epoch_seed, out, err, errlen);
}

static const eb_data_source *selective_copy_source(void *data) {
  return eb_source_get(&((eb_dataset *)data)->src);
}

static void selective_copy_close(void *data) {
  eb_dataset_free(data);
  free(data);
}

const eb_task eb_task_selective_copy = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_task),
    .name = "selective_copy",
    .summary = "synthetic probe: selective copying, label = j-th data token among noise",
    .params = selective_copy_params,
    .open = selective_copy_open,
    .batch = selective_copy_batch,
    .close = selective_copy_close,
    .source = selective_copy_source,
};
