/* effbench slurm: a suite as a Slurm job array, one array task per shard
 * (each `effbench run --shard I/N` into its own database), and a merge job
 * that depends on the array (afterany) and writes DIR/merged.db. The scripts
 * are plain sbatch files, meant to be read and edited before submission. */
#ifndef EFFBENCH_SLURM_H
#define EFFBENCH_SLURM_H

#include <stddef.h>

typedef struct eb_slurm_opts {
  const char *effbench;    /* absolute path of the effbench binary */
  const char *suite;       /* absolute path of the suite file */
  const char *name;        /* the suite's name (job names) */
  const char *db_dir;      /* absolute directory of the shards' databases */
  const char *plugins[64]; /* --plugin files, absolute, passed on to run */
  int nplugins;
  int shards;            /* array tasks, >= 1 */
  int cpus;              /* --cpus-per-task and run --threads */
  const char *partition; /* NULL: the cluster's default */
  const char *time;      /* per array task; NULL: the partition's default */
  const char *changed;   /* NULL, or run's "--rerun-changed" / "--keep-changed" */
} eb_slurm_opts;

/* Writes DIR/array.sbatch, DIR/merge.sbatch and DIR/submit.sh (which submits
 * the two, the merge with --dependency=afterany on the array). EB_OK, or with
 * err: EB_INPUT for a value Slurm's #SBATCH lines cannot hold, EB_IO for a
 * file that cannot be written. */
int eb_slurm_write(const eb_slurm_opts *o, char *err, size_t errlen);

#endif
