/* Speed and memory of one architecture at one length: `effbench bench`. */
#ifndef EFFBENCH_BENCH_H
#define EFFBENCH_BENCH_H

#include "model.h"

typedef struct eb_bench_cfg {
  int batch, len, train; /* train: forward+backward+Adam; else forward only */
  int vocab, classes;
  double min_seconds; /* repeat until at least this long ... */
  int min_reps;       /* ... and at least this many repeats */
  int warmup;
  uint64_t seed;
} eb_bench_cfg;

typedef struct eb_bench_result {
  int reps;
  double ms_median, ms_min, ms_max;
  double ms_mean, ms_std; /* mean and sample standard deviation (n - 1; 0 when n = 1) */
  double tokens_per_s;
  double gflops_per_s;       /* executed FLOPs / median step time */
  double gflops_model_per_s; /* model FLOPs / median step time */
  double flops_step;         /* executed FLOPs of one step: forward + backward counted */
  double flops_model;        /* flops_step less the backward's recompute */
  double gemm_flops_step;    /* of flops_step, the GEMM FLOPs (eb_ctx_gemm_flops) */
  double gemm_flops_model;   /* of flops_model, the GEMM FLOPs */
  double bytes_step;         /* bytes the ops moved in one step; 0: not counted */
  double gbytes_per_s;      /* bytes_step / median step time (10^9 B/s); 0: not counted */
  size_t peak_mem_bytes;    /* arena high-water + parameter block */
  long long rss_peak_delta; /* VmHWM after the steps - VmRSS before the model */
  int64_t params_total;
} eb_bench_result;

/* Sorts v[n] (n >= 1) ascending and returns its median. */
double eb_sort_median(double *v, int n);

/* EB_OK, or the kind with err: EB_INPUT (the model is invalid), EB_NOMEM, or
 * the kind of a failed step (eb_model_logits). */
int eb_bench_run(const eb_arch *arch, const eb_args *args, const eb_model_config *mcfg,
                 const eb_bench_cfg *cfg, eb_bench_result *res, char *err, size_t errlen);

/* /proc/self/status fields in bytes (-1 if unavailable); reset clears VmHWM. */
long long eb_rss_bytes(void);
long long eb_rss_peak_bytes(void);
void eb_rss_peak_reset(void);

#endif
