/* majority: a small built-in synthetic classification task used to prove the
 * engine learns, with no data files. Each sequence mixes "class" tokens
 * (ids 1..classes) and noise tokens (ids classes+1..vocab-1); the label is the
 * most frequent class token (ties go to the smaller id). Lengths vary between
 * min_len and len, so batches carry padding. Every example is a pure function
 * of (seed, split, index). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effbench/plugin.h"
#include "source.h"

#define MAX_CLASSES 255 /* a small probe: counts live on the stack */

static const eb_param_decl majority_params[] = {
    {"len", EB_P_INT, "64", "maximum sequence length (padded length)", NULL},
    {"min_len", EB_P_INT, "0", "minimum sequence length (0 = len/2)", NULL},
    {"vocab", EB_P_INT, "16", "vocabulary size including padding id 0", NULL},
    {"classes", EB_P_INT, "4", "number of classes, 2..255 (class tokens 1..classes)",
     NULL},
    {"train", EB_P_INT, "8192", "training examples", NULL},
    {"val", EB_P_INT, "512", "validation examples", NULL},
    {"test", EB_P_INT, "512", "test examples", NULL},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

typedef struct majority {
  int len, min_len, vocab, classes;
  int64_t n[3];
  uint64_t seed;
  eb_source_info src;
} majority;

static int majority_open(const eb_args *a, uint64_t seed, void **data, eb_task_info *info,
                         char *err, size_t errlen) {
  majority m = {0};
  m.len = (int)eb_args_int(a, "len", 64);
  m.min_len = (int)eb_args_int(a, "min_len", 0);
  m.vocab = (int)eb_args_int(a, "vocab", 16);
  m.classes = (int)eb_args_int(a, "classes", 4);
  m.n[0] = eb_args_int(a, "train", 8192);
  m.n[1] = eb_args_int(a, "val", 512);
  m.n[2] = eb_args_int(a, "test", 512);
  m.seed = seed;
  if (m.min_len == 0) m.min_len = m.len / 2 > 0 ? m.len / 2 : 1;
  if (m.len < 1 || m.min_len < 1 || m.min_len > m.len) {
    snprintf(err, errlen, "task 'majority': need 1 <= min_len (%d) <= len (%d)",
             m.min_len, m.len);
    return -1;
  }
  if (m.classes < 2 || m.classes > MAX_CLASSES || m.vocab < m.classes + 1) {
    snprintf(err, errlen,
             "task 'majority': need 2 <= classes <= %d and vocab >= classes + 1 (classes "
             "%d, vocab %d)",
             MAX_CLASSES, m.classes, m.vocab);
    return -1;
  }
  for (int s = 0; s < 3; s++)
    if (m.n[s] < 1) {
      snprintf(err, errlen, "task 'majority': train, val and test must be >= 1");
      return -1;
    }
  majority *p = malloc(sizeof *p);
  if (!p) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  *p = m;
  memset(&p->src, 0, sizeof p->src);
  if (eb_source_generated(&p->src, "majority-1", NULL, seed, a, err, errlen)) {
    free(p);
    return -1;
  }
  *data = p;
  info->vocab = m.vocab;
  info->classes = m.classes;
  info->max_len = m.len;
  info->mode = EB_INPUT_SINGLE;
  info->n_train = m.n[0];
  info->n_val = m.n[1];
  info->n_test = m.n[2];
  return 0;
}

/* one example: tokens[len] (0-padded), mask[len]; returns its label */
static int32_t make_example(const majority *m, int split, int64_t idx, int32_t *tok,
                            uint8_t *mask) {
  eb_rng r = eb_rng_make(m->seed, ((uint64_t)split << 48) ^ (uint64_t)idx);
  int n = m->min_len + (int)(eb_rng_uniform(&r) * (m->len - m->min_len + 1));
  if (n > m->len) n = m->len;
  int favourite = 1 + (int)(eb_rng_uniform(&r) * m->classes);
  int counts[MAX_CLASSES + 1] = {0};
  int noise = m->vocab - 1 - m->classes;
  for (int t = 0; t < m->len; t++) {
    if (t >= n) {
      tok[t] = 0;
      mask[t] = 0;
      continue;
    }
    float u = eb_rng_uniform(&r);
    int id;
    if (noise > 0 && u < 0.3f)
      id = m->classes + 1 + (int)(eb_rng_uniform(&r) * noise) % noise;
    else if (u < 0.55f)
      id = favourite;
    else
      id = 1 + (int)(eb_rng_uniform(&r) * m->classes) % m->classes;
    tok[t] = id;
    mask[t] = 1;
    if (id <= m->classes) counts[id]++;
  }
  int best = 1;
  for (int c = 2; c <= m->classes; c++)
    if (counts[c] > counts[best]) best = c;
  return best - 1;
}

static int majority_batch(void *data, eb_split split, int64_t index, uint64_t epoch_seed,
                          eb_batch *out, char *err, size_t errlen) {
  const majority *m = data;
  if (out->N != m->len) {
    snprintf(err, errlen, "task 'majority': batch length %d != task length %d", out->N,
             m->len);
    return -1;
  }
  int64_t n = m->n[split];
  out->real_tokens = 0;
  for (int b = 0; b < out->B; b++) {
    int64_t k = index * out->B + b;
    int64_t idx =
        split == EB_SPLIT_TRAIN
            ? (int64_t)(eb_rng_hash(epoch_seed, 0x7A11, (uint64_t)k) % (uint64_t)n)
            : k % n;
    int32_t *tok = out->tokens + (size_t)b * m->len;
    uint8_t *mask = out->mask + (size_t)b * m->len;
    out->labels[b] = make_example(m, (int)split, idx, tok, mask);
    for (int t = 0; t < m->len; t++)
      out->real_tokens += mask[t];
  }
  return 0;
}

static const eb_data_source *majority_source(void *data) {
  return eb_source_get(&((majority *)data)->src);
}

static void majority_close(void *data) {
  majority *m = data;
  if (m) eb_source_free(&m->src);
  free(m);
}

const eb_task eb_task_majority = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_task),
    .name = "majority",
    .summary =
        "synthetic: label = most frequent class token among noise (built-in check)",
    .params = majority_params,
    .open = majority_open,
    .batch = majority_batch,
    .close = majority_close,
    .source = majority_source,
};
