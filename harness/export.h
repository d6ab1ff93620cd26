/* `effbench export`: parameters (and optionally one batch, its logits, loss
 * and all parameter gradients) as safetensors, for cross-checks. */
#ifndef EFFBENCH_EXPORT_H
#define EFFBENCH_EXPORT_H

#include "json.h"
#include "model.h"

typedef struct eb_export_cfg {
  int vocab, classes, len, batch;
  uint64_t seed;
  int with_batch;
  const char *path;
} eb_export_cfg;

/* EB_OK, or the kind with err: EB_INPUT (the model is invalid), EB_NOMEM,
 * EB_IO (the file), or the kind of the failed forward or backward pass. */
int eb_export(const eb_arch *arch, const eb_args *args, const eb_model_config *mcfg,
              const eb_export_cfg *cfg, char *err, size_t errlen);

/* The arch parameters as a JSON object ({"k":v,...}, floats "%.9g"), in the
 * order declared: written by w, or into buf (cut to len). */
void eb_args_json_w(eb_json *w, const eb_args *args);
void eb_args_json(const eb_args *args, char *buf, size_t len);

#endif
