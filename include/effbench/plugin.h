/* effbench plugin ABI: architectures and tasks as tables of function pointers.
 *
 * A plugin is a shared object exporting one symbol:
 *
 *   int effbench_plugin_init(eb_registry *reg, int host_abi_version);
 *
 * which calls eb_register_arch / eb_register_task for each thing it provides
 * and returns 0. Built-ins register through exactly the same calls.
 *
 * Compatibility rule: every table records EFFBENCH_ABI_VERSION, which holds
 * the plugin ABI generation and the core API version (core.h) of the headers
 * it was compiled with; the registry accepts a table of the same generation
 * and core API major whose minor is not newer than the host's. New members
 * are only ever appended at the end (a minor change), and struct_size lets
 * the host see how much of a table the plugin knows.
 */
#ifndef EFFBENCH_PLUGIN_H
#define EFFBENCH_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "effbench/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The plugin ABI generation: how a table's abi_version and the entry point's
 * host_abi_version are to be read. Generation 1 recorded the plain number 1
 * and no core API version; such tables are refused (rebuild the plugin).
 * Changes only when that encoding or the entry point changes: what the
 * headers declare is versioned by EB_CORE_API_MAJOR/MINOR (core.h). */
#define EB_PLUGIN_ABI 2

/* abi_version = generation * 1000000 + core major * 1000 + core minor, e.g.
 * 2001000 for generation 2 with core API 1.0 (the order of the numbers is
 * the order of the versions), and its parts. */
#define EB_ABI_ENCODE(gen, major, minor) ((gen)*1000000 + (major)*1000 + (minor))
#define EB_ABI_GENERATION(v) ((v) / 1000000)
#define EB_ABI_CORE_MAJOR(v) ((v) / 1000 % 1000)
#define EB_ABI_CORE_MINOR(v) ((v) % 1000)

/* What a plugin records in its tables (abi_version) and what the host passes
 * to effbench_plugin_init (host_abi_version). */
#define EFFBENCH_ABI_VERSION                                                             \
  EB_ABI_ENCODE(EB_PLUGIN_ABI, EB_CORE_API_MAJOR, EB_CORE_API_MINOR)

/* Whether a host of abi_version `host` runs code compiled with abi_version
 * `built`: the same generation and core API major, and a minor no newer than
 * the host's (a newer one may use what this host lacks, or set table members
 * it would not read). The registry applies it to every table; a plugin that
 * registers nothing and only runs code in its entry point applies it to
 * host_abi_version itself. */
#define EB_ABI_COMPATIBLE(host, built)                                                   \
  (EB_ABI_GENERATION(built) == EB_ABI_GENERATION(host) &&                                \
   EB_ABI_CORE_MAJOR(built) == EB_ABI_CORE_MAJOR(host) &&                                \
   EB_ABI_CORE_MINOR(built) <= EB_ABI_CORE_MINOR(host))

/* ------------------------------------------------- declared parameters --- */
typedef enum eb_ptype {
  EB_P_END = 0, /* sentinel */
  EB_P_INT,
  EB_P_FLOAT,
  EB_P_BOOL,
  EB_P_STRING,
} eb_ptype;

typedef struct eb_param_decl {
  const char *name;
  eb_ptype type;
  const char *def;  /* default, as text ("256", "0.1", "true", "none") */
  const char *help; /* one line */
  /* EB_P_STRING: "a|b|c", or NULL for free text. EB_P_INT: "auto" lets the
   * value be the word auto, passed to the arch as 0 (the arch resolves it). */
  const char *choices;
} eb_param_decl;

/* Resolved values of declared parameters (defaults applied, types checked). */
typedef struct eb_arg {
  const char *name;
  eb_ptype type;
  int64_t i; /* INT, BOOL */
  double f;  /* FLOAT */
  const char *s;
} eb_arg;

typedef struct eb_args {
  int n;
  const eb_arg *v;
} eb_args;

/* Lookup helpers (the name must be declared; undeclared names abort nothing,
 * they return the fallback). */
int64_t eb_args_int(const eb_args *a, const char *name, int64_t fallback);
double eb_args_float(const eb_args *a, const char *name, double fallback);
const char *eb_args_str(const eb_args *a, const char *name, const char *fallback);

/* ------------------------------------------------------- architecture --- */
typedef enum eb_pool { EB_POOL_MEAN = 0, EB_POOL_CLS = 1 } eb_pool;
/* positional embedding: a learned table (embed.pos) or the fixed sinusoids of
 * Vaswani et al. 2017 (no parameters) */
typedef enum eb_positions { EB_POS_LEARNED = 0, EB_POS_SINUSOIDAL = 1 } eb_positions;
/* classifier head on the pooled vector: one linear layer, or LRA's
 * Dense(width) -> ReLU -> Dense(classes) */
typedef enum eb_head { EB_HEAD_LINEAR = 0, EB_HEAD_MLP = 1 } eb_head;

