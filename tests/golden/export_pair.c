/* Test helper for golden_pair.test.sh: exports a pair (two-tower) model, as
 * the Retrieval task builds it (model/model.c, pair = 1), with one batch of
 * two towers, its logits, loss and every parameter gradient, in the format of
 * `effbench export --with-batch` plus batch.tokens2 / batch.mask2 and
 * "pair": true in the config; tests/golden/check_export.py recomputes it with
 * the PyTorch reference.
 *
 * usage: eb_golden_export_pair OUT.safetensors ARCH SEED POOL DIM DEPTH HEADS FFN
 *                              LEN BATCH VOCAB CLASSES [key=value ...]
 * Both towers are padded (tower 1's sequence b keeps N - b N / (2B) tokens,
 * tower 2's N - (B - 1 - b) N / (2B) - 1), so the masked paths run in each.
 * Exit 0 written, 1 failure, 2 bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "check.h"
#include "export.h"
#include "registry.h"
#include "safetensors.h"

static eb_st_entry f32(const char *name, const eb_tensor *t, const float *data) {
  eb_st_entry e = {name, "F32", t->ndim, {0}, data, (size_t)t->size * sizeof(float)};
  for (int d = 0; d < t->ndim; d++)
    e.shape[d] = t->shape[d];
  return e;
}

/* the model, batch, forward, backward and file; 0 or -1 with err */
static int export_pair(const char *path, const eb_arch *arch, const eb_args *args,
                       const eb_model_config *mc, int B, int N, int vocab, int classes,
                       uint64_t seed, char *err, size_t errlen) {
  eb_model m;
  if (eb_model_create(&m, arch, mc, args, vocab, classes, N, 1, seed, err, errlen))
    return -1;
  const int np = eb_params_count(m.P);
  eb_st_entry *e = calloc((size_t)(2 * np + 10), sizeof *e);
  char **gnames = calloc((size_t)np, sizeof *gnames);
  int32_t *tok = malloc((size_t)2 * B * N * sizeof *tok), *lab = malloc(B * sizeof *lab);
  uint8_t *mask = malloc((size_t)2 * B * N);
  eb_ctx *ctx = eb_ctx_create((size_t)16 << 20, seed);
  int rc = -1, n = 0;
  if (!e || !gnames || !tok || !lab || !mask || !ctx) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  eb_rng r = eb_rng_make(seed, 0xFA12);
  for (int t2 = 0; t2 < 2; t2++)
    for (int b = 0; b < B; b++) {
      const int keep = t2 == 0 ? N - b * N / (2 * B) : N - (B - 1 - b) * N / (2 * B) - 1;
      for (int t = 0; t < N; t++) {
        const size_t i = (size_t)t2 * B * N + (size_t)b * N + t;
        mask[i] = (uint8_t)(t < keep);
        tok[i] = mask[i] ? 1 + (int32_t)(eb_rng_u64(&r) % (uint64_t)(vocab - 1)) : 0;
      }
    }
  for (int b = 0; b < B; b++)
    lab[b] = (int32_t)(eb_rng_u64(&r) % (uint64_t)classes);
  eb_ctx_set_training(ctx, 0);
  eb_ctx_set_grad(ctx, 1);
  eb_params_zero_grad(m.P);
  const size_t bn = (size_t)B * N;
  eb_batch bt = {.B = B,
                 .N = N,
                 .tokens = tok,
                 .mask = mask,
                 .tokens2 = tok + bn,
                 .mask2 = mask + bn,
                 .labels = lab};
  eb_tensor *logits = eb_model_logits(&m, ctx, &bt, err, errlen);
  eb_tensor *loss = logits ? eb_cross_entropy(ctx, logits, lab, NULL) : NULL;
  if (!loss || eb_backward(ctx, loss)) {
    if (logits) snprintf(err, errlen, "forward/backward: %s", eb_ctx_error(ctx));
    goto done;
  }
  for (int i = 0; i < np; i++) {
    eb_tensor *p = eb_params_get(m.P, i);
    e[n++] = f32(p->name, p, p->data);
  }
  e[n++] = (eb_st_entry){"batch.tokens", "I32", 2, {B, N}, tok, bn * 4};
  e[n++] = (eb_st_entry){"batch.mask", "U8", 2, {B, N}, mask, bn};
  e[n++] = (eb_st_entry){"batch.tokens2", "I32", 2, {B, N}, tok + bn, bn * 4};
  e[n++] = (eb_st_entry){"batch.mask2", "U8", 2, {B, N}, mask + bn, bn};
  e[n++] = (eb_st_entry){"batch.labels", "I32", 1, {B}, lab, (size_t)B * 4};
  e[n++] = f32("out.logits", logits, logits->data);
  e[n++] = f32("out.loss", loss, loss->data);
  for (int i = 0; i < np; i++) {
    eb_tensor *p = eb_params_get(m.P, i);
    if (!p->requires_grad) continue; /* a buffer */
    const size_t len = strlen(p->name) + 6;
    if (!(gnames[i] = malloc(len))) {
      snprintf(err, errlen, "out of memory");
      goto done;
    }
    snprintf(gnames[i], len, "grad.%s", p->name);
    e[n++] = f32(gnames[i], p, p->grad);
  }
  char aj[2048], config[4096];
  eb_args_json(args, aj, sizeof aj);
  snprintf(
      config, sizeof config,
      "{\"arch\":\"%s\",\"dim\":%d,\"depth\":%d,\"heads\":%d,\"ffn\":%d,\"pool\":\"%s\","
      "\"dropout\":0,\"vocab\":%d,\"classes\":%d,\"max_len\":%d,\"seed\":%llu,"
      "\"batch\":%d,\"len\":%d,\"pair\":true,\"arch_params\":%s}",
      arch->name, mc->dim, mc->depth, mc->heads, mc->ffn,
      mc->pool == EB_POOL_CLS ? "cls" : "mean", vocab, classes, m.cfg.max_len,
      (unsigned long long)seed, B, N, aj);
  rc = eb_safetensors_write(path, e, n, config, err, errlen);
done:
  for (int i = 0; gnames && i < np; i++)
    free(gnames[i]);
  free(gnames);
  free(e);
  free(tok);
  free(lab);
  free(mask);
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 13) {
    fprintf(stderr,
            "usage: %s OUT ARCH SEED POOL DIM DEPTH HEADS FFN LEN BATCH VOCAB "
            "CLASSES [key=value ...]\n",
            argv[0]);
    return 2;
  }
  char err[EB_ERR_LEN];
  eb_registry *reg = eb_registry_create();
  if (!reg || eb_registry_add_builtins(reg, err, sizeof err)) {
    fprintf(stderr, "registry: %s\n", reg ? err : "out of memory");
    return 1;
  }
  const eb_arch *arch = eb_registry_find_arch(reg, argv[2]);
  if (!arch) {
    fprintf(stderr, "unknown arch '%s'\n", argv[2]);
    eb_registry_destroy(reg);
    return 2;
  }
  eb_model_config mc = {.dim = atoi(argv[5]),
                        .depth = atoi(argv[6]),
                        .heads = atoi(argv[7]),
                        .ffn = atoi(argv[8]),
                        .pool = strcmp(argv[4], "cls") == 0 ? EB_POOL_CLS : EB_POOL_MEAN};
  const char *kv[9] = {NULL};
  for (int i = 13; i < argc && i - 13 < 8; i++)
    kv[i - 13] = argv[i];
  char owner[96];
  snprintf(owner, sizeof owner, "arch '%s'", arch->name);
  eb_argset args;
  int rc = 1;
  if (eb_test_resolve_kv(&args, owner, arch->params, kv, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    eb_registry_destroy(reg);
    return 2;
  }
  if (export_pair(argv[1], arch, &args.args, &mc, atoi(argv[10]), atoi(argv[9]),
                  atoi(argv[11]), atoi(argv[12]), strtoull(argv[3], NULL, 10), err,
                  sizeof err))
    fprintf(stderr, "export_pair: %s\n", err);
  else
    rc = 0;
  eb_argset_free(&args);
  eb_registry_destroy(reg);
  return rc;
}
