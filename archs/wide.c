/* wide: the wide/shallow Transformer of Brown et al. 2022 ("Wide Attention Is
 * The Way Forward For Transformers?"): a single pre-LN block with many heads,
 * inside the same embedding, pooling and head as every other model.
 *
 * The block is vanilla's (same parameter names blocks.0.*, same FLOPs): wide
 * builds it through vanilla's public table with depth 1 and its own head count.
 * How the shared model settings apply: model.depth is ignored (always one
 * layer) and model.heads is replaced by the `heads` parameter (default 16);
 * model.dim, ffn, dropout and pool apply as usual. The width is the number of
 * heads at a fixed dim (dim/heads channels each), as in the paper's setup.
 */
#include <stdio.h>

#include "effbench/plugin.h"

extern const eb_arch eb_arch_vanilla;

static const eb_param_decl wide_params[] = {
    {"heads", EB_P_INT, "16",
     "attention heads of the single layer (replaces model.heads; must divide model.dim)",
     NULL},
    {"attention", EB_P_STRING, "blockwise",
     "attention kernel: blockwise (online softmax, O(N) memory) or naive (stores the "
     "N x N probabilities)",
     "blockwise|naive"},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

/* the vanilla config wide runs: depth 1, heads from the parameter */
static eb_model_config wide_cfg(const eb_model_config *cfg, const eb_args *args) {
  eb_model_config c = *cfg;
  c.depth = 1;
  c.heads = (int)eb_args_int(args, "heads", 16);
  return c;
}

static int wide_validate(const eb_model_config *cfg, const eb_args *args, char *err,
                         size_t errlen) {
  const int64_t h = eb_args_int(args, "heads", 16);
  if (h < 1 || h > cfg->dim || cfg->dim % h != 0) {
    snprintf(
        err, errlen,
        "parameter heads = %lld: must divide model.dim = %d (each head gets dim/heads "
        "channels)",
        (long long)h, cfg->dim);
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
    .summary = "wide/shallow Transformer: one pre-LN layer with many heads [heads=16]",
    .params = wide_params,
    .validate = wide_validate,
    .create = wide_create,
    .forward = wide_forward,
    .flops = wide_flops,
    .destroy = wide_destroy,
    .gemm_flops = wide_gemm_flops,
};
