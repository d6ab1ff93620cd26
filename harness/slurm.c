/* effbench slurm (slurm.h): the job scripts. */
#include "slurm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "effbench/rc.h"

/* Writes s single-quoted for bash ('it'\''s'). */
static void put_quoted(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'')
      fputs("'\\''", f);
    else
      fputc(*s, f);
  }
  fputc('\'', f);
}

/* Slurm reads #SBATCH lines without a shell: a value there must not need
 * quoting. */
static int sbatch_safe(const char *s) {
  for (; *s; s++)
    if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\'' || *s == '"' || *s == '\\' ||
        *s == '#')
      return 0;
  return 1;
}

static FILE *open_script(const char *dir, const char *name, char *path, size_t plen,
                         char *err, size_t errlen) {
  snprintf(path, plen, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) snprintf(err, errlen, "%s: cannot write (%s)", path, strerror(errno));
  return f;
}

static int close_script(FILE *f, const char *path, char *err, size_t errlen) {
  int bad = ferror(f);
  if (fclose(f) || bad) {
    snprintf(err, errlen, "%s: write failed (%s)", path, strerror(errno));
    return EB_IO;
  }
  if (chmod(path, 0755)) {
    snprintf(err, errlen, "%s: cannot make it executable (%s)", path, strerror(errno));
    return EB_IO;
  }
  return EB_OK;
}

int eb_slurm_write(const eb_slurm_opts *o, char *err, size_t errlen) {
  const char *checked[][2] = {{"--db-dir", o->db_dir},
                              {"--partition", o->partition},
                              {"--time", o->time},
                              {"the suite name", o->name}};
  for (size_t i = 0; i < sizeof checked / sizeof checked[0]; i++)
    if (checked[i][1] && !sbatch_safe(checked[i][1])) {
      snprintf(err, errlen,
               "%s '%s': Slurm's #SBATCH lines cannot hold spaces, quotes, '\\' or '#'",
               checked[i][0], checked[i][1]);
      return EB_INPUT;
    }
  char path[4200];
  FILE *f = open_script(o->db_dir, "array.sbatch", path, sizeof path, err, errlen);
  if (!f) return EB_IO;
  fprintf(f,
          "#!/bin/bash\n"
          "# Suite %s as a Slurm job array: %d array task(s), one shard each, each\n"
          "# writing its own database in %s. Written by `effbench slurm`; edit it\n"
          "# as you like, then submit it with %s/submit.sh (which also submits\n"
          "# the merge job) or by hand: sbatch %s/array.sbatch\n"
          "#SBATCH --job-name=effbench-%s\n"
          "#SBATCH --array=0-%d\n"
          "#SBATCH --ntasks=1\n"
          "#SBATCH --cpus-per-task=%d\n",
          o->name, o->shards, o->db_dir, o->db_dir, o->db_dir, o->name, o->shards - 1,
          o->cpus);
  if (o->time) fprintf(f, "#SBATCH --time=%s\n", o->time);
  if (o->partition) fprintf(f, "#SBATCH --partition=%s\n", o->partition);
  fprintf(f,
          "# a preempted or failed node puts the task back in the queue; the run\n"
          "# resumes: runs already done in its database are skipped\n"
          "#SBATCH --requeue\n"
          "#SBATCH --output=%s/shard-%%a.log\n"
          "#SBATCH --open-mode=append\n"
          "set -euo pipefail\n"
          "shard=\"$SLURM_ARRAY_TASK_ID\"\n"
          "exec ",
          o->db_dir);
  put_quoted(f, o->effbench);
  for (int i = 0; i < o->nplugins; i++) {
    fputs(" --plugin ", f);
    put_quoted(f, o->plugins[i]);
  }
  fputs(" run ", f);
  put_quoted(f, o->suite);
  fprintf(f, " --shard \"$shard/%d\" --threads %d%s%s \\\n  --db ", o->shards, o->cpus,
          o->changed ? " " : "", o->changed ? o->changed : "");
  put_quoted(f, o->db_dir);
  fputs("\"/shard-$shard.db\"\n", f);
  if (close_script(f, path, err, errlen)) return EB_IO;

  f = open_script(o->db_dir, "merge.sbatch", path, sizeof path, err, errlen);
  if (!f) return EB_IO;
  fprintf(f,
          "#!/bin/bash\n"
          "# Merges the shards' databases of suite %s into %s/merged.db once the\n"
          "# array has ended (submitted with --dependency=afterany on it: a failed\n"
          "# shard does not hold back the others' results). Written by `effbench\n"
          "# slurm`; merging again after a rerun of a shard is safe.\n"
          "#SBATCH --job-name=effbench-%s-merge\n"
          "#SBATCH --ntasks=1\n"
          "#SBATCH --cpus-per-task=1\n",
          o->name, o->db_dir, o->name);
  if (o->partition) fprintf(f, "#SBATCH --partition=%s\n", o->partition);
  fprintf(f,
          "#SBATCH --output=%s/merge.log\n"
          "set -euo pipefail\n"
          "dir=",
          o->db_dir);
  put_quoted(f, o->db_dir);
  fprintf(f,
          "\n"
          "shards=()\n"
          "for ((i = 0; i < %d; i++)); do\n"
          "  if [ -s \"$dir/shard-$i.db\" ]; then\n"
          "    shards+=(\"$dir/shard-$i.db\")\n"
          "  else\n"
          "    echo \"merge: shard $i wrote no database ($dir/shard-$i.db): its runs are "
          "missing\" >&2\n"
          "  fi\n"
          "done\n"
          "if [ \"${#shards[@]}\" -eq 0 ]; then\n"
          "  echo \"merge: no shard wrote a database; see $dir/shard-*.log\" >&2\n"
          "  exit 1\n"
          "fi\n"
          "exec ",
          o->shards);
  put_quoted(f, o->effbench);
  fputs(" merge \"$dir/merged.db\" \"${shards[@]}\"\n", f);
  if (close_script(f, path, err, errlen)) return EB_IO;

  f = open_script(o->db_dir, "submit.sh", path, sizeof path, err, errlen);
  if (!f) return EB_IO;
  fputs("#!/bin/bash\n"
        "# Submits the array, then the merge job after it (afterany). Written by\n"
        "# `effbench slurm`; `effbench slurm --submit` runs it.\n"
        "set -euo pipefail\n"
        "dir=",
        f);
  put_quoted(f, o->db_dir);
  fputs("\n"
        "array=$(sbatch --parsable \"$dir/array.sbatch\")\n"
        "array=\"${array%%;*}\" # --parsable prints ID or ID;CLUSTER\n"
        "merge=$(sbatch --parsable --dependency=\"afterany:$array\" "
        "\"$dir/merge.sbatch\")\n"
        "merge=\"${merge%%;*}\"\n"
        "echo \"submitted array job $array and merge job $merge; the merged results will "
        "be $dir/merged.db\"\n",
        f);
  return close_script(f, path, err, errlen);
}
