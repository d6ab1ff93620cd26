#include "peak.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h" /* eb_sort_median */
#include "gemm.h"  /* eb_gemm_threaded */
#include "train.h" /* eb_now */

/* OpenMP pragmas that vanish without OpenMP (as EB_OMP of core/ops_util.h,
 * which is the engine's own) */
#ifdef _OPENMP
#define EB_OMP(x) _Pragma(x)
#else
#define EB_OMP(x)
#endif

eb_peak_cfg eb_peak_quick(int threads) {
  return (eb_peak_cfg){.threads = threads,
                       .gemm_n = 2048,
                       .gemm_reps = 3,
                       .bw_bytes = (size_t)64 << 20,
                       .bw_reps = 5};
}

eb_peak_cfg eb_peak_full(int threads) {
  return (eb_peak_cfg){.threads = threads,
                       .gemm_n = 2048,
                       .gemm_reps = 6,
                       .bw_bytes = (size_t)64 << 20,
                       .bw_reps = 20};
}

/* best (largest) and median of n rates; sorts r */
static void best_median(double *r, int n, double *best, double *median) {
  *median = eb_sort_median(r, n);
  *best = r[n - 1];
}

static void *alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

/* rates[reps] in GFLOP/s of C[n,n] = A[n,n] B[n,n] */
static int gemm_rates(int n, int reps, double *rates, char *err, size_t errlen) {
  size_t nn = (size_t)n * (size_t)n;
  float *A = alloc64(nn * sizeof(float)), *B = alloc64(nn * sizeof(float)),
        *C = alloc64(nn * sizeof(float));
  if (!A || !B || !C) {
    free(A);
    free(B);
    free(C);
    snprintf(err, errlen, "peak: out of memory for three %dx%d matrices", n, n);
    return EB_NOMEM;
  }
  for (size_t i = 0; i < nn; i++) { /* small exact values: no denormals, no overflow */
    A[i] = (float)((int)(i % 13) - 6) * 0.125f;
    B[i] = (float)((int)(i % 7) - 3) * 0.25f;
  }
  double flops = 2.0 * n * (double)n * n;
  for (int it = -1; it < reps; it++) { /* it -1: warm-up (pages, backend JIT) */
    double t0 = eb_now();
    eb_gemm_threaded(n, n, n, A, B, C);
    double dt = eb_now() - t0;
    if (it >= 0) rates[it] = flops / (dt > 0 ? dt : 1e-9) * 1e-9;
  }
  free(A);
  free(B);
  free(C);
  return 0;
}

/* rates[reps] in GB/s of a[i] = b[i] + s c[i] over n floats per array */
static int triad_rates(size_t bytes, int threads, int reps, double *rates, char *err,
                       size_t errlen) {
  int64_t n = (int64_t)(bytes / sizeof(float));
  float *a = alloc64((size_t)n * sizeof(float)), *b = alloc64((size_t)n * sizeof(float)),
        *c = alloc64((size_t)n * sizeof(float));
  if (!a || !b || !c) {
    free(a);
    free(b);
    free(c);
    snprintf(err, errlen, "peak: out of memory for three %zu-byte triad arrays", bytes);
    return EB_NOMEM;
  }
  (void)threads; /* used by the pragmas */
  /* first touch by the threads that will stream the same pages */
  EB_OMP("omp parallel for num_threads(threads) schedule(static)")
  for (int64_t i = 0; i < n; i++) {
    a[i] = 0.0f;
    b[i] = 1.0f;
    c[i] = 2.0f;
  }
  const float s = 0.5f;
  double moved = 3.0 * sizeof(float) * (double)n; /* write-allocate not counted */
  for (int it = -1; it < reps; it++) {
    double t0 = eb_now();
    EB_OMP("omp parallel for num_threads(threads) schedule(static)")
    for (int64_t i = 0; i < n; i++)
      a[i] = b[i] + s * c[i];
    double dt = eb_now() - t0;
    if (it >= 0) rates[it] = moved / (dt > 0 ? dt : 1e-9) * 1e-9;
  }
  volatile float sink = a[n / 2]; /* keep the loop's result observable */
  (void)sink;
  free(a);
  free(b);
  free(c);
  return 0;
}

int eb_peak_measure(const eb_peak_cfg *cfg, eb_peak *p, char *err, size_t errlen) {
  memset(p, 0, sizeof *p);
  if (cfg->threads < 1 || cfg->gemm_n < 16 || cfg->gemm_reps < 1 || cfg->bw_reps < 1 ||
      cfg->bw_bytes < ((size_t)1 << 20)) {
    snprintf(err, errlen, "peak: bad measurement settings");
    return EB_INTERNAL;
  }
  int nr = cfg->gemm_reps > cfg->bw_reps ? cfg->gemm_reps : cfg->bw_reps;
  double *rates = malloc((size_t)nr * sizeof *rates);
  if (!rates) {
    snprintf(err, errlen, "peak: out of memory");
    return EB_NOMEM;
  }
  double t0 = eb_now();
  eb_set_threads(cfg->threads);
  int rc = gemm_rates(cfg->gemm_n, cfg->gemm_reps, rates, err, errlen);
  if (rc == 0) {
    best_median(rates, cfg->gemm_reps, &p->gemm_gflops, &p->gemm_gflops_median);
    rc = triad_rates(cfg->bw_bytes, cfg->threads, cfg->bw_reps, rates, err, errlen);
  }
  if (rc == 0) best_median(rates, cfg->bw_reps, &p->bw_gbs, &p->bw_gbs_median);
  free(rates);
  if (rc) return rc;
  p->threads = cfg->threads;
  p->gemm_n = cfg->gemm_n;
  p->gemm_reps = cfg->gemm_reps;
  p->bw_bytes = cfg->bw_bytes / sizeof(float) * sizeof(float);
  p->bw_reps = cfg->bw_reps;
  p->seconds = eb_now() - t0;
  return 0;
}
