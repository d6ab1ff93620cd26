/* The architecture table as the first ABI-1 header (before `stat_decls` was
 * appended) declared it, member for member: a plugin built against that
 * header registers a table of this size. tokenmlp.c -DTOKENMLP_V1 uses it to
 * check that such a plugin still loads (tests/test_registry.c,
 * tests/report_stats.test.sh). Never change it: it is history. */
#ifndef EFFBENCH_TEST_ARCH_V1_H
#define EFFBENCH_TEST_ARCH_V1_H

#include "effbench/plugin.h"

typedef struct eb_arch_v1 {
  int abi_version;
  size_t struct_size;
  const char *name;
  const char *summary;
  const eb_param_decl *params;
  int (*validate)(const eb_model_config *cfg, const eb_args *args, char *err,
                  size_t errlen);
  int (*create)(const eb_model_config *cfg, const eb_args *args, eb_params *P,
                void **model, char *err, size_t errlen);
  int (*forward)(void *model, eb_ctx *ctx, eb_tensor *x, const uint8_t *mask,
                 eb_tensor **out, char *err, size_t errlen);
  double (*flops)(const eb_model_config *cfg, const eb_args *args, int B, int N,
                  int training);
  void (*stats)(void *model, eb_stat_sink *sink);
  eb_tensor *(*aux_loss)(void *model, eb_ctx *ctx);
  void (*destroy)(void *model);
  int (*gemm_flops)(const eb_model_config *cfg, const eb_args *args, int B, int N,
                    int training, double *model, double *executed);
} eb_arch_v1;

_Static_assert(sizeof(eb_arch_v1) == EB_ARCH_SIZE_V1,
               "the first ABI-1 table ends where stat_decls begins");

#endif
