/* Suites: the YAML file of DESIGN.md §4, validated strictly and expanded into
 * a grid of fully resolved runs, each with a stable key (a hash of its
 * canonical JSON configuration). */
#ifndef EFFBENCH_SUITE_H
#define EFFBENCH_SUITE_H

#include "args.h"
#include "registry.h"
#include "train.h"

typedef struct eb_suite_run {
  const eb_arch *arch;
  const eb_task *task;
  int64_t seed;
  eb_model_config model;
  eb_train_cfg train;
  eb_argset arch_args, task_args;
  char *config_json; /* canonical: sorted keys, fixed number formats */
  char key[33];      /* 128-bit hash of config_json, hex */
  char label[160];   /* arch/task/seed (+ sweep values) for humans and --only */
  char *task_json;   /* task name + params: runs sharing it share the data */
  int arch_index;    /* its entry in the suite's archs */
  /* matched suites (`match:`): the reference arch's model for this run's task
   * and sweep values, then what matching chose (model.dim and ffn above) */
  eb_model_config ref_model;
  int64_t params, ref_params;          /* parameters: this run's, the reference's */
  double flops_token, ref_flops_token; /* training FLOPs per token, both */
  double match_gap; /* |this - reference| / reference of the matched count */
} eb_suite_run;

typedef enum eb_match_by {
  EB_MATCH_NONE = 0,
  EB_MATCH_PARAMS,
  EB_MATCH_FLOPS
} eb_match_by;

typedef struct eb_speed_plan {
  int nlen;
  int lengths[64];
  int batch;
  int train, infer; /* modes */
  int narch;
  int arch_index[64]; /* indices into the suite's arch entries */
} eb_speed_plan;

typedef struct eb_suite_arch {
  const eb_arch *arch;
  eb_argset args; /* the arch entry's parameters */
  int line, col;  /* the entry in the suite file */
} eb_suite_arch;

typedef struct eb_suite {
  char *file, *name, *yaml;
  int64_t data_seed;
  eb_model_config model; /* the suite's base model (speed runs use it) */
  eb_suite_run *runs;
  int nruns;
  eb_suite_arch *archs;
  int narchs;
  int has_speed;
  eb_speed_plan speed;
  /* `match: params|flops`: each arch's width is chosen so that its count
   * comes within match_tolerance of the reference arch's (match_to) */
  eb_match_by match;
  int match_ref;          /* index into archs */
  double match_tolerance; /* relative */
  int match_line, match_col;
} eb_suite;

const char *eb_match_name(eb_match_by by);

/* Read, validate and expand a suite file. EB_OK, or the kind with err:
 * EB_INPUT for the file's content ("file:line:col: ..." with the valid
 * choices), EB_NOTFOUND when there is no such file, EB_IO, EB_NOMEM. */
int eb_suite_load(const char *path, eb_registry *reg, eb_suite *out, char *err,
                  size_t errlen);
void eb_suite_free(eb_suite *s);

#endif
