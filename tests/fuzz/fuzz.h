/* Fuzzing entry points, one per parser (tests/fuzz/fuzz_*.c). Each takes one
 * input (bytes), turns it into the files the parser reads (in a fresh temporary
 * directory), loads them through the same public entry point effbench uses,
 * touches the loaded data, frees everything and removes the files.
 *
 * An input may hold several files, separated by EB_FUZZ_SEP; a file the input
 * does not provide is copied from the fixtures under tests/data (so a seed can
 * damage one file of a set). Returns 0 for a valid load, 1 for a clean error
 * (a non-empty message); anything else (a crash, a sanitizer report, an empty
 * error message: abort()) is a bug. Built twice: into the libFuzzer targets
 * (-DEFFBENCH_FUZZ=ON, clang) and into the mutation test tests/fuzz/mutate.c. */
#ifndef EFFBENCH_TESTS_FUZZ_H
#define EFFBENCH_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "effbench/plugin.h"

#define EB_FUZZ_SEP "\n=EBFUZZ=\n"
#define EB_FUZZ_MAX_PARTS 12

typedef int (*eb_fuzz_fn)(const uint8_t *data, size_t size);

int eb_fuzz_yaml(const uint8_t *data, size_t size);
int eb_fuzz_listops(const uint8_t *data, size_t size);
int eb_fuzz_retrieval(const uint8_t *data, size_t size);
int eb_fuzz_text(const uint8_t *data, size_t size);
int eb_fuzz_idx(const uint8_t *data, size_t size);
int eb_fuzz_idxgz(const uint8_t *data, size_t size);
int eb_fuzz_cifar(const uint8_t *data, size_t size);
int eb_fuzz_pathfinder(const uint8_t *data, size_t size);
int eb_fuzz_store(const uint8_t *data, size_t size);
int eb_fuzz_cache(const uint8_t *data, size_t size);

/* ---- helpers shared by the entry points (tests/fuzz/fuzz_common.c) ---- */
/* Split data at EB_FUZZ_SEP into at most max parts; returns the count (>= 1). */
int eb_fuzz_parts(const uint8_t *data, size_t size, const uint8_t **part, size_t *len,
                  int max);
/* A fresh directory under $TMPDIR (or /tmp); also points EFFBENCH_CACHE at
 * DIR/cache so the task's data cache stays inside it. 0 or abort(). */
void eb_fuzz_mkdir(char *dir, size_t len);
/* Write DIR/REL (parents created). */
void eb_fuzz_write(const char *dir, const char *rel, const void *data, size_t n);
/* Copy tests/data/SRC (a fixture) to DIR/REL. */
void eb_fuzz_fixture(const char *dir, const char *rel, const char *src);
/* Remove DIR and everything in it. */
void eb_fuzz_rmdir(const char *dir);
/* Resolve kv ("key=value", NULL-terminated), open the task, fetch a batch of
 * each non-empty split, close. 0 = valid, 1 = clean error; abort() on an
 * empty error message. */
int eb_fuzz_task(const eb_task *t, const char *const *kv);
/* A clean error must say something: abort() otherwise. */
int eb_fuzz_error(const char *what, const char *err);

#endif
