/* wide: the wide/shallow Transformer of Brown et al. 2022 ("Wide Attention Is
 * The Way Forward For Transformers?"): a single pre-LN block with many heads,
 * inside the same embedding, pooling and head as every other model.
 *
 * The block is vanilla's (same parameter names blocks.0.*, same FLOPs): wide
 * builds it through vanilla's public table with depth 1 and its own head count.
 * How the shared model settings apply: the block is always one layer, and
 * its head count is the `heads` parameter. Its default, auto, is model.depth x
 * model.heads: the paper compares a wide layer with the deep model of the same
 * total number of heads (depth x heads held fixed), so the suite's depth and
 * heads describe the deep baseline the wide model stands beside. An integer
 * sets the count directly. model.dim, ffn, dropout and pool apply as usual;
 * each head gets dim/heads channels, as in the paper's setup.
 */
#include <stdio.h>

#include "effbench/plugin.h"

extern const eb_arch eb_arch_vanilla;

static const eb_param_decl wide_params[] = {
    {"heads", EB_P_INT, "auto",
     "attention heads of the single layer; auto = model.depth x model.heads (the deep "
     "baseline's total); must divide model.dim",
     "auto"},
    {"attention", EB_P_STRING, "blockwise",
     "attention kernel: blockwise (online softmax, O(N) memory) or naive (stores the "
     "N x N probabilities)",
     "blockwise|naive"},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

/* The resolved head count: the parameter, or for auto (0) model.depth x
 * model.heads. The suite writes this number into the run's configuration, so
 * a run key names the heads the model really has. */
int64_t eb_wide_heads(const eb_model_config *cfg, const eb_args *args) {
  const int64_t h = eb_args_int(args, "heads", 0);
  return h != 0 ? h : (int64_t)cfg->depth * cfg->heads;
}

/* the vanilla config wide runs: depth 1, the resolved heads */
static eb_model_config wide_cfg(const eb_model_config *cfg, const eb_args *args) {
  eb_model_config c = *cfg;
  c.depth = 1;
  c.heads = (int)eb_wide_heads(cfg, args);
  return c;
}

static int wide_validate(const eb_model_config *cfg, const eb_args *args, char *err,
                         size_t errlen) {
  const int64_t h = eb_wide_heads(cfg, args);
  const int is_auto = eb_args_int(args, "heads", 0) == 0;
  if (h < 1 || h > cfg->dim || cfg->dim % h != 0) {
    char from[96] = "";
    if (is_auto)
      snprintf(from, sizeof from, " (auto: model.depth %d x model.heads %d)", cfg->depth,
               cfg->heads);
    snprintf(err, errlen,
             "parameter heads = %lld%s: must divide model.dim = %d (each head gets "
             "dim/heads channels)",
             (long long)h, from, cfg->dim);
    return -1;
  }
  return 0;
}

static int wide_create(const eb_model_config *cfg, const eb_args *args, eb_params *P,
                       void **model, char *err, size_t errlen) {
  if (wide_validate(cfg, args, err, errlen)) return -1;
  eb_model_config c = wide_cfg(cfg, args);
  return eb_arch_vanilla.create(&c, args, P, model, err, errlen);
}

static double wide_flops(const eb_model_config *cfg, const eb_args *args, int B, int N,
                         int training) {
  eb_model_config c = wide_cfg(cfg, args);
  return eb_arch_vanilla.flops(&c, args, B, N, training);
}

static int wide_gemm_flops(const eb_model_config *cfg, const eb_args *args, int B, int N,
                           int training, double *model, double *executed) {
  eb_model_config c = wide_cfg(cfg, args);
  return eb_arch_vanilla.gemm_flops(&c, args, B, N, training, model, executed);
}

/* x[B,N,D], mask[B*N] -> out[B,N,D]: vanilla's forward (its state holds the
 * depth-1 config) */
static int wide_forward(void *model, eb_ctx *ctx, eb_tensor *x, const uint8_t *mask,
                        eb_tensor **out, char *err, size_t errlen) {
  return eb_arch_vanilla.forward(model, ctx, x, mask, out, err, errlen);
}

static void wide_destroy(void *model) { eb_arch_vanilla.destroy(model); }

const eb_arch eb_arch_wide = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_arch),
    .name = "wide",
    .summary = "wide/shallow Transformer: one pre-LN layer with depth x heads heads "
               "[heads=auto]",
    .params = wide_params,
    .validate = wide_validate,
    .create = wide_create,
    .forward = wide_forward,
    .flops = wide_flops,
    .destroy = wide_destroy,
    .gemm_flops = wide_gemm_flops,
};
