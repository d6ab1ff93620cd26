/* Suites: the YAML file of DESIGN.md §4, validated strictly and expanded into
 * a grid of fully resolved runs, each with a stable key (a hash of its
 * canonical JSON configuration). */
#ifndef EFFBENCH_SUITE_H
#define EFFBENCH_SUITE_H

#include "decl.h"
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
} eb_suite_run;

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
} eb_suite;

/* Read, validate and expand a suite file. Errors are "file:line:col: ..."
 * with the valid choices; nothing is run. */
int eb_suite_load(const char *path, eb_registry *reg, eb_suite *out, char *err,
                  size_t errlen);
void eb_suite_free(eb_suite *s);

#endif
