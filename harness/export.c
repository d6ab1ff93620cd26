#include "export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "safetensors.h"

void eb_args_json_w(eb_json *w, const eb_args *args) {
  eb_json_open(w, '{');
  for (int i = 0; args && i < args->n; i++) {
    const eb_arg *a = &args->v[i];
    eb_json_key(w, a->name);
    switch (a->type) {
    case EB_P_INT: eb_json_int(w, (long long)a->i); break;
    case EB_P_FLOAT: eb_json_rawf(w, "%.9g", a->f); break;
    case EB_P_BOOL: eb_json_bool(w, a->i != 0); break;
    default: eb_json_string(w, a->s ? a->s : ""); break;
    }
  }
  eb_json_close(w);
}

void eb_args_json(const eb_args *args, char *buf, size_t len) {
  eb_sbuf b = {0};
  eb_json w;
  eb_json_init(&w, &b);
  eb_args_json_w(&w, args);
  snprintf(buf, len, "%s", b.oom || !b.p ? "" : b.p);
  free(b.p);
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
  eb_sbuf config = {0};
  eb_json w;
  eb_json_init(&w, &config);
  eb_json_open(&w, '{');
  eb_json_key(&w, "arch");
  eb_json_string(&w, arch->name);
  eb_json_key(&w, "dim");
  eb_json_int(&w, mcfg->dim);
  eb_json_key(&w, "depth");
  eb_json_int(&w, mcfg->depth);
  eb_json_key(&w, "heads");
  eb_json_int(&w, mcfg->heads);
  eb_json_key(&w, "ffn");
  eb_json_int(&w, mcfg->ffn);
  eb_json_key(&w, "pool");
  eb_json_string(&w, mcfg->pool == EB_POOL_CLS ? "cls" : "mean");
  eb_json_key(&w, "dropout");
  eb_json_rawf(&w, "%.9g", mcfg->dropout);
  eb_json_key(&w, "vocab");
  eb_json_int(&w, cfg->vocab);
  eb_json_key(&w, "classes");
  eb_json_int(&w, cfg->classes);
  eb_json_key(&w, "max_len");
  eb_json_int(&w, m.cfg.max_len);
  eb_json_key(&w, "seed");
  eb_json_rawf(&w, "%llu", (unsigned long long)cfg->seed);
  eb_json_key(&w, "batch");
  eb_json_int(&w, B);
  eb_json_key(&w, "len");
  eb_json_int(&w, N);
  eb_json_key(&w, "arch_params");
  eb_args_json_w(&w, args);
  eb_json_close(&w);
  if (config.oom) {
    snprintf(err, errlen, "out of memory");
    rc = EB_NOMEM;
    free(config.p);
    goto done;
  }
  rc = eb_safetensors_write(cfg->path, e, n, config.p, err, errlen);
  free(config.p);
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