/* Model settings shared by every architecture (the YAML `model:` section). */
typedef struct eb_model_config {
  int dim, depth, heads, ffn;
  float dropout;
  eb_pool pool;
  int max_len; /* longest sequence the model will see (incl. CLS) */
  /* Appended (LRA protocol options), all off when zero. An architecture
   * applies the two dropouts where it has the tensor, and refuses them in
   * validate where it has not (e.g. no attention probabilities). */
  float attention_dropout; /* on the attention probabilities (training only) */
  float mlp_dropout;       /* on the MLP hidden activation after its nonlinearity */
  eb_positions positions;  /* the shared model's; archs may ignore it */
  eb_head head;            /* the shared model's; archs may ignore it */
  int head_width;          /* EB_HEAD_MLP hidden width; 0 = ffn */
} eb_model_config;

typedef struct eb_stat_sink {
  void *user;
  void (*emit)(void *user, const char *name, double value);
} eb_stat_sink;

/* How `effbench report` turns the values a run recorded for one stat (one
 * per recorded step, table run_stats) into that run's number; a table cell is
 * then the mean ± std of it over seeds. */
typedef enum eb_stat_agg {
  EB_STAT_MEAN = 0, /* mean over the run's recorded steps */
  EB_STAT_LAST,     /* the value at the run's last recorded step */
  EB_STAT_SUM,      /* sum over the recorded steps */
  EB_STAT_MIN,      /* smallest recorded value */
  EB_STAT_MAX,      /* largest recorded value */
} eb_stat_agg;

/* A stat an architecture's `stats` emits, declared for the report (one
 * column of `effbench report --table stats`). Tables of them end with an entry
 * whose name is NULL. */
typedef struct eb_stat_decl {
  const char *name;  /* as passed to eb_stat_sink.emit */
  const char *label; /* column header, short ("load max/mean"); NULL = name */
  /* shown after the label, "dropped (%)": free text ("ms", "tokens"), NULL
   * or "" for none; "%" means the value is a fraction, shown times 100 */
  const char *unit;
  eb_stat_agg agg;
  const char *help; /* one line for the table's caption; NULL = none */
} eb_stat_decl;

typedef struct eb_arch {
  int abi_version;    /* EFFBENCH_ABI_VERSION of the plugin's build */
  size_t struct_size; /* sizeof(eb_arch) of the plugin's build */
  const char *name;
  const char *summary;
  const eb_param_decl *params; /* terminated by {NULL, EB_P_END, ...} */

  /* Check parameter values against the model config before anything is built:
   * return 0 or fill err with "why" (optional). cfg->max_len is 0 when the
   * sequence length is not known yet (a suite is validated before its data is
   * opened): skip length checks then; they run again when the model is built. */
  int (*validate)(const eb_model_config *cfg, const eb_args *args, char *err,
                  size_t errlen);
  /* Declare parameters in P (eb_param) and return the model state. */
  int (*create)(const eb_model_config *cfg, const eb_args *args, eb_params *P,
                void **model, char *err, size_t errlen);
  /* x[B,N,D] -> *out[B,N,D]; mask[B*N] 1 = real token (NULL = all real). */
  int (*forward)(void *model, eb_ctx *ctx, eb_tensor *x, const uint8_t *mask,
                 eb_tensor **out, char *err, size_t errlen);
  /* Analytic FLOPs of the blocks for a batch x[B,N,D] without padding, in the
   * op conventions of docs/flops.md: the forward pass (training == 0) or
   * forward + backward with x requiring a gradient (training == 1; dropout
   * counts when cfg->dropout > 0). Optional; -1 or NULL = unknown. */
  double (*flops)(const eb_model_config *cfg, const eb_args *args, int B, int N,
                  int training);
  /* Extra metrics of the last forward (optional). */
  void (*stats)(void *model, eb_stat_sink *sink);
  /* Add to the training loss (e.g. MoE load balancing); NULL = none. */
  eb_tensor *(*aux_loss)(void *model, eb_ctx *ctx);
  void (*destroy)(void *model);
  /* Analytic GEMM FLOPs of the blocks for a batch x[B,N,D] without padding:
   * 2*m*n*k of every matrix product the forward (training == 0) or forward +
   * backward (training == 1, x requiring a gradient) runs, which is what
   * eb_ctx_gemm_flops counts (docs/flops.md, "GEMM FLOPs"). *executed includes
   * the products the backward recomputes, *model leaves them out (equal when
   * training == 0). Return 0, or -1 when unknown. Optional (NULL = unknown);
   * `effbench check` and the tests compare it with the counter exactly. */
  int (*gemm_flops)(const eb_model_config *cfg, const eb_args *args, int B, int N,
                    int training, double *model, double *executed);
  /* --- appended during ABI generation 1: a table that ends before this
   * member (struct_size == EB_ARCH_SIZE_V1) is still accepted, and the host
   * reads it only when struct_size covers it, as it reads every member
   * appended in a minor version of the core API. */
  /* The stats `stats` emits that reports show, in column order, ended by
   * {NULL}. Optional: NULL (or an older table) shows whatever the arch
   * recorded under its stat names, each the mean over steps. Emitted but
   * undeclared stats of a declaring arch are stored, not shown. */
  const eb_stat_decl *stat_decls;
} eb_arch;

