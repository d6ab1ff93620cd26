/* Tiny test helpers: every failed check prints what differed and the test
 * exits non-zero at the end. */
#ifndef EFFBENCH_TESTS_CHECK_H
#define EFFBENCH_TESTS_CHECK_H
#include <stddef.h>
#include <stdio.h>

extern int eb_test_failures;

#define CHECK(cond, ...)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);           \
      fprintf(stderr, __VA_ARGS__);                                                      \
      fputc('\n', stderr);                                                               \
      eb_test_failures++;                                                                \
    }                                                                                    \
  } while (0)

/* max |a-b| / max(|b|, floor) over n values; prints the worst index on failure */
int eb_check_close(const char *what, const float *a, const float *b, long n, double rtol,
                   double floor);
/* exit code: 0 if no failures, 1 otherwise; prints a summary line */
int eb_test_done(const char *name);

/* The single TASK-*.ebds file of a data-cache directory into buf: 0, or -1
 * when there is none or more than one. */
int eb_test_cache_file(const char *dir, const char *task, char *buf, size_t len);
/* Resolves "key=value" settings (kv NULL-terminated, at most 8) against the
 * declared parameters decls of owner into out: eb_argset_resolve's result. */
struct eb_argset;
struct eb_param_decl;
int eb_test_resolve_kv(struct eb_argset *out, const char *owner,
                       const struct eb_param_decl *decls, const char *const *kv,
                       char *err, size_t errlen);

/* Size of a file in bytes, -1 when it cannot be stat'ed. */
long long eb_test_file_size(const char *path);

/* Finite-difference gradient check.
 * `loss` builds a forward pass in ctx from the leaf tensors and returns a
 * scalar. Leaves must be parameters (they survive eb_ctx_reset). Central
 * differences in float32 with step eps (eb_fd_probe: divided by the step
 * actually taken in float); at most `max_per_tensor` elements per
 * leaf are probed (spread evenly). Passes when for every probed element
 * |analytic - numeric| <= tol * max(|analytic|, |numeric|, 1e-2).
 * Prints the worst element on failure and counts a failure. Returns 1 if ok. */
#include "../harness/check.h" /* eb_loss_fn, eb_fd_probe (shared with effbench check) */
int eb_gradcheck(const char *what, eb_ctx *ctx, eb_loss_fn loss, void *user,
                 eb_tensor *const *leaves, int nleaves, float eps, double tol,
                 int max_per_tensor);
#endif
