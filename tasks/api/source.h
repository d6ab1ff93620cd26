/* Data provenance for tasks (eb_data_source of plugin.h): where the opened
 * data came from, described once when a task opens its data.
 *
 * Generated data: the generator (name and version), its rule, the seed and
 * every resolved task parameter, as JSON.
 *
 * Files: each file's byte size and SHA-256, streamed in 64 KiB blocks (a file
 * is never held in memory for this), and, for the set, the SHA-256 of its
 * manifest: the lines "<sha256 hex>  <path relative to the root>\n" in
 * bytewise order of the path, which is what `sha256sum` prints for those
 * files, so `cd ROOT && sha256sum FILE... | sha256sum` (files in that order)
 * checks it. The result is remembered in the data cache directory under a
 * key made of every file's path, size, modification time (ns) and inode (the
 * same stamps the data cache keys on), so unchanged files are read for it
 * only once; a replaced file is read again. Remembering is best effort. */
#ifndef EFFBENCH_TASKS_SOURCE_H
#define EFFBENCH_TASKS_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "effbench/plugin.h"

typedef struct eb_source_info {
  eb_data_source pub; /* points into the fields below once filled */
  char kind[64];
  char label[192];
  char *detail; /* malloc'ed JSON */
} eb_source_info;

void eb_source_free(eb_source_info *s);
/* pub of a filled source, NULL when none was filled */
const eb_data_source *eb_source_get(const eb_source_info *s);

/* Generated data: kind "generated", label "generated[ RULE], seed S", detail
 * {"generator": GENERATOR, "rule": RULE, "seed": S, "params": {every arg}}
 * (rule NULL: no rule, and none in the label). */
int eb_source_generated(eb_source_info *s, const char *generator, const char *rule,
                        uint64_t seed, const eb_args *args, char *err, size_t errlen);

/* Files: kind as given ("official", "substitute:NAME", "files:FORMAT"), label
 * "LABEL, sha256 XXXXXXXX" (the manifest digest's first 8 hex digits), detail
 * {"root": realpath(ROOT), "count": N, "bytes": TOTAL, "sha256": MANIFEST,
 *  "files": [{"path": REL, "bytes": B, "sha256": HEX}, ...]} with the list
 * only for up to EB_SOURCE_LIST_MAX files. files[] are paths under root (or
 * any paths: then REL is the path as given). */
#define EB_SOURCE_LIST_MAX 16
int eb_source_files(eb_source_info *s, const char *kind, const char *label,
                    const char *root, const char *const *files, int64_t n, char *err,
                    size_t errlen);

/* SHA-256 of a file, streamed; hex[65] gets the lowercase digest and *bytes
 * its size. -1 with "PATH: ..." in err when it cannot be read. */
int eb_sha256_file(const char *path, char hex[65], int64_t *bytes, char *err,
                   size_t errlen);
/* SHA-256 of a buffer as lowercase hex. */
void eb_sha256_hex(const void *data, size_t n, char hex[65]);

/* A growable list of paths (for tasks that discover their files). */
typedef struct eb_path_list {
  char **v;
  int64_t n, cap;
  int oom;
} eb_path_list;
void eb_path_list_add(eb_path_list *l, const char *path);
void eb_path_list_free(eb_path_list *l);

#endif