/* sizeof(eb_arch) of the first ABI-1 header (up to and including
 * `gemm_flops`): the smallest architecture table the registry accepts. */
#define EB_ARCH_SIZE_V1 offsetof(eb_arch, stat_decls)

/* ---------------------------------------------------------------- task --- */
typedef enum eb_input_mode { EB_INPUT_SINGLE = 0, EB_INPUT_PAIR = 1 } eb_input_mode;
typedef enum eb_split {
  EB_SPLIT_TRAIN = 0,
  EB_SPLIT_VAL = 1,
  EB_SPLIT_TEST = 2
} eb_split;

/* One batch: tokens[B*N] (pair mode: tokens2 too), mask[B*N], labels[B].
 * Buffers are owned by the caller and sized B*N by the caller. */
typedef struct eb_batch {
  int B, N;
  int32_t *tokens;
  uint8_t *mask;
  int32_t *tokens2; /* pair mode only */
  uint8_t *mask2;
  int32_t *labels;
  int64_t real_tokens; /* filled by the task: number of mask==1 entries */
} eb_batch;

typedef struct eb_task_info {
  int vocab; /* token ids in [0,vocab) ; 0 is padding */
  int classes;
  int max_len; /* padded length N of every batch */
  eb_input_mode mode;
  int64_t n_train, n_val, n_test; /* 0 = endless generator */
} eb_task_info;

/* Where the opened data came from (provenance), stored with every run and
 * printed by report and plot. The strings are owned by the task's data and
 * stay valid until close(). */
typedef struct eb_data_source {
  /* What report and plot compare: runs of one task column whose kinds differ
   * are not averaged together unless asked (--mix-sources). "generated" (an
   * offline generator), "official" (the paper's data in its official file
   * format), "substitute:NAME" (a stand-in for the paper's data set, e.g.
   * substitute:fashion-mnist for CIFAR-10), "files:FORMAT" (other files). */
  const char *kind;
  /* Short text for table headers and figure captions: "generated, seed 7",
   * "Fashion-MNIST substitute", "official files, sha256 1a2b3c4d". */
  const char *label;
  /* One JSON object with the details: for generated data the generator (name
   * and version), rule, seed and every parameter that shapes it; for files
   * the root directory, each file's path, byte size and SHA-256 (or, for many
   * files, their count, total size and the SHA-256 of their manifest). */
  const char *detail;
} eb_data_source;

typedef struct eb_task {
  int abi_version;
  size_t struct_size;
  const char *name;
  const char *summary;
  const eb_param_decl *params;
  /* Open the data (generate or load), fill info. */
  int (*open)(const eb_args *args, uint64_t seed, void **data, eb_task_info *info,
              char *err, size_t errlen);
  /* Fill batch (B, N preset by the caller, N == info.max_len) with examples
   * [index*B, index*B+B) of a split, wrapping around; training batches may
   * shuffle by `epoch_seed`. Returns 0 or fills err. */
  int (*batch)(void *data, eb_split split, int64_t index, uint64_t epoch_seed,
               eb_batch *out, char *err, size_t errlen);
  void (*close)(void *data);
  /* Write the opened data set into directory `dir` in the task's official
   * file format (`effbench data`), so that loading it back gives the same
   * examples. Optional (NULL: the task has no file format). */
  int (*write)(void *data, const char *dir, char *err, size_t errlen);
  /* --- appended during ABI generation 1: a table that ends before these
   * members (struct_size == EB_TASK_SIZE_V1) is still accepted, and the host
   * reads them only when struct_size covers them, as it reads every member
   * appended in a minor version of the core API. */
  /* The data source of the opened data (optional: NULL, or a NULL return,
   * records the source as "unreported"). */
  const eb_data_source *(*source)(void *data);
} eb_task;

/* sizeof(eb_task) of the first ABI-1 header (up to and including `write`):
 * the smallest task table the registry accepts. */
#define EB_TASK_SIZE_V1 offsetof(eb_task, source)

/* ------------------------------------------------------------ registry --- */
typedef struct eb_registry eb_registry;

/* Return 0, or fill the registry's error (ABI mismatch, duplicate name). */
int eb_register_arch(eb_registry *reg, const eb_arch *arch);
int eb_register_task(eb_registry *reg, const eb_task *task);

typedef int (*eb_plugin_init_fn)(eb_registry *reg, int host_abi_version);
#define EFFBENCH_PLUGIN_INIT_SYMBOL "effbench_plugin_init"

#ifdef __cplusplus
}
#endif
#endif
