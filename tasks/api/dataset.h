/* Tokenized data sets for tasks: each split is a fixed-width token matrix
 * stored compactly (uint8 when the vocabulary fits, else uint16), with
 * per-example lengths and labels, a second matrix for pair (two-tower) tasks,
 * batching with per-epoch shuffling, and an on-disk cache that is
 * memory-mapped on load, so a 96K x 2000 split costs no RAM until touched.
 *
 * Token id 0 is padding everywhere. */
#ifndef EFFBENCH_TASKS_DATASET_H
#define EFFBENCH_TASKS_DATASET_H

#include "effbench/plugin.h"
#include "source.h"

typedef struct eb_split_data {
  int64_t n;
  int max_len;
  int wide;            /* tokens are uint16 (else uint8) */
  int pair;            /* a second sequence per example */
  void *tok, *tok2;    /* n * max_len elements each */
  int32_t *len, *len2; /* real tokens per row */
  int32_t *labels;
  /* shuffling state (train split) */
  int64_t *perm;
  int64_t perm_epoch;
  uint64_t perm_seed;
} eb_split_data;

typedef struct eb_dataset {
  eb_split_data split[3]; /* EB_SPLIT_TRAIN, _VAL, _TEST */
  eb_task_info info;
  void *map; /* the cache file's mapping, when loaded from disk */
  size_t map_bytes;
  eb_source_info src; /* where the data came from (set by the task after
                         loading; not part of the cache file) */
} eb_dataset;

/* Allocate split storage (zeroed). wide: 1 when vocab > 256. */
int eb_split_alloc(eb_split_data *s, int64_t n, int max_len, int wide, int pair,
                   char *err, size_t errlen);
/* Store example i (tokens truncated to max_len; tok2/len2 only for pairs). */
void eb_split_set(eb_split_data *s, int64_t i, const int32_t *tok, int len,
                  const int32_t *tok2, int len2, int32_t label);
/* Token t of row i (second sequence if second != 0). */
int32_t eb_split_token(const eb_split_data *s, int64_t i, int t, int second);

/* Fill a batch: examples [index*B, index*B + B) of the split, wrapping around;
 * the train split is visited in a fresh permutation every epoch, drawn from
 * epoch_seed (val/test keep file order). out->N must equal max_len. */
int eb_dataset_batch(eb_dataset *d, eb_split split, int64_t index, uint64_t epoch_seed,
                     eb_batch *out, char *err, size_t errlen);

/* Cache: save atomically (temp file + rename) / load by mmap, checking the
 * header (magic, version, sizes) and a 64-bit checksum of the whole file kept
 * in the header (so a same-size corruption, flipped bytes, is caught: loading
 * reads the file once). A damaged or corrupt cache file is an error naming it. */
int eb_dataset_save(const eb_dataset *d, const char *path, char *err, size_t errlen);
int eb_dataset_load(eb_dataset *d, const char *path, char *err, size_t errlen);
void eb_dataset_free(eb_dataset *d);
/* Store the right checksum in the header of a cache file image in memory
 * (bytes long): for tests and fuzzing, which edit a cache on purpose. -1 when
 * bytes is not a multiple of 64 holding at least a header. */
int eb_dataset_reseal(void *file, size_t bytes);

/* Data through the cache: loaded from eb_cache_path(task, args, seed, version)
 * when it is there, else made by build(user, d) and saved. The cache is best
 * effort: an unwritable cache directory or file is skipped (the data stay in
 * memory) and a damaged one is rebuilt and replaced, which only costs the time
 * to build again. build must fill d->info, which is saved with the data.
 * Returns build's status (0 when loaded). */
/* A cache file that is there but cannot be used (damaged, corrupt, foreign
 * version) is rebuilt with a warning: "PATH: corrupt data cache (...);
 * rebuilding it from the source data". The library does not print: the last
 * warning is kept (empty when none yet) and passed to the callback, if set
 * (main sets one that prints it to stderr). */
typedef void (*eb_dataset_warn_fn)(const char *msg);
void eb_dataset_set_warn(eb_dataset_warn_fn fn);
const char *eb_dataset_last_warning(void);

typedef int (*eb_dataset_build_fn)(void *user, eb_dataset *d, char *err, size_t errlen);
int eb_dataset_cached(const char *task, const eb_args *args, uint64_t seed,
                      const char *version, eb_dataset *d, eb_dataset_build_fn build,
                      void *user, char *err, size_t errlen);
/* The same, where fits(user, d) also judges a cache file that loads (1 =
 * usable, e.g. its shape matches the settings; 0 = rebuild and replace it). */
typedef int (*eb_dataset_fits_fn)(void *user, const eb_dataset *d);
int eb_dataset_cached_fit(const char *task, const eb_args *args, uint64_t seed,
                          const char *version, eb_dataset *d, eb_dataset_build_fn build,
                          eb_dataset_fits_fn fits, void *user, char *err, size_t errlen);

/* Cache-key stamp of a file: " SIZE:MTIME_S.NS:INODE" appended to buf (no
 * reading), so a replaced or edited file, even within the same second, gives
 * a new key. -1 (buf unchanged) when the file cannot be stat'ed. */
int eb_file_stamp(const char *path, char *buf, size_t len);

/* Output directory of a task's write(): created with its parents, and refused
 * when it already holds anything ("DIR: not empty (write into a new
 * directory)"), so written files never mix with an earlier data set. */
int eb_out_dir(const char *dir, char *err, size_t errlen);

/* The cache directory: $EFFBENCH_CACHE, else $XDG_CACHE_HOME/effbench, else
 * ~/.cache/effbench (created on demand). */
int eb_cache_dir(char *buf, size_t len, char *err, size_t errlen);
/* Cache path for (task, resolved args, seed): DIR/TASK-HASH.ebds, where HASH
 * covers every argument value, the seed and a generator version string. */
int eb_cache_path(const char *task, const eb_args *args, uint64_t seed,
                  const char *generator_version, char *buf, size_t len, char *err,
                  size_t errlen);

#endif
