/* The machine's peaks, which every bench result is a fraction of:
 * `effbench bench --peak`, and measured again by each `effbench bench`.
 *
 * GEMM: C[n,n] = A B in fp32 (n = 2048) through the engine's own threaded GEMM
 * (eb__gemm: the backend of gemm.h split over the OpenMP team), so the peak is
 * the best this engine can do on this machine, not a vendor's datasheet figure.
 * FLOPs are 2 n^3 per product. One untimed warm-up, then gemm_reps timed
 * products; the peak is the best, the median is reported beside it.
 *
 * Memory: a STREAM-triad-like loop a[i] = b[i] + s c[i] over three float arrays
 * of bw_bytes each (64 MiB by default: 192 MiB in all, well beyond the L3 slice
 * a core can reach), OpenMP threaded with static schedule, arrays first touched
 * by the same threads. Bytes per pass = 3 arrays x 4 bytes x n, the STREAM
 * convention: the write-allocate read of a[] that ordinary stores cause is not
 * counted, so the real traffic is up to 4/3 of this. One untimed pass, then
 * bw_reps timed passes; the peak is the best. */
#ifndef EFFBENCH_PEAK_H
#define EFFBENCH_PEAK_H

#include <stddef.h>

typedef struct eb_peak_cfg {
  int threads;
  int gemm_n;      /* square GEMM size [2048] */
  int gemm_reps;   /* timed products after one warm-up */
  size_t bw_bytes; /* bytes of each of the three triad arrays */
  int bw_reps;     /* timed triad passes after one warm-up pass */
} eb_peak_cfg;

typedef struct eb_peak {
  int threads;
  int gemm_n, gemm_reps;
  double gemm_gflops;        /* best of the reps: the peak */
  double gemm_gflops_median; /* median of the reps */
  size_t bw_bytes;           /* per array */
  int bw_reps;
  double bw_gbs;        /* best of the reps: the peak (10^9 bytes/s) */
  double bw_gbs_median; /* median of the reps */
  double seconds;       /* wall time of the whole measurement */
} eb_peak;

/* The quick measurement an ordinary bench does (~1 s or less on a current
 * CPU) and the longer one of `bench --peak`. */
eb_peak_cfg eb_peak_quick(int threads);
eb_peak_cfg eb_peak_full(int threads);

/* Measures both peaks; sets the engine's thread count to cfg->threads.
 * Returns EB_OK, or EB_NOMEM / EB_INTERNAL (bad cfg) with err. */
int eb_peak_measure(const eb_peak_cfg *cfg, eb_peak *p, char *err, size_t errlen);

#endif
