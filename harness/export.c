#include "export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "safetensors.h"

void eb_args_json(const eb_args *args, char *buf, size_t len) {
  size_t off = snprintf(buf, len, "{");
  for (int i = 0; args && i < args->n && off < len; i++) {
    const eb_arg *a = &args->v[i];
    off += snprintf(buf + off, len - off, "%s\"%s\":", i ? "," : "", a->name);
    if (off >= len) break;
    switch (a->type) {
    case EB_P_INT: off += snprintf(buf + off, len - off, "%lld", (long long)a->i); break;
    case EB_P_FLOAT: off += snprintf(buf + off, len - off, "%.9g", a->f); break;
    case EB_P_BOOL:
      off += snprintf(buf + off, len - off, "%s", a->i ? "true" : "false");
      break;
    default: off += snprintf(buf + off, len - off, "\"%s\"", a->s ? a->s : ""); break;
    }
  }
  if (off < len) snprintf(buf + off, len - off, "}");
}

static eb_st_entry f32(const char *name, const eb_tensor *t, const float *data) {
  eb_st_entry e = {name, "F32", t->ndim, {0}, data, (size_t)t->size * sizeof(float)};
  for (int d = 0; d < t->ndim; d++)
    e.shape[d] = t->shape[d];
  return e;
}

int eb_export(const eb_arch *arch, const eb_args *args, const eb_model_config *mcfg,
              const eb_export_cfg *cfg, char *err, size_t errlen) {
  eb_model m;
  int rc = eb_model_create(&m, arch, mcfg, args, cfg->vocab, cfg->classes, cfg->len, 0,
                           cfg->seed, err, errlen);
  if (rc) return rc;
  const int np = eb_params_count(m.P);
  const int B = cfg->batch, N = cfg->len;
  eb_st_entry *e = calloc((size_t)(2 * np + 8), sizeof *e);
  char **gnames = calloc((size_t)np, sizeof *gnames);
  int32_t *tokens = malloc((size_t)B * N * sizeof *tokens);
  int32_t *labels = malloc((size_t)B * sizeof *labels);
  uint8_t *mask = malloc((size_t)B * N);
  eb_ctx *ctx = eb_ctx_create((size_t)16 << 20, cfg->seed);
  int n = 0;
  rc = EB_NOMEM;
  if (!e || !gnames || !tokens || !labels || !mask || !ctx) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  for (int i = 0; i < np; i++) {
    eb_tensor *p = eb_params_get(m.P, i);
    e[n++] = f32(p->name, p, p->data);
  }
  if (cfg->with_batch) {
    eb_fill_padded_batch(tokens, mask, labels, B, N, cfg->vocab, cfg->classes, cfg->seed);
    eb_ctx_set_training(ctx, 0); /* no dropout: the check must be deterministic */
    eb_ctx_set_grad(ctx, 1);
    eb_params_zero_grad(m.P);
    eb_batch bt = {.B = B, .N = N, .tokens = tokens, .mask = mask, .labels = labels};
    eb_tensor *logits = eb_model_logits(&m, ctx, &bt, err, errlen);
    eb_tensor *loss = logits ? eb_cross_entropy(ctx, logits, labels, NULL) : NULL;
    if (!loss || eb_backward(ctx, loss)) {
      if (logits) snprintf(err, errlen, "export: %s", eb_ctx_error(ctx));
      rc = eb_ctx_rc(ctx);
      goto done;
    }
    e[n++] = (eb_st_entry){"batch.tokens", "I32", 2, {B, N}, tokens, (size_t)B * N * 4};
    e[n++] = (eb_st_entry){"batch.mask", "U8", 2, {B, N}, mask, (size_t)B * N};
    e[n++] = (eb_st_entry){"batch.labels", "I32", 1, {B}, labels, (size_t)B * 4};
    e[n++] = f32("out.logits", logits, logits->data);
    e[n++] = f32("out.loss", loss, loss->data);
    for (int i = 0; i < np; i++) {
      eb_tensor *p = eb_params_get(m.P, i);
      if (!p->requires_grad) continue; /* a buffer: no gradient */
      size_t len = strlen(p->name) + 6;
      gnames[i] = malloc(len);
      if (!gnames[i]) {
        snprintf(err, errlen, "out of memory");
        goto done;
      }
      snprintf(gnames[i], len, "grad.%s", p->name);
      e[n++] = f32(gnames[i], p, p->grad);
    }
  }
  char aj[2048], config[4096];
  eb_args_json(args, aj, sizeof aj);
  snprintf(
      config, sizeof config,
      "{\"arch\":\"%s\",\"dim\":%d,\"depth\":%d,\"heads\":%d,\"ffn\":%d,\"pool\":\"%s\","
      "\"dropout\":%.9g,\"vocab\":%d,\"classes\":%d,\"max_len\":%d,\"seed\":%llu,"
      "\"batch\":%d,\"len\":%d,\"arch_params\":%s}",
      arch->name, mcfg->dim, mcfg->depth, mcfg->heads, mcfg->ffn,
      mcfg->pool == EB_POOL_CLS ? "cls" : "mean", mcfg->dropout, cfg->vocab, cfg->classes,
      m.cfg.max_len, (unsigned long long)cfg->seed, B, N, aj);
  rc = eb_safetensors_write(cfg->path, e, n, config, err, errlen);
done:
  if (gnames)
    for (int i = 0; i < np; i++)
      free(gnames[i]);
  free(gnames);
  free(e);
  free(tokens);
  free(labels);
  free(mask);
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m);
  return rc;
}
